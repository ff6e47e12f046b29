/*
 * What the files of the acpi-ghes device share (hw/acpi/ghes-*.c)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_ACPI_GHES_INTERNAL_H
#define HW_ACPI_GHES_INTERNAL_H

#include "hw/acpi/ghes-device.h"
#include "migration/vmstate.h"

/* A record waiting for the asynchronous source */
typedef struct GhesQueued {
    int64_t queued_ns;          /* QEMU_CLOCK_REALTIME, for the trace */
    uint64_t addr;              /* of a memory error, or GHES_ADDR_UNKNOWN */
    uint32_t len;
    uint8_t data[];
} GhesQueued;

/* ghes-device.c */

/* Whether firmware could have placed the blob at @addr */
bool ghes_blob_addr_valid(AcpiGhesDevice *s, uint64_t addr, Error **errp);
/* Drop every record waiting for the asynchronous source */
void ghes_queue_clear(AcpiGhesDevice *s);
/*
 * A stream was loaded into @s: place the blob it names and go on
 * delivering, once the guest has shown progress
 */
void ghes_resume_loaded(AcpiGhesDevice *s);

/* ghes-migration.c */

extern const VMStateDescription vmstate_ghes_device;

#endif
