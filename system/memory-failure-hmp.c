/*
 * HMP commands of host memory failure handling
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-ras.h"
#include "qobject/qdict.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"

void hmp_inject_host_memory_failure(Monitor *mon, const QDict *qdict)
{
    HostMemoryFailure f = {
        .kind = qdict_get_try_bool(qdict, "action_required", false) ?
                HOST_MEMORY_FAILURE_KIND_ACTION_REQUIRED :
                HOST_MEMORY_FAILURE_KIND_ACTION_OPTIONAL,
        .has_address = true,
        .address = qdict_get_int(qdict, "address"),
    };
    Error *err = NULL;

    if (f.kind == HOST_MEMORY_FAILURE_KIND_ACTION_REQUIRED &&
        qdict_haskey(qdict, "cpu_index")) {
        f.u.action_required.has_cpu_index = true;
        f.u.action_required.cpu_index = qdict_get_int(qdict, "cpu_index");
    }
    qmp_inject_host_memory_failure(&f, &err);
    hmp_handle_error(mon, err);
}

void hmp_info_memory_failures(Monitor *mon, const QDict *qdict)
{
    g_autoptr(MemoryFailureInfoList) list = qmp_query_memory_failures(NULL);
    g_autoptr(RasQueueInfoList) queues = qmp_query_ras_queues(NULL);
    MemoryFailureInfoList *l;
    RasQueueInfoList *q;

    if (!list) {
        monitor_printf(mon, "no memory lost to hardware errors\n");
    }
    for (l = list; l; l = l->next) {
        MemoryFailureInfo *i = l->value;

        if (i->has_address) {
            monitor_printf(mon, "0x%016" PRIx64, i->address);
        } else {
            monitor_printf(mon, "%-18s", "(QEMU memory)");
        }
        monitor_printf(mon, " size 0x%" PRIx64 " %s hits %" PRIu64 "\n",
                       i->size, MemoryFailureRecipient_str(i->recipient),
                       i->hits);
    }
    for (q = queues; q; q = q->next) {
        RasQueueInfo *i = q->value;

        monitor_printf(mon, "queue %s", RasQueue_str(i->queue));
        if (i->has_source_id) {
            monitor_printf(mon, " (source %u)", i->source_id);
        }
        monitor_printf(mon, ": %u waiting of %u, %" PRIu64 " delivered, %"
                       PRIu64 " dropped\n", i->waiting, i->capacity,
                       i->delivered, i->dropped);
    }
}
