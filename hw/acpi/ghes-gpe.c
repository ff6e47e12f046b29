/*
 * The asynchronous GHES source's notification on machines without a GED
 * (x86): a general-purpose event whose method notifies the ACPI error
 * device, which Linux's GHES driver listens to for SCI-type sources
 * (ACPI 6.5 18.3.2.7, "Error Source Discovery"; 5.6.6, Notify 0x80 on a
 * PNP0C33 device)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/host-utils.h"
#include "hw/acpi/acpi_dev_interface.h"
#include "hw/acpi/aml-build.h"
#include "hw/acpi/ghes-device.h"

unsigned ghes_gpe_number(void)
{
    /* acpi_send_gpe_event() sets the event's bit in GPE0's status */
    return ctz32(ACPI_GENERIC_ERROR);
}

void ghes_build_gpe_aml(Aml *table)
{
    Aml *scope = aml_scope("\\_SB");
    g_autofree char *method_name = g_strdup_printf("_E%02X",
                                                   ghes_gpe_number());
    Aml *method;

    aml_append(scope, aml_error_device());
    aml_append(table, scope);

    /* Edge: ACPICA clears the status before it runs the method */
    scope = aml_scope("\\_GPE");
    method = aml_method(method_name, 0, AML_NOTSERIALIZED);
    aml_append(method, aml_notify(aml_name("\\_SB." ACPI_APEI_ERROR_DEVICE),
                                  aml_int(0x80)));
    aml_append(scope, method);
    aml_append(table, scope);
}
