/*
 * QTest of the GHES error sources of arm virt machine types older than
 * ours (virt-10.2 and before): QEMU 10.2's tables, blob layout and
 * migration stream, and errors still delivered through them
 * (docs/specs/memory-failure.rst, "Compatibility with QEMU 10.2.2").
 *
 * With RAS_UPSTREAM_QEMU_AARCH64 naming upstream QEMU 10.2.2's binary
 * (tests/ras/bench/build-upstream), the fw_cfg files firmware reads are
 * compared with that QEMU's byte for byte.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "ras-firmware.h"

#define GED_BASE            0x09080000ull
#define GED_ERROR_EVT       0x20
#define ERROR_PAGE          (RAS_VIRT_RAM_BASE + 0x10000000ull)
#define GHES_V2_LEN         92
#define BLOCK_LEN           1024

/* QEMU 10.2's blob for @n sources: registers, then blocks, no padding */
#define REGS_LEN(n)         (16 * (n))
#define BLOB_LEN(n)         (REGS_LEN(n) + BLOCK_LEN * (n))

static QTestState *start(RasFw *fw, const char *machine, const char *extra)
{
    QTestState *qts = qtest_initf("-machine %s,ras=on -cpu max -smp %d "
                                  "-m 1G -nic none -bios %s %s", machine,
                                  RAS_NR_CPUS, ras_fw_dummy_bios(),
                                  extra ?: "");

    ras_fw_init(fw, qts);
    return qts;
}

static uint64_t blob(RasFw *fw)
{
    return ras_fw_file(fw, "etc/hardware_errors")->addr;
}

static uint64_t block(RasFw *fw, int n, int i)
{
    return blob(fw) + REGS_LEN(n) + BLOCK_LEN * i;
}

static uint64_t ack_reg(RasFw *fw, int n, int i)
{
    return blob(fw) + 8 * (n + i);
}

/* The guest takes source @i's record as Linux does: clear, acknowledge */
static void guest_ack(RasFw *fw, int n, int i)
{
    qtest_writel(fw->qts, block(fw, n, i), 0);
    qtest_writeq(fw->qts, ack_reg(fw, n, i),
                 qtest_readq(fw->qts, ack_reg(fw, n, i)) | 1);
}

static void inject(QTestState *qts, uint64_t addr)
{
    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 " } }",
                             addr);
}

/* The physical address of the memory error in source @i's block */
static uint64_t record_pa(RasFw *fw, int n, int i)
{
    return qtest_readq(fw->qts, block(fw, n, i) + RAS_GHES_RECORD_PA);
}

static void check_gas(QTestState *qts, uint64_t gas, uint64_t addr)
{
    g_assert_cmpint(qtest_readb(qts, gas), ==, 0);      /* SystemMemory */
    g_assert_cmpint(qtest_readb(qts, gas + 1), ==, 64);
    g_assert_cmpint(qtest_readb(qts, gas + 3), ==, 4);  /* QWord access */
    g_assert_cmphex(qtest_readq(qts, gas + 4), ==, addr);
}

/*
 * HEST and blob of QEMU 10.2's sources: @n of them, source 0 notified by
 * SEA, source 1 (10.1 and 10.2) through the GED
 */
static void check_tables(RasFw *fw, int n)
{
    QTestState *qts = fw->qts;
    uint32_t len = 0;
    uint64_t hest = ras_fw_find_table(fw, "HEST", &len);
    QDict *rsp, *ret;
    QList *sources;
    int i;

    g_assert(hest);
    g_assert_cmpint(len, ==, 40 + GHES_V2_LEN * n);
    g_assert_cmpint(qtest_readl(qts, hest + 36), ==, n);
    g_assert_cmpint(ras_fw_file(fw, "etc/hardware_errors")->size, ==,
                    BLOB_LEN(n));
    for (i = 0; i < n; i++) {
        uint64_t e = hest + 40 + GHES_V2_LEN * i;

        g_assert_cmpint(qtest_readw(qts, e), ==, 10);
        g_assert_cmpint(qtest_readw(qts, e + 2), ==, i);
        g_assert_cmpint(qtest_readb(qts, e + 32), ==, i ? 7 : 8);
        check_gas(qts, e + 20, blob(fw) + 8 * i);
        check_gas(qts, e + 64, ack_reg(fw, n, i));
        g_assert_cmphex(qtest_readq(qts, blob(fw) + 8 * i), ==,
                        block(fw, n, i));
        g_assert_cmphex(qtest_readq(qts, ack_reg(fw, n, i)), ==, 1);
    }

    rsp = qtest_qmp(qts, "{ 'execute': 'query-ghes' }");
    ret = qdict_get_qdict(rsp, "return");
    g_assert_cmphex(qdict_get_int(ret, "blob-address"), ==, blob(fw));
    sources = qdict_get_qlist(ret, "sources");
    g_assert_cmpint(qlist_size(sources), ==, n);
    for (i = 0; i < n; i++) {
        QDict *s = qobject_to(QDict, qlist_pop(sources));

        g_assert_cmpint(qdict_get_int(s, "source-id"), ==, i);
        g_assert_cmpstr(qdict_get_str(s, "notification"), ==,
                        i ? "gpio" : "sea");
        g_assert_cmphex(qdict_get_int(s, "block-address"), ==,
                        block(fw, n, i));
        /* one SEA source for every vCPU: it is no vCPU's own */
        g_assert(!qdict_haskey(s, "cpu-index"));
        qobject_unref(s);
    }
    qobject_unref(rsp);
}

/*
 * virt-10.2: firmware reports the HEST's address, QEMU finds the blob
 * through it; errors go to source 1 and wait there as on our sources,
 * though no trap sees the guest's acknowledgement
 */
static void test_10_2_tables_and_delivery(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, "virt-10.2", NULL);
    const int n = 2;

    ras_fw_run_loader(&fw);
    g_assert(ras_fw_file(&fw, "etc/acpi_table_hest_addr"));
    g_assert(!ras_fw_file(&fw, "etc/hardware_errors_addr"));
    check_tables(&fw, n);

    qtest_readl(qts, GED_BASE);
    inject(qts, ERROR_PAGE);
    g_assert_cmphex(record_pa(&fw, n, 1), ==, ERROR_PAGE);
    g_assert_cmphex(qtest_readq(qts, ack_reg(&fw, n, 1)), ==, 0);
    g_assert_cmphex(qtest_readl(qts, GED_BASE) & GED_ERROR_EVT, ==,
                    GED_ERROR_EVT);
    /* The SEA source is untouched */
    g_assert_cmphex(qtest_readl(qts, block(&fw, n, 0)), ==, 0);

    /*
     * The next wait for the acknowledgement, then come in by themselves,
     * one error a record as QEMU 10.2 wrote them (ours batch them)
     */
    inject(qts, ERROR_PAGE + 4096);
    inject(qts, ERROR_PAGE + 3 * 4096);
    ras_assert_queue(qts, "ghes", -1, 2, 1, 0);
    guest_ack(&fw, n, 1);
    qtest_clock_step(qts, 2 * 1000 * 1000);
    g_assert_cmphex(record_pa(&fw, n, 1), ==, ERROR_PAGE + 4096);
    g_assert_cmphex(qtest_readl(qts, block(&fw, n, 1)), ==, 1 | (1 << 4));
    ras_assert_queue(qts, "ghes", -1, 1, 2, 0);

    /* Action required: the SEA source, whichever vCPU */
    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 ", "
                             "'action-required': true, 'cpu-index': 1 } }",
                             (uint64_t)ERROR_PAGE + 8192);
    g_assert_cmphex(record_pa(&fw, n, 0), ==, ERROR_PAGE + 8192);
    qtest_quit(qts);
}

/* virt-10.0: one SEA source, the blob's address reported directly */
static void test_10_0_tables(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, "virt-10.0", NULL);

    ras_fw_run_loader(&fw);
    g_assert(ras_fw_file(&fw, "etc/hardware_errors_addr"));
    g_assert(!ras_fw_file(&fw, "etc/acpi_table_hest_addr"));
    check_tables(&fw, 1);
    ras_assert_error(qts, "no asynchronous GHES error source",
                     "{ 'execute': 'inject-memory-error', 'arguments': "
                     "{ 'address': %" PRIu64 " } }", (uint64_t)ERROR_PAGE);
    qtest_quit(qts);
}

/* At @at, a HEST of virt-10.2's two sources pointing into a blob at @blob */
static void fake_hest(QTestState *qts, uint64_t at, uint64_t blob)
{
    uint8_t t[40 + 2 * GHES_V2_LEN] = "HEST";
    int i;

    stl_le_p(t + 4, sizeof(t));
    stl_le_p(t + 36, 2);
    for (i = 0; i < 2; i++) {
        uint8_t *e = t + 40 + GHES_V2_LEN * i;

        stw_le_p(e, 10);
        stw_le_p(e + 2, i);
        stq_le_p(e + 24, blob + 8 * i);
        stq_le_p(e + 68, blob + 8 * (2 + i));
    }
    qtest_memwrite(qts, at, t, sizeof(t));
}

/*
 * A HEST address that is not this machine's HEST (the guest OS writing
 * the fw_cfg file first, say) leaves GHES disabled, and firmware may
 * report the real one after it
 */
static void test_10_2_bad_hest_address(void)
{
    RasFw fw;
    /* Guest errors logged: the messages of the refusals are built too */
    QTestState *qts = start(&fw, "virt-10.2", "-d guest_errors -D /dev/null");
    RasFwFile *f;
    uint64_t bad = cpu_to_le64(ERROR_PAGE);
    QDict *rsp;

    ras_fw_run_loader(&fw);
    qtest_qmp_assert_success(qts, "{ 'execute': 'system_reset' }");
    f = ras_fw_file(&fw, "etc/acpi_table_hest_addr");
    ras_fw_cfg_write(qts, f->select, &bad, sizeof(bad));
    rsp = qtest_qmp(qts, "{ 'execute': 'query-ghes' }");
    g_assert(!qdict_haskey(qdict_get_qdict(rsp, "return"), "blob-address"));
    qobject_unref(rsp);
    /*
     * A HEST of the right shape whose blob would be at 0: refused too
     * (the stream, or the guest, can put one there)
     */
    qtest_qmp_assert_success(qts, "{ 'execute': 'system_reset' }");
    fake_hest(qts, ERROR_PAGE + 0x1000, 0);
    bad = cpu_to_le64(ERROR_PAGE + 0x1000);
    ras_fw_cfg_write(qts, f->select, &bad, sizeof(bad));
    rsp = qtest_qmp(qts, "{ 'execute': 'query-ghes' }");
    g_assert(!qdict_haskey(qdict_get_qdict(rsp, "return"), "blob-address"));
    qobject_unref(rsp);
    ras_assert_error(qts, "not placed", "{ 'execute': 'inject-memory-error', "
                     "'arguments': { 'address': %" PRIu64 " } }",
                     (uint64_t)ERROR_PAGE);
    ras_fw_run_loader(&fw);
    check_tables(&fw, 2);
    qtest_quit(qts);
}

/* Whether the stream holds device section @idstr (not a mere mention) */
static bool has_section(RasStream *stream, const char *idstr)
{
    g_autofree char *key = g_strdup_printf("%c%s", (int)strlen(idstr),
                                           idstr);

    return memmem(stream->buf, stream->len, key, strlen(key));
}

/*
 * Migration of virt-10.2: nothing of ours in the stream while nothing
 * waits (QEMU 10.2 loads it), and the destination finds the blob
 * through the GED's HEST address alone; records waiting travel in our
 * section, which QEMU 10.2 would refuse
 */
static void test_10_2_migration(void)
{
    const int n = 2;
    g_autoptr(RasStream) stream = ras_stream_new();
    RasFw fw, dst;
    QTestState *qts;
    uint64_t src_blob;

    qts = start(&fw, "virt-10.2", NULL);
    ras_fw_run_loader(&fw);
    src_blob = blob(&fw);
    inject(qts, ERROR_PAGE);
    qtest_qmp_assert_success(qts, "{ 'execute': 'stop' }");
    ras_stream_save(stream, qts);
    g_assert(!has_section(stream, "acpi-ghes"));
    g_assert(has_section(stream, "acpi-ged/hest"));

    qts = start(&dst, "virt-10.2", "-incoming defer");
    g_assert_cmpstr(ras_stream_load(stream, qts), ==, "completed");
    ras_assert_queue(qts, "ghes", -1, 0, 0, 0);
    /* The destination's firmware never ran: only the stream says where */
    g_assert_cmphex(qtest_readq(qts, src_blob + REGS_LEN(n) + BLOCK_LEN +
                                RAS_GHES_RECORD_PA), ==, ERROR_PAGE);
    {
        QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-ghes' }");

        g_assert_cmphex(qdict_get_int(qdict_get_qdict(rsp, "return"),
                                      "blob-address"), ==, src_blob);
        qobject_unref(rsp);
    }
    /* The guest takes the record; the next one reaches it */
    qtest_writel(qts, src_blob + REGS_LEN(n) + BLOCK_LEN, 0);
    qtest_writeq(qts, src_blob + 8 * (n + 1), 1);
    inject(qts, ERROR_PAGE + 4096);
    g_assert_cmphex(qtest_readq(qts, src_blob + REGS_LEN(n) + BLOCK_LEN +
                                RAS_GHES_RECORD_PA), ==, ERROR_PAGE + 4096);
    /* ... and one more waits: now the state is ours to send */
    inject(qts, ERROR_PAGE + 8192);
    ras_assert_queue(qts, "ghes", -1, 1, -1, 0);
    qtest_qmp_assert_success(qts, "{ 'execute': 'stop' }");
    ras_stream_save(stream, qts);
    g_assert(has_section(stream, "acpi-ghes"));

    qts = start(&dst, "virt-10.2", "-incoming defer");
    g_assert_cmpstr(ras_stream_load(stream, qts), ==, "completed");
    ras_assert_queue(qts, "ghes", -1, 1, -1, 0);
    /* Saved stopped, loaded stopped: the queue moves once it runs */
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");
    qtest_writel(qts, src_blob + REGS_LEN(n) + BLOCK_LEN, 0);
    qtest_writeq(qts, src_blob + 8 * (n + 1), 1);
    qtest_clock_step(qts, 2 * RAS_FW_ASYNC_MAX_WAIT_NS);
    g_assert_cmphex(qtest_readq(qts, src_blob + REGS_LEN(n) + BLOCK_LEN +
                                RAS_GHES_RECORD_PA), ==, ERROR_PAGE + 8192);
    ras_assert_queue(qts, "ghes", -1, 0, -1, 0);
    qtest_quit(qts);
}

/* The machine type's own: ours, on virt-11.0 */
static void test_11_0_ours(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, "virt-11.0", NULL);
    uint32_t len = 0;

    ras_fw_run_loader(&fw);
    g_assert(ras_fw_find_table(&fw, "HEST", &len));
    g_assert_cmpint(len, ==, 40 + GHES_V2_LEN * RAS_GHES_SOURCES);
    g_assert(ras_fw_file(&fw, "etc/hardware_errors_addr"));
    g_assert(!ras_fw_file(&fw, "etc/acpi_table_hest_addr"));
    qtest_quit(qts);
}

/*
 * What firmware reads, as upstream QEMU 10.2.2 offers it on the same
 * command line: the tables, the loader script, the blob
 */
static void test_same_as_upstream(const void *opaque)
{
    const char *machine = opaque;
    static const char *const files[] = {
        "etc/acpi/tables", "etc/table-loader", "etc/hardware_errors",
    };
    const char *upstream = g_getenv("RAS_UPSTREAM_QEMU_AARCH64");
    g_autofree char *args = NULL;
    QTestState *ours, *theirs;
    RasFw fo, ft;
    int i;

    if (!upstream) {
        g_test_skip("RAS_UPSTREAM_QEMU_AARCH64 not set");
        return;
    }
    args = g_strdup_printf("-machine %s,ras=on -cpu max -smp %d -m 1G "
                           "-nic none -bios %s", machine, RAS_NR_CPUS,
                           ras_fw_dummy_bios());
    g_setenv("RAS_UPSTREAM_BINARY", upstream, true);
    theirs = qtest_init_ext("RAS_UPSTREAM_BINARY", args, NULL, true);
    ours = qtest_init(args);
    ras_fw_init(&ft, theirs);
    ras_fw_init(&fo, ours);
    ras_fw_run_loader(&ft);
    ras_fw_run_loader(&fo);
    for (i = 0; i < ARRAY_SIZE(files); i++) {
        RasFwFile *a, *b;
        g_autofree uint8_t *da = NULL, *db = NULL;

        a = ras_fw_file(&fo, files[i]);
        b = ras_fw_file(&ft, files[i]);
        g_assert(a && b);
        g_test_message("%s: %u bytes, upstream %u", files[i], a->size,
                       b->size);
        g_assert_cmpint(a->size, ==, b->size);
        /* Placed by the same firmware: the same bytes after linking */
        da = g_malloc(a->size);
        db = g_malloc(b->size);
        qtest_memread(ours, a->addr, da, a->size);
        qtest_memread(theirs, b->addr, db, b->size);
        g_assert_cmphex(a->addr, ==, b->addr);
        g_assert(!memcmp(da, db, a->size));
    }
    qtest_quit(ours);
    qtest_quit(theirs);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/ghes-compat/virt-10.2/tables-and-delivery",
                   test_10_2_tables_and_delivery);
    qtest_add_func("/ghes-compat/virt-10.2/bad-hest-address",
                   test_10_2_bad_hest_address);
    qtest_add_func("/ghes-compat/virt-10.2/migration", test_10_2_migration);
    qtest_add_func("/ghes-compat/virt-10.0/tables", test_10_0_tables);
    qtest_add_func("/ghes-compat/virt-11.0/ours", test_11_0_ours);
    qtest_add_data_func("/ghes-compat/virt-10.2/same-as-upstream",
                        "virt-10.2", test_same_as_upstream);
    qtest_add_data_func("/ghes-compat/virt-10.0/same-as-upstream",
                        "virt-10.0", test_same_as_upstream);
    return g_test_run();
}
