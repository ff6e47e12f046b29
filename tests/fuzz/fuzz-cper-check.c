/*
 * libFuzzer target: cper_check_estatus() on raw bytes, as
 * inject-ghes-v2-error hands them over after base64
 *
 * Besides memory safety (ASan, UBSan), checks that every record the
 * validator accepts is one a Linux guest accepts and reads whole from
 * what QEMU wrote: the checks of ghes_read_estatus() and
 * cper_estatus_check() (Linux 6.1 to 6.12), in their own 32-bit
 * arithmetic, are re-done here independently.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bswap.h"
#include "hw/acpi/cper.h"
#include "hw/acpi/hest.h"
#include "fuzz-target.h"

/* Linux's struct acpi_hest_generic_data and its revision 0x300 */
#define LINUX_GDATA_LEN     64
#define LINUX_GDATA_V300_LEN 72

static uint32_t linux_gdata_size(const uint8_t *g)
{
    return (lduw_le_p(g + 20) >> 8) >= 3 ? LINUX_GDATA_V300_LEN
                                         : LINUX_GDATA_LEN;
}

/*
 * What Linux's ghes_read_estatus() makes of @buf read from a block of
 * @block_len bytes: 0 if it hands the record on, -1 if it drops it.
 * *@read_len gets how many bytes it reads (cper_estatus_len()).
 */
static int linux_read_estatus(const uint8_t *buf, uint32_t block_len,
                              uint32_t *read_len)
{
    uint32_t block_status = ldl_le_p(buf);
    uint32_t raw_offset = ldl_le_p(buf + 4);
    uint32_t raw_len = ldl_le_p(buf + 8);
    uint32_t data_len = ldl_le_p(buf + 12);
    uint32_t len, left, off;

    if (!block_status) {
        return -1;                          /* -ENOENT: nothing there */
    }
    /* cper_estatus_len(), u32 */
    len = raw_len ? raw_offset + raw_len : 20 + data_len;
    *read_len = len;
    if (len < 20 || len > block_len) {
        return -1;
    }
    /* cper_estatus_check_header() */
    if (data_len && data_len < LINUX_GDATA_LEN) {
        return -1;
    }
    if (raw_len && raw_offset < 20 + data_len) {
        return -1;
    }
    /* cper_estatus_check(): apei_estatus_for_each_section() */
    left = data_len;
    for (off = 0; off < data_len;) {
        const uint8_t *g = buf + 20 + off;
        uint32_t size, record;

        /* The kernel read the block whole: off stays inside it */
        if (20 + (uint64_t)off + LINUX_GDATA_V300_LEN > block_len) {
            return -1;
        }
        size = linux_gdata_size(g);
        if (size > left) {
            return -1;
        }
        record = size + ldl_le_p(g + 24);   /* u32, may wrap */
        if (record > left) {
            return -1;
        }
        left -= record;
        off += record;
        if (!record) {
            return -1;                      /* would loop for ever */
        }
    }
    return left ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* What the guest finds in its block: the record, then zeroes */
    static uint8_t block[HEST_GHES_BLOCK_LEN];
    Error *err = NULL;
    uint32_t read_len = 0;
    bool ok;

    /* An exact copy, so that ASan sees any read past the record */
    uint8_t *buf = g_memdup2(data, size);

    ok = cper_check_estatus(buf, size, &err);
    if (!ok) {
        /* A refusal always says why */
        assert(err && *error_get_pretty(err));
        error_free(err);
        g_free(buf);
        return 0;
    }
    assert(!err);
    assert(size >= CPER_ESTATUS_HEADER_LEN);
    if (size <= HEST_GHES_BLOCK_LEN) {
        /* QMP refuses longer ones before the check */
        memset(block, 0, sizeof(block));
        memcpy(block, buf, size);
        if (linux_read_estatus(block, HEST_GHES_BLOCK_LEN, &read_len)) {
            fprintf(stderr, "accepted a record Linux drops\n");
            abort();
        }
        if (read_len > size) {
            fprintf(stderr, "Linux reads %u bytes of a %zu-byte record\n",
                    read_len, size);
            abort();
        }
    }
    g_free(buf);
    return 0;
}
