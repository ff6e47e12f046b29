/*
 * QTest of firmware-first memory errors on x86 (pc and q35, ras=on)
 *
 * The test plays the firmware's part (ras-firmware.c), then checks the
 * HEST's one GHESv2 source, notified by SCI, and the DSDT's error device
 * and GPE method; that a record raises that GPE on the ICH9, again for
 * each record the guest's acknowledgement lets in; that a host memory
 * error no vCPU consumes becomes a record, not a machine check, once the
 * firmware has placed the blocks; and which machine types refuse ras=on.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "ras-firmware.h"

#define ERROR_PAGE          ((uint64_t)0x10000000)
#define GHES_V2_LEN         92

/* ICH9 (docs: Intel 82801I datasheet): LPC at 00:1f.0, its PM I/O base */
#define LPC_PMBASE          0x40
#define LPC_ACPI_CNTL       0x44
#define PM_IO_BASE          0x600
#define GPE0_STS            (PM_IO_BASE + 0x20)
#define GPE0_EN             (PM_IO_BASE + 0x28)
/* the GPE of ACPI_GENERIC_ERROR (hw/acpi/ghes-gpe.c) */
#define GHES_GPE            7

static QTestState *start(RasFw *fw, const char *machine, const char *extra)
{
    QTestState *qts = qtest_initf("-machine %s -m 1G -nodefaults %s",
                                  machine, extra ? extra : "");

    ras_fw_init(fw, qts);
    return qts;
}

static void lpc_config_write(QTestState *qts, uint8_t reg, uint32_t val,
                             int size)
{
    qtest_outl(qts, 0xcf8, 0x80000000u | (0x1f << 11) | (reg & ~3));
    if (size == 1) {
        qtest_outb(qts, 0xcfc + (reg & 3), val);
    } else {
        qtest_outl(qts, 0xcfc, val);
    }
}

/* What firmware does on q35: the PM registers at 0x600, ACPI on */
static void ich9_acpi_enable(QTestState *qts)
{
    lpc_config_write(qts, LPC_PMBASE, PM_IO_BASE | 1, 4);
    lpc_config_write(qts, LPC_ACPI_CNTL, 0x80, 1);
}

static bool gpe_raised(QTestState *qts)
{
    return qtest_inb(qts, GPE0_STS) & (1 << GHES_GPE);
}

static void check_gas(QTestState *qts, uint64_t gas, uint64_t addr)
{
    g_assert_cmpint(qtest_readb(qts, gas), ==, 0);      /* SystemMemory */
    g_assert_cmpint(qtest_readb(qts, gas + 1), ==, 64);
    g_assert_cmpint(qtest_readb(qts, gas + 3), ==, 4);  /* QWord access */
    g_assert_cmphex(qtest_readq(qts, gas + 4), ==, addr);
}

/* iasl -d of the table at @addr: no error, and @needle in its output */
static void check_iasl(QTestState *qts, uint64_t addr, uint32_t len,
                       const char *needle)
{
    g_autofree char *iasl = g_find_program_in_path("iasl");
    g_autofree char *dir = NULL, *path = NULL, *dsl = NULL;
    g_autofree char *out = NULL, *err = NULL, *text = NULL;
    g_autofree uint8_t *raw = g_malloc(len);
    const char *argv[] = { "iasl", "-d", NULL, NULL };
    int status;

    if (!iasl) {
        g_test_message("iasl not found: disassembly not checked");
        return;
    }
    qtest_memread(qts, addr, raw, len);
    dir = g_dir_make_tmp("ghes-x86-test-XXXXXX", NULL);
    path = g_build_filename(dir, "table.dat", NULL);
    dsl = g_build_filename(dir, "table.dsl", NULL);
    argv[2] = path;
    g_assert(g_file_set_contents(path, (char *)raw, len, NULL));
    g_assert(g_spawn_sync(dir, (char **)argv, NULL, G_SPAWN_SEARCH_PATH,
                          NULL, NULL, &out, &err, &status, NULL));
    g_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_assert(!strstr(out, "Error") && !strstr(err, "Error"));
    g_assert(g_file_get_contents(dsl, &text, NULL, NULL));
    g_assert(!strstr(text, "**** Unknown"));
    if (!strstr(text, needle)) {
        g_error("'%s' not in the disassembly:\n%s", needle, text);
    }
    unlink(dsl);
    unlink(path);
    rmdir(dir);
}

static void check_hest(const char *machine)
{
    RasFw fw;
    QTestState *qts = start(&fw, machine, NULL);
    uint32_t len = 0, dsdt_len = 0;
    uint64_t hest, dsdt, base, e;
    g_autofree uint8_t *aml = NULL;
    QDict *s;

    ras_fw_run_loader(&fw);
    hest = ras_fw_find_table(&fw, "HEST", &len);
    g_assert(hest);
    base = ras_ghes_blob(&fw);
    g_assert_cmpint(len, ==, 36 + 4 + GHES_V2_LEN);
    g_assert_cmpint(qtest_readl(qts, hest + 36), ==, 1);
    e = hest + 40;
    g_assert_cmpint(qtest_readw(qts, e), ==, 10);          /* GHESv2 */
    g_assert_cmpint(qtest_readw(qts, e + 2), ==, 0);       /* Source Id */
    g_assert_cmpint(qtest_readb(qts, e + 7), ==, 1);       /* Enabled */
    /* Several memory errors to a record, in a block of a page */
    g_assert_cmpint(qtest_readl(qts, e + 12), ==, RAS_GHES_ASYNC_WINDOW);
    g_assert_cmpint(qtest_readl(qts, e + 16), ==, RAS_GHES_ASYNC_BLOCK_LEN);
    g_assert_cmpint(qtest_readl(qts, e + 60), ==, RAS_GHES_ASYNC_BLOCK_LEN);
    check_gas(qts, e + 20, base);
    g_assert_cmpint(qtest_readb(qts, e + 32), ==, 3);      /* SCI */
    g_assert_cmpint(qtest_readb(qts, e + 33), ==, 28);
    check_gas(qts, e + 64, base + 8);                      /* read ack */
    g_assert_cmphex(qtest_readq(qts, base), ==, ras_ghes_block(&fw, 0));
    g_assert_cmphex(qtest_readq(qts, ras_ghes_ack_reg(&fw, 0)), ==, 1);
    check_iasl(qts, hest, len, "Generic Hardware Error Source V2");

    /* The error device, and the GPE method that notifies it */
    dsdt = ras_fw_find_table(&fw, "DSDT", &dsdt_len);
    if (!dsdt) {
        /* the FADT points at it; it is not in the RSDT */
        uint32_t facp_len;
        uint64_t facp = ras_fw_find_table(&fw, "FACP", &facp_len);

        g_assert(facp);
        dsdt = qtest_readl(qts, facp + 40);
        dsdt_len = qtest_readl(qts, dsdt + 4);
    }
    aml = g_malloc(dsdt_len);
    qtest_memread(qts, dsdt, aml, dsdt_len);
    g_assert(memmem(aml, dsdt_len, "PNP0C33", 7));
    g_assert(memmem(aml, dsdt_len, "_E07", 4));
    check_iasl(qts, dsdt, dsdt_len, "Notify (\\_SB.GEDD, 0x80)");

    s = ras_ghes_source(qts, 0);
    g_assert_cmpstr(qdict_get_str(s, "notification"), ==, "sci");
    g_assert(!qdict_haskey(s, "cpu-index"));
    g_assert(qdict_get_bool(s, "acknowledged"));
    qobject_unref(s);
    qtest_quit(qts);
}

static void test_hest_q35(void)
{
    check_hest("q35,ras=on");
}

static void test_hest_pc(void)
{
    check_hest("pc,ras=on");
}

/* Each record raises the GPE; one the guest has not taken waits */
static void test_gpe(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, "q35,ras=on", NULL);

    ras_fw_run_loader(&fw);
    ich9_acpi_enable(qts);
    qtest_outb(qts, GPE0_EN, 1 << GHES_GPE);
    g_assert(!gpe_raised(qts));

    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 " } }",
                             ERROR_PAGE);
    g_assert_cmphex(ras_ghes_record_pa(&fw, 0), ==, ERROR_PAGE);
    g_assert(gpe_raised(qts));
    /* the guest's GPE handler clears the status (write 1 to clear) */
    qtest_outb(qts, GPE0_STS, 1 << GHES_GPE);
    g_assert(!gpe_raised(qts));

    /* Not acknowledged: the next one waits, no event */
    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 " } }",
                             ERROR_PAGE + 4096);
    g_assert(!gpe_raised(qts));
    g_assert_cmpint(ras_ghes_source_int(qts, 0, "queued"), ==, 1);
    g_assert_cmphex(ras_ghes_record_pa(&fw, 0), ==, ERROR_PAGE);

    /* The acknowledgement lets it in, and the GPE is raised again */
    ras_ghes_ack(&fw, 0);
    g_assert_cmphex(ras_ghes_record_pa(&fw, 0), ==, ERROR_PAGE + 4096);
    g_assert(gpe_raised(qts));
    g_assert_cmpint(ras_ghes_source_int(qts, 0, "records"), ==, 2);

    /* No synchronous sources: action-required errors are machine checks */
    ras_assert_error(qts, "no synchronous error sources",
                     "{ 'execute': 'inject-memory-error', 'arguments': "
                     "{ 'address': %" PRIu64 ", 'action-required': true } }",
                     ERROR_PAGE);
    qtest_quit(qts);
}

/* QEMU 10.2's raw command: a record of the typed one, sent back */
static void test_raw_cper(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, "q35,ras=on", NULL);
    uint8_t rec[RAS_GHES_RECORD_LEN], back[RAS_GHES_RECORD_LEN];
    g_autofree char *cper = NULL;

    ras_fw_run_loader(&fw);
    ich9_acpi_enable(qts);
    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 " } }",
                             ERROR_PAGE);
    qtest_memread(qts, ras_ghes_block(&fw, 0), rec, sizeof(rec));
    stq_le_p(rec + RAS_GHES_RECORD_SEQ, 77);
    cper = g_base64_encode(rec, sizeof(rec));
    ras_ghes_ack(&fw, 0);
    qtest_outb(qts, GPE0_STS, 1 << GHES_GPE);
    g_assert(!gpe_raised(qts));

    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-ghes-v2-error', "
                             "'arguments': { 'cper': %s } }", cper);
    qtest_memread(qts, ras_ghes_block(&fw, 0), back, sizeof(back));
    g_assert(!memcmp(rec, back, sizeof(rec)));
    g_assert(gpe_raised(qts));
    qtest_quit(qts);
}

/*
 * A host memory error no vCPU consumes: a machine check until firmware
 * has placed the blocks (on qemu64, AMD: a deferred error in a bank,
 * which needs no CR4.MCE, so qtest can see it delivered), a record from
 * then on
 */
static void test_host_failure(void)
{
    RasFw fw;
    QTestState *qts = start(&fw, "q35,ras=on", "-cpu qemu64");
    QDict *ev;

    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-host-memory-failure',"
                             " 'arguments': { 'kind': 'action-optional',"
                             " 'address': %" PRIu64 " } }",
                             ERROR_PAGE);
    ev = qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(ev, "data"), "action"),
                    ==, "inject");
    qobject_unref(ev);
    g_assert_cmpint(ras_queue_int(qts, "x86-mce", "delivered"), ==, 1);
    g_assert_cmpint(ras_ghes_source_int(qts, 0, "records"), ==, 0);

    ras_fw_run_loader(&fw);
    qtest_qmp_assert_success(qts, "{ 'execute': 'inject-host-memory-failure',"
                             " 'arguments': { 'kind': 'action-optional',"
                             " 'address': %" PRIu64 " } }",
                             ERROR_PAGE + 4096);
    ev = qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(ev, "data"), "action"),
                    ==, "inject");
    qobject_unref(ev);
    g_assert_cmpint(ras_queue_int(qts, "x86-mce", "delivered"), ==, 1);
    g_assert_cmpint(ras_ghes_source_int(qts, 0, "records"), ==, 1);
    g_assert_cmphex(ras_ghes_record_pa(&fw, 0), ==, ERROR_PAGE + 4096);
    qtest_quit(qts);
}

/* The waiting record and the claimed block survive a migration */
static void test_migration(void)
{
    g_autoptr(RasStream) stream = ras_stream_new();
    g_autofree char *incoming = g_strdup_printf("-incoming %s", stream->uri);
    RasFw fw, saved;
    QTestState *src = start(&fw, "q35,ras=on", NULL), *dst;

    ras_fw_run_loader(&fw);
    qtest_qmp_assert_success(src, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 " } }",
                             ERROR_PAGE);
    qtest_qmp_assert_success(src, "{ 'execute': 'inject-memory-error', "
                             "'arguments': { 'address': %" PRIu64 " } }",
                             ERROR_PAGE + 4096);
    qtest_qmp_assert_success(src, "{ 'execute': 'stop' }");
    ras_stream_save(stream, src);
    saved = fw;

    dst = start(&fw, "q35,ras=on", incoming);
    ras_migration_completed(dst);
    g_assert_cmpint(ras_ghes_source_int(dst, 0, "queued"), ==, 1);
    qtest_qmp_assert_success(dst, "{ 'execute': 'cont' }");
    fw = saved;
    fw.qts = dst;
    ich9_acpi_enable(dst);
    qtest_outb(dst, GPE0_EN, 1 << GHES_GPE);
    ras_ghes_ack(&fw, 0);
    g_assert_cmphex(ras_ghes_record_pa(&fw, 0), ==, ERROR_PAGE + 4096);
    g_assert(gpe_raised(dst));
    qtest_quit(dst);
}

/* Run QEMU until it exits: its exit status, and its stderr in *@err */
static int run_qemu(const char *machine, char **err)
{
    const char *argv[] = { qtest_qemu_binary(NULL), "-machine", machine,
                           "-nodefaults", "-display", "none", "-S",
                           "-qtest", "stdio", NULL };
    int status;

    g_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT,
                          NULL, NULL, NULL, err, &status, NULL));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* QEMU 10.2's machine types keep 10.2's tables; ras=on needs ACPI */
static void test_machine_types(void)
{
    static const struct {
        const char *machine, *error;
    } refused[] = {
        { "pc-q35-10.2,ras=on", "needs a machine type of QEMU 11.0" },
        { "pc-i440fx-10.2,ras=on", "needs a machine type of QEMU 11.0" },
        { "q35,ras=on,acpi=off", "ras=on needs ACPI" },
        { "pc,ras=on,acpi=off", "ras=on needs ACPI" },
    };
    RasFw fw;
    QTestState *qts;
    QDict *rsp;
    int i;

    for (i = 0; i < ARRAY_SIZE(refused); i++) {
        g_autofree char *err = NULL;

        g_assert_cmpint(run_qemu(refused[i].machine, &err), ==, 1);
        if (!strstr(err, refused[i].error)) {
            g_error("%s: '%s' not in: %s", refused[i].machine,
                    refused[i].error, err);
        }
    }

    /* ras=off, the default: no HEST, no blob, no sources */
    qts = start(&fw, "q35", NULL);
    ras_fw_run_loader(&fw);
    g_assert(!ras_fw_find_table(&fw, "HEST", &(uint32_t){ 0 }));
    g_assert(!ras_fw_file(&fw, "etc/hardware_errors"));
    rsp = qtest_qmp(qts, "{ 'execute': 'query-ghes' }");
    g_assert(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    if (!qtest_has_machine("q35")) {
        return g_test_run();
    }
    qtest_add_func("/ghes-x86/hest-q35", test_hest_q35);
    if (qtest_has_machine("pc")) {
        qtest_add_func("/ghes-x86/hest-pc", test_hest_pc);
    }
    qtest_add_func("/ghes-x86/gpe", test_gpe);
    qtest_add_func("/ghes-x86/raw-cper", test_raw_cper);
    qtest_add_func("/ghes-x86/host-failure", test_host_failure);
    qtest_add_func("/ghes-x86/migration", test_migration);
    qtest_add_func("/ghes-x86/machine-types", test_machine_types);
    return g_test_run();
}
