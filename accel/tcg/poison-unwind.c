/*
 * A TCG vCPU that consumed host poison, taken back to its CPU loop
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Real poison faults every time it is read.  A vCPU thread that returns
 * from the SIGBUS handler runs the faulting load again, and faults again,
 * before the error can be processed: it must instead leave the access, at
 * the guest instruction that made it.  The error is then processed before
 * the vCPU runs again (memory_failure_vcpu_check()), the page traps from
 * then on, and the instruction, retried, fails the way its architecture
 * defines (arm64: an external abort on the access or on the table walk;
 * x86: a machine check).
 *
 * Where the thread may have faulted, and what it restores:
 * - in a TB: the state at the guest instruction of the signal's PC;
 * - in QEMU's code a TB called (a helper with a host pointer, the
 *   page-table walker): the state at the instruction the call returns
 *   to, the first return address into generated code that the host's
 *   unwinder finds above the fault;
 * - in the TLB's slow path, which TCG calls from code it places after
 *   the instructions' (no instruction's state is known there): the
 *   instruction mmu_lookup() recorded;
 * - looking up or translating the next TB (fetching guest code, walking
 *   page tables for it), in the CPU loop or in helper_lookup_tb_ptr():
 *   nothing, the vCPU is between two instructions.
 * Anywhere else (device code run on the vCPU's thread with the BQL held,
 * which must not be left halfway; interrupt delivery) it is not taken
 * back: it refaults until QEMU stops in order (memory-failure.c).
 */

#include "qemu/osdep.h"
#include <unwind.h>
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "exec/cpu-common.h"
#include "hw/core/cpu.h"
#include "tcg/tcg.h"
#include "tcg/insn-start-words.h"
#include "accel/tcg/poison-unwind.h"
#include "tb-internal.h"
#include "trace.h"

__thread uintptr_t poison_unwind_ldst_ra;
__thread unsigned poison_unwind_rcu_depth;
__thread bool poison_unwind_between_tbs;
__thread uint32_t poison_unwind_cflags;

/* What was taken back, traced once landed: not from the signal handler */
static __thread const char *landed_from;
static __thread uintptr_t landed_pc;

/* Unwinding stops here: far deeper than any helper's calls */
#define MAX_FRAMES 64

/* The signal context's PC: the only per-host detail */
static uintptr_t host_pc(void *uctx)
{
#if defined(__x86_64__)
    return ((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return ((ucontext_t *)uctx)->uc_mcontext.pc;
#else
    return 0;
#endif
}

/* Whether @ra, a return address into a TB, is in a guest insn's code */
static bool host_pc_in_insn(CPUState *cpu, uintptr_t ra)
{
    uint64_t data[INSN_START_WORDS];

    return ra > GETPC_ADJ && cpu_unwind_state_data(cpu, ra, data);
}

typedef struct TbCall {
    uintptr_t fault_pc;         /* the signal's PC */
    bool past_fault;            /* the faulting frame was seen */
    uintptr_t ra;               /* then the first return address into a TB */
    int frames;
} TbCall;

/*
 * Frames from the handler up.  Those above the faulting one count only
 * once it was seen where the signal says: an unwinder that misread the
 * signal frame would report garbage.
 */
static _Unwind_Reason_Code find_tb_call(struct _Unwind_Context *ctx,
                                        void *opaque)
{
    TbCall *call = opaque;
    int before_insn = 0;
    uintptr_t ip = _Unwind_GetIPInfo(ctx, &before_insn);

    if (!call->past_fault) {
        call->past_fault = before_insn && ip == call->fault_pc;
    } else if (tcg_tb_lookup(ip - !before_insn)) {
        /* A return address may be a TB's end (a call that never returns) */
        call->ra = ip;
        return _URC_END_OF_STACK;
    }
    return ++call->frames < MAX_FRAMES ? _URC_NO_REASON : _URC_END_OF_STACK;
}

static _Unwind_Reason_Code stop_at_once(struct _Unwind_Context *ctx,
                                        void *opaque)
{
    return _URC_END_OF_STACK;
}

void poison_unwind_init_thread(void)
{
    /* Its first use sets the unwinder up: not in a signal handler */
    _Unwind_Backtrace(stop_at_once, NULL);
}

/* Back to the landing of the vCPU loop's sigsetjmp() */
static G_NORETURN void take_back(CPUState *cpu, const char *from,
                                 uintptr_t pc)
{
    sigset_t set;

    /* Read-side sections the faulting code was in end here */
    while (get_ptr_rcu_reader()->depth > poison_unwind_rcu_depth) {
        rcu_read_unlock();
    }
    landed_from = from;
    landed_pc = pc;
    sigemptyset(&set);
    sigaddset(&set, SIGBUS);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    qatomic_set(&cpu->exit_request, true);
    cpu_loop_exit_noexc(cpu);
}

static G_NORETURN void take_back_restored(CPUState *cpu, const char *from,
                                          uintptr_t ra)
{
    cpu_restore_state(cpu, ra);
    take_back(cpu, from, ra);
}

/* Between two TBs: flags the next one took are given back */
static G_NORETURN void take_back_between(CPUState *cpu, const char *from,
                                         uintptr_t pc)
{
    cpu->cflags_next_tb = poison_unwind_cflags;
    take_back(cpu, from, pc);
}

void poison_unwind(CPUState *cpu, void *uctx)
{
    uintptr_t pc = uctx ? host_pc(uctx) : 0;
    uintptr_t ldst = poison_unwind_ldst_ra;
    TbCall call = { .fault_pc = pc };
    TranslationBlock *tb;

    if (!pc || !cpu->running || bql_locked()) {
        return;
    }
    /* The signal's PC is the load's, not a return address */
    if (host_pc_in_insn(cpu, pc + GETPC_ADJ)) {
        take_back_restored(cpu, "generated code", pc + GETPC_ADJ);
    }
    if (poison_unwind_between_tbs) {
        take_back_between(cpu, "the next TB's lookup", pc);
    }
    if (tcg_ctx && tcg_ctx->gen_tb) {
        take_back(cpu, "translation", pc);
    }
    _Unwind_Backtrace(find_tb_call, &call);
    tb = call.ra ? tcg_tb_lookup(call.ra - 1) : NULL;
    if (tb && host_pc_in_insn(cpu, call.ra)) {
        take_back_restored(cpu, "a helper", call.ra);
    }
    if (tb && tcg_tb_lookup(ldst) == tb && host_pc_in_insn(cpu, ldst)) {
        take_back_restored(cpu, "the slow path", ldst);
    }
}

void poison_unwind_landed(void)
{
    CPUState *cpu = current_cpu;

    poison_unwind_between_tbs = false;
    if (landed_from && cpu) {
        trace_poison_unwind(cpu->cpu_index, landed_from, landed_pc);
        landed_from = NULL;
    }
}
