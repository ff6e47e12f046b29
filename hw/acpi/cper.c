/*
 * UEFI Common Platform Error Record (CPER) encoding
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bswap.h"
#include "hw/acpi/aml-build.h"
#include "hw/acpi/cper.h"

/* UEFI 2.10 N.2.5: Platform Memory Error Section */
const QemuUUID cper_sec_mem_err_guid = {
    .data = UUID_LE(0xA5BC1114, 0x6F64, 0x4EDE, 0xB8, 0x63, 0x3E, 0x83,
                    0xED, 0x7C, 0x83, 0xB1)
};

static uint8_t bcd(unsigned v)
{
    return ((v / 10) << 4) | (v % 10);
}

/* UEFI 2.10 N.2.1.1: Timestamp, BCD fields, UTC */
static void cper_append_timestamp(GArray *out, int64_t seconds)
{
    struct tm tm;
    time_t t = seconds;

    if (!seconds || !gmtime_r(&t, &tm)) {
        build_append_int_noprefix(out, 0, 8);
        return;
    }
    build_append_int_noprefix(out, bcd(tm.tm_sec), 1);         /* Seconds */
    build_append_int_noprefix(out, bcd(tm.tm_min), 1);         /* Minutes */
    build_append_int_noprefix(out, bcd(tm.tm_hour), 1);        /* Hours */
    build_append_int_noprefix(out, 0, 1);                      /* Flags */
    build_append_int_noprefix(out, bcd(tm.tm_mday), 1);        /* Day */
    build_append_int_noprefix(out, bcd(tm.tm_mon + 1), 1);     /* Month */
    build_append_int_noprefix(out, bcd((tm.tm_year + 1900) % 100), 1);
    build_append_int_noprefix(out, bcd((tm.tm_year + 1900) / 100), 1);
}

/* ACPI 6.5 Table 18.11: Generic Error Status Block header */
static void cper_append_estatus(GArray *out, uint32_t entries,
                                uint32_t raw_offset, uint32_t raw_len,
                                uint32_t data_len, CperSev sev)
{
    uint32_t status = entries << CPER_ESTATUS_ENTRY_COUNT_SHIFT;

    status |= sev == CPER_SEV_CORRECTED ? CPER_ESTATUS_CORRECTABLE
                                        : CPER_ESTATUS_UNCORRECTABLE;
    if (entries > 1) {
        status |= sev == CPER_SEV_CORRECTED ? CPER_ESTATUS_MULTI_CORRECTABLE
                                            : CPER_ESTATUS_MULTI_UNCORRECTABLE;
    }
    build_append_int_noprefix(out, status, 4);          /* Block Status */
    build_append_int_noprefix(out, raw_offset, 4);      /* Raw Data Offset */
    build_append_int_noprefix(out, raw_len, 4);         /* Raw Data Length */
    build_append_int_noprefix(out, data_len, 4);        /* Data Length */
    build_append_int_noprefix(out, sev, 4);             /* Error Severity */
}

/* ACPI 6.5 Table 18.12: Generic Error Data Entry, revision 0x300 */
static void cper_append_gdata(GArray *out, const QemuUUID *section_type,
                              CperSev sev, uint32_t section_len,
                              int64_t timestamp)
{
    g_array_append_vals(out, section_type->data, 16);   /* Section Type */
    build_append_int_noprefix(out, sev, 4);             /* Error Severity */
    build_append_int_noprefix(out, CPER_GDATA_REVISION, 2); /* Revision */
    build_append_int_noprefix(out,                      /* Validation Bits */
                              timestamp ? CPER_GDATA_VALID_TIMESTAMP : 0, 1);
    build_append_int_noprefix(out, CPER_GDATA_FLAG_PRIMARY, 1); /* Flags */
    build_append_int_noprefix(out, section_len, 4);     /* Error Data Length */
    build_append_int_noprefix(out, 0, 16);              /* FRU Id */
    build_append_int_noprefix(out, 0, 20);              /* FRU Text */
    cper_append_timestamp(out, timestamp);              /* Timestamp */
}

/* UEFI 2.10 N.2.5: Memory Error Section */
static void cper_append_mem_section(GArray *out, const CperMemError *err)
{
    uint64_t valid = CPER_MEM_VALID_PA | CPER_MEM_VALID_ERROR_TYPE;
    uint64_t mask = 0;

    /* A single 4 KiB page needs no mask; a larger loss states its extent */
    if (err->size > 4096) {
        valid |= CPER_MEM_VALID_PA_MASK;
        mask = ~(err->size - 1);
    }
    build_append_int_noprefix(out, valid, 8);           /* Validation Bits */
    build_append_int_noprefix(out, 0, 8);               /* Error Status */
    build_append_int_noprefix(out, err->physical_address, 8);
    build_append_int_noprefix(out, mask, 8);            /* Physical Addr Mask */
    build_append_int_noprefix(out, 0, 2);               /* Node */
    build_append_int_noprefix(out, 0, 2);               /* Card */
    build_append_int_noprefix(out, 0, 2);               /* Module */
    build_append_int_noprefix(out, 0, 2);               /* Bank */
    build_append_int_noprefix(out, 0, 2);               /* Device */
    build_append_int_noprefix(out, 0, 2);               /* Row */
    build_append_int_noprefix(out, 0, 2);               /* Column */
    build_append_int_noprefix(out, 0, 2);               /* Bit Position */
    build_append_int_noprefix(out, 0, 8);               /* Requestor ID */
    build_append_int_noprefix(out, 0, 8);               /* Responder ID */
    build_append_int_noprefix(out, 0, 8);               /* Target ID */
    build_append_int_noprefix(out, err->type, 1);       /* Memory Error Type */
    build_append_int_noprefix(out, 0, 1);               /* Extended */
    build_append_int_noprefix(out, 0, 2);               /* Rank Number */
    build_append_int_noprefix(out, 0, 2);               /* Card Handle */
    build_append_int_noprefix(out, 0, 2);               /* Module Handle */
}

void cper_encode_mem_error(GArray *out, const CperMemError *err,
                           uint64_t sequence, int64_t timestamp)
{
    const uint32_t data_len = CPER_GDATA_LEN + CPER_MEM_LEN;
    unsigned start = out->len;

    cper_append_estatus(out, 1, CPER_ESTATUS_HEADER_LEN + data_len, 8,
                        data_len, err->severity);
    cper_append_gdata(out, &cper_sec_mem_err_guid, err->severity,
                      CPER_MEM_LEN, timestamp);
    cper_append_mem_section(out, err);
    build_append_int_noprefix(out, sequence, 8);        /* Raw Data */
    assert(out->len - start == CPER_MEM_RECORD_LEN);
}

bool cper_mem_records_mergeable(const uint8_t *a, const uint8_t *b)
{
    /* Error Severity of the block; each section has the block's */
    return ldl_le_p(a + 16) == ldl_le_p(b + 16);
}

void cper_merge_mem_records(GArray *out, const uint8_t *const *records,
                            unsigned n)
{
    const uint32_t entry_len = CPER_GDATA_LEN + CPER_MEM_LEN;
    const uint32_t data_len = n * entry_len;
    unsigned start = out->len, i;

    assert(n);
    cper_append_estatus(out, n, CPER_ESTATUS_HEADER_LEN + data_len, 8,
                        data_len, ldl_le_p(records[0] + 16));
    for (i = 0; i < n; i++) {
        unsigned at = out->len;

        assert(cper_mem_records_mergeable(records[0], records[i]));
        g_array_append_vals(out, records[i] + CPER_ESTATUS_HEADER_LEN,
                            entry_len);
        if (i) {
            /* One primary section: the first error */
            out->data[at + 23] &= ~CPER_GDATA_FLAG_PRIMARY;
        }
    }
    /* Raw data: the first record's sequence number */
    g_array_append_vals(out, records[0] + CPER_ESTATUS_HEADER_LEN + entry_len,
                        8);
    assert(out->len - start == CPER_MEM_MERGED_LEN(n));
}

bool cper_check_estatus(const uint8_t *buf, size_t len, Error **errp)
{
    uint32_t raw_offset, raw_len, data_len, left;
    const uint8_t *entry;

    if (len < CPER_ESTATUS_HEADER_LEN) {
        error_setg(errp, "CPER record of %zu bytes is shorter than the "
                   "%d-byte Generic Error Status Block header",
                   len, CPER_ESTATUS_HEADER_LEN);
        return false;
    }
    raw_offset = ldl_le_p(buf + 4);
    raw_len = ldl_le_p(buf + 8);
    data_len = ldl_le_p(buf + 12);
    if (!ldl_le_p(buf)) {
        error_setg(errp, "CPER record has Block Status 0 (no error)");
        return false;
    }
    if ((uint64_t)CPER_ESTATUS_HEADER_LEN + data_len > len) {
        error_setg(errp, "CPER Data Length %" PRIu32 " exceeds the %zu-byte "
                   "record", data_len, len);
        return false;
    }
    if (raw_len && (raw_offset < CPER_ESTATUS_HEADER_LEN + data_len ||
                    (uint64_t)raw_offset + raw_len > len)) {
        error_setg(errp, "CPER raw data (offset %" PRIu32 ", length %"
                   PRIu32 ") overlaps the entries or exceeds the record",
                   raw_offset, raw_len);
        return false;
    }
    entry = buf + CPER_ESTATUS_HEADER_LEN;
    left = data_len;
    if (!left) {
        error_setg(errp, "CPER record has no Generic Error Data Entry");
        return false;
    }
    while (left) {
        uint32_t hdr_len, sec_len;

        if (left < 64) {
            error_setg(errp, "CPER data entry header truncated (%" PRIu32
                       " bytes left)", left);
            return false;
        }
        hdr_len = (lduw_le_p(entry + 20) >> 8) >= 3 ? CPER_GDATA_LEN : 64;
        if (left < hdr_len) {
            error_setg(errp, "CPER data entry header truncated (%" PRIu32
                       " bytes left)", left);
            return false;
        }
        sec_len = ldl_le_p(entry + 24);
        if (sec_len > left - hdr_len) {
            error_setg(errp, "CPER section of %" PRIu32 " bytes exceeds the "
                       "Data Length", sec_len);
            return false;
        }
        left -= hdr_len + sec_len;
        entry += hdr_len + sec_len;
    }
    return true;
}
