/*
 * QMP commands of host memory failure handling
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-ras.h"
#include "system/memory-failure.h"
#include "system/memory-poison.h"

void qmp_inject_host_memory_failure(uint64_t address,
                                    bool has_action_required,
                                    bool action_required,
                                    bool has_cpu_index, int64_t cpu_index,
                                    Error **errp)
{
    if (has_cpu_index && !(has_action_required && action_required)) {
        error_setg(errp, "cpu-index applies to action-required errors only");
        return;
    }
    if (cpu_index < 0 || cpu_index > INT_MAX) {
        error_setg(errp, "there is no vCPU with index %" PRId64, cpu_index);
        return;
    }
    memory_failure_simulate(address, has_action_required && action_required,
                            cpu_index, errp);
}

static gint by_address(gconstpointer a, gconstpointer b)
{
    const MemoryPoison *pa = *(MemoryPoison * const *)a;
    const MemoryPoison *pb = *(MemoryPoison * const *)b;
    uint64_t ka = pa->has_gpa ? pa->gpa : pa->ram_addr;
    uint64_t kb = pb->has_gpa ? pb->gpa : pb->ram_addr;

    if (pa->has_gpa != pb->has_gpa) {
        return pa->has_gpa ? -1 : 1;
    }
    return ka < kb ? -1 : ka > kb;
}

static void collect(MemoryPoison *p, void *opaque)
{
    g_ptr_array_add(opaque, p);
}

MemoryFailureInfoList *qmp_query_memory_failures(Error **errp)
{
    MemoryFailureInfoList *head = NULL, **tail = &head;
    g_autoptr(GPtrArray) all = g_ptr_array_new();
    unsigned i;

    memory_poison_foreach(collect, all);
    g_ptr_array_sort(all, by_address);
    for (i = 0; i < all->len; i++) {
        MemoryPoison *p = g_ptr_array_index(all, i);
        MemoryFailureInfo *info = g_new0(MemoryFailureInfo, 1);

        info->recipient = p->recipient;
        info->has_address = p->has_gpa;
        info->address = p->gpa;
        info->size = p->size;
        info->first_seen = p->first_us;
        info->hits = p->hits;
        QAPI_LIST_APPEND(tail, info);
    }
    return head;
}
