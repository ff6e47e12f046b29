/*
 * x86: raising a machine check on a vCPU
 *
 * The one way QEMU raises a machine check: for host memory errors
 * (memory-failure.c decides when) and for HMP's "mce" command.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "cpu.h"
#include "monitor/monitor.h"
#include "system/hw_accel.h"
#include "system/runstate.h"
#include "target/i386/mce-inject.h"
#include "trace.h"

X86MceRaised x86_mce_raise(CPUState *cs, const X86Mce *mce, const char **why)
{
    CPUX86State *env = cpu_env(cs);
    uint64_t *bank = env->mce_banks + 4 * mce->bank;
    uint64_t status = mce->status;

    *why = NULL;
    if (status && !(status & MCI_STATUS_UC)) {
        /* Corrected: logged in the bank, unless it holds an uncorrected */
        if (bank[1] & MCI_STATUS_VAL && bank[1] & MCI_STATUS_UC) {
            bank[1] |= MCI_STATUS_OVER;
        } else {
            bank[2] = mce->addr;
            bank[3] = mce->misc;
            bank[1] = status | (bank[1] & MCI_STATUS_VAL ? MCI_STATUS_OVER
                                                        : 0);
        }
        trace_x86_mce_raised(cs->cpu_index, mce->bank, bank[1],
                             env->mcg_status, false);
        return X86_MCE_LOGGED;
    }
    if ((env->mcg_cap & MCG_CTL_P) && env->mcg_ctl != ~0ull) {
        *why = "the guest disabled uncorrected error reporting (MCG_CTL)";
        return X86_MCE_DISABLED;
    }
    if (status && bank[0] != ~0ull) {
        *why = "the guest disabled the reporting bank (MCi_CTL)";
        return X86_MCE_DISABLED;
    }
    if (!(env->cr[4] & CR4_MCE_MASK)) {
        *why = "MCE not enabled by the guest (CR4.MCE clear)";
    } else if (env->mcg_status & MCG_STATUS_MCIP) {
        *why = "a machine check is still in progress (MCG_STATUS.MCIP)";
    }
    if (*why) {
        /* What the architecture does: shutdown, which QEMU resets */
        qemu_log_mask(CPU_LOG_RESET, "CPU %d: %s: triple fault\n",
                      cs->cpu_index, *why);
        qemu_system_reset_request(SHUTDOWN_CAUSE_GUEST_RESET);
        return X86_MCE_SHUTDOWN;
    }
    if (status) {
        if (bank[1] & MCI_STATUS_VAL) {
            status |= MCI_STATUS_OVER;
        }
        bank[2] = mce->addr;
        bank[3] = mce->misc;
        bank[1] = status;
    }
    env->mcg_status = mce->mcg_status;
    cpu_interrupt(cs, CPU_INTERRUPT_MCE);
    trace_x86_mce_raised(cs->cpu_index, mce->bank, status, mce->mcg_status,
                         true);
    return X86_MCE_RAISED;
}

typedef struct HmpMce {
    Monitor *mon;
    X86Mce mce;
} HmpMce;

static void hmp_mce_on_vcpu(CPUState *cs, run_on_cpu_data data)
{
    HmpMce *m = data.host_ptr;
    const char *why;

    cpu_synchronize_state(cs);
    if (x86_mce_raise(cs, &m->mce, &why) >= X86_MCE_DISABLED) {
        monitor_printf(m->mon, "CPU %d: %s\n", cs->cpu_index, why);
    }
}

/* HMP "mce": the command's checks, then x86_mce_raise() */
void cpu_x86_inject_mce(Monitor *mon, X86CPU *cpu, int bank,
                        uint64_t status, uint64_t mcg_status, uint64_t addr,
                        uint64_t misc, int flags)
{
    CPUState *cs = CPU(cpu);
    CPUX86State *env = &cpu->env;
    HmpMce m = {
        .mon = mon,
        .mce = { bank, status, mcg_status, addr, misc },
    };
    CPUState *other;

    if (!env->mcg_cap) {
        monitor_printf(mon, "MCE injection not supported\n");
        return;
    }
    if (bank < 0 || bank >= (env->mcg_cap & 0xff)) {
        monitor_printf(mon, "Invalid MCE bank number\n");
        return;
    }
    if (!(status & MCI_STATUS_VAL)) {
        monitor_printf(mon, "Invalid MCE status code\n");
        return;
    }
    if ((flags & MCE_INJECT_BROADCAST) &&
        !cpu_x86_support_mca_broadcast(env)) {
        monitor_printf(mon, "Guest CPU does not support MCA broadcast\n");
        return;
    }
    run_on_cpu(cs, hmp_mce_on_vcpu, RUN_ON_CPU_HOST_PTR(&m));
    if (!(flags & MCE_INJECT_BROADCAST)) {
        return;
    }
    /* The others join it: in the handler, with no error of their own */
    m.mce = (X86Mce) {
        .bank = 1,
        .mcg_status = MCG_STATUS_MCIP | MCG_STATUS_RIPV,
    };
    CPU_FOREACH(other) {
        if (other != cs) {
            run_on_cpu(other, hmp_mce_on_vcpu, RUN_ON_CPU_HOST_PTR(&m));
        }
    }
}
