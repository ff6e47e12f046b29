/*
 * QTest helpers that play the guest firmware's part for ACPI on arm virt:
 * fw_cfg DMA, and the linker/loader script (etc/table-loader) run
 * against guest memory.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_QTEST_RAS_FIRMWARE_H
#define TESTS_QTEST_RAS_FIRMWARE_H

#include "libqtest.h"

#define RAS_FW_LOADER_FILESZ 56

typedef struct RasFwFile {
    char name[RAS_FW_LOADER_FILESZ];
    uint16_t select;
    uint32_t size;
    uint64_t addr;      /* where the fake firmware placed it, or 0 */
} RasFwFile;

typedef struct RasFw {
    QTestState *qts;
    RasFwFile files[64];
    int nr_files;
    uint64_t next_alloc;
} RasFw;

/* Start tracking @qts; nothing is placed until ras_fw_run_loader() */
void ras_fw_init(RasFw *fw, QTestState *qts);
/* Read the fw_cfg directory and run etc/table-loader like firmware */
void ras_fw_run_loader(RasFw *fw);
RasFwFile *ras_fw_file(RasFw *fw, const char *name);
void ras_fw_cfg_write(QTestState *qts, uint16_t select, const void *buf,
                      uint32_t len);
/* Guest address of ACPI table @sig in the placed etc/acpi/tables */
uint64_t ras_fw_find_table(RasFw *fw, const char *sig, uint32_t *len);
/*
 * Records for the asynchronous source go in a few at a time, then wait
 * for the guest to show progress; a qtest guest never idles or runs, so
 * it shows none until this much virtual time has passed.
 */
#define RAS_FW_ASYNC_MAX_WAIT_NS    500000000ll

/* A file to pass as -bios: the qtest accelerator runs no guest code */
const char *ras_fw_dummy_bios(void);

/* query-migrate's status (either side), "none" before any migration */
const char *ras_migration_status(QTestState *qts);

#endif
