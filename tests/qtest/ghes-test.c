/*
 * QTest of the GHESv2 error sources of arm virt (ras=on)
 *
 * The test plays the firmware's part: it runs the linker/loader script
 * from fw_cfg against guest memory, then checks HEST and the hardware
 * errors blob against ACPI 6.5 18.3.2.8, injects errors through QMP and
 * decodes the CPER records against UEFI 2.10 appendix N.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/base64.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "ras-firmware.h"

#define GED_BASE            0x09080000ull
#define GED_ERROR_EVT       0x20
#define RAM_BASE            RAS_VIRT_RAM_BASE
#define ERROR_PAGE          (RAM_BASE + 0x10000000ull)
#define GHES_V2_LEN         92

static QTestState *start(RasFw *fw, const char *extra)
{
    QTestState *qts = ras_virt_start("1G", extra);

    ras_fw_init(fw, qts);
    return qts;
}

static void check_gas(QTestState *qts, uint64_t gas, uint64_t addr)
{
    g_assert_cmpint(qtest_readb(qts, gas), ==, 0);      /* SystemMemory */
    g_assert_cmpint(qtest_readb(qts, gas + 1), ==, 64); /* bit width */
    g_assert_cmpint(qtest_readb(qts, gas + 2), ==, 0);  /* bit offset */
    g_assert_cmpint(qtest_readb(qts, gas + 3), ==, 4);  /* QWord access */
    g_assert_cmphex(qtest_readq(qts, gas + 4), ==, addr);
}

static void test_hest(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, NULL);
    uint32_t len = 0;
    uint64_t hest, base;
    g_autofree uint8_t *raw = NULL;
    uint8_t sum = 0;
    QDict *rsp, *ret;
    QList *sources;
    g_autofree char *iasl = g_find_program_in_path("iasl");
    int i;

    ras_fw_run_loader(&fw);
    hest = ras_fw_find_table(&fw, "HEST", &len);
    g_assert(hest);
    base = ras_ghes_blob(&fw);

    /* Header: length, revision, checksum over the patched table */
    g_assert_cmpint(len, ==, 36 + 4 + GHES_V2_LEN * RAS_GHES_SOURCES);
    g_assert_cmpint(qtest_readb(qts, hest + 8), ==, 1);
    raw = g_malloc(len);
    qtest_memread(qts, hest, raw, len);
    for (i = 0; i < len; i++) {
        sum += raw[i];
    }
    g_assert_cmpint(sum, ==, 0);
    g_assert_cmpint(ldl_le_p(raw + 36), ==, RAS_GHES_SOURCES);

    for (i = 0; i < RAS_GHES_SOURCES; i++) {
        uint64_t e = hest + 40 + GHES_V2_LEN * i;

        g_assert_cmpint(qtest_readw(qts, e), ==, 10);          /* GHESv2 */
        g_assert_cmpint(qtest_readw(qts, e + 2), ==, i);       /* Source Id */
        g_assert_cmphex(qtest_readw(qts, e + 4), ==, 0xffff);  /* Related */
        g_assert_cmpint(qtest_readb(qts, e + 6), ==, 0);       /* Flags */
        g_assert_cmpint(qtest_readb(qts, e + 7), ==, 1);       /* Enabled */
        g_assert_cmpint(qtest_readl(qts, e + 8), ==, 1);       /* Records */
        /* Sections: several memory errors in a record of source 0 */
        g_assert_cmpint(qtest_readl(qts, e + 12), ==,
                        i ? 1 : RAS_GHES_ASYNC_WINDOW);
        g_assert_cmpint(qtest_readl(qts, e + 16), ==,
                        i ? RAS_GHES_BLOCK_LEN : RAS_GHES_ASYNC_BLOCK_LEN);
        check_gas(qts, e + 20, base + 8 * i);
        /* Notification Structure: GPIO for source 0, SEA for the rest */
        g_assert_cmpint(qtest_readb(qts, e + 32), ==, i == 0 ? 7 : 8);
        g_assert_cmpint(qtest_readb(qts, e + 33), ==, 28);
        g_assert_cmpint(qtest_readl(qts, e + 60), ==,
                        i ? RAS_GHES_BLOCK_LEN : RAS_GHES_ASYNC_BLOCK_LEN);
        check_gas(qts, e + 64, base + 8 * (RAS_GHES_SOURCES + i));
        g_assert_cmphex(qtest_readq(qts, e + 76), ==, ~1ull);  /* Preserve */
        g_assert_cmphex(qtest_readq(qts, e + 84), ==, 1);      /* Write */

        /*
         * The blob: address registers as firmware patched them (it reads
         * them back), blocks free and empty
         */
        g_assert_cmphex(qtest_readq(qts, base + 8 * i), ==,
                        ras_ghes_block(&fw, i));
        g_assert_cmphex(qtest_readq(qts, ras_ghes_ack_reg(&fw, i)), ==, 1);
        g_assert_cmphex(qtest_readl(qts, ras_ghes_block(&fw, i)), ==, 0);
    }

    /* QEMU saw where the firmware put the blob */
    rsp = qtest_qmp(qts, "{ 'execute': 'query-ghes' }");
    ret = qdict_get_qdict(rsp, "return");
    g_assert(ret);
    g_assert_cmphex(qdict_get_int(ret, "blob-address"), ==, base);
    sources = qdict_get_qlist(ret, "sources");
    g_assert_cmpint(qlist_size(sources), ==, RAS_GHES_SOURCES);
    for (i = 0; i < RAS_GHES_SOURCES; i++) {
        QDict *s = qobject_to(QDict, qlist_pop(sources));

        g_assert_cmpint(qdict_get_int(s, "source-id"), ==, i);
        g_assert_cmpstr(qdict_get_str(s, "notification"), ==,
                        i ? "sea" : "gpio");
        g_assert_cmphex(qdict_get_int(s, "block-address"), ==,
                        ras_ghes_block(&fw, i));
        g_assert(qdict_get_bool(s, "acknowledged"));
        if (i) {
            g_assert_cmpint(qdict_get_int(s, "cpu-index"), ==, i - 1);
        } else {
            g_assert(!qdict_haskey(s, "cpu-index"));
        }
        qobject_unref(s);
    }
    qobject_unref(rsp);

    /* iasl disassembles the table without complaint */
    if (iasl) {
        g_autofree char *dir = g_dir_make_tmp("ghes-test-XXXXXX", NULL);
        g_autofree char *path = g_build_filename(dir, "hest.dat", NULL);
        g_autofree char *dsl = g_build_filename(dir, "hest.dsl", NULL);
        g_autofree char *out = NULL, *err = NULL, *text = NULL;
        const char *argv[] = { "iasl", "-d", path, NULL };
        int status;

        g_assert(g_file_set_contents(path, (char *)raw, len, NULL));
        g_assert(g_spawn_sync(dir, (char **)argv, NULL,
                              G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                              &status, NULL));
        g_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        g_assert(!strstr(out, "Error") && !strstr(err, "Error"));
        g_assert(g_file_get_contents(dsl, &text, NULL, NULL));
        g_assert(strstr(text, "Hardware Error Source Table"));
        g_assert(strstr(text, "Generic Hardware Error Source V2"));
        g_assert(!strstr(text, "**** Unknown"));
        unlink(dsl);
        unlink(path);
        rmdir(dir);
    } else {
        g_test_message("iasl not found: HEST disassembly not checked");
    }
    qtest_quit(qts);
}

/* Decode the record in block @i and check every field */
static void check_mem_record_flags(RasFw *fw, int i, uint64_t pa,
                                   uint64_t size, uint32_t sev, uint8_t type,
                                   uint64_t seq, uint8_t flags)
{
    uint8_t r[RAS_GHES_RECORD_LEN], zero[36] = { 0 };
    const uint8_t *g = r + 20, *m = r + 92, *ts = g + 64;
    uint64_t valid;
    int k;

    qtest_memread(fw->qts, ras_ghes_block(fw, i), r, sizeof(r));
    /* Generic Error Status Block */
    g_assert_cmphex(ldl_le_p(r), ==,
                    (sev == 2 ? 2 : 1) | (1 << 4));   /* one entry */
    g_assert_cmpint(ldl_le_p(r + 4), ==, 20 + 72 + 80);  /* raw offset */
    g_assert_cmpint(ldl_le_p(r + 8), ==, 8);             /* raw length */
    g_assert_cmpint(ldl_le_p(r + 12), ==, 72 + 80);      /* data length */
    g_assert_cmpint(ldl_le_p(r + 16), ==, sev);
    /* Generic Error Data Entry, revision 0x300 */
    g_assert(!memcmp(g, ras_cper_mem_err_guid, 16));
    g_assert_cmpint(ldl_le_p(g + 16), ==, sev);
    g_assert_cmphex(lduw_le_p(g + 20), ==, 0x300);
    g_assert_cmphex(g[22], ==, 0x4);                     /* timestamp */
    g_assert_cmphex(g[23], ==, flags);                   /* primary... */
    g_assert_cmpint(ldl_le_p(g + 24), ==, 80);
    g_assert(!memcmp(g + 28, zero, 36));                 /* FRU id, text */
    for (k = 0; k < 8; k++) {                            /* BCD digits */
        if (k != 3) {
            g_assert_cmpint(ts[k] & 0xf, <=, 9);
            g_assert_cmpint(ts[k] >> 4, <=, 9);
        }
    }
    g_assert_cmpint(ts[7], ==, 0x20);                    /* century */
    /* Memory Error Section */
    valid = ldq_le_p(m);
    g_assert_cmphex(valid, ==, (1 << 1) | (1 << 14) |
                    (size > 4096 ? 1 << 2 : 0));
    g_assert_cmphex(ldq_le_p(m + 16), ==, pa);
    g_assert_cmphex(ldq_le_p(m + 24), ==, size > 4096 ? ~(size - 1) : 0);
    g_assert_cmpint(m[72], ==, type);
    /* Raw data: the record sequence number */
    g_assert_cmpint(ldq_le_p(r + RAS_GHES_RECORD_SEQ), ==, seq);
}

static void check_mem_record(RasFw *fw, int i, uint64_t pa, uint64_t size,
                             uint32_t sev, uint8_t type, uint64_t seq)
{
    check_mem_record_flags(fw, i, pa, size, sev, type, seq, 0x1);
}

static void test_inject_and_ack(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, NULL);
    uint8_t before[RAS_GHES_RECORD_LEN], after[RAS_GHES_RECORD_LEN];
    QDict *s;

    ras_fw_run_loader(&fw);
    qtest_readl(qts, GED_BASE);     /* clear the GED event selector */

    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 " } }",
                             (uint64_t)ERROR_PAGE);
    check_mem_record(&fw, 0, ERROR_PAGE, 4096, 0, 3, 1);
    /* the block is claimed, the guest notified through the GED */
    g_assert_cmphex(qtest_readq(qts, ras_ghes_ack_reg(&fw, 0)), ==, 0);
    /* the guest finds the record where the address register points */
    g_assert_cmphex(qtest_readq(qts, ras_ghes_address_reg(&fw, 0)), ==,
                    ras_ghes_block(&fw, 0));
    g_assert_cmphex(qtest_readl(qts, GED_BASE) & GED_ERROR_EVT, ==,
                    GED_ERROR_EVT);

    /* Not acknowledged: the next record waits, the block is untouched */
    qtest_memread(qts, ras_ghes_block(&fw, 0), before, sizeof(before));
    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 " } }",
                             (uint64_t)ERROR_PAGE + 4096);
    qtest_memread(qts, ras_ghes_block(&fw, 0), after, sizeof(after));
    g_assert(!memcmp(before, after, sizeof(before)));
    s = ras_ghes_source(qts, 0);
    g_assert_cmpint(qdict_get_int(s, "records"), ==, 1);
    g_assert_cmpint(qdict_get_int(s, "busy"), ==, 0);
    g_assert_cmpint(qdict_get_int(s, "queued"), ==, 1);
    g_assert(!qdict_get_bool(s, "acknowledged"));
    qobject_unref(s);

    /* The acknowledgement brings it in at once, notified again */
    qtest_readl(qts, GED_BASE);
    ras_ghes_ack(&fw, 0);
    check_mem_record(&fw, 0, ERROR_PAGE + 4096, 4096, 0, 3, 2);
    g_assert_cmphex(qtest_readq(qts, ras_ghes_ack_reg(&fw, 0)), ==, 0);
    g_assert_cmphex(qtest_readl(qts, GED_BASE) & GED_ERROR_EVT, ==,
                    GED_ERROR_EVT);
    s = ras_ghes_source(qts, 0);
    g_assert_cmpint(qdict_get_int(s, "records"), ==, 2);
    g_assert_cmpint(qdict_get_int(s, "queued"), ==, 0);
    qobject_unref(s);

    /* Acknowledged: the next record goes in, a 2 MiB one with a mask */
    ras_ghes_ack(&fw, 0);
    s = ras_ghes_source(qts, 0);
    g_assert(qdict_get_bool(s, "acknowledged"));
    qobject_unref(s);
    /* no SEA yet: a free block's address register keeps its address */
    g_assert_cmphex(qtest_readq(qts, ras_ghes_address_reg(&fw, 0)), ==,
                    ras_ghes_block(&fw, 0));
    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 ", "
                             "'size': 2097152, 'severity': 'corrected', "
                             "'error-type': 'scrub-uncorrected' } }",
                             (uint64_t)ERROR_PAGE);
    check_mem_record(&fw, 0, ERROR_PAGE, 2 * 1024 * 1024, 2, 14, 3);
    /* the ack register keeps the bits the guest must preserve */
    ras_ghes_ack(&fw, 0);
    qtest_writeq(qts, ras_ghes_ack_reg(&fw, 0), 0xf0f0000000000001ull);
    qtest_clock_step(qts, RAS_FW_ASYNC_MAX_WAIT_NS);
    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 " } }",
                             (uint64_t)ERROR_PAGE);
    g_assert_cmphex(qtest_readq(qts, ras_ghes_ack_reg(&fw, 0)), ==,
                    0xf0f0000000000000ull);
    check_mem_record(&fw, 0, ERROR_PAGE, 4096, 0, 3, 4);
    /* the SEA sources were not touched */
    g_assert_cmphex(qtest_readl(qts, ras_ghes_block(&fw, 1)), ==, 0);
    g_assert_cmphex(qtest_readq(qts, ras_ghes_ack_reg(&fw, 1)), ==, 1);

    /* Action required: the SEA source of the vCPU that consumed it */
    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 ", "
                             "'action-required': true, 'cpu-index': 1 } }",
                             (uint64_t)ERROR_PAGE + 8192);
    check_mem_record(&fw, 2, ERROR_PAGE + 8192, 4096, 0, 3, 5);
    g_assert_cmphex(qtest_readq(qts, ras_ghes_ack_reg(&fw, 2)), ==, 0);
    g_assert_cmphex(qtest_readl(qts, ras_ghes_block(&fw, 1)), ==, 0);
    /*
     * An SEA makes the guest scan every SEA source: from the first one on,
     * only sources with a record have an address (Linux skips the rest
     * without mapping their blocks), read whole or in parts
     */
    g_assert_cmphex(qtest_readq(qts, ras_ghes_address_reg(&fw, 2)), ==,
                    ras_ghes_block(&fw, 2));
    g_assert_cmphex(qtest_readl(qts, ras_ghes_address_reg(&fw, 2)) |
                    (uint64_t)qtest_readl(qts, ras_ghes_address_reg(&fw, 2) +
                                          4) << 32, ==,
                    ras_ghes_block(&fw, 2));
    g_assert_cmphex(qtest_readq(qts, ras_ghes_address_reg(&fw, 1)), ==, 0);
    g_assert_cmphex(qtest_readl(qts, ras_ghes_address_reg(&fw, 1) + 4), ==,
                    0);
    /* the asynchronous source's record is not acknowledged yet */
    g_assert_cmphex(qtest_readq(qts, ras_ghes_address_reg(&fw, 0)), ==,
                    ras_ghes_block(&fw, 0));
    ras_ghes_ack(&fw, 2);
    g_assert_cmphex(qtest_readq(qts, ras_ghes_address_reg(&fw, 2)), ==, 0);
    ras_ghes_ack(&fw, 0);
    g_assert_cmphex(qtest_readq(qts, ras_ghes_address_reg(&fw, 0)), ==, 0);
    /* what the guest wrote there reads back once a record is in */
    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 " } }",
                             (uint64_t)ERROR_PAGE + 12288);
    g_assert_cmphex(qtest_readq(qts, ras_ghes_address_reg(&fw, 0)), ==,
                    ras_ghes_block(&fw, 0));

    /* A reset: firmware patches and reads the registers again */
    qtest_qmp_assert_success(qts, "{ 'execute': 'system_reset' }");
    qtest_qmp_eventwait(qts, "RESET");
    ras_fw_run_loader(&fw);
    g_assert_cmphex(qtest_readq(qts, ras_ghes_address_reg(&fw, 1)), ==,
                    ras_ghes_block(&fw, 1));
    qtest_quit(qts);
}

/*
 * The memory errors at @pa, @pa + 4 KiB, ... (@n of them) in one record
 * of block @i: every field of the block and its data entries
 */
static void check_merged_record(RasFw *fw, int i, uint64_t pa, int n,
                                uint64_t seq)
{
    const uint32_t entry_len = 72 + 80;
    g_autofree uint8_t *r = g_malloc(20 + n * entry_len + 8);
    int k;

    qtest_memread(fw->qts, ras_ghes_block(fw, i), r, 20 + n * entry_len + 8);
    /* uncorrectable, multiple uncorrectable, @n entries */
    g_assert_cmphex(ldl_le_p(r), ==, 1 | 4 | (n << 4));
    g_assert_cmpint(ldl_le_p(r + 4), ==, 20 + n * entry_len);
    g_assert_cmpint(ldl_le_p(r + 8), ==, 8);
    g_assert_cmpint(ldl_le_p(r + 12), ==, n * entry_len);
    g_assert_cmpint(ldl_le_p(r + 16), ==, 0);
    for (k = 0; k < n; k++) {
        const uint8_t *g = r + 20 + k * entry_len, *m = g + 72;

        g_assert(!memcmp(g, ras_cper_mem_err_guid, 16));
        g_assert_cmpint(ldl_le_p(g + 24), ==, 80);
        g_assert_cmphex(g[23], ==, k ? 0 : 1);          /* primary */
        g_assert_cmphex(ldq_le_p(m), ==, (1 << 1) | (1 << 14));
        g_assert_cmphex(ldq_le_p(m + 16), ==, pa + k * 4096);
        g_assert_cmpint(m[72], ==, 3);
    }
    g_assert_cmpint(ldq_le_p(r + 20 + n * entry_len), ==, seq);
}

/* Inject a typed memory error, take the record and acknowledge it */
static void typed_record(RasFw *fw, uint8_t rec[RAS_GHES_RECORD_LEN])
{
    qtest_qmp_assert_success(fw->qts, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 " } }",
                             (uint64_t)ERROR_PAGE);
    qtest_memread(fw->qts, ras_ghes_block(fw, 0), rec, RAS_GHES_RECORD_LEN);
    ras_ghes_ack(fw, 0);
}

/*
 * Corrected errors past their threshold: the section says so (flag 0x8,
 * "error threshold exceeded"), which makes Linux soft-offline the page;
 * merged into one record, each section keeps it
 */
static void test_corrected_threshold(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, NULL);
    const char *ce = "{ 'execute': 'inject-memory-error', 'arguments': { "
                     "'address': %" PRIu64 ", 'severity': 'corrected', "
                     "'error-type': 'single-bit-ecc', "
                     "'threshold-exceeded': true } }";
    uint8_t r[20 + 2 * 152];
    int k;

    ras_fw_run_loader(&fw);
    qtest_qmp_assert_success(qts, ce, (uint64_t)ERROR_PAGE);
    check_mem_record_flags(&fw, 0, ERROR_PAGE, 4096, 2, 2, 1, 0x9);

    /* Two more wait, and come in one record once that one is taken */
    qtest_qmp_assert_success(qts, ce, (uint64_t)ERROR_PAGE + 4096);
    qtest_qmp_assert_success(qts, ce, (uint64_t)ERROR_PAGE + 8192);
    ras_ghes_ack(&fw, 0);
    qtest_memread(qts, ras_ghes_block(&fw, 0), r, sizeof(r));
    g_assert_cmphex(ldl_le_p(r), ==, 2 | 8 | (2 << 4));  /* corrected, 2 */
    for (k = 0; k < 2; k++) {
        const uint8_t *g = r + 20 + k * 152;

        g_assert_cmpint(ldl_le_p(g + 16), ==, 2);
        g_assert_cmphex(g[23], ==, k ? 0x8 : 0x9);
        g_assert_cmphex(ldq_le_p(g + 72 + 16), ==,
                        ERROR_PAGE + (k + 1) * 4096);
    }

    /* Without the flag, a corrected error is only logged: flag clear */
    ras_ghes_ack(&fw, 0);
    qtest_clock_step(qts, RAS_FW_ASYNC_MAX_WAIT_NS);
    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 ", "
                             "'severity': 'corrected', "
                             "'error-type': 'single-bit-ecc' } }",
                             (uint64_t)ERROR_PAGE);
    check_mem_record_flags(&fw, 0, ERROR_PAGE, 4096, 2, 2, 4, 0x1);

    /* The flag means nothing to Linux elsewhere, and nothing consumed */
    ras_assert_error(qts, "needs severity corrected",
                     "{ 'execute': 'inject-memory-error', 'arguments': { "
                     "'address': %" PRIu64 ", 'threshold-exceeded': true } }",
                     (uint64_t)ERROR_PAGE);
    ras_assert_error(qts, "not action-required",
                     "{ 'execute': 'inject-memory-error', 'arguments': { "
                     "'address': %" PRIu64 ", 'severity': 'corrected', "
                     "'threshold-exceeded': true, "
                     "'action-required': true } }", (uint64_t)ERROR_PAGE);
    qtest_quit(qts);
}

/*
 * A burst the guest cannot keep up with: records wait, in order, up to
 * queue-size; past it they are refused and counted, never dropped
 * silently.
 */
static void test_queue(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, "-global acpi-ghes.queue-size=3");
    QDict *rsp, *s, *ev, *d;
    QList *q;
    int i;

    ras_fw_run_loader(&fw);
    for (i = 0; i < 4; i++) {
        qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                                 "'arguments': { 'address': %" PRIu64
                                 " } }", (uint64_t)ERROR_PAGE + i * 4096);
    }
    rsp = qtest_qmp(qts, "{ 'execute': 'inject-memory-error', "
                    "'arguments': { 'address': %" PRIu64 " } }",
                    (uint64_t)ERROR_PAGE + 4 * 4096);
    g_assert(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"), "desc"),
                    "queue-size"));
    qobject_unref(rsp);
    /* The drop is announced, with the address the guest will not hear of */
    ev = qtest_qmp_eventwait_ref(qts, "RAS_QUEUE_OVERFLOW");
    d = qdict_get_qdict(ev, "data");
    g_assert_cmpstr(qdict_get_str(d, "queue"), ==, "ghes");
    g_assert_cmpint(qdict_get_int(d, "source-id"), ==, 0);
    g_assert_cmphex(qdict_get_int(d, "address"), ==, ERROR_PAGE + 4 * 4096);
    g_assert_cmpint(qdict_get_int(d, "capacity"), ==, 3);
    g_assert_cmpint(qdict_get_int(d, "dropped"), ==, 1);
    qobject_unref(ev);
    s = ras_ghes_source(qts, 0);
    g_assert_cmpint(qdict_get_int(s, "queued"), ==, 3);
    g_assert_cmpint(qdict_get_int(s, "overflow"), ==, 1);
    qobject_unref(s);
    rsp = qtest_qmp(qts, "{ 'execute': 'query-ras-queues' }");
    q = qdict_get_qlist(rsp, "return");
    /* The GHES queue, then the signals the handler recorded */
    g_assert_cmpint(qlist_size(q), ==, 2);
    d = qobject_to(QDict, qlist_peek(q));
    g_assert_cmpstr(qdict_get_str(d, "queue"), ==, "ghes");
    qobject_unref(rsp);
    ras_assert_queue(qts, "ghes", 3, 3, 1, 1);
    /* The first alone; the three that waited together, in one record */
    check_mem_record(&fw, 0, ERROR_PAGE, 4096, 0, 3, 1);
    ras_ghes_ack(&fw, 0);
    check_merged_record(&fw, 0, ERROR_PAGE + 4096, 3, 2);
    ras_ghes_ack(&fw, 0);
    s = ras_ghes_source(qts, 0);
    g_assert_cmpint(qdict_get_int(s, "queued"), ==, 0);
    g_assert_cmpint(qdict_get_int(s, "records"), ==, 2);
    g_assert_cmpint(qdict_get_int(s, "errors"), ==, 4);
    g_assert(qdict_get_bool(s, "acknowledged"));
    qobject_unref(s);
    ras_assert_queue(qts, "ghes", 3, 0, 4, 1);
    qtest_quit(qts);
}


static char *b64(const void *buf, size_t len)
{
    return g_base64_encode(buf, len);
}

static void test_raw_cper(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, NULL);
    uint8_t rec[RAS_GHES_RECORD_LEN], back[RAS_GHES_RECORD_LEN];
    g_autofree char *good = NULL;

    ras_fw_run_loader(&fw);
    /* A record made by the typed command is a valid raw record too */
    typed_record(&fw, rec);
    stq_le_p(rec + RAS_GHES_RECORD_SEQ, 77);
    good = b64(rec, sizeof(rec));
    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-ghes-v2-error', "
                             "'arguments': { 'cper': %s } }", good);
    qtest_memread(qts, ras_ghes_block(&fw, 0), back, sizeof(back));
    g_assert(!memcmp(rec, back, sizeof(rec)));
    g_assert_cmphex(qtest_readq(qts, ras_ghes_ack_reg(&fw, 0)), ==, 0);
    qtest_quit(qts);
}

/*
 * The vCPU touches the same poisoned page again before it has taken the
 * record: one error, one record.  Another page must wait for the guest.
 */
static void test_sea_coalesce(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, NULL);
    const char *ar = "{ 'execute': 'inject-memory-error', 'arguments': { "
                     "'address': %" PRIu64 ", 'action-required': true, "
                     "'cpu-index': 1 } }";

    ras_fw_run_loader(&fw);
    qtest_qmp_assert_success(qts, ar, (uint64_t)ERROR_PAGE);
    qtest_qmp_assert_success(qts, ar, (uint64_t)ERROR_PAGE);
    check_mem_record(&fw, 2, ERROR_PAGE, 4096, 0, 3, 1);
    g_assert_cmpint(ras_ghes_source_int(qts, 2, "records"), ==, 1);
    g_assert_cmpint(ras_ghes_source_int(qts, 2, "busy"), ==, 0);

    ras_assert_error(qts, "not acknowledged", ar, (uint64_t)ERROR_PAGE + 4096);
    g_assert_cmpint(ras_ghes_source_int(qts, 2, "busy"), ==, 1);
    check_mem_record(&fw, 2, ERROR_PAGE, 4096, 0, 3, 1);

    /* Once taken, the same page is a new error: a new record */
    ras_ghes_ack(&fw, 2);
    qtest_qmp_assert_success(qts, ar, (uint64_t)ERROR_PAGE);
    check_mem_record(&fw, 2, ERROR_PAGE, 4096, 0, 3, 2);
    g_assert_cmpint(ras_ghes_source_int(qts, 2, "records"), ==, 2);
    qtest_quit(qts);
}

/* inject-ghes-v2-error refuses @rec with field @off set to @val */
static void refuse_cper_field(QTestState *qts, const char *needle,
                              const uint8_t rec[RAS_GHES_RECORD_LEN],
                              int off, uint32_t val)
{
    uint8_t bad[RAS_GHES_RECORD_LEN];
    g_autofree char *b = NULL;

    memcpy(bad, rec, sizeof(bad));
    stl_le_p(bad + off, val);
    b = b64(bad, sizeof(bad));
    ras_assert_error(qts, needle, "{ 'execute': 'inject-ghes-v2-error', "
                     "'arguments': { 'cper': %s } }", b);
}

static void test_bad_input(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, NULL);
    uint8_t rec[RAS_GHES_RECORD_LEN];
    uint8_t big[RAS_GHES_BLOCK_LEN + 8] = { 1 };
    g_autofree char *b = NULL;
    QDict *s;

    /* Before the firmware has placed the blob */
    ras_assert_error(qts, "not placed", "{ 'execute': 'inject-memory-error', "
                     "'arguments': { 'address': %" PRIu64 " } }",
                     (uint64_t)ERROR_PAGE);
    ras_assert_error(qts, "not placed", "{ 'execute': 'inject-ghes-v2-error', "
                     "'arguments': { 'cper': 'AAAA' } }");

    ras_fw_run_loader(&fw);
    typed_record(&fw, rec);

    ras_assert_error(qts, "not aligned", "{ 'execute': 'inject-memory-error', "
                     "'arguments': { 'address': %" PRIu64 " } }",
                     (uint64_t)ERROR_PAGE + 8);
    ras_assert_error(qts, "not aligned", "{ 'execute': 'inject-memory-error', "
                     "'arguments': { 'address': %" PRIu64 ", 'size': 65536 } }",
                     (uint64_t)ERROR_PAGE + 4096);
    ras_assert_error(qts, "power of two", "{ 'execute': 'inject-memory-error', "
                     "'arguments': { 'address': %" PRIu64 ", 'size': 12288 } }",
                     (uint64_t)ERROR_PAGE);
    ras_assert_error(qts, "power of two", "{ 'execute': 'inject-memory-error', "
                     "'arguments': { 'address': %" PRIu64 ", 'size': 512 } }",
                     (uint64_t)ERROR_PAGE);
    ras_assert_error(qts, "power of two", "{ 'execute': 'inject-memory-error', "
                     "'arguments': { 'address': %" PRIu64 ", 'size': 0 } }",
                     (uint64_t)ERROR_PAGE);
    /*
     * MMIO (the UART), flash, a hole, past the end of RAM, a range
     * that runs off the end of RAM, a wrapping range
     */
    ras_assert_error(qts, "not guest RAM",
                     "{ 'execute': 'inject-memory-error', "
                     "'arguments': { 'address': %u } }", 0x09000000);
    ras_assert_error(qts, "not guest RAM",
                     "{ 'execute': 'inject-memory-error', "
                     "'arguments': { 'address': 0 } }");
    ras_assert_error(qts, "not guest RAM",
                     "{ 'execute': 'inject-memory-error', "
                     "'arguments': { 'address': %u } }", 0x30000000);
    ras_assert_error(qts, "not guest RAM",
                     "{ 'execute': 'inject-memory-error', "
                     "'arguments': { 'address': %" PRIu64 " } }",
                     (uint64_t)(RAM_BASE + (1ull << 30)));
    ras_assert_error(qts, "not guest RAM",
                     "{ 'execute': 'inject-memory-error', "
                     "'arguments': { 'address': %" PRIu64 ", "
                     "'size': 2147483648 } }", (uint64_t)0x80000000ull);
    ras_assert_error(qts, "not guest RAM",
                     "{ 'execute': 'inject-memory-error', "
                     "'arguments': { 'address': %" PRIu64 ", "
                     "'size': 9223372036854775808 } }", (uint64_t)1 << 63);
    ras_assert_error(qts, "no vCPU", "{ 'execute': "
                     "'inject-memory-error', 'arguments': { 'address': %"
                     PRIu64 ", 'action-required': true, 'cpu-index': %d } }",
                     (uint64_t)ERROR_PAGE, RAS_NR_CPUS);
    ras_assert_error(qts, "no vCPU", "{ 'execute': "
                     "'inject-memory-error', 'arguments': { 'address': %"
                     PRIu64 ", 'action-required': true, 'cpu-index': -1 } }",
                     (uint64_t)ERROR_PAGE);
    ras_assert_error(qts, "action-required errors only", "{ 'execute': "
                     "'inject-memory-error', 'arguments': { 'address': %"
                     PRIu64 ", 'cpu-index': 0 } }", (uint64_t)ERROR_PAGE);

    /* Raw records: bad base64, malformed, oversized */
    ras_assert_error(qts, "Base64", "{ 'execute': 'inject-ghes-v2-error', "
                     "'arguments': { 'cper': '!!not base64!!' } }");
    ras_assert_error(qts, "shorter", "{ 'execute': 'inject-ghes-v2-error', "
                     "'arguments': { 'cper': 'AAAA' } }");
    /* A good record with one field changed */
    refuse_cper_field(qts, "Block Status 0", rec, 0, 0);
    refuse_cper_field(qts, "exceeds the", rec, 12, 1000);
    /* section longer than data */
    refuse_cper_field(qts, "exceeds the Data Length", rec, 20 + 24, 81);
    /* raw data inside entries */
    refuse_cper_field(qts, "raw data", rec, 4, 100);
    /* entry header truncated */
    refuse_cper_field(qts, "truncated", rec, 12, 40);
    b = b64(big, sizeof(big));
    ras_assert_error(qts, "exceeds the 1024-byte", "{ 'execute': "
                     "'inject-ghes-v2-error', 'arguments': { 'cper': %s } }",
                     b);

    /* Nothing of the above reached the guest */
    s = ras_ghes_source(qts, 0);
    g_assert_cmpint(qdict_get_int(s, "records"), ==, 1);
    g_assert_cmpint(qdict_get_int(s, "busy"), ==, 0);
    g_assert(qdict_get_bool(s, "acknowledged"));
    qobject_unref(s);
    g_assert_cmphex(qtest_readl(qts, ras_ghes_block(&fw, 0)), ==, 0);
    qtest_quit(qts);
}

static void test_ras_off(void)
{
    QTestState *qts = qtest_init("-machine virt,ras=off -cpu max -nic none");

    ras_assert_error(qts, "ras=on", "{ 'execute': 'inject-memory-error', "
                     "'arguments': { 'address': %" PRIu64 " } }",
                     (uint64_t)ERROR_PAGE);
    ras_assert_error(qts, "ras=on", "{ 'execute': 'inject-ghes-v2-error', "
                     "'arguments': { 'cper': 'AAAA' } }");
    ras_assert_error(qts, "ras=on", "{ 'execute': 'query-ghes' }");
    qtest_quit(qts);
}

/*
 * A guest that rewrites its copies of the HEST and of the error status
 * address registers cannot make QEMU write anywhere else.
 */
static void test_guest_scribbles(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, NULL);
    uint64_t hest, decoy = RAM_BASE + 0x20000000ull;
    uint32_t len, i;

    ras_fw_run_loader(&fw);
    hest = ras_fw_find_table(&fw, "HEST", &len);
    qtest_memset(qts, decoy, 0xa5, 2 * RAS_GHES_BLOCK_LEN);
    for (i = 0; i < RAS_GHES_SOURCES; i++) {
        uint64_t e = hest + 40 + GHES_V2_LEN * i;

        qtest_writeq(qts, e + 24, decoy);
        qtest_writeq(qts, e + 68, decoy);
        qtest_writeq(qts, ras_ghes_blob(&fw) + 8 * i, decoy);
    }
    qtest_writew(qts, hest + 40, 0xffff);

    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 " } }",
                             (uint64_t)ERROR_PAGE);
    check_mem_record(&fw, 0, ERROR_PAGE, 4096, 0, 3, 1);
    for (i = 0; i < 2 * RAS_GHES_BLOCK_LEN; i += 8) {
        g_assert_cmphex(qtest_readq(qts, decoy + i), ==,
                        0xa5a5a5a5a5a5a5a5ull);
    }
    qtest_quit(qts);
}

/* The firmware-reported address is checked before QEMU trusts it */
static void test_bad_blob_address(void)
{
    static const uint64_t bad[] = {
        0x09000000,                     /* MMIO */
        0x1000,                         /* flash */
        RAM_BASE + (1ull << 30) - 1024, /* blob would run off RAM */
        ~0ull - 4095,                   /* wraps */
        RAM_BASE + 0x100,               /* not page aligned */
    };
    RasFw fw;
    QTestState *qts = start(&fw, NULL);
    RasFwFile *f;
    QDict *rsp;
    uint64_t placed, v;
    int i;

    ras_fw_run_loader(&fw);
    placed = ras_ghes_blob(&fw);
    f = ras_fw_file(&fw, "etc/hardware_errors_addr");
    g_assert(f && placed);

    /* Placed once per boot: the guest OS rewriting it is ignored */
    v = cpu_to_le64(RAM_BASE + 0x100000);
    ras_fw_cfg_write(qts, f->select, &v, 8);
    rsp = qtest_qmp(qts, "{ 'execute': 'query-ghes' }");
    g_assert_cmphex(qdict_get_int(qdict_get_qdict(rsp, "return"),
                                  "blob-address"), ==, placed);
    qobject_unref(rsp);

    /* The first write of a boot is checked */
    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        qtest_qmp_assert_success(qts, "{ 'execute': 'system_reset' }");
        qtest_qmp_eventwait(qts, "RESET");
        v = cpu_to_le64(bad[i]);
        ras_fw_cfg_write(qts, f->select, &v, 8);
        rsp = qtest_qmp(qts, "{ 'execute': 'query-ghes' }");
        g_assert(!qdict_haskey(qdict_get_qdict(rsp, "return"),
                               "blob-address"));
        qobject_unref(rsp);
        ras_assert_error(qts, "not placed", "{ 'execute': "
                         "'inject-memory-error', 'arguments': { 'address': %"
                         PRIu64 " } }", (uint64_t)ERROR_PAGE);
    }
    qtest_quit(qts);
}

static void test_reset(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, NULL);
    QDict *rsp;

    ras_fw_run_loader(&fw);
    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 " } }",
                             (uint64_t)ERROR_PAGE);
    qtest_qmp_assert_success(qts, "{ 'execute': 'system_reset' }");
    qtest_qmp_eventwait(qts, "RESET");
    rsp = qtest_qmp(qts, "{ 'execute': 'query-ghes' }");
    g_assert(!qdict_haskey(qdict_get_qdict(rsp, "return"), "blob-address"));
    qobject_unref(rsp);
    ras_assert_error(qts, "not placed", "{ 'execute': 'inject-memory-error', "
                     "'arguments': { 'address': %" PRIu64 " } }",
                     (uint64_t)ERROR_PAGE);
    /* The firmware of the next boot places it again, blocks fresh */
    ras_fw_run_loader(&fw);
    g_assert_cmphex(qtest_readq(qts, ras_ghes_ack_reg(&fw, 0)), ==, 1);
    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 " } }",
                             (uint64_t)ERROR_PAGE);
    check_mem_record(&fw, 0, ERROR_PAGE, 4096, 0, 3, 2);
    qtest_quit(qts);
}

/* Many vCPUs share SEA sources; the tables still fit the loader script */
static void test_many_cpus(void)
{
    QTestState *qts = qtest_initf("-machine virt,ras=on,gic-version=3 "
                                  "-cpu max -smp 2,maxcpus=512 -m 1G "
                                  "-nic none -bios %s",
                                  ras_fw_dummy_bios());
    RasFw fw;
    QDict *rsp;
    QList *sources;
    uint32_t len;

    ras_fw_init(&fw, qts);
    ras_fw_run_loader(&fw);
    g_assert(ras_fw_find_table(&fw, "HEST", &len));
    g_assert_cmpint(len, ==, 36 + 4 + GHES_V2_LEN * 65);
    rsp = qtest_qmp(qts, "{ 'execute': 'query-ghes' }");
    sources = qdict_get_qlist(qdict_get_qdict(rsp, "return"), "sources");
    g_assert_cmpint(qlist_size(sources), ==, 65);
    qobject_unref(rsp);
    qtest_quit(qts);
}

/*
 * The error sources survive migration: where firmware placed them, the
 * counters and the record sequence continue on the destination.
 */
static void test_migration(void)
{
    g_autoptr(RasStream) stream = ras_stream_new();
    g_autofree char *incoming = g_strdup_printf("-incoming %s", stream->uri);
    RasFw fw, saved;
    QTestState *src = start(&fw, NULL), *dst;
    uint64_t base, seq;
    QDict *s;

    ras_fw_run_loader(&fw);
    base = ras_ghes_blob(&fw);
    /* One record in the block, not acknowledged; one waiting */
    qtest_qmp_assert_success(src, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 " } }",
                             (uint64_t)ERROR_PAGE);
    qtest_qmp_assert_success(src, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 " } }",
                             (uint64_t)ERROR_PAGE + 4096);
    qtest_qmp_assert_success(src, "{ 'execute': 'stop' }");
    ras_stream_save(stream, src);
    saved = fw;

    dst = start(&fw, incoming);
    ras_migration_completed(dst);
    s = ras_ghes_source(dst, 0);
    g_assert_cmphex(qdict_get_int(s, "block-address"), ==,
                    base + RAS_GHES_REGS_LEN);
    g_assert_cmpint(qdict_get_int(s, "records"), ==, 1);
    g_assert_cmpint(qdict_get_int(s, "queued"), ==, 1);
    g_assert(!qdict_get_bool(s, "acknowledged"));
    qobject_unref(s);
    /*
     * The guest acknowledges on the destination: the waiting one comes,
     * once the running guest has had time for what it had to do
     */
    qtest_qmp_assert_success(dst, "{ 'execute': 'cont' }");
    fw = saved;
    fw.qts = dst;
    seq = ras_ghes_block(&fw, 0) + RAS_GHES_RECORD_SEQ;
    g_assert_cmpint(qtest_readq(dst, seq), ==, 1);
    ras_ghes_ack(&fw, 0);
    g_assert_cmpint(qtest_readq(dst, seq), ==, 2);
    g_assert_cmphex(ras_ghes_record_pa(&fw, 0), ==, ERROR_PAGE + 4096);
    /* and the sequence goes on */
    ras_ghes_ack(&fw, 0);
    qtest_qmp_assert_success(dst, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 " } }",
                             (uint64_t)ERROR_PAGE + 8192);
    g_assert_cmpint(qtest_readq(dst, seq), ==, 3);
    qtest_quit(dst);
}

/* --- hostile input, at random (the seed: GLib's --seed) --------------- */

#define RAM_END             (RAM_BASE + (1ull << 30))
/* Guest RAM no random address ever points into: must stay untouched */
#define DECOY               (RAM_BASE + 0x20000000ull)
#define DECOY_LEN           0x10000

static uint64_t rand_u64(void)
{
    return (uint64_t)(uint32_t)g_test_rand_int() << 32 |
           (uint32_t)g_test_rand_int();
}

static uint64_t pick(const uint64_t *v, size_t n)
{
    return g_test_rand_bit() ? v[g_test_rand_int_range(0, n)] : rand_u64();
}

/* Values a careless or hostile QMP client may send for an address */
static const uint64_t any_address[] = {
    0, 1, 4095, 4096, 0x09000000, RAM_BASE - 4096, RAM_BASE,
    ERROR_PAGE, ERROR_PAGE + 8, ERROR_PAGE + 4096, ERROR_PAGE + 0x200000,
    RAM_END - 4096, RAM_END - 0x200000, RAM_END, 0xffffffffull,
    1ull << 62, 1ull << 63, ~0ull - 4095, ~0ull,
};

static QObject *any_size(void)
{
    switch (g_test_rand_int_range(0, 4)) {
    case 0:
        return QOBJECT(qnum_from_uint(1ull << g_test_rand_int_range(0, 64)));
    case 1:
        return QOBJECT(qnum_from_uint(g_test_rand_int_range(0, 3) << 12));
    case 2:
        return QOBJECT(qnum_from_int(-4096));
    default:
        return QOBJECT(qnum_from_uint(rand_u64()));
    }
}

static void put_any_cpu(QDict *args)
{
    static const int64_t v[] = {
        -1, 0, 1, RAS_NR_CPUS, INT32_MAX, (int64_t)INT32_MAX + 1, INT64_MAX,
        INT64_MIN,
    };

    qdict_put_int(args, "cpu-index", v[g_test_rand_int_range(0, 8)]);
}

/*
 * Whether inject-memory-error must refuse @args (the rules its schema
 * states); a valid one may still be refused (busy source, full queue).
 */
static bool memory_error_args_bad(QDict *args)
{
    QNum *a = qobject_to(QNum, qdict_get(args, "address"));
    QNum *n = qobject_to(QNum, qdict_get(args, "size"));
    uint64_t addr, size = 4096;
    bool ar = qdict_haskey(args, "action-required") &&
              qdict_get_bool(args, "action-required");
    int64_t cpu;

    if (!a || !qnum_get_try_uint(a, &addr) ||
        (n && !qnum_get_try_uint(n, &size))) {
        return true;                        /* not a uint64 at all */
    }
    if (size < 4096 || (size & (size - 1)) || (addr & (size - 1)) ||
        addr < RAM_BASE || addr >= RAM_END || size > RAM_END - addr) {
        return true;
    }
    if (qdict_haskey(args, "threshold-exceeded") &&
        qdict_get_bool(args, "threshold-exceeded") &&
        (ar || g_strcmp0(qdict_get_try_str(args, "severity"), "corrected"))) {
        return true;                        /* only for corrected errors */
    }
    if (qdict_haskey(args, "cpu-index")) {
        cpu = qdict_get_int(args, "cpu-index");
        return !ar || cpu < 0 || cpu >= RAS_NR_CPUS;
    }
    return false;
}

static QDict *qmp_ok_or_error(QTestState *qts, QDict *rsp)
{
    g_assert(qdict_haskey(rsp, "return") != qdict_haskey(rsp, "error"));
    return rsp;
}

/* A record to start from: the one a typed injection makes */
static void random_cper(const uint8_t rec[RAS_GHES_RECORD_LEN], GByteArray *out)
{
    static const uint32_t any_len[] = {
        0, 1, 19, 20, 64, 71, 72, 80, 152, 160, 172, 180, 1004, 1024,
        0x7fffffff, 0xffffffff,
    };
    int i, n;

    g_byte_array_set_size(out, 0);
    if (!g_test_rand_int_range(0, 4)) {
        /* Anything, up to a bit more than a block */
        n = g_test_rand_int_range(0, RAS_GHES_BLOCK_LEN + 64);
        for (i = 0; i < n; i++) {
            uint8_t b = g_test_rand_int();

            g_byte_array_append(out, &b, 1);
        }
        return;
    }
    g_byte_array_append(out, rec, RAS_GHES_RECORD_LEN);
    /* A header or entry length field set to something else */
    n = g_test_rand_int_range(0, 3);
    for (i = 0; i < n; i++) {
        static const int field[] = { 0, 4, 8, 12, 16, 20 + 20, 20 + 24 };
        int f = field[g_test_rand_int_range(0, ARRAY_SIZE(field))];

        stl_le_p(out->data + f, any_len[g_test_rand_int_range(
                                    0, ARRAY_SIZE(any_len))]);
    }
    /* Bytes changed, or the record cut short or padded */
    for (i = g_test_rand_int_range(0, 4); i > 0; i--) {
        out->data[g_test_rand_int_range(0, RAS_GHES_RECORD_LEN)] =
            g_test_rand_int();
    }
    if (g_test_rand_bit()) {
        g_byte_array_set_size(out, g_test_rand_int_range(
                                       0, RAS_GHES_BLOCK_LEN + 8));
    }
}

/* Whether a raw record must be refused: what a guest cannot parse */
static bool cper_surely_bad(const uint8_t *b, size_t len)
{
    return len < 20 || len > RAS_GHES_BLOCK_LEN || !ldl_le_p(b) ||
           20ull + ldl_le_p(b + 12) > len || ldl_le_p(b + 12) < 64;
}

static void guest_ack_at(QTestState *qts, uint64_t base, int i)
{
    uint64_t ack = base + 8 * (RAS_GHES_SOURCES + i);

    qtest_writeq(qts, ack, qtest_readq(qts, ack) | 1);
}

/* Where QEMU has the blob now, or 0 */
static uint64_t current_blob(QTestState *qts)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-ghes' }");
    QDict *ret = qdict_get_qdict(rsp, "return");
    uint64_t base = qdict_haskey(ret, "blob-address") ?
                    qdict_get_uint(ret, "blob-address") : 0;
    QListEntry *e;

    /* Never outside guest RAM; no queue beyond its bound */
    g_assert(!base || (base >= RAM_BASE && base < RAM_END &&
                       RAM_END - base >= RAS_GHES_BLOB_LEN));
    QLIST_FOREACH_ENTRY(qdict_get_qlist(ret, "sources"), e) {
        QDict *src = qobject_to(QDict, qlist_entry_obj(e));

        g_assert_cmpint(qdict_get_int(src, "queued"), <=, 8);
    }
    qobject_unref(rsp);
    return base;
}

static void check_decoy(QTestState *qts)
{
    g_autofree uint8_t *buf = g_malloc(DECOY_LEN);
    int i;

    qtest_memread(qts, DECOY, buf, DECOY_LEN);
    for (i = 0; i < DECOY_LEN; i++) {
        g_assert_cmphex(buf[i], ==, 0xa5);
    }
}

/*
 * Every argument of inject-memory-error and inject-ghes-v2-error at
 * random: huge, negative, unaligned, wrapping, out of range, of the
 * wrong type, malformed records.  QEMU answers each, refuses every one
 * its schema rules out, and writes nowhere but into the blocks.
 */
static void test_random_qmp_args(void)
{
    static const char *const sev[] = {
        "recoverable", "fatal", "corrected", "informational", "none",
    };
    RasFw fw;
    QTestState *qts = start(&fw, "-global acpi-ghes.queue-size=8");
    g_autoptr(GByteArray) cper = g_byte_array_new();
    uint8_t rec[RAS_GHES_RECORD_LEN];
    uint64_t base;
    int i, which, taken[2] = { 0 }, refused[2] = { 0 };

    ras_fw_run_loader(&fw);
    base = ras_ghes_blob(&fw);
    qtest_memset(qts, DECOY, 0xa5, DECOY_LEN);
    typed_record(&fw, rec);
    for (i = 0; i < 600; i++) {
        QDict *args = qdict_new(), *rsp;
        bool bad;

        if (g_test_rand_bit()) {
            qdict_put_obj(args, "address", QOBJECT(qnum_from_uint(
                pick(any_address, ARRAY_SIZE(any_address)))));
            if (g_test_rand_bit()) {
                qdict_put_obj(args, "size", any_size());
            }
            if (g_test_rand_bit()) {
                qdict_put_bool(args, "action-required", g_test_rand_bit());
            }
            if (g_test_rand_bit()) {
                put_any_cpu(args);
            }
            if (!g_test_rand_int_range(0, 8)) {
                qdict_put_str(args, "severity",
                              sev[g_test_rand_int_range(0, 5)]);
            }
            if (!g_test_rand_int_range(0, 8)) {
                qdict_put_bool(args, "threshold-exceeded", g_test_rand_bit());
            }
            if (!g_test_rand_int_range(0, 16)) {
                qdict_put_str(args, "address", "0x50000000");
            }
            if (!g_test_rand_int_range(0, 16)) {
                qdict_put_int(args, "no-such-argument", 1);
            }
            bad = qdict_haskey(args, "no-such-argument") ||
                  memory_error_args_bad(args);
            qobject_ref(args);
            rsp = qmp_ok_or_error(qts, qtest_qmp(qts,
                "{ 'execute': 'inject-memory-error', 'arguments': %p }",
                args));
            if (bad && qdict_haskey(rsp, "return")) {
                g_error("inject-memory-error took bad arguments");
            }
        } else {
            g_autofree char *b = NULL;

            random_cper(rec, cper);
            b = g_test_rand_int_range(0, 16) ?
                g_base64_encode(cper->data, cper->len) :
                g_strdup("AAA=\n!!");
            bad = cper_surely_bad(cper->data, cper->len);
            rsp = qmp_ok_or_error(qts, qtest_qmp(qts,
                "{ 'execute': 'inject-ghes-v2-error', "
                "'arguments': { 'cper': %s } }", b));
            if (bad && qdict_haskey(rsp, "return")) {
                g_error("inject-ghes-v2-error took a bad record");
            }
        }
        which = !qdict_haskey(args, "address");
        taken[which] += qdict_haskey(rsp, "return");
        refused[which] += qdict_haskey(rsp, "error");
        qobject_unref(args);
        qobject_unref(rsp);
        if (!g_test_rand_int_range(0, 3)) {
            guest_ack_at(qts, base, g_test_rand_int_range(0, RAS_GHES_SOURCES));
            qtest_clock_step(qts, RAS_FW_ASYNC_MAX_WAIT_NS);
        }
        if (!(i % 50)) {
            g_assert_cmphex(current_blob(qts), ==, base);
        }
    }
    g_test_message("inject-memory-error: %d taken, %d refused; "
                   "inject-ghes-v2-error: %d taken, %d refused",
                   taken[0], refused[0], taken[1], refused[1]);
    check_decoy(qts);
    qtest_quit(qts);
}

/* The members each kind of inject-host-memory-failure takes */
static const char *const host_failure_kinds[] = {
    "action-optional", "action-required", "real",
};
static const char *const host_failure_members[][4] = {
    { "page-size", "count" },
    { "cpu-index", "page-size", "refaults" },
    { },
};

static bool host_failure_member_of(int kind, const char *key)
{
    static const char *const base[] = { "kind", "address", "memdev",
                                        "offset" };
    int i;

    for (i = 0; i < ARRAY_SIZE(base); i++) {
        if (!strcmp(key, base[i])) {
            return true;
        }
    }
    for (i = 0; i < 4 && host_failure_members[kind][i]; i++) {
        if (!strcmp(key, host_failure_members[kind][i])) {
            return true;
        }
    }
    return false;
}

/*
 * Whether inject-host-memory-failure must refuse @args on a machine whose
 * 1 GiB of RAM (4 KiB pages) is memory backend "m0"
 */
static bool host_failure_args_bad(QDict *args)
{
    QNum *a = qobject_to(QNum, qdict_get(args, "address"));
    QNum *o = qobject_to(QNum, qdict_get(args, "offset"));
    QNum *ps = qobject_to(QNum, qdict_get(args, "page-size"));
    QNum *c = qobject_to(QNum, qdict_get(args, "count"));
    QNum *r = qobject_to(QNum, qdict_get(args, "refaults"));
    const char *kind_str = qdict_get_try_str(args, "kind");
    const char *memdev = qdict_get_try_str(args, "memdev");
    uint64_t addr = 0, off = 0, size = 4096, count = 1, refaults = 0;
    const QDictEntry *e;
    int kind = -1, i;
    uint64_t at;

    for (i = 0; kind_str && i < ARRAY_SIZE(host_failure_kinds); i++) {
        if (!strcmp(kind_str, host_failure_kinds[i])) {
            kind = i;
        }
    }
    if (kind < 0) {
        return true;
    }
    for (e = qdict_first(args); e; e = qdict_next(args, e)) {
        if (!host_failure_member_of(kind, qdict_entry_key(e))) {
            return true;
        }
    }
    if (!!a == !!memdev || (o && !memdev)) {
        return true;
    }
    if ((a && !qnum_get_try_uint(a, &addr)) ||
        (o && !qnum_get_try_uint(o, &off)) ||
        (ps && !qnum_get_try_uint(ps, &size)) ||
        (c && !qnum_get_try_uint(c, &count)) ||
        (r && !qnum_get_try_uint(r, &refaults))) {
        return true;
    }
    if (qdict_haskey(args, "cpu-index")) {
        int64_t cpu = qdict_get_int(args, "cpu-index");

        if (cpu < 0 || cpu >= RAS_NR_CPUS) {
            return true;
        }
    }
    if (memdev ? strcmp(memdev, "m0") || off >= (1ull << 30)
               : addr < RAM_BASE || addr >= RAM_END) {
        return true;
    }
    at = memdev ? off : addr - RAM_BASE;
    if (size != 4096 || refaults > 100) {
        return true;
    }
    if (c && (count < 1 || count > (1 << 20) ||
              (at & ~4095ull) + count * 4096 > (1ull << 30))) {
        return true;
    }
    return false;
}

/* Any of inject-host-memory-failure's arguments, any value */
static void random_host_failure_args(QDict *args)
{
    int kind = g_test_rand_int_range(0, 16);

    /* Now and then no kind, or one that does not exist; rarely real */
    if (kind < 14) {
        qdict_put_str(args, "kind", host_failure_kinds[kind & 1]);
    } else if (kind == 14) {
        qdict_put_str(args, g_test_rand_bit() ? "kind" : "kinds",
                      g_test_rand_bit() ? "real" : "nope");
    }
    if (g_test_rand_int_range(0, 3)) {
        qdict_put_obj(args, "address", QOBJECT(qnum_from_uint(
            pick(any_address, ARRAY_SIZE(any_address)))));
    }
    if (!g_test_rand_int_range(0, 3)) {
        qdict_put_str(args, "memdev",
                      g_test_rand_int_range(0, 4) ? "m0" : "nope");
    }
    if (!g_test_rand_int_range(0, 3)) {
        qdict_put_obj(args, "offset", QOBJECT(qnum_from_uint(
            g_test_rand_bit() ? rand_u64() :
            (uint64_t)g_test_rand_int_range(0, 1 << 18) << 12)));
    }
    if (!g_test_rand_int_range(0, 4)) {
        put_any_cpu(args);
    }
    if (!g_test_rand_int_range(0, 4)) {
        qdict_put_obj(args, "page-size", any_size());
    }
    if (!g_test_rand_int_range(0, 4)) {
        qdict_put_obj(args, "count", QOBJECT(qnum_from_uint(
            g_test_rand_bit() ? g_test_rand_int_range(0, 300) :
            rand_u64())));
    }
    if (!g_test_rand_int_range(0, 4)) {
        qdict_put_obj(args, "refaults", QOBJECT(qnum_from_uint(
            g_test_rand_int_range(0, 200))));
    }
}

/*
 * inject-host-memory-failure with arguments at random: every one its
 * rules forbid is refused, and QEMU keeps answering.
 */
static void test_random_host_failure_args(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, "-object memory-backend-ram,id=m0,size=1G "
                            "-machine memory-backend=m0");
    int i, taken = 0, refused = 0;
    QDict *rsp;

    ras_fw_run_loader(&fw);
    for (i = 0; i < 400; i++) {
        QDict *args = qdict_new();
        uint64_t page = g_test_rand_int_range(0, 1 << 18);

        if (g_test_rand_bit()) {
            /* Something sensible: a page of RAM, the blob's included */
            bool ar = g_test_rand_bit();

            if (g_test_rand_bit()) {
                qdict_put_obj(args, "address", QOBJECT(qnum_from_uint(
                    RAM_BASE + page * 4096)));
            } else {
                qdict_put_str(args, "memdev", "m0");
                qdict_put_obj(args, "offset",
                              QOBJECT(qnum_from_uint(page * 4096)));
            }
            qdict_put_str(args, "kind", host_failure_kinds[ar]);
            if (ar) {
                qdict_put_int(args, "cpu-index",
                              g_test_rand_int_range(0, RAS_NR_CPUS));
            } else if (g_test_rand_bit()) {
                qdict_put_obj(args, "count", QOBJECT(qnum_from_uint(
                    g_test_rand_int_range(1, 16))));
            }
        } else {
            random_host_failure_args(args);
        }
        qobject_ref(args);
        rsp = qmp_ok_or_error(qts, qtest_qmp(qts,
            "{ 'execute': 'inject-host-memory-failure', 'arguments': %p }",
            args));
        if (host_failure_args_bad(args) && qdict_haskey(rsp, "return")) {
            g_error("inject-host-memory-failure took bad arguments");
        }
        taken += qdict_haskey(rsp, "return");
        refused += qdict_haskey(rsp, "error");
        qobject_unref(args);
        qobject_unref(rsp);
        if (g_test_rand_bit()) {
            guest_ack_at(qts, ras_ghes_blob(&fw), g_test_rand_int_range(
                                                  0, RAS_GHES_SOURCES));
        }
        qtest_clock_step(qts, RAS_FW_ASYNC_MAX_WAIT_NS);
    }
    g_test_message("inject-host-memory-failure: %d taken, %d refused",
                   taken, refused);
    qtest_qmp_assert_success(qts, "{ 'execute': 'query-memory-failures' }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'query-ras-queues' }");
    qtest_quit(qts);
}

/*
 * The guest's writes at random: any offset, size and value in the
 * register page, any value (whole or in part) in the blob-address file,
 * interleaved with errors, acknowledgements, time and resets.  QEMU
 * never writes outside guest RAM or into memory the blob is not in.
 */
static void test_random_guest_writes(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, "-global acpi-ghes.queue-size=8");
    uint64_t orig, addrs[12];
    RasFwFile *f;
    int i, moved = 0, unplaced = 0;

    ras_fw_run_loader(&fw);
    orig = ras_ghes_blob(&fw);
    f = ras_fw_file(&fw, "etc/hardware_errors_addr");
    g_assert(f);
    qtest_memset(qts, DECOY, 0xa5, DECOY_LEN);
    /* What the guest may write there: none near the decoy */
    addrs[0] = 0;
    addrs[1] = orig;
    addrs[2] = orig + 4096;
    addrs[3] = orig + 1;
    addrs[4] = RAM_BASE + 0x30000000ull;
    addrs[5] = RAM_END - 4096;
    addrs[6] = RAM_END - RAS_GHES_BLOB_LEN;
    addrs[7] = 0x09000000;
    addrs[8] = ~0ull - 4095;
    addrs[9] = RAM_BASE - 4096;
    addrs[10] = 1ull << 63;
    addrs[11] = RAM_END;

    for (i = 0; i < 800; i++) {
        uint64_t base = current_blob(qts), v = rand_u64();
        uint64_t at = (base ? base : orig) +
                      g_test_rand_int_range(0, RAS_GHES_REGS_LEN + 16);

        moved += base && base != orig;
        unplaced += !base;

        switch (g_test_rand_int_range(0, 12)) {
        case 0 ... 3:
            /* The register page, and a little past it */
            if (g_test_rand_bit()) {
                v |= 1;                     /* an acknowledgement */
            }
            switch (g_test_rand_int_range(0, 4)) {
            case 0:
                qtest_writeb(qts, at, v);
                break;
            case 1:
                qtest_writew(qts, at, v);
                break;
            case 2:
                qtest_writel(qts, at, v);
                break;
            default:
                qtest_writeq(qts, at, v);
                break;
            }
            break;
        case 4: {
            uint64_t a = cpu_to_le64(addrs[g_test_rand_int_range(0, 12)]);

            ras_fw_cfg_write(qts, f->select, &a,
                             g_test_rand_int_range(0, 4) ? 8 :
                             g_test_rand_int_range(1, 8));
            break;
        }
        case 5 ... 6:
            qobject_unref(qtest_qmp(qts, "{ 'execute': "
                "'inject-memory-error', 'arguments': { 'address': %"
                PRIu64 " } }", (uint64_t)ERROR_PAGE +
                4096 * g_test_rand_int_range(0, 64)));
            break;
        case 7:
            qobject_unref(qtest_qmp(qts, "{ 'execute': "
                "'inject-memory-error', 'arguments': { 'address': %"
                PRIu64 ", 'action-required': true, 'cpu-index': %d } }",
                (uint64_t)ERROR_PAGE + 4096 * g_test_rand_int_range(0, 64),
                g_test_rand_int_range(0, RAS_NR_CPUS)));
            break;
        case 8 ... 9:
            if (base) {
                guest_ack_at(qts, base,
                             g_test_rand_int_range(0, RAS_GHES_SOURCES));
            }
            break;
        case 10:
            qtest_clock_step(qts, g_test_rand_int_range(0, 2) ?
                             RAS_FW_ASYNC_MAX_WAIT_NS : 1000000);
            break;
        default:
            if (!g_test_rand_int_range(0, 10)) {
                check_decoy(qts);
                qtest_qmp_assert_success(qts, "{ 'execute': "
                                         "'system_reset' }");
                qtest_qmp_eventwait(qts, "RESET");
                if (g_test_rand_bit()) {
                    ras_fw_run_loader(&fw);
                    orig = ras_ghes_blob(&fw);
                }
            }
            break;
        }
    }
    current_blob(qts);
    g_test_message("steps with the blob elsewhere: %d, not placed: %d",
                   moved, unplaced);
    check_decoy(qts);
    qtest_quit(qts);
}

/* A new machine, waiting for a migration stream */
static QTestState *start_incoming(RasFw *fw, const char *extra)
{
    g_autofree char *args = g_strdup_printf("-incoming defer %s",
                                            extra ?: "");

    return start(fw, args);
}

/* Records for @n pages from ERROR_PAGE on, to the asynchronous source */
static void inject_records(QTestState *qts, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                                 "'arguments': { 'address': %" PRIu64
                                 " } }", (uint64_t)ERROR_PAGE + 4096 * i);
    }
}

/* Take the asynchronous record the way Linux does, with no time passing */
static void take_async_record(RasFw *fw)
{
    uint64_t ack = ras_ghes_ack_reg(fw, 0);

    qtest_writel(fw->qts, ras_ghes_block(fw, 0), 0);
    qtest_writeq(fw->qts, ack, qtest_readq(fw->qts, ack) | 1);
}

/*
 * The window: at most RAS_GHES_ASYNC_WINDOW acknowledged errors in doubt.
 * A qtest guest never idles, so only guesses free them: the first takes
 * the window for done but keeps it in doubt, the second frees it.
 */
static void test_async_window(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, NULL);
    uint64_t pas[RAS_GHES_ASYNC_WINDOW];
    int n;

    ras_fw_run_loader(&fw);
    inject_records(qts, 40);
    /* Nothing in doubt yet: the first goes alone, at once */
    g_assert_cmpint(ras_ghes_record_pas(&fw, 0, pas, 15), ==, 1);
    take_async_record(&fw);
    /* The rest of the window, in one record, as soon as it is taken */
    n = ras_ghes_record_pas(&fw, 0, pas, ARRAY_SIZE(pas));
    g_assert_cmpint(n, ==, RAS_GHES_ASYNC_WINDOW - 1);
    g_assert_cmphex(pas[0], ==, ERROR_PAGE + 4096);
    take_async_record(&fw);
    /* A window in doubt: nothing more until the guest shows progress */
    qtest_clock_step(qts, 100 * 1000 * 1000);
    g_assert_cmpint(qtest_readl(qts, ras_ghes_block(&fw, 0)), ==, 0);
    /* The first guess (500 ms, a guest neither idle nor running) */
    qtest_clock_step(qts, 500 * 1000 * 1000);
    g_assert_cmpint(qtest_readl(qts, ras_ghes_block(&fw, 0)), ==, 0);
    /* The second: the next window, whole */
    qtest_clock_step(qts, 500 * 1000 * 1000);
    n = ras_ghes_record_pas(&fw, 0, pas, ARRAY_SIZE(pas));
    g_assert_cmpint(n, ==, RAS_GHES_ASYNC_WINDOW);
    g_assert_cmphex(pas[0], ==, ERROR_PAGE + 15 * 4096);
    qtest_quit(qts);
}


/* Save the state of a machine with records in its sources */
static void save_stream(RasStream *stream)
{
    RasFw fw;
    QTestState *qts = start(&fw, NULL);

    ras_fw_run_loader(&fw);
    /* A record in the asynchronous block, two waiting, one SEA record */
    inject_records(qts, 3);
    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 ", "
                             "'action-required': true, 'cpu-index': 1 } }",
                             (uint64_t)ERROR_PAGE + 8 * 4096);
    qtest_qmp_assert_success(qts, "{ 'execute': 'stop' }");
    ras_stream_save(stream, qts);
}

/*
 * In the saved stream, the length of the register page: after the
 * section's idstr, instance and version, and the blob address
 */
static uint8_t *stream_regs(RasStream *stream)
{
    uint8_t *p = ras_stream_section(stream, "acpi-ghes") +
                 strlen("acpi-ghes") + 4 + 4 + 8;

    g_assert_cmpint(ldl_be_p(p), ==, RAS_GHES_REGS_LEN);
    return p;
}

/*
 * In the saved stream, the count of queued records (the two that
 * save_stream() leaves waiting): after the register page
 */
static uint8_t *stream_queue(RasStream *stream)
{
    uint8_t *p = stream_regs(stream) + 4 + RAS_GHES_REGS_LEN;

    g_assert_cmpint(ldl_be_p(p), ==, 2);
    return p;
}

/*
 * Write @stream, which a new machine (@extra on its command line) must
 * refuse with @needle in the error
 */
static void stream_refused(RasStream *stream, const char *extra,
                           const char *needle)
{
    RasFw fw;
    QTestState *qts;

    int i;

    ras_stream_write(stream, stream->buf, stream->len);
    qts = start_incoming(&fw, extra);
    ras_stream_refused(stream, qts, needle);
    /* Nothing of the refused stream reached the machine, which may go on */
    for (i = 0; i < RAS_GHES_SOURCES; i++) {
        g_assert_cmpint(ras_ghes_source_int(qts, i, "records"), ==, 0);
        g_assert_cmpint(ras_ghes_source_int(qts, i, "errors"), ==, 0);
    }
    qtest_quit(qts);
}

/*
 * A count of queued records that no queue can hold, on a machine whose
 * queue-size would let it pass: refused before anything is allocated.
 * Negative (VMState would take it for a size), and above the hard bound
 * of 2^20 records however large queue-size is.
 */
static void test_stream_huge_queue(void)
{
    static const uint32_t counts[] = { 0x80000000u, 2000000 };
    int i;

    for (i = 0; i < ARRAY_SIZE(counts); i++) {
        g_autoptr(RasStream) stream = ras_stream_new();

        save_stream(stream);
        stl_be_p(stream_queue(stream), counts[i]);
        stream_refused(stream, "-global acpi-ghes.queue-size=4000000",
                       "queued records within bounds");
    }
}

/*
 * A queued record's length that no error status block holds (none, or
 * more than a block): refused before the record is allocated.
 */
static void test_stream_record_length(void)
{
    static const uint32_t lens[] = { 0, RAS_GHES_BLOCK_LEN + 1, 0xffffffffu };
    int i;

    for (i = 0; i < ARRAY_SIZE(lens); i++) {
        g_autoptr(RasStream) stream = ras_stream_new();

        save_stream(stream);
        /* The first record's length, then its bytes */
        g_assert_cmpint(ldl_be_p(stream_queue(stream) + 4), ==,
                        RAS_GHES_RECORD_LEN);
        stl_be_p(stream_queue(stream) + 4, lens[i]);
        stream_refused(stream, NULL, "record fits an error status block");
    }
}

/*
 * A blob address firmware could not have written (not page aligned, not
 * RAM) fails the load: disabling GHES quietly would also let the guest OS
 * place the blob where it likes.
 */
static void test_stream_bad_blob_address(void)
{
    g_autoptr(RasStream) stream = ras_stream_new();
    uint8_t *addr;
    uint64_t base;

    save_stream(stream);
    /* Just before the register page's length */
    addr = stream_regs(stream) - 8;
    base = ldq_le_p(addr);
    g_assert_cmphex(base & 0xfff, ==, 0);
    stq_le_p(addr, base + 0x800);
    stream_refused(stream, NULL, "acpi-ghes");
    /* Page aligned, but in the flash below RAM */
    stq_le_p(addr, 0x1000);
    stream_refused(stream, NULL, "acpi-ghes");
}

/*
 * A source waiting for the acknowledgement of a block the guest emptied
 * (a guest stopped between the two, or a stream that says so): the guest
 * gets a second of running time to acknowledge it, then the source is
 * freed and the records queued behind it go on.
 */
static void test_stream_unacked_empty_block(void)
{
    g_autoptr(RasStream) stream = ras_stream_new();
    RasFw fw, saved;
    QTestState *qts = start(&fw, NULL);
    QDict *src;
    int i;

    ras_fw_run_loader(&fw);
    inject_records(qts, 2);
    /* The guest clears block_status, and stops before it acknowledges */
    qtest_writel(qts, ras_ghes_block(&fw, 0), 0);
    qtest_qmp_assert_success(qts, "{ 'execute': 'stop' }");
    ras_stream_save(stream, qts);
    saved = fw;

    qts = start_incoming(&fw, NULL);
    g_assert_cmpstr(ras_stream_load(stream, qts), ==, "completed");
    fw = saved;
    fw.qts = qts;
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");
    /* Time to acknowledge it first */
    qtest_clock_step(qts, 500 * 1000 * 1000);
    src = ras_ghes_source(qts, 0);
    g_assert(!qdict_get_bool(src, "acknowledged"));
    g_assert_cmpint(qdict_get_int(src, "queued"), ==, 1);
    qobject_unref(src);
    /* Then freed: the record queued behind it comes */
    for (i = 0; i < 100 && !qtest_readl(qts, ras_ghes_block(&fw, 0)); i++) {
        qtest_clock_step(qts, 10 * 1000 * 1000);
    }
    g_assert_cmphex(ras_ghes_record_pa(&fw, 0), ==, ERROR_PAGE + 4096);
    src = ras_ghes_source(qts, 0);
    g_assert_cmpint(qdict_get_int(src, "queued"), ==, 0);
    qobject_unref(src);
    qtest_quit(qts);
}

/*
 * Our part of a migration stream, mutated at random: lengths, counts,
 * records, the blob address, the register pages.  Each load completes or
 * fails; QEMU never dies of it (libqtest aborts if it does), and a
 * machine that took the stream still works.
 */
static void test_random_streams(void)
{
    static const uint32_t any_word[] = {
        0, 1, 4, 180, 1024, 1025, 4096, 0x10000, 0x7fffffff, 0x80000000,
        0xfffffffc, 0xffffffff,
    };
    g_autoptr(RasStream) stream = ras_stream_new();
    const uint8_t *good, *ghes, *p, *end;
    uint8_t footer[5];
    RasFw fw;
    QTestState *qts;
    size_t start_off, span, hot[16], nr_hot = 0;
    gsize len;
    int i, j, results[2] = { 0 };

    save_stream(stream);
    good = stream->buf;
    len = stream->len;
    ghes = ras_stream_section(stream, "acpi-ghes");
    start_off = ghes - good;
    /* The section: addresses, register page, queue, counters */
    span = MIN(len - start_off, 64 + RAS_GHES_REGS_LEN +
                                4 * (4 + RAS_GHES_RECORD_LEN) + 256);
    /*
     * And nothing past its footer (the section id after the footer byte,
     * as in its header before the name's length): the next section is
     * fw_cfg's, whose ACPI blob sizes upstream resizes with &error_abort
     */
    footer[0] = 0x7e;                       /* QEMU_VM_SECTION_FOOTER */
    memcpy(footer + 1, ghes - 5, 4);
    end = memmem(ghes, good + len - ghes, footer, sizeof(footer));
    g_assert(end);
    span = MIN(span, end - ghes);
    /* Its header and registers, and where each record starts */
    hot[nr_hot++] = start_off;
    hot[nr_hot++] = start_off + 32;
    hot[nr_hot++] = start_off + 64;
    p = ghes;
    while (nr_hot < ARRAY_SIZE(hot) &&
           (p = memmem(p + 1, good + start_off + span - p - 1,
                       ras_cper_mem_err_guid,
                       sizeof(ras_cper_mem_err_guid)))) {
        hot[nr_hot++] = p - good - 24;      /* queue length, header */
        hot[nr_hot++] = p - good + 12;      /* entry severity, lengths */
    }
    g_assert_cmpint(nr_hot, ==, 7);         /* the two records queued */

    for (i = 0; i < 30; i++) {
        g_autofree uint8_t *buf = g_memdup2(good, len);
        const char *st;

        for (j = g_test_rand_int_range(1, 5); j > 0; j--) {
            size_t at = start_off + g_test_rand_int_range(0, span - 4);
            uint32_t w;

            /* Mostly where it matters: the header fields, a record's */
            if (g_test_rand_int_range(0, 4)) {
                at = hot[g_test_rand_int_range(0, nr_hot)] +
                     g_test_rand_int_range(0, 32);
            }
            w = any_word[g_test_rand_int_range(0, ARRAY_SIZE(any_word))];

            switch (g_test_rand_int_range(0, 3)) {
            case 0:
                buf[at] = g_test_rand_int();
                break;
            case 1:
                stl_be_p(buf + at, w);      /* a VMState field */
                break;
            default:
                stl_le_p(buf + at, w);      /* a record's own field */
                break;
            }
        }
        ras_stream_write(stream, buf, len);

        qts = start_incoming(&fw, NULL);
        st = ras_stream_load(stream, qts);
        results[!strcmp(st, "completed")]++;
        if (!strcmp(st, "completed")) {
            /* What it took, it can use */
            qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");
            current_blob(qts);
            qobject_unref(qtest_qmp(qts, "{ 'execute': "
                "'inject-memory-error', 'arguments': { 'address': %"
                PRIu64 " } }", (uint64_t)ERROR_PAGE));
            qtest_clock_step(qts, RAS_FW_ASYNC_MAX_WAIT_NS);
        }
        qtest_qmp_assert_success(qts, "{ 'execute': 'query-status' }");
        qtest_quit(qts);
    }
    g_test_message("mutated streams: %d loaded, %d refused", results[1],
                   results[0]);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    if (!qtest_has_machine("virt")) {
        return g_test_run();
    }
    qtest_add_func("/ghes/hest", test_hest);
    qtest_add_func("/ghes/inject-and-ack", test_inject_and_ack);
    qtest_add_func("/ghes/raw-cper", test_raw_cper);
    qtest_add_func("/ghes/corrected-threshold", test_corrected_threshold);
    qtest_add_func("/ghes/queue", test_queue);
    qtest_add_func("/ghes/async-window", test_async_window);
    qtest_add_func("/ghes/sea-coalesce", test_sea_coalesce);
    qtest_add_func("/ghes/bad-input", test_bad_input);
    qtest_add_func("/ghes/ras-off", test_ras_off);
    qtest_add_func("/ghes/guest-scribbles", test_guest_scribbles);
    qtest_add_func("/ghes/bad-blob-address", test_bad_blob_address);
    qtest_add_func("/ghes/reset", test_reset);
    qtest_add_func("/ghes/many-cpus", test_many_cpus);
    qtest_add_func("/ghes/migration", test_migration);
    qtest_add_func("/ghes/random-qmp-args", test_random_qmp_args);
    qtest_add_func("/ghes/random-host-failure-args",
                   test_random_host_failure_args);
    qtest_add_func("/ghes/random-guest-writes", test_random_guest_writes);
    qtest_add_func("/ghes/random-streams", test_random_streams);
    qtest_add_func("/ghes/stream-huge-queue", test_stream_huge_queue);
    qtest_add_func("/ghes/stream-bad-blob-address",
                   test_stream_bad_blob_address);
    qtest_add_func("/ghes/stream-unacked-empty-block",
                   test_stream_unacked_empty_block);
    qtest_add_func("/ghes/stream-record-length",
                   test_stream_record_length);
    return g_test_run();
}
