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

/*
 * A 64-bit SystemMemory GAS the firmware points into the blob; returns
 * where its address field is
 */
static unsigned hest_append_blob_gas(GArray *table, BIOSLinker *linker,
                                     uint64_t blob_offset)
{
    unsigned gas = table->len;

    build_append_gas(table, AML_AS_SYSTEM_MEMORY, 64, 0, 4, 0);
    /* Address field, at offset 4 of the GAS */
    bios_linker_loader_add_pointer(linker, ACPI_BUILD_TABLE_FILE, gas + 4, 8,
                                   HEST_HW_ERRORS_FILE, blob_offset);
    return gas + 4;
}

/* ACPI 6.5 Table 18.15: Generic Hardware Error Source version 2 */
static void hest_append_ghes_v2(GArray *table, BIOSLinker *linker,
                                const HestSource *src, const HestLayout *l,
                                unsigned i)
{
    unsigned start = table->len, status, ack;

    build_append_int_noprefix(table, HEST_TYPE_GHES_V2, 2); /* Type */
    build_append_int_noprefix(table, src->source_id, 2);    /* Source Id */
    build_append_int_noprefix(table, 0xffff, 2);    /* Related Source Id */
    build_append_int_noprefix(table, 0, 1);                 /* Flags */
    build_append_int_noprefix(table, 1, 1);                 /* Enabled */
    /* Number of Records To Pre-allocate */
    build_append_int_noprefix(table, 1, 4);
    /* Max Sections Per Record */
    build_append_int_noprefix(table, src->max_sections, 4);
    /* Max Raw Data Length */
    build_append_int_noprefix(table, hest_blob_block_len(l, i), 4);

    /* Error Status Address: points at this source's address register */
    status = hest_append_blob_gas(table, linker,
                                  hest_blob_address_reg(l, i));

    hest_append_notify(table, src->notify);      /* Notification Structure */
    /* Error Status Block Length */
    build_append_int_noprefix(table, hest_blob_block_len(l, i), 4);

    /* Read Ack Register */
    ack = hest_append_blob_gas(table, linker, hest_blob_ack_reg(l, i));
    build_append_int_noprefix(table, HEST_READ_ACK_PRESERVE, 8);
    build_append_int_noprefix(table, HEST_READ_ACK_WRITE, 8);

    assert(table->len - start == HEST_GHES_V2_LEN);
    /* Where QEMU looks for them, given only the HEST's address */
    assert(status - start == HEST_GHES_STATUS_ADDR_OFF);
    assert(ack - start == HEST_GHES_READ_ACK_OFF);
}

static void hest_build_hw_errors(GArray *hw_errors, BIOSLinker *linker,
                                 const HestLayout *l)
{
    unsigned i;

    g_array_set_size(hw_errors, 0);
    /* Error Status Address registers, patched to point at the blocks */
    for (i = 0; i < l->n; i++) {
        build_append_int_noprefix(hw_errors, 0, 8);
    }
    /* Read Ack registers: set, i.e. each block starts out free */
    for (i = 0; i < l->n; i++) {
        build_append_int_noprefix(hw_errors, HEST_READ_ACK_WRITE, 8);
    }
    /* Generic Error Status Blocks, empty (Block Status 0) */
    g_array_set_size(hw_errors, hest_blob_len(l));

    bios_linker_loader_alloc(linker, HEST_HW_ERRORS_FILE, hw_errors,
                             hest_blob_align(l), false);
    for (i = 0; i < l->n; i++) {
        bios_linker_loader_add_pointer(linker, HEST_HW_ERRORS_FILE,
                                       hest_blob_address_reg(l, i), 8,
                                       HEST_HW_ERRORS_FILE,
                                       hest_blob_block(l, i));
    }
    if (l->report == HEST_REPORT_BLOB) {
        /* Firmware tells QEMU where it placed the blob */
        bios_linker_loader_write_pointer(linker, HEST_HW_ERRORS_ADDR_FILE, 0,
                                         8, HEST_HW_ERRORS_FILE, 0);
    }
}

void hest_build(GArray *table_data, GArray *hw_errors, BIOSLinker *linker,
                const HestSource *sources, const HestLayout *layout,
                const char *oem_id, const char *oem_table_id)
{
    AcpiTable table = { .sig = "HEST", .rev = 1,
                        .oem_id = oem_id, .oem_table_id = oem_table_id };
    unsigned hest = table_data->len, i;

    hest_build_hw_errors(hw_errors, linker, layout);

    acpi_table_begin(&table, table_data);
    /* Error Source Count */
    build_append_int_noprefix(table_data, layout->n, 4);
    for (i = 0; i < layout->n; i++) {
        hest_append_ghes_v2(table_data, linker, &sources[i], layout, i);
    }
    acpi_table_end(linker, &table);
    if (layout->report == HEST_REPORT_HEST) {
        /* ... or where it placed the HEST, which points into the blob */
        bios_linker_loader_write_pointer(linker, HEST_HEST_ADDR_FILE, 0, 8,
                                         ACPI_BUILD_TABLE_FILE, hest);
    }
    trace_hest_build(layout->n, hest_blob_len(layout));
}
