/*
 * x86: reporting host memory failures to the guest as machine checks
 *
 * Action-required errors become an SRAR machine check on the vCPU that
 * consumed the poison, action-optional ones an SRAO machine check (AMD:
 * uncorrected or deferred error with the poison bit).  Under TCG an
 * action-required error is raised when the vCPU touches the poisoned
 * page, never at some unrelated point of its execution.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "cpu.h"
#include "system/hw_accel.h"
#include "system/kvm.h"
#include "system/memory-failure.h"
#include "system/runstate.h"
#include "trace.h"

/* The bank QEMU reports memory errors in; the others are left alone */
#define X86_MF_BANK     9

typedef struct X86MceParams {
    hwaddr gpa;
    bool ar;
    bool broadcast_target;      /* only signal MCIP, the error is elsewhere */
    MemoryFailureAction action;
    bool recursive;
} X86MceParams;

static void x86_mf_deliver(CPUState *cs, run_on_cpu_data data)
{
    X86MceParams *p = data.host_ptr;
    CPUX86State *env = cpu_env(cs);
    int bank = p->broadcast_target ? 1 : X86_MF_BANK;
    uint64_t *b = env->mce_banks + 4 * bank;
    uint64_t status = MCI_STATUS_VAL | MCI_STATUS_UC | MCI_STATUS_EN;
    uint64_t mcg_status = MCG_STATUS_MCIP | MCG_STATUS_RIPV;
    const char *why = NULL;

    cpu_synchronize_state(cs);
    p->recursive = env->mcg_status & MCG_STATUS_MCIP;

    if (!p->broadcast_target) {
        status |= MCI_STATUS_MISCV | MCI_STATUS_ADDRV;
        if (IS_AMD_CPU(env)) {
            status |= MCI_STATUS_POISON |
                      (p->ar ? 0 : MCI_STATUS_DEFERRED);
            if (!p->ar) {
                status &= ~MCI_STATUS_UC;
            }
        } else {
            status |= MCI_STATUS_S | (p->ar ? MCI_STATUS_AR | 0x134 : 0xc0);
        }
        if (p->ar) {
            mcg_status |= MCG_STATUS_EIPV;
        }
        if (env->mcg_ext_ctl & MCG_EXT_CTL_LMCE_EN) {
            mcg_status |= MCG_STATUS_LMCE;
        }
    }

    if (!(env->mcg_cap & MCG_SER_P)) {
        p->action = MEMORY_FAILURE_ACTION_IGNORE;
        why = "the CPU model has no software error recovery (MCG_SER_P)";
    } else if ((env->mcg_cap & MCG_CTL_P) && env->mcg_ctl != ~0ull) {
        p->action = MEMORY_FAILURE_ACTION_IGNORE;
        why = "the guest disabled uncorrected error reporting (MCG_CTL)";
    } else if (b[0] != ~0ull) {
        p->action = MEMORY_FAILURE_ACTION_IGNORE;
        why = "the guest disabled the reporting bank (MCi_CTL)";
    } else if (!p->ar && p->recursive) {
        /* Action-optional: the guest loses nothing by not hearing it now */
        p->action = MEMORY_FAILURE_ACTION_IGNORE;
        why = "a machine check is in progress";
    } else if (p->ar && p->recursive && (b[1] & MCI_STATUS_VAL) &&
               b[2] == p->gpa) {
        /*
         * The same poison touched again before the guest took the first
         * machine check (one instruction, several accesses): one is it.
         */
        p->action = MEMORY_FAILURE_ACTION_INJECT;
        trace_x86_mf_coalesced(cs->cpu_index, p->gpa);
        return;
    } else if (!p->ar && !(env->cr[4] & CR4_MCE_MASK)) {
        p->action = MEMORY_FAILURE_ACTION_IGNORE;
        why = "MCE not enabled by the guest (CR4.MCE clear)";
    } else if (!(env->cr[4] & CR4_MCE_MASK)) {
        /* The architecture turns a machine check into a shutdown here */
        p->action = MEMORY_FAILURE_ACTION_RESET;
        why = "MCE not enabled by the guest (CR4.MCE clear)";
    } else if (p->recursive) {
        p->action = MEMORY_FAILURE_ACTION_RESET;
        why = "MCE already in progress";
    }
    if (why) {
        trace_x86_mf_not_delivered(cs->cpu_index, p->gpa, why);
        if (p->broadcast_target) {
            return;
        }
        if (p->action == MEMORY_FAILURE_ACTION_RESET) {
            qemu_log_mask(CPU_LOG_RESET, "CPU %d: %s: triple fault\n",
                          cs->cpu_index, why);
            qemu_system_reset_request(SHUTDOWN_CAUSE_GUEST_RESET);
        } else {
            warn_report("memory error at guest address 0x%" HWADDR_PRIx
                        " not reported to the guest: %s", p->gpa, why);
        }
        return;
    }

    if (b[1] & MCI_STATUS_VAL) {
        status |= MCI_STATUS_OVER;
    }
    b[2] = p->broadcast_target ? 0 : p->gpa;
    b[3] = p->broadcast_target ? 0 : (MCM_ADDR_PHYS << 6) | 0xc;
    env->mcg_status = mcg_status;
    b[1] = status;
    cpu_interrupt(cs, CPU_INTERRUPT_MCE);
    p->action = MEMORY_FAILURE_ACTION_INJECT;
    trace_x86_mf_delivered(cs->cpu_index, p->gpa, status, mcg_status);
}

static void x86_mf_deliver_broadcast(CPUState *cs, run_on_cpu_data data)
{
    X86MceParams p = { .broadcast_target = true };

    x86_mf_deliver(cs, RUN_ON_CPU_HOST_PTR(&p));
}

static MemoryFailureAction x86_mf_mce(CPUState *cs, hwaddr gpa, bool ar,
                                      bool *recursive)
{
    X86MceParams p = { .gpa = gpa, .ar = ar };
    CPUX86State *env = cpu_env(cs);
    CPUState *other;

    run_on_cpu(cs, x86_mf_deliver, RUN_ON_CPU_HOST_PTR(&p));
    *recursive = p.recursive;
    /*
     * Without local MCE an Intel guest waits for every CPU to join the
     * machine check (Linux: whatever the model), so every CPU gets one.
     */
    if (p.action == MEMORY_FAILURE_ACTION_INJECT &&
        !(env->mcg_status & MCG_STATUS_LMCE) && IS_INTEL_CPU(env)) {
        CPU_FOREACH(other) {
            if (other != cs) {
                async_run_on_cpu(other, x86_mf_deliver_broadcast,
                                 RUN_ON_CPU_HOST_PTR(NULL));
            }
        }
    }
    return p.action;
}

static MemoryFailureAction x86_mf_report(CPUState *cs, hwaddr gpa,
                                         uint64_t size, bool ar,
                                         bool *recursive)
{
    if (!ar) {
        return x86_mf_mce(first_cpu, gpa, false, recursive);
    }
    if (kvm_enabled()) {
        return x86_mf_mce(cs, gpa, true, recursive);
    }
    /* TCG: the machine check is raised when the page is touched */
    return MEMORY_FAILURE_ACTION_INJECT;
}

static void x86_mf_consumed(CPUState *cs, hwaddr gpa, uint64_t size)
{
    bool recursive;

    x86_mf_mce(cs ? cs : first_cpu, gpa, cs != NULL, &recursive);
}

static const MemoryFailureArchOps x86_mf_ops = {
    .report = x86_mf_report,
    .consumed = x86_mf_consumed,
};

static void x86_mf_register(void)
{
    memory_failure_register_arch(&x86_mf_ops);
}

type_init(x86_mf_register)
