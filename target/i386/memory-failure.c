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
#include "system/qtest.h"
#include "system/reset.h"
#include "system/runstate.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "hw/acpi/ghes-device.h"
#include "target/i386/mce-inject.h"
#include "target/i386/memory-failure.h"
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
 * logs each one in a small pool (6.1: 32 records) that a worker drains
 * later; delivered back to back, they overflow it (lost errors) and keep
 * a CPU in its machine check handler.  The next one goes in once every
 * CPU is idle (halted with nothing pending: the guest has run what it
 * could), or, for a guest that does not idle, after a wait that doubles
 * while it stays busy.
 *
 * Idle is not drained: the worker may be waiting for something else, and
 * nothing tells QEMU when the pool empties (a guest idle with its worker
 * not run yet lost one: docs/specs/memory-failure.rst).  So at most
 * X86_MF_AO_UNDRAINED may be out that the guest has shown no sign of
 * processing: one counts as processed for every X86_MF_AO_DRAIN_CPU_NS
 * of CPU time the vCPUs run after the last delivery (less than a record
 * costs the guest), and one every X86_MF_AO_DRAIN_MAX_NS whatever the
 * guest does.  AMD's deferred errors need none of this: they wait in the
 * banks.
 *
 * Action-required ones are never paced: the vCPU is at the access.
 */
#define X86_MF_RETRY_NS         (1 * SCALE_MS)
#define X86_MF_DEFERRED_RETRY_NS (100 * SCALE_MS)
#define X86_MF_AO_MIN_GAP_NS    (1 * SCALE_MS)
#define X86_MF_AO_BUSY_GAP_NS   (20 * SCALE_MS)
#define X86_MF_AO_BUSY_GAP_MAX  (320 * SCALE_MS)
#define X86_MF_AO_UNDRAINED     8
#define X86_MF_AO_DRAIN_CPU_NS  (200 * SCALE_US)
/* An estimate, not measured: KVM runs the guest's code faster */
#define X86_MF_AO_DRAIN_CPU_KVM_NS (50 * SCALE_US)
#define X86_MF_AO_DRAIN_MAX_NS  (100 * SCALE_MS)

/* Pacing of action-optional machine checks (QEMU_CLOCK_VIRTUAL) */
static int64_t last_ao_ns = INT64_MIN / 2;
static int64_t busy_gap_ns = X86_MF_AO_BUSY_GAP_NS;
static uint64_t ao_sent;
static unsigned ao_undrained;
static bool ao_waiting;             /* for the trace: once per wait */
static int64_t ao_drain_cpu_ns;     /* guest CPU time counted from here */
static int64_t ao_drain_time_ns;    /* and virtual time */

void x86_memory_failure_reset(void)
{
    last_ao_ns = INT64_MIN / 2;
    busy_gap_ns = X86_MF_AO_BUSY_GAP_NS;
    ao_undrained = 0;
    ao_waiting = false;
}

uint64_t x86_memory_failure_ao_sent(void)
{
    return ao_sent;
}

static void x86_mf_ao_sent(void)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);

    if (!ao_undrained) {
        ao_drain_time_ns = now;
    }
    /* Not what QEMU did on the vCPU threads to deliver it */
    ao_drain_cpu_ns = guest_progress_cpu_ns();
    ao_undrained++;
    ao_sent++;
    last_ao_ns = now;
}

/* How many may still be in the guest's pool, as far as QEMU can tell */
static unsigned x86_mf_ao_undrained(int64_t now)
{
    int64_t per = kvm_enabled() ? X86_MF_AO_DRAIN_CPU_KVM_NS
                                : X86_MF_AO_DRAIN_CPU_NS;
    int64_t cpu = guest_progress_cpu_ns();
    int64_t n;

    if (!ao_undrained) {
        return 0;
    }
    /* A vCPU went away: count from here */
    ao_drain_cpu_ns = MIN(ao_drain_cpu_ns, cpu);
    n = MIN((cpu - ao_drain_cpu_ns) / per, ao_undrained);
    ao_undrained -= n;
    ao_drain_cpu_ns += n * per;
    n = MIN((now - ao_drain_time_ns) / X86_MF_AO_DRAIN_MAX_NS, ao_undrained);
    ao_undrained -= n;
    ao_drain_time_ns += n * X86_MF_AO_DRAIN_MAX_NS;
    return ao_undrained;
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

/* MCi_STATUS and MCG_STATUS of the machine check that reports @p */
static void x86_mf_status(CPUX86State *env, const X86MceParams *p,
                          uint64_t *status, uint64_t *mcg_status)
{
    *status = MCI_STATUS_VAL | MCI_STATUS_UC | MCI_STATUS_EN;
    *mcg_status = MCG_STATUS_MCIP | MCG_STATUS_RIPV;
    if (p->broadcast_target) {
        return;
    }
    *status |= MCI_STATUS_MISCV | MCI_STATUS_ADDRV;
    if (IS_AMD_CPU(env)) {
        /*
         * With MCG_SER_P Linux looks only at banks with S set; the
         * poison bit is what makes the address usable (6.12).
         */
        *status |= MCI_STATUS_S | MCI_STATUS_POISON;
    } else {
        *status |= MCI_STATUS_S | (p->ar ? MCI_STATUS_AR | 0x134 : 0xc0);
    }
    if (p->ar) {
        *mcg_status |= MCG_STATUS_EIPV;
    }
    if (env->mcg_ext_ctl & MCG_EXT_CTL_LMCE_EN) {
        *mcg_status |= MCG_STATUS_LMCE;
    }
}

/*
 * Whether the machine check for @p is to be raised on @cs now, given the
 * one @cs may be in already and what its bank @b holds; false when
 * nothing more is to be done (coalesced, held, joined).  *@why says why
 * it cannot be delivered at all.
 */
static bool x86_mf_may_raise(CPUState *cs, X86MceParams *p, uint64_t *b,
                             const char **why)
{
    CPUX86State *env = cpu_env(cs);
    bool mce_pending = cs->interrupt_request & CPU_INTERRUPT_MCE;

    if (!(env->mcg_cap & MCG_SER_P)) {
        *why = "the CPU model has no software error recovery (MCG_SER_P)";
        return true;
    }
    if (p->ar && p->recursive && (b[1] & MCI_STATUS_VAL) &&
        b[2] == p->gpa && mce_pending) {
        /*
         * The same poison touched again before the guest took the first
         * machine check (one instruction, several accesses): that one
         * reports both.
         */
        p->action = MEMORY_FAILURE_ACTION_INJECT;
        trace_x86_mf_coalesced(cs->cpu_index, p->gpa);
        return false;
    }
    if (!p->ar && !(env->cr[4] & CR4_MCE_MASK)) {
        /* Nothing consumed it: not worth the guest's shutdown */
        *why = "MCE not enabled by the guest (CR4.MCE clear)";
        return true;
    }
    if (p->ar && p->recursive && mce_pending && !(b[1] & MCI_STATUS_AR)) {
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
        env->mcg_status &= ~MCG_STATUS_MCIP;
        p->recursive = false;
        return true;
    }
    if (p->ar) {
        /*
         * Recursive: the vCPU touched poison inside its machine check
         * handler, and cannot wait there for itself to finish.
         * x86_mce_raise() shuts down, as hardware and KVM do.
         */
        return true;
    }
    if (p->recursive && p->broadcast_target) {
        /* A broadcast finds this CPU in a machine check already: enough */
        return false;
    }
    if ((p->recursive || x86_mf_in_handler(env)) && !p->broadcast_target) {
        /*
         * An action-optional one is delivered once the guest is done with
         * the one in progress and has left the handler
         */
        p->held = true;
        p->action = MEMORY_FAILURE_ACTION_INJECT;
        trace_x86_mf_held(cs->cpu_index, p->gpa);
        return false;
    }
    return true;
}

/*
 * Not delivered, for the reason @why.  A vCPU at an access it cannot
 * complete, whose guest cannot take the machine check, would touch the
 * poison again and again: the machine resets, as after a machine check
 * it cannot take.
 */
static void x86_mf_undeliverable(CPUState *cs, X86MceParams *p,
                                 const char *why)
{
    p->action = p->ar ? MEMORY_FAILURE_ACTION_RESET
                      : MEMORY_FAILURE_ACTION_IGNORE;
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
}

static void x86_mf_deliver(CPUState *cs, run_on_cpu_data data)
{
    X86MceParams *p = data.host_ptr;
    CPUX86State *env = cpu_env(cs);
    int bank = p->broadcast_target ? 1 : X86_MF_BANK;
    uint64_t status, mcg_status;
    const char *why = NULL;
    X86Mce mce;

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
    x86_mf_status(env, p, &status, &mcg_status);
    if (!x86_mf_may_raise(cs, p, env->mce_banks + 4 * bank, &why)) {
        return;
    }
    if (why) {
        x86_mf_undeliverable(cs, p, why);
        return;
    }
    mce = (X86Mce) {
        .bank = bank,
        .status = p->broadcast_target ? 0 : status,
        .mcg_status = mcg_status,
        .addr = p->broadcast_target ? 0 : p->gpa,
        .misc = p->broadcast_target ? 0 : (MCM_ADDR_PHYS << 6) | 0xc,
    };
    switch (x86_mce_raise(cs, &mce, &why)) {
    case X86_MCE_RAISED:
    case X86_MCE_LOGGED:
        p->action = MEMORY_FAILURE_ACTION_INJECT;
        trace_x86_mf_delivered(cs->cpu_index, p->gpa, mce.status, mcg_status);
        return;
    case X86_MCE_SHUTDOWN:
        /* The machine resets (x86_mce_raise() asked for it) */
        p->action = MEMORY_FAILURE_ACTION_RESET;
        trace_x86_mf_not_delivered(cs->cpu_index, p->gpa, why);
        return;
    case X86_MCE_DISABLED:
        x86_mf_undeliverable(cs, p, why);
        return;
    }
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
        X86HeldMce h = { .cpu_index = cs->cpu_index,
                         .gpa = p.preempted_gpa };
        X86MceQueue *q = x86_mce_queue_get();

        x86_mce_queue_requeue(q, &h);
        x86_mce_queue_retry_in(q, X86_MF_RETRY_NS);
    }
    if (!ar && !p.held && p.action == MEMORY_FAILURE_ACTION_INJECT &&
        !IS_AMD_CPU(cpu_env(cs))) {
        x86_mf_ao_sent();
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
 * The CPU to take an action-optional machine check, if it is time: few
 * enough are out undrained, and the guest is idle (the worker that drains
 * the log may run on any CPU) or has been busy for long enough.
 */
static CPUState *x86_mf_ao_target(void)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    CPUState *cs;

    if (IS_AMD_CPU(cpu_env(first_cpu))) {
        /*
         * A deferred error waits in a bank for the guest's poll.  Only the
         * first CPU's banks, the ones every guest polls (not so a 6.1
         * guest's second CPU's: docs/specs/memory-failure.rst)
         */
        return first_cpu;
    }
    if (now < last_ao_ns + X86_MF_AO_MIN_GAP_NS) {
        return NULL;
    }
    if (x86_mf_ao_undrained(now) >= X86_MF_AO_UNDRAINED) {
        if (!ao_waiting) {
            trace_x86_mf_undrained(ao_undrained);
        }
        ao_waiting = true;
        return NULL;
    }
    ao_waiting = false;
    CPU_FOREACH(cs) {
        if (!guest_progress_vcpu_idle(cs)) {
            break;
        }
    }
    if (!cs) {
        busy_gap_ns = X86_MF_AO_BUSY_GAP_NS;
        return first_cpu;
    }
    if (now < last_ao_ns + busy_gap_ns) {
        return NULL;
    }
    /* Still busy: maybe with the last ones; give it longer next time */
    busy_gap_ns = MIN(busy_gap_ns * 2, X86_MF_AO_BUSY_GAP_MAX);
    return first_cpu;
}

void x86_memory_failure_deliver_held(X86MceQueue *q)
{
    X86HeldMce *h;

    /*
     * x86_mf_try() drops the BQL while it waits for the vCPU: the entry
     * may be removed meanwhile (the vCPU took it at the access, a reset),
     * which x86_mce_queue_end() says; it is not freed under us
     */
    while ((h = x86_mce_queue_begin(q))) {
        CPUState *cs;
        MemoryFailureAction action = MEMORY_FAILURE_ACTION_IGNORE;
        bool recursive, still_held;

        if (h->ar) {
            /*
             * From the stream of a QEMU that held them.  Delivered now it
             * would land on whatever the vCPU runs; the vCPU retries the
             * access instead and is told there, or never touches it again.
             */
            trace_x86_mf_held_ar_dropped(h->cpu_index, h->gpa);
            x86_mce_queue_end(q, h, false, false);
            continue;
        }
        cs = x86_mf_ao_target();
        still_held = !cs;
        if (cs) {
            action = x86_mf_try(cs, h->gpa, false, &recursive, &still_held);
        }
        if (x86_mce_queue_end(q, h, still_held,
                              !still_held &&
                              action == MEMORY_FAILURE_ACTION_INJECT)) {
            /* A deferred error waits for the guest's poll: look less often */
            x86_mce_queue_retry_in(q, IS_AMD_CPU(cpu_env(first_cpu))
                                      ? X86_MF_DEFERRED_RETRY_NS
                                      : X86_MF_RETRY_NS);
            return;
        }
    }
}

static MemoryFailureAction x86_mf_mce(CPUState *cs, hwaddr gpa, bool ar,
                                      bool *recursive)
{
    X86MceQueue *q = x86_mce_queue_get();
    X86HeldMce h = { .gpa = gpa, .ar = ar };
    MemoryFailureAction action = MEMORY_FAILURE_ACTION_INJECT;
    CPUState *target = NULL;
    bool is_held = true;

    if (!ar && !current_cpu) {
        target = x86_mf_ao_target();
        cs = target ? target : first_cpu;
    }
    if (!ar && !current_cpu && !target) {
        *recursive = false;
        trace_x86_mf_paced(gpa);
    } else if (!x86_mce_queue_empty(q) && !ar) {
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
        if (action == MEMORY_FAILURE_ACTION_INJECT) {
            x86_mce_queue_count_delivered(q);
        }
        return action;
    }
    h.cpu_index = cs->cpu_index;
    if (!x86_mce_queue_push(q, &h)) {
        return MEMORY_FAILURE_ACTION_IGNORE;
    }
    x86_mce_queue_retry_in(q, X86_MF_RETRY_NS);
    return action;
}

/*
 * Firmware-first (ras=on, once firmware has placed the error status
 * blocks): errors no vCPU takes at an instruction go to the guest as
 * CPER records of the asynchronous GHES source, notified by a GPE and
 * paced by the guest's acknowledgements, not as machine checks (which
 * stop every CPU, are fatal if a second one comes while the first is
 * handled, and are logged in a pool of 32).  Action-required errors stay
 * machine checks: the guest must take them at the access.
 */
static AcpiGhesDevice *x86_mf_firmware_first(void)
{
    AcpiGhesDevice *ghes = ghes_device_find();

    return ghes && ghes_device_ready(ghes, NULL) ? ghes : NULL;
}

static bool x86_mf_record(AcpiGhesDevice *ghes, hwaddr gpa, uint64_t size)
{
    CperMemError err = cper_host_mem_error(gpa, size);
    Error *local_err = NULL;
    GhesPosted posted = ghes_post_mem_error(ghes, ghes_async_source(ghes),
                                            &err, &local_err);

    trace_x86_mf_record(gpa, posted);
    if (local_err) {
        /* Each one is in MEMORY_FAILURE or RAS_QUEUE_OVERFLOW */
        warn_report_once("memory error at guest address 0x%" HWADDR_PRIx
                         " not reported to the guest: %s", gpa,
                         error_get_pretty(local_err));
        error_free(local_err);
    }
    return posted == GHES_POST_DONE;
}

/* Machines created without CPUs by x86_cpus_init() have no queue */
static bool x86_mf_have_queue(hwaddr gpa)
{
    if (!x86_mce_queue_get()) {
        warn_report_once("memory error at guest address 0x%" HWADDR_PRIx
                         " not reported to the guest: this machine has no "
                         "%s", gpa, TYPE_X86_MCE_QUEUE);
        return false;
    }
    return true;
}

static MemoryFailureAction x86_mf_report(CPUState *cs, hwaddr gpa,
                                         uint64_t size, bool *recursive)
{
    AcpiGhesDevice *ghes = cs ? NULL : x86_mf_firmware_first();

    if (ghes) {
        return x86_mf_record(ghes, gpa, size) ? MEMORY_FAILURE_ACTION_INJECT
                                              : MEMORY_FAILURE_ACTION_IGNORE;
    }
    if (!x86_mf_have_queue(gpa)) {
        return MEMORY_FAILURE_ACTION_IGNORE;
    }
    return x86_mf_mce(cs ? cs : first_cpu, gpa, cs != NULL, recursive);
}

/*
 * Whether the machine check pending on @cs is taken before its next
 * instruction: the failed access is then retried after it.  Not while
 * the guest has cleared GIF (SVM: held until STGI, which the retried
 * instruction would never reach), nor while a debugger single-steps
 * with interrupts masked; the access then completes, as before poison.
 */
static bool x86_mf_mce_taken_next(CPUState *cs)
{
    return (cs->interrupt_request & CPU_INTERRUPT_MCE) &&
           (cpu_env(cs)->hflags2 & HF2_GIF_MASK) &&
           !(cs->singlestep_enabled & SSTEP_NOIRQ);
}

static unsigned x86_mf_poison_accessed(CPUState *cs, hwaddr gpa,
                                       uint64_t size, bool data_intact,
                                       bool reported)
{
    bool kernel_read = cs && data_intact &&
                       !(cpu_env(cs)->hflags & HF_CPL_MASK);
    AcpiGhesDevice *ghes;
    bool recursive;

    if (kernel_read && reported) {
        /* Told already, by an earlier access of the same copy */
        return POISON_TRAP_PASS | POISON_TRAP_REPORTED;
    }
    ghes = kernel_read || !cs ? x86_mf_firmware_first() : NULL;
    if (ghes) {
        /* Read by the kernel (see below), or a device: no vCPU takes it */
        reported = x86_mf_record(ghes, gpa, size);
        return (kernel_read ? POISON_TRAP_PASS : 0) |
               (reported ? POISON_TRAP_REPORTED : 0);
    }
    if (!x86_mf_have_queue(gpa)) {
        return 0;
    }
    if (kernel_read) {
        /*
         * The guest kernel read it: unless that access had a fixup, an
         * action-required machine check in the kernel is fatal to Linux.
         * The data is there, so the access completes and the error waits
         * as an action-optional one.
         */
        X86HeldMce h = { .cpu_index = first_cpu->cpu_index, .gpa = gpa };
        X86MceQueue *q = x86_mce_queue_get();

        reported = x86_mce_queue_push(q, &h);
        trace_x86_mf_kernel_consumed(cs->cpu_index, gpa, reported);
        x86_mce_queue_retry_in(q, X86_MF_RETRY_NS);
        return POISON_TRAP_PASS | (reported ? POISON_TRAP_REPORTED : 0);
    }
    switch (x86_mf_mce(cs ? cs : first_cpu, gpa, cs != NULL, &recursive)) {
    case MEMORY_FAILURE_ACTION_INJECT:
        return POISON_TRAP_REPORTED |
               (cs && x86_mf_mce_taken_next(cs) ? POISON_TRAP_RAISED : 0);
    case MEMORY_FAILURE_ACTION_RESET:
        return POISON_TRAP_RESET;
    default:
        return 0;
    }
}

/* A record does; a machine check waits for its vCPU (run_on_cpu()) */
static bool x86_mf_async_report_holds_bql(void)
{
    return x86_mf_firmware_first() != NULL;
}

static bool x86_mf_in_user_mode(CPUState *cs)
{
    if (qtest_enabled()) {
        /* No guest code runs: take the vCPU to be at the access */
        return true;
    }
    cpu_synchronize_state(cs);
    return (cpu_env(cs)->hflags & HF_CPL_MASK) == 3;
}

const MemoryFailureArchOps x86_memory_failure_ops = {
    .report = x86_mf_report,
    .async_report_holds_bql = x86_mf_async_report_holds_bql,
    .poison_accessed = x86_mf_poison_accessed,
    .in_user_mode = x86_mf_in_user_mode,
};
