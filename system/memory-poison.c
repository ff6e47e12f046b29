/*
 * Poisoned guest memory: which ranges are lost, since when, how often hit
 *
 * Entries are keyed by RAM block and offset in it, which is the same for
 * every guest address that maps the memory (aliases).  A range is a
 * power of two (a 4 KiB page, a 2 MiB huge page, ...) aligned in its
 * block: blocks are aligned to their own page size in the host's address
 * space, not in ram_addr_t space.  Lookups try each size in use.
 *
 * A failing DIMM can poison a large part of guest memory.  The table is
 * an open-addressing hash table of 24-byte entries stored in place (under
 * 64 bytes per range even just after it grows), under a mutex.
 *
 * Under TCG every TLB fill of a block with poison asks whether the page
 * is poisoned, from any vCPU thread: that question is answered without
 * the lock, from a bitmap of the block's 4 KiB pages (one bit each, 32
 * KiB per GiB of a block with poison), published with RCU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/host-utils.h"
#include "qemu/thread.h"
#include "qemu/atomic.h"
#include "qemu/lockable.h"
#include "qemu/bitmap.h"
#include "qemu/rcu.h"
#include "system/ramblock.h"
#include "system/memory-poison.h"
#include "trace.h"

/*
 * One range: its key (block index, page number, log2 of its size), its
 * guest address and flags, and when it was first seen and how often.
 */
typedef struct PoisonSlot {
    uint64_t key;
    uint64_t info;
    uint64_t seen;
} PoisonSlot;

#define SLOT_EMPTY          0
#define SLOT_DELETED        1       /* a valid key has a block index >= 1 */

#define KEY_BLOCK_SHIFT     48
#define KEY_PAGE_SHIFT      6
#define KEY_PAGE_BITS       (KEY_BLOCK_SHIFT - KEY_PAGE_SHIFT)
#define KEY_SIZE_MASK       0x3f
#define POISON_PAGE_SHIFT   12      /* ranges are at least 4 KiB */

#define INFO_HAS_GPA        1
#define INFO_HYPERVISOR     2
#define INFO_INTACT         4
#define INFO_REPORTED           8
#define INFO_FLAGS          0xfff

#define SEEN_HITS_BITS      24      /* the count saturates there */
#define SEEN_HITS_MAX       ((1ull << SEEN_HITS_BITS) - 1)

/* Blocks with poison; an index in a key is its place here plus one */
#define MAX_BLOCKS          ((1u << (64 - KEY_BLOCK_SHIFT)) - 1)

typedef struct PoisonBlock {
    RAMBlock *rb;
    uint64_t count;             /* its ranges in the table */
} PoisonBlock;

/* Which 4 KiB pages of a block are poisoned; read without the lock */
typedef struct PoisonMap {
    RAMBlock *rb;
    uint64_t pages;
    unsigned long *bits;
} PoisonMap;

typedef struct PoisonMaps {
    struct rcu_head rcu;
    unsigned n;
    PoisonMap map[];
} PoisonMaps;

static PoisonMaps *maps;        /* RCU; replaced, never changed in place */

static QemuMutex lock;
static PoisonSlot *slots;
static uint64_t capacity;       /* a power of two, or 0 */
static uint64_t used;           /* live entries */
static uint64_t deleted;        /* tombstones */
static uint64_t sizes;          /* bit n set: some entry has size 2^n */
static GArray *blocks;          /* of PoisonBlock */
/*
 * First-seen times count in milliseconds from 2020-01-01 UTC: 40 bits of
 * them last until 2054, and a fixed origin keeps the times of ranges that
 * another QEMU found (migration) exact.
 */
#define EPOCH_MS            1577836800000ll

static void __attribute__((constructor)) memory_poison_init(void)
{
    qemu_mutex_init(&lock);
    blocks = g_array_new(false, true, sizeof(PoisonBlock));
}

/* The index of @rb in keys, 0 if it has no poison (and @add is false) */
static unsigned block_index(RAMBlock *rb, bool add)
{
    unsigned i, free = 0;

    for (i = 0; i < blocks->len; i++) {
        PoisonBlock *b = &g_array_index(blocks, PoisonBlock, i);

        if (b->rb == rb && b->count) {
            return i + 1;
        }
        if (!b->count && !free) {
            free = i + 1;
        }
    }
    if (!add) {
        return 0;
    }
    if (!free) {
        PoisonBlock b = { 0 };

        assert(blocks->len < MAX_BLOCKS);
        g_array_append_val(blocks, b);
        free = blocks->len;
    }
    g_array_index(blocks, PoisonBlock, free - 1).rb = rb;
    return free;
}

typedef struct BitsToFree {
    struct rcu_head rcu;
    unsigned long *bits;
} BitsToFree;

static void bits_free(BitsToFree *f)
{
    g_free(f->bits);
    g_free(f);
}

/* Publish @next in place of the current maps (lock held) */
static void maps_replace(PoisonMaps *next)
{
    PoisonMaps *old = maps;

    qatomic_rcu_set(&maps, next);
    if (old) {
        g_free_rcu(old, rcu);
    }
}

/* The bitmap of @rb, made if @rb has none (lock held) */
static PoisonMap *map_of(RAMBlock *rb)
{
    unsigned i, n = maps ? maps->n : 0;
    PoisonMaps *next;

    for (i = 0; i < n; i++) {
        if (maps->map[i].rb == rb) {
            return &maps->map[i];
        }
    }
    next = g_malloc(sizeof(*next) + (n + 1) * sizeof(PoisonMap));
    next->n = n + 1;
    if (n) {
        memcpy(next->map, maps->map, n * sizeof(PoisonMap));
    }
    next->map[n].rb = rb;
    next->map[n].pages = DIV_ROUND_UP(rb->max_length, 1ull << 12);
    next->map[n].bits = bitmap_new(next->map[n].pages);
    maps_replace(next);
    return &maps->map[n];
}

/* Drop the bitmap of @rb, or of every block (NULL) (lock held) */
static void maps_drop(RAMBlock *rb)
{
    unsigned i, n = 0;
    PoisonMaps *next;

    if (!maps) {
        return;
    }
    next = g_malloc(sizeof(*next) + maps->n * sizeof(PoisonMap));
    for (i = 0; i < maps->n; i++) {
        if (rb && maps->map[i].rb != rb) {
            next->map[n++] = maps->map[i];
        } else {
            /* Readers may still test it until the grace period ends */
            BitsToFree *f = g_new(BitsToFree, 1);

            f->bits = maps->map[i].bits;
            call_rcu(f, bits_free, rcu);
        }
    }
    next->n = n;
    maps_replace(next);
}

bool memory_poison_page_poisoned(RAMBlock *rb, uint64_t offset)
{
    PoisonMaps *m;
    unsigned i;

    RCU_READ_LOCK_GUARD();
    m = qatomic_rcu_read(&maps);
    for (i = 0; m && i < m->n; i++) {
        if (m->map[i].rb == rb) {
            uint64_t page = offset >> 12;

            return page < m->map[i].pages && test_bit(page, m->map[i].bits);
        }
    }
    return false;
}

static uint64_t make_key(unsigned block, uint64_t offset, uint64_t size)
{
    assert(size >= (1ull << POISON_PAGE_SHIFT) && is_power_of_2(size));
    assert((offset >> POISON_PAGE_SHIFT) < (1ull << KEY_PAGE_BITS));
    return (uint64_t)block << KEY_BLOCK_SHIFT |
           (offset >> POISON_PAGE_SHIFT) << KEY_PAGE_SHIFT | ctz64(size);
}

static uint64_t slot_of(uint64_t key)
{
    /* Fibonacci hashing: neighbouring pages spread over the table */
    return (key * 0x9e3779b97f4a7c15ull) >> (64 - ctz64(capacity));
}

/* The slot holding @key, or NULL */
static PoisonSlot *lookup(uint64_t key)
{
    uint64_t i;

    if (!capacity) {
        return NULL;
    }
    for (i = slot_of(key); slots[i].key != SLOT_EMPTY;
         i = (i + 1) & (capacity - 1)) {
        if (slots[i].key == key) {
            return &slots[i];
        }
    }
    return NULL;
}

static void insert_slot(const PoisonSlot *s)
{
    uint64_t i = slot_of(s->key);

    while (slots[i].key > SLOT_DELETED) {
        i = (i + 1) & (capacity - 1);
    }
    deleted -= slots[i].key == SLOT_DELETED;
    slots[i] = *s;
}

/* Room for one more, with live and deleted entries at most 3/4 full */
static void make_room(void)
{
    PoisonSlot *old = slots;
    uint64_t i, old_capacity = capacity;

    if ((used + deleted + 1) * 4 <= capacity * 3) {
        return;
    }
    /* Half full at most afterwards: grows when live entries need it */
    capacity = MAX(64, capacity);
    while ((used + 1) * 2 > capacity) {
        capacity *= 2;
    }
    slots = g_new0(PoisonSlot, capacity);
    deleted = 0;
    for (i = 0; i < old_capacity; i++) {
        if (old[i].key > SLOT_DELETED) {
            insert_slot(&old[i]);
        }
    }
    g_free(old);
}

static void remove_slot(PoisonSlot *s)
{
    PoisonBlock *b = &g_array_index(blocks, PoisonBlock,
                                    (s->key >> KEY_BLOCK_SHIFT) - 1);

    b->count--;
    s->key = SLOT_DELETED;
    qatomic_set(&used, used - 1);
    deleted++;
}

static void unpack(const PoisonSlot *s, MemoryPoison *p)
{
    unsigned block = s->key >> KEY_BLOCK_SHIFT;

    p->rb = g_array_index(blocks, PoisonBlock, block - 1).rb;
    p->size = 1ull << (s->key & KEY_SIZE_MASK);
    p->offset = ((s->key >> KEY_PAGE_SHIFT) &
                 ((1ull << KEY_PAGE_BITS) - 1)) << POISON_PAGE_SHIFT;
    p->has_gpa = s->info & INFO_HAS_GPA;
    p->gpa = s->info & ~(uint64_t)INFO_FLAGS;
    p->recipient = s->info & INFO_HYPERVISOR ?
                   MEMORY_FAILURE_RECIPIENT_HYPERVISOR :
                   MEMORY_FAILURE_RECIPIENT_GUEST;
    p->data_intact = s->info & INFO_INTACT;
    p->reported = s->info & INFO_REPORTED;
    p->first_us = ((s->seen >> SEEN_HITS_BITS) + EPOCH_MS) * 1000;
    p->hits = s->seen & SEEN_HITS_MAX;
}

/* The slot of the range covering @offset of block @block */
static PoisonSlot *find_locked(unsigned block, uint64_t offset)
{
    uint64_t left = sizes;

    while (left) {
        uint64_t size = 1ull << ctz64(left);
        PoisonSlot *s = lookup(make_key(block, offset & ~(size - 1), size));

        if (s) {
            return s;
        }
        left &= left - 1;
    }
    return NULL;
}

bool memory_poison_find(RAMBlock *rb, uint64_t offset, MemoryPoison *p)
{
    PoisonSlot *s = NULL;
    unsigned block;

    QEMU_LOCK_GUARD(&lock);
    block = block_index(rb, false);
    if (block) {
        s = find_locked(block, offset);
    }
    if (s && p) {
        unpack(s, p);
    }
    return s;
}

bool memory_poison_block_has_poison(RAMBlock *rb)
{
    QEMU_LOCK_GUARD(&lock);
    return used && block_index(rb, false);
}

/* Smaller ranges inside the new one's: taken into @n and dropped */
static void absorb(PoisonSlot *n, unsigned block, uint64_t offset,
                   uint64_t size)
{
    uint64_t left = sizes & (size - 1), step, off;

    while (left) {
        step = 1ull << ctz64(left);
        for (off = offset; off < offset + size; off += step) {
            PoisonSlot *s = lookup(make_key(block, off, step));

            if (s) {
                uint64_t hits = (n->seen & SEEN_HITS_MAX) +
                                (s->seen & SEEN_HITS_MAX);

                n->seen = MIN(n->seen >> SEEN_HITS_BITS,
                              s->seen >> SEEN_HITS_BITS) << SEEN_HITS_BITS |
                          MIN(hits, SEEN_HITS_MAX);
                n->info |= s->info & INFO_REPORTED;
                remove_slot(s);
            }
        }
        left &= left - 1;
    }
}

bool memory_poison_add(RAMBlock *rb, uint64_t offset, uint64_t size,
                       bool has_gpa, hwaddr gpa,
                       MemoryFailureRecipient recipient, bool data_intact,
                       MemoryPoison *p)
{
    unsigned block;
    PoisonSlot *s, n;
    PoisonMap *map;
    int64_t now_ms = g_get_real_time() / 1000 - EPOCH_MS;

    QEMU_LOCK_GUARD(&lock);
    offset &= ~(size - 1);
    block = block_index(rb, true);
    s = find_locked(block, offset);
    if (s && 1ull << (s->key & KEY_SIZE_MASK) >= size) {
        if ((s->seen & SEEN_HITS_MAX) < SEEN_HITS_MAX) {
            s->seen++;
        }
        if (!data_intact) {
            /* Real poison now, where an error was simulated before */
            s->info &= ~(uint64_t)INFO_INTACT;
        }
        unpack(s, p);
        trace_memory_poison_hit(p->offset, p->size, p->hits);
        return false;
    }

    n.key = make_key(block, offset, size);
    n.info = (has_gpa ? (gpa & ~(size - 1)) | INFO_HAS_GPA : 0) |
             (recipient == MEMORY_FAILURE_RECIPIENT_HYPERVISOR ?
              INFO_HYPERVISOR : 0) |
             (data_intact ? INFO_INTACT : 0);
    n.seen = (uint64_t)MAX(now_ms, 0) << SEEN_HITS_BITS | 1;
    g_array_index(blocks, PoisonBlock, block - 1).count++;
    absorb(&n, block, offset, size);
    make_room();
    insert_slot(&n);
    qatomic_set(&used, used + 1);
    map = map_of(rb);
    if (offset >> 12 < map->pages) {
        /* The part inside the block (a range is never larger today) */
        bitmap_set_atomic(map->bits, offset >> 12,
                          MIN(size >> 12, map->pages - (offset >> 12)));
    }
    sizes |= size;
    unpack(&n, p);
    trace_memory_poison_add(offset, size, has_gpa ? gpa : -1);
    return true;
}

bool memory_poison_restore(const MemoryPoison *p)
{
    MemoryPoison now;
    bool is_new = memory_poison_add(p->rb, p->offset, p->size, p->has_gpa,
                                    p->gpa, p->recipient, p->data_intact, &now);
    int64_t first_ms = p->first_us / 1000 - EPOCH_MS;
    unsigned block;
    PoisonSlot *s;

    if (!is_new) {
        return false;
    }
    QEMU_LOCK_GUARD(&lock);
    block = block_index(p->rb, false);
    s = find_locked(block, p->offset);
    s->info |= p->reported ? INFO_REPORTED : 0;
    s->seen = (uint64_t)MIN(MAX(first_ms, 0), (1ll << 40) - 1)
              << SEEN_HITS_BITS | MIN(MAX(p->hits, 1), SEEN_HITS_MAX);
    return true;
}

void memory_poison_foreach_block(void (*fn)(RAMBlock *rb, void *opaque),
                                 void *opaque)
{
    g_autoptr(GPtrArray) with = g_ptr_array_new();
    unsigned i;

    /* Called without the lock: @fn may use the table */
    WITH_QEMU_LOCK_GUARD(&lock) {
        for (i = 0; blocks && i < blocks->len; i++) {
            PoisonBlock *b = &g_array_index(blocks, PoisonBlock, i);

            if (b->count) {
                g_ptr_array_add(with, b->rb);
            }
        }
    }
    for (i = 0; i < with->len; i++) {
        fn(g_ptr_array_index(with, i), opaque);
    }
}

/* The slot of the range holding @offset of @rb, or NULL; lock held */
static PoisonSlot *slot_of_locked(RAMBlock *rb, uint64_t offset)
{
    unsigned block = block_index(rb, false);

    return block ? find_locked(block, offset) : NULL;
}

void memory_poison_set_reported(RAMBlock *rb, uint64_t offset,
                                bool reported)
{
    PoisonSlot *s;

    QEMU_LOCK_GUARD(&lock);
    s = slot_of_locked(rb, offset);
    if (s) {
        s->info = reported ? s->info | INFO_REPORTED
                           : s->info & ~(uint64_t)INFO_REPORTED;
    }
}

void memory_poison_set_gpa(RAMBlock *rb, uint64_t offset, bool has_gpa,
                           hwaddr gpa)
{
    PoisonSlot *s;

    QEMU_LOCK_GUARD(&lock);
    s = slot_of_locked(rb, offset);
    if (s) {
        s->info = (s->info & INFO_FLAGS & ~(uint64_t)INFO_HAS_GPA) |
                  (has_gpa ? (gpa & ~(uint64_t)INFO_FLAGS) | INFO_HAS_GPA
                           : 0);
    }
}

unsigned memory_poison_count(void)
{
    /* A hint without the lock: a TLB fill's first test */
    return qatomic_read(&used);
}

size_t memory_poison_bytes(void)
{
    size_t bytes;
    unsigned i;

    QEMU_LOCK_GUARD(&lock);
    bytes = capacity * sizeof(PoisonSlot) + blocks->len * sizeof(PoisonBlock);
    for (i = 0; maps && i < maps->n; i++) {
        bytes += sizeof(PoisonMap) + BITS_TO_LONGS(maps->map[i].pages) *
                                     sizeof(unsigned long);
    }
    return bytes;
}

void memory_poison_foreach(void (*fn)(const MemoryPoison *p, void *opaque),
                           void *opaque)
{
    uint64_t i;
    MemoryPoison p;

    QEMU_LOCK_GUARD(&lock);
    for (i = 0; i < capacity; i++) {
        if (slots[i].key > SLOT_DELETED) {
            unpack(&slots[i], &p);
            fn(&p, opaque);
        }
    }
}

void memory_poison_forget_block(RAMBlock *rb)
{
    unsigned block;
    uint64_t i;

    QEMU_LOCK_GUARD(&lock);
    maps_drop(rb);
    block = block_index(rb, false);
    for (i = 0; block && i < capacity; i++) {
        if (slots[i].key > SLOT_DELETED &&
            slots[i].key >> KEY_BLOCK_SHIFT == block) {
            MemoryPoison p;

            unpack(&slots[i], &p);
            trace_memory_poison_forget(p.offset, p.size);
            remove_slot(&slots[i]);
        }
    }
}

void memory_poison_forget_guest_ranges(void)
{
    MemoryPoison p;
    PoisonMap *map;
    uint64_t i;

    QEMU_LOCK_GUARD(&lock);
    for (i = 0; i < capacity; i++) {
        if (slots[i].key > SLOT_DELETED &&
            !(slots[i].info & INFO_HYPERVISOR)) {
            remove_slot(&slots[i]);
        }
    }
    /* The bitmaps anew, of what is left */
    maps_drop(NULL);
    for (i = 0; i < capacity; i++) {
        if (slots[i].key > SLOT_DELETED) {
            unpack(&slots[i], &p);
            map = map_of(p.rb);
            if (p.offset >> 12 < map->pages) {
                bitmap_set_atomic(map->bits, p.offset >> 12,
                                  MIN(p.size >> 12,
                                      map->pages - (p.offset >> 12)));
            }
        }
    }
}

void memory_poison_clear(void)
{
    QEMU_LOCK_GUARD(&lock);
    g_free(slots);
    slots = NULL;
    capacity = deleted = sizes = 0;
    qatomic_set(&used, 0);
    maps_drop(NULL);
    g_array_set_size(blocks, 0);
}
