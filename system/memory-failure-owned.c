/*
 * Host memory failures: memory QEMU keeps for the guest
 *
 * Firmware tables, the GHES blob: guest RAM whose contents QEMU wrote
 * and can write again.  An error there is mended by its owner (and the
 * page replaced when it is QEMU's whole) instead of being reported to
 * the guest, which never knew the page as its own.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "exec/ramlist.h"
#include "system/address-spaces.h"
#include "system/memory.h"
#include "system/memory-failure.h"
#include "system/ramblock.h"
#include "memory-failure-internal.h"
#include "trace.h"

typedef struct OwnedRam {
    void *opaque;
    hwaddr gpa;
    uint64_t len;
    RAMBlock *rb;
    ram_addr_t offset;          /* of @gpa in @rb */
    MemoryFailureMend mend;
} OwnedRam;

static GSList *owned_ram;

void memory_failure_own_ram(void *opaque, hwaddr gpa, uint64_t len,
                            MemoryFailureMend mend)
{
    MemoryRegionSection sec;
    OwnedRam *o;

    /* Firmware allocates in pages of its own (4 KiB): they are all ours */
    len = ROUND_UP(len, 4 * KiB);
    sec = memory_region_find(get_system_memory(), gpa, len);
    memory_failure_disown_ram(opaque);
    if (!sec.mr) {
        return;
    }
    if (memory_region_is_ram(sec.mr) && sec.mr->ram_block) {
        o = g_new(OwnedRam, 1);
        o->opaque = opaque;
        o->gpa = gpa;
        o->len = len;
        o->rb = sec.mr->ram_block;
        o->offset = sec.offset_within_region;
        o->mend = mend;
        owned_ram = g_slist_prepend(owned_ram, o);
        trace_memory_failure_own_ram(gpa, len);
    }
    memory_region_unref(sec.mr);
}

void memory_failure_disown_ram(void *opaque)
{
    GSList *l;

    for (l = owned_ram; l; l = l->next) {
        OwnedRam *o = l->data;

        if (o->opaque == opaque) {
            owned_ram = g_slist_delete_link(owned_ram, l);
            g_free(o);
            return;
        }
    }
}

/* A RAM block going away (an unplugged DIMM) is no longer kept */
static void owned_ram_block_removed(RAMBlockNotifier *n, void *host,
                                    size_t size, size_t max_size)
{
    GSList *l, *next;

    for (l = owned_ram; l; l = next) {
        OwnedRam *o = l->data;

        next = l->next;
        if (o->rb->host == host) {
            owned_ram = g_slist_delete_link(owned_ram, l);
            g_free(o);
        }
    }
}

static RAMBlockNotifier owned_ram_notifier = {
    .ram_block_removed = owned_ram_block_removed,
};

MemoryRegion *memory_failure_owned_ram(hwaddr gpa, void **host)
{
    GSList *l;

    for (l = owned_ram; l; l = l->next) {
        OwnedRam *o = l->data;

        if (gpa >= o->gpa && gpa - o->gpa < o->len) {
            *host = o->rb->host + o->offset + (gpa - o->gpa);
            return o->rb->mr;
        }
    }
    return NULL;
}

bool memory_failure_mend_owned(RAMBlock *rb, ram_addr_t offset,
                               uint64_t size, bool ar)
{
    bool replace = size == qemu_real_host_page_size() &&
                   qemu_ram_pagesize(rb) == size &&
                   !(rb->flags & RAM_PREALLOC);
    bool replaced = false;
    GSList *l;

    for (l = owned_ram; l; l = l->next) {
        OwnedRam *o = l->data;
        ram_addr_t start = MAX(offset, o->offset);
        ram_addr_t end = MIN(offset + size, o->offset + o->len);
        hwaddr gpa = o->gpa + (start - o->offset);

        if (o->rb != rb || start >= end) {
            continue;
        }
        /*
         * Only a page that is QEMU's whole is replaced: a 64 KiB host page
         * holds guest data around the blob, which would go unreported.
         */
        replace = replace && start == offset && end == offset + size;
        if (replace && !replaced) {
            qemu_ram_remap(rb->offset + offset);
            replaced = true;
        }
        trace_memory_failure_mend(gpa, end - start, replaced);
        o->mend(o->opaque, gpa, end - start, replaced);
        if (replaced) {
            /* Nothing of it is left: the failed page, QEMU's */
            memory_failure_send_event(MEMORY_FAILURE_RECIPIENT_HYPERVISOR,
                                      MEMORY_FAILURE_ACTION_IGNORE, ar,
                                      false, true, gpa - (start - offset),
                                      size, false);
        }
    }
    return replaced;
}

static void memory_failure_owned_init(void)
{
    ram_block_notifier_add(&owned_ram_notifier);
}

type_init(memory_failure_owned_init)
