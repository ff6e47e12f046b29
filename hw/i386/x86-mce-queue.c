/*
 * x86 machine checks waiting for the guest
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "hw/core/cpu.h"
#include "hw/i386/x86-mce-queue.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "system/reset.h"
#include "target/i386/memory-failure.h"
#include "trace.h"

static X86MceQueue *machine_queue;

X86MceQueue *x86_mce_queue_get(void)
{
    return machine_queue;
}

bool x86_mce_queue_empty(X86MceQueue *q)
{
    return g_queue_is_empty(&q->held);
}

static guint x86_held_mce_hash(gconstpointer key)
{
    const X86HeldMce *h = key;

    return g_int64_hash(&h->gpa) ^ (h->cpu_index << 1) ^ h->ar;
}

static gboolean x86_held_mce_equal(gconstpointer a, gconstpointer b)
{
    const X86HeldMce *x = a, *y = b;

    return x->cpu_index == y->cpu_index && x->gpa == y->gpa &&
           x->ar == y->ar;
}

/* Take @link out of the queue; free its entry unless it is in flight */
static void x86_mce_queue_unlink(X86MceQueue *q, GList *link)
{
    X86HeldMce *h = link->data;

    g_hash_table_remove(q->index, h);
    g_queue_delete_link(&q->held, link);
    if (h == q->in_flight) {
        q->in_flight_gone = true;
    } else {
        g_free(h);
    }
}

static void x86_mce_queue_clear(X86MceQueue *q)
{
    while (!g_queue_is_empty(&q->held)) {
        x86_mce_queue_unlink(q, q->held.head);
    }
}

static void x86_mce_queue_add(X86MceQueue *q, const X86HeldMce *mce,
                              bool at_head)
{
    X86HeldMce *h = g_memdup2(mce, sizeof(*mce));

    if (at_head) {
        g_queue_push_head(&q->held, h);
    } else {
        g_queue_push_tail(&q->held, h);
    }
    g_hash_table_insert(q->index, h,
                        at_head ? q->held.head : q->held.tail);
}

bool x86_mce_queue_push(X86MceQueue *q, const X86HeldMce *mce)
{
    if (g_hash_table_contains(q->index, mce)) {
        /* The same poison touched again while it waits: held once */
        return true;
    }
    if (g_queue_get_length(&q->held) >= q->size) {
        ras_queue_overflow(&q->ras, 1, true, mce->gpa);
        warn_report_once("memory error at guest address 0x%" PRIx64
                         " not reported to the guest: %u machine checks "
                         "are already waiting", mce->gpa, q->size);
        return false;
    }
    x86_mce_queue_add(q, mce, false);
    trace_x86_mce_queue_held(mce->cpu_index, mce->gpa, mce->ar,
                             g_queue_get_length(&q->held));
    return true;
}

void x86_mce_queue_requeue(X86MceQueue *q, const X86HeldMce *mce)
{
    GList *dup = g_hash_table_lookup(q->index, mce);

    /* Held again meanwhile: the one the guest did not take comes first */
    if (dup) {
        x86_mce_queue_unlink(q, dup);
    }
    x86_mce_queue_add(q, mce, true);
    q->delivered--;
    trace_x86_mce_queue_requeued(mce->cpu_index, mce->gpa);
}

X86HeldMce *x86_mce_queue_begin(X86MceQueue *q)
{
    assert(!q->in_flight);
    q->in_flight = g_queue_peek_head(&q->held);
    q->in_flight_gone = false;
    return q->in_flight;
}

bool x86_mce_queue_end(X86MceQueue *q, X86HeldMce *mce, bool still_held,
                       bool delivered)
{
    bool gone = q->in_flight_gone;

    assert(mce == q->in_flight);
    q->in_flight = NULL;
    q->delivered += delivered;
    if (gone) {
        /* Removed while it was delivered: it was the caller's to free */
        trace_x86_mce_queue_released(mce->cpu_index, mce->gpa, delivered,
                                     g_queue_get_length(&q->held));
        g_free(mce);
        return false;
    }
    if (still_held) {
        return true;
    }
    trace_x86_mce_queue_released(mce->cpu_index, mce->gpa, delivered,
                                 g_queue_get_length(&q->held) - 1);
    x86_mce_queue_unlink(q, g_hash_table_lookup(q->index, mce));
    return false;
}

void x86_mce_queue_count_delivered(X86MceQueue *q)
{
    q->delivered++;
}

void x86_mce_queue_retry_in(X86MceQueue *q, int64_t ns)
{
    int64_t when = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) + ns;

    if (!timer_pending(q->timer) || timer_expire_time_ns(q->timer) > when) {
        timer_mod(q->timer, when);
    }
}

/*
 * Delivery waits for vCPUs (run_on_cpu), dropping the BQL meanwhile; a
 * QEMU_CLOCK_VIRTUAL timer must not: a migration thread stopping the VM
 * takes the BQL and waits for the clock's running timers to finish, while
 * the vCPU needs the BQL to get to the work (a deadlock, seen in a storm
 * migrated live).  Nor may a bottom half, which also runs in nested
 * aio_poll() calls (a vCPU thread waiting for I/O).  So the timer only
 * starts a QEMU_CLOCK_REALTIME one of the main loop, which runs from
 * main_loop_wait() alone, and nothing waits for.
 */
static void x86_mce_queue_timer(void *opaque)
{
    X86MceQueue *q = opaque;

    timer_mod(q->deliver_timer, qemu_clock_get_ns(QEMU_CLOCK_REALTIME));
}

static void x86_mce_queue_deliver(void *opaque)
{
    x86_memory_failure_deliver_held(opaque);
}

static void x86_mce_queue_count(RasReportQueue *rq, RasQueueInfo *info)
{
    X86MceQueue *q = container_of(rq, X86MceQueue, ras);

    info->waiting = g_queue_get_length(&q->held);
    info->delivered = q->delivered;
}

static void x86_mce_queue_realize(DeviceState *dev, Error **errp)
{
    X86MceQueue *q = X86_MCE_QUEUE(dev);

    if (!q->size) {
        error_setg(errp, "%s: size must be at least 1", TYPE_X86_MCE_QUEUE);
        return;
    }
    g_queue_init(&q->held);
    q->index = g_hash_table_new(x86_held_mce_hash, x86_held_mce_equal);
    q->timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, x86_mce_queue_timer, q);
    q->deliver_timer = timer_new_ns(QEMU_CLOCK_REALTIME,
                                    x86_mce_queue_deliver, q);
    q->ras = (RasReportQueue) {
        .kind = RAS_QUEUE_X86_MCE,
        .capacity = q->size,
        .count = x86_mce_queue_count,
    };
    ras_queue_register(&q->ras);
    qemu_register_resettable(OBJECT(dev));
}

static void x86_mce_queue_reset_hold(Object *obj, ResetType type)
{
    X86MceQueue *q = X86_MCE_QUEUE(obj);

    /* The memory they were about was replaced at reset */
    x86_mce_queue_clear(q);
    timer_del(q->timer);
    timer_del(q->deliver_timer);
    x86_memory_failure_reset();
}

static int x86_mce_queue_post_save(void *opaque);

static void x86_mce_queue_flatten(void *item, const void *queued)
{
    *(X86HeldMce *)item = *(const X86HeldMce *)queued;
}

static int x86_mce_queue_pre_save(void *opaque)
{
    X86MceQueue *q = opaque;

    /* What a failed load left (x86_mce_queue_pre_load) */
    x86_mce_queue_post_save(q);
    q->mig = ras_queue_flatten(&q->held, sizeof(X86HeldMce),
                               x86_mce_queue_flatten, &q->nr_mig);
    q->mig_delivered = q->delivered;
    q->mig_dropped = q->ras.dropped;
    return 0;
}

static int x86_mce_queue_post_save(void *opaque)
{
    X86MceQueue *q = opaque;

    g_clear_pointer(&q->mig, g_free);
    q->nr_mig = 0;
    return 0;
}

/*
 * A load that failed (a bad stream: QEMU may go on, and load another)
 * left the machine checks it had read: not to be leaked by this one
 */
static int x86_mce_queue_pre_load(void *opaque)
{
    return x86_mce_queue_post_save(opaque);
}

/* The stream is untrusted: its count is checked before the allocation */
static bool x86_mce_queue_nr_valid(void *opaque, int version_id)
{
    X86MceQueue *q = opaque;

    return ras_queue_stream_count_valid(TYPE_X86_MCE_QUEUE, "machine checks",
                                        q->nr_mig, q->size);
}

static int x86_mce_queue_post_load(void *opaque, int version_id)
{
    X86MceQueue *q = opaque;
    int32_t i;

    for (i = 0; i < q->nr_mig; i++) {
        X86HeldMce *h = &q->mig[i];

        /* A machine check for no vCPU, or not at a page, is no record */
        if (h->cpu_index < 0 || !qemu_get_cpu(h->cpu_index) ||
            (h->gpa & 0xfff)) {
            error_report("%s: migration stream holds a machine check for "
                         "vCPU %d at 0x%" PRIx64, TYPE_X86_MCE_QUEUE,
                         h->cpu_index, h->gpa);
            x86_mce_queue_post_save(q);
            return -EINVAL;
        }
    }
    x86_mce_queue_clear(q);
    q->delivered = q->mig_delivered;
    q->ras.dropped = q->mig_dropped;
    for (i = 0; i < q->nr_mig; i++) {
        /* Duplicates too are a stream's to send: held once */
        if (!g_hash_table_contains(q->index, &q->mig[i])) {
            x86_mce_queue_add(q, &q->mig[i], false);
        }
    }
    x86_mce_queue_post_save(q);
    if (!g_queue_is_empty(&q->held)) {
        /* Not while devices are still loading: once the machine runs */
        x86_mce_queue_retry_in(q, SCALE_MS);
    }
    return 0;
}

static bool x86_mce_queue_needed(void *opaque)
{
    X86MceQueue *q = opaque;

    return !g_queue_is_empty(&q->held) || q->delivered || q->ras.dropped;
}

static const VMStateDescription vmstate_x86_held_mce = {
    .name = "x86-mce-queue/held",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_INT32(cpu_index, X86HeldMce),
        VMSTATE_UINT64(gpa, X86HeldMce),
        VMSTATE_BOOL(ar, X86HeldMce),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_x86_mce_queue_state = {
    .name = TYPE_X86_MCE_QUEUE "/state",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = x86_mce_queue_needed,
    .pre_save = x86_mce_queue_pre_save,
    .post_save = x86_mce_queue_post_save,
    .post_load = x86_mce_queue_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(mig_delivered, X86MceQueue),
        VMSTATE_UINT64(mig_dropped, X86MceQueue),
        VMSTATE_INT32(nr_mig, X86MceQueue),
        VMSTATE_VALIDATE("held machine checks within bounds",
                         x86_mce_queue_nr_valid),
        VMSTATE_STRUCT_VARRAY_ALLOC(mig, X86MceQueue, nr_mig, 0,
                                    vmstate_x86_held_mce, X86HeldMce),
        VMSTATE_END_OF_LIST()
    },
};

/*
 * A machine that never held one sends nothing, not even the section: a
 * QEMU without this device (upstream 10.2) then takes the stream
 */
static const VMStateDescription vmstate_x86_mce_queue = {
    .name = TYPE_X86_MCE_QUEUE,
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = x86_mce_queue_needed,
    .pre_load = x86_mce_queue_pre_load,
    .fields = (const VMStateField[]) {
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_x86_mce_queue_state,
        NULL
    },
};

static const Property x86_mce_queue_properties[] = {
    DEFINE_PROP_UINT32("size", X86MceQueue, size, 65536),
};

static void x86_mce_queue_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    dc->desc = "machine checks waiting for the guest";
    dc->realize = x86_mce_queue_realize;
    dc->vmsd = &vmstate_x86_mce_queue;
    dc->user_creatable = false;
    rc->phases.hold = x86_mce_queue_reset_hold;
    device_class_set_props(dc, x86_mce_queue_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo x86_mce_queue_info = {
    .name          = TYPE_X86_MCE_QUEUE,
    .parent        = TYPE_DEVICE,
    .instance_size = sizeof(X86MceQueue),
    .class_init    = x86_mce_queue_class_init,
};

void x86_mce_queue_create(Object *machine)
{
    DeviceState *dev = qdev_new(TYPE_X86_MCE_QUEUE);

    object_property_add_child(machine, TYPE_X86_MCE_QUEUE, OBJECT(dev));
    qdev_realize_and_unref(dev, NULL, &error_fatal);
    machine_queue = X86_MCE_QUEUE(dev);
}

static void x86_mce_queue_register_types(void)
{
    type_register_static(&x86_mce_queue_info);
}

type_init(x86_mce_queue_register_types)
