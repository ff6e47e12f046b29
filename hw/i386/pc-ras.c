/*
 * PC machines: "ras", firmware-first reporting of memory errors
 *
 * With ras=on the machine describes GHESv2 error sources in the HEST and
 * notifies the asynchronous one through a GPE, as arm virt does through
 * its GED; target/i386/memory-failure.c then sends action-optional
 * memory errors there instead of machine checks
 * (docs/specs/memory-failure.rst, "x86 firmware-first").
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qapi/error.h"
#include "hw/acpi/ghes-device.h"
#include "hw/i386/pc-ras.h"

static bool pc_ras_get(Object *obj, Error **errp)
{
    return PC_MACHINE(obj)->ras;
}

static void pc_ras_set(Object *obj, bool value, Error **errp)
{
    PC_MACHINE(obj)->ras = value;
}

void pc_ras_class_init(ObjectClass *oc)
{
    object_class_property_add_bool(oc, "ras", pc_ras_get, pc_ras_set);
    object_class_property_set_description(oc, "ras",
        "Set on/off to report host memory errors to the guest through "
        "ACPI GHESv2 error sources (firmware-first)");
}

void pc_ras_init(PCMachineState *pcms, DeviceState *acpi_dev)
{
    PCMachineClass *pcmc = PC_MACHINE_GET_CLASS(pcms);

    if (!pcms->ras) {
        return;
    }
    if (!pcmc->has_ras) {
        error_report("ras=on needs a machine type of QEMU 11.0 or later: "
                     "%s keeps QEMU 10.2's ACPI tables",
                     MACHINE_GET_CLASS(pcms)->name);
        exit(1);
    }
    if (!pcmc->has_acpi_build || !x86_machine_is_acpi_enabled(
                                     X86_MACHINE(pcms))) {
        error_report("ras=on needs ACPI: its error sources are ACPI tables");
        exit(1);
    }
    /* Synchronous errors stay machine checks: no SEA sources */
    ghes_device_create(OBJECT(pcms), acpi_dev, 0);
}
