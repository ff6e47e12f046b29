/*
 * Poisoned guest memory
 *
 * Entries are keyed by RAM block and offset in it, which is the same for
 * every guest address that maps the memory (aliases).  A range is a
 * power of two (a 4 KiB page, a 2 MiB huge page, ...) aligned in its
 * block: blocks are aligned to their own page size in the host's address
 * space, not in ram_addr_t space.  Lookups try each size in use, so both
 * insert and lookup take constant time.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bitmap.h"
#include "qemu/host-utils.h"
#include "qemu/timer.h"
#include "qom/object.h"
#include "exec/cpu-common.h"
#include "hw/core/cpu.h"
#include "system/memory.h"
#include "system/address-spaces.h"
#include "system/memory-poison.h"
#include "system/ramblock.h"
#include "exec/ramlist.h"
#include "trace.h"

static GHashTable *poison;          /* of MemoryPoison, keyed by itself */
static uint64_t poison_sizes;       /* bit n set: some entry has size 2^n */

/*
 * A trap is the owner of its memory region: memory maps that vCPUs or
 * RCU readers still hold keep it alive after it is removed.
 */
#define TYPE_POISON_TRAP "memory-poison-trap"
OBJECT_DECLARE_SIMPLE_TYPE(PoisonTrap, POISON_TRAP)

/*
 * A trap covers a run of adjacent poisoned ranges of @unit bytes each: a
 * failing DIMM row or a storm poisons neighbouring pages, and one trap for
 * them all keeps the memory map small.
 */
struct PoisonTrap {
    Object parent_obj;
    MemoryRegion mr;
    hwaddr gpa;
    uint64_t size;
    uint64_t unit;
    MemoryPoisonConsumed consumed;
    MemoryPoisonUntold untold;
    bool intact;                /* simulated: the data is still there */
    unsigned long *told;        /* per range: an access told the guest */
    MemoryRegion *ram;          /* the guest RAM the trap hides */
    hwaddr ram_offset;
    QTAILQ_ENTRY(PoisonTrap) next;
};

static void poison_trap_finalize(Object *obj)
{
    g_free(POISON_TRAP(obj)->told);
}

static const TypeInfo poison_trap_info = {
    .name = TYPE_POISON_TRAP,
    .parent = TYPE_OBJECT,
    .instance_size = sizeof(PoisonTrap),
    .instance_finalize = poison_trap_finalize,
};

static void poison_trap_register_types(void)
{
    type_register_static(&poison_trap_info);
}

type_init(poison_trap_register_types)

/*
 * Each trap splits guest RAM in the memory map: a few thousand of them
 * exhaust TCG's section table (QEMU aborts) and every one makes memory
 * map updates slower.  Only the most recent traps are kept; an older
 * poisoned range stops being trapped (it stays poisoned and in the
 * reports), and if no access told the guest of it yet, it is told now.
 */
#define POISON_MAX_TRAPS    512

static QTAILQ_HEAD(, PoisonTrap) traps = QTAILQ_HEAD_INITIALIZER(traps);
static unsigned nr_traps;

static guint poison_hash(gconstpointer key)
{
    const MemoryPoison *p = key;

    return g_direct_hash(p->rb) ^ g_int64_hash(&p->offset);
}

static gboolean poison_equal(gconstpointer a, gconstpointer b)
{
    const MemoryPoison *pa = a, *pb = b;

    return pa->rb == pb->rb && pa->offset == pb->offset;
}

/* The entry of exactly [@offset, @offset + @size) of @rb */
static MemoryPoison *poison_lookup(RAMBlock *rb, uint64_t offset,
                                   uint64_t size)
{
    MemoryPoison key = { .rb = rb, .offset = offset };
    MemoryPoison *p = poison ? g_hash_table_lookup(poison, &key) : NULL;

    return p && p->size == size ? p : NULL;
}

MemoryPoison *memory_poison_find(RAMBlock *rb, uint64_t offset)
{
    uint64_t sizes = poison_sizes;

    while (poison && sizes) {
        uint64_t size = 1ull << ctz64(sizes);
        MemoryPoison *p = poison_lookup(rb, offset & ~(size - 1), size);

        if (p) {
            return p;
        }
        sizes &= sizes - 1;
    }
    return NULL;
}

/*
 * Smaller ranges inside [@offset, @offset + @size) of @rb: taken into @p
 * (hits, first seen) and dropped.
 */
static void poison_absorb(MemoryPoison *p, RAMBlock *rb, uint64_t offset,
                          uint64_t size)
{
    uint64_t sizes = poison_sizes & (size - 1), step, off;

    while (sizes) {
        step = 1ull << ctz64(sizes);
        for (off = offset; off < offset + size; off += step) {
            MemoryPoison *q = poison_lookup(rb, off, step);

            if (q) {
                p->hits += q->hits;
                p->first_us = MIN(p->first_us, q->first_us);
                g_hash_table_remove(poison, q);
            }
        }
        sizes &= sizes - 1;
    }
}

MemoryPoison *memory_poison_add(RAMBlock *rb, uint64_t offset, uint64_t size,
                                bool has_gpa, hwaddr gpa,
                                MemoryFailureRecipient recipient,
                                bool *is_new)
{
    MemoryPoison *p;

    assert(is_power_of_2(size));
    offset &= ~(size - 1);
    p = memory_poison_find(rb, offset);
    if (p && p->size >= size) {
        p->hits++;
        *is_new = false;
        trace_memory_poison_hit(p->offset, p->size, p->hits);
        return p;
    }
    if (!poison) {
        poison = g_hash_table_new_full(poison_hash, poison_equal, g_free,
                                       NULL);
    }
    p = g_new0(MemoryPoison, 1);
    p->rb = rb;
    p->offset = offset;
    p->size = size;
    p->has_gpa = has_gpa;
    p->gpa = gpa & ~(size - 1);
    p->recipient = recipient;
    p->first_us = g_get_real_time();
    p->hits = 1;
    poison_absorb(p, rb, offset, size);
    g_hash_table_add(poison, p);
    poison_sizes |= size;
    *is_new = true;
    trace_memory_poison_add(offset, size, has_gpa ? gpa : -1);
    return p;
}

unsigned memory_poison_count(void)
{
    return poison ? g_hash_table_size(poison) : 0;
}

void memory_poison_foreach(void (*fn)(MemoryPoison *p, void *opaque),
                           void *opaque)
{
    GHashTableIter it;
    gpointer value;

    if (!poison) {
        return;
    }
    g_hash_table_iter_init(&it, poison);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        fn(value, opaque);
    }
}

/* The host address of @addr in the trap, if the access may complete */
static uint8_t *poison_trap_access(void *opaque, hwaddr addr,
                                   MemTxAttrs attrs)
{
    PoisonTrap *t = opaque;
    uint64_t i = addr / t->unit;
    unsigned outcome = 0;

    if (t->consumed) {
        outcome = t->consumed(current_cpu, t->gpa + i * t->unit, t->unit,
                              t->intact, test_bit(i, t->told));
    }
    trace_memory_poison_consumed(current_cpu ? current_cpu->cpu_index : -1,
                                 t->gpa + addr, outcome);
    if (outcome & MEMORY_POISON_TOLD) {
        set_bit(i, t->told);
    }
    if ((outcome & MEMORY_POISON_PASS) && t->intact && t->ram &&
        memory_region_is_ram(t->ram)) {
        return (uint8_t *)memory_region_get_ram_ptr(t->ram) + t->ram_offset +
               addr;
    }
    return NULL;
}

static MemTxResult poison_trap_read(void *opaque, hwaddr addr, uint64_t *data,
                                    unsigned size, MemTxAttrs attrs)
{
    uint8_t *host = poison_trap_access(opaque, addr, attrs);

    *data = host ? ldn_le_p(host, size) : ~0ull;
    return host ? MEMTX_OK : MEMTX_ERROR;
}

static MemTxResult poison_trap_write(void *opaque, hwaddr addr, uint64_t data,
                                     unsigned size, MemTxAttrs attrs)
{
    uint8_t *host = poison_trap_access(opaque, addr, attrs);

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

static void poison_untrap(PoisonTrap *t)
{
    trace_memory_poison_untrap(t->gpa, t->size);
    QTAILQ_REMOVE(&traps, t, next);
    nr_traps--;
    memory_region_del_subregion(get_system_memory(), &t->mr);
    object_unref(OBJECT(t));
}

/* Whether @t and the range at @gpa / @ram_offset make one run */
static bool poison_trap_joins(PoisonTrap *t, hwaddr gpa, uint64_t unit,
                              bool intact, MemoryPoisonConsumed consumed,
                              MemoryPoisonUntold untold, MemoryRegion *ram,
                              hwaddr ram_offset)
{
    return t->unit == unit && t->intact == intact &&
           t->consumed == consumed && t->untold == untold && t->ram == ram &&
           ((t->gpa + t->size == gpa &&
             t->ram_offset + t->size == ram_offset) ||
            (gpa + unit == t->gpa && ram_offset + unit == t->ram_offset));
}

/* The error of a range of a trap that goes, if no access told the guest */
static void poison_trap_tell(PoisonTrap *t)
{
    uint64_t i, n = t->size / t->unit;

    for (i = 0; i < n && t->untold; i++) {
        if (!test_bit(i, t->told)) {
            t->untold(t->gpa + i * t->unit, t->unit);
        }
    }
}

void memory_poison_trap(hwaddr gpa, uint64_t size, MemoryRegion *ram,
                        hwaddr ram_offset, bool intact,
                        MemoryPoisonConsumed consumed,
                        MemoryPoisonUntold untold)
{
    PoisonTrap *t, *join[2] = { NULL, NULL }, *old = NULL;
    uint64_t i;

    QTAILQ_FOREACH(t, &traps, next) {
        if (gpa >= t->gpa && gpa + size <= t->gpa + t->size) {
            return;
        }
    }
    QTAILQ_FOREACH(t, &traps, next) {
        if (poison_trap_joins(t, gpa, size, intact, consumed, untold, ram,
                              ram_offset)) {
            join[t->gpa < gpa ? 0 : 1] = t;
        }
    }

    t = POISON_TRAP(object_new(TYPE_POISON_TRAP));
    t->gpa = join[0] ? join[0]->gpa : gpa;
    t->size = (join[1] ? join[1]->gpa + join[1]->size : gpa + size) - t->gpa;
    t->unit = size;
    t->consumed = consumed;
    t->intact = intact;
    t->untold = untold;
    t->ram = ram;
    t->ram_offset = join[0] ? join[0]->ram_offset : ram_offset;
    t->told = bitmap_new(t->size / size);
    for (i = 0; i < 2; i++) {
        PoisonTrap *j = join[i];

        if (j) {
            bitmap_copy_with_dst_offset(t->told, j->told,
                                        (j->gpa - t->gpa) / size,
                                        j->size / size);
        }
    }
    memory_region_init_io(&t->mr, OBJECT(t), &poison_trap_ops, t,
                          "poisoned-memory", t->size);
    memory_region_transaction_begin();
    for (i = 0; i < 2; i++) {
        if (join[i]) {
            poison_untrap(join[i]);
        }
    }
    if (nr_traps == POISON_MAX_TRAPS) {
        old = QTAILQ_FIRST(&traps);
        object_ref(OBJECT(old));
        poison_untrap(old);
    }
    /*
     * Above RAM and its aliases, so every access to the range traps; below
     * what QEMU keeps itself over RAM (the GHES registers), which the
     * poison beneath does not touch.
     */
    memory_region_add_subregion_overlap(get_system_memory(), t->gpa, &t->mr,
                                        INT_MAX - 1);
    memory_region_transaction_commit();
    QTAILQ_INSERT_TAIL(&traps, t, next);
    nr_traps++;
    trace_memory_poison_trap(t->gpa, t->size, nr_traps);
    if (old) {
        /* The error of a trap nothing touched must still reach the guest */
        poison_trap_tell(old);
        object_unref(OBJECT(old));
    }
}

MemoryRegion *memory_poison_trapped_ram(MemoryRegion *mr, hwaddr offset,
                                        void **host)
{
    PoisonTrap *t;

    if (mr->ops != &poison_trap_ops) {
        return NULL;
    }
    t = mr->opaque;
    if (!t->ram || !memory_region_is_ram(t->ram)) {
        return NULL;
    }
    *host = (uint8_t *)memory_region_get_ram_ptr(t->ram) + t->ram_offset +
            offset;
    return t->ram;
}

static void remap_one(gpointer key, gpointer value, gpointer opaque)
{
    MemoryPoison *p = value;
    uint64_t off;

    /*
     * Only guest memory is given back fresh: QEMU's own (ROMs, device
     * state) must keep its contents, poisoned or not.
     */
    if (p->recipient != MEMORY_FAILURE_RECIPIENT_GUEST) {
        return;
    }
    for (off = 0; off < p->size; off += qemu_ram_pagesize(p->rb)) {
        qemu_ram_remap(p->rb->offset + p->offset + off);
    }
}

/* A RAM block going away (an unplugged DIMM) takes its ranges along */
static void poison_ram_block_removed(RAMBlockNotifier *n, void *host,
                                     size_t size, size_t max_size)
{
    GHashTableIter it;
    MemoryPoison *p;
    PoisonTrap *t, *next_t;

    if (!poison) {
        return;
    }
    g_hash_table_iter_init(&it, poison);
    while (g_hash_table_iter_next(&it, (gpointer *)&p, NULL)) {
        if (p->rb->host == host) {
            trace_memory_poison_forget(p->offset, p->size);
            g_hash_table_iter_remove(&it);
        }
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

static RAMBlockNotifier poison_ram_notifier = {
    .ram_block_removed = poison_ram_block_removed,
};

static void poison_init(void)
{
    ram_block_notifier_add(&poison_ram_notifier);
}

type_init(poison_init)

void memory_poison_reset(void)
{
    PoisonTrap *t, *next;

    memory_region_transaction_begin();
    QTAILQ_FOREACH_SAFE(t, &traps, next, next) {
        poison_untrap(t);
    }
    memory_region_transaction_commit();
    if (poison) {
        g_hash_table_foreach(poison, remap_one, NULL);
        g_hash_table_remove_all(poison);
    }
    poison_sizes = 0;
    trace_memory_poison_reset();
}
