/*
 * Bounded queues of hardware error reports waiting for the guest
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/qapi-events-ras.h"
#include "qemu/error-report.h"
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

bool ras_queue_busy(void)
{
    RasReportQueue *q;

    QTAILQ_FOREACH(q, &ras_queues, next) {
        RasQueueInfo info = { 0 };

        q->count(q, &info);
        if (info.waiting || (q->untaken && q->untaken(q))) {
            return true;
        }
    }
    return false;
}

uint64_t ras_queue_delivered(void)
{
    RasReportQueue *q;
    uint64_t n = 0;

    QTAILQ_FOREACH(q, &ras_queues, next) {
        RasQueueInfo info = { 0 };

        q->count(q, &info);
        n += info.delivered;
    }
    return n;
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

void *ras_queue_flatten(GQueue *queue, size_t item_size,
                        void (*flatten)(void *item, const void *queued),
                        int32_t *nr)
{
    uint8_t *items = g_malloc_n(g_queue_get_length(queue), item_size);
    GList *l;
    int32_t i = 0;

    for (l = queue->head; l; l = l->next) {
        flatten(items + i++ * item_size, l->data);
    }
    *nr = i;
    return items;
}

/* Far more than a queue of 65,536 needs, far less than a stream may say */
#define RAS_QUEUE_MAX_MIGRATED  (1 << 20)

bool ras_queue_stream_count_valid(const char *device, const char *what,
                                  int32_t nr, uint32_t capacity)
{
    if (nr < 0 || nr > capacity || nr > RAS_QUEUE_MAX_MIGRATED) {
        error_report("%s: migration stream holds %d %s, this queue %u",
                     device, nr, what, capacity);
        return false;
    }
    return true;
}
