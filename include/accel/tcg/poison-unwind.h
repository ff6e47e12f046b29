/*
 * Where a TCG vCPU thread stands, for host poison its own code consumes
 * (accel/tcg/poison-unwind.c)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef ACCEL_TCG_POISON_UNWIND_H
#define ACCEL_TCG_POISON_UNWIND_H

#include "qemu/rcu.h"

#ifndef CONFIG_USER_ONLY

/*
 * The return address (GETPC()) of the last load or store that took the
 * TLB's slow path: the guest insn that made it
 */
extern __thread uintptr_t poison_unwind_ldst_ra;
/* The RCU read-side depth where the vCPU loop's sigsetjmp() lands */
extern __thread unsigned poison_unwind_rcu_depth;
/*
 * Looking up or translating the next TB, the vCPU between two insns;
 * cflags_next_tb as it was before
 */
extern __thread bool poison_unwind_between_tbs;
extern __thread uint32_t poison_unwind_cflags;

/* Before the vCPU loop's sigsetjmp() */
static inline void poison_unwind_set_landing(void)
{
    poison_unwind_rcu_depth = get_ptr_rcu_reader()->depth;
}

/* The next TB is looked up, or translated; @cflags_next_tb as it was */
static inline void poison_unwind_tb_lookup_begin(uint32_t cflags_next_tb)
{
    poison_unwind_cflags = cflags_next_tb;
    poison_unwind_between_tbs = true;
}

static inline void poison_unwind_tb_lookup_end(void)
{
    poison_unwind_between_tbs = false;
}

/* At the landing of the vCPU loop's sigsetjmp() */
void poison_unwind_landed(void);

/* A TCG vCPU thread starts */
void poison_unwind_init_thread(void);

/*
 * @cpu, a TCG vCPU, consumed host poison in the code at @uctx's PC (a
 * signal's context): if it can, restore @cpu's state to the guest
 * instruction that made the access and go back to its CPU loop, not
 * returning.  Returns if it cannot.
 */
void poison_unwind(CPUState *cpu, void *uctx);

#else

static inline void poison_unwind_set_landing(void)
{
}

static inline void poison_unwind_tb_lookup_begin(uint32_t cflags_next_tb)
{
}

static inline void poison_unwind_tb_lookup_end(void)
{
}

static inline void poison_unwind_landed(void)
{
}

#endif
#endif
