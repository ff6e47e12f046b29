/*
 * The guest's GHESv2 error sources
 *
 * QEMU lays out the hardware-errors blob itself (hw/acpi/hest.c), so the
 * only thing it needs from the guest is the blob's base address, which
 * firmware writes back through fw_cfg.  Every other address is computed
 * from that base and the layout; guest-writable copies (HEST, the error
 * status address registers) are never read back.  QEMU 10.2's sources,
 * kept for its machine types, are the exception: there firmware reports
 * the HEST's address, and the blob's is read out of the HEST once, when
 * it is reported (or migrated in).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/timer.h"
#include "qom/object.h"
#include "hw/acpi/acpi_dev_interface.h"
#include "hw/acpi/generic_event_device.h"
#include "hw/acpi/ghes-device.h"
#include "ghes-internal.h"
#include "hw/acpi/cper.h"
#include "system/poison-trap.h"
#include "hw/boards.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "qapi/qapi-events-ras.h"
#include "system/address-spaces.h"
#include "system/memory.h"
#include "system/memory-failure.h"
#include "system/reset.h"
#include "trace.h"

/* The machine's, from creation to unrealize: looked up on every error */
static AcpiGhesDevice *machine_ghes;

AcpiGhesDevice *ghes_device_find(void)
{
    return machine_ghes;
}

bool ghes_gpa_is_ram(uint64_t addr, uint64_t len)
{
    MemoryRegionSection sec;
    bool ok;

    if (!len || addr + len < addr) {
        return false;
    }
    sec = memory_region_find(get_system_memory(), addr, len);
    if (!sec.mr) {
        return false;
    }
    ok = memory_region_is_ram(sec.mr) && !memory_region_is_rom(sec.mr) &&
         !memory_region_is_ram_device(sec.mr) &&
         int128_get64(sec.size) == len;
    memory_region_unref(sec.mr);
    return ok;
}

/* --- the register pages ---------------------------------------------- */

static bool ghes_block_acked(AcpiGhesDevice *s, unsigned source);

/*
 * Once an SEA source has had a record, an Error Status Address register
 * reads 0 while its source's block holds nothing the guest has not
 * acknowledged.  Linux then skips the source without mapping its block
 * (__ghes_peek_estatus()), which matters on an SEA: the guest scans every
 * SEA source, one per vCPU, and maps each block to read its status (each
 * map costs a broadcast TLB invalidation).  Not before: firmware reads the
 * registers back right after it has placed the blob (EDK2 stopped with an
 * exception when they read 0), before an OS can take an SEA.  QEMU keeps
 * the address firmware patched in; the guest sees it whenever there is a
 * record to read.
 */
static uint64_t ghes_regs_read(void *opaque, hwaddr addr, unsigned size)
{
    AcpiGhesDevice *s = opaque;
    uint64_t regs_end = hest_blob_address_reg(&s->layout, s->nr_sources);
    uint8_t val[8];
    uint64_t a;

    memcpy(val, s->regs + addr, size);
    for (a = addr & ~7ull;
         s->zero_free_addresses && a < MIN(addr + size, regs_end); a += 8) {
        if (ghes_block_acked(s, a / 8)) {
            uint64_t from = MAX(a, addr), to = MIN(a + 8, addr + size);

            memset(val + (from - addr), 0, to - from);
        }
    }
    return ldn_le_p(val, size);
}

static void ghes_source_acked(AcpiGhesDevice *s, unsigned source);

static void ghes_regs_write(void *opaque, hwaddr addr, uint64_t val,
                            unsigned size)
{
    AcpiGhesDevice *s = opaque;
    uint64_t acks = hest_blob_ack_reg(&s->layout, 0);
    uint64_t acks_end = hest_blob_ack_reg(&s->layout, s->nr_sources);
    uint64_t a;

    stn_le_p(s->regs + addr, size, val);
    /* Any read ack register this write touched, now set: acknowledged */
    for (a = MAX(addr, acks) & ~7ull; a < MIN(addr + size, acks_end);
         a += 8) {
        if (ldq_le_p(s->regs + a) & HEST_READ_ACK_WRITE) {
            ghes_source_acked(s, (a - acks) / 8);
        }
    }
}

static const MemoryRegionOps ghes_regs_ops = {
    .read = ghes_regs_read,
    .write = ghes_regs_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid.min_access_size = 1,
    .valid.max_access_size = 8,
    .impl.min_access_size = 1,
    .impl.max_access_size = 8,
};

/*
 * With QEMU 10.2's layout the registers are guest RAM, which is what
 * counts; s->regs then holds what QEMU last saw there, to mend them with
 */
static uint64_t ghes_ack_get(AcpiGhesDevice *s, unsigned source)
{
    uint64_t off = hest_blob_ack_reg(&s->layout, source);

    if (!s->layout.regs_own_page && s->hw_errors_addr) {
        stq_le_p(s->regs + off, ldq_le_phys(&address_space_memory,
                                            s->hw_errors_addr + off));
    }
    return ldq_le_p(s->regs + off);
}

/* Whether @source's block holds nothing the guest has not acknowledged */
static bool ghes_block_acked(AcpiGhesDevice *s, unsigned source)
{
    return ghes_ack_get(s, source) & HEST_READ_ACK_WRITE;
}

static void ghes_ack_set(AcpiGhesDevice *s, unsigned source, uint64_t val)
{
    uint64_t off = hest_blob_ack_reg(&s->layout, source);

    stq_le_p(s->regs + off, val);
    if (!s->layout.regs_own_page && s->hw_errors_addr) {
        stq_le_phys(&address_space_memory, s->hw_errors_addr + off, val);
    }
}

/* Registers in guest RAM whose page was replaced: as QEMU last saw them */
static void ghes_regs_restore(AcpiGhesDevice *s)
{
    unsigned i;

    for (i = 0; i < s->nr_sources; i++) {
        stq_le_p(s->regs + hest_blob_address_reg(&s->layout, i),
                 s->hw_errors_addr + hest_blob_block(&s->layout, i));
    }
    address_space_write(&address_space_memory, s->hw_errors_addr,
                        MEMTXATTRS_UNSPECIFIED, s->regs, s->regs_len);
}

static void ghes_regs_unmap(AcpiGhesDevice *s)
{
    if (s->regs_mapped) {
        memory_region_del_subregion(get_system_memory(), &s->regs_mr);
        s->regs_mapped = false;
    }
}

static void ghes_regs_map(AcpiGhesDevice *s, uint64_t addr)
{
    /*
     * Above everything, poison traps included: QEMU keeps the registers,
     * so the page beneath failing costs the guest nothing.
     */
    memory_region_add_subregion_overlap(get_system_memory(), addr,
                                        &s->regs_mr, INT_MAX);
    s->regs_mapped = true;
}


/*
 * A memory error in the blob, which QEMU keeps: the register pages are
 * QEMU's own copy already.  A block in a replaced page gets back the
 * record the guest has not taken yet; one in memory that could not be
 * replaced is lost, its records go elsewhere.
 */
static void ghes_mend(void *opaque, hwaddr gpa, uint64_t size, bool replaced)
{
    AcpiGhesDevice *s = opaque;
    unsigned i, n = s->nr_sources;

    if (!s->layout.regs_own_page && replaced &&
        gpa < s->hw_errors_addr + s->regs_len &&
        gpa + size > s->hw_errors_addr) {
        ghes_regs_restore(s);
    }
    for (i = 0; i < n; i++) {
        uint64_t block = s->hw_errors_addr + hest_blob_block(&s->layout, i);
        GhesSourceCopy *c = &s->copies[i];

        if (block + hest_blob_block_len(&s->layout, i) <= gpa ||
            block >= gpa + size) {
            continue;
        }
        if (replaced) {
            s->stats[i].mended++;
            if (!ghes_device_block_free(s, i) && c->len) {
                address_space_write(&address_space_memory, block,
                                    MEMTXATTRS_UNSPECIFIED, c->record,
                                    c->len);
            } else if (!ghes_device_block_free(s, i)) {
                /*
                 * No copy (migrated in since): the record is gone.  An
                 * empty block is never acknowledged; free it.
                 */
                warn_report("%s: a memory error took the record the guest "
                            "had not read in source %u", TYPE_ACPI_GHES, i);
                ghes_ack_set(s, i, ghes_ack_get(s, i) | HEST_READ_ACK_WRITE);
            }
            trace_ghes_source_mended(i, block);
        } else if (!c->lost) {
            c->lost = true;
            trace_ghes_source_lost(i, block);
            qapi_event_send_ghes_source_lost(s->sources[i].source_id,
                                             block);
            warn_report("%s: a memory error took the error status block "
                        "of source %u at 0x%" PRIx64, TYPE_ACPI_GHES, i,
                        block);
            if (i == s->async_source && !g_queue_is_empty(&s->queue)) {
                /* Nowhere to go now: dropped, and counted */
                warn_report("%s: %u records waiting for source %u dropped",
                            TYPE_ACPI_GHES, g_queue_get_length(&s->queue),
                            i);
                ras_queue_overflow(&s->async_queue,
                                   g_queue_get_length(&s->queue), false, 0);
                ghes_queue_clear(s);
            }
        }
    }
}

bool ghes_blob_addr_valid(AcpiGhesDevice *s, uint64_t addr, Error **errp)
{
    uint64_t len = hest_blob_len(&s->layout);

    /* Firmware allocates it with the linker's alignment */
    if (addr & (hest_blob_align(&s->layout) - 1)) {
        error_setg(errp, "hardware errors blob at 0x%" PRIx64 " is not "
                   "aligned to %" PRIu64 " bytes", addr,
                   hest_blob_align(&s->layout));
        return false;
    }
    if (!ghes_gpa_is_ram(addr, len)) {
        error_setg(errp, "hardware errors blob at 0x%" PRIx64 " (+0x%"
                   PRIx64 ") is not in guest RAM", addr, len);
        return false;
    }
    return true;
}

/*
 * The blob's address, from firmware's report of it or of the HEST's.
 * A HEST must describe this machine's sources, in its layout, pointing
 * into one blob.  0 if it does not.
 */
static uint64_t ghes_blob_from_report(AcpiGhesDevice *s, uint64_t report,
                                      Error **errp)
{
    const HestLayout *l = &s->layout;
    uint64_t len = HEST_HEADER_LEN + (uint64_t)HEST_GHES_V2_LEN * l->n;
    g_autofree uint8_t *hest = g_malloc(len);
    uint64_t blob;
    unsigned i;

    if (l->report == HEST_REPORT_BLOB) {
        return report;
    }
    if (address_space_read(&address_space_memory, report,
                           MEMTXATTRS_UNSPECIFIED, hest, len) != MEMTX_OK ||
        memcmp(hest, "HEST", 4) || ldl_le_p(hest + 36) != l->n) {
        error_setg(errp, "no HEST with %u error sources at 0x%" PRIx64,
                   l->n, report);
        return 0;
    }
    blob = ldq_le_p(hest + HEST_HEADER_LEN + HEST_GHES_STATUS_ADDR_OFF) -
           hest_blob_address_reg(l, 0);
    if (!blob) {
        error_setg(errp, "the HEST at 0x%" PRIx64 " points at no blob",
                   report);
        return 0;
    }
    for (i = 0; i < l->n; i++) {
        const uint8_t *e = hest + HEST_HEADER_LEN + HEST_GHES_V2_LEN * i;

        if (lduw_le_p(e) != HEST_TYPE_GHES_V2 ||
            lduw_le_p(e + 2) != s->sources[i].source_id ||
            ldq_le_p(e + HEST_GHES_STATUS_ADDR_OFF) !=
                blob + hest_blob_address_reg(l, i) ||
            ldq_le_p(e + HEST_GHES_READ_ACK_OFF) !=
                blob + hest_blob_ack_reg(l, i)) {
            error_setg(errp, "the HEST at 0x%" PRIx64 " does not describe "
                       "this machine's error sources", report);
            return 0;
        }
    }
    return blob;
}

/*
 * Take the blob address firmware reported, if it is guest RAM.  With
 * @from_ram, the register pages start as firmware left them in RAM;
 * otherwise (incoming migration) they already hold the guest's view.
 * Registers in guest RAM (QEMU 10.2's layout) are always read from it.
 */
static void ghes_place(AcpiGhesDevice *s, bool from_ram)
{
    uint64_t report = ldq_le_p(s->report_le), addr;
    uint64_t blob_len = hest_blob_len(&s->layout);
    Error *err = NULL;

    ghes_regs_unmap(s);
    memory_failure_disown_ram(s);
    s->hw_errors_addr = 0;
    s->zero_free_addresses = false;
    s->report_seen = report;
    if (!report) {
        return;
    }
    addr = ghes_blob_from_report(s, report, &err);
    if (!addr || !ghes_blob_addr_valid(s, addr, &err)) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: %s; GHES disabled\n",
                      TYPE_ACPI_GHES, error_get_pretty(err));
        error_free(err);
        trace_ghes_blob_rejected(report, blob_len);
        return;
    }
    if (from_ram || !s->layout.regs_own_page) {
        address_space_read(&address_space_memory, addr,
                           MEMTXATTRS_UNSPECIFIED, s->regs, s->regs_len);
    }
    memory_failure_own_ram(s, addr, blob_len, ghes_mend);
    if (s->layout.regs_own_page) {
        ghes_regs_map(s, addr);
    }
    s->hw_errors_addr = addr;
    s->report_accepted = report;
    trace_ghes_blob_placed(addr, blob_len);
}

/*
 * A report QEMU has not acted on: the GED's fields, where QEMU 10.2's
 * sources keep it, come in with a migration without any call of ours
 */
static void ghes_sync_report(AcpiGhesDevice *s)
{
    if (ldq_le_p(s->report_le) != s->report_seen) {
        ghes_place(s, false);
    }
}

static void ghes_hw_errors_addr_written(void *opaque, off_t offset,
                                        size_t len)
{
    AcpiGhesDevice *s = opaque;

    /*
     * Firmware places the blob once per boot.  A later write (the guest
     * OS) would point QEMU's record writes at memory of its choosing: it
     * is ignored, and the file keeps the accepted address.
     */
    if (s->hw_errors_addr) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: hardware errors blob address "
                      "rewritten to 0x%" PRIx64 ": ignored, it stays at 0x%"
                      PRIx64 " until reset\n", TYPE_ACPI_GHES,
                      ldq_le_p(s->report_le), s->hw_errors_addr);
        trace_ghes_blob_rewrite_ignored(ldq_le_p(s->report_le),
                                        s->hw_errors_addr);
        stq_le_p(s->report_le, s->report_accepted);
        return;
    }
    ghes_place(s, true);
}

/* Whether the flat range covers blob memory that is no longer RAM */
typedef struct BlobCheck {
    AcpiGhesDevice *s;
    uint64_t start, end, covered;
    bool bad;
} BlobCheck;

static bool ghes_blob_range(Int128 start, Int128 len, const MemoryRegion *mr,
                            hwaddr offset_in_region, void *opaque)
{
    BlobCheck *c = opaque;
    uint64_t a = int128_get64(start), b = a + int128_get64(len);
    MemoryRegion *m = (MemoryRegion *)mr;
    void *host;

    if (b <= c->start || a >= c->end) {
        return false;
    }
    c->covered += MIN(b, c->end) - MAX(a, c->start);
    /* Our registers and poison traps sit over the RAM: both are fine */
    if (m != &c->s->regs_mr &&
        !poison_trap_hidden_ram(m, offset_in_region, &host) &&
        (!memory_region_is_ram(m) || memory_region_is_rom(m) ||
         memory_region_is_ram_device(m))) {
        c->bad = true;
    }
    return c->bad;
}

/*
 * The memory map changed (a BAR moved, a DIMM went): if the blob is no
 * longer guest RAM, QEMU stops writing there until firmware places it
 * again.  Checked from a bottom half, out of the memory map update.
 */
static void ghes_map_check(void *opaque)
{
    AcpiGhesDevice *s = opaque;
    BlobCheck c = { .s = s, .start = s->hw_errors_addr,
                    .end = s->hw_errors_addr + hest_blob_len(&s->layout) };

    if (!s->hw_errors_addr) {
        return;
    }
    WITH_RCU_READ_LOCK_GUARD() {
        flatview_for_each_range(address_space_to_flatview(
                                    &address_space_memory),
                                ghes_blob_range, &c);
    }
    if (!c.bad && c.covered == c.end - c.start) {
        return;
    }
    qemu_log_mask(LOG_GUEST_ERROR, "%s: hardware errors blob at 0x%" PRIx64
                  " is no longer guest RAM; GHES disabled until firmware "
                  "places it again\n", TYPE_ACPI_GHES, s->hw_errors_addr);
    trace_ghes_blob_rejected(s->hw_errors_addr, c.end - c.start);
    stq_le_p(s->report_le, 0);
    ghes_place(s, false);
}

static void ghes_map_commit(MemoryListener *listener)
{
    AcpiGhesDevice *s = container_of(listener, AcpiGhesDevice,
                                     map_listener);

    if (s->hw_errors_addr) {
        qemu_bh_schedule(s->map_check);
    }
}

bool ghes_device_ready(AcpiGhesDevice *s, Error **errp)
{
    ghes_sync_report(s);
    if (!s->hw_errors_addr) {
        error_setg(errp, "the guest firmware has not placed the hardware "
                   "error status blocks yet (is the guest booted with "
                   "ACPI firmware?)");
        return false;
    }
    return true;
}

unsigned ghes_async_source(AcpiGhesDevice *s)
{
    return s->async_source;
}

unsigned ghes_sea_source(AcpiGhesDevice *s, int cpu_index)
{
    unsigned own, i;

    if (!s->sea_sources) {
        return GHES_NO_SOURCE;
    }
    own = s->first_sea + cpu_index % s->sea_sources;

    for (i = 0; i < s->sea_sources; i++) {
        unsigned source = s->first_sea +
                          (own - s->first_sea + i) % s->sea_sources;

        if (!s->copies[source].lost) {
            return source;
        }
    }
    return own;
}

bool ghes_device_block_free(AcpiGhesDevice *s, unsigned source)
{
    return s->hw_errors_addr && source < s->nr_sources &&
           ghes_block_acked(s, source);
}

uint64_t ghes_source_errors(AcpiGhesDevice *s, unsigned source)
{
    return s->stats[source].records +
           (source == s->async_source ? s->async_merged : 0);
}

unsigned ghes_device_queued(AcpiGhesDevice *s, unsigned source)
{
    return source == s->async_source ? g_queue_get_length(&s->queue) : 0;
}

/*
 * Write @cper, about the memory error at @addr (or GHES_ADDR_UNKNOWN),
 * into @source's block if the guest has acknowledged the one before, and
 * claim the block.  GHES_POST_BUSY if it has not.
 */
static GhesPosted ghes_write_block(AcpiGhesDevice *s, unsigned source,
                                   const void *cper, size_t len,
                                   uint64_t addr, Error **errp)
{
    unsigned n = s->nr_sources;
    uint64_t block_addr, ack;

    if (!ghes_device_ready(s, errp)) {
        return GHES_POST_FAILED;
    }
    if (source == GHES_NO_SOURCE) {
        error_setg(errp, "this machine type has no asynchronous GHES error "
                   "source (only an SEA one, as in QEMU 10.0)");
        return GHES_POST_FAILED;
    }
    if (source >= n) {
        error_setg(errp, "no GHES error source %u (there are %u)", source, n);
        return GHES_POST_FAILED;
    }
    if (len > hest_blob_block_len(&s->layout, source)) {
        error_setg(errp, "CPER record of %zu bytes does not fit the %u-byte "
                   "error status block", len,
                   hest_blob_block_len(&s->layout, source));
        return GHES_POST_FAILED;
    }
    if (s->copies[source].lost) {
        error_setg(errp, "GHES source %u was lost to a memory error in its "
                   "error status block", source);
        return GHES_POST_FAILED;
    }
    block_addr = s->hw_errors_addr + hest_blob_block(&s->layout, source);
    ack = ghes_ack_get(s, source);
    if (!(ack & HEST_READ_ACK_WRITE)) {
        s->stats[source].busy++;
        trace_ghes_record_busy(source, ack);
        error_setg(errp, "GHES source %u: the guest has not acknowledged "
                   "the previous error record yet", source);
        return GHES_POST_BUSY;
    }
    if (address_space_write(&address_space_memory, block_addr,
                            MEMTXATTRS_UNSPECIFIED, cper, len) != MEMTX_OK) {
        error_setg(errp, "cannot write the error status block of GHES "
                   "source %u at 0x%" PRIx64, source, block_addr);
        return GHES_POST_FAILED;
    }
    memcpy(s->copies[source].record, cper, len);
    s->copies[source].len = len;
    s->block_addr[source] = addr;
    if (source == s->async_source) {
        s->async_block_errors = 1;  /* ghes_async_next() may say more */
    } else {
        s->zero_free_addresses = true;
    }
    /* Claim the block: the guest sets the bit again once it has read it */
    ghes_ack_set(s, source, ack & HEST_READ_ACK_PRESERVE);
    s->stats[source].records++;
    trace_ghes_record_written(source, block_addr, len, addr);

    if (source == s->async_source && s->notify) {
        trace_ghes_notify_ged(source);
        s->notify(s->notify_dev, ACPI_GENERIC_ERROR);
    }
    return GHES_POST_DONE;
}

/*
 * Linux acknowledges a record of the asynchronous source once it has
 * queued the memory_failure() work for its errors, one entry each, in a
 * per-CPU fifo of 16 entries that a worker drains later (every GED
 * notification, and on x86 every ACPI notification, runs on the same
 * CPU), and it drops what does not fit: an acknowledgement is not
 * consumption.  So at most GHES_ASYNC_WINDOW errors may be in doubt, one
 * entry left for a synchronous error on that CPU.  An error is in doubt
 * from its acknowledgement until the guest has been seen idle since
 * (system/guest-progress.c), or until two guesses (the guest ran long
 * enough) have passed.  Memory errors waiting together go in one record,
 * up to the window: one notification for them all, as the guest spends
 * about as long on a notification as on three errors under TCG.  The
 * guest drains a window in a few ms, so progress is looked for every
 * 100 us while records wait (docs/specs/ras-storm-benchmark.rst).
 */
#define GHES_ASYNC_WINDOW       15
#define GHES_ASYNC_POLL_NS      (100 * SCALE_US)
#define GHES_ASYNC_BUSY_NS      (50 * SCALE_MS)
#define GHES_ASYNC_MAX_WAIT_NS  (500 * SCALE_MS)

static uint32_t ghes_async_in_doubt(AcpiGhesDevice *s)
{
    return s->async_unconfirmed + s->async_guessed;
}

/*
 * Whether the guest's progress since the mark leaves room for more: an
 * idle clears every doubt; a guess clears what the guess before took for
 * done, and takes the errors since for done, from a new mark.
 */
static bool ghes_async_may_write(AcpiGhesDevice *s)
{
    if (ghes_async_in_doubt(s) < GHES_ASYNC_WINDOW) {
        return true;
    }
    switch (guest_progress_done(&s->async_progress,
                                s->async_ack_cpu >= 0 ?
                                qemu_get_cpu(s->async_ack_cpu) : NULL,
                                GHES_ASYNC_BUSY_NS, GHES_ASYNC_MAX_WAIT_NS)) {
    case GUEST_PROGRESS_NONE:
        return false;
    case GUEST_PROGRESS_IDLED:
        s->async_guessed = 0;
        break;
    case GUEST_PROGRESS_GUESSED:
        s->async_guessed = s->async_unconfirmed;
        guest_progress_mark(&s->async_progress);
        break;
    }
    s->async_unconfirmed = 0;
    return ghes_async_in_doubt(s) < GHES_ASYNC_WINDOW;
}


static void ghes_async_next(AcpiGhesDevice *s);

static GhesPosted ghes_post(AcpiGhesDevice *s, unsigned source,
                            const void *cper, size_t len, uint64_t addr,
                            Error **errp)
{
    GhesQueued *q;

    /* One record; only ghes_async_next() merges them into more */
    if (len > HEST_GHES_BLOCK_LEN) {
        error_setg(errp, "CPER record of %zu bytes exceeds %d bytes", len,
                   HEST_GHES_BLOCK_LEN);
        return GHES_POST_FAILED;
    }
    /* Anything but a record that must wait: ghes_write_block() says why */
    if (source >= s->nr_sources || source != s->async_source ||
        !ghes_device_ready(s, NULL) || s->copies[source].lost ||
        (g_queue_is_empty(&s->queue) && ghes_device_block_free(s, source) &&
         ghes_async_in_doubt(s) < GHES_ASYNC_WINDOW)) {
        return ghes_write_block(s, source, cper, len, addr, errp);
    }
    if (g_queue_get_length(&s->queue) >= s->queue_size) {
        ras_queue_overflow(&s->async_queue, 1, addr != GHES_ADDR_UNKNOWN,
                           addr);
        error_setg(errp, "GHES source %u: %u records are already waiting "
                   "for the guest to acknowledge (queue-size)", source,
                   s->queue_size);
        return GHES_POST_FAILED;
    }
    q = g_malloc(sizeof(*q) + len);
    q->queued_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    q->addr = addr;
    q->len = len;
    memcpy(q->data, cper, len);
    g_queue_push_tail(&s->queue, q);
    trace_ghes_queued(source, g_queue_get_length(&s->queue));
    ghes_async_next(s);
    return GHES_POST_DONE;
}

bool ghes_post_record(AcpiGhesDevice *s, unsigned source, const void *cper,
                      size_t len, Error **errp)
{
    return ghes_post(s, source, cper, len, GHES_ADDR_UNKNOWN, errp) ==
           GHES_POST_DONE;
}

GhesPosted ghes_post_mem_error(AcpiGhesDevice *s, unsigned source,
                               const CperMemError *err, Error **errp)
{
    g_autoptr(GArray) rec = g_array_sized_new(false, false, 1,
                                              CPER_MEM_RECORD_LEN);
    uint64_t addr = err->physical_address;
    GhesPosted posted;

    /*
     * A synchronous source whose block still holds this error, not taken
     * yet: an access that touched it again (one instruction, several
     * accesses), or the same injection twice.  The guest reads that one.
     */
    if (source != s->async_source && source < s->nr_sources &&
        ghes_device_ready(s, NULL) && !ghes_device_block_free(s, source) &&
        s->block_addr[source] == addr) {
        trace_ghes_mem_error_pending(source, addr);
        return GHES_POST_PENDING;
    }
    cper_encode_mem_error(rec, err, s->sequence + 1,
                          qemu_clock_get_ms(QEMU_CLOCK_HOST) / 1000);
    posted = ghes_post(s, source, rec->data, rec->len, addr, errp);
    if (posted == GHES_POST_DONE) {
        s->sequence++;
    }
    return posted;
}

/*
 * How many records at the head of the queue go in together, at most
 * @max: memory errors of ours of one severity (a raw record of
 * inject-ghes-v2-error, or one from a migration stream, goes alone).
 * QEMU 10.2's sources get one error a record, as that QEMU gave them.
 */
static unsigned ghes_async_batch(AcpiGhesDevice *s, unsigned max)
{
    const GhesQueued *head = g_queue_peek_head(&s->queue), *q;
    unsigned n = 1;

    max = MIN(max, CPER_MEM_RECORDS_PER_BLOCK(
                       hest_blob_block_len(&s->layout, s->async_source)));
    if (s->legacy_sources || head->addr == GHES_ADDR_UNKNOWN) {
        return 1;
    }
    while (n < max && (q = g_queue_peek_nth(&s->queue, n)) &&
           q->addr != GHES_ADDR_UNKNOWN &&
           cper_mem_records_mergeable(head->data, q->data)) {
        n++;
    }
    return n;
}

/* The next record waiting for the asynchronous source, if it may go in */
static void ghes_async_next(AcpiGhesDevice *s)
{
    const unsigned source = s->async_source;
    g_autoptr(GArray) merged = NULL;
    g_autofree const uint8_t **records = NULL;
    GhesQueued *q;
    const void *data;
    size_t len;
    unsigned n, i;
    uint64_t waited_us;
    Error *err = NULL;

    if (g_queue_is_empty(&s->queue)) {
        return;
    }
    ghes_sync_report(s);
    if (!ghes_device_block_free(s, source)) {
        if (!s->layout.regs_own_page) {
            /* QEMU 10.2's layout: no trap sees the acknowledgement */
            timer_mod(s->async_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                                      GHES_ASYNC_POLL_NS);
        }
        return;
    }
    if (!ghes_async_may_write(s)) {
        timer_mod(s->async_timer,
                  qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) + GHES_ASYNC_POLL_NS);
        return;
    }
    q = g_queue_peek_head(&s->queue);
    n = ghes_async_batch(s, GHES_ASYNC_WINDOW - ghes_async_in_doubt(s));
    data = q->data;
    len = q->len;
    if (n > 1) {
        records = g_new(const uint8_t *, n);
        for (i = 0; i < n; i++) {
            records[i] = ((GhesQueued *)g_queue_peek_nth(&s->queue, i))->data;
        }
        merged = g_array_sized_new(false, false, 1, CPER_MEM_MERGED_LEN(n));
        cper_merge_mem_records(merged, records, n);
        data = merged->data;
        len = merged->len;
    }
    if (ghes_write_block(s, source, data, len, q->addr, &err) !=
        GHES_POST_DONE) {
        /* The blob stopped being RAM: the records wait for a new one */
        warn_report_err(err);
        return;
    }
    s->async_block_errors = n;
    s->async_merged += n - 1;
    waited_us = (qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - q->queued_ns) /
                SCALE_US;
    trace_ghes_dequeued(source, q->addr, n, waited_us);
    for (i = 0; i < n; i++) {
        g_free(g_queue_pop_head(&s->queue));
    }
}

static void ghes_async_timer(void *opaque)
{
    ghes_async_next(opaque);
}

/* The guest acknowledged @source: the next record waiting may go in */
static void ghes_source_acked(AcpiGhesDevice *s, unsigned source)
{
    int ack_cpu;

    trace_ghes_acked(source, ghes_device_queued(s, source));
    if (source != s->async_source) {
        return;
    }
    /*
     * The vCPU that acknowledged is the one whose fifo holds the errors:
     * while every error in doubt is that one's, only it need idle
     */
    ack_cpu = current_cpu ? current_cpu->cpu_index : -1;
    if (!ghes_async_in_doubt(s)) {
        s->async_ack_cpu = ack_cpu;
    } else if (s->async_ack_cpu != ack_cpu) {
        s->async_ack_cpu = -1;
    }
    if (ghes_async_in_doubt(s) < GHES_ASYNC_WINDOW &&
        ghes_async_in_doubt(s) + s->async_block_errors >= GHES_ASYNC_WINDOW) {
        guest_progress_mark(&s->async_progress);
    }
    s->async_unconfirmed += s->async_block_errors;
    if (ghes_async_in_doubt(s) >= GHES_ASYNC_WINDOW) {
        /*
         * Whether the guest made progress (a look at every vCPU) is asked
         * from the timer: this is the guest's register write, which must
         * stay cheap
         */
        timer_mod(s->async_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL));
        return;
    }
    ghes_async_next(s);
}

/*
 * After a load, a source may be waiting for the acknowledgement of a
 * block the guest has emptied.  A guest stopped between clearing the
 * block and writing the acknowledgement writes it as soon as it runs;
 * but a stream can say so too, and the source would then wait for ever
 * (Linux acknowledges only a block with something in it).  So once the
 * guest has run GHES_LOAD_ACK_GRACE_NS, a source still waiting on an
 * empty block is freed, as after a memory error took its record.
 */
#define GHES_LOAD_ACK_GRACE_NS  (1 * NANOSECONDS_PER_SECOND)

static void ghes_load_ack_check(void *opaque)
{
    AcpiGhesDevice *s = opaque;
    unsigned i;

    for (i = 0; s->hw_errors_addr && i < s->nr_sources; i++) {
        uint64_t block = s->hw_errors_addr + hest_blob_block(&s->layout, i);

        if (ghes_device_block_free(s, i) ||
            ldl_le_phys(&address_space_memory, block)) {
            continue;
        }
        warn_report("%s: source %u waited for the acknowledgement of an "
                    "empty error status block since it was loaded: freed",
                    TYPE_ACPI_GHES, i);
        trace_ghes_source_mended(i, block);
        ghes_ack_set(s, i, ghes_ack_get(s, i) | HEST_READ_ACK_WRITE);
        ghes_source_acked(s, i);
    }
}

void ghes_resume_loaded(AcpiGhesDevice *s)
{
    /* The register pages came in the stream: do not reread RAM */
    ghes_place(s, false);
    /*
     * What the guest had still to do is unknown: let it show progress.
     * Nothing is written while devices are still loading.
     */
    s->async_unconfirmed = GHES_ASYNC_WINDOW;
    s->async_guessed = 0;
    s->async_ack_cpu = -1;
    guest_progress_mark(&s->async_progress);
    timer_mod(s->async_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                              GHES_ASYNC_POLL_NS);
    timer_mod(s->load_ack_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                                 GHES_LOAD_ACK_GRACE_NS);
}

void ghes_queue_clear(AcpiGhesDevice *s)
{
    g_queue_clear_full(&s->queue, g_free);
    s->async_unconfirmed = 0;
    s->async_guessed = 0;
    timer_del(s->async_timer);
}

void ghes_device_build_hest(AcpiGhesDevice *s, GArray *table_data,
                            GArray *hw_errors, BIOSLinker *linker,
                            const char *oem_id, const char *oem_table_id)
{
    hest_build(table_data, hw_errors, linker, s->sources, &s->layout,
               oem_id, oem_table_id);
}

void ghes_device_add_fw_cfg(AcpiGhesDevice *s, FWCfgState *fw_cfg,
                            GArray *hw_errors)
{
    if (!bios_linker_loader_can_write_pointer()) {
        /* Firmware could not tell us where the blocks are */
        warn_report("%s: fw_cfg has no DMA write support; hardware errors "
                    "cannot be reported to the guest", TYPE_ACPI_GHES);
    }
    fw_cfg_add_file(fw_cfg, HEST_HW_ERRORS_FILE, hw_errors->data,
                    hw_errors->len);
    fw_cfg_add_file_callback(fw_cfg,
                             s->layout.report == HEST_REPORT_HEST ?
                             HEST_HEST_ADDR_FILE : HEST_HW_ERRORS_ADDR_FILE,
                             NULL, ghes_hw_errors_addr_written, s,
                             s->report_le, sizeof(uint64_t), false);
}

AcpiGhesDevice *ghes_device_create(Object *machine, DeviceState *acpi_dev,
                                   unsigned nr_cpus)
{
    DeviceState *dev = qdev_new(TYPE_ACPI_GHES);

    qdev_prop_set_uint32(dev, "sea-sources",
                         MIN(nr_cpus, GHES_MAX_SEA_SOURCES));
    object_property_set_link(OBJECT(dev), "acpi-dev", OBJECT(acpi_dev),
                             &error_abort);
    object_property_add_child(machine, TYPE_ACPI_GHES, OBJECT(dev));
    qdev_realize_and_unref(dev, NULL, &error_fatal);
    machine_ghes = ACPI_GHES(dev);
    return machine_ghes;
}

static void ghes_async_queue_count(RasReportQueue *q, RasQueueInfo *info)
{
    AcpiGhesDevice *s = container_of(q, AcpiGhesDevice, async_queue);

    info->waiting = g_queue_get_length(&s->queue);
    info->delivered = s->async_source != GHES_NO_SOURCE ?
                      ghes_source_errors(s, s->async_source) : 0;
}

static bool ghes_async_queue_untaken(RasReportQueue *q)
{
    AcpiGhesDevice *s = container_of(q, AcpiGhesDevice, async_queue);

    return s->async_source != GHES_NO_SOURCE && s->hw_errors_addr &&
           !ghes_device_block_free(s, s->async_source);
}

/*
 * Ours: the asynchronous source, then one SEA source per vCPU.  The
 * asynchronous one is notified by the ACPI device's ACPI_GENERIC_ERROR
 * event: through the GED an interrupt (GPIO-signal), elsewhere (x86) a
 * general-purpose event whose method notifies the error device (SCI).
 */
static bool ghes_own_sources(AcpiGhesDevice *s, Error **errp)
{
    HestNotifyType async = object_dynamic_cast(OBJECT(s->acpi_dev),
                                               TYPE_ACPI_GED) ?
                           HEST_NOTIFY_GPIO : HEST_NOTIFY_SCI;
    unsigned i;

    s->nr_sources = 1 + s->sea_sources;
    s->sources = g_new0(HestSource, s->nr_sources);
    for (i = 0; i < s->nr_sources; i++) {
        s->sources[i].source_id = i;
        s->sources[i].notify = i ? HEST_NOTIFY_SEA : async;
        s->sources[i].max_sections = i ? 1 : GHES_ASYNC_WINDOW;
    }
    s->async_source = 0;
    s->first_sea = 1;
    s->layout = (HestLayout) {
        .n = s->nr_sources,
        .regs_own_page = true,
        .report = HEST_REPORT_BLOB,
        .first_block_len = HEST_GHES_BATCH_BLOCK_LEN,
    };
    s->report_le = s->hw_errors_addr_le;
    return true;
}

/*
 * QEMU 10.2's, on its machine types: one SEA source for every vCPU, then
 * (where the GED keeps the HEST's address, 10.1 and later) one notified
 * through the GED, with the address firmware reports kept in the GED's
 * fields, which that QEMU migrates
 */
static bool ghes_legacy_sources(AcpiGhesDevice *s, Error **errp)
{
    AcpiGedState *ged = (AcpiGedState *)
        object_dynamic_cast(OBJECT(s->acpi_dev), TYPE_ACPI_GED);
    bool has_hest = ged && ged->ghes_state.use_hest_addr;

    if (!ged) {
        error_setg(errp, "%s: x-legacy-sources needs the GED as acpi-dev",
                   TYPE_ACPI_GHES);
        return false;
    }
    s->sea_sources = 1;
    s->nr_sources = has_hest ? 2 : 1;
    s->sources = g_new0(HestSource, s->nr_sources);
    s->sources[0] = (HestSource) { .source_id = 0, .notify = HEST_NOTIFY_SEA,
                                   .max_sections = 1 };
    if (has_hest) {
        s->sources[1] = (HestSource) { .source_id = 1,
                                       .notify = HEST_NOTIFY_GPIO,
                                       .max_sections = 1 };
    }
    s->async_source = has_hest ? 1 : GHES_NO_SOURCE;
    s->first_sea = 0;
    s->layout = (HestLayout) {
        .n = s->nr_sources,
        .regs_own_page = false,
        .report = has_hest ? HEST_REPORT_HEST : HEST_REPORT_BLOB,
        .first_block_len = HEST_GHES_BLOCK_LEN,
    };
    s->report_le = has_hest ? (uint8_t *)&ged->ghes_state.hest_addr_le
                            : (uint8_t *)&ged->ghes_state.hw_error_le;
    return true;
}

static void ghes_device_realize(DeviceState *dev, Error **errp)
{
    AcpiGhesDevice *s = ACPI_GHES(dev);
    unsigned i;

    if (s->sea_sources > GHES_MAX_SEA_SOURCES) {
        error_setg(errp, "%s: sea-sources must be at most %d",
                   TYPE_ACPI_GHES, GHES_MAX_SEA_SOURCES);
        return;
    }
    if (!s->acpi_dev ||
        !object_dynamic_cast(OBJECT(s->acpi_dev), TYPE_ACPI_DEVICE_IF)) {
        error_setg(errp, "%s: acpi-dev must be set to an ACPI device",
                   TYPE_ACPI_GHES);
        return;
    }
    /* Looked up once: the notification is on the way to the guest */
    s->notify_dev = ACPI_DEVICE_IF(s->acpi_dev);
    s->notify = ACPI_DEVICE_IF_GET_CLASS(s->acpi_dev)->send_event;
    if (s->legacy_sources ? !ghes_legacy_sources(s, errp)
                          : !ghes_own_sources(s, errp)) {
        return;
    }
    s->stats = g_new0(GhesSourceStats, s->nr_sources);
    s->mig_stats = g_new0(GhesSourceStats, s->nr_sources);
    s->block_addr = g_new(uint64_t, s->nr_sources);
    s->copies = g_new0(GhesSourceCopy, s->nr_sources);
    for (i = 0; i < s->nr_sources; i++) {
        s->block_addr[i] = GHES_ADDR_UNKNOWN;
        s->copies[i].record = g_malloc(hest_blob_block_len(&s->layout, i));
    }
    s->regs_len = hest_blob_regs_len(&s->layout);
    s->regs = g_malloc0(s->regs_len);
    s->mig_regs = g_malloc0(s->regs_len);
    if (s->layout.regs_own_page) {
        memory_region_init_io(&s->regs_mr, OBJECT(s), &ghes_regs_ops, s,
                              "ghes-registers", s->regs_len);
    }
    g_queue_init(&s->queue);
    s->async_queue = (RasReportQueue) {
        .kind = RAS_QUEUE_GHES,
        .has_source_id = s->async_source != GHES_NO_SOURCE,
        .source_id = s->async_source != GHES_NO_SOURCE ?
                     s->sources[s->async_source].source_id : 0,
        .capacity = s->queue_size,
        .count = ghes_async_queue_count,
        .untaken = ghes_async_queue_untaken,
    };
    ras_queue_register(&s->async_queue);
    s->async_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, ghes_async_timer, s);
    s->load_ack_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, ghes_load_ack_check,
                                     s);
    s->map_check = qemu_bh_new(ghes_map_check, s);
    s->map_listener = (MemoryListener) {
        .name = "acpi-ghes",
        .commit = ghes_map_commit,
        .priority = MEMORY_LISTENER_PRIORITY_MIN,
    };
    memory_listener_register(&s->map_listener, &address_space_memory);
    qemu_register_resettable(OBJECT(dev));
}

static void ghes_device_unrealize(DeviceState *dev)
{
    AcpiGhesDevice *s = ACPI_GHES(dev);
    unsigned i;

    if (machine_ghes == s) {
        machine_ghes = NULL;
    }
    qemu_unregister_resettable(OBJECT(dev));
    ras_queue_unregister(&s->async_queue);
    memory_listener_unregister(&s->map_listener);
    qemu_bh_delete(s->map_check);
    ghes_regs_unmap(s);
    ghes_queue_clear(s);
    timer_free(s->async_timer);
    timer_free(s->load_ack_timer);
    guest_progress_destroy(&s->async_progress);
    g_free(s->regs);
    g_free(s->mig_regs);
    g_free(s->sources);
    g_free(s->stats);
    g_free(s->mig_stats);
    g_free(s->block_addr);
    for (i = 0; s->copies && i < s->nr_sources; i++) {
        g_free(s->copies[i].record);
    }
    g_free(s->copies);
    g_free(s->mig);
    memory_failure_disown_ram(s);
}

static void ghes_device_reset_hold(Object *obj, ResetType type)
{
    AcpiGhesDevice *s = ACPI_GHES(obj);
    unsigned i;

    /* Firmware places the blob again on every boot */
    stq_le_p(s->report_le, 0);
    ghes_place(s, false);
    timer_del(s->load_ack_timer);
    /* Errors of the last boot: its memory was replaced by fresh memory */
    trace_ghes_reset(g_queue_get_length(&s->queue));
    ghes_queue_clear(s);
    for (i = 0; i < s->nr_sources; i++) {
        s->block_addr[i] = GHES_ADDR_UNKNOWN;
        /* The blob's memory was replaced at reset too */
        s->copies[i].lost = false;
        s->copies[i].len = 0;
    }
}

static const Property ghes_device_properties[] = {
    DEFINE_PROP_UINT32("sea-sources", AcpiGhesDevice, sea_sources, 1),
    DEFINE_PROP_UINT32("queue-size", AcpiGhesDevice, queue_size, 65536),
    DEFINE_PROP_LINK("acpi-dev", AcpiGhesDevice, acpi_dev, TYPE_DEVICE,
                     DeviceState *),
    DEFINE_PROP_BOOL("x-legacy-sources", AcpiGhesDevice, legacy_sources,
                     false),
};

static void ghes_device_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    dc->desc = "ACPI GHESv2 hardware error sources";
    dc->realize = ghes_device_realize;
    dc->unrealize = ghes_device_unrealize;
    dc->vmsd = &vmstate_ghes_device;
    dc->user_creatable = false;
    dc->hotpluggable = false;
    rc->phases.hold = ghes_device_reset_hold;
    device_class_set_props(dc, ghes_device_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo ghes_device_info = {
    .name          = TYPE_ACPI_GHES,
    .parent        = TYPE_DEVICE,
    .instance_size = sizeof(AcpiGhesDevice),
    .class_init    = ghes_device_class_init,
};

static void ghes_device_register_types(void)
{
    type_register_static(&ghes_device_info);
}

type_init(ghes_device_register_types)
