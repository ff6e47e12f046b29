/*
 * The one function of hw/acpi/aml-build.c that hw/acpi/cper.c uses,
 * for fuzz targets (aml-build.c itself needs half of QEMU): the same
 * little-endian append
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/acpi/aml-build.h"

void build_append_int_noprefix(GArray *table, uint64_t value, int size)
{
    int i;

    for (i = 0; i < size; ++i) {
        uint8_t b = value & 0xff;

        g_array_append_val(table, b);
        value >>= 8;
    }
}
