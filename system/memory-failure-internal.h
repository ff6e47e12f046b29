/*
 * Host memory failures: what the files of system/memory-failure*.c share
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef SYSTEM_MEMORY_FAILURE_INTERNAL_H
#define SYSTEM_MEMORY_FAILURE_INTERNAL_H

#include "exec/hwaddr.h"
#include "system/ramblock.h"

/* memory-failure-map.c: where guest RAM is in the guest */

/* Aliases beyond this many are not trapped; none of our machines has one */
#define MAX_ALIASES 8

/*
 * Every guest physical address mapping [@offset, @offset + @size) of @rb
 * (a RAM block can be mapped several times, or not at all), in memory
 * map order.
 */
int memory_failure_gpas_of(RAMBlock *rb, ram_addr_t offset, uint64_t size,
                           hwaddr gpa[MAX_ALIASES]);

/* Keep the tracker's guest addresses right as the memory map changes */
void memory_failure_map_init(void);

/* memory-failure-owned.c: memory QEMU keeps for the guest */

/*
 * The error at [@offset, @offset + @size) of @rb in memory QEMU keeps:
 * mended, replaced if it is a plain page.  True if nothing of it is left
 * for the guest.
 */
bool memory_failure_mend_owned(RAMBlock *rb, ram_addr_t offset,
                               uint64_t size, bool ar);

/* memory-failure-blocker.c: QEMU's own memory failed: no migration */

void memory_failure_block_migration(void);
/* At a reset that left no poison: migration allowed again */
void memory_failure_unblock_migration(void);
void memory_failure_blocker_init(void);

#endif
