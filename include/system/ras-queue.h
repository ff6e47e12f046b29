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
    /* Whether the guest has a report it has not taken yet (optional) */
    bool (*untaken)(RasReportQueue *q);
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

/*
 * Whether any queue holds reports back from the guest, or has given it
 * one it has not taken yet
 */
bool ras_queue_busy(void);

/* Reports every queue has given the guest, in all */
uint64_t ras_queue_delivered(void);

/* Every registered queue, for query-ras-queues */
RasQueueInfoList *ras_queue_list(void);

/*
 * A queue in the migration stream, as an array of its reports (each
 * device keeps its own, typed for its VMState): from pre_save to
 * post_save, and from a load's start to its post_load.  A load that
 * failed (a bad stream: QEMU may go on, and save or load again) leaves
 * what it had read, which the next save or load frees first.
 */

/*
 * The reports of @queue, @item_size bytes each as @flatten writes them
 * from a queued one: a new array, its length in *@nr
 */
void *ras_queue_flatten(GQueue *queue, size_t item_size,
                        void (*flatten)(void *item, const void *queued),
                        int32_t *nr);

/*
 * Whether a stream's count of @nr reports fits a queue that holds
 * @capacity, and a hard bound (a machine given a huge capacity must not
 * allocate whatever a stream claims): checked before anything is
 * allocated; said, for @what of @device, if not.
 */
bool ras_queue_stream_count_valid(const char *device, const char *what,
                                  int32_t nr, uint32_t capacity);

#endif
