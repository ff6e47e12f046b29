/*
 * Poisoned guest memory: which ranges are lost, since when, how often hit
 *
 * Safe to call from any thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef SYSTEM_MEMORY_POISON_H
#define SYSTEM_MEMORY_POISON_H

#include "exec/hwaddr.h"
#include "qapi/qapi-types-run-state.h"

/* A copy of one entry */
typedef struct MemoryPoison {
    RAMBlock *rb;               /* key: the RAM block, */
    uint64_t offset;            /* and the range's offset in it */
    uint64_t size;              /* power of two, @offset aligned to it */
    bool has_gpa;
    hwaddr gpa;                 /* first guest address mapping it */
    MemoryFailureRecipient recipient;
    bool data_intact;           /* simulated: the data is still there */
    bool reported;              /* a guest access to it told the guest */
    int64_t first_us;           /* wall clock, millisecond resolution */
    uint64_t hits;              /* errors reported for it (saturates) */
} MemoryPoison;

/*
 * Record that [@offset, @offset + @size) of @rb is poisoned (@offset is
 * aligned down to @size; @size is a power of two of at least 4 KiB).
 * Returns true for a new range, false when the range was already known
 * (by itself or as part of a larger range), in which case only its hit
 * count grows.  A larger range takes in the smaller ones it covers.
 * *@p gets the entry.
 */
bool memory_poison_add(RAMBlock *rb, uint64_t offset, uint64_t size,
                       bool has_gpa, hwaddr gpa,
                       MemoryFailureRecipient recipient, bool data_intact,
                       MemoryPoison *p);

/*
 * Record the range @p exactly as another QEMU knew it (migration): its
 * flags, first-seen time and hits as well.  Returns false, changing
 * nothing but the hit count, if a range already covers it.
 */
bool memory_poison_restore(const MemoryPoison *p);

/* Whether a range covers @offset of @rb; if so, *@p (if not NULL) gets it */
bool memory_poison_find(RAMBlock *rb, uint64_t offset, MemoryPoison *p);

/* Whether @rb has any poisoned range: a cheap first test */
bool memory_poison_block_has_poison(RAMBlock *rb);

/*
 * Whether the 4 KiB page at @offset of @rb is poisoned, without taking
 * the table's lock (a TLB fill's question).  A range added while this
 * runs may be missed: adding one flushes every TLB afterwards.
 */
bool memory_poison_page_poisoned(RAMBlock *rb, uint64_t offset);

/*
 * Note whether an access to the range covering @offset of @rb told the
 * guest (or is telling it)
 */
void memory_poison_set_reported(RAMBlock *rb, uint64_t offset,
                                bool reported);

/*
 * The range at @offset of @rb is now mapped at @gpa in the guest, or
 * (!@has_gpa) nowhere: a DIMM unplugged, or plugged again elsewhere
 */
void memory_poison_set_gpa(RAMBlock *rb, uint64_t offset, bool has_gpa,
                           hwaddr gpa);

/* Call @fn for each RAM block with poison */
void memory_poison_foreach_block(void (*fn)(RAMBlock *rb, void *opaque),
                                 void *opaque);

/* How many ranges; from another thread, a hint */
unsigned memory_poison_count(void);

/* Memory the table takes, in bytes */
size_t memory_poison_bytes(void);

/* Calls @fn on a copy of each entry, in no order; @fn must not call here */
void memory_poison_foreach(void (*fn)(const MemoryPoison *p, void *opaque),
                           void *opaque);

/* Drop the ranges of @rb, a RAM block going away */
void memory_poison_forget_block(RAMBlock *rb);

/* Forget the ranges of guest memory (a reset replaced it) */
void memory_poison_forget_guest_ranges(void);

/* Forget every range */
void memory_poison_clear(void);

#endif
