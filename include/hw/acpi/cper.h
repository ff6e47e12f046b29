/*
 * UEFI Common Platform Error Record (CPER) encoding
 *
 * Encodes what an ACPI Generic Hardware Error Source hands the guest:
 * a Generic Error Status Block (ACPI 6.5 18.3.2.7.1) holding Generic
 * Error Data Entries (ACPI 6.5 18.3.2.7.1, revision 0x300), each carrying
 * a UEFI CPER section (UEFI 2.10 appendix N.2).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_ACPI_CPER_H
#define HW_ACPI_CPER_H

#include "qemu/uuid.h"

/* ACPI 6.5 Table 18.11 and UEFI 2.10 N.2.2: shared by block and entry */
typedef enum CperSev {
    CPER_SEV_RECOVERABLE = 0,
    CPER_SEV_FATAL = 1,
    CPER_SEV_CORRECTED = 2,
    CPER_SEV_INFORMATIONAL = 3,
} CperSev;

/* ACPI 6.5 Table 18.11: Generic Error Status Block */
#define CPER_ESTATUS_HEADER_LEN         20
#define CPER_ESTATUS_UNCORRECTABLE      (1u << 0)
#define CPER_ESTATUS_CORRECTABLE        (1u << 1)
#define CPER_ESTATUS_MULTI_UNCORRECTABLE (1u << 2)
#define CPER_ESTATUS_MULTI_CORRECTABLE  (1u << 3)
#define CPER_ESTATUS_ENTRY_COUNT_SHIFT  4
#define CPER_ESTATUS_ENTRY_COUNT_MASK   0x3ffu

/* ACPI 6.5 Table 18.12: Generic Error Data Entry, revision 0x300 */
#define CPER_GDATA_LEN                  72
#define CPER_GDATA_REVISION             0x0300
#define CPER_GDATA_VALID_FRU_ID         (1u << 0)
#define CPER_GDATA_VALID_FRU_TEXT       (1u << 1)
#define CPER_GDATA_VALID_TIMESTAMP      (1u << 2)
#define CPER_GDATA_FLAG_PRIMARY         (1u << 0)
/* Error threshold exceeded */
#define CPER_GDATA_FLAG_THRESHOLD       (1u << 3)

/* UEFI 2.10 N.2.5: Memory Error Section */
#define CPER_MEM_LEN                    80
#define CPER_MEM_VALID_ERROR_STATUS     (1ull << 0)
#define CPER_MEM_VALID_PA               (1ull << 1)
#define CPER_MEM_VALID_PA_MASK          (1ull << 2)
#define CPER_MEM_VALID_NODE             (1ull << 3)
#define CPER_MEM_VALID_ERROR_TYPE       (1ull << 14)

/* UEFI 2.10 N.2.5, Memory Error Type field */
typedef enum CperMemErrorType {
    CPER_MEM_TYPE_UNKNOWN = 0,
    CPER_MEM_TYPE_NONE = 1,
    CPER_MEM_TYPE_SINGLE_BIT_ECC = 2,
    CPER_MEM_TYPE_MULTI_BIT_ECC = 3,
    CPER_MEM_TYPE_SINGLE_SYMBOL_CHIPKILL = 4,
    CPER_MEM_TYPE_MULTI_SYMBOL_CHIPKILL = 5,
    CPER_MEM_TYPE_MASTER_ABORT = 6,
    CPER_MEM_TYPE_TARGET_ABORT = 7,
    CPER_MEM_TYPE_PARITY = 8,
    CPER_MEM_TYPE_WATCHDOG_TIMEOUT = 9,
    CPER_MEM_TYPE_INVALID_ADDRESS = 10,
    CPER_MEM_TYPE_MIRROR_BROKEN = 11,
    CPER_MEM_TYPE_MEMORY_SPARING = 12,
    CPER_MEM_TYPE_SCRUB_CORRECTED = 13,
    CPER_MEM_TYPE_SCRUB_UNCORRECTED = 14,
    CPER_MEM_TYPE_MAP_OUT = 15,
} CperMemErrorType;

/* UEFI 2.10 N.2.5 section type GUID, as stored (little-endian fields) */
extern const QemuUUID cper_sec_mem_err_guid;

/* A memory error as the platform saw it */
typedef struct CperMemError {
    uint64_t physical_address;
    uint64_t size;             /* bytes lost, a power of two >= 4096 */
    CperSev severity;
    CperMemErrorType type;
    /*
     * The platform's count of corrected errors there passed its
     * threshold: a Linux guest soft-offlines the page (moves its data)
     */
    bool threshold_exceeded;
} CperMemError;

/*
 * A host memory error as QEMU reports it to the guest: uncorrected but
 * recoverable (the page is lost, the machine lives), multi-bit ECC
 */
static inline CperMemError cper_host_mem_error(uint64_t gpa, uint64_t size)
{
    return (CperMemError) {
        .physical_address = gpa,
        .size = size,
        .severity = CPER_SEV_RECOVERABLE,
        .type = CPER_MEM_TYPE_MULTI_BIT_ECC,
    };
}

/*
 * The length of the record cper_encode_mem_error() produces.  Together
 * with the section it carries a 64-bit record sequence number as raw
 * data, so that no two records are byte-identical (Linux drops a record
 * equal to one it saw in the last few seconds).
 */
#define CPER_MEM_RECORD_LEN \
    (CPER_ESTATUS_HEADER_LEN + CPER_GDATA_LEN + CPER_MEM_LEN + 8)

/* Merging n records of cper_encode_mem_error(): the length, the most */
#define CPER_MEM_MERGED_LEN(n) \
    (CPER_ESTATUS_HEADER_LEN + (n) * (CPER_GDATA_LEN + CPER_MEM_LEN) + 8)
#define CPER_MEM_RECORDS_PER_BLOCK(block_len) \
    (((block_len) - CPER_ESTATUS_HEADER_LEN - 8) / \
     (CPER_GDATA_LEN + CPER_MEM_LEN))

/*
 * cper_mem_records_mergeable: whether two records of
 * cper_encode_mem_error() may share one block (the same severity)
 */
bool cper_mem_records_mergeable(const uint8_t *a, const uint8_t *b);

/**
 * cper_merge_mem_records:
 * @out: array of bytes the record is appended to
 * @records: @n records of cper_encode_mem_error(), all mergeable
 * @n: how many
 *
 * Append one Generic Error Status Block holding the @n memory error
 * sections (CPER_MEM_MERGED_LEN(@n) bytes), the first one primary, with
 * the first record's sequence number as raw data: a guest takes the
 * @n errors on one notification.
 */
void cper_merge_mem_records(GArray *out, const uint8_t *const *records,
                            unsigned n);

/**
 * cper_encode_mem_error:
 * @out: array of bytes the record is appended to
 * @err: the memory error
 * @sequence: record sequence number, stored as raw data
 * @timestamp: UTC seconds since the epoch, or 0 for no timestamp
 *
 * Append a complete Generic Error Status Block with one memory error
 * section (CPER_MEM_RECORD_LEN bytes).
 */
void cper_encode_mem_error(GArray *out, const CperMemError *err,
                           uint64_t sequence, int64_t timestamp);

/**
 * cper_check_estatus:
 * @buf: a Generic Error Status Block
 * @len: its length in bytes
 * @errp: where to report what is wrong
 *
 * Check @buf the way a guest kernel validates a record: header lengths
 * consistent with @len, every data entry inside the data length and the
 * entries exactly filling it, raw data after the entries.
 *
 * Returns: true if @buf is a well-formed record.
 */
bool cper_check_estatus(const uint8_t *buf, size_t len, Error **errp);

#endif
