/*
 * Has the guest done the work it had pending?
 *
 * A guest acknowledges an error report before it has acted on it (Linux
 * queues memory_failure() for a worker, in a small fifo, and drops what
 * does not fit).  Whoever reports errors faster than the guest works
 * loses them inside the guest.  QEMU cannot see the guest's queues, but
 * it can see the guest make progress: a CPU idles only once it has run
 * its runnable work.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef SYSTEM_GUEST_PROGRESS_H
#define SYSTEM_GUEST_PROGRESS_H

typedef struct GuestProgress {
    int64_t mark_ns;            /* QEMU_CLOCK_VIRTUAL */
    unsigned nr_cpus;
    int64_t *cpu_ns;            /* each vCPU thread's CPU time at the mark */
    uint64_t *sleeps;           /* and how often it had gone idle */
} GuestProgress;

/* The guest has work pending from now on */
void guest_progress_mark(GuestProgress *gp);

typedef enum GuestProgressSign {
    GUEST_PROGRESS_NONE,        /* none yet */
    GUEST_PROGRESS_GUESSED,     /* a vCPU ran, or the wait ran out */
    GUEST_PROGRESS_IDLED,       /* every vCPU idled: it ran all it had */
} GuestProgressSign;

/*
 * Whether the guest has run since the mark, on vCPU @cpu where the work
 * is known to wait there, else (NULL) on every vCPU: each is idle now or
 * has gone idle since (where QEMU sees it: TCG), GUEST_PROGRESS_IDLED;
 * or each of them did that or ran for @busy_ns of CPU time since, or,
 * whatever it did, @max_ns of virtual time went by (a guest that neither
 * idles nor runs visibly), GUEST_PROGRESS_GUESSED.
 */
GuestProgressSign guest_progress_done(GuestProgress *gp, CPUState *cpu,
                                      int64_t busy_ns, int64_t max_ns);

void guest_progress_destroy(GuestProgress *gp);

/*
 * Whether vCPU @cs is idle now: halted with no interrupt to take (TCG),
 * or its thread asleep in the kernel rather than running guest code (KVM,
 * where QEMU never sees the halt with an in-kernel interrupt controller).
 */
bool guest_progress_vcpu_idle(CPUState *cs);

/*
 * vCPU @cs's thread goes to sleep: if the guest halted it (not a stop),
 * it had nothing left to run.  Called with the BQL held.
 */
void guest_progress_vcpu_sleeps(CPUState *cs);

/* CPU time vCPU @cs's thread has run, in ns (0 if unknown) */
int64_t guest_progress_vcpu_ns(CPUState *cs);

/* CPU time all vCPU threads have run, each thread once, in ns */
int64_t guest_progress_cpu_ns(void);

#endif
