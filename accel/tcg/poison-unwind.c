/*
 * A TCG vCPU that consumed host poison, unwound to its CPU loop
 *
 * Real poison faults every time it is read.  A vCPU thread that returns
 * from the SIGBUS handler runs the faulting load again, and faults again,
 * before the error can be processed: it must instead leave the access,
 * at the guest instruction that made it.  The error is then processed
 * before the vCPU runs again (memory_failure_vcpu_check()), the page
 * traps from then on, and the instruction, retried, fails the way its
 * architecture defines (arm64: an external abort on the access or on
 * the table walk; x86: a machine check).
 *
 * Where the thread can stand when it faults, and how it leaves:
 * - in a TB: the state is restored from the host PC;
 * - in QEMU's code a TB called (the TLB's slow path, the page-table
 *   walker, a helper with a host pointer): the state is restored from
 *   the call's return address into the TB, found on the stack;
 * - translating a TB (fetching guest code): nothing of the guest
 *   instruction ran, and the landing discards the TB being built.
 * Anywhere else (device code run on the vCPU's thread with the BQL held,
 * which must not be left halfway; interrupt delivery) it is not unwound:
 * it refaults until QEMU stops in order (memory-failure.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "exec/cpu-common.h"
#include "hw/core/cpu.h"
#include "tcg/tcg.h"
#include "tcg/insn-start-words.h"
#include "accel/tcg/poison-unwind.h"
#include "tb-internal.h"
#include "trace.h"

__thread uintptr_t poison_unwind_tb_frame;
__thread uintptr_t poison_unwind_ldst_ra;
__thread unsigned poison_unwind_rcu_depth;

/* The signal context's PC and stack pointer: the only per-host detail */
static bool host_pc_sp(void *uctx, uintptr_t *pc, uintptr_t *sp)
{
#if defined(__x86_64__)
    *pc = ((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RIP];
    *sp = ((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RSP];
    return true;
#elif defined(__aarch64__)
    *pc = ((ucontext_t *)uctx)->uc_mcontext.pc;
    *sp = ((ucontext_t *)uctx)->uc_mcontext.sp;
    return true;
#else
    return false;
#endif
}

/* Whether @ra is a return address into a TB, within a guest insn's code */
static bool in_tb_after_insn_start(CPUState *cpu, uintptr_t ra)
{
    uint64_t data[INSN_START_WORDS];

    return ra > GETPC_ADJ && cpu_unwind_state_data(cpu, ra, data);
}

/*
 * The return address to restore the vCPU from, for code the running TB
 * called that faulted with stack pointer @sp.
 *
 * The call's own return address is the highest word below cpu_tb_exec()'s
 * frame that points into a TB other than at its start: above it lie
 * cpu_tb_exec()'s locals (the TB's start) and TCG's frame (guest values);
 * below it, the frames of what the TB called, which may keep older
 * return addresses: so the scan starts at the top.  A helper called from
 * a guest insn's code returns there.  The slow path of a load or store is
 * called from code TCG places after the insns', which no insn's state
 * can be restored from: its lookup (mmu_lookup()) left the address of
 * the insn that made the access.  The scan reads whatever the stack
 * holds, AddressSanitizer's red zones included.
 */
static uintptr_t __attribute__((no_sanitize_address))
tb_return_address(CPUState *cpu, uintptr_t sp, const char **where)
{
    uintptr_t top = poison_unwind_tb_frame & ~(sizeof(uintptr_t) - 1);
    uintptr_t *p, ldst = poison_unwind_ldst_ra;
    TranslationBlock *tb;

    if (!top || sp >= top) {
        return 0;
    }
    for (p = (uintptr_t *)top - 1; (uintptr_t)p >= sp; p--) {
        tb = tcg_tb_lookup(*p);
        if (!tb || *p == (uintptr_t)tb->tc.ptr) {
            continue;
        }
        if (in_tb_after_insn_start(cpu, *p)) {
            *where = "helper";
            return *p;
        }
        *where = "slow-path";
        return tcg_tb_lookup(ldst) == tb &&
               in_tb_after_insn_start(cpu, ldst) ? ldst : 0;
    }
    return 0;
}

/* Leave the access: back to the landing of the vCPU loop's sigsetjmp() */
static G_NORETURN void unwind(CPUState *cpu)
{
    sigset_t set;

    /* Read-side sections the faulting code was in end here */
    while (get_ptr_rcu_reader()->depth > poison_unwind_rcu_depth) {
        rcu_read_unlock();
    }
    poison_unwind_tb_frame = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGBUS);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    qatomic_set(&cpu->exit_request, true);
    cpu_loop_exit_noexc(cpu);
}

void poison_unwind(CPUState *cpu, void *uctx)
{
    uintptr_t pc, sp, ra;
    const char *where;

    if (!uctx || !cpu->running || bql_locked() ||
        !host_pc_sp(uctx, &pc, &sp)) {
        return;
    }
    /* The signal's PC is the load's, not a return address */
    if (in_tb_after_insn_start(cpu, pc + GETPC_ADJ)) {
        trace_poison_unwind(cpu->cpu_index, "tb", pc);
        cpu_restore_state(cpu, pc + GETPC_ADJ);
        unwind(cpu);
    }
    if (tcg_ctx && tcg_ctx->gen_tb) {
        trace_poison_unwind(cpu->cpu_index, "translation", pc);
        unwind(cpu);
    }
    ra = tb_return_address(cpu, sp, &where);
    if (ra) {
        trace_poison_unwind(cpu->cpu_index, where, ra);
        cpu_restore_state(cpu, ra);
        unwind(cpu);
    }
}
