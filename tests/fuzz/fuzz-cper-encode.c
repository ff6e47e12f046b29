/*
 * libFuzzer target: cper_encode_mem_error() on any memory error, sequence
 * number and timestamp; the record must have the advertised length, pass
 * cper_check_estatus() and carry back what was encoded.
 *
 * Input: physical address (8 bytes), log2 of the size (1), severity (1),
 * error type (1), sequence (8), timestamp (8), threshold exceeded (1, bit
 * 0), little-endian; short input is zero-padded.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bswap.h"
#include "hw/acpi/cper.h"
#include "fuzz-target.h"

#define INPUT_LEN   28
/* 9999-12-31T23:59:59Z: later years have no two-digit BCD century */
#define LAST_SECOND_OF_9999 253402300799ll

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t in[INPUT_LEN] = { 0 };
    g_autoptr(GArray) out = g_array_new(false, true, 1);
    const uint8_t *r, *sec;
    CperMemError err = { 0 };
    uint64_t seq, mask;
    int64_t ts;
    Error *local_err = NULL;
    unsigned prefix;

    memcpy(in, data, MIN(size, sizeof(in)));
    err.physical_address = ldq_le_p(in);
    /* As the QMP command takes it: a power of two of at least 4 KiB */
    err.size = 1ull << (12 + in[8] % 52);
    err.physical_address &= ~(err.size - 1);
    err.severity = in[9] % 4;
    err.type = in[10] % 16;
    seq = ldq_le_p(in + 11);
    ts = (int64_t)ldq_le_p(in + 19);
    err.threshold_exceeded = in[27] & 1;

    /* Something before it, as in a bigger buffer */
    prefix = in[0] % 8;
    g_array_set_size(out, prefix);
    cper_encode_mem_error(out, &err, seq, ts);
    assert(out->len == prefix + CPER_MEM_RECORD_LEN);
    r = (const uint8_t *)out->data + prefix;

    if (!cper_check_estatus(r, CPER_MEM_RECORD_LEN, &local_err)) {
        fprintf(stderr, "encoded record refused: %s\n",
                error_get_pretty(local_err));
        abort();
    }
    /* Block status: one entry, (un)correctable as the severity says */
    assert((ldl_le_p(r) >> CPER_ESTATUS_ENTRY_COUNT_SHIFT &
            CPER_ESTATUS_ENTRY_COUNT_MASK) == 1);
    assert(!!(ldl_le_p(r) & CPER_ESTATUS_CORRECTABLE) ==
           (err.severity == CPER_SEV_CORRECTED));
    assert(ldl_le_p(r + 16) == err.severity);
    /* The data entry: memory error section type, its severity */
    assert(!memcmp(r + 20, cper_sec_mem_err_guid.data, 16));
    assert(ldl_le_p(r + 20 + 16) == err.severity);
    assert(lduw_le_p(r + 20 + 20) == CPER_GDATA_REVISION);
    assert(r[20 + 23] == (CPER_GDATA_FLAG_PRIMARY |
                          (err.threshold_exceeded ? CPER_GDATA_FLAG_THRESHOLD
                                                  : 0)));
    assert(ldl_le_p(r + 20 + 24) == CPER_MEM_LEN);
    assert(!!(r[20 + 22] & CPER_GDATA_VALID_TIMESTAMP) == !!ts);
    if (ts > 0 && ts <= LAST_SECOND_OF_9999) {
        /* UEFI N.2.1.1: BCD, the flags byte (precise) excepted */
        const uint8_t *t = r + 20 + 64;
        int i;

        for (i = 0; i < 8; i++) {
            assert(i == 3 || ((t[i] >> 4) <= 9 && (t[i] & 15) <= 9));
        }
        assert(t[5] >= 1 && t[5] <= 0x12 && t[4] >= 1 && t[4] <= 0x31);
    }
    /* The section: address, mask covering the size, type */
    sec = r + 20 + CPER_GDATA_LEN;
    assert(ldq_le_p(sec + 16) == err.physical_address);
    mask = ldq_le_p(sec + 24);
    if (err.size > 4096) {
        assert(ldq_le_p(sec) & CPER_MEM_VALID_PA_MASK);
        assert(mask == ~(err.size - 1));
    } else {
        assert(!(ldq_le_p(sec) & CPER_MEM_VALID_PA_MASK) && !mask);
    }
    assert(sec[72] == err.type);
    /* The raw data: the sequence number */
    assert(ldq_le_p(sec + CPER_MEM_LEN) == seq);
    return 0;
}
