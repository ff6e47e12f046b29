/*
 * Poisoned guest memory: which ranges are lost, since when, how often hit
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef SYSTEM_MEMORY_POISON_H
#define SYSTEM_MEMORY_POISON_H

#include "exec/hwaddr.h"
#include "qapi/qapi-types-run-state.h"

typedef struct MemoryPoison {
    RAMBlock *rb;               /* key: the RAM block, */
    uint64_t offset;            /* and the range's offset in it */
    uint64_t size;              /* power of two, @offset aligned to it */
    bool has_gpa;
    hwaddr gpa;                 /* first guest address mapping it */
    MemoryFailureRecipient recipient;
    int64_t first_us;           /* wall clock, microseconds since epoch */
    uint64_t hits;              /* errors reported for the range */
} MemoryPoison;

/*
 * Record that [@offset, @offset + @size) of @rb is poisoned (@offset is
 * aligned down to @size).  Returns the entry, and *@is_new false when
 * the range was already known (by itself or as part of a larger range),
 * in which case only its hit count grows.  A larger range takes in the
 * smaller ones it covers.
 */
MemoryPoison *memory_poison_add(RAMBlock *rb, uint64_t offset, uint64_t size,
                                bool has_gpa, hwaddr gpa,
                                MemoryFailureRecipient recipient,
                                bool *is_new);

/* The entry covering @offset of @rb, or NULL */
MemoryPoison *memory_poison_find(RAMBlock *rb, uint64_t offset);

/*
 * What an access to a trapped range did, as @consumed decides: whether
 * the guest has been told of the error (now or by a queued report), and
 * whether the access completes with the memory's data instead of failing
 * (only when the data is @intact: the error was simulated).
 */
#define MEMORY_POISON_TOLD      1
#define MEMORY_POISON_PASS      2

/*
 * Under TCG, make guest accesses to [@gpa, @gpa + @size) fail: the RAM
 * at @ram_offset of @ram.  Each access calls @consumed, with whether an
 * earlier one told the guest.  Only the most recent traps are kept; if
 * one goes before any access told the guest, @untold (if not NULL) is
 * called.
 */
typedef unsigned (*MemoryPoisonConsumed)(CPUState *cpu, hwaddr gpa,
                                         uint64_t size, bool intact,
                                         bool told);
typedef void (*MemoryPoisonUntold)(hwaddr gpa, uint64_t size);
void memory_poison_trap(hwaddr gpa, uint64_t size, MemoryRegion *ram,
                        hwaddr ram_offset, bool intact,
                        MemoryPoisonConsumed consumed,
                        MemoryPoisonUntold untold);

/*
 * If @mr is the trap over a poisoned range, the guest RAM beneath it,
 * and in *@host the host address of @offset into the trap.
 */
MemoryRegion *memory_poison_trapped_ram(MemoryRegion *mr, hwaddr offset,
                                        void **host);

unsigned memory_poison_count(void);
void memory_poison_foreach(void (*fn)(MemoryPoison *p, void *opaque),
                           void *opaque);

/* Give back fresh memory for every poisoned range and forget them */
void memory_poison_reset(void);

#endif
