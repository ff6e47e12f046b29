/*
 * The MEMORY_FAILURE event, throttled where errors repeat
 *
 * Every error QEMU handles is announced, but a range that fails again and
 * again (a device retrying its DMA, a vCPU refaulting) would flood QMP
 * clients.  The first event of a range goes out at once; a repeat of the
 * same recipient, action, address and size within a second of the last
 * one sent is held, and only the latest held goes out when the second
 * ends, as QEMU's monitor throttles its other high-rate events.  The
 * exact count stays in query-memory-failures (hits).  Outcomes that end
 * QEMU or the guest, and QEMU's own memory (no address tells two errors
 * apart), are never held.
 *
 * One timer for all ranges, not one each: a storm over a million pages
 * must not sort a million timers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qapi/qapi-events-ras.h"
#include "system/qtest.h"
#include "system/memory-failure.h"
#include "trace.h"

#define MF_EVENT_PERIOD_NS      (1 * NANOSECONDS_PER_SECOND)

/* As the monitor's: under qtest, the clock a test steps */
static QEMUClockType mf_event_clock(void)
{
    return qtest_enabled() ? QEMU_CLOCK_VIRTUAL : QEMU_CLOCK_REALTIME;
}

typedef struct MFEventKey {
    MemoryFailureRecipient recipient;
    MemoryFailureAction action;
    hwaddr gpa;
    uint64_t size;
} MFEventKey;

typedef struct MFEventState {
    MFEventKey key;
    int64_t sent_ns;            /* when the last one went out */
    bool held;                  /* one is waiting for the period to end */
    MemoryFailureFlags flags;   /* of the one held */
} MFEventState;

static GHashTable *recent;      /* MFEventKey -> MFEventState, BQL */
static QEMUTimer *period_timer;

static guint mf_event_hash(gconstpointer p)
{
    const MFEventKey *k = p;

    return g_int64_hash(&k->gpa) ^ (k->size >> 12) ^ (k->action << 8) ^
           k->recipient;
}

static gboolean mf_event_equal(gconstpointer a, gconstpointer b)
{
    return !memcmp(a, b, sizeof(MFEventKey));
}

static void mf_event_emit(const MFEventKey *k, MemoryFailureFlags *flags)
{
    trace_memory_failure_event(MemoryFailureRecipient_str(k->recipient),
                               MemoryFailureAction_str(k->action),
                               flags->action_required, k->gpa, k->size);
    qapi_event_send_memory_failure(k->recipient, k->action, flags, true,
                                   k->gpa, true, k->size);
}

typedef struct MFEventScan {
    int64_t now;
    int64_t next;               /* the earliest period still running */
} MFEventScan;

/* Send what each ended period held; forget ranges that stayed quiet */
static gboolean mf_event_period_end(gpointer key, gpointer value,
                                    gpointer opaque)
{
    MFEventState *st = value;
    MFEventScan *scan = opaque;

    if (scan->now >= st->sent_ns + MF_EVENT_PERIOD_NS) {
        if (!st->held) {
            return true;
        }
        mf_event_emit(&st->key, &st->flags);
        st->held = false;
        st->sent_ns = scan->now;
    }
    scan->next = MIN(scan->next, st->sent_ns + MF_EVENT_PERIOD_NS);
    return false;
}

static void mf_event_timer(void *opaque)
{
    MFEventScan scan = {
        .now = qemu_clock_get_ns(mf_event_clock()),
        .next = INT64_MAX,
    };

    g_hash_table_foreach_remove(recent, mf_event_period_end, &scan);
    if (scan.next != INT64_MAX) {
        timer_mod(period_timer, scan.next);
    }
}

void memory_failure_send_event(MemoryFailureRecipient recipient,
                               MemoryFailureAction action, bool ar,
                               bool recursive, bool has_gpa, hwaddr gpa,
                               uint64_t size, bool repeat)
{
    MemoryFailureFlags flags = {
        .action_required = ar,
        .recursive = recursive,
    };
    MFEventKey key = {
        .recipient = recipient, .action = action, .gpa = gpa, .size = size,
    };
    int64_t now = qemu_clock_get_ns(mf_event_clock());
    MFEventState *st;

    if (!has_gpa || action == MEMORY_FAILURE_ACTION_FATAL ||
        action == MEMORY_FAILURE_ACTION_RESET) {
        trace_memory_failure_event(MemoryFailureRecipient_str(recipient),
                                   MemoryFailureAction_str(action), ar,
                                   has_gpa ? gpa : -1, size);
        qapi_event_send_memory_failure(recipient, action, &flags, has_gpa,
                                       gpa, true, size);
        return;
    }
    if (!recent) {
        recent = g_hash_table_new_full(mf_event_hash, mf_event_equal, NULL,
                                       g_free);
        period_timer = timer_new_ns(mf_event_clock(), mf_event_timer, NULL);
    }
    st = g_hash_table_lookup(recent, &key);
    if (st && !repeat) {
        /*
         * The range is new again (a reset gave fresh memory): what its
         * old self held would come out after this
         */
        g_hash_table_remove(recent, &key);
        st = NULL;
    }
    if (st && now < st->sent_ns + MF_EVENT_PERIOD_NS) {
        st->held = true;
        st->flags = flags;
        trace_memory_failure_event_held(gpa, size);
        return;
    }
    /*
     * Only a repeat needs a state: the first event of every range of a
     * storm goes out without one
     */
    if (repeat && !st) {
        st = g_new0(MFEventState, 1);
        st->key = key;
        g_hash_table_insert(recent, &st->key, st);
        if (!timer_pending(period_timer)) {
            timer_mod(period_timer, now + MF_EVENT_PERIOD_NS);
        }
    }
    if (st) {
        st->sent_ns = now;
        st->held = false;
    }
    mf_event_emit(&key, &flags);
}
