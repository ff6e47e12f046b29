/*
 * Where a TCG vCPU thread stands, for host poison its own code consumes
 * (accel/tcg/poison-unwind.c)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef ACCEL_TCG_POISON_UNWIND_H
#define ACCEL_TCG_POISON_UNWIND_H

#include "qemu/rcu.h"

/*
 * The stack frame of cpu_tb_exec() while it runs a TB, 0 otherwise:
 * helpers the TB calls run below it, and the call's return address
 * into the TB lies between the two.
 */
extern __thread uintptr_t poison_unwind_tb_frame;

/*
 * The return address (GETPC()) of the last load or store that took the
 * TLB's slow path: the guest insn that made it
 */
extern __thread uintptr_t poison_unwind_ldst_ra;

/* The RCU read-side depth where the vCPU's sigsetjmp() lands */
extern __thread unsigned poison_unwind_rcu_depth;

/* Before the vCPU loop's sigsetjmp() */
static inline void poison_unwind_set_landing(void)
{
    poison_unwind_rcu_depth = get_ptr_rcu_reader()->depth;
}

/*
 * @cpu, a TCG vCPU, consumed host poison in the code at @uctx's PC (a
 * signal's context): if it can, restore @cpu's state to the guest
 * instruction that made the access and unwind to its CPU loop, not
 * returning.  Returns if it cannot.
 */
void poison_unwind(CPUState *cpu, void *uctx);

#endif
