/*
 * Has the guest done the work it had pending?
 *
 * Two signs, per vCPU: it is idle (halted: under TCG a vCPU halts only
 * when the guest has nothing runnable on it; under KVM, whose in-kernel
 * interrupt controller keeps halts to itself, its thread is asleep in
 * the kernel rather than running guest code), or its thread has run for
 * long enough that any worker the guest had queued on it has run too
 * (the guest's scheduler gives a woken worker the CPU within a few
 * milliseconds of its own time).  Thread CPU time counts the guest's own
 * time, whatever else the host runs: a busy host slows the guest down
 * and this with it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/timer.h"
#include "hw/core/cpu.h"
#include "system/kvm.h"
#include "system/guest-progress.h"
#include "trace.h"

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

/* Whether @cs's thread is asleep now: blocked in KVM_RUN for a halt */
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
    if (kvm_enabled()) {
        return vcpu_thread_sleeping(cs);
    }
    /* Halted with an interrupt pending: about to run its handler */
    return qatomic_read(&cs->halted) && !cpu_has_work(cs);
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
        gp->cpu_ns = g_new0(int64_t, n);
        gp->nr_cpus = n;
    }
    n = 0;
    CPU_FOREACH(cs) {
        gp->cpu_ns[n++] = guest_progress_vcpu_ns(cs);
    }
    gp->mark_ns = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
}

bool guest_progress_done(GuestProgress *gp, int64_t busy_ns, int64_t max_ns)
{
    int64_t waited = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) - gp->mark_ns;
    CPUState *cs;
    unsigned n = 0;

    if (waited >= max_ns) {
        trace_guest_progress_timeout(waited);
        return true;
    }
    CPU_FOREACH(cs) {
        int64_t ran = n < gp->nr_cpus
                      ? guest_progress_vcpu_ns(cs) - gp->cpu_ns[n] : 0;

        n++;
        if (!guest_progress_vcpu_idle(cs) && ran < busy_ns) {
            return false;
        }
    }
    trace_guest_progress_done(waited);
    return true;
}

void guest_progress_destroy(GuestProgress *gp)
{
    g_clear_pointer(&gp->cpu_ns, g_free);
    gp->nr_cpus = 0;
}
