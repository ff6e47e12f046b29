/*
 * PC machines: "ras", firmware-first reporting of memory errors (GHESv2)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_I386_PC_RAS_H
#define HW_I386_PC_RAS_H

#include "hw/i386/pc.h"

/* Adds the "ras" property to a PC machine class */
void pc_ras_class_init(ObjectClass *oc);

/*
 * pc_ras_init: with ras=on, create the machine's GHES error sources,
 * notified through @acpi_dev's GPE; exits on a machine type that
 * predates them (QEMU 10.2 has none on x86)
 */
void pc_ras_init(PCMachineState *pcms, DeviceState *acpi_dev);

#endif
