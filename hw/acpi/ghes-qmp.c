/*
 * QMP commands of the GHESv2 error sources
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-ras.h"
#include "qemu/base64.h"
#include "qemu/cutils.h"
#include "hw/acpi/ghes-device.h"
#include "hw/core/cpu.h"
#include "system/memory-failure.h"
#include "trace.h"

/* QAPI's CperSeverity is the encoder's CperSev, value for value */
QEMU_BUILD_BUG_ON((int)CPER_SEVERITY_RECOVERABLE != CPER_SEV_RECOVERABLE ||
                  (int)CPER_SEVERITY_FATAL != CPER_SEV_FATAL ||
                  (int)CPER_SEVERITY_CORRECTED != CPER_SEV_CORRECTED ||
                  (int)CPER_SEVERITY_INFORMATIONAL != CPER_SEV_INFORMATIONAL);
/* The QAPI enum skips "no error" (1), which is not a memory error */
#define CPER_MEM_TYPE_FROM_QAPI(t) ((t) == 0 ? 0 : (t) + 1)
QEMU_BUILD_BUG_ON(CPER_MEM_TYPE_FROM_QAPI(CPER_MEMORY_ERROR_TYPE_MAP_OUT) !=
                  CPER_MEM_TYPE_MAP_OUT);

static AcpiGhesDevice *ghes_get(Error **errp)
{
    AcpiGhesDevice *s = ghes_device_find();

    if (!s) {
        error_setg(errp, "this machine has no GHES error sources "
                   "(use -machine ras=on, on virt, q35 or pc, with ACPI "
                   "firmware)");
    }
    return s;
}

typedef struct GhesInjectAR {
    AcpiGhesDevice *ghes;
    const CperMemError *err;
    Error **errp;
} GhesInjectAR;

/*
 * An injected action-required error, on the target vCPU's thread: to its
 * SEA source, and the SEA taken, when the vCPU runs guest user code.  In
 * the guest kernel (idle, say) nothing consumed the error and an SEA
 * would be fatal there (Linux claims only user-mode SEAs): the record
 * goes to the asynchronous source instead.
 */
static bool ghes_inject_ar_prepare(CPUState *cpu, bool user_mode,
                                   void *opaque)
{
    GhesInjectAR *inj = opaque;
    uint64_t addr = inj->err->physical_address;
    unsigned source = user_mode ? ghes_sea_source(inj->ghes, cpu->cpu_index)
                                : ghes_async_source(inj->ghes);
    GhesPosted posted;

    trace_ghes_inject_ar(cpu->cpu_index, user_mode, source, addr);
    posted = ghes_post_mem_error(inj->ghes, source, inj->err, inj->errp);
    /* PENDING: the vCPU has not taken this very error yet, the same SEA */
    return user_mode && (posted == GHES_POST_DONE ||
                         posted == GHES_POST_PENDING);
}

void qmp_inject_memory_error(uint64_t address, bool has_size, uint64_t size,
                             bool has_severity, CperSeverity severity,
                             bool has_error_type,
                             CperMemoryErrorType error_type,
                             bool has_action_required, bool action_required,
                             bool has_cpu_index, int64_t cpu_index,
                             bool has_threshold_exceeded,
                             bool threshold_exceeded, Error **errp)
{
    AcpiGhesDevice *s = ghes_get(errp);
    bool ar = has_action_required && action_required;
    CPUState *cpu = NULL;
    CperMemError err = {
        .physical_address = address,
        .size = has_size ? size : 4096,
        .severity = has_severity ? (CperSev)severity : CPER_SEV_RECOVERABLE,
        .type = has_error_type ? CPER_MEM_TYPE_FROM_QAPI(error_type)
                               : CPER_MEM_TYPE_MULTI_BIT_ECC,
        .threshold_exceeded = has_threshold_exceeded && threshold_exceeded,
    };

    if (!s || !ghes_device_ready(s, errp)) {
        return;
    }
    if (ar && !s->sea_sources) {
        error_setg(errp, "this machine has no synchronous error sources: "
                   "its guests take action-required errors as machine "
                   "checks (inject-host-memory-failure)");
        return;
    }
    if (err.threshold_exceeded && err.severity != CPER_SEV_CORRECTED) {
        /* Linux acts on the flag only then; elsewhere it would mislead */
        error_setg(errp, "threshold-exceeded needs severity corrected");
        return;
    }
    if (err.threshold_exceeded && ar) {
        error_setg(errp, "a corrected error is not action-required: "
                   "nothing consumed bad data");
        return;
    }
    if (err.size < 4096 || !is_power_of_2(err.size)) {
        error_setg(errp, "size 0x%" PRIx64 " is not a power of two of at "
                   "least 4096", err.size);
        return;
    }
    if (address & (err.size - 1)) {
        error_setg(errp, "address 0x%" PRIx64 " is not aligned to size 0x%"
                   PRIx64, address, err.size);
        return;
    }
    if (!ghes_gpa_is_ram(address, err.size)) {
        error_setg(errp, "0x%" PRIx64 "+0x%" PRIx64 " is not guest RAM",
                   address, err.size);
        return;
    }
    if (!memory_failure_cpu_arg(ar, has_cpu_index, cpu_index, &cpu, errp)) {
        return;
    }
    trace_ghes_inject_memory_error(address, err.size, err.severity);
    if (ar) {
        GhesInjectAR inj = { .ghes = s, .err = &err, .errp = errp };

        /* Decided on the vCPU's thread, where its mode is known */
        if (!memory_failure_raise_sync(cpu, ghes_inject_ar_prepare, &inj)) {
            error_setg(errp, "this machine cannot raise a synchronous "
                       "external abort");
        }
        return;
    }
    ghes_post_mem_error(s, ghes_async_source(s), &err, errp);
}

void qmp_inject_ghes_v2_error(const char *cper, Error **errp)
{
    AcpiGhesDevice *s = ghes_get(errp);
    g_autofree uint8_t *buf = NULL;
    size_t len;

    if (!s || !ghes_device_ready(s, errp)) {
        return;
    }
    buf = qbase64_decode(cper, -1, &len, errp);
    if (!buf) {
        return;
    }
    if (len > HEST_GHES_BLOCK_LEN) {
        error_setg(errp, "CPER record of %zu bytes exceeds the %d-byte "
                   "error status block", len, HEST_GHES_BLOCK_LEN);
        return;
    }
    if (!cper_check_estatus(buf, len, errp)) {
        return;
    }
    trace_ghes_inject_raw(len);
    ghes_post_record(s, ghes_async_source(s), buf, len, errp);
}

GhesInfo *qmp_query_ghes(Error **errp)
{
    AcpiGhesDevice *s = ghes_get(errp);
    g_autoptr(GhesInfo) info = NULL;
    GhesSourceInfoList **tail;
    unsigned i, n;

    if (!s) {
        return NULL;
    }
    /* Not placed is an answer too; this also takes a migrated address */
    ghes_device_ready(s, NULL);
    n = s->nr_sources;
    info = g_new0(GhesInfo, 1);
    info->has_blob_address = s->hw_errors_addr != 0;
    info->blob_address = s->hw_errors_addr;
    tail = &info->sources;
    for (i = 0; i < n; i++) {
        GhesSourceInfo *src = g_new0(GhesSourceInfo, 1);

        src->source_id = s->sources[i].source_id;
        if (s->sources[i].notify == HEST_NOTIFY_SEA) {
            src->notification = GHES_NOTIFICATION_SEA;
            /* QEMU 10.2's one SEA source serves every vCPU */
            src->has_cpu_index = !s->legacy_sources;
            src->cpu_index = i - s->first_sea;
        } else {
            src->notification = s->sources[i].notify == HEST_NOTIFY_SCI ?
                                GHES_NOTIFICATION_SCI : GHES_NOTIFICATION_GPIO;
        }
        if (s->hw_errors_addr) {
            src->has_block_address = true;
            src->block_address = s->hw_errors_addr +
                                 hest_blob_block(&s->layout, i);
            src->has_acknowledged = true;
            src->acknowledged = ghes_device_block_free(s, i);
        }
        src->records = s->stats[i].records;
        src->errors = ghes_source_errors(s, i);
        src->busy = s->stats[i].busy;
        src->queued = ghes_device_queued(s, i);
        src->overflow = i == s->async_source ? s->async_queue.dropped : 0;
        src->mended = s->stats[i].mended;
        src->lost = s->copies[i].lost;
        QAPI_LIST_APPEND(tail, src);
    }
    return g_steal_pointer(&info);
}
