/*
 * Has the guest done the work it had pending?
 *
 * Two signs, per vCPU: it is idle (halted: under TCG a vCPU halts only
 * when the guest has nothing runnable on it; under KVM, whose in-kernel
 * interrupt controller keeps halts to itself, KVM says it has the vCPU
 * asleep), or its thread has run for long enough that any worker the
 * guest had queued on it has run too (the guest's scheduler gives a
 * woken worker the CPU within a few milliseconds of its own time).
 * Thread CPU time counts the guest's own time, whatever else the host
 * runs: a busy host slows the guest down and this with it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/timer.h"
#include "hw/core/cpu.h"
#include "system/kvm.h"
#include "system/guest-progress.h"
#include "system/memory-failure.h"
#include "trace.h"
#ifdef CONFIG_LINUX
#define HAVE_KVM_STATS
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include "system/kvm-stats.h"
#endif

int64_t guest_progress_vcpu_ns(CPUState *cs)
{
#ifdef CONFIG_POSIX
    clockid_t clock;
    struct timespec ts;

    if (cs->thread &&
        !pthread_getcpuclockid(cs->thread->thread, &clock) &&
        !clock_gettime(clock, &ts)) {
        return ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec;
    }
#endif
    return 0;
}

#ifdef HAVE_KVM_STATS
/*
 * KVM says itself whether it has a vCPU blocked for a halt: the
 * "blocking" statistic (Linux 5.16), true only while the vCPU sleeps
 * (not while it polls before sleeping, nor while its thread waits for a
 * lock in QEMU).  The statistics file must be opened on the vCPU's
 * thread (KVM takes the vCPU's mutex, held while it runs): it is asked
 * for at the first look, without waiting, and read from any thread.
 */
typedef struct KvmBlocking {
    int fd;
    int64_t offset;             /* of the value, or -1: not available */
    bool asked;
    bool opened;                /* @fd and @offset set (release) */
} KvmBlocking;

/*
 * By the vCPU's KVM fd, not its cpu_index: an unplugged vCPU's KVM vCPU is
 * parked, and given back to the vCPU plugged in its place, which may have
 * another cpu_index; a cpu_index may come back on another KVM vCPU
 */
static GHashTable *kvm_blocking;        /* kvm_fd -> KvmBlocking */

static void kvm_blocking_open(CPUState *cs, run_on_cpu_data data)
{
    KvmBlocking *b = data.host_ptr;
    int fd = ioctl(cs->kvm_fd, KVM_GET_STATS_FD, NULL);
    int64_t offset = fd >= 0 ? kvm_stats_find(fd, "blocking") : -1;

    if (offset < 0 && fd >= 0) {
        close(fd);
        fd = -1;
    }
    b->fd = fd;
    b->offset = offset;
    qatomic_store_release(&b->opened, true);
    trace_guest_progress_kvm_blocking(cs->cpu_index, offset >= 0);
}

/* 1: KVM has @cs asleep for a halt; 0: not; -1: KVM does not say (yet) */
static int kvm_vcpu_blocking(CPUState *cs)
{
    KvmBlocking *b;
    int64_t offset;
    uint64_t v;

    if (!kvm_blocking) {
        kvm_blocking = g_hash_table_new_full(g_direct_hash, g_direct_equal,
                                             NULL, g_free);
    }
    b = g_hash_table_lookup(kvm_blocking, GINT_TO_POINTER(cs->kvm_fd));
    if (!b) {
        b = g_new0(KvmBlocking, 1);
        b->fd = -1;
        b->offset = -1;
        g_hash_table_insert(kvm_blocking, GINT_TO_POINTER(cs->kvm_fd), b);
    }
    if (!b->asked) {
        b->asked = true;
        async_run_on_cpu(cs, kvm_blocking_open, RUN_ON_CPU_HOST_PTR(b));
        return -1;
    }
    if (!qatomic_load_acquire(&b->opened)) {
        return -1;
    }
    offset = b->offset;
    if (offset < 0 || pread(b->fd, &v, sizeof(v), offset) != sizeof(v)) {
        return -1;
    }
    return v != 0;
}
#endif

/*
 * For hosts whose KVM does not say: whether @cs's thread is asleep now.
 * Also true while it waits for a lock in QEMU, and false while KVM polls
 * before it sleeps: a guess.
 */
static bool vcpu_thread_sleeping(CPUState *cs)
{
    g_autofree char *path = g_strdup_printf("/proc/self/task/%d/stat",
                                            cs->thread_id);
    g_autofree char *stat = NULL;
    const char *end;

    if (!g_file_get_contents(path, &stat, NULL, NULL)) {
        return false;
    }
    /* "tid (comm) S ...": comm may hold anything, even ") " */
    end = strrchr(stat, ')');
    return end && end[1] == ' ' && (end[2] == 'S' || end[2] == 'D');
}

int64_t guest_progress_cpu_ns(void)
{
    CPUState *cs;
    int64_t ns = 0;

    CPU_FOREACH(cs) {
        /* Round-robin TCG runs every vCPU on the first one's thread */
        if (cs->unplug ||
            (cs != first_cpu && cs->thread == first_cpu->thread)) {
            continue;
        }
        ns += guest_progress_vcpu_ns(cs);
    }
    return ns;
}

bool guest_progress_vcpu_idle(CPUState *cs)
{
    /* A vCPU held at a poisoned access does nothing else meanwhile */
    if (memory_failure_rest_vcpu_waiting(cs)) {
        return true;
    }
    if (kvm_enabled()) {
#ifdef HAVE_KVM_STATS
        int blocking = kvm_vcpu_blocking(cs);

        if (blocking >= 0) {
            return blocking;
        }
#endif
        return vcpu_thread_sleeping(cs);
    }
    /* Halted with an interrupt pending: about to run its handler */
    return qatomic_read(&cs->halted) && !cpu_has_work(cs);
}

/* How often each vCPU (by cpu_index) went idle, from its first time */
static GArray *vcpu_sleeps;

void guest_progress_vcpu_sleeps(CPUState *cs)
{
    if (!cs->halted || cpu_has_work(cs)) {
        return;
    }
    if (!vcpu_sleeps) {
        vcpu_sleeps = g_array_new(false, true, sizeof(uint64_t));
    }
    if (cs->cpu_index >= vcpu_sleeps->len) {
        g_array_set_size(vcpu_sleeps, cs->cpu_index + 1);
    }
    g_array_index(vcpu_sleeps, uint64_t, cs->cpu_index)++;
}

static uint64_t vcpu_sleeps_of(CPUState *cs)
{
    return vcpu_sleeps && cs->cpu_index < vcpu_sleeps->len
           ? g_array_index(vcpu_sleeps, uint64_t, cs->cpu_index) : 0;
}

void guest_progress_mark(GuestProgress *gp)
{
    CPUState *cs;
    unsigned n = 0;

    CPU_FOREACH(cs) {
        n++;
    }
    if (n != gp->nr_cpus) {
        g_free(gp->cpu_ns);
        g_free(gp->sleeps);
        gp->cpu_ns = g_new0(int64_t, n);
        gp->sleeps = g_new0(uint64_t, n);
        gp->nr_cpus = n;
    }
    n = 0;
    CPU_FOREACH(cs) {
        gp->sleeps[n] = vcpu_sleeps_of(cs);
        gp->cpu_ns[n++] = guest_progress_vcpu_ns(cs);
    }
    gp->mark_ns = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
}

GuestProgressSign guest_progress_done(GuestProgress *gp, CPUState *cpu,
                                      int64_t busy_ns, int64_t max_ns)
{
    int64_t waited = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) - gp->mark_ns;
    GuestProgressSign sign = GUEST_PROGRESS_IDLED;
    bool timed_out = false;
    CPUState *cs;
    unsigned n = 0;

    CPU_FOREACH(cs) {
        int64_t ran = n < gp->nr_cpus
                      ? guest_progress_vcpu_ns(cs) - gp->cpu_ns[n] : 0;
        bool slept = n < gp->nr_cpus && vcpu_sleeps_of(cs) != gp->sleeps[n];

        n++;
        if ((cpu && cs != cpu) || slept || guest_progress_vcpu_idle(cs)) {
            continue;
        }
        if (ran < busy_ns) {
            if (waited < max_ns) {
                return GUEST_PROGRESS_NONE;
            }
            timed_out = true;
        }
        sign = GUEST_PROGRESS_GUESSED;
    }
    if (timed_out) {
        trace_guest_progress_timeout(waited);
    } else {
        trace_guest_progress_done(waited, sign == GUEST_PROGRESS_IDLED);
    }
    return sign;
}

void guest_progress_destroy(GuestProgress *gp)
{
    g_clear_pointer(&gp->cpu_ns, g_free);
    g_clear_pointer(&gp->sleeps, g_free);
    gp->nr_cpus = 0;
}
