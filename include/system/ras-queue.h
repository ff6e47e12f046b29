/*
 * Bounded queues of hardware error reports waiting for the guest
 *
 * Every queue that can hold reports back from the guest (the GHES
 * asynchronous source, x86 machine checks, the signal table) registers
 * here, so that query-ras-queues lists them all and a dropped report is
 * counted and announced the same way everywhere.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef SYSTEM_RAS_QUEUE_H
#define SYSTEM_RAS_QUEUE_H

#include "qapi/qapi-types-ras.h"
#include "qemu/queue.h"

typedef struct RasReportQueue RasReportQueue;

struct RasReportQueue {
    RasQueue kind;
    bool has_source_id;
    uint16_t source_id;
    uint32_t capacity;          /* reports it can hold */
    uint64_t dropped;           /* reports lost for want of room */
    /* The owner's part of @info: waiting and delivered */
    void (*count)(RasReportQueue *q, RasQueueInfo *info);
    QTAILQ_ENTRY(RasReportQueue) next;
};

void ras_queue_register(RasReportQueue *q);
void ras_queue_unregister(RasReportQueue *q);

/*
 * @count reports dropped from @q for want of room, the last about guest
 * address @addr if @has_addr: counted, and announced by
 * RAS_QUEUE_OVERFLOW
 */
void ras_queue_overflow(RasReportQueue *q, uint64_t count, bool has_addr,
                        uint64_t addr);

/* Every registered queue, for query-ras-queues */
RasQueueInfoList *ras_queue_list(void);

#endif
