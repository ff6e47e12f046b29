/*
 * Bounded queues of hardware error reports waiting for the guest
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/qapi-events-ras.h"
#include "system/ras-queue.h"
#include "trace.h"

static QTAILQ_HEAD(, RasReportQueue) ras_queues =
    QTAILQ_HEAD_INITIALIZER(ras_queues);

void ras_queue_register(RasReportQueue *q)
{
    QTAILQ_INSERT_HEAD(&ras_queues, q, next);
}

void ras_queue_unregister(RasReportQueue *q)
{
    QTAILQ_REMOVE(&ras_queues, q, next);
}

void ras_queue_overflow(RasReportQueue *q, uint64_t count, bool has_addr,
                        uint64_t addr)
{
    q->dropped += count;
    trace_ras_queue_overflow(RasQueue_str(q->kind), q->source_id, count,
                             q->dropped);
    qapi_event_send_ras_queue_overflow(q->kind, q->has_source_id,
                                       q->source_id, has_addr, addr,
                                       q->capacity, q->dropped);
}

RasQueueInfoList *ras_queue_list(void)
{
    RasQueueInfoList *head = NULL, **tail = &head;
    RasReportQueue *q;

    QTAILQ_FOREACH(q, &ras_queues, next) {
        RasQueueInfo *info = g_new0(RasQueueInfo, 1);

        info->queue = q->kind;
        info->has_source_id = q->has_source_id;
        info->source_id = q->source_id;
        info->capacity = q->capacity;
        info->dropped = q->dropped;
        q->count(q, info);
        QAPI_LIST_APPEND(tail, info);
    }
    return head;
}
