/*
 * x86: reporting host memory failures to the guest as machine checks
 *
 * Action-required errors become an SRAR machine check on the vCPU that
 * consumed the poison, action-optional ones an SRAO machine check (AMD:
 * uncorrected or deferred error with the poison bit).  Under TCG an
 * action-required error is raised when the vCPU touches the poisoned
 * page, never at some unrelated point of its execution.  A machine check
 * that finds the guest still in the previous one waits for it to finish.
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
#include "system/reset.h"
#include "system/runstate.h"
#include "qemu/timer.h"
#include "trace.h"

/* The bank QEMU reports memory errors in; the others are left alone */
#define X86_MF_BANK     9

typedef struct X86MceParams {
    hwaddr gpa;
    bool ar;
    bool broadcast_target;      /* only signal MCIP, the error is elsewhere */
    MemoryFailureAction action;
    bool recursive;
    bool held;                  /* MCIP was set: not delivered yet */
} X86MceParams;

/*
 * Machine checks wait here while the guest is still handling one on
 * that CPU (MCG_STATUS.MCIP): delivering then would shut the CPU down.
 * Nothing tells QEMU when the guest clears MCIP (a plain MSR write, not
 * even an exit under KVM), so a timer looks every millisecond, and only
 * while something waits.
 */
#define X86_MF_HOLD_MAX     1024
#define X86_MF_RETRY_NS     (1 * SCALE_MS)

typedef struct X86HeldMce {
    int cpu_index;
    hwaddr gpa;
    bool ar;
} X86HeldMce;

static GQueue held = G_QUEUE_INIT;
static QEMUTimer *retry_timer;

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
    } else if (p->recursive && !p->broadcast_target) {
        /* Delivered once the guest is done with the one in progress */
        p->held = true;
        p->action = MEMORY_FAILURE_ACTION_INJECT;
        trace_x86_mf_held(cs->cpu_index, p->gpa);
        return;
    } else if (p->recursive) {
        /* A broadcast finds this CPU in a machine check already: enough */
        return;
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

/* Deliver on @cs now, or report in *@held that it must wait */
static void x86_mf_deliver_broadcast(CPUState *cs, run_on_cpu_data data)
{
    X86MceParams b = { .broadcast_target = true };

    x86_mf_deliver(cs, RUN_ON_CPU_HOST_PTR(&b));
}

static void x86_mf_read_mcg_status(CPUState *cs, run_on_cpu_data data)
{
    cpu_synchronize_state(cs);
    *(uint64_t *)data.host_ptr = cpu_env(cs)->mcg_status;
}

/*
 * Without local MCE an Intel guest makes every CPU join a machine check
 * (Linux: whatever the model), so every CPU must get one, at once, and
 * none may still be in the previous one.
 */
static bool x86_mf_broadcast(CPUState *cs)
{
    CPUX86State *env = cpu_env(cs);

    return IS_INTEL_CPU(env) && !(env->mcg_ext_ctl & MCG_EXT_CTL_LMCE_EN) &&
           CPU_NEXT(first_cpu);
}

static bool x86_mf_any_in_mce(void)
{
    CPUState *cs;

    CPU_FOREACH(cs) {
        uint64_t mcg_status;

        run_on_cpu(cs, x86_mf_read_mcg_status,
                   RUN_ON_CPU_HOST_PTR(&mcg_status));
        if (mcg_status & MCG_STATUS_MCIP) {
            return true;
        }
    }
    return false;
}

/* Deliver on @cs now, or report in *@held that it must wait */
static MemoryFailureAction x86_mf_try(CPUState *cs, hwaddr gpa, bool ar,
                                      bool *recursive, bool *held)
{
    X86MceParams p = { .gpa = gpa, .ar = ar };
    CPUState *other;
    bool broadcast = x86_mf_broadcast(cs);

    /* From the main loop: wait until no CPU is in a machine check */
    if (broadcast && !current_cpu && x86_mf_any_in_mce()) {
        *recursive = true;
        *held = true;
        trace_x86_mf_held(cs->cpu_index, gpa);
        return MEMORY_FAILURE_ACTION_INJECT;
    }
    run_on_cpu(cs, x86_mf_deliver, RUN_ON_CPU_HOST_PTR(&p));
    *recursive = p.recursive;
    *held = p.held;
    if (p.held || p.action != MEMORY_FAILURE_ACTION_INJECT || !broadcast) {
        return p.action;
    }
    CPU_FOREACH(other) {
        if (other == cs) {
            continue;
        }
        if (current_cpu) {
            /*
             * A vCPU that touched poison takes its machine check at once,
             * at the access; it cannot wait for the others, they join
             * as soon as they can.
             */
            async_run_on_cpu(other, x86_mf_deliver_broadcast,
                             RUN_ON_CPU_NULL);
        } else {
            X86MceParams b = { .broadcast_target = true };

            run_on_cpu(other, x86_mf_deliver, RUN_ON_CPU_HOST_PTR(&b));
        }
    }
    return p.action;
}

static void x86_mf_retry(void *opaque)
{
    while (!g_queue_is_empty(&held)) {
        X86HeldMce *h = g_queue_peek_head(&held);
        CPUState *cs = qemu_get_cpu(h->cpu_index);
        bool recursive, still_held = false;

        if (cs) {
            x86_mf_try(cs, h->gpa, h->ar, &recursive, &still_held);
        }
        if (still_held) {
            timer_mod(retry_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                                   X86_MF_RETRY_NS);
            return;
        }
        trace_x86_mf_released(h->cpu_index, h->gpa,
                              g_queue_get_length(&held) - 1);
        g_free(g_queue_pop_head(&held));
    }
}

static void x86_mf_reset(void *opaque)
{
    /* The memory they were about was replaced at reset */
    g_queue_clear_full(&held, g_free);
    if (retry_timer) {
        timer_del(retry_timer);
    }
}

static MemoryFailureAction x86_mf_mce(CPUState *cs, hwaddr gpa, bool ar,
                                      bool *recursive)
{
    MemoryFailureAction action;
    X86HeldMce *h;
    bool is_held;

    /* Behind others already waiting: keep the order */
    if (!g_queue_is_empty(&held)) {
        *recursive = true;
        is_held = true;
        action = MEMORY_FAILURE_ACTION_INJECT;
    } else {
        action = x86_mf_try(cs, gpa, ar, recursive, &is_held);
    }
    if (!is_held) {
        return action;
    }
    for (GList *l = held.head; l; l = l->next) {
        h = l->data;
        if (h->cpu_index == cs->cpu_index && h->gpa == gpa && h->ar == ar) {
            /* The same poison touched again while it waits: once is it */
            return action;
        }
    }
    if (g_queue_get_length(&held) >= X86_MF_HOLD_MAX) {
        warn_report("memory error at guest address 0x%" HWADDR_PRIx
                    " not reported to the guest: %u machine checks are "
                    "already waiting", gpa, X86_MF_HOLD_MAX);
        return MEMORY_FAILURE_ACTION_IGNORE;
    }
    h = g_new(X86HeldMce, 1);
    h->cpu_index = cs->cpu_index;
    h->gpa = gpa;
    h->ar = ar;
    g_queue_push_tail(&held, h);
    if (!retry_timer) {
        retry_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, x86_mf_retry, NULL);
        qemu_register_reset(x86_mf_reset, NULL);
    }
    if (!timer_pending(retry_timer)) {
        timer_mod(retry_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                               X86_MF_RETRY_NS);
    }
    return action;
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
