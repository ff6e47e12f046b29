/*
 * ACPI Hardware Error Source Table (HEST) with GHESv2 error sources,
 * and the layout of the hardware-errors blob the sources point into.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_ACPI_HEST_H
#define HW_ACPI_HEST_H

#include "hw/acpi/bios-linker-loader.h"

#define HEST_HW_ERRORS_FILE         "etc/hardware_errors"
#define HEST_HW_ERRORS_ADDR_FILE    "etc/hardware_errors_addr"
#define HEST_HEST_ADDR_FILE         "etc/acpi_table_hest_addr"

/* ACPI 6.5 Table 18.14: Hardware Error Notification Structure, Type */
typedef enum HestNotifyType {
    HEST_NOTIFY_POLLED = 0,
    HEST_NOTIFY_EXTERNAL = 1,
    HEST_NOTIFY_LOCAL = 2,
    HEST_NOTIFY_SCI = 3,
    HEST_NOTIFY_NMI = 4,
    HEST_NOTIFY_CMCI = 5,
    HEST_NOTIFY_MCE = 6,
    HEST_NOTIFY_GPIO = 7,
    HEST_NOTIFY_SEA = 8,
    HEST_NOTIFY_SEI = 9,
    HEST_NOTIFY_GSIV = 10,
    HEST_NOTIFY_SDEI = 11,
} HestNotifyType;

/* ACPI 6.5 18.3.2.8: Generic Hardware Error Source version 2 */
#define HEST_TYPE_GHES_V2           10
#define HEST_GHES_V2_LEN            92
#define HEST_NOTIFY_LEN             28
/* Read Ack: the guest writes (ack & PRESERVE) | WRITE once it has read */
#define HEST_READ_ACK_PRESERVE      (~1ull)
#define HEST_READ_ACK_WRITE         1ull

/*
 * One error status block per source; the guest's max_raw_data_length,
 * and the most a single record may hold
 */
#define HEST_GHES_BLOCK_LEN         1024
/*
 * Our layout's first block, of the asynchronous source: a page, room for
 * a record of many memory errors (one notification for them all)
 */
#define HEST_GHES_BATCH_BLOCK_LEN   4096

typedef struct HestSource {
    uint16_t source_id;
    HestNotifyType notify;
    uint32_t max_sections;      /* in a record of this source's */
} HestSource;

/*
 * etc/hardware_errors, for @n sources:
 *   [n x 8]  Error Status Address registers (GPA of each status block)
 *   [n x 8]  Read Ack registers
 *   padding to a page boundary (not in QEMU 10.2's layout)
 *   [n]  Generic Error Status Blocks: the first first_block_len bytes,
 *        the others HEST_GHES_BLOCK_LEN
 * The registers have pages of their own, so that QEMU can trap the
 * guest's acknowledgements there without trapping the blocks.  QEMU
 * 10.2's layout, kept for its machine types, has no padding and blocks
 * of one length: the blocks share the registers' page, which therefore
 * stays guest RAM.
 */
#define HEST_BLOB_ALIGN             4096
/* The blob's alignment in QEMU 10.2's layout */
#define HEST_BLOB_ALIGN_QEMU_10_2   8

/* How firmware reports where it placed the blob */
typedef enum HestAddrReport {
    /* the blob's address, in etc/hardware_errors_addr */
    HEST_REPORT_BLOB,
    /* the HEST's address, in etc/acpi_table_hest_addr (QEMU 10.1, 10.2) */
    HEST_REPORT_HEST,
} HestAddrReport;

typedef struct HestLayout {
    unsigned n;                 /* error sources */
    bool regs_own_page;         /* ours; false: QEMU 10.2's */
    HestAddrReport report;
    uint32_t first_block_len;   /* the first block's length */
} HestLayout;

static inline uint64_t hest_blob_address_reg(const HestLayout *l, unsigned i)
{
    return 8ull * i;
}

static inline uint64_t hest_blob_ack_reg(const HestLayout *l, unsigned i)
{
    return 8ull * (l->n + i);
}

/* Bytes before the first block: the registers, and their padding */
static inline uint64_t hest_blob_regs_len(const HestLayout *l)
{
    return l->regs_own_page ? ROUND_UP(16ull * l->n, HEST_BLOB_ALIGN)
                            : 16ull * l->n;
}

static inline uint32_t hest_blob_block_len(const HestLayout *l, unsigned i)
{
    return i ? HEST_GHES_BLOCK_LEN : l->first_block_len;
}

static inline uint64_t hest_blob_block(const HestLayout *l, unsigned i)
{
    return hest_blob_regs_len(l) +
           (i ? l->first_block_len + (uint64_t)HEST_GHES_BLOCK_LEN * (i - 1)
              : 0);
}

static inline uint64_t hest_blob_len(const HestLayout *l)
{
    return hest_blob_block(l, l->n);
}

static inline uint64_t hest_blob_align(const HestLayout *l)
{
    return l->regs_own_page ? HEST_BLOB_ALIGN : HEST_BLOB_ALIGN_QEMU_10_2;
}

/* Offsets in the HEST, to find the blob from the HEST's address */
#define HEST_HEADER_LEN             40      /* ACPI header, source count */
#define HEST_GHES_STATUS_ADDR_OFF   24      /* Error Status Address's */
#define HEST_GHES_READ_ACK_OFF      68      /* Read Ack Register's */

/**
 * hest_build:
 * @table_data: ACPI tables blob the HEST is appended to
 * @hw_errors: receives the initial contents of etc/hardware_errors
 * @linker: linker/loader the placement commands go to
 * @sources: the error sources, in HEST order
 * @layout: the blob's layout, for @layout->n sources, and how firmware
 *   reports its address
 *
 * Build the HEST and the blob it points into, and the linker commands
 * that let firmware place the blob, patch the pointers and tell QEMU
 * where the blob went.  Deterministic: the table is rebuilt on every
 * guest read of the ACPI tables.
 */
void hest_build(GArray *table_data, GArray *hw_errors, BIOSLinker *linker,
                const HestSource *sources, const HestLayout *layout,
                const char *oem_id, const char *oem_table_id);

#endif
