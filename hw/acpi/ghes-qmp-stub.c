/*
 * GHES error sources: stubs for machines built without ACPI APEI
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-ras.h"
#include "hw/acpi/ghes-device.h"

static void ghes_absent(Error **errp)
{
    error_setg(errp, "GHES error sources are not available in this "
               "QEMU binary");
}

AcpiGhesDevice *ghes_device_find(void)
{
    return NULL;
}

/* Never called: ghes_device_find() found no sources to pass them */
bool ghes_device_ready(AcpiGhesDevice *s, Error **errp)
{
    g_assert_not_reached();
}

unsigned ghes_async_source(AcpiGhesDevice *s)
{
    g_assert_not_reached();
}

GhesPosted ghes_post_mem_error(AcpiGhesDevice *s, unsigned source,
                               const CperMemError *err, Error **errp)
{
    g_assert_not_reached();
}

void qmp_inject_memory_error(uint64_t address, bool has_size, uint64_t size,
                             bool has_severity, CperSeverity severity,
                             bool has_error_type,
                             CperMemoryErrorType error_type,
                             bool has_action_required, bool action_required,
                             bool has_cpu_index, int64_t cpu_index,
                             bool has_threshold_exceeded,
                             bool threshold_exceeded, Error **errp)
{
    ghes_absent(errp);
}

void qmp_inject_ghes_v2_error(const char *cper, Error **errp)
{
    ghes_absent(errp);
}

GhesInfo *qmp_query_ghes(Error **errp)
{
    ghes_absent(errp);
    return NULL;
}
