/*
 * x86 machine checks waiting for the guest
 *
 * A machine check cannot be delivered while the guest is still in the
 * previous one (the CPU would shut down), and action-optional ones are
 * paced to the guest's speed: they wait here, in order, within a bound.
 * What may go when is decided by target/i386/memory-failure.c; this
 * device only keeps them, migrates them and drops them at reset.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_I386_X86_MCE_QUEUE_H
#define HW_I386_X86_MCE_QUEUE_H

#include "hw/qdev-core.h"
#include "qom/object.h"
#include "system/ras-queue.h"

#define TYPE_X86_MCE_QUEUE "x86-mce-queue"
OBJECT_DECLARE_SIMPLE_TYPE(X86MceQueue, X86_MCE_QUEUE)

typedef struct X86HeldMce {
    int32_t cpu_index;          /* the vCPU it is for */
    uint64_t gpa;               /* page of the memory error */
    bool ar;                    /* SRAR: from older streams, dropped */
} X86HeldMce;

struct X86MceQueue {
    DeviceState parent_obj;

    uint32_t size;              /* property: bound of @held */
    GQueue held;                /* X86HeldMce, oldest first */
    GHashTable *index;          /* X86HeldMce -> its link in @held */
    /*
     * The one being delivered (x86_mce_queue_begin()), which delivery
     * waits for with the BQL dropped: whatever removes it meanwhile
     * (a reset, a load) unlinks it and sets @in_flight_gone, and
     * x86_mce_queue_end() frees it
     */
    X86HeldMce *in_flight;
    bool in_flight_gone;
    QEMUTimer *timer;
    QEMUTimer *deliver_timer;   /* what @timer starts (main loop) */
    uint64_t delivered;
    RasReportQueue ras;

    /* @held, flattened for migration */
    X86HeldMce *mig;
    int32_t nr_mig;
    /* The counters as migrated: a stream's taken only once checked */
    uint64_t mig_delivered;
    uint64_t mig_dropped;
};

/* Create the machine's queue, its child "x86-mce-queue" */
void x86_mce_queue_create(Object *machine);

/* The machine's queue, or NULL before x86_mce_queue_create() */
X86MceQueue *x86_mce_queue_get(void);

/*
 * Hold @mce at the tail, unless the same one waits already.  False if
 * the queue is full: the machine check is dropped, counted and announced
 * (RAS_QUEUE_OVERFLOW).
 */
bool x86_mce_queue_push(X86MceQueue *q, const X86HeldMce *mce);

/* Hold @mce at the head again: delivered, but the guest did not take it */
void x86_mce_queue_requeue(X86MceQueue *q, const X86HeldMce *mce);

/*
 * The oldest machine check held, or NULL, now in flight: it stays in
 * place until x86_mce_queue_end() but is freed by nothing else
 */
X86HeldMce *x86_mce_queue_begin(X86MceQueue *q);

/*
 * The delivery of @mce (from x86_mce_queue_begin()) is over: it leaves
 * the queue unless @still_held, counted if @delivered.  True if it still
 * waits (it was not removed meanwhile); @mce must not be used after.
 */
bool x86_mce_queue_end(X86MceQueue *q, X86HeldMce *mce, bool still_held,
                       bool delivered);

/* One machine check delivered without waiting, for the counts */
void x86_mce_queue_count_delivered(X86MceQueue *q);

bool x86_mce_queue_empty(X86MceQueue *q);

/*
 * Look again at the queue in @ns (QEMU_CLOCK_VIRTUAL), or sooner if a
 * look is due already: target/i386/memory-failure.c then delivers what
 * may go.
 */
void x86_mce_queue_retry_in(X86MceQueue *q, int64_t ns);

#endif
