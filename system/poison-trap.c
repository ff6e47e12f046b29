/*
 * Poisoned guest memory under TCG: accesses fail as on real poison
 *
 * Under KVM the host kernel keeps poisoned pages out of the guest's
 * mappings.  Under TCG QEMU must do it, and an error may be simulated
 * (the data is still there), so every guest access to a poisoned range
 * is handed to the consumer, which reports it and decides whether the
 * access fails (a bus error: SEA, machine check) or completes.
 *
 * Two mechanisms, for two kinds of access:
 *  - vCPU loads, stores, instruction fetches and page-table walks: the
 *    TLB fill of a page of a block with poison looks it up in the
 *    tracker, and a poisoned page gets the watchpoint flag, so every
 *    access to it comes here.  This scales to any number of ranges, and
 *    healthy memory pays one lookup per TLB fill (none in blocks without
 *    poison).
 *  - everything else (device DMA, QEMU's own reads): an I/O region over
 *    the range, for the most recent runs of ranges
 *    only, since each one splits guest RAM in the map.  It is a
 *    subregion of the RAM it hides, so it is seen wherever that RAM is
 *    mapped and as that RAM is: under what is mapped over it (x86 SMRAM's
 *    black hole outside SMM), through its aliases, and gone, or moved,
 *    with an unplugged or re-plugged DIMM.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/lockable.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qom/object.h"
#include "exec/cpu-common.h"
#include "hw/core/cpu.h"
#include "system/memory.h"
#include "system/address-spaces.h"
#include "system/memory-poison.h"
#include "system/poison-trap.h"
#include "system/poison-uffd.h"
#include "system/ramblock.h"
#include "exec/ramlist.h"
#include "memory-failure-internal.h"
#include "trace.h"

static PoisonTrapConsumed consumer;

void poison_trap_set_consumer(PoisonTrapConsumed consumed)
{
    consumer = consumed;
}

/* Report the access of vCPU @cpu to @offset of @rb, at guest address @gpa */
static PoisonAccess poison_trap_consume(CPUState *cpu, RAMBlock *rb,
                                        uint64_t offset, hwaddr gpa,
                                        bool may_wait)
{
    MemoryPoison p;
    unsigned outcome = 0;
    bool locked = bql_locked();

    if (!memory_poison_find(rb, offset, &p) ||
        p.recipient != MEMORY_FAILURE_RECIPIENT_GUEST) {
        return POISON_ACCESS_COMPLETE;
    }
    if (consumer) {
        BQL_LOCK_GUARD();
        /* The base page touched, not a huge page's base */
        outcome = consumer(cpu, gpa & qemu_real_host_page_mask(),
                           qemu_real_host_page_size(), p.data_intact,
                           p.reported, may_wait && !locked);
        if (outcome & POISON_TRAP_WAIT) {
            memory_failure_rest_wait(cpu);
        }
    }
    trace_poison_trap_consumed(cpu->cpu_index, gpa, outcome);
    if (outcome & POISON_TRAP_WAIT) {
        return POISON_ACCESS_WAIT;
    }
    if ((outcome & POISON_TRAP_REPORTED) && !p.reported) {
        memory_poison_set_reported(rb, offset, true);
    }
    if ((outcome & POISON_TRAP_PASS) && p.data_intact) {
        return POISON_ACCESS_COMPLETE;
    }
    return outcome & (POISON_TRAP_RAISED | POISON_TRAP_RESET) ?
           POISON_ACCESS_FAIL_RETRY : POISON_ACCESS_FAIL;
}

/*
 * A device, or QEMU itself, touched poison: not the access of any vCPU,
 * even on a vCPU's thread (an MMIO write that starts a DMA).  The access
 * fails, and the guest hears of the page once, asynchronously, from the
 * main loop: a 4 KiB DMA is 512 accesses, a guest may repeat it at will,
 * and the access may come from any thread, inside a device's callback,
 * where delivery must not run (it can drop the BQL to wait for a vCPU).
 */
static QemuMutex device_lock;
static GHashTable *device_pending;      /* gpa -> DeviceReport */
static QEMUTimer *device_timer;         /* made at the first */

typedef struct DeviceReport {
    hwaddr gpa;                 /* the base page */
    char *block;                /* its RAM block, by name: it may go */
    uint64_t offset;
} DeviceReport;

static void device_report_free(gpointer p)
{
    DeviceReport *r = p;

    g_free(r->block);
    g_free(r);
}

void poison_trap_report_devices(void)
{
    GHashTable *pending;
    GHashTableIter it;
    gpointer value;

    WITH_QEMU_LOCK_GUARD(&device_lock) {
        pending = device_pending;
        device_pending = NULL;
    }
    if (!pending) {
        return;
    }
    g_hash_table_iter_init(&it, pending);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        DeviceReport *r = value;
        RAMBlock *rb = qemu_ram_block_by_name(r->block);
        unsigned outcome;

        if (!rb) {
            continue;
        }
        /*
         * Noted first: delivery may wait for a vCPU, and an access
         * meanwhile must not make another report; undone if the guest
         * could not be told (a full queue), so that the next access tries
         * again
         */
        memory_poison_set_reported(rb, r->offset, true);
        outcome = consumer ? consumer(NULL, r->gpa,
                                      qemu_real_host_page_size(), false,
                                      false, false) : 0;
        trace_poison_trap_consumed(-1, r->gpa, outcome);
        if (!(outcome & POISON_TRAP_REPORTED)) {
            memory_poison_set_reported(rb, r->offset, false);
        }
    }
    g_hash_table_destroy(pending);
}

static void poison_trap_device_timer(void *opaque)
{
    poison_trap_report_devices();
}

static bool poison_trap_device_access(RAMBlock *rb, uint64_t offset)
{
    MemoryPoison p;
    DeviceReport *r;
    hwaddr gpa;

    if (!memory_poison_find(rb, offset, &p) ||
        p.recipient != MEMORY_FAILURE_RECIPIENT_GUEST) {
        return true;
    }
    /* Told already, or not mapped (an unplugged DIMM): nothing to say */
    if (p.reported || !p.has_gpa) {
        return false;
    }
    gpa = (p.gpa + (offset - p.offset)) & qemu_real_host_page_mask();
    r = g_new(DeviceReport, 1);
    r->gpa = gpa;
    r->block = g_strdup(qemu_ram_get_idstr(rb));
    r->offset = offset;
    WITH_QEMU_LOCK_GUARD(&device_lock) {
        if (!device_pending) {
            device_pending = g_hash_table_new_full(g_int64_hash,
                                                   g_int64_equal, NULL,
                                                   device_report_free);
        }
        if (g_hash_table_contains(device_pending, &r->gpa)) {
            /* Waiting already: this access makes no other report */
            device_report_free(r);
            return false;
        }
        g_hash_table_insert(device_pending, &r->gpa, r);
        if (!device_timer) {
            device_timer = timer_new_ns(QEMU_CLOCK_REALTIME,
                                        poison_trap_device_timer, NULL);
        }
    }
    trace_poison_trap_device_access(gpa);
    /*
     * A main-loop timer, not a bottom half: bottom halves also run in
     * nested aio_poll() calls (a vCPU thread waiting for I/O), where
     * delivery, which waits for vCPUs, must not run
     */
    timer_mod(device_timer, qemu_clock_get_ns(QEMU_CLOCK_REALTIME));
    return false;
}

/* --- every other access: regions over the ranges ----------------------- */

/*
 * A trap is the owner of its memory region: memory maps that vCPUs or
 * RCU readers still hold keep it alive after it is removed.
 */
#define TYPE_POISON_TRAP "memory-poison-trap"
OBJECT_DECLARE_SIMPLE_TYPE(PoisonTrap, POISON_TRAP)

/*
 * A trap covers a run of adjacent poisoned ranges: a failing DIMM row or
 * a storm poisons neighbouring pages, and one trap for them all keeps the
 * memory map small.
 */
struct PoisonTrap {
    Object parent_obj;
    MemoryRegion mr;            /* a subregion of @ram */
    uint64_t size;
    MemoryRegion *ram;          /* the guest RAM the trap hides */
    hwaddr ram_offset;
    QTAILQ_ENTRY(PoisonTrap) next;
};

static const TypeInfo poison_trap_info = {
    .name = TYPE_POISON_TRAP,
    .parent = TYPE_OBJECT,
    .instance_size = sizeof(PoisonTrap),
};

static void poison_trap_register_types(void)
{
    type_register_static(&poison_trap_info);
}

type_init(poison_trap_register_types)

/*
 * Each trap splits guest RAM in the memory map: a few thousand of them
 * exhaust TCG's section table (QEMU aborts) and every one makes memory
 * map updates slower.  Only the most recent runs get one; vCPU accesses
 * to the others still fail, through the TLB.
 */
#define POISON_MAX_TRAPS    512

static QTAILQ_HEAD(, PoisonTrap) traps = QTAILQ_HEAD_INITIALIZER(traps);
static unsigned nr_traps;

/* The host address of @addr in the trap, if the access may complete */
static uint8_t *poison_trap_access(void *opaque, hwaddr addr)
{
    PoisonTrap *t = opaque;

    if (!t->ram->ram_block ||
        !poison_trap_device_access(t->ram->ram_block,
                                   t->ram_offset + addr)) {
        return NULL;
    }
    return (uint8_t *)memory_region_get_ram_ptr(t->ram) + t->ram_offset +
           addr;
}

static MemTxResult poison_trap_read(void *opaque, hwaddr addr, uint64_t *data,
                                    unsigned size, MemTxAttrs attrs)
{
    uint8_t *host = poison_trap_access(opaque, addr);

    *data = host ? ldn_le_p(host, size) : ~0ull;
    return host ? MEMTX_OK : MEMTX_ERROR;
}

static MemTxResult poison_trap_write(void *opaque, hwaddr addr, uint64_t data,
                                     unsigned size, MemTxAttrs attrs)
{
    PoisonTrap *t = opaque;
    uint8_t *host;

    /* Still a ROM: a write goes nowhere, and consumes nothing */
    if (memory_region_is_rom(t->ram)) {
        return MEMTX_OK;
    }
    host = poison_trap_access(opaque, addr);

    if (host) {
        stn_le_p(host, size, data);
    }
    return host ? MEMTX_OK : MEMTX_ERROR;
}

static const MemoryRegionOps poison_trap_ops = {
    .read_with_attrs = poison_trap_read,
    .write_with_attrs = poison_trap_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid.min_access_size = 1,
    .valid.max_access_size = 8,
    .impl.min_access_size = 1,
    .impl.max_access_size = 8,
};

/* --- vCPU accesses: the TLB --------------------------------------------- */

bool poison_trap_tlb_fill(MemoryRegion **mr, hwaddr *offset)
{
    PoisonTrap *t;

    /*
     * A vCPU reaches the RAM under a trap directly, with every access
     * checked: under a trap it would be I/O, which a target without an
     * exception for failed transactions (x86) completes.
     */
    if ((*mr)->ops == &poison_trap_ops) {
        t = (*mr)->opaque;
        if (!memory_region_is_ram(t->ram)) {
            return false;
        }
        *mr = t->ram;
        *offset += t->ram_offset;
    }
    return (*mr)->ram_block &&
           memory_poison_page_poisoned((*mr)->ram_block, *offset);
}

bool poison_trap_host_poisoned(void *host)
{
    ram_addr_t offset;
    RAMBlock *rb = host ? qemu_ram_block_from_host(host, false, &offset)
                        : NULL;

    return rb && memory_poison_page_poisoned(rb, offset);
}

PoisonAccess poison_trap_tlb_access(CPUState *cpu, void *host, hwaddr gpa,
                                    bool may_wait)
{
    ram_addr_t offset;
    RAMBlock *rb = qemu_ram_block_from_host(host, false, &offset);

    return rb ? poison_trap_consume(cpu, rb, offset, gpa, may_wait)
              : POISON_ACCESS_COMPLETE;
}

static void poison_untrap(PoisonTrap *t)
{
    trace_poison_trap_remove(memory_region_name(t->ram), t->ram_offset,
                             t->size);
    QTAILQ_REMOVE(&traps, t, next);
    nr_traps--;
    /* Gone already if its RAM's region was finalized (a deleted backend) */
    if (t->mr.container) {
        memory_region_del_subregion(t->mr.container, &t->mr);
    }
    object_unref(OBJECT(t));
}

/* Whether @t and the range at @ram_offset of @ram make one run */
static bool poison_trap_joins(PoisonTrap *t, MemoryRegion *ram,
                              hwaddr ram_offset, uint64_t size)
{
    return t->ram == ram &&
           (t->ram_offset + t->size == ram_offset ||
            ram_offset + size == t->ram_offset);
}

void poison_trap_add(MemoryRegion *ram, hwaddr ram_offset, uint64_t size)
{
    PoisonTrap *t, *join[2] = { NULL, NULL };
    int i;

    QTAILQ_FOREACH(t, &traps, next) {
        if (t->ram == ram && ram_offset >= t->ram_offset &&
            ram_offset + size <= t->ram_offset + t->size) {
            return;
        }
    }
    QTAILQ_FOREACH(t, &traps, next) {
        if (poison_trap_joins(t, ram, ram_offset, size)) {
            join[t->ram_offset < ram_offset ? 0 : 1] = t;
        }
    }

    t = POISON_TRAP(object_new(TYPE_POISON_TRAP));
    t->ram = ram;
    t->ram_offset = join[0] ? join[0]->ram_offset : ram_offset;
    t->size = (join[1] ? join[1]->ram_offset + join[1]->size
                       : ram_offset + size) - t->ram_offset;
    memory_region_init_io(&t->mr, OBJECT(t), &poison_trap_ops, t,
                          "poisoned-memory", t->size);
    memory_region_transaction_begin();
    for (i = 0; i < 2; i++) {
        if (join[i]) {
            poison_untrap(join[i]);
        }
    }
    if (nr_traps == POISON_MAX_TRAPS) {
        poison_untrap(QTAILQ_FIRST(&traps));
    }
    /*
     * Inside the RAM, over it: every access that reaches the RAM, through
     * any alias, reaches the trap instead; what is mapped over the RAM
     * (a black hole, the GHES registers QEMU keeps) still is.
     */
    memory_region_add_subregion_overlap(ram, t->ram_offset, &t->mr, 1);
    /* The memory map changes: every vCPU's TLB is flushed */
    memory_region_transaction_commit();
    QTAILQ_INSERT_TAIL(&traps, t, next);
    nr_traps++;
    trace_poison_trap_add(memory_region_name(ram), t->ram_offset, t->size,
                          nr_traps);
}

MemoryRegion *poison_trap_hidden_ram(MemoryRegion *mr, hwaddr offset,
                                     void **host)
{
    PoisonTrap *t;

    if (mr->ops != &poison_trap_ops) {
        return NULL;
    }
    t = mr->opaque;
    if (!memory_region_is_ram(t->ram)) {
        return NULL;
    }
    *host = (uint8_t *)memory_region_get_ram_ptr(t->ram) + t->ram_offset +
            offset;
    return t->ram;
}

/* A RAM block going away (an unplugged DIMM) takes its ranges along */
static void poison_trap_ram_block_removed(RAMBlockNotifier *n, void *host,
                                          size_t size, size_t max_size)
{
    ram_addr_t offset;
    RAMBlock *rb = qemu_ram_block_from_host(host, false, &offset);
    PoisonTrap *t, *next_t;

    if (rb) {
        memory_poison_forget_block(rb);
    }
    /* Its traps would hide nothing, or the next memory plugged there */
    memory_region_transaction_begin();
    QTAILQ_FOREACH_SAFE(t, &traps, next, next_t) {
        if (t->ram->ram_block && t->ram->ram_block->host == host) {
            poison_untrap(t);
        }
    }
    memory_region_transaction_commit();
}

static RAMBlockNotifier poison_trap_ram_notifier = {
    .ram_block_removed = poison_trap_ram_block_removed,
};

static void poison_trap_init(void)
{
    ram_block_notifier_add(&poison_trap_ram_notifier);
    qemu_mutex_init(&device_lock);
}

type_init(poison_trap_init)

static void remap_one(const MemoryPoison *p, void *opaque)
{
    uint64_t off;

    /*
     * Only guest memory is given back fresh: QEMU's own (ROMs, device
     * state) must keep its contents, poisoned or not.
     */
    if (p->recipient != MEMORY_FAILURE_RECIPIENT_GUEST) {
        return;
    }
    if (memory_region_is_rom(p->rb->mr)) {
        /*
         * A ROM the guest sees (x86's BIOS): fresh memory would be empty,
         * and the machine would not boot again.  Simulated poison left
         * its contents: kept.  Real poison took them, and QEMU has no
         * other copy once the ROM is loaded: said.
         */
        if (p->data_intact) {
            return;
        }
        warn_report("a hardware memory error took read-only memory '%s' "
                    "at guest address 0x%" PRIx64 ": it comes back empty "
                    "after this reset, and the guest may not boot until "
                    "QEMU restarts", memory_region_name(p->rb->mr), p->gpa);
    }
    for (off = 0; off < p->size; off += qemu_ram_pagesize(p->rb)) {
        qemu_ram_remap(p->rb->offset + p->offset + off);
    }
    /* A migration destination under KVM marked it poisoned (KVM) */
    if (!(p->rb->flags & RAM_PREALLOC)) {
        poison_uffd_remove(p->rb->host + p->offset, p->size);
    }
}

void poison_trap_reset(void)
{
    PoisonTrap *t, *next;

    /* Device reports not made yet are of memory the reset replaces */
    WITH_QEMU_LOCK_GUARD(&device_lock) {
        g_clear_pointer(&device_pending, g_hash_table_destroy);
    }

    memory_region_transaction_begin();
    QTAILQ_FOREACH_SAFE(t, &traps, next, next) {
        poison_untrap(t);
    }
    memory_region_transaction_commit();
    memory_poison_foreach(remap_one, NULL);
    /* QEMU's own memory was not replaced: still poisoned */
    memory_poison_forget_guest_ranges();
    trace_poison_trap_reset();
}
