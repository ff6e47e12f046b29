/*
 * Host memory failures: QEMU's own memory failed, so no migration
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-migration.h"
#include "qemu/error-report.h"
#include "qemu/timer.h"
#include "migration/blocker.h"
#include "migration/misc.h"
#include "memory-failure-internal.h"

static Error *migration_blocker;
static QEMUTimer *block_retry;
static bool want_blocker;
static bool cancel_asked;       /* of the migration the blocker waits for */

static void block_migration_retry(void *opaque);

/*
 * Guest memory that failed travels as a hole (memory-poison-migration.c),
 * but the data of QEMU's own migrated memory (ACPI tables, ROMs) cannot be
 * recreated: with an error there a migration is refused, certainly.
 * -only-migratable cannot veto this blocker (the hardware left no
 * choice), and a migration already running is cancelled, the blocker
 * added as soon as it has stopped.
 */
void memory_failure_block_migration(void)
{
    MigrationInfo *info;
    Error *err = NULL;

    want_blocker = true;
    if (migration_blocker) {
        return;
    }
    error_setg(&migration_blocker, "memory QEMU migrates for itself has "
               "hardware errors (see query-memory-failures)");
    if (migrate_add_blocker_internal(&migration_blocker, &err) == 0) {
        cancel_asked = false;
        return;
    }
    /*
     * Busy: the blocker was freed, *migration_blocker is NULL again.  The
     * migration is cancelled, once, and so is one started before the
     * blocker is in.  Postcopy cannot be cancelled: it is said once, and
     * the blocker waits for its end.
     */
    info = qmp_query_migrate(NULL);
    if (info->has_status && !cancel_asked) {
        cancel_asked = true;
        if (info->status == MIGRATION_STATUS_POSTCOPY_ACTIVE) {
            warn_report("the postcopy migration in progress cannot be "
                        "cancelled: %s", error_get_pretty(err));
        } else if (info->status != MIGRATION_STATUS_CANCELLING) {
            warn_report("cancelling the migration in progress: %s",
                        error_get_pretty(err));
            qmp_migrate_cancel(NULL);
        }
    }
    qapi_free_MigrationInfo(info);
    error_free(err);
    if (!block_retry) {
        block_retry = timer_new_ms(QEMU_CLOCK_REALTIME,
                                   block_migration_retry, NULL);
    }
    timer_mod(block_retry, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + 10);
}

static void block_migration_retry(void *opaque)
{
    if (want_blocker) {
        memory_failure_block_migration();
    }
}


/*
 * A migration starting while the blocker waits for the last one to end
 * is refused: it would read QEMU's poisoned memory.
 */
static int memory_failure_migration_setup(NotifierWithReturn *n,
                                          MigrationEvent *e, Error **errp)
{
    if (e->type != MIG_EVENT_PRECOPY_SETUP) {
        /* The migration the blocker waited for has ended */
        cancel_asked = false;
        return 0;
    }
    if (want_blocker && !migration_blocker) {
        error_setg(errp, "memory QEMU migrates for itself has hardware "
                   "errors (see query-memory-failures)");
        return -EBUSY;
    }
    return 0;
}

static NotifierWithReturn migration_setup;

void memory_failure_unblock_migration(void)
{
    want_blocker = false;
    if (block_retry) {
        timer_del(block_retry);
    }
    if (migration_blocker) {
        migrate_del_blocker(&migration_blocker);
    }
}

void memory_failure_blocker_init(void)
{
    migration_add_notifier(&migration_setup, memory_failure_migration_setup);
}
