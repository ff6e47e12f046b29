/*
 * Arm: reporting host memory failures to the guest, firmware first
 *
 * Action-required errors go to the GHESv2 source of the vCPU that
 * consumed the poison and are signalled by a Synchronous External Abort
 * on that vCPU; action-optional ones go to the asynchronous source,
 * signalled through the GED.  Without ras=on there are no error sources:
 * the guest still gets the external abort, with nothing to decode.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "cpu.h"
#include "internals.h"
#include "syndrome.h"
#include "hw/acpi/ghes-device.h"
#include "system/hw_accel.h"
#include "system/kvm.h"
#include "kvm_arm.h"
#include "system/qtest.h"
#include "system/memory-failure.h"
#include "target/arm/memory-failure.h"
#include "system/poison-trap.h"
#include "trace.h"

/*
 * Take a Synchronous External Abort at EL1 now, at the current PC (the
 * access KVM could not complete).  The fault address is not valid (FnV):
 * the CPER record says where the error is.
 */
static void arm_mf_take_sea(CPUState *cs)
{
    CPUARMState *env = cpu_env(cs);
    bool same_el;

    /*
     * KVM injects it as the architecture routes it, to a guest
     * hypervisor's EL2 (nested virtualization) too; QEMU's own injection
     * below is the way on older hosts and under TCG.
     */
    if (kvm_enabled() && kvm_arm_inject_sea(cs)) {
        trace_arm_mf_sea_by_kvm(cs->cpu_index);
        return;
    }
    cpu_synchronize_state(cs);
    cs->exception_index = EXCP_DATA_ABORT;
    /* EL1, or EL2 for a guest hypervisor's host (HCR_EL2.TGE) */
    env->exception.target_el = exception_target_el(env);
    same_el = arm_current_el(env) == env->exception.target_el;
    /* DFSC 0x10: synchronous external abort, not on a table walk */
    env->exception.syndrome = syn_data_abort_no_iss(same_el, 1, 0, 0, 0, 0,
                                                    0x10);
    arm_cpu_do_interrupt(cs);
    /*
     * Taken: under TCG the CPU loop would otherwise take it a second
     * time, at the exception vector.
     */
    cs->exception_index = -1;
    cs->halted = 0;
}

static bool arm_mf_in_user_mode(CPUState *cs)
{
    if (qtest_enabled()) {
        /* No guest code runs: take the vCPU to be at the access */
        return true;
    }
    cpu_synchronize_state(cs);
    return arm_current_el(cpu_env(cs)) == 0;
}

/*
 * A record for the error at @gpa: to @cs's SEA source, or the
 * asynchronous one (@cs NULL).  Without error sources (ras=off) or
 * before firmware placed them, GHES_POST_FAILED.
 */
static GhesPosted arm_mf_record(CPUState *cs, hwaddr gpa, uint64_t size,
                                Error **errp)
{
    AcpiGhesDevice *ghes = ghes_device_find();
    CperMemError err = cper_host_mem_error(gpa, size);
    unsigned source = GHES_NO_SOURCE;
    Error *local_err = NULL;
    GhesPosted posted = GHES_POST_FAILED;

    if (!ghes) {
        error_setg(&local_err, "the machine has no GHES error sources "
                   "(ras=off)");
    } else {
        source = cs ? ghes_sea_source(ghes, cs->cpu_index)
                    : ghes_async_source(ghes);
        posted = ghes_post_mem_error(ghes, source, &err, &local_err);
    }
    if (local_err) {
        trace_arm_mf_record_failed(source, gpa,
                                   error_get_pretty(local_err));
        error_propagate(errp, local_err);
    }
    return posted;
}

/*
 * vCPU @cs takes an SEA for the poison at @gpa: its source gets a record
 * for it, unless the guest has not taken the one there yet.  That one is
 * what this SEA finds: the same page (one error), or another page the
 * guest handles first; an access to this page that is retried then
 * traps (TCG) or faults (KVM) again and gets its own record.  Returns
 * whether the guest has a record for @gpa; *@recursive whether one was
 * pending.
 */
static bool arm_mf_sea_record(CPUState *cs, hwaddr gpa, uint64_t size,
                              bool *recursive)
{
    GhesPosted posted = arm_mf_record(cs, gpa, size, NULL);

    trace_arm_mf_sea(cs->cpu_index, gpa, posted);
    *recursive = posted == GHES_POST_PENDING || posted == GHES_POST_BUSY;
    return posted == GHES_POST_DONE || posted == GHES_POST_PENDING;
}

static unsigned arm_mf_poison_accessed(CPUState *cs, hwaddr gpa,
                                       uint64_t size, bool data_intact,
                                       bool reported)
{
    bool recursive;

    if (cs && data_intact && arm_current_el(cpu_env(cs)) > 0) {
        /*
         * The guest kernel read it (a page it freed, say, whose record it
         * lost): a kernel-mode SEA is fatal to Linux.  The data is there,
         * so the access completes and the error goes the asynchronous way,
         * once: a page copy makes hundreds of accesses.
         */
        if (reported) {
            return POISON_TRAP_PASS | POISON_TRAP_REPORTED;
        }
        reported = arm_mf_record(NULL, gpa, size, NULL) == GHES_POST_DONE;
        trace_arm_mf_kernel_consumed(cs->cpu_index, gpa, reported);
        return POISON_TRAP_PASS | (reported ? POISON_TRAP_REPORTED : 0);
    }
    if (!cs) {
        /* A device or QEMU itself: the guest hears of it asynchronously */
        return arm_mf_record(NULL, gpa, size, NULL) == GHES_POST_DONE ?
               POISON_TRAP_REPORTED : 0;
    }
    return arm_mf_sea_record(cs, gpa, size, &recursive) ? POISON_TRAP_REPORTED
                                                        : 0;
}

static MemoryFailureAction arm_mf_report(CPUState *cs, hwaddr gpa,
                                         uint64_t size, bool *recursive)
{
    Error *err = NULL;

    if (!cs) {
        if (arm_mf_record(NULL, gpa, size, &err) == GHES_POST_DONE) {
            return MEMORY_FAILURE_ACTION_INJECT;
        }
        /*
         * Each one is in the MEMORY_FAILURE event (and a full queue's in
         * RAS_QUEUE_OVERFLOW): one warning is enough
         */
        warn_report_once("memory error at guest address 0x%" HWADDR_PRIx
                         " not reported to the guest: %s", gpa,
                         error_get_pretty(err));
        error_free(err);
        return MEMORY_FAILURE_ACTION_IGNORE;
    }
    /* The vCPU's access could not complete: the SEA is taken now */
    arm_mf_sea_record(cs, gpa, size, recursive);
    arm_mf_take_sea(cs);
    return MEMORY_FAILURE_ACTION_INJECT;
}

/* A record, or nothing: the BQL is never dropped */
static bool arm_mf_async_report_holds_bql(void)
{
    return true;
}

const MemoryFailureArchOps arm_memory_failure_ops = {
    .report = arm_mf_report,
    .async_report_holds_bql = arm_mf_async_report_holds_bql,
    .poison_accessed = arm_mf_poison_accessed,
    .raise_sync = arm_mf_take_sea,
    .in_user_mode = arm_mf_in_user_mode,
};
