/*
 * What the RAS qtests share: the guest firmware's part for ACPI on arm
 * virt and x86 (fw_cfg DMA, the linker/loader script run against
 * guest memory), the layout of the GHES blob and the guest's side of its
 * read-ack protocol, QMP error and queue checks, and migration streams.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_QTEST_RAS_FIRMWARE_H
#define TESTS_QTEST_RAS_FIRMWARE_H

#include "libqtest.h"
#include "qobject/qdict.h"

/* The arm virt machine the tests start: ras=on, RAS_NR_CPUS vCPUs */
#define RAS_NR_CPUS             2
#define RAS_VIRT_RAM_BASE       0x40000000ull

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

/* Whether the QEMU under test is x86's (pc, q35) rather than arm virt */
bool ras_fw_is_x86(void);

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
 * Records for the asynchronous source go in a window of errors at a
 * time, then wait for the guest to show progress; a qtest guest never
 * idles or runs, so it shows none until 500 ms of virtual time have
 * passed, and a window stays in doubt until it has done so twice.
 */
#define RAS_FW_ASYNC_MAX_WAIT_NS    (2 * 500000000ll + 1000000)
/* Memory errors in one record of the asynchronous source, at most */
#define RAS_GHES_ASYNC_WINDOW   15

/* A file to pass as -bios: the qtest accelerator runs no guest code */
const char *ras_fw_dummy_bios(void);

/* -machine virt,ras=on with RAS_NR_CPUS vCPUs, @mem of RAM, no firmware */
QTestState *ras_virt_start(const char *mem, const char *extra);

/*
 * The hardware errors blob (docs/specs/acpi_ghes.rst) of that machine:
 * the address registers, then the read ack registers, in a page of their
 * own; then an error status block for each source.
 */
#define RAS_GHES_SOURCES        (1 + RAS_NR_CPUS)
/* x86 (ras=on on pc, q35): the asynchronous source only */
#define RAS_GHES_SOURCES_X86    1
int ras_ghes_sources(void);
#define RAS_GHES_REGS_LEN       4096
/* The asynchronous source's block (0), room for a batch; the others */
#define RAS_GHES_ASYNC_BLOCK_LEN 4096
#define RAS_GHES_BLOCK_LEN      1024
#define RAS_GHES_BLOB_LEN       (RAS_GHES_REGS_LEN + \
                                 RAS_GHES_ASYNC_BLOCK_LEN + \
                                 (RAS_GHES_SOURCES - 1) * RAS_GHES_BLOCK_LEN)
/*
 * A record of one memory error: status block, data entry, memory error
 * section, then the raw data (the record's sequence number)
 */
#define RAS_GHES_RECORD_LEN     (20 + 72 + 80 + 8)
#define RAS_GHES_RECORD_PA      (20 + 72 + 16)
#define RAS_GHES_RECORD_SEQ     (20 + 72 + 80)

/* CPER_SEC_PLATFORM_MEM, as it is in a data entry */
extern const uint8_t ras_cper_mem_err_guid[16];

/*
 * Where firmware placed the blob, its block @i, its error status address
 * register @i and its read ack register @i
 */
uint64_t ras_ghes_blob(RasFw *fw);
uint64_t ras_ghes_block(RasFw *fw, int i);
uint64_t ras_ghes_address_reg(RasFw *fw, int i);
uint64_t ras_ghes_ack_reg(RasFw *fw, int i);
/*
 * The physical addresses of the memory errors in block @i (several when
 * they waited together): how many, at most @max
 */
int ras_ghes_record_pas(RasFw *fw, int i, uint64_t *pas, int max);
/* The physical address of the (first) memory error in block @i */
uint64_t ras_ghes_record_pa(RasFw *fw, int i);
/*
 * Take the record in block @i the way Linux's ghes_clear_estatus() does,
 * acknowledging it; for the asynchronous source, let time pass too
 */
void ras_ghes_ack(RasFw *fw, int i);
/* Source @i of query-ghes, and one of its members */
QDict *ras_ghes_source(QTestState *qts, int i);
int64_t ras_ghes_source_int(QTestState *qts, int i, const char *key);

/* The command fails, with @needle in its error's description */
void ras_assert_error(QTestState *qts, const char *needle,
                      const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* A member of queue @name ("ghes", "x86-mce", "signals") of query-ras-queues */
int64_t ras_queue_int(QTestState *qts, const char *name, const char *key);
/* Queue @name holds these figures (-1: any) */
void ras_assert_queue(QTestState *qts, const char *name, int64_t capacity,
                      int64_t waiting, int64_t delivered, int64_t dropped);

/* query-migrate's status (either side), "none" before any migration */
const char *ras_migration_status(QTestState *qts);
/*
 * Wait until query-migrate's status is @want or, for NULL, until the
 * migration has ended (completed, failed, cancelled); the status then
 */
const char *ras_migration_wait(QTestState *qts, const char *want);
/* Wait until the migration has completed, which it must */
void ras_migration_completed(QTestState *qts);

/* A migration stream in a file, in a directory of its own */
typedef struct RasStream {
    char *dir;
    char *file;
    char *uri;          /* "file:" and the file */
    uint8_t *buf;       /* what was saved */
    gsize len;
} RasStream;

RasStream *ras_stream_new(void);
void ras_stream_free(RasStream *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RasStream, ras_stream_free)
/* Migrate @qts into the stream, quit it, and read the stream back */
void ras_stream_save(RasStream *s, QTestState *qts);
/* The name of device section @idstr in what was saved */
uint8_t *ras_stream_section(RasStream *s, const char *idstr);
/* Make the stream @len bytes of @buf */
void ras_stream_write(RasStream *s, const void *buf, size_t len);
/* Load the stream into @qts (started with -incoming defer): its status */
const char *ras_stream_load(RasStream *s, QTestState *qts);
/*
 * Load it, which must fail with @needle in query-migrate's error, and
 * leave @qts answering
 */
void ras_stream_refused(RasStream *s, QTestState *qts, const char *needle);

#endif
