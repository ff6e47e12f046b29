/*
 * Fuzz the GHES error sources of arm virt (ras=on) in the real machine:
 * everything the guest, QMP clients and a migration stream can do to
 * them, in any order and at any time.
 *
 * An input is a list of operations, each a byte then its arguments:
 * firmware writes to etc/hardware_errors_addr (any bytes, offset,
 * length, again and again), guest writes and reads of the register page
 * and the blocks, acknowledgements, our QMP commands with hostile
 * arguments, virtual time passing, memory appearing over the blob,
 * resets, and the device's migration state saved, mutated and loaded.
 * Besides crashes and sanitizer reports, each input checks what the
 * device promises (docs/specs/ras-trust-boundaries.rst): the blob is
 * accepted once per boot and only as page-aligned guest RAM, the queue
 * stays within its bound and drains once the guest takes its records.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "hw/acpi/ghes-device.h"
#include "hw/acpi/hest.h"
#include "hw/nvram/fw_cfg.h"
#include "system/address-spaces.h"
#include "system/memory.h"
#include "system/runstate.h"
#include "tests/qtest/libqtest.h"
#include "tests/qtest/ras-firmware.h"
#include "fuzz.h"
#include "ras_fuzz.h"

#define GHES_FUZZ_RAM_BASE      RAS_VIRT_RAM_BASE
#define GHES_FUZZ_RAM_SIZE      (512 * MiB)
#define GHES_FUZZ_DIMM_BASE     0x80000000ull   /* virt's device memory */
#define GHES_FUZZ_DIMM_SIZE     (128 * MiB)
#define GHES_FUZZ_FW_CFG        0x09020000ull
/* Where the fuzzer's DMA descriptors and data go */
#define GHES_FUZZ_SCRATCH       (GHES_FUZZ_RAM_BASE + 0x10000000ull)

static RasFw fw;
static uint16_t addr_file;      /* fw_cfg selector of the address file */
static uint64_t good_blob;      /* where the firmware loader placed it */
static uint64_t blob_len;
static MemoryRegion overlay;    /* memory that can appear over the blob */
static bool overlay_mapped;
static RasFuzzMachine machine;
static AcpiGhesDevice *ghes;
static uint64_t addrs[16];

static uint64_t overlay_read(void *opaque, hwaddr addr, unsigned size)
{
    return 0;
}

static void overlay_write(void *opaque, hwaddr addr, uint64_t val,
                          unsigned size)
{
}

static const MemoryRegionOps overlay_ops = {
    .read = overlay_read,
    .write = overlay_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
};

static GString *ghes_fuzz_cmdline(FuzzTarget *t)
{
    GString *cmd = g_string_new(TARGET_NAME);

    /* Firmware (a dummy: qtest runs no guest code) makes virt add the GED */
    g_string_append_printf(cmd, " -accel qtest -display none "
                           "-machine virt,ras=on -cpu max -smp 2 "
                           "-m 512M,slots=2,maxmem=1G -nic none -nodefaults "
                           "-object memory-backend-ram,id=dimm0,size=128M "
                           "-device pc-dimm,memdev=dimm0,id=d0 -bios %s ",
                           ras_fw_dummy_bios());
    /* More options, to debug a finding (-trace ...) */
    g_string_append_printf(cmd, " %s ", getenv("RAS_FUZZ_ARGS") ?: "");
    return cmd;
}

/* Where the blob is now, or where it would be */
static uint64_t blob_now(void)
{
    return ghes->hw_errors_addr ?: good_blob;
}

/* A fw_cfg DMA transfer, from @offset into the selected file */
static void fw_cfg_dma_write(QTestState *s, uint16_t select, uint32_t offset,
                             const uint8_t *buf, uint32_t len)
{
    uint8_t desc[16];

    stl_be_p(desc, ((uint32_t)select << 16) | FW_CFG_DMA_CTL_SELECT |
             FW_CFG_DMA_CTL_SKIP);
    stl_be_p(desc + 4, offset);
    stq_be_p(desc + 8, 0);
    qtest_memwrite(s, GHES_FUZZ_SCRATCH, desc, sizeof(desc));
    qtest_writeq(s, GHES_FUZZ_FW_CFG + 16, bswap64(GHES_FUZZ_SCRATCH));
    qtest_memwrite(s, GHES_FUZZ_SCRATCH + 0x100, buf, len);
    stl_be_p(desc, FW_CFG_DMA_CTL_WRITE);
    stl_be_p(desc + 4, len);
    stq_be_p(desc + 8, GHES_FUZZ_SCRATCH + 0x100);
    qtest_memwrite(s, GHES_FUZZ_SCRATCH, desc, sizeof(desc));
    qtest_writeq(s, GHES_FUZZ_FW_CFG + 16, bswap64(GHES_FUZZ_SCRATCH));
}

/* Firmware (or the guest OS later) writes the blob address file */
static void op_addr_file(QTestState *s, RasFuzzInput *in)
{
    AcpiGhesDevice *g = ghes;
    uint64_t before = g->hw_errors_addr;
    uint8_t pick = ras_fuzz_u8(in);
    uint8_t val[16];
    uint32_t off = ras_fuzz_u8(in) % 12, len = 1 + ras_fuzz_u8(in) % 12;
    uint64_t addr;

    addr = pick < 0x80 ? good_blob : ras_fuzz_addr(in, &machine);
    stq_le_p(val, addr);
    stq_le_p(val + 8, ras_fuzz_u64(in));
    if (pick < 0x40) {
        /* What firmware does: the whole address at once */
        off = 0;
        len = 8;
    }
    fw_cfg_dma_write(s, addr_file, off, val, len);
    flush_events(s);
    if (before) {
        /* Accepted once per boot: a rewrite is ignored */
        g_assert_cmphex(g->hw_errors_addr, ==, before);
        g_assert_cmphex(ldq_le_p(g->hw_errors_addr_le), ==, before);
    }
}

/* The guest writes anywhere in the blob, its register page above all */
static void op_guest_write(QTestState *s, RasFuzzInput *in)
{
    static const unsigned sizes[] = { 1, 2, 4, 8 };
    uint64_t off = ras_fuzz_u16(in) % (blob_len + 64);
    unsigned size = sizes[ras_fuzz_u8(in) % 4];
    uint64_t val = ras_fuzz_u64(in), a = blob_now() + off;

    switch (size) {
    case 1:
        qtest_writeb(s, a, val);
        break;
    case 2:
        qtest_writew(s, a, val);
        break;
    case 4:
        qtest_writel(s, a, val);
        break;
    default:
        qtest_writeq(s, a, val);
    }
}

static void op_guest_read(QTestState *s, RasFuzzInput *in)
{
    uint64_t off = ras_fuzz_u16(in) % (blob_len + 64);
    uint8_t buf[64];

    qtest_memread(s, blob_now() + off, buf, 1 + ras_fuzz_u8(in) % 64);
}

/* The guest takes source @i's record, as Linux does */
static void ack(QTestState *s, unsigned i)
{
    uint64_t reg = blob_now() + hest_blob_ack_reg(&ghes->layout, i);

    qtest_writel(s, blob_now() + hest_blob_block(&ghes->layout, i), 0);
    qtest_writeq(s, reg, qtest_readq(s, reg) | HEST_READ_ACK_WRITE);
}

static void op_ack(QTestState *s, RasFuzzInput *in)
{
    ack(s, ras_fuzz_u8(in) % ghes->nr_sources);
}

static void op_clock(QTestState *s, RasFuzzInput *in)
{
    static const int64_t steps[] = { 1, 1000, SCALE_MS, 50 * SCALE_MS,
                                     600 * SCALE_MS,
                                     NANOSECONDS_PER_SECOND * 5 };

    qtest_clock_step(s, steps[ras_fuzz_u8(in) % ARRAY_SIZE(steps)]);
}

/* Something that is not RAM appears over (part of) the blob, or goes */
static void op_overlay(QTestState *s, RasFuzzInput *in)
{
    uint64_t off = ras_fuzz_u16(in) % blob_len & ~0xfffull;

    memory_region_transaction_begin();
    if (overlay_mapped) {
        memory_region_del_subregion(get_system_memory(), &overlay);
        overlay_mapped = false;
    } else {
        memory_region_add_subregion_overlap(get_system_memory(),
                                            blob_now() + off, &overlay, 1);
        overlay_mapped = true;
    }
    memory_region_transaction_commit();
    flush_events(s);
}

static void reset(QTestState *s)
{
    /* Checked before the vCPUs run work queued on them before the reset */
    qemu_system_reset(SHUTDOWN_CAUSE_GUEST_RESET);
    /* Firmware places the blob anew on every boot */
    g_assert_cmphex(ghes->hw_errors_addr, ==, 0);
    g_assert_cmpuint(ghes_device_queued(ghes, ghes_async_source(ghes)),
                     ==, 0);
    flush_events(s);
}

static void op_stream(QTestState *s, RasFuzzInput *in)
{
    AcpiGhesDevice *g = ghes;
    uint64_t addr = g->hw_errors_addr, sequence = g->sequence;
    unsigned queued = ghes_device_queued(g, ghes_async_source(g));
    g_autofree uint8_t *regs = g_memdup2(g->regs, g->regs_len);
    g_autofree GhesSourceStats *stats =
        g_memdup2(g->stats, g->nr_sources * sizeof(*g->stats));

    /*
     * A refused stream leaves the machine as it was, and it may run on
     * (an operator's "cont" after a failed snapshot-load): every check
     * holds after it too
     */
    if (!ras_fuzz_stream(in, DEVICE_GET_CLASS(g)->vmsd, g)) {
        g_assert_cmphex(g->hw_errors_addr, ==, addr);
        g_assert_cmpuint(g->sequence, ==, sequence);
        g_assert_cmpuint(ghes_device_queued(g, ghes_async_source(g)), ==,
                         queued);
        g_assert(!memcmp(g->regs, regs, g->regs_len));
        g_assert(!memcmp(g->stats, stats, g->nr_sources * sizeof(*stats)));
    }
    flush_events(s);
}

/* What holds after every operation */
static void check(void)
{
    AcpiGhesDevice *g = ghes;
    uint64_t a = g->hw_errors_addr;

    g_assert_cmpuint(ghes_device_queued(g, ghes_async_source(g)), <=,
                     g->queue_size);
    if (a) {
        /* Page aligned, and all of it in the RAM or in the DIMM */
        g_assert_cmphex(a & 0xfff, ==, 0);
        g_assert((a >= GHES_FUZZ_RAM_BASE &&
                  a + blob_len <= GHES_FUZZ_RAM_BASE + GHES_FUZZ_RAM_SIZE) ||
                 (a >= GHES_FUZZ_DIMM_BASE &&
                  a + blob_len <= GHES_FUZZ_DIMM_BASE + GHES_FUZZ_DIMM_SIZE));
    }
}

/*
 * A guest that takes every record gets every record: the queue drains
 * (unless the blob is gone or its asynchronous block was lost)
 */
static void check_drains(QTestState *s)
{
    AcpiGhesDevice *g = ghes;
    unsigned left = ghes_device_queued(g, ghes_async_source(g)), n;

    for (n = 0; left && n < 2 * left + 8; n++) {
        if (!g->hw_errors_addr || g->copies[ghes_async_source(g)].lost) {
            return;
        }
        ack(s, ghes_async_source(g));
        qtest_clock_step(s, 600 * SCALE_MS);
        flush_events(s);
    }
    if (g->hw_errors_addr && !g->copies[ghes_async_source(g)].lost) {
        g_assert_cmpuint(ghes_device_queued(g, ghes_async_source(g)), ==, 0);
    }
}

static void op_qmp(QTestState *s, RasFuzzInput *in)
{
    ras_fuzz_qmp(in, &machine);
}

static void op_reset(QTestState *s, RasFuzzInput *in)
{
    reset(s);
}

/* Seeds (tests/fuzz/make-seeds) name operations by their index here */
static void op_dma(QTestState *s, RasFuzzInput *in)
{
    ras_fuzz_dma(in, &machine);
    flush_events(s);
}

/*
 * The DIMM unplugged, as the guest's ACPI ejects it (the GED's memory
 * hotplug interface), or plugged back at the address QEMU picks: the blob
 * may be in it, and its poison, traps and guest addresses follow it
 */
#define GHES_FUZZ_MEM_HOTPLUG   0x09070000ull

static bool dimm_plugged = true;

static void op_dimm(QTestState *s, RasFuzzInput *in)
{
    dimm_plugged = !dimm_plugged;
    ras_fuzz_dimm_plug(s, dimm_plugged, false, GHES_FUZZ_MEM_HOTPLUG);
    flush_events(s);
}

static RasFuzzOp * const ghes_ops[] = {
    op_addr_file, op_addr_file, op_guest_write, op_guest_read, op_ack,
    op_ack, op_qmp, op_qmp, op_clock, op_overlay, op_reset, op_stream,
    op_dma, op_dimm,
};

static const RasFuzzOps ghes_fuzz_ops = {
    .op = ghes_ops,
    .nr_ops = ARRAY_SIZE(ghes_ops),
    .check = check,
    .check_drains = check_drains,
};

static void ghes_fuzz(QTestState *s, const unsigned char *data, size_t size)
{
    if (overlay_mapped) {
        memory_region_del_subregion(get_system_memory(), &overlay);
        overlay_mapped = false;
    }
    if (!dimm_plugged) {
        ras_fuzz_dimm_plug(s, true, false, GHES_FUZZ_MEM_HOTPLUG);
        dimm_plugged = true;
    }
    reset(s);
    ras_fuzz_run(s, data, size, &ghes_fuzz_ops);
}

static void ghes_fuzz_pre(QTestState *s)
{
    RasFwFile *f;

    ghes = ghes_device_find();
    g_assert(ghes);
    ras_fw_init(&fw, s);
    ras_fw_run_loader(&fw);
    f = ras_fw_file(&fw, HEST_HW_ERRORS_ADDR_FILE);
    g_assert(f);
    addr_file = f->select;
    good_blob = ras_ghes_blob(&fw);
    blob_len = hest_blob_len(&ghes->layout);
    g_assert_cmphex(ghes->hw_errors_addr, ==, good_blob);
    memory_region_init_io(&overlay, NULL, &overlay_ops, NULL,
                          "ghes-fuzz-overlay", 4 * KiB);

    /* Addresses worth trying: the blob's pages and blocks, RAM, a DIMM */
    addrs[0] = good_blob;
    addrs[1] = good_blob + hest_blob_regs_len(&ghes->layout);
    addrs[2] = good_blob + hest_blob_block(&ghes->layout, 1);
    addrs[3] = good_blob + blob_len;
    addrs[4] = GHES_FUZZ_RAM_BASE;
    addrs[5] = GHES_FUZZ_RAM_BASE + 32 * MiB;
    addrs[6] = GHES_FUZZ_RAM_BASE + GHES_FUZZ_RAM_SIZE - 4 * KiB;
    addrs[7] = GHES_FUZZ_RAM_BASE + GHES_FUZZ_RAM_SIZE;
    addrs[8] = GHES_FUZZ_DIMM_BASE;
    addrs[9] = GHES_FUZZ_DIMM_BASE + GHES_FUZZ_DIMM_SIZE - 4 * KiB;
    addrs[10] = GHES_FUZZ_FW_CFG;
    addrs[11] = GHES_FUZZ_RAM_BASE - 4 * KiB;
    machine = (RasFuzzMachine) {
        .addrs = addrs, .nr_addrs = 12, .memdev = "dimm0", .nr_cpus = 2,
    };
}

static void register_ghes_fuzz_targets(void)
{
    fuzz_add_target(&(FuzzTarget){
        .name = "ras-ghes",
        .description = "Fuzz the GHES error sources of arm virt (ras=on): "
                       "firmware and guest writes, QMP, migration state",
        .get_init_cmdline = ghes_fuzz_cmdline,
        .pre_fuzz = ghes_fuzz_pre,
        .fuzz = ghes_fuzz,
    });
}

fuzz_target_init(register_ghes_fuzz_targets);
