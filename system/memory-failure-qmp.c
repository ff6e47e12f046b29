/*
 * QMP commands of host memory failure handling
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-ras.h"
#include "system/address-spaces.h"
#include "system/hostmem.h"
#include "system/memory.h"
#include "system/memory-failure.h"
#include "hw/core/cpu.h"
#include "system/memory-poison.h"
#include "system/poison-trap.h"
#include "system/poison-uffd.h"
#include "system/ramblock.h"
#include "system/ras-queue.h"
#include "memory-failure-internal.h"
#include "trace.h"

/* Bounds of inject-host-memory-failure's refaults and count */
#define MAX_REFAULTS    100
#define MAX_RUN         (1 << 20)

/* Host memory of guest physical address @gpa */
static MemoryRegion *ram_of_gpa(uint64_t gpa, void **host, Error **errp)
{
    MemoryRegionSection sec;
    MemoryRegion *mr, *ram;

    /* RAM QEMU keeps for the guest, beneath its own registers maybe */
    ram = memory_failure_owned_ram(gpa, host);
    if (ram) {
        return ram;
    }
    sec = memory_region_find(get_system_memory(), gpa, 1);
    mr = sec.mr;

    /* Already poisoned: the RAM is still there, under the trap */
    ram = mr ? poison_trap_hidden_ram(mr, sec.offset_within_region, host)
             : NULL;
    if (ram) {
        memory_region_unref(mr);
        return ram;
    }
    if (mr && memory_region_is_ram(mr) && !memory_region_is_ram_device(mr) &&
        mr->ram_block) {
        *host = (uint8_t *)memory_region_get_ram_ptr(mr) +
                sec.offset_within_region;
        memory_region_unref(mr);
        return mr;
    }
    if (mr) {
        memory_region_unref(mr);
    }
    error_setg(errp, "guest physical address 0x%" PRIx64 " is not guest RAM",
               gpa);
    return NULL;
}

/* Host memory at @offset into memory backend @id */
static MemoryRegion *ram_of_memdev(const char *id, uint64_t offset,
                                   void **host, Error **errp)
{
    g_autofree char *path = g_strdup_printf("/objects/%s", id);
    Object *obj = object_resolve_path_type(path, TYPE_MEMORY_BACKEND, NULL);
    MemoryRegion *mr;

    if (!obj) {
        error_setg(errp, "'%s' is not a memory backend", id);
        return NULL;
    }
    mr = host_memory_backend_get_memory(MEMORY_BACKEND(obj));
    if (!mr || !mr->ram_block || !memory_region_get_ram_ptr(mr)) {
        error_setg(errp, "memory backend '%s' has no memory yet", id);
        return NULL;
    }
    if (offset >= memory_region_size(mr)) {
        error_setg(errp, "offset 0x%" PRIx64 " is outside memory backend "
                   "'%s' (size 0x%" PRIx64 ")", offset, id,
                   memory_region_size(mr));
        return NULL;
    }
    *host = (uint8_t *)memory_region_get_ram_ptr(mr) + offset;
    return mr;
}

bool memory_failure_cpu_arg(bool action_required, bool has_cpu_index,
                            int64_t cpu_index, CPUState **cpu, Error **errp)
{
    *cpu = NULL;
    if (has_cpu_index && !action_required) {
        error_setg(errp, "cpu-index applies to action-required errors only");
        return false;
    }
    if (!action_required) {
        return true;
    }
    *cpu = cpu_index >= 0 && cpu_index <= INT_MAX ? qemu_get_cpu(cpu_index)
                                                  : NULL;
    if (!*cpu) {
        error_setg(errp, "there is no vCPU with index %" PRId64, cpu_index);
        return false;
    }
    return true;
}

/* --- simulated host memory failures ------------------------------------ */

/*
 * An action-required failure waiting for its vCPU to run.  QEMU frees
 * the work queued on a vCPU that is unplugged before it runs without
 * running it: that vCPU never made the access, so nothing is raised, and
 * what was waiting is dropped at the next simulation.  The list keeps
 * the entries (and a reference to their vCPU) until then.
 */
typedef struct SimulateAR {
    CPUState *cpu;
    int cpu_index;              /* as it was: unplugged, it has none */
    void *host;
    uint64_t page_size;
    unsigned refaults;
    bool as_kvm;                /* handled as under KVM */
    QTAILQ_ENTRY(SimulateAR) next;
} SimulateAR;

static QTAILQ_HEAD(, SimulateAR) simulate_ar_waiting =
    QTAILQ_HEAD_INITIALIZER(simulate_ar_waiting);

static void simulate_ar_drop(SimulateAR *sim)
{
    QTAILQ_REMOVE(&simulate_ar_waiting, sim, next);
    object_unref(OBJECT(sim->cpu));
    g_free(sim);
}

static bool cpu_still_plugged(CPUState *cpu)
{
    CPUState *cs;

    CPU_FOREACH(cs) {
        if (cs == cpu) {
            return true;
        }
    }
    return false;
}

/* The failures whose vCPU went away before running them */
static void simulate_ar_drop_orphans(void)
{
    SimulateAR *sim, *tmp;

    QTAILQ_FOREACH_SAFE(sim, &simulate_ar_waiting, next, tmp) {
        if (!cpu_still_plugged(sim->cpu)) {
            trace_memory_failure_simulate_dropped((uintptr_t)sim->host,
                                                  sim->cpu_index);
            simulate_ar_drop(sim);
        }
    }
}

static void simulate_ar_on_vcpu(CPUState *cpu, run_on_cpu_data data)
{
    SimulateAR *sim = data.host_ptr;
    unsigned i;

    memory_failure_simulate_guarded(sim->as_kvm);
    memory_failure_raise_signal(BUS_MCEERR_AR, sim->host, sim->page_size);
    /*
     * A vCPU that re-enters the guest before the error is handled (KVM)
     * takes the signal again, while the main loop looks at the table.
     */
    for (i = 0; i < sim->refaults; i++) {
        memory_failure_process_pending();
        memory_failure_raise_signal(BUS_MCEERR_AR, sim->host,
                                    sim->page_size);
    }
    simulate_ar_drop(sim);
    /* The handler ran during the syscall; decide now, on this vCPU */
    memory_failure_vcpu_check(cpu);
    memory_failure_simulate_guarded(false);
}

/*
 * Simulate a host memory failure of the @page_size bytes at host address
 * @host: raise the SIGBUS the host kernel would, on @cpu's thread for an
 * action-required error, on the main thread for an action-optional one
 * (@cpu NULL).  @refaults: how many more times the vCPU takes the signal
 * before the error is handled (a KVM vCPU that re-enters the guest);
 * @as_kvm: handled as under KVM.
 */
static void simulate(void *host, CPUState *cpu, uint64_t page_size,
                     unsigned refaults, bool as_kvm)
{
    /* The signal names the base page, its size the range lost */
    host = (void *)((uintptr_t)host & qemu_real_host_page_mask());
    trace_memory_failure_simulate((uintptr_t)host, cpu != NULL,
                                  cpu ? cpu->cpu_index : -1);
    simulate_ar_drop_orphans();
    if (cpu) {
        SimulateAR *sim = g_new(SimulateAR, 1);

        sim->cpu = cpu;
        sim->cpu_index = cpu->cpu_index;
        object_ref(OBJECT(cpu));
        QTAILQ_INSERT_TAIL(&simulate_ar_waiting, sim, next);
        sim->host = host;
        sim->page_size = page_size;
        sim->refaults = refaults;
        sim->as_kvm = as_kvm;
        async_run_on_cpu(cpu, simulate_ar_on_vcpu, RUN_ON_CPU_HOST_PTR(sim));
    } else {
        /* Handled at once, as the main loop handles a real one */
        memory_failure_raise_signal(BUS_MCEERR_AO, host, page_size);
        memory_failure_process_pending();
    }
}

/*
 * @count action-optional failures of consecutive pages of @page_size
 * bytes from @host on (a failing row), each handled before the next is
 * raised: the signal table never holds more than one.
 */
static void simulate_run(void *host, uint64_t page_size, uint64_t count)
{
    uint64_t i;

    /* One memory map update for the whole run, not one per page */
    memory_region_transaction_begin();
    for (i = 0; i < count; i++) {
        simulate((uint8_t *)host + i * page_size, NULL, page_size, 0, false);
    }
    memory_region_transaction_commit();
}

/*
 * Poison the host page of @host (in @mr) for real, with MADV_HWPOISON;
 * the host kernel then signals QEMU as for a real failure.
 */
static void poison_host(MemoryRegion *mr, void *host, Error **errp)
{
    size_t page = qemu_ram_pagesize(mr->ram_block);

    host = (void *)((uintptr_t)host & ~(page - 1));
#ifdef MADV_HWPOISON
    if (madvise(host, page, MADV_HWPOISON) == 0) {
        trace_memory_failure_poison_host((uintptr_t)host, page);
        return;
    }
    error_setg_errno(errp, errno, "real host poison is not available "
                     "(MADV_HWPOISON needs CAP_SYS_ADMIN and a host kernel "
                     "with CONFIG_MEMORY_FAILURE)");
#else
    error_setg(errp, "real host poison is not available on this host");
#endif
}

/*
 * Replace the host page of @host (in @mr) by a poison marker: the next
 * access faults as consumed poison does, with no notice before.
 */
static void mark_host(MemoryRegion *mr, void *host, Error **errp)
{
    size_t page = qemu_ram_pagesize(mr->ram_block);

    host = (void *)((uintptr_t)host & ~(page - 1));
    if (!memory_failure_mark_host(host, page)) {
        error_setg(errp, "no more host pages can be marked poisoned");
        return;
    }
    if (!poison_uffd_install(host, page, errp)) {
        memory_failure_unmark_host(host);
        return;
    }
    trace_memory_failure_poison_marker((uintptr_t)host, page);
}

/*
 * The page size of a simulated failure (@has_page_size: given) in the
 * memory of @mr, which must be a power of two from the host's base page
 * to @mr's page size.  0 with @errp set if it is not.
 */
static uint64_t failure_page_size(MemoryRegion *mr, bool has_page_size,
                                  uint64_t page_size, Error **errp)
{
    uint64_t max = qemu_ram_pagesize(mr->ram_block);

    if (!has_page_size) {
        return max;
    }
    if (!is_power_of_2(page_size) || page_size < qemu_real_host_page_size() ||
        page_size > max) {
        error_setg(errp, "page-size must be a power of two from 0x%zx to "
                   "0x%" PRIx64, qemu_real_host_page_size(), max);
        return 0;
    }
    return page_size;
}

/* Whether @count pages of @page_size from @host on stay in @mr */
static bool failure_run_fits(MemoryRegion *mr, void *host, uint64_t page_size,
                             uint64_t count, Error **errp)
{
    uint64_t start = ((uint8_t *)host -
                      (uint8_t *)memory_region_get_ram_ptr(mr)) &
                     ~(page_size - 1);

    if (count < 1 || count > MAX_RUN) {
        error_setg(errp, "count must be from 1 to %d", MAX_RUN);
        return false;
    }
    if (start + count * page_size > memory_region_size(mr)) {
        error_setg(errp, "%" PRIu64 " pages of 0x%" PRIx64 " bytes leave "
                   "the memory (0x%" PRIx64 " bytes)", count, page_size,
                   memory_region_size(mr));
        return false;
    }
    return true;
}

void qmp_inject_host_memory_failure(HostMemoryFailure *f, Error **errp)
{
    HostMemoryFailureOptional *ao = &f->u.action_optional;
    HostMemoryFailureRequired *ar = &f->u.action_required;
    CPUState *cpu = NULL;
    MemoryRegion *mr;
    uint64_t page_size;
    void *host;

    if (f->has_address == !!f->memdev) {
        error_setg(errp, "give either address or memdev");
        return;
    }
    if (f->has_offset && !f->memdev) {
        error_setg(errp, "offset applies to memdev only");
        return;
    }
    if (f->kind == HOST_MEMORY_FAILURE_KIND_ACTION_REQUIRED &&
        (!memory_failure_cpu_arg(true, ar->has_cpu_index, ar->cpu_index,
                                 &cpu, errp))) {
        return;
    }
    mr = f->memdev ? ram_of_memdev(f->memdev, f->offset, &host, errp)
                   : ram_of_gpa(f->address, &host, errp);
    if (!mr) {
        return;
    }
    switch (f->kind) {
    case HOST_MEMORY_FAILURE_KIND_REAL:
        poison_host(mr, host, errp);
        break;
    case HOST_MEMORY_FAILURE_KIND_X_POISON_MARKER:
        mark_host(mr, host, errp);
        break;
    case HOST_MEMORY_FAILURE_KIND_ACTION_REQUIRED:
        page_size = failure_page_size(mr, ar->has_page_size, ar->page_size,
                                      errp);
        if (!page_size) {
            return;
        }
        if (ar->has_refaults && ar->refaults > MAX_REFAULTS) {
            error_setg(errp, "refaults must be at most %d", MAX_REFAULTS);
            return;
        }
        simulate(host, cpu, page_size, ar->refaults, ar->x_as_kvm);
        break;
    case HOST_MEMORY_FAILURE_KIND_ACTION_OPTIONAL:
        page_size = failure_page_size(mr, ao->has_page_size, ao->page_size,
                                      errp);
        if (!page_size ||
            !failure_run_fits(mr, host, page_size,
                              ao->has_count ? ao->count : 1, errp)) {
            return;
        }
        if (ao->has_count && ao->count > 1) {
            simulate_run(host, page_size, ao->count);
        } else {
            simulate(host, NULL, page_size, 0, false);
        }
        break;
    default:
        g_assert_not_reached();
    }
}

static gint by_address(gconstpointer a, gconstpointer b)
{
    const MemoryPoison *pa = a, *pb = b;
    uint64_t ka = pa->has_gpa ? pa->gpa : pa->rb->offset + pa->offset;
    uint64_t kb = pb->has_gpa ? pb->gpa : pb->rb->offset + pb->offset;

    if (pa->has_gpa != pb->has_gpa) {
        return pa->has_gpa ? -1 : 1;
    }
    return ka < kb ? -1 : ka > kb;
}

static void collect(const MemoryPoison *p, void *opaque)
{
    g_array_append_val(opaque, *p);
}

MemoryFailureInfoList *qmp_query_memory_failures(Error **errp)
{
    MemoryFailureInfoList *head = NULL, **tail = &head;
    g_autoptr(GArray) all = g_array_new(false, false, sizeof(MemoryPoison));
    unsigned i;

    memory_poison_foreach(collect, all);
    g_array_sort(all, by_address);
    for (i = 0; i < all->len; i++) {
        MemoryPoison *p = &g_array_index(all, MemoryPoison, i);
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

RasQueueInfoList *qmp_query_ras_queues(Error **errp)
{
    return ras_queue_list();
}
