/*
 * Poisoned guest memory under TCG: accesses fail as on real poison
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef SYSTEM_POISON_TRAP_H
#define SYSTEM_POISON_TRAP_H

#include "exec/hwaddr.h"

/*
 * What an access to a poisoned range did, as the consumer decides:
 * whether the guest has been told of the error (now or by a queued
 * report), and whether the access completes with the memory's data
 * instead of failing (only when the data is intact: the error was
 * simulated), or whether the machine resets for it.
 */
#define POISON_TRAP_REPORTED    1
#define POISON_TRAP_PASS        2
#define POISON_TRAP_RESET       4   /* the guest could not take it: reset */
/*
 * A synchronous error is pending on the vCPU, to be taken before the
 * failed access is retried (x86: a machine check; arm raises its abort
 * from the failed transaction itself)
 */
#define POISON_TRAP_RAISED      8
/*
 * Nothing reported yet: the vCPU waits at the access, which it retries
 * later (the rest of a lost huge page is being told first)
 */
#define POISON_TRAP_WAIT        16

/*
 * Called, with the BQL held, on every guest access to the poisoned range
 * [@gpa, @gpa + @size): by vCPU @cpu, or by no vCPU (NULL: a device, from
 * the main loop).  @reported: whether an earlier access told the guest;
 * @may_wait: whether the vCPU can wait at this access (not in the middle
 * of a page-table walk).
 */
typedef unsigned (*PoisonTrapConsumed)(CPUState *cpu, hwaddr gpa,
                                       uint64_t size, bool data_intact,
                                       bool reported, bool may_wait);
void poison_trap_set_consumer(PoisonTrapConsumed consumed);

/*
 * The tracker holds a new poisoned range of guest memory, @size bytes at
 * @ram_offset in @ram: make all accesses to it trap, wherever the guest
 * sees @ram, flushing every vCPU's TLB.
 */
void poison_trap_add(MemoryRegion *ram, hwaddr ram_offset, uint64_t size);

/*
 * If @mr is a trap over a poisoned range, the guest RAM beneath it, and
 * in *@host the host address of @offset into the trap.
 */
MemoryRegion *poison_trap_hidden_ram(MemoryRegion *mr, hwaddr offset,
                                     void **host);

/*
 * Give back fresh memory for every poisoned range of guest memory and
 * forget them; QEMU's own memory keeps its contents and its poison
 */
void poison_trap_reset(void);

/*
 * For accel/tcg/cputlb.c: whether the page at *@offset of region *@mr is
 * poisoned RAM (its TLB entry then sends every access here), a trap
 * being replaced by the RAM it hides; and what becomes of the access of
 * @cpu to @host, at guest address @gpa, in such a page (@may_wait: see
 * PoisonTrapConsumed).
 */
typedef enum PoisonAccess {
    POISON_ACCESS_COMPLETE,     /* as to healthy memory */
    POISON_ACCESS_FAIL,         /* a failed transaction */
    /* failed, and retried after what the consumer raised (or a reset) */
    POISON_ACCESS_FAIL_RETRY,
    /* not made yet: the vCPU retries it (after a pause) */
    POISON_ACCESS_WAIT,
} PoisonAccess;

bool poison_trap_tlb_fill(MemoryRegion **mr, hwaddr *offset);
PoisonAccess poison_trap_tlb_access(CPUState *cpu, void *host, hwaddr gpa,
                                    bool may_wait);

/*
 * Tell the guest now of the pages devices touched that it has not heard
 * of yet (done from the main loop soon anyway): before the machine's
 * state is saved, so that the reports travel in the queues
 */
void poison_trap_report_devices(void);

/*
 * For page-table walkers that read RAM by its host address: whether the
 * page at @host is poisoned (its TLB entry has TLB_WATCHPOINT), so that
 * the walker reads it by poison_trap_tlb_access() or the slow path.
 */
bool poison_trap_host_poisoned(void *host);

#endif
