/*
 * UEFI Common Platform Error Record (CPER) encoding
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bswap.h"
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

/*
 * @len more bytes at the end of @out, zeroed, for a record's fields to be
 * stored at their offsets: one allocation, not one append per byte, as a
 * record is written on the way from the signal to the guest
 */
static uint8_t *cper_extend(GArray *out, size_t len)
{
    unsigned at = out->len;

    g_array_set_size(out, at + len);
    memset(out->data + at, 0, len);
    return (uint8_t *)out->data + at;
}

/* UEFI 2.10 N.2.1.1: Timestamp, BCD fields, UTC; 0 when unknown */
static void cper_put_timestamp(uint8_t *p, int64_t seconds)
{
    struct tm tm;
    time_t t = seconds;

    if (!seconds || !gmtime_r(&t, &tm)) {
        return;
    }
    p[0] = bcd(tm.tm_sec);
    p[1] = bcd(tm.tm_min);
    p[2] = bcd(tm.tm_hour);
    /* p[3]: Flags, 0 (not precise) */
    p[4] = bcd(tm.tm_mday);
    p[5] = bcd(tm.tm_mon + 1);
    p[6] = bcd((tm.tm_year + 1900) % 100);
    p[7] = bcd((tm.tm_year + 1900) / 100);
}

/* ACPI 6.5 Table 18.11: Generic Error Status Block header */
static void cper_put_estatus(uint8_t *p, uint32_t entries,
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
    stl_le_p(p, status);                        /* Block Status */
    stl_le_p(p + 4, raw_offset);                /* Raw Data Offset */
    stl_le_p(p + 8, raw_len);                   /* Raw Data Length */
    stl_le_p(p + 12, data_len);                 /* Data Length */
    stl_le_p(p + 16, sev);                      /* Error Severity */
}

/* ACPI 6.5 Table 18.12: Generic Error Data Entry, revision 0x300 */
static void cper_put_gdata(uint8_t *p, const QemuUUID *section_type,
                           CperSev sev, uint8_t flags, uint32_t section_len,
                           int64_t timestamp)
{
    memcpy(p, section_type->data, 16);          /* Section Type */
    stl_le_p(p + 16, sev);                      /* Error Severity */
    stw_le_p(p + 20, CPER_GDATA_REVISION);      /* Revision */
    p[22] = timestamp ? CPER_GDATA_VALID_TIMESTAMP : 0; /* Validation Bits */
    p[23] = CPER_GDATA_FLAG_PRIMARY | flags;    /* Flags */
    stl_le_p(p + 24, section_len);              /* Error Data Length */
    /* FRU Id (16 bytes at 28) and FRU Text (20 at 44): none */
    cper_put_timestamp(p + 64, timestamp);      /* Timestamp */
}

/* UEFI 2.10 N.2.5: Memory Error Section; fields not stored are 0 */
static void cper_put_mem_section(uint8_t *p, const CperMemError *err)
{
    uint64_t valid = CPER_MEM_VALID_PA | CPER_MEM_VALID_ERROR_TYPE;

    /* A single 4 KiB page needs no mask; a larger loss states its extent */
    if (err->size > 4096) {
        valid |= CPER_MEM_VALID_PA_MASK;
        stq_le_p(p + 24, ~(err->size - 1));     /* Physical Addr Mask */
    }
    stq_le_p(p, valid);                         /* Validation Bits */
    stq_le_p(p + 16, err->physical_address);    /* Physical Address */
    p[72] = err->type;                          /* Memory Error Type */
}

void cper_encode_mem_error(GArray *out, const CperMemError *err,
                           uint64_t sequence, int64_t timestamp)
{
    const uint32_t data_len = CPER_GDATA_LEN + CPER_MEM_LEN;
    uint8_t *p = cper_extend(out, CPER_MEM_RECORD_LEN);
    uint8_t *gdata = p + CPER_ESTATUS_HEADER_LEN;

    cper_put_estatus(p, 1, CPER_ESTATUS_HEADER_LEN + data_len, 8, data_len,
                     err->severity);
    cper_put_gdata(gdata, &cper_sec_mem_err_guid, err->severity,
                   err->threshold_exceeded ? CPER_GDATA_FLAG_THRESHOLD : 0,
                   CPER_MEM_LEN, timestamp);
    cper_put_mem_section(gdata + CPER_GDATA_LEN, err);
    stq_le_p(gdata + data_len, sequence);       /* Raw Data */
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
    uint8_t *p, *entry;
    unsigned i;

    assert(n);
    p = cper_extend(out, CPER_MEM_MERGED_LEN(n));
    cper_put_estatus(p, n, CPER_ESTATUS_HEADER_LEN + data_len, 8,
                     data_len, ldl_le_p(records[0] + 16));
    entry = p + CPER_ESTATUS_HEADER_LEN;
    for (i = 0; i < n; i++, entry += entry_len) {
        assert(cper_mem_records_mergeable(records[0], records[i]));
        memcpy(entry, records[i] + CPER_ESTATUS_HEADER_LEN, entry_len);
        if (i) {
            /* One primary section: the first error */
            entry[23] &= ~CPER_GDATA_FLAG_PRIMARY;
        }
    }
    /* Raw data: the first record's sequence number */
    memcpy(entry, records[0] + CPER_ESTATUS_HEADER_LEN + entry_len, 8);
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
