/*
 * ACPI Hardware Error Source Table (HEST), ACPI 6.5 section 18.3.2,
 * with Generic Hardware Error Source version 2 (GHESv2) entries.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/acpi/aml-build.h"
#include "hw/acpi/hest.h"
#include "trace.h"

/* ACPI 6.5 Table 18.14: Hardware Error Notification Structure */
static void hest_append_notify(GArray *table, HestNotifyType type)
{
    build_append_int_noprefix(table, type, 1);          /* Type */
    build_append_int_noprefix(table, HEST_NOTIFY_LEN, 1); /* Length */
    build_append_int_noprefix(table, 0, 2);     /* Configuration Write Enable */
    build_append_int_noprefix(table, 0, 4);             /* Poll Interval */
    build_append_int_noprefix(table, 0, 4);             /* Vector */
    build_append_int_noprefix(table, 0, 4);  /* Switch To Polling Threshold */
    build_append_int_noprefix(table, 0, 4);  /* Switch To Polling Window */
    build_append_int_noprefix(table, 0, 4);             /* Error Threshold */
    build_append_int_noprefix(table, 0, 4);  /* Error Threshold Window */
}

/* A 64-bit SystemMemory GAS the firmware points into the blob */
static void hest_append_blob_gas(GArray *table, BIOSLinker *linker,
                                 uint64_t blob_offset)
{
    unsigned gas = table->len;

    build_append_gas(table, AML_AS_SYSTEM_MEMORY, 64, 0, 4, 0);
    /* Address field, at offset 4 of the GAS */
    bios_linker_loader_add_pointer(linker, ACPI_BUILD_TABLE_FILE, gas + 4, 8,
                                   HEST_HW_ERRORS_FILE, blob_offset);
}

/* ACPI 6.5 Table 18.15: Generic Hardware Error Source version 2 */
static void hest_append_ghes_v2(GArray *table, BIOSLinker *linker,
                                const HestSource *src, unsigned n,
                                unsigned i)
{
    unsigned start = table->len;

    build_append_int_noprefix(table, HEST_TYPE_GHES_V2, 2); /* Type */
    build_append_int_noprefix(table, src->source_id, 2);    /* Source Id */
    build_append_int_noprefix(table, 0xffff, 2);    /* Related Source Id */
    build_append_int_noprefix(table, 0, 1);                 /* Flags */
    build_append_int_noprefix(table, 1, 1);                 /* Enabled */
    /* Number of Records To Pre-allocate */
    build_append_int_noprefix(table, 1, 4);
    build_append_int_noprefix(table, 1, 4);  /* Max Sections Per Record */
    /* Max Raw Data Length */
    build_append_int_noprefix(table, HEST_GHES_BLOCK_LEN, 4);

    /* Error Status Address: points at this source's address register */
    hest_append_blob_gas(table, linker, hest_blob_address_reg(n, i));

    hest_append_notify(table, src->notify);      /* Notification Structure */
    /* Error Status Block Length */
    build_append_int_noprefix(table, HEST_GHES_BLOCK_LEN, 4);

    /* Read Ack Register */
    hest_append_blob_gas(table, linker, hest_blob_ack_reg(n, i));
    build_append_int_noprefix(table, HEST_READ_ACK_PRESERVE, 8);
    build_append_int_noprefix(table, HEST_READ_ACK_WRITE, 8);

    assert(table->len - start == HEST_GHES_V2_LEN);
}

static void hest_build_hw_errors(GArray *hw_errors, BIOSLinker *linker,
                                 unsigned n)
{
    unsigned i;

    g_array_set_size(hw_errors, 0);
    /* Error Status Address registers, patched to point at the blocks */
    for (i = 0; i < n; i++) {
        build_append_int_noprefix(hw_errors, 0, 8);
    }
    /* Read Ack registers: set, i.e. each block starts out free */
    for (i = 0; i < n; i++) {
        build_append_int_noprefix(hw_errors, HEST_READ_ACK_WRITE, 8);
    }
    /* Generic Error Status Blocks, empty (Block Status 0) */
    g_array_set_size(hw_errors, hest_blob_len(n));

    bios_linker_loader_alloc(linker, HEST_HW_ERRORS_FILE, hw_errors,
                             HEST_BLOB_ALIGN, false);
    for (i = 0; i < n; i++) {
        bios_linker_loader_add_pointer(linker, HEST_HW_ERRORS_FILE,
                                       hest_blob_address_reg(n, i), 8,
                                       HEST_HW_ERRORS_FILE,
                                       hest_blob_block(n, i));
    }
    /* Firmware tells QEMU where it placed the blob */
    bios_linker_loader_write_pointer(linker, HEST_HW_ERRORS_ADDR_FILE, 0, 8,
                                     HEST_HW_ERRORS_FILE, 0);
}

void hest_build(GArray *table_data, GArray *hw_errors, BIOSLinker *linker,
                const HestSource *sources, unsigned n,
                const char *oem_id, const char *oem_table_id)
{
    AcpiTable table = { .sig = "HEST", .rev = 1,
                        .oem_id = oem_id, .oem_table_id = oem_table_id };
    unsigned i;

    hest_build_hw_errors(hw_errors, linker, n);

    acpi_table_begin(&table, table_data);
    build_append_int_noprefix(table_data, n, 4);    /* Error Source Count */
    for (i = 0; i < n; i++) {
        hest_append_ghes_v2(table_data, linker, &sources[i], n, i);
    }
    acpi_table_end(linker, &table);
    trace_hest_build(n, hest_blob_len(n));
}
