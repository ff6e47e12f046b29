/*
 * Host memory failures and what the guest is told about them
 *
 * One accelerator-independent path: a SIGBUS with BUS_MCEERR_AR/AO (from
 * the host kernel, or simulated through QMP) is recorded by the signal
 * handler, then decided on at a safe point with the BQL held: which guest
 * physical ranges map the failed host memory, whether it is the guest's
 * or QEMU's own, and what the target reports to the guest.  Every
 * decision is published as a MEMORY_FAILURE event.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef SYSTEM_MEMORY_FAILURE_H
#define SYSTEM_MEMORY_FAILURE_H

#include "exec/hwaddr.h"
#include "qapi/qapi-types-ras.h"
#include "qapi/qapi-types-run-state.h"
#include "system/memory-poison.h"

/*
 * What a target does to tell its guest of memory errors: a CPU class's
 * SysemuCPUOps::memory_failure.  The core decides when each is called:
 * under KVM an action-required error is reported when the signal comes,
 * under TCG when the guest touches the poison (the access traps).
 */
typedef struct MemoryFailureArchOps {
    /*
     * Report an error in guest RAM at [@gpa, @gpa + @size): action
     * required on @cpu, whose access cannot complete (KVM; on @cpu's
     * thread), or action optional with @cpu NULL.  Sets *@recursive when
     * the guest was still handling an earlier error.  Returns the action
     * taken; the core publishes it.
     */
    MemoryFailureAction (*report)(CPUState *cpu, hwaddr gpa, uint64_t size,
                                  bool *recursive);
    /*
     * Whether report() of an error no vCPU consumed (@cpu NULL) holds the
     * BQL throughout, as writing a record does (not so waiting for a
     * vCPU): no device can then access guest memory before it returns.
     * NULL: it may not.
     */
    bool (*async_report_holds_bql)(void);
    /*
     * Under TCG, @cpu (NULL for a device or the monitor) accessed the
     * poisoned range [@gpa, @gpa + @size).  Prepare the synchronous error;
     * the access itself then fails with MEMTX_ERROR.  Returns
     * POISON_TRAP_REPORTED if the guest has been told (or will be, by a
     * queued report) of this range, and POISON_TRAP_PASS if, the data
     * being intact (@data_intact), the access is to complete instead (the
     * guest kernel read it, which a synchronous error would kill).
     * @reported: an earlier access told the guest already.
     */
    unsigned (*poison_accessed)(CPUState *cpu, hwaddr gpa, uint64_t size,
                                bool data_intact, bool reported);
    /*
     * Raise the synchronous error of a consumed memory error on @cpu now
     * (arm: SEA), on @cpu's thread; NULL if the target has none.
     */
    void (*raise_sync)(CPUState *cpu);
    /* Whether @cpu, on its own thread, is executing guest user code */
    bool (*in_user_mode)(CPUState *cpu);
} MemoryFailureArchOps;

/*
 * The SIGBUS handler of system emulation.  Async-signal-safe: it only
 * records the error and wakes the main loop.  Returns false for a SIGBUS
 * that is not a memory error, which the caller must treat as fatal.
 */
bool memory_failure_sigbus(int code, void *addr, int addr_lsb, void *uctx);

/* Unblock SIGBUS on a vCPU thread, so host memory errors reach us */
void memory_failure_init_vcpu_thread(void);

/*
 * KVM on arm64 (KVM_EXIT_ARM_SEA): the guest's access on @cpu ended in a
 * synchronous external abort the host did not claim, at guest physical
 * address @gpa if @has_gpa.  Handled as the host's action-required signal
 * would be: tracked, a record for the guest, then the SEA.
 */
void memory_failure_guest_sea(CPUState *cpu, bool has_gpa, hwaddr gpa);

/*
 * Called on @cpu's thread whenever it has left the guest and before it
 * enters it again: handles the action-required errors it took itself.
 */
void memory_failure_vcpu_check(CPUState *cpu);

/*
 * Under TCG: whether vCPU @cpu is waiting at an access to a lost huge page
 * the guest is still being told of (it does nothing else meanwhile)
 */
bool memory_failure_rest_vcpu_waiting(CPUState *cpu);

/*
 * Send the MEMORY_FAILURE event; @repeat: of a range already known (a
 * device looping over one poisoned page, say), which is throttled to one
 * a second (system/memory-failure-event.c).
 */
void memory_failure_send_event(MemoryFailureRecipient recipient,
                               MemoryFailureAction action, bool ar,
                               bool recursive, bool has_gpa, hwaddr gpa,
                               uint64_t size, bool repeat);

/*
 * A simulated host memory failure of the @page_size bytes at @host: the
 * SIGBUS the host kernel would raise, with @code, raised on this thread
 * and recorded before this returns.  The data is intact: the guest
 * kernel may read it (see MemoryFailureArchOps::poison_accessed).
 */
void memory_failure_raise_signal(int code, void *host, uint64_t page_size);
/*
 * Until called again with false, the errors this thread simulates are
 * handled as under KVM (the host keeps poisoned pages out of the guest's
 * mappings: no trap; a vCPU faults again when it retries), so that the
 * KVM paths run under TCG and qtest
 */
void memory_failure_simulate_guarded(bool on);

/*
 * On @cpu's own thread, and waiting for it: call @prepare with whether
 * @cpu is executing guest user code, then raise the synchronous error of
 * a consumed memory error there if @prepare returns true.  A synchronous
 * error taken in the guest kernel is fatal to it (Linux on arm64 dies of
 * a kernel-mode SEA), so @prepare reports the error another way when the
 * vCPU is not in user mode.  False, calling nothing, if the target has no
 * synchronous error.
 */
typedef bool (*MemoryFailureSyncPrepare)(CPUState *cpu, bool user_mode,
                                         void *opaque);
bool memory_failure_raise_sync(CPUState *cpu, MemoryFailureSyncPrepare prepare,
                               void *opaque);

/*
 * The vCPU of a QMP command's optional 'cpu-index', which only an
 * action-required error may name (default 0).  Sets *@cpu to NULL for an
 * action-optional error.  False, with @errp set, on bad input.
 */
bool memory_failure_cpu_arg(bool action_required, bool has_cpu_index,
                            int64_t cpu_index, CPUState **cpu, Error **errp);

/*
 * Guest RAM whose contents QEMU keeps (it writes them; the guest only
 * reads them): the GHES blob.  A memory error there is QEMU's to mend,
 * not the guest's to handle.  When the failed memory is a plain host page
 * it is replaced by a fresh one at once and @mend is called with
 * @replaced true, to write back what QEMU keeps there; in a huge page
 * (which holds guest data too) nothing is replaced, and @mend learns that
 * what lies in [@gpa, @gpa + @size) is lost.
 */
typedef void (*MemoryFailureMend)(void *opaque, hwaddr gpa, uint64_t size,
                                  bool replaced);
void memory_failure_own_ram(void *opaque, hwaddr gpa, uint64_t len,
                            MemoryFailureMend mend);
void memory_failure_disown_ram(void *opaque);

/*
 * If @gpa is in memory QEMU keeps (whatever is mapped over it), its RAM,
 * and in *@host the host address of @gpa
 */
MemoryRegion *memory_failure_owned_ram(hwaddr gpa, void **host);

/*
 * Recreate the @n poisoned ranges @p, which the source of a migration or
 * a snapshot lost and did not send: tracked as they were there (the data
 * is gone, whether or not the error was simulated), and made to fail as
 * real poison does (TCG: traps; KVM: userfaultfd poison markers).  False,
 * with @errp set, if a range is not guest memory at the guest address it
 * gives (nothing changed then), or if the host cannot make one fail.
 * @uffd: a userfaultfd that has all guest memory registered (postcopy's),
 * or -1.
 */
bool memory_failure_restore(const MemoryPoison *p, size_t n, int uffd,
                            Error **errp);

/* Process every recorded error now (main loop, BQL held) */
void memory_failure_process_pending(void);

#endif
