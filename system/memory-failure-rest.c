/*
 * The rest of a lost huge page: telling the guest every base page of it
 *
 * The host lost a huge page: every base page of it is gone, not only the
 * one the signal named, which is all Linux offlines.  A process killed by
 * that error frees the rest of its huge page at once, and whoever gets
 * those pages next dies of them (init, on a guest backed by hugetlbfs: a
 * panic).  So the guest is told of the others too, as action optional,
 * from the main loop and through the targets' paced queues.
 *
 * Told is not enough: the guest must act on them before it frees them.
 * Linux takes memory-failure work in a fifo of 16 a CPU, so 511 pages
 * take a few hundred notifications, while a process that dies of its
 * first SIGBUS frees its pages within a millisecond, and the next program
 * gets them within tens.  So under TCG a vCPU that touches the lost range
 * in user mode while its pages are being told waits at that access (a
 * millisecond at a time, or until an interrupt comes, which it takes: it
 * may be the CPU that handles the reports), and takes its synchronous error
 * once the guest has acted on the rest: the guest knows all of the huge
 * page before anything of it is freed.  Under KVM, where the host keeps
 * the lost page out of the guest's mappings, such a vCPU's signal is not
 * reported: the vCPU waits as long, re-enters the guest, faults again,
 * and is reported once the rest has been acted on.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qemu/units.h"
#include "hw/core/cpu.h"
#include "system/guest-progress.h"
#include "system/memory-failure.h"
#include "system/ras-queue.h"
#include "memory-failure-internal.h"
#include "trace.h"

/*
 * At most the 2 MiB around the named page: a 1 GiB page would be 262,143
 * reports, and what lies further away is still reported when touched
 */
#define MF_REST_MAX         (2 * MiB)
/* How often the guest's progress is looked at while vCPUs wait */
#define MF_HOLD_POLL_NS     (1 * SCALE_MS)
/* A waiting vCPU retries its access at least this often */
#define MF_WAIT_MS          1
/* One that has not for this long is doing something else */
#define MF_WAITING_NS       (3 * SCALE_MS)
/*
 * The queues empty, the guest has acted on what it was given once every
 * vCPU idled or ran this long (its memory-failure worker ran)
 */
#define MF_HOLD_BUSY_NS     (20 * SCALE_MS)
/*
 * A guest that takes no report for this long does not act on them: its
 * vCPUs go on anyway
 */
#define MF_HOLD_MAX_NS      (5 * NANOSECONDS_PER_SECOND)

typedef struct MFRest {
    hwaddr range_gpa;           /* the range lost */
    uint64_t range_size;
    hwaddr start;               /* the base pages told: [start, +len) */
    uint64_t len;
    hwaddr signalled;           /* the page the signal named */
    /* reported already, or when touched; else its event is sent here */
    bool signalled_told;
    bool queued;                /* not told yet */
    int64_t since_ns;           /* QEMU_CLOCK_REALTIME */
    int64_t moved_ns;           /* when the guest last took a report */
    uint64_t delivered;         /* reports it had taken then */
    GuestProgress progress;     /* once every report went in */
    bool progress_marked;
} MFRest;

/* Oldest first: told in that order, then held until acted on */
static GQueue rests = G_QUEUE_INIT;
static QEMUTimer *rest_timer;
/* When each vCPU (by cpu_index) last waited at an access */
static GArray *waited_ns;

static void rest_free(MFRest *r)
{
    guest_progress_destroy(&r->progress);
    g_free(r);
}

static void rest_report(const MemoryFailureArchOps *ops, hwaddr page,
                        unsigned *told, unsigned *untold)
{
    bool recursive;

    if (ops->report(NULL, page, qemu_real_host_page_size(), &recursive) ==
        MEMORY_FAILURE_ACTION_INJECT) {
        (*told)++;
    } else {
        (*untold)++;
    }
}

/* The named page of @r, last: the error's event says what became of it */
static void rest_tell_signalled(MFRest *r, const MemoryFailureArchOps *ops,
                                unsigned *told, unsigned *untold)
{
    bool recursive = false;
    MemoryFailureAction action = ops->report(NULL, r->signalled,
                                             qemu_real_host_page_size(),
                                             &recursive);

    if (action == MEMORY_FAILURE_ACTION_INJECT) {
        (*told)++;
    } else {
        (*untold)++;
    }
    memory_failure_send_event(MEMORY_FAILURE_RECIPIENT_GUEST, action, false,
                              recursive, true, r->range_gpa, r->range_size,
                              false);
}

/*
 * Every base page of @r but the named one, then the named one unless it
 * is told otherwise (when a vCPU touches it: it waits meanwhile)
 */
static void rest_tell(MFRest *r)
{
    const MemoryFailureArchOps *ops = memory_failure_arch_ops(NULL);
    unsigned told = 0, untold = 0;
    hwaddr a;

    r->queued = false;
    if (!ops || memory_failure_reset_asked()) {
        if (!r->signalled_told) {
            memory_failure_send_event(MEMORY_FAILURE_RECIPIENT_GUEST,
                                      MEMORY_FAILURE_ACTION_IGNORE, false,
                                      false, true, r->range_gpa,
                                      r->range_size, false);
        }
        return;
    }
    for (a = r->start; a < r->start + r->len;
         a += qemu_real_host_page_size()) {
        if (a != r->signalled) {
            rest_report(ops, a, &told, &untold);
        }
    }
    if (!r->signalled_told) {
        rest_tell_signalled(r, ops, &told, &untold);
    }
    trace_memory_failure_rest_of_range(r->start, r->len, r->signalled, told,
                                       untold);
}

/* Whether the guest has acted on all of @r (or will not, in time) */
static bool rest_done(MFRest *r, int64_t now)
{
    if (r->queued) {
        return false;
    }
    if (ras_queue_delivered() != r->delivered) {
        r->delivered = ras_queue_delivered();
        r->moved_ns = now;
    } else if (now - r->moved_ns >= MF_HOLD_MAX_NS) {
        trace_memory_failure_rest_timeout(r->start, r->len,
                                          (now - r->since_ns) / SCALE_US);
        return true;
    }
    if (ras_queue_busy()) {
        r->progress_marked = false;
        return false;
    }
    if (!r->progress_marked) {
        guest_progress_mark(&r->progress);
        r->progress_marked = true;
    }
    return guest_progress_done(&r->progress, NULL, MF_HOLD_BUSY_NS,
                               MF_HOLD_MAX_NS);
}

/* The rest is told and acted on: vCPUs waiting retry at once */
static void rest_kick_waiting(void)
{
    CPUState *cpu;

    CPU_FOREACH(cpu) {
        if (memory_failure_rest_vcpu_waiting(cpu)) {
            qemu_cpu_kick(cpu);
        }
    }
}

/*
 * A main-loop timer, not a bottom half: bottom halves also run in nested
 * aio_poll() calls (a vCPU thread waiting for I/O), where reports would
 * skip pacing and wait for other vCPUs
 */
static void rest_run(void *opaque)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    GList *l, *next;

    for (l = rests.head; l; l = l->next) {
        MFRest *r = l->data;

        if (r->queued) {
            rest_tell(r);
        }
    }
    for (l = rests.head; l; l = next) {
        MFRest *r = l->data;

        next = l->next;
        if (rest_done(r, now)) {
            g_queue_delete_link(&rests, l);
            rest_free(r);
        }
    }
    if (!g_queue_is_empty(&rests)) {
        timer_mod(rest_timer, now + MF_HOLD_POLL_NS);
    } else {
        rest_kick_waiting();
    }
}

void memory_failure_rest_queue(hwaddr gpa, uint64_t size, hwaddr signalled,
                               bool signalled_told)
{
    uint64_t win = MIN(size, MF_REST_MAX);
    MFRest *r = g_new0(MFRest, 1);

    r->range_gpa = gpa;
    r->range_size = size;
    r->start = gpa + QEMU_ALIGN_DOWN(signalled - gpa, win);
    r->len = win;
    r->signalled = signalled;
    r->signalled_told = signalled_told;
    r->queued = true;
    r->since_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    r->moved_ns = r->since_ns;
    r->delivered = ras_queue_delivered();
    g_queue_push_tail(&rests, r);
    if (!rest_timer) {
        rest_timer = timer_new_ns(QEMU_CLOCK_REALTIME, rest_run, NULL);
    }
    timer_mod(rest_timer, qemu_clock_get_ns(QEMU_CLOCK_REALTIME));
}

void memory_failure_rest_flush(void)
{
    GList *l;

    for (l = rests.head; l; l = l->next) {
        MFRest *r = l->data;

        if (r->queued) {
            rest_tell(r);
        }
    }
}

bool memory_failure_rest_telling(hwaddr gpa)
{
    GList *l;

    for (l = rests.head; l; l = l->next) {
        MFRest *r = l->data;

        if (gpa >= r->start && gpa < r->start + r->len) {
            return true;
        }
    }
    return false;
}

bool memory_failure_rest_hold(CPUState *cpu, hwaddr gpa)
{
    if (!memory_failure_rest_telling(gpa)) {
        return false;
    }
    if (!waited_ns) {
        waited_ns = g_array_new(false, true, sizeof(int64_t));
    }
    if (waited_ns->len <= cpu->cpu_index) {
        g_array_set_size(waited_ns, cpu->cpu_index + 1);
    }
    g_array_index(waited_ns, int64_t, cpu->cpu_index) =
        qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    trace_memory_failure_rest_hold(cpu->cpu_index, gpa);
    return true;
}

void memory_failure_rest_wait(CPUState *cpu)
{
    if (!qatomic_read(&cpu->interrupt_request) &&
        !qatomic_read(&cpu->exit_request) && !cpu->stop) {
        /* qemu_cpu_kick() wakes it */
        qemu_cond_timedwait_bql(cpu->halt_cond, MF_WAIT_MS);
    }
}

bool memory_failure_rest_vcpu_waiting(CPUState *cpu)
{
    return waited_ns && cpu->cpu_index < waited_ns->len &&
           qemu_clock_get_ns(QEMU_CLOCK_REALTIME) -
           g_array_index(waited_ns, int64_t, cpu->cpu_index) < MF_WAITING_NS;
}

void memory_failure_rest_reset(void)
{
    MFRest *r;

    /* Fresh memory: nothing to tell, nobody waits for it */
    while ((r = g_queue_pop_head(&rests))) {
        if (r->queued && !r->signalled_told) {
            memory_failure_send_event(MEMORY_FAILURE_RECIPIENT_GUEST,
                                      MEMORY_FAILURE_ACTION_RESET, false,
                                      false, true, r->range_gpa,
                                      r->range_size, false);
        }
        rest_free(r);
    }
}
