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
 * while its pages are being told waits at that access (halted, still
 * taking interrupts: it may be the CPU that handles the reports), and
 * takes its synchronous error once the guest has acted on the rest: the
 * guest knows all of the huge page before anything of it is freed.
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
/* How often a waiting vCPU's range is looked at */
#define MF_HOLD_POLL_NS     (1 * SCALE_MS)
/*
 * The queues empty, the guest has acted on what it was given once every
 * vCPU idled or ran this long (its memory-failure worker ran)
 */
#define MF_HOLD_BUSY_NS     (20 * SCALE_MS)
/* A guest that does not act on the reports: its vCPUs go on anyway */
#define MF_HOLD_MAX_NS      (5 * NANOSECONDS_PER_SECOND)

typedef struct MFRest {
    hwaddr start;               /* the base pages told: [start, +len) */
    uint64_t len;
    hwaddr signalled;           /* the page the signal named */
    bool signalled_told;        /* reported already, or when touched */
    bool queued;                /* not told yet */
    int64_t since_ns;           /* QEMU_CLOCK_REALTIME */
    GuestProgress progress;     /* once every report went in */
    bool progress_marked;
} MFRest;

/* Oldest first: told in that order, then held until acted on */
static GQueue rests = G_QUEUE_INIT;
static QEMUTimer *rest_timer;
/* cpu_index of every vCPU waiting at an access, as a set */
static GHashTable *waiting_cpus;

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
        return;
    }
    for (a = r->start; a < r->start + r->len;
         a += qemu_real_host_page_size()) {
        if (a != r->signalled) {
            rest_report(ops, a, &told, &untold);
        }
    }
    if (!r->signalled_told) {
        rest_report(ops, r->signalled, &told, &untold);
    }
    trace_memory_failure_rest_of_range(r->start, r->len, r->signalled, told,
                                       untold);
}

/* No queue holds a report back from the guest, or has one out with it */
static bool rest_queues_idle(void)
{
    return !ras_queue_busy();
}

/* Whether the guest has acted on all of @r (or will not, in time) */
static bool rest_done(MFRest *r, int64_t now)
{
    if (r->queued) {
        return false;
    }
    if (now - r->since_ns >= MF_HOLD_MAX_NS) {
        trace_memory_failure_rest_timeout(r->start, r->len,
                                          (now - r->since_ns) / SCALE_US);
        return true;
    }
    if (!rest_queues_idle()) {
        r->progress_marked = false;
        return false;
    }
    if (!r->progress_marked) {
        guest_progress_mark(&r->progress);
        r->progress_marked = true;
    }
    return guest_progress_done(&r->progress, MF_HOLD_BUSY_NS,
                               MF_HOLD_MAX_NS);
}

static void rest_wake(CPUState *cpu, run_on_cpu_data data)
{
    cpu->halted = 0;
}

static void rest_wake_all(void)
{
    GHashTableIter it;
    gpointer key;

    if (!waiting_cpus) {
        return;
    }
    g_hash_table_iter_init(&it, waiting_cpus);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        CPUState *cpu = qemu_get_cpu(GPOINTER_TO_INT(key));

        if (cpu) {
            trace_memory_failure_rest_wake(cpu->cpu_index);
            async_run_on_cpu(cpu, rest_wake, RUN_ON_CPU_NULL);
        }
    }
    g_hash_table_remove_all(waiting_cpus);
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
    if (g_queue_is_empty(&rests)) {
        rest_wake_all();
    } else {
        timer_mod(rest_timer, now + MF_HOLD_POLL_NS);
    }
}

void memory_failure_rest_queue(hwaddr gpa, uint64_t size, hwaddr signalled,
                               bool signalled_told)
{
    uint64_t win = MIN(size, MF_REST_MAX);
    MFRest *r = g_new0(MFRest, 1);

    r->start = gpa + QEMU_ALIGN_DOWN(signalled - gpa, win);
    r->len = win;
    r->signalled = signalled;
    r->signalled_told = signalled_told;
    r->queued = true;
    r->since_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
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

bool memory_failure_rest_hold(CPUState *cpu, hwaddr gpa)
{
    GList *l;

    for (l = rests.head; l; l = l->next) {
        MFRest *r = l->data;

        if (gpa >= r->start && gpa < r->start + r->len) {
            if (!waiting_cpus) {
                waiting_cpus = g_hash_table_new(NULL, NULL);
            }
            g_hash_table_add(waiting_cpus, GINT_TO_POINTER(cpu->cpu_index));
            trace_memory_failure_rest_hold(cpu->cpu_index, gpa);
            return true;
        }
    }
    return false;
}

void memory_failure_rest_reset(void)
{
    MFRest *r;

    /* Fresh memory: nothing to tell, nobody waits for it */
    while ((r = g_queue_pop_head(&rests))) {
        rest_free(r);
    }
    rest_wake_all();
}
