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
#include "qemu/units.h"
#include "qemu/log.h"
#include "cpu.h"
#include "system/hw_accel.h"
#include "system/kvm.h"
#include "system/memory-failure.h"
#include "system/guest-progress.h"
#include "system/poison-trap.h"
#include "system/reset.h"
#include "system/runstate.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "qapi/qapi-events-ras.h"
#include "hw/boards.h"
#include "system/system.h"
#include "hw/qdev-core.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "trace.h"

/*
 * The bank QEMU reports memory errors in.  AMD's deferred errors wait in
 * the other banks (but 4, which Linux treats as the northbridge's) until
 * the guest polls them, once a second at best: every bank of every CPU
 * may hold one, and an action-required error must not find one in its
 * bank (it would overflow it).
 */
#define X86_MF_BANK             9
static const int x86_mf_deferred_banks[] = { 8, 7, 6, 5, 3, 2, 1, 0 };

typedef struct X86MceParams {
    hwaddr gpa;
    bool ar;
    bool broadcast_target;      /* only signal MCIP, the error is elsewhere */
    MemoryFailureAction action;
    bool recursive;
    bool held;                  /* MCIP was set: not delivered yet */
    bool preempted;             /* an action-optional one was not taken */
    hwaddr preempted_gpa;       /* yet: it goes back to the queue */
} X86MceParams;

/*
 * Machine checks wait in the x86-mce-queue device while the guest is
 * still handling one (MCG_STATUS.MCIP): delivering then would shut the
 * CPU down.  Nothing tells QEMU when the guest clears MCIP (a plain MSR
 * write, not even an exit under KVM), so a timer looks every millisecond,
 * and only while something waits.
 *
 * Action-optional machine checks are also paced by the guest.  Linux
 * logs each one in a small pool (32 records) that a worker drains later;
 * delivered back to back, they overflow it (lost errors) and keep a CPU
 * in its machine check handler.  The next one goes in once every CPU is
 * idle (halted: the guest has run every pending worker), or, for a guest
 * that does not idle, after a wait that doubles while it stays busy.
 * Action-required ones are never paced: the vCPU is at the access.
 */
#define X86_MF_RETRY_NS         (1 * SCALE_MS)
#define X86_MF_DEFERRED_RETRY_NS (100 * SCALE_MS)
#define X86_MF_AO_MIN_GAP_NS    (1 * SCALE_MS)
#define X86_MF_AO_BUSY_GAP_NS   (20 * SCALE_MS)
#define X86_MF_AO_BUSY_GAP_MAX  (320 * SCALE_MS)

#define TYPE_X86_MCE_QUEUE "x86-mce-queue"
OBJECT_DECLARE_SIMPLE_TYPE(X86MceQueue, X86_MCE_QUEUE)

typedef struct X86HeldMce {
    int32_t cpu_index;
    uint64_t gpa;
    bool ar;
} X86HeldMce;

struct X86MceQueue {
    DeviceState parent_obj;

    uint32_t size;              /* property: bound of @held */
    GQueue held;                /* X86HeldMce, oldest first */
    QEMUTimer *timer;
    int64_t last_ao_ns;         /* QEMU_CLOCK_VIRTUAL */
    int64_t busy_gap_ns;
    uint64_t delivered;
    uint64_t dropped;

    /* @held, flattened for migration */
    X86HeldMce *mig;
    int32_t nr_mig;
};

static X86MceQueue *x86_mce_queue(void)
{
    static X86MceQueue *q;

    if (!q) {
        q = X86_MCE_QUEUE(object_resolve_path_type("", TYPE_X86_MCE_QUEUE,
                                                   NULL));
    }
    return q;
}

static void x86_mf_retry_later(X86MceQueue *q)
{
    if (!timer_pending(q->timer)) {
        timer_mod(q->timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                            X86_MF_RETRY_NS);
    }
}

/*
 * Linux clears MCIP at the end of its handler but returns from it later,
 * on the same exception stack, with interrupts off: a machine check
 * taken in between overwrites that stack.  An action-optional one waits
 * until the CPU has interrupts enabled (or sleeps); the vCPU that touched
 * poison cannot wait.
 */
static bool x86_mf_in_handler(CPUX86State *env)
{
    return !(env->eflags & IF_MASK) && !env_cpu(env)->halted;
}

/*
 * AMD reports an error found but not consumed as a deferred error, which
 * Linux takes from the bank when it polls (machine_check_poll, every
 * check_interval: 5 minutes at first, more often while it finds errors);
 * in a machine check Linux would ignore it.  One waits in the bank until
 * the guest has taken the one before.
 */
static void x86_mf_deliver_deferred(CPUState *cs, X86MceParams *p)
{
    CPUX86State *env = cpu_env(cs);
    unsigned nr_banks = env->mcg_cap & 0xff;
    uint64_t status = MCI_STATUS_VAL | MCI_STATUS_EN | MCI_STATUS_MISCV |
                      MCI_STATUS_ADDRV | MCI_STATUS_POISON |
                      MCI_STATUS_DEFERRED;
    uint64_t *free_bank = NULL;
    bool enabled = false;
    int i;

    p->action = MEMORY_FAILURE_ACTION_INJECT;
    for (i = 0; i < ARRAY_SIZE(x86_mf_deferred_banks); i++) {
        uint64_t *b = env->mce_banks + 4 * x86_mf_deferred_banks[i];

        if (x86_mf_deferred_banks[i] >= nr_banks || b[0] != ~0ull) {
            continue;
        }
        enabled = true;
        if (!(b[1] & MCI_STATUS_VAL)) {
            free_bank = free_bank ? free_bank : b;
        } else if (b[2] == p->gpa) {
            trace_x86_mf_coalesced(cs->cpu_index, p->gpa);
            return;
        }
    }
    if (!enabled) {
        p->action = MEMORY_FAILURE_ACTION_IGNORE;
        trace_x86_mf_not_delivered(cs->cpu_index, p->gpa, "the guest "
                                   "disabled the banks");
        warn_report("memory error at guest address 0x%" HWADDR_PRIx
                    " not reported to the guest: it disabled the banks of "
                    "deferred errors (MCi_CTL)", p->gpa);
        return;
    }
    if (!free_bank) {
        p->held = true;
        trace_x86_mf_held(cs->cpu_index, p->gpa);
        return;
    }
    free_bank[2] = p->gpa;
    free_bank[3] = (MCM_ADDR_PHYS << 6) | 0xc;
    free_bank[1] = status;
    trace_x86_mf_delivered(cs->cpu_index, p->gpa, status, env->mcg_status);
}

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
    if (IS_AMD_CPU(env) && !p->ar && !p->broadcast_target) {
        x86_mf_deliver_deferred(cs, p);
        return;
    }
    p->recursive = env->mcg_status & MCG_STATUS_MCIP;
    if (IS_AMD_CPU(env) &&
        !(env->features[FEAT_8000_0007_EBX] & CPUID_8000_0007_EBX_SUCCOR)) {
        /* Delivered all the same, as hardware would; but say it */
        trace_x86_mf_unrecoverable(cs->cpu_index, p->gpa);
        warn_report_once("CPU %d: the CPU model has no MCA recovery (CPUID "
                         "SUCCOR): a guest cannot recover from its machine "
                         "checks for memory errors (Linux panics); use "
                         "succor=on", cs->cpu_index);
    }

    if (!p->broadcast_target) {
        status |= MCI_STATUS_MISCV | MCI_STATUS_ADDRV;
        if (IS_AMD_CPU(env)) {
            /*
             * With MCG_SER_P Linux looks only at banks with S set; the
             * poison bit is what makes the address usable (6.12).
             */
            status |= MCI_STATUS_S | MCI_STATUS_POISON;
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
    } else if (p->ar && p->recursive &&
               (cs->interrupt_request & CPU_INTERRUPT_MCE) &&
               !(b[1] & MCI_STATUS_AR)) {
        /*
         * The vCPU touched poison before taking a pending action-optional
         * machine check (or the broadcast of another CPU's): this one,
         * which cannot wait, takes its place; the other is queued again.
         */
        if (b[1] & MCI_STATUS_VAL) {
            p->preempted = true;
            p->preempted_gpa = b[2];
            b[1] = 0;
        }
        p->recursive = false;
    } else if ((p->recursive || x86_mf_in_handler(env)) &&
               !p->broadcast_target && !p->ar) {
        /* Delivered once the guest is done with the one in progress */
        p->held = true;
        p->action = MEMORY_FAILURE_ACTION_INJECT;
        trace_x86_mf_held(cs->cpu_index, p->gpa);
        return;
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
    if (why && p->ar) {
        /*
         * The vCPU is at an access it cannot complete, and the guest
         * cannot take the machine check: it would touch the poison again
         * and again.  The machine resets, as after a machine check it
         * cannot take.
         */
        p->action = MEMORY_FAILURE_ACTION_RESET;
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

    if (!p->broadcast_target) {
        if (b[1] & MCI_STATUS_VAL) {
            status |= MCI_STATUS_OVER;
        }
        b[2] = p->gpa;
        b[3] = (MCM_ADDR_PHYS << 6) | 0xc;
        b[1] = status;
    }
    env->mcg_status = mcg_status;
    cpu_interrupt(cs, CPU_INTERRUPT_MCE);
    p->action = MEMORY_FAILURE_ACTION_INJECT;
    trace_x86_mf_delivered(cs->cpu_index, p->gpa, status, mcg_status);
}

/* Join another CPU's machine check (broadcast), from that CPU's thread */
static void x86_mf_deliver_broadcast(CPUState *cs, run_on_cpu_data data)
{
    X86MceParams p = { .broadcast_target = true };

    x86_mf_deliver(cs, RUN_ON_CPU_HOST_PTR(&p));
}

static void x86_mf_read_in_mce(CPUState *cs, run_on_cpu_data data)
{
    CPUX86State *env = cpu_env(cs);

    cpu_synchronize_state(cs);
    /* Without CR4.MCE there is no handler to be in: delivery decides */
    *(bool *)data.host_ptr = (env->cr[4] & CR4_MCE_MASK) &&
                             ((env->mcg_status & MCG_STATUS_MCIP) ||
                              x86_mf_in_handler(env));
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
        bool in_mce;

        run_on_cpu(cs, x86_mf_read_in_mce, RUN_ON_CPU_HOST_PTR(&in_mce));
        if (in_mce) {
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
    if (p.preempted) {
        X86MceQueue *q = x86_mce_queue();
        X86HeldMce *h = g_new(X86HeldMce, 1);

        h->cpu_index = cs->cpu_index;
        h->gpa = p.preempted_gpa;
        h->ar = false;
        g_queue_push_head(&q->held, h);
        q->delivered--;
        trace_x86_mf_requeued(cs->cpu_index, p.preempted_gpa);
        x86_mf_retry_later(q);
    }
    if (!ar && !p.held && p.action == MEMORY_FAILURE_ACTION_INJECT) {
        x86_mce_queue()->last_ao_ns = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    }
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

/*
 * The CPU to take an action-optional machine check, if it is time: the
 * guest is idle (the worker that drains the log may run on any CPU), or
 * it has been busy for long enough.
 */
static CPUState *x86_mf_ao_target(X86MceQueue *q)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    CPUState *cs;

    if (IS_AMD_CPU(cpu_env(first_cpu))) {
        /*
         * A deferred error waits in a bank for the guest's poll.  Only the
         * first CPU's banks: seen here, a 6.1 guest never drained those of
         * its second CPU.
         */
        return first_cpu;
    }
    if (now < q->last_ao_ns + X86_MF_AO_MIN_GAP_NS) {
        return NULL;
    }
    CPU_FOREACH(cs) {
        if (!guest_progress_vcpu_idle(cs)) {
            break;
        }
    }
    if (!cs) {
        q->busy_gap_ns = X86_MF_AO_BUSY_GAP_NS;
        return first_cpu;
    }
    if (now < q->last_ao_ns + q->busy_gap_ns) {
        return NULL;
    }
    /* Still busy: maybe with the last ones; give it longer next time */
    q->busy_gap_ns = MIN(q->busy_gap_ns * 2, X86_MF_AO_BUSY_GAP_MAX);
    return first_cpu;
}

static void x86_mf_retry(void *opaque)
{
    X86MceQueue *q = opaque;

    while (!g_queue_is_empty(&q->held)) {
        X86HeldMce *h = g_queue_peek_head(&q->held);
        CPUState *cs = h->ar ? qemu_get_cpu(h->cpu_index)
                             : x86_mf_ao_target(q);
        MemoryFailureAction action = MEMORY_FAILURE_ACTION_IGNORE;
        bool recursive, still_held = !cs;

        if (cs) {
            action = x86_mf_try(cs, h->gpa, h->ar, &recursive, &still_held);
        }
        if (still_held && !h->ar && IS_AMD_CPU(cpu_env(first_cpu))) {
            /* A deferred error waits for the guest's poll: look less often */
            timer_mod(q->timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                                X86_MF_DEFERRED_RETRY_NS);
            return;
        }
        if (still_held) {
            x86_mf_retry_later(q);
            return;
        }
        /* Not necessarily the head: a requeued one may stand before it */
        g_queue_remove(&q->held, h);
        q->delivered += action == MEMORY_FAILURE_ACTION_INJECT;
        trace_x86_mf_released(h->cpu_index, h->gpa,
                              g_queue_get_length(&q->held));
        g_free(h);
    }
}

/*
 * @cs took its action-required machine check for @gpa at the access: one
 * held for it earlier (another CPU was in a machine check then) must not
 * be delivered again when that one ends, at an arbitrary instruction.
 */
static void x86_mf_unhold(X86MceQueue *q, CPUState *cs, hwaddr gpa)
{
    GList *l, *next;

    for (l = q->held.head; l; l = next) {
        X86HeldMce *h = l->data;

        next = l->next;
        if (h->ar && h->cpu_index == cs->cpu_index && h->gpa == gpa) {
            trace_x86_mf_unheld(h->cpu_index, h->gpa);
            g_queue_delete_link(&q->held, l);
            g_free(h);
        }
    }
}

/* Queue a machine check for @cs; false if the queue is full (dropped) */
static bool x86_mf_hold(X86MceQueue *q, CPUState *cs, hwaddr gpa, bool ar)
{
    X86HeldMce *h;

    for (GList *l = q->held.head; l; l = l->next) {
        h = l->data;
        if (h->cpu_index == cs->cpu_index && h->gpa == gpa && h->ar == ar) {
            /* The same poison touched again while it waits: once is it */
            return true;
        }
    }
    if (g_queue_get_length(&q->held) >= q->size) {
        q->dropped++;
        qapi_event_send_ras_queue_overflow(RAS_QUEUE_X86_MCE, false, 0,
                                           true, gpa, q->size, q->dropped);
        warn_report_once("memory error at guest address 0x%" HWADDR_PRIx
                         " not reported to the guest: %u machine checks "
                         "are already waiting", gpa, q->size);
        return false;
    }
    h = g_new(X86HeldMce, 1);
    h->cpu_index = cs->cpu_index;
    h->gpa = gpa;
    h->ar = ar;
    g_queue_push_tail(&q->held, h);
    return true;
}

static MemoryFailureAction x86_mf_mce(CPUState *cs, hwaddr gpa, bool ar,
                                      bool *recursive)
{
    X86MceQueue *q = x86_mce_queue();
    MemoryFailureAction action = MEMORY_FAILURE_ACTION_INJECT;
    CPUState *target = NULL;
    bool is_held = true;

    if (!ar && !current_cpu) {
        target = x86_mf_ao_target(q);
        cs = target ? target : first_cpu;
    }
    if (!ar && !current_cpu && !target) {
        *recursive = false;
        trace_x86_mf_paced(gpa);
    } else if (!g_queue_is_empty(&q->held) && !(ar && current_cpu == cs)) {
        /*
         * Behind others already waiting: keep the order.  Not the vCPU
         * that touched poison: it is at the access, and delivered later
         * its machine check could land anywhere (Linux panics in the
         * kernel).
         */
        *recursive = true;
    } else {
        action = x86_mf_try(cs, gpa, ar, recursive, &is_held);
    }
    if (!is_held) {
        q->delivered += action == MEMORY_FAILURE_ACTION_INJECT;
        if (ar && action == MEMORY_FAILURE_ACTION_INJECT) {
            x86_mf_unhold(q, cs, gpa);
        }
        return action;
    }
    if (!x86_mf_hold(q, cs, gpa, ar)) {
        return MEMORY_FAILURE_ACTION_IGNORE;
    }
    x86_mf_retry_later(q);
    return action;
}

static RasQueueInfo *x86_mf_queue_info(void)
{
    X86MceQueue *q = x86_mce_queue();
    RasQueueInfo *info = g_new0(RasQueueInfo, 1);

    info->queue = RAS_QUEUE_X86_MCE;
    info->size = q->size;
    info->waiting = g_queue_get_length(&q->held);
    info->delivered = q->delivered;
    info->dropped = q->dropped;
    return info;
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

static unsigned x86_mf_consumed(CPUState *cs, hwaddr gpa, uint64_t size,
                                bool intact, bool told)
{
    bool recursive;

    if (cs && intact && !(cpu_env(cs)->hflags & HF_CPL_MASK) && told) {
        /* Told already, by an earlier access of the same copy */
        return POISON_TRAP_PASS | POISON_TRAP_TOLD;
    }
    if (cs && intact && !(cpu_env(cs)->hflags & HF_CPL_MASK)) {
        /*
         * The guest kernel read it: unless that access had a fixup, an
         * action-required machine check in the kernel is fatal to Linux.
         * The data is there, so the access completes and the error waits
         * as an action-optional one.
         */
        told = x86_mf_hold(x86_mce_queue(), first_cpu, gpa, false);

        trace_x86_mf_kernel_consumed(cs->cpu_index, gpa, told);
        x86_mf_retry_later(x86_mce_queue());
        return POISON_TRAP_PASS | (told ? POISON_TRAP_TOLD : 0);
    }
    switch (x86_mf_mce(cs ? cs : first_cpu, gpa, cs != NULL, &recursive)) {
    case MEMORY_FAILURE_ACTION_INJECT:
        return POISON_TRAP_TOLD;
    case MEMORY_FAILURE_ACTION_RESET:
        return POISON_TRAP_RESET;
    default:
        return 0;
    }
}

static const MemoryFailureArchOps x86_mf_ops = {
    .report = x86_mf_report,
    .consumed = x86_mf_consumed,
    .queue_info = x86_mf_queue_info,
};

/* --- the x86-mce-queue device ---------------------------------------- */

static void x86_mce_queue_realize(DeviceState *dev, Error **errp)
{
    X86MceQueue *q = X86_MCE_QUEUE(dev);

    if (!q->size) {
        error_setg(errp, "%s: size must be at least 1", TYPE_X86_MCE_QUEUE);
        return;
    }
    g_queue_init(&q->held);
    q->timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, x86_mf_retry, q);
    q->last_ao_ns = INT64_MIN / 2;
    q->busy_gap_ns = X86_MF_AO_BUSY_GAP_NS;
    qemu_register_resettable(OBJECT(dev));
}

static void x86_mce_queue_reset_hold(Object *obj, ResetType type)
{
    X86MceQueue *q = X86_MCE_QUEUE(obj);

    /* The memory they were about was replaced at reset */
    g_queue_clear_full(&q->held, g_free);
    timer_del(q->timer);
    q->last_ao_ns = INT64_MIN / 2;
    q->busy_gap_ns = X86_MF_AO_BUSY_GAP_NS;
}

static int x86_mce_queue_pre_save(void *opaque)
{
    X86MceQueue *q = opaque;
    GList *l;
    uint32_t i = 0;

    q->nr_mig = g_queue_get_length(&q->held);
    q->mig = g_new(X86HeldMce, q->nr_mig);
    for (l = q->held.head; l; l = l->next) {
        q->mig[i++] = *(X86HeldMce *)l->data;
    }
    return 0;
}

static int x86_mce_queue_post_save(void *opaque)
{
    X86MceQueue *q = opaque;

    g_clear_pointer(&q->mig, g_free);
    q->nr_mig = 0;
    return 0;
}

/*
 * The stream is untrusted: its count is checked before the allocation,
 * against the queue's size and a hard bound (a machine given a huge size
 * must not allocate whatever a stream claims).
 */
#define X86_MF_MAX_MIGRATED     (1 << 20)
static bool x86_mce_queue_nr_valid(void *opaque, int version_id)
{
    X86MceQueue *q = opaque;

    /* Whatever size this machine was given: no more than one can hold */
    if (q->nr_mig < 0 || q->nr_mig > q->size ||
        q->nr_mig > X86_MF_MAX_MIGRATED) {
        error_report("%s: migration stream holds %d machine checks, this "
                     "queue %u", TYPE_X86_MCE_QUEUE, q->nr_mig, q->size);
        return false;
    }
    return true;
}

static int x86_mce_queue_post_load(void *opaque, int version_id)
{
    X86MceQueue *q = opaque;
    int32_t i;

    for (i = 0; i < q->nr_mig; i++) {
        X86HeldMce *h = &q->mig[i];

        /* A machine check for no vCPU, or not at a page, is no record */
        if (!qemu_get_cpu(h->cpu_index) || h->cpu_index < 0 ||
            (h->gpa & (4 * KiB - 1))) {
            error_report("%s: migration stream holds a machine check for "
                         "vCPU %d at 0x%" PRIx64, TYPE_X86_MCE_QUEUE,
                         h->cpu_index, h->gpa);
            x86_mce_queue_post_save(q);
            return -EINVAL;
        }
    }
    g_queue_clear_full(&q->held, g_free);
    for (i = 0; i < q->nr_mig; i++) {
        g_queue_push_tail(&q->held, g_memdup2(&q->mig[i], sizeof(*q->mig)));
    }
    x86_mce_queue_post_save(q);
    if (!g_queue_is_empty(&q->held)) {
        x86_mf_retry_later(q);
    }
    return 0;
}

static bool x86_mce_queue_needed(void *opaque)
{
    X86MceQueue *q = opaque;

    return !g_queue_is_empty(&q->held) || q->delivered || q->dropped;
}

static const VMStateDescription vmstate_x86_held_mce = {
    .name = "x86-mce-queue/held",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_INT32(cpu_index, X86HeldMce),
        VMSTATE_UINT64(gpa, X86HeldMce),
        VMSTATE_BOOL(ar, X86HeldMce),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_x86_mce_queue_state = {
    .name = TYPE_X86_MCE_QUEUE "/state",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = x86_mce_queue_needed,
    .pre_save = x86_mce_queue_pre_save,
    .post_save = x86_mce_queue_post_save,
    .post_load = x86_mce_queue_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(delivered, X86MceQueue),
        VMSTATE_UINT64(dropped, X86MceQueue),
        VMSTATE_INT32(nr_mig, X86MceQueue),
        VMSTATE_VALIDATE("held machine checks within bounds",
                         x86_mce_queue_nr_valid),
        VMSTATE_STRUCT_VARRAY_ALLOC(mig, X86MceQueue, nr_mig, 0,
                                    vmstate_x86_held_mce, X86HeldMce),
        VMSTATE_END_OF_LIST()
    },
};

/* Nothing but a subsection: a machine that never held one sends nothing */
static const VMStateDescription vmstate_x86_mce_queue = {
    .name = TYPE_X86_MCE_QUEUE,
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_x86_mce_queue_state,
        NULL
    },
};

static const Property x86_mce_queue_properties[] = {
    DEFINE_PROP_UINT32("size", X86MceQueue, size, 65536),
};

static void x86_mce_queue_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    dc->desc = "machine checks waiting for the guest";
    dc->realize = x86_mce_queue_realize;
    dc->vmsd = &vmstate_x86_mce_queue;
    dc->user_creatable = false;
    /* Created once the machine is ready (x86_mce_queue_create) */
    dc->hotpluggable = true;
    rc->phases.hold = x86_mce_queue_reset_hold;
    device_class_set_props(dc, x86_mce_queue_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo x86_mce_queue_info = {
    .name          = TYPE_X86_MCE_QUEUE,
    .parent        = TYPE_DEVICE,
    .instance_size = sizeof(X86MceQueue),
    .class_init    = x86_mce_queue_class_init,
};

/* Every x86 machine gets one, the same way on both ends of a migration */
static void x86_mce_queue_create(Notifier *n, void *opaque)
{
    DeviceState *dev = qdev_new(TYPE_X86_MCE_QUEUE);

    object_property_add_child(qdev_get_machine(), TYPE_X86_MCE_QUEUE,
                              OBJECT(dev));
    qdev_realize_and_unref(dev, NULL, &error_fatal);
}

static Notifier x86_mce_queue_notifier = {
    .notify = x86_mce_queue_create,
};

static void x86_mf_register(void)
{
    type_register_static(&x86_mce_queue_info);
    qemu_add_machine_init_done_notifier(&x86_mce_queue_notifier);
    memory_failure_register_arch(&x86_mf_ops);
}

type_init(x86_mf_register)
