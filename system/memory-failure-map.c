/*
 * Host memory failures: where guest RAM is in the guest
 *
 * A host address names a RAM block and an offset in it; the guest knows
 * the memory by the guest physical addresses that map it, which the
 * memory map gives and which change as DIMMs come and go.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "hw/core/cpu.h"
#include "system/address-spaces.h"
#include "system/memory.h"
#include "system/memory-poison.h"
#include "system/poison-trap.h"
#include "system/ramblock.h"
#include "memory-failure-internal.h"
#include "trace.h"

typedef struct GpaLookup {
    RAMBlock *rb;
    ram_addr_t offset;          /* in the block */
    uint64_t size;
    int n;
    hwaddr gpa[MAX_ALIASES];
} GpaLookup;

/*
 * A flat range that maps any byte of the range: something else (a device,
 * the GHES register page) can be mapped over the rest of it, even over
 * its first byte.  The range is then at the address its mapped part
 * implies; each alias once, though it may show as several flat ranges.
 */
/*
 * The RAM a flat range shows, and where in it: a poison trap shows the
 * RAM it hides
 */
static MemoryRegion *flat_ram(const MemoryRegion *mr, hwaddr *offset)
{
    void *host;
    MemoryRegion *ram = poison_trap_hidden_ram((MemoryRegion *)mr, *offset,
                                               &host);

    if (ram) {
        *offset = (uint8_t *)host - (uint8_t *)memory_region_get_ram_ptr(ram);
        return ram;
    }
    return memory_region_is_ram((MemoryRegion *)mr) ? (MemoryRegion *)mr
                                                    : NULL;
}

static bool find_gpa(Int128 start, Int128 len, const MemoryRegion *mr,
                     hwaddr offset_in_region, void *opaque)
{
    GpaLookup *l = opaque;
    MemoryRegion *ram = flat_ram(mr, &offset_in_region);
    hwaddr gpa;
    int i;

    if (!ram || ram->ram_block != l->rb ||
        l->offset + l->size <= offset_in_region ||
        l->offset >= offset_in_region + int128_get64(len)) {
        return false;
    }
    gpa = int128_get64(start) - offset_in_region + l->offset;
    for (i = 0; i < l->n; i++) {
        if (l->gpa[i] == gpa) {
            return false;
        }
    }
    l->gpa[l->n++] = gpa;
    return l->n == MAX_ALIASES;
}

/*
 * Where RAM shows in system memory, as windows (a trap counts as the RAM
 * it hides), built from the memory map once after each change of it: a
 * report looks its guest addresses up here instead of walking the map,
 * whose ranges grow with every trap.  NULL until built.
 */
typedef struct RamWindow {
    RAMBlock *rb;
    ram_addr_t offset;          /* in the block */
    uint64_t size;
    hwaddr gpa;
} RamWindow;

static GArray *ram_windows;

static bool add_window(Int128 start, Int128 len, const MemoryRegion *mr,
                       hwaddr offset_in_region, void *opaque)
{
    GArray *windows = opaque;
    MemoryRegion *ram = flat_ram(mr, &offset_in_region);
    RamWindow w, *last;

    if (!ram) {
        return false;
    }
    w = (RamWindow) { ram->ram_block, offset_in_region, int128_get64(len),
                      int128_get64(start) };
    last = windows->len ? &g_array_index(windows, RamWindow, windows->len - 1)
                        : NULL;
    /* The pieces a trap splits a range into join again */
    if (last && last->rb == w.rb && last->gpa + last->size == w.gpa &&
        last->offset + last->size == w.offset) {
        last->size += w.size;
    } else {
        g_array_append_val(windows, w);
    }
    return false;
}

static void ram_windows_build(void)
{
    ram_windows = g_array_new(false, false, sizeof(RamWindow));
    WITH_RCU_READ_LOCK_GUARD() {
        flatview_for_each_range(address_space_to_flatview(
                                    &address_space_memory), add_window,
                                ram_windows);
    }
}

/* As find_gpa() would find them in system memory */
static int ram_windows_gpas_of(RAMBlock *rb, ram_addr_t offset,
                               uint64_t size, hwaddr gpa[MAX_ALIASES])
{
    int n = 0, i;
    guint j;

    if (!ram_windows) {
        ram_windows_build();
    }
    for (j = 0; j < ram_windows->len && n < MAX_ALIASES; j++) {
        RamWindow *w = &g_array_index(ram_windows, RamWindow, j);
        hwaddr at = w->gpa - w->offset + offset;

        if (w->rb != rb || offset + size <= w->offset ||
            offset >= w->offset + w->size) {
            continue;
        }
        for (i = 0; i < n && gpa[i] != at; i++) {
            /* each alias once */
        }
        if (i == n) {
            gpa[n++] = at;
        }
    }
    return n;
}

int memory_failure_gpas_of(RAMBlock *rb, ram_addr_t offset, uint64_t size,
                           hwaddr gpa[MAX_ALIASES])
{
    GpaLookup l = { .rb = rb, .offset = offset, .size = size };
    int i;

    l.n = ram_windows_gpas_of(rb, offset, size, l.gpa);
    WITH_RCU_READ_LOCK_GUARD() {
        /*
         * Guest memory only a vCPU's other address spaces map: x86 SMRAM
         * (under KVM too: the same root as KVM's SMM memory slots), Arm
         * secure memory.  Not QEMU's own.
         */
        for (i = 0; !l.n && first_cpu && i < first_cpu->num_ases; i++) {
            AddressSpace *as = cpu_get_address_space(first_cpu, i);

            if (as && as != &address_space_memory) {
                flatview_for_each_range(address_space_to_flatview(as),
                                        find_gpa, &l);
            }
        }
    }
    memcpy(gpa, l.gpa, sizeof(l.gpa));
    return l.n;
}

/* --- guest addresses of poisoned ranges, as the memory map changes --- */

/*
 * A DIMM unplugged, or plugged again elsewhere, moves its RAM in the
 * guest: the traps move with it (they are part of the RAM region), the
 * tracker's guest addresses are brought up to date here, so that reports
 * and query-memory-failures give the address the guest uses now.  Cheap
 * while nothing moves: one walk of the memory map per update, comparing
 * where each block with poison starts in the guest.
 */
typedef struct BlockBase {
    RAMBlock *rb;
    hwaddr base;                /* guest address of its offset 0, or -1 */
} BlockBase;

static GArray *block_bases;     /* of BlockBase, blocks with poison */
static QEMUBH *remap_bh;

static bool find_base(Int128 start, Int128 len, const MemoryRegion *mr,
                      hwaddr offset_in_region, void *opaque)
{
    BlockBase *b = opaque;
    MemoryRegion *ram = flat_ram(mr, &offset_in_region);

    if (ram && ram->ram_block == b->rb) {
        b->base = int128_get64(start) - offset_in_region;
        return true;
    }
    return false;
}

static void collect_ranges(const MemoryPoison *p, void *opaque)
{
    GArray *a = opaque;

    if (p->recipient == MEMORY_FAILURE_RECIPIENT_GUEST) {
        g_array_append_val(a, *p);
    }
}

/* Its ranges' guest addresses, for a block that moved */
static void refresh_block(RAMBlock *rb)
{
    g_autoptr(GArray) ranges = g_array_new(false, false,
                                           sizeof(MemoryPoison));
    hwaddr aliases[MAX_ALIASES];
    guint i;

    memory_poison_foreach(collect_ranges, ranges);
    for (i = 0; i < ranges->len; i++) {
        MemoryPoison *p = &g_array_index(ranges, MemoryPoison, i);
        bool still = false;
        int j, n;

        if (p->rb != rb) {
            continue;
        }
        n = memory_failure_gpas_of(rb, p->offset, p->size, aliases);
        for (j = 0; j < n; j++) {
            still |= p->has_gpa && aliases[j] == p->gpa;
        }
        if (!still) {
            memory_poison_set_gpa(rb, p->offset, n > 0, aliases[0]);
            trace_memory_failure_remapped(p->offset, p->size,
                                          n ? aliases[0] : 0, n > 0);
        }
    }
}

/* Where @rb starts in the guest now; refreshed if it moved */
static void check_base(RAMBlock *rb, void *opaque)
{
    GArray *now = opaque;
    BlockBase b = { rb, -1 };
    guint j;

    WITH_RCU_READ_LOCK_GUARD() {
        flatview_for_each_range(address_space_to_flatview(
                                    &address_space_memory), find_base, &b);
    }
    g_array_append_val(now, b);
    for (j = 0; block_bases && j < block_bases->len; j++) {
        BlockBase *old = &g_array_index(block_bases, BlockBase, j);

        if (old->rb == rb && old->base != b.base) {
            refresh_block(rb);
        }
    }
}

static void check_bases(void *opaque)
{
    GArray *now = g_array_new(false, false, sizeof(BlockBase));

    memory_poison_foreach_block(check_base, now);
    if (block_bases) {
        g_array_free(block_bases, true);
    }
    block_bases = now;
    /* Ready for the next report */
    if (!ram_windows) {
        ram_windows_build();
    }
}

static void memory_map_committed(MemoryListener *listener)
{
    if (ram_windows) {
        g_array_free(ram_windows, true);
        ram_windows = NULL;
    }
    if (memory_poison_count()) {
        qemu_bh_schedule(remap_bh);
    }
}

static MemoryListener memory_map_listener = {
    .name = "memory-failure",
    .commit = memory_map_committed,
    .priority = MEMORY_LISTENER_PRIORITY_MIN,
};

void memory_failure_map_init(void)
{
    remap_bh = qemu_bh_new(check_bases, NULL);
    memory_listener_register(&memory_map_listener, &address_space_memory);
}
