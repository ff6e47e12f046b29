/*
 * The migration state of the acpi-ghes device
 *
 * The queue of records and the device's state as a VMState section: saved
 * from copies, and a stream's values taken only once the whole stream has
 * been checked, so that a refused stream leaves the machine as it was.
 * The stream is untrusted: counts and lengths are checked before anything
 * is allocated for them, and each record as the guest would check it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/timer.h"
#include "hw/acpi/ghes-device.h"
#include "hw/acpi/cper.h"
#include "migration/vmstate.h"
#include "system/ras-queue.h"
#include "ghes-internal.h"

/* The queue flattened for migration, s->mig (see ras_queue_flatten()) */
static void ghes_mig_free(AcpiGhesDevice *s)
{
    g_clear_pointer(&s->mig, g_free);
    s->nr_mig = 0;
}

static void ghes_mig_flatten(void *item, const void *queued)
{
    GhesMigratedRecord *r = item;
    const GhesQueued *q = queued;

    r->len = q->len;
    memcpy(r->data, q->data, q->len);
}

static int ghes_device_pre_save(void *opaque)
{
    AcpiGhesDevice *s = opaque;

    ghes_mig_free(s);
    s->mig = ras_queue_flatten(&s->queue, sizeof(GhesMigratedRecord),
                               ghes_mig_flatten, &s->nr_mig);
    memcpy(s->mig_addr_le, s->hw_errors_addr_le, sizeof(s->mig_addr_le));
    memcpy(s->mig_regs, s->regs, s->regs_len);
    s->mig_sequence = s->sequence;
    s->mig_dropped = s->async_queue.dropped;
    memcpy(s->mig_stats, s->stats, s->nr_sources * sizeof(*s->stats));
    s->mig_async_merged = s->async_merged;
    return 0;
}

static int ghes_device_post_save(void *opaque)
{
    ghes_mig_free(opaque);
    return 0;
}

static int ghes_device_pre_load(void *opaque)
{
    AcpiGhesDevice *s = opaque;

    ghes_mig_free(s);
    s->mig_async_merged = 0;    /* unless its subsection comes */
    return 0;
}

/*
 * The stream is untrusted: counts and lengths are checked before
 * anything is allocated for them
 */
static bool ghes_nr_mig_valid(void *opaque, int version_id)
{
    AcpiGhesDevice *s = opaque;

    return ras_queue_stream_count_valid(TYPE_ACPI_GHES, "queued records",
                                        s->nr_mig, s->queue_size);
}

static bool ghes_mig_len_valid(void *opaque, int version_id)
{
    GhesMigratedRecord *r = opaque;

    if (!r->len || r->len > HEST_GHES_BLOCK_LEN) {
        error_report("%s: migration stream holds a record of %u bytes",
                     TYPE_ACPI_GHES, r->len);
        return false;
    }
    return true;
}

static int ghes_device_post_load(void *opaque, int version_id)
{
    AcpiGhesDevice *s = opaque;
    uint64_t addr = ldq_le_p(s->mig_addr_le);
    GQueue loaded = G_QUEUE_INIT;
    Error *err = NULL;
    int32_t i;

    /*
     * Not disabled quietly, which would also let the guest OS place the
     * blob where it likes: the stream is bad.  (QEMU 10.2's sources take
     * the address from the GED's fields instead, as that QEMU does.)
     */
    if (s->layout.regs_own_page && addr &&
        !ghes_blob_addr_valid(s, addr, &err)) {
        error_report("%s: migration stream: %s", TYPE_ACPI_GHES,
                     error_get_pretty(err));
        error_free(err);
        ghes_mig_free(s);
        return -EINVAL;
    }
    for (i = 0; i < s->nr_mig; i++) {
        GhesMigratedRecord *r = &s->mig[i];
        GhesQueued *q;

        /* What the guest would read: checked as it would check it */
        if (!cper_check_estatus(r->data, r->len, &err)) {
            error_report("%s: bad record in migration stream: %s",
                         TYPE_ACPI_GHES, error_get_pretty(err));
            error_free(err);
            g_queue_clear_full(&loaded, g_free);
            ghes_mig_free(s);
            return -EINVAL;
        }
        q = g_malloc(sizeof(*q) + r->len);
        q->queued_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
        q->addr = GHES_ADDR_UNKNOWN;
        q->len = r->len;
        memcpy(q->data, r->data, r->len);
        g_queue_push_tail(&loaded, q);
    }
    ghes_mig_free(s);
    ghes_queue_clear(s);
    s->queue = loaded;
    memcpy(s->hw_errors_addr_le, s->mig_addr_le, sizeof(s->mig_addr_le));
    memcpy(s->regs, s->mig_regs, s->regs_len);
    s->sequence = s->mig_sequence;
    s->async_queue.dropped = s->mig_dropped;
    memcpy(s->stats, s->mig_stats, s->nr_sources * sizeof(*s->stats));
    s->async_merged = s->mig_async_merged;
    ghes_resume_loaded(s);
    return 0;
}

static const VMStateDescription vmstate_ghes_migrated_record = {
    .name = "acpi-ghes/record",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(len, GhesMigratedRecord),
        VMSTATE_VALIDATE("record fits an error status block",
                         ghes_mig_len_valid),
        /* @len bytes of the inline buffer (no VMSTATE_* macro for that) */
        {
            .name = "data",
            .info = &vmstate_info_buffer,
            .flags = VMS_VBUFFER,
            .size_offset = vmstate_offset_value(GhesMigratedRecord, len,
                                                uint32_t),
            .offset = offsetof(GhesMigratedRecord, data),
        },
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_ghes_source_stats = {
    .name = "acpi-ghes/source",
    .version_id = 2,
    .minimum_version_id = 2,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(records, GhesSourceStats),
        VMSTATE_UINT64(busy, GhesSourceStats),
        VMSTATE_UINT64(mended, GhesSourceStats),
        VMSTATE_END_OF_LIST()
    },
};

static bool ghes_async_merged_needed(void *opaque)
{
    AcpiGhesDevice *s = opaque;

    return s->mig_async_merged != 0;
}

/* Sent once records carried several errors: query-ghes counts them */
static const VMStateDescription vmstate_ghes_async_merged = {
    .name = TYPE_ACPI_GHES "/async-merged",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = ghes_async_merged_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(mig_async_merged, AcpiGhesDevice),
        VMSTATE_END_OF_LIST()
    },
};

/*
 * With QEMU 10.2's sources the blob and its address migrate as in that
 * QEMU (guest RAM, the GED's fields), and this section only carries
 * records waiting, so that a VM with none migrates to QEMU 10.2
 */
static bool ghes_device_needed(void *opaque)
{
    AcpiGhesDevice *s = opaque;

    return !s->legacy_sources || !g_queue_is_empty(&s->queue);
}

const VMStateDescription vmstate_ghes_device = {
    .name = TYPE_ACPI_GHES,
    .version_id = 2,
    .minimum_version_id = 2,
    .needed = ghes_device_needed,
    .pre_save = ghes_device_pre_save,
    .post_save = ghes_device_post_save,
    .pre_load = ghes_device_pre_load,
    .post_load = ghes_device_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT8_ARRAY(mig_addr_le, AcpiGhesDevice,
                            sizeof(uint64_t)),
        VMSTATE_UINT32_EQUAL(regs_len, AcpiGhesDevice, NULL),
        VMSTATE_VBUFFER_UINT32(mig_regs, AcpiGhesDevice, 0, NULL, regs_len),
        VMSTATE_INT32(nr_mig, AcpiGhesDevice),
        VMSTATE_VALIDATE("queued records within bounds", ghes_nr_mig_valid),
        VMSTATE_STRUCT_VARRAY_ALLOC(mig, AcpiGhesDevice, nr_mig, 0,
                                    vmstate_ghes_migrated_record,
                                    GhesMigratedRecord),
        VMSTATE_UINT64(mig_sequence, AcpiGhesDevice),
        VMSTATE_UINT64(mig_dropped, AcpiGhesDevice),
        VMSTATE_UINT32_EQUAL(nr_sources, AcpiGhesDevice, NULL),
        VMSTATE_STRUCT_VARRAY_POINTER_UINT32(mig_stats, AcpiGhesDevice,
                                             nr_sources,
                                             vmstate_ghes_source_stats,
                                             GhesSourceStats),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_ghes_async_merged,
        NULL
    },
};
