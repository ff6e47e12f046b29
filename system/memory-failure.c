/*
 * Host memory failures: from SIGBUS to the guest and to management
 *
 * The signal handler only records (code, address, size, vCPU) in a fixed
 * lock-free table and wakes the main loop through an eventfd; both are
 * async-signal-safe.  The main loop, with the BQL, decides: an
 * action-required error is handled on the thread of the vCPU that
 * consumed the poison (so the target can raise a synchronous exception
 * there), an action-optional one right away.
 *
 * This file holds that path, top-down: the signal table, the policy
 * (process_error()), the rest of a lost huge page, and the life cycle.
 * Its companions: memory-failure-map.c (host to guest addresses),
 * -owned.c (memory QEMU keeps for the guest), -blocker.c (QEMU's own
 * memory failed: no migration), -event.c (the MEMORY_FAILURE event),
 * -qmp.c and -hmp.c (commands), and, for the guest's side, the target's
 * MemoryFailureArchOps.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/syscall.h>
#include "qapi/error.h"
#include "qapi/qapi-events-ras.h"
#include "qapi/qapi-events-run-state.h"
#include "qemu/error-report.h"
#include "qemu/event_notifier.h"
#include "qemu/main-loop.h"
#include "qemu/units.h"
#include "exec/cpu-common.h"
#include "exec/target_page.h"
#include "hw/core/cpu.h"
#include "migration/migration.h"
#include "migration/misc.h"
#include "system/address-spaces.h"
#include "system/cpus.h"
#include "system/memory.h"
#include "system/memory-failure.h"
#include "system/memory-poison.h"
#include "system/poison-trap.h"
#include "system/poison-uffd.h"
#include "system/ramblock.h"
#include "system/ras-queue.h"
#include "hw/core/sysemu-cpu-ops.h"
#include "exec/ramlist.h"
#include "system/reset.h"
#include "system/system.h"
#include "system/runstate.h"
#include "system/tcg.h"
#ifdef CONFIG_TCG
#include "accel/tcg/poison-unwind.h"
#endif
#include "system/kvm.h"
#include "memory-failure-internal.h"
#include "trace.h"

/* Errors recorded by the signal handler and not yet processed */
#define MF_SLOTS 1024

enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_CLAIMED };

typedef struct MFSlot {
    int state;
    int code;
    int addr_lsb;
    int cpu_index;              /* thread that took the signal, or -1 */
    uintptr_t addr;
    int64_t taken_ns;           /* get_clock() in the handler, for traces */
} MFSlot;

static MFSlot slots[MF_SLOTS];
static unsigned slots_lost;             /* signals with no free slot */
static uintptr_t slots_lost_addr;       /* the address of the last one */
static unsigned slots_lost_reported;
static uint64_t slots_handled;
/* Action-required slots of vCPU threads: each vCPU handles its own */
static unsigned vcpu_ar_waiting;
/* Slots handled while the machine resets: tracked, not reported */
static bool resetting;
/* Slots handled as the stopped machine is saved: reported where it runs */
static bool saving;
/* An error the guest could not take asked for a reset: once is enough */
static bool reset_asked;
static EventNotifier wakeup;
/*
 * Set (release) once @wakeup is initialized; a signal handler that reads
 * it set (acquire) sees the initialized notifier
 */
static bool wakeup_ready;
static __thread bool simulating;
/* A simulated error taken as the host would under KVM (host_guards_poison) */
static __thread bool simulating_guarded;
/* Host pages of simulated errors not handled yet: their data is intact */
static GHashTable *simulated_pages;

/* What the guest's CPUs do with memory errors (NULL: nothing) */
const MemoryFailureArchOps *memory_failure_arch_ops(CPUState *cpu)
{
    cpu = cpu ? cpu : first_cpu;
    return cpu ? cpu->cc->sysemu_ops->memory_failure : NULL;
}

bool memory_failure_reset_asked(void)
{
    return reset_asked;
}

/*
 * The one accelerator question.  Under KVM the host kernel keeps
 * poisoned pages out of the guest's mappings, and a vCPU touching one
 * faults with an action-required signal, to be reported then.  Under TCG
 * QEMU traps accesses to poisoned pages itself and reports each one as
 * it happens.
 */
static bool host_guards_poison(void)
{
    return kvm_enabled() || simulating_guarded;
}

void memory_failure_simulate_guarded(bool on)
{
    simulating_guarded = on;
}

/* The signal table, as a queue of reports: query-ras-queues */
static void signal_queue_count(RasReportQueue *q, RasQueueInfo *info)
{
    int i;

    for (i = 0; i < MF_SLOTS; i++) {
        info->waiting += qatomic_load_acquire(&slots[i].state) == SLOT_READY;
    }
    info->delivered = slots_handled;
}

static RasReportQueue signal_queue = {
    .kind = RAS_QUEUE_SIGNALS,
    .capacity = MF_SLOTS,
    .count = signal_queue_count,
};

/* --- signal context ----------------------------------------------------- */

static bool slot_push(int code, uintptr_t addr, int lsb, int cpu_index)
{
    int i;

    for (i = 0; i < MF_SLOTS; i++) {
        MFSlot *s = &slots[i];

        /* The same error taken again before we got to it: one is enough */
        if (qatomic_load_acquire(&s->state) == SLOT_READY &&
            s->addr == addr && s->code == code && s->cpu_index == cpu_index) {
            return true;
        }
    }
    for (i = 0; i < MF_SLOTS; i++) {
        MFSlot *s = &slots[i];

        if (qatomic_cmpxchg(&s->state, SLOT_FREE, SLOT_FILLING) ==
            SLOT_FREE) {
            s->code = code;
            s->addr = addr;
            s->addr_lsb = lsb;
            s->cpu_index = cpu_index;
            /* clock_gettime(), async-signal-safe */
            s->taken_ns = get_clock();
            if (code == BUS_MCEERR_AR && cpu_index >= 0) {
                qatomic_inc(&vcpu_ar_waiting);
            }
            qatomic_store_release(&s->state, SLOT_READY);
            return true;
        }
    }
    qatomic_set(&slots_lost_addr, addr);
    qatomic_inc(&slots_lost);
    return false;
}

/*
 * Host pages QEMU itself replaced by poison markers (inject-host-memory-
 * failure's x-poison-marker).  A host kernel without CONFIG_MEMORY_FAILURE
 * faults a marker with BUS_ADRERR instead of BUS_MCEERR_AR: in these
 * pages, the handler takes it for the consumed poison the marker stands
 * for.  Entries stay (a page replaced since faults no more), but for a
 * marker that could not go in.
 */
#define MF_MARKED 64

typedef struct MFMarked {
    uintptr_t start;
    int lsb;                    /* published last (release); 0: free */
} MFMarked;

static MFMarked marked[MF_MARKED];

bool memory_failure_mark_host(void *host, uint64_t size)
{
    int i;

    /* Single writer: the BQL */
    for (i = 0; i < MF_MARKED; i++) {
        if (qatomic_read(&marked[i].lsb) &&
            marked[i].start == (uintptr_t)host) {
            return true;
        }
    }
    for (i = 0; i < MF_MARKED; i++) {
        if (!qatomic_read(&marked[i].lsb)) {
            marked[i].start = (uintptr_t)host;
            qatomic_store_release(&marked[i].lsb, ctz64(size));
            return true;
        }
    }
    return false;
}

void memory_failure_unmark_host(void *host)
{
    int i;

    for (i = 0; i < MF_MARKED; i++) {
        if (qatomic_read(&marked[i].lsb) &&
            marked[i].start == (uintptr_t)host) {
            qatomic_set(&marked[i].lsb, 0);
        }
    }
}

/* The marked page at @addr: log2 of its size; 0 if none is there */
static int marked_lsb(uintptr_t addr)
{
    int i, lsb;

    for (i = 0; i < MF_MARKED; i++) {
        lsb = qatomic_load_acquire(&marked[i].lsb);
        if (lsb && addr - marked[i].start < (1ull << lsb)) {
            return lsb;
        }
    }
    return 0;
}

/*
 * Real poison consumed again and again by a thread that never gets to
 * process it (a device model copying guest memory, say): it cannot go
 * on.  The main loop is asked to stop QEMU in order, with the event
 * first; this thread waits for that, and gives up on its own only if the
 * main loop cannot run (this thread holds the BQL it needs).
 */
#define MF_REFAULT_LIMIT        100000
#define MF_REFAULT_GRACE_MS     2000

static bool refault_fatal;
static uintptr_t refault_addr;

static void check_refault(int code, void *addr)
{
    static __thread void *last_addr;
    static __thread unsigned repeats;
    static const char msg[] = "qemu: hardware memory error consumed "
                              "repeatedly before it could be handled\n";
    struct timespec ms = { .tv_nsec = 1000 * 1000 };
    int i;

    if (code != BUS_MCEERR_AR || simulating || addr != last_addr) {
        last_addr = addr;
        repeats = 0;
        return;
    }
    if (++repeats <= MF_REFAULT_LIMIT) {
        return;
    }
    qatomic_set(&refault_addr, (uintptr_t)addr);
    qatomic_store_release(&refault_fatal, true);
    if (qatomic_load_acquire(&wakeup_ready)) {
        event_notifier_set(&wakeup);
    }
    /* nanosleep and write are async-signal-safe */
    for (i = 0; i < MF_REFAULT_GRACE_MS; i++) {
        nanosleep(&ms, NULL);
    }
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
        /* nothing more to do */
    }
    _exit(EXIT_FAILURE);
}


bool memory_failure_sigbus(int code, void *addr, int addr_lsb, void *uctx)
{
    CPUState *cpu = current_cpu;
    /* The eventfd write may change it under the interrupted code */
    int saved_errno = errno;

    if (code == BUS_ADRERR) {
        addr_lsb = marked_lsb((uintptr_t)addr);
        code = addr_lsb ? BUS_MCEERR_AR : code;
    }
    if (code != BUS_MCEERR_AR && code != BUS_MCEERR_AO) {
        return false;
    }
    check_refault(code, addr);
    slot_push(code, (uintptr_t)addr, addr_lsb, cpu ? cpu->cpu_index : -1);
    if (qatomic_load_acquire(&wakeup_ready)) {
        event_notifier_set(&wakeup);
    }
    errno = saved_errno;
#ifdef CONFIG_TCG
    if (cpu && code == BUS_MCEERR_AR && !simulating && tcg_enabled()) {
        /* Returning would run the load again: it faults again at once */
        poison_unwind(cpu, uctx);
    }
#endif
    if (!uctx && !cpu && !simulating && bql_locked()) {
        /*
         * Read from the signalfd by the main loop, not taken by a thread
         * it interrupted: handled now, not one main loop iteration later
         */
        memory_failure_process_pending();
    }
    return true;
}

void memory_failure_init_vcpu_thread(void)
{
    sigset_t set;

#ifdef CONFIG_TCG
    if (tcg_enabled()) {
        poison_unwind_init_thread();
    }
#endif
    sigemptyset(&set);
    sigaddset(&set, SIGBUS);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* --- deciding ----------------------------------------------------------- */

static void send_event(MemoryFailureRecipient recipient,
                       MemoryFailureAction action, bool ar, bool recursive,
                       bool has_gpa, hwaddr gpa, uint64_t size)
{
    memory_failure_send_event(recipient, action, ar, recursive, has_gpa, gpa,
                              size, false);
}

/* A guest access to a poisoned range under TCG (system/poison-trap.c) */
static unsigned poisoned_access(CPUState *cpu, hwaddr gpa, uint64_t size,
                                bool data_intact, bool reported,
                                bool may_wait)
{
    const MemoryFailureArchOps *ops = memory_failure_arch_ops(cpu);
    unsigned outcome;

    /*
     * A process touching a lost huge page the guest is still being told
     * of waits, so that it dies of its error only once the guest knows
     * all of the pages it frees then.  The guest kernel does not wait:
     * it reads intact data, or dies of what it reads, waiting or not.
     */
    if (cpu && may_wait && ops && ops->in_user_mode &&
        ops->in_user_mode(cpu) && memory_failure_rest_hold(cpu, gpa)) {
        return POISON_TRAP_WAIT;
    }
    outcome = ops ? ops->poison_accessed(cpu, gpa, size, data_intact,
                                         reported) : 0;

    if ((outcome & POISON_TRAP_RESET) && !reset_asked) {
        /* The guest could not take it: the machine resets, event first */
        reset_asked = true;
        send_event(MEMORY_FAILURE_RECIPIENT_GUEST,
                   MEMORY_FAILURE_ACTION_RESET, cpu != NULL, false, true,
                   gpa, size);
    }
    return outcome;
}

/* Memory QEMU uses for itself failed: no guest address maps it */
static void own_memory_failed(RAMBlock *rb, ram_addr_t offset, uint64_t size,
                              bool ar, void *host, bool simulated)
{
    MemoryPoison p;

    if (rb) {
        memory_poison_add(rb, offset, size, false, 0,
                          MEMORY_FAILURE_RECIPIENT_HYPERVISOR, simulated, &p);
        if (qemu_ram_is_migratable(rb)) {
            memory_failure_block_migration();
        }
    }
    if (ar) {
        send_event(MEMORY_FAILURE_RECIPIENT_HYPERVISOR,
                   MEMORY_FAILURE_ACTION_FATAL, true, false, false, 0, size);
        error_report("QEMU consumed a hardware memory error at host "
                     "address %p in its own memory", host);
        /* An orderly exit delivers the event to management first */
        qemu_system_shutdown_request_with_code(SHUTDOWN_CAUSE_HOST_ERROR,
                                               EXIT_FAILURE);
        if (current_cpu) {
            cpu_stop_current();
        }
        return;
    }
    warn_report("hardware memory error at host address %p in memory "
                "QEMU uses for itself; continuing", host);
    send_event(MEMORY_FAILURE_RECIPIENT_HYPERVISOR,
               MEMORY_FAILURE_ACTION_IGNORE, false, false, false, 0, size);
}

/*
 * The guest addresses of [@offset, @offset + @size) of @rb: the tracked
 * one (the range may be trapped, so no longer RAM in the memory map), or
 * every one that maps it now, in *@aliases (their number returned).
 * False if no guest address does: the memory is QEMU's own.
 */
static bool guest_address_of(RAMBlock *rb, ram_addr_t offset, uint64_t size,
                             hwaddr *gpa, hwaddr aliases[MAX_ALIASES],
                             int *nr_aliases)
{
    MemoryPoison p;

    *nr_aliases = 0;
    if (!rb) {
        return false;
    }
    if (memory_poison_find(rb, offset, &p) && p.has_gpa && p.size >= size) {
        *gpa = p.gpa + (offset - p.offset);
        return true;
    }
    *nr_aliases = memory_failure_gpas_of(rb, offset, size, aliases);
    *gpa = aliases[0];
    return *nr_aliases > 0;
}

/*
 * Guest RAM at [@gpa, @gpa + @size) failed, @signalled the base page the
 * host named; @ar: consumed by @cpu (NULL: not a vCPU).  Returns what
 * the guest is told, and when (*@told_ns, get_clock(), if it was), or
 * sets *@told_later if the page is told with the rest of its huge page,
 * which then sends the event, or *@held if vCPU @cpu is to wait and
 * retry its access (the rest of its huge page is being told).
 *
 * The guest hears first of the base page the host named, not of the
 * whole huge page: Linux acts on the address it is given, and the page a
 * process touched must be the one it offlines.  The rest of a huge page
 * new to QEMU follows (memory-failure-rest.c); where vCPUs wait at an
 * access to it meanwhile (TCG), an action-optional error names its page
 * last, with the rest: told first, the guest would kill its process at
 * the next touch, with the rest not acted on yet.  Under KVM a vCPU that
 * touched it in user mode waits likewise: held, not reported, it faults
 * again when it retries.
 */
static MemoryFailureAction report_to_guest(CPUState *cpu, bool ar,
                                           RAMBlock *rb, ram_addr_t offset,
                                           uint64_t size, hwaddr gpa,
                                           hwaddr signalled, bool trap,
                                           bool is_new, bool *recursive,
                                           bool *told_later, bool *held,
                                           int64_t *told_ns)
{
    const MemoryFailureArchOps *ops = memory_failure_arch_ops(cpu);
    uint64_t psz = qemu_real_host_page_size();
    bool rest = ops && is_new && size > psz;
    bool named_with_rest = rest && !ar && !host_guards_poison();
    bool trap_after;
    MemoryFailureAction action;

    *told_later = false;
    *held = false;
    /* The vCPU's mode is asked last: under KVM that reads its registers */
    if (ar && cpu && host_guards_poison() && !saving && ops &&
        ops->in_user_mode &&
        (rest || memory_failure_rest_telling(signalled)) &&
        ops->in_user_mode(cpu)) {
        if (rest) {
            /* Reported when the vCPU retries, once the rest is acted on */
            memory_failure_rest_queue(gpa, size, signalled, true);
        }
        *held = memory_failure_rest_hold(cpu, signalled);
        if (*held) {
            return MEMORY_FAILURE_ACTION_INJECT;
        }
    }

    /*
     * Make the next access behave like real poison, which under KVM the
     * host kernel keeps out of the guest's mappings itself: the trap
     * region, whose memory map update also flushes every vCPU's TLB so
     * that their next access is checked.  The update takes ten times as
     * long as writing a record, so it follows a report during which no
     * device can run (the BQL held); a vCPU with an old TLB entry could
     * reach the page from the signal on either way.
     */
    trap_after = !(ar && cpu) && ops && ops->async_report_holds_bql &&
                 ops->async_report_holds_bql();
    if (trap && !trap_after) {
        poison_trap_add(rb->mr, offset, size);
    }
    if ((ar && cpu && (!host_guards_poison() || saving)) ||
        (named_with_rest && !saving)) {
        /*
         * Reported when the vCPU touches the poison: the access traps.
         * Or the stopped machine is being saved: the vCPU retries the
         * access where the machine resumes, and is told there.  Or told
         * with the rest of its huge page.
         */
        action = MEMORY_FAILURE_ACTION_INJECT;
    } else if (ops) {
        action = ops->report(ar ? cpu : NULL, signalled, psz, recursive);
        *told_ns = get_clock();
        named_with_rest = false;
    } else {
        action = MEMORY_FAILURE_ACTION_IGNORE;
    }
    if (trap && trap_after) {
        poison_trap_add(rb->mr, offset, size);
    }
    if (rest && action == MEMORY_FAILURE_ACTION_INJECT) {
        memory_failure_rest_queue(gpa, size, signalled, !named_with_rest);
    }
    *told_later = named_with_rest;
    return action;
}

/*
 * One host memory error, as signalled: at @addr, 2^@lsb bytes lost, taken
 * by @cpu (NULL: not a vCPU, or taken for it); @taken_ns: when the handler
 * took the signal (get_clock()), or 0.  Tracked, reported to its
 * recipient and published.  Returns whether @cpu is to wait before it
 * retries its access (memory_failure_rest_wait()).
 */
static bool process_error(CPUState *cpu, int code, uintptr_t addr, int lsb,
                          int64_t taken_ns)
{
    bool ar = code == BUS_MCEERR_AR;
    uint64_t size = MAX(lsb > 0 && lsb < 64 ? 1ull << lsb : 0,
                        qemu_real_host_page_size());
    void *host = (void *)(addr & ~(size - 1));
    MemoryFailureAction action;
    ram_addr_t offset;
    RAMBlock *rb;
    MemoryPoison p;
    bool recursive = false, is_new, told_later, held;
    int64_t told_ns = 0;
    bool simulated = simulated_pages &&
                     g_hash_table_remove(simulated_pages, host);
    hwaddr gpa = 0, signalled, aliases[MAX_ALIASES] = { 0 };
    int nr_aliases;

    trace_memory_failure_handle(cpu ? cpu->cpu_index : -1, ar, addr, size,
                                taken_ns ? (get_clock() - taken_ns) / SCALE_US
                                         : 0);
    rb = qemu_ram_block_from_host(host, false, &offset);
    if (rb && memory_failure_mend_owned(rb, offset, size, ar)) {
        /* A vCPU that consumed it reads the fresh memory when it retries */
        return false;
    }
    if (!guest_address_of(rb, offset, size, &gpa, aliases, &nr_aliases)) {
        own_memory_failed(rb, offset, size, ar, host, simulated);
        return false;
    }
    is_new = memory_poison_add(rb, offset, size, true, gpa,
                               MEMORY_FAILURE_RECIPIENT_GUEST, simulated, &p);
    if (is_new && migration_in_postcopy()) {
        /*
         * The guest runs on the destination, which learnt of the holes
         * at the switchover: if this page is not sent yet it never will
         * be, and a destination vCPU touching it waits for it for ever
         */
        error_report("guest memory at 0x%" PRIx64 " (+0x%" PRIx64 ") "
                     "failed during the postcopy phase of a migration: "
                     "pages of it not sent yet are lost, and the "
                     "destination will wait for them if its guest touches "
                     "them", gpa, size);
    }
    if (resetting || reset_asked) {
        /* Replaced by the reset under way: not reported to the guest */
        if (resetting) {
            send_event(MEMORY_FAILURE_RECIPIENT_GUEST,
                       MEMORY_FAILURE_ACTION_RESET, ar, false, true, gpa,
                       size);
        }
        return false;
    }
    signalled = gpa + ((addr & qemu_real_host_page_mask()) - (uintptr_t)host);
    action = report_to_guest(cpu, ar, rb, offset, size, gpa, signalled,
                             !host_guards_poison() && nr_aliases, is_new,
                             &recursive, &told_later, &held, &told_ns);
    if (told_later || (held && !is_new)) {
        /* Its event comes with the rest, or came with the first signal */
        return held;
    }
    /* Traced once told, not on the way: the latency benchmark's figure */
    trace_memory_failure_reported(gpa, MemoryFailureAction_str(action),
                                  taken_ns && told_ns ? told_ns - taken_ns
                                                      : 0);
    reset_asked |= action == MEMORY_FAILURE_ACTION_RESET;
    /* A range already known failing again: its events are throttled */
    memory_failure_send_event(MEMORY_FAILURE_RECIPIENT_GUEST, action, ar,
                              recursive, true, gpa, size, !is_new);
    return held;
}

/*
 * Handle the recorded errors.  A vCPU's action-required errors are its
 * own: handled on its thread (@only), before it runs guest code again, so
 * that a vCPU that re-enters the guest and faults again (KVM) cannot
 * report one consumption twice; the main loop only kicks that vCPU out of
 * the guest.  With @all (a reset) every error is taken here.
 */
static bool process_slots(CPUState *only, bool all)
{
    bool wait = false;
    unsigned lost;
    int i;

    for (i = 0; i < MF_SLOTS; i++) {
        MFSlot *s = &slots[i], copy;
        bool vcpu_ar;
        CPUState *cpu;

        if (qatomic_load_acquire(&s->state) != SLOT_READY) {
            continue;
        }
        vcpu_ar = s->code == BUS_MCEERR_AR && s->cpu_index >= 0;
        cpu = vcpu_ar ? qemu_get_cpu(s->cpu_index) : NULL;
        if (only ? cpu != only : cpu && !all) {
            if (cpu) {
                qemu_cpu_kick(cpu);
            }
            continue;
        }
        if (qatomic_cmpxchg(&s->state, SLOT_READY, SLOT_CLAIMED) !=
            SLOT_READY) {
            continue;
        }
        copy = *s;
        qatomic_store_release(&s->state, SLOT_FREE);
        if (vcpu_ar) {
            qatomic_dec(&vcpu_ar_waiting);
        }
        slots_handled++;
        wait |= process_error(resetting ? NULL : cpu, copy.code, copy.addr,
                              copy.addr_lsb, copy.taken_ns);
    }
    lost = qatomic_read(&slots_lost);
    if (lost != slots_lost_reported) {
        uintptr_t addr = qatomic_read(&slots_lost_addr);
        ram_addr_t offset;
        RAMBlock *rb = qemu_ram_block_from_host((void *)addr, false,
                                                &offset);
        hwaddr gpa[MAX_ALIASES] = { 0 };
        bool has_gpa = rb && memory_failure_gpas_of(rb, offset, 1, gpa) > 0;

        /* Counted, shown in query-ras-queues, and announced */
        error_report("%u host memory error signals arrived faster than "
                     "they could be recorded (the last at host address "
                     "0x%" PRIxPTR ")", lost - slots_lost_reported, addr);
        ras_queue_overflow(&signal_queue, lost - slots_lost_reported,
                           has_gpa, gpa[0]);
        slots_lost_reported = lost;
    }
    return wait;
}

void memory_failure_guest_sea(CPUState *cpu, bool has_gpa, hwaddr gpa)
{
    MemoryRegionSection sec = { 0 };
    const MemoryFailureArchOps *ops;
    uintptr_t host = 0;

    BQL_LOCK_GUARD();
    trace_memory_failure_guest_sea(cpu->cpu_index, has_gpa ? gpa : -1);
    if (has_gpa) {
        sec = memory_region_find(get_system_memory(), gpa, 1);
    }
    if (sec.mr && memory_region_is_ram(sec.mr) && sec.mr->ram_block) {
        host = (uintptr_t)memory_region_get_ram_ptr(sec.mr) +
               sec.offset_within_region;
    }
    if (sec.mr) {
        memory_region_unref(sec.mr);
    }
    if (host) {
        /* What the host's signal would have said, on this vCPU's thread */
        if (process_error(cpu, BUS_MCEERR_AR, host,
                          ctz64(qemu_real_host_page_size()), 0)) {
            memory_failure_rest_wait(cpu);
        }
        return;
    }
    /* Nowhere to point the guest at: its SEA, with nothing to decode */
    send_event(MEMORY_FAILURE_RECIPIENT_GUEST, MEMORY_FAILURE_ACTION_INJECT,
               true, false, false, 0, qemu_real_host_page_size());
    ops = memory_failure_arch_ops(cpu);
    if (ops && ops->raise_sync) {
        ops->raise_sync(cpu);
    }
}

void memory_failure_process_pending(void)
{
    process_slots(NULL, false);
}

void memory_failure_vcpu_check(CPUState *cpu)
{
    if (qatomic_read(&vcpu_ar_waiting)) {
        BQL_LOCK_GUARD();
        if (process_slots(cpu, false)) {
            memory_failure_rest_wait(cpu);
        }
    }
}

/* The orderly end of a thread stuck on poison (main loop, BQL held) */
static void refault_stop(void)
{
    static bool stopping;

    if (!qatomic_load_acquire(&refault_fatal) || stopping) {
        return;
    }
    stopping = true;
    send_event(MEMORY_FAILURE_RECIPIENT_HYPERVISOR,
               MEMORY_FAILURE_ACTION_FATAL, true, false, false, 0,
               qemu_real_host_page_size());
    error_report("QEMU consumed a hardware memory error at host address "
                 "0x%" PRIxPTR " repeatedly before it could be handled",
                 qatomic_read(&refault_addr));
    qemu_system_shutdown_request_with_code(SHUTDOWN_CAUSE_HOST_ERROR,
                                           EXIT_FAILURE);
}

static void wakeup_read(EventNotifier *n)
{
    event_notifier_test_and_clear(n);
    refault_stop();
    memory_failure_process_pending();
}

typedef struct RaiseSync {
    MemoryFailureSyncPrepare prepare;
    void *opaque;
} RaiseSync;

static void raise_sync_on_vcpu(CPUState *cpu, run_on_cpu_data data)
{
    RaiseSync *r = data.host_ptr;
    bool user = memory_failure_arch_ops(cpu)->in_user_mode(cpu);
    bool raise = r->prepare(cpu, user, r->opaque);

    trace_memory_failure_raise_sync(cpu->cpu_index, user, raise);
    if (raise) {
        memory_failure_arch_ops(cpu)->raise_sync(cpu);
    }
}

bool memory_failure_raise_sync(CPUState *cpu, MemoryFailureSyncPrepare prepare,
                               void *opaque)
{
    RaiseSync r = { .prepare = prepare, .opaque = opaque };

    const MemoryFailureArchOps *ops = memory_failure_arch_ops(cpu);

    if (!ops || !ops->raise_sync || !ops->in_user_mode) {
        return false;
    }
    run_on_cpu(cpu, raise_sync_on_vcpu, RUN_ON_CPU_HOST_PTR(&r));
    return true;
}

/* --- simulated signals ------------------------------------------------ */

/* Record a SIGBUS pending on this thread (which blocks it), if any */
static void take_pending_sigbus(void)
{
    siginfo_t pending;
    struct timespec now = { 0 };
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGBUS);
    while (sigtimedwait(&set, &pending, &now) == SIGBUS) {
        memory_failure_sigbus(pending.si_code, pending.si_addr,
                              pending.si_addr_lsb, NULL);
    }
}

void memory_failure_raise_signal(int code, void *host, uint64_t page_size)
{
    siginfo_t si = { 0 };
    sigset_t set, old;

    if (!simulated_pages) {
        simulated_pages = g_hash_table_new(NULL, NULL);
    }
    g_hash_table_add(simulated_pages,
                     (void *)((uintptr_t)host & ~(page_size - 1)));
    si.si_signo = SIGBUS;
    si.si_code = code;
    si.si_addr = host;
    si.si_addr_lsb = ctz64(page_size);
    sigemptyset(&set);
    sigaddset(&set, SIGBUS);
    /*
     * SIGBUS is not queued: one still pending would swallow this one.
     * Take it now, as the signalfd reader would have.
     */
    take_pending_sigbus();
    simulating = true;
    /* Only the thread itself may queue a positive si_code to itself */
    pthread_sigmask(code == BUS_MCEERR_AR ? SIG_UNBLOCK : SIG_BLOCK, &set,
                    &old);
    if (syscall(SYS_rt_tgsigqueueinfo, getpid(), (pid_t)syscall(SYS_gettid),
                SIGBUS, &si) < 0) {
        error_report("cannot queue SIGBUS: %s", strerror(errno));
    }
    /* Blocked (action optional): recorded now, not at the next poll */
    take_pending_sigbus();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    simulating = false;
}

/* --- migration ---------------------------------------------------------- */

/* Whether [@p->offset, +@p->size) of @p->rb is mapped at @p->gpa */
static bool restore_maps_at(const MemoryPoison *p)
{
    hwaddr aliases[MAX_ALIASES];
    int i, n = memory_failure_gpas_of(p->rb, p->offset, p->size,
                                     aliases);

    for (i = 0; i < n; i++) {
        if (aliases[i] == p->gpa) {
            return true;
        }
    }
    return false;
}

static int restored_by_gpa(const void *a, const void *b)
{
    const MemoryPoison *x = a, *y = b;

    return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/*
 * Traps for the @n ranges @p just restored, in address order: one per run
 * of ranges next to each other in their block, as the source's traps
 * joined them, instead of one trap joined to the next per range.
 */
static void restore_traps(const MemoryPoison *p, size_t n)
{
    size_t i, start;

    for (start = 0, i = 1; i <= n; i++) {
        const MemoryPoison *run = &p[start], *last = &p[i - 1];

        if (i < n && p[i].rb == run->rb &&
            p[i].offset == last->offset + last->size) {
            continue;
        }
        poison_trap_add(run->rb->mr, run->offset,
                        last->offset + last->size - run->offset);
        start = i;
    }
}

bool memory_failure_restore(const MemoryPoison *ranges, size_t n, int uffd,
                            Error **errp)
{
    g_autofree MemoryPoison *p = g_memdup2(ranges, n * sizeof(*ranges));
    g_autofree MemoryPoison *trap = g_new(MemoryPoison, n);
    size_t i, nr_trap = 0;

    /*
     * In address order: the stream's is the order of the source's hash
     * table, which inserted as it is clusters in this one (100,000 ranges
     * took a second and a half to load, 80% of it probing)
     */
    if (n) {
        qsort(p, n, sizeof(*p), restored_by_gpa);
    }

    /* All checked before anything changes: a stream is all or nothing */
    for (i = 0; i < n; i++) {
        MemoryPoison known;

        if (memory_poison_find(p[i].rb, p[i].offset, &known) &&
            known.size >= p[i].size) {
            /* Known here already (a snapshot loaded again), and trapped */
            continue;
        }
        if (!restore_maps_at(&p[i])) {
            error_setg(errp, "poisoned range at guest address 0x%" HWADDR_PRIx
                       " (+0x%" PRIx64 "): guest memory there is not %s "
                       "0x%" PRIx64, p[i].gpa, p[i].size, p[i].rb->idstr,
                       p[i].offset);
            return false;
        }
    }
    /* One memory map update for all the traps */
    memory_region_transaction_begin();
    for (i = 0; i < n; i++) {
        trace_memory_failure_restore(p[i].gpa, p[i].size, p[i].reported);
        if (host_guards_poison()) {
            void *host = p[i].rb->host + p[i].offset;

            if (uffd >= 0 ? !poison_uffd_install_with(uffd, host, p[i].size,
                                                      errp)
                          : !poison_uffd_install(host, p[i].size, errp)) {
                break;
            }
            memory_poison_restore(&p[i]);
            continue;
        }
        if (memory_poison_restore(&p[i])) {
            trap[nr_trap++] = p[i];
        }
    }
    if (nr_trap) {
        restore_traps(trap, nr_trap);
    }
    memory_region_transaction_commit();
    return i == n;
}

/*
 * The machine stops to be saved (migration, snapshot): the errors the
 * signal handler recorded are tracked now, so that the state saved next
 * (the poisoned ranges, the reports queued for the guest) has them all.
 */
static void memory_failure_vm_state_change(void *opaque, bool running,
                                           RunState state)
{
    if (running || (state != RUN_STATE_FINISH_MIGRATE &&
                    state != RUN_STATE_SAVE_VM)) {
        return;
    }
    saving = true;
    process_slots(NULL, true);
    /* The rest of a lost huge page goes into the queues that are saved */
    memory_failure_rest_flush();
    poison_trap_report_devices();
    saving = false;
}

/* --- life cycle --------------------------------------------------------- */

static void memory_failure_reset(void *opaque)
{
    /*
     * Errors still in the table are about the memory being replaced: they
     * are tracked now (with an event, action reset), so that the reset
     * replaces their pages too, instead of being handled afterwards
     * against the fresh memory.
     */
    resetting = true;
    process_slots(NULL, true);
    resetting = false;
    reset_asked = false;
    memory_failure_rest_reset();
    poison_trap_reset();
    if (simulated_pages) {
        g_hash_table_remove_all(simulated_pages);
    }
    /* QEMU's own memory is not replaced: its poison and blocker stay */
    if (memory_poison_count()) {
        return;
    }
    memory_failure_unblock_migration();
}

static void memory_failure_machine_ready(Notifier *n, void *opaque)
{
    if (event_notifier_init(&wakeup, false) < 0) {
        error_report("memory failure: cannot create the wakeup eventfd");
        return;
    }
    event_notifier_set_handler(&wakeup, wakeup_read);
    qatomic_store_release(&wakeup_ready, true);
    qemu_register_reset(memory_failure_reset, NULL);
    qemu_add_vm_change_state_handler(memory_failure_vm_state_change, NULL);
    memory_failure_map_init();
    memory_failure_blocker_init();
    /* Anything that arrived during start-up */
    memory_failure_process_pending();
}

static Notifier machine_ready = { .notify = memory_failure_machine_ready };

static void memory_failure_init(void)
{
    qemu_add_machine_init_done_notifier(&machine_ready);
    ras_queue_register(&signal_queue);
    poison_trap_set_consumer(poisoned_access);
}

type_init(memory_failure_init)
