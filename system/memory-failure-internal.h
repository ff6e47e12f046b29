/*
 * Host memory failures: what the files of system/memory-failure*.c share
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef SYSTEM_MEMORY_FAILURE_INTERNAL_H
#define SYSTEM_MEMORY_FAILURE_INTERNAL_H

#include "exec/hwaddr.h"
#include "system/ramblock.h"
#include "system/memory-failure.h"

/* memory-failure.c */

/* What the guest's CPUs do with memory errors (NULL: nothing) */
const MemoryFailureArchOps *memory_failure_arch_ops(CPUState *cpu);
/* An error the guest could not take asked for a reset */
bool memory_failure_reset_asked(void);
/*
 * The host page at @host, of @size bytes, is about to get a poison marker
 * from QEMU itself: a fault there is consumed poison, whatever code the
 * host kernel gives it.  False if no more pages can be marked.
 */
bool memory_failure_mark_host(void *host, uint64_t size);
/* The marker for the page at @host could not go in after all */
void memory_failure_unmark_host(void *host);

/* memory-failure-rest.c: the rest of a lost huge page */

/*
 * Guest RAM at [@gpa, @gpa + @size), more than a base page, is new to
 * QEMU: tell the guest of its other base pages (at most the 2 MiB around
 * @signalled, the page the host named), then of @signalled unless
 * @signalled_told, from the main loop.  Until the guest has acted on
 * them, a vCPU's access there waits (memory_failure_rest_hold()).
 */
void memory_failure_rest_queue(hwaddr gpa, uint64_t size, hwaddr signalled,
                               bool signalled_told);
/* Tell now what is queued: the machine stops to be saved */
void memory_failure_rest_flush(void);
/* Whether the guest is being told of the range around @gpa */
bool memory_failure_rest_telling(hwaddr gpa);
/*
 * Whether @cpu's access to @gpa is to wait (the vCPU halts, and retries
 * it once woken): the guest is being told of the range around it
 */
bool memory_failure_rest_hold(CPUState *cpu, hwaddr gpa);
/*
 * The wait of a vCPU held at an access (BQL held): a millisecond, less if
 * an interrupt, a kick or a stop request comes
 */
void memory_failure_rest_wait(CPUState *cpu);
/* A reset: fresh memory, nothing to tell, nobody waiting */
void memory_failure_rest_reset(void);

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
