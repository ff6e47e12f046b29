/*
 * Poisoned guest memory in the migration stream
 *
 * A failed page is never read for migration (migration/ram.c skips the
 * pages the tracker holds: under KVM, reading real poison would kill the
 * migration thread), so its data does not travel; its loss does.  This
 * section carries every poisoned range of guest memory that migrates,
 * with what query-memory-failures shows of it, and the destination
 * recreates the holes before the guest runs (memory_failure_restore()).
 * It is sent only when there is poison: a VM without any migrates to a
 * QEMU that does not know the section.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/cutils.h"
#include "qemu/host-utils.h"
#include "qemu/rcu.h"
#include "qemu/units.h"
#include "exec/ramlist.h"
#include "migration/migration.h"
#include "migration/misc.h"
#include "migration/vmstate.h"
#include "system/memory-failure.h"
#include "system/memory-poison.h"
#include "system/ramblock.h"
#include "trace.h"

/* A RAM block with poison, by the name both sides know it by */
typedef struct MigratedPoisonBlock {
    uint8_t idstr[sizeof(((RAMBlock *)NULL)->idstr)];
} MigratedPoisonBlock;

/* One range, as MemoryPoison holds it; @block indexes the blocks sent */
typedef struct MigratedPoison {
    uint32_t block;
    uint64_t offset;
    uint64_t size;
    uint64_t gpa;
    bool reported;
    int64_t first_us;
    uint64_t hits;
} MigratedPoison;

/* The stream's view, from pre_save to post_save, or a load to post_load */
typedef struct PoisonMigration {
    int32_t nr_blocks;
    MigratedPoisonBlock *blocks;
    int32_t nr_ranges;
    MigratedPoison *ranges;
} PoisonMigration;

static PoisonMigration poison_migration;

/* Guest memory that migrates: QEMU's own poisoned memory blocks it */
static bool migrates(const MemoryPoison *p)
{
    return p->recipient == MEMORY_FAILURE_RECIPIENT_GUEST && p->has_gpa &&
           qemu_ram_is_migratable(p->rb);
}

static void count_range(const MemoryPoison *p, void *opaque)
{
    *(uint32_t *)opaque += migrates(p);
}

static bool poison_migration_needed(void *opaque)
{
    uint32_t n = 0;

    memory_poison_foreach(count_range, &n);
    return n > 0;
}

static void flatten_range(const MemoryPoison *p, void *opaque)
{
    PoisonMigration *m = opaque;
    int32_t b;

    if (!migrates(p)) {
        return;
    }
    for (b = 0; b < m->nr_blocks; b++) {
        if (!strcmp((char *)m->blocks[b].idstr, p->rb->idstr)) {
            break;
        }
    }
    if (b == m->nr_blocks) {
        m->blocks = g_renew(MigratedPoisonBlock, m->blocks, b + 1);
        memset(&m->blocks[b], 0, sizeof(m->blocks[b]));
        pstrcpy((char *)m->blocks[b].idstr, sizeof(m->blocks[b].idstr),
                p->rb->idstr);
        m->nr_blocks++;
    }
    m->ranges[m->nr_ranges++] = (MigratedPoison) {
        .block = b,
        .offset = p->offset,
        .size = p->size,
        .gpa = p->gpa,
        .reported = p->reported,
        .first_us = p->first_us,
        .hits = p->hits,
    };
}

static int poison_migration_post_save(void *opaque)
{
    PoisonMigration *m = opaque;

    g_clear_pointer(&m->blocks, g_free);
    g_clear_pointer(&m->ranges, g_free);
    m->nr_blocks = m->nr_ranges = 0;
    return 0;
}

static int poison_migration_pre_save(void *opaque)
{
    PoisonMigration *m = opaque;
    uint32_t n = 0;

    /* What a failed load left */
    poison_migration_post_save(m);
    memory_poison_foreach(count_range, &n);
    m->ranges = g_new(MigratedPoison, n);
    memory_poison_foreach(flatten_range, m);
    trace_memory_poison_migration_save(m->nr_blocks, m->nr_ranges);
    return 0;
}

static int poison_migration_pre_load(void *opaque)
{
    return poison_migration_post_save(opaque);
}

/*
 * The stream is untrusted: counts are checked before anything is
 * allocated, against what this machine could hold (a range is at least a
 * 4 KiB page of RAM that migrates) and a hard bound.
 */
#define POISON_MIGRATION_MAX_RANGES     (1u << 22)

static uint64_t migratable_pages(void)
{
    uint64_t pages = 0;
    RAMBlock *rb;

    WITH_RCU_READ_LOCK_GUARD() {
        RAMBLOCK_FOREACH(rb) {
            if (qemu_ram_is_migratable(rb)) {
                pages += rb->used_length / (4 * KiB);
            }
        }
    }
    return pages;
}

static bool poison_migration_counts_valid(void *opaque, int version_id)
{
    PoisonMigration *m = opaque;
    unsigned nr_blocks = 0;
    RAMBlock *rb;

    WITH_RCU_READ_LOCK_GUARD() {
        RAMBLOCK_FOREACH(rb) {
            nr_blocks++;
        }
    }
    if (m->nr_blocks < 0 || m->nr_blocks > nr_blocks ||
        m->nr_ranges < m->nr_blocks ||
        (uint64_t)m->nr_ranges > MIN(migratable_pages(),
                                     POISON_MIGRATION_MAX_RANGES)) {
        error_report("memory-poison: migration stream holds %d poisoned "
                     "ranges in %d RAM blocks, more than this machine has "
                     "pages or blocks", m->nr_ranges, m->nr_blocks);
        return false;
    }
    return true;
}

/* The range @r of the stream, checked against this machine's RAM */
static bool unflatten_range(PoisonMigration *m, const MigratedPoison *r,
                            RAMBlock **rbs, MemoryPoison *p, Error **errp)
{
    RAMBlock *rb = r->block < (uint32_t)m->nr_blocks ? rbs[r->block] : NULL;

    if (!rb) {
        error_setg(errp, "a poisoned range names RAM block %u of %d",
                   r->block, m->nr_blocks);
        return false;
    }
    if (r->size < 4 * KiB || !is_power_of_2(r->size) ||
        r->offset & (r->size - 1) || r->size > rb->used_length ||
        r->offset > rb->used_length - r->size || r->gpa & (r->size - 1)) {
        error_setg(errp, "poisoned range 0x%" PRIx64 " (+0x%" PRIx64 ") at "
                   "guest address 0x%" PRIx64 " does not fit RAM block %s",
                   r->offset, r->size, r->gpa, rb->idstr);
        return false;
    }
    *p = (MemoryPoison) {
        .rb = rb,
        .offset = r->offset,
        .size = r->size,
        .has_gpa = true,
        .gpa = r->gpa,
        .recipient = MEMORY_FAILURE_RECIPIENT_GUEST,
        /* Not sent, so lost here, whether or not the error was simulated */
        .data_intact = false,
        .reported = r->reported,
        .first_us = r->first_us,
        .hits = r->hits,
    };
    return true;
}

static int poison_migration_post_load(void *opaque, int version_id)
{
    PoisonMigration *m = opaque;
    g_autofree RAMBlock **rbs = g_new0(RAMBlock *, m->nr_blocks);
    g_autofree MemoryPoison *p = g_new(MemoryPoison, m->nr_ranges);
    Error *err = NULL;
    int32_t i;

    for (i = 0; i < m->nr_blocks; i++) {
        const char *name = (char *)m->blocks[i].idstr;

        rbs[i] = memchr(name, 0, sizeof(m->blocks[i].idstr)) ?
                 qemu_ram_block_by_name(name) : NULL;
        if (!rbs[i] || !qemu_ram_is_migratable(rbs[i])) {
            error_setg(&err, "poisoned memory in a RAM block this machine "
                       "does not migrate: '%.*s'",
                       (int)sizeof(m->blocks[i].idstr), name);
            goto fail;
        }
    }
    for (i = 0; i < m->nr_ranges; i++) {
        if (!unflatten_range(m, &m->ranges[i], rbs, &p[i], &err)) {
            goto fail;
        }
    }
    trace_memory_poison_migration_load(m->nr_blocks, m->nr_ranges);
    /*
     * Postcopy's listen phase has every RAM block registered with its
     * userfaultfd, which no other may register: its holes go in there
     */
    if (!memory_failure_restore(p, m->nr_ranges,
                                migration_in_incoming_postcopy() ?
                                migration_incoming_get_current()->userfault_fd
                                : -1, &err)) {
        goto fail;
    }
    poison_migration_post_save(m);
    return 0;

fail:
    error_report_err(err);
    poison_migration_post_save(m);
    return -EINVAL;
}

static const VMStateDescription vmstate_migrated_poison_block = {
    .name = "memory-poison/block",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_BUFFER(idstr, MigratedPoisonBlock),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_migrated_poison = {
    .name = "memory-poison/range",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(block, MigratedPoison),
        VMSTATE_UINT64(offset, MigratedPoison),
        VMSTATE_UINT64(size, MigratedPoison),
        VMSTATE_UINT64(gpa, MigratedPoison),
        VMSTATE_BOOL(reported, MigratedPoison),
        VMSTATE_INT64(first_us, MigratedPoison),
        VMSTATE_UINT64(hits, MigratedPoison),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_poison_migration = {
    .name = "memory-poison",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = poison_migration_needed,
    .pre_save = poison_migration_pre_save,
    .post_save = poison_migration_post_save,
    .pre_load = poison_migration_pre_load,
    .post_load = poison_migration_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_INT32(nr_blocks, PoisonMigration),
        VMSTATE_INT32(nr_ranges, PoisonMigration),
        VMSTATE_VALIDATE("poisoned ranges within bounds",
                         poison_migration_counts_valid),
        VMSTATE_STRUCT_VARRAY_ALLOC(blocks, PoisonMigration, nr_blocks, 0,
                                    vmstate_migrated_poison_block,
                                    MigratedPoisonBlock),
        VMSTATE_STRUCT_VARRAY_ALLOC(ranges, PoisonMigration, nr_ranges, 0,
                                    vmstate_migrated_poison, MigratedPoison),
        VMSTATE_END_OF_LIST()
    },
};

static void poison_migration_init(void)
{
    vmstate_register(NULL, 0, &vmstate_poison_migration, &poison_migration);
}

type_init(poison_migration_init)
