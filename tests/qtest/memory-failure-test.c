/*
 * QTest of host memory failure handling: the policy for each kind of
 * memory and error, the MEMORY_FAILURE event, poison tracking, reset,
 * bad input, and bursts on several vCPUs.  Errors are raised through
 * inject-host-memory-failure, i.e. as real SIGBUS signals on the thread
 * the host kernel would pick.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/syscall.h>
#include <sys/vfs.h>
#include "qemu/bswap.h"
#include "qemu/cutils.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "qapi/error.h"
#include "qobject/qjson.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "ras-firmware.h"

#define X86_RAM_PAGE        0x01000000ull

static const char *arch;

static bool is_arm(void)
{
    return !strcmp(arch, "aarch64");
}

static uint64_t page(int n)
{
    return (is_arm() ? RAS_VIRT_RAM_BASE + 0x10000000ull : X86_RAM_PAGE) +
           n * 4096ull;
}

static QTestState *start_mem(const char *mem, const char *extra)
{
    if (is_arm()) {
        return ras_virt_start(mem, extra);
    }
    /* Intel's machine checks unless @extra names another CPU */
    return qtest_initf("-machine q35 -smp %d -m %s -nic none -vga none "
                       "-cpu qemu64,vendor=GenuineIntel %s",
                       RAS_NR_CPUS, mem, extra ? extra : "");
}

static QTestState *start(const char *extra)
{
    return start_mem(is_arm() ? "1G" : "512M", extra);
}

/* Wait for MEMORY_FAILURE and check every member */
static void expect_event(QTestState *qts, const char *recipient,
                         const char *action, bool ar, bool recursive,
                         int64_t address, uint64_t size)
{
    QDict *ev = qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE");
    QDict *data = qdict_get_qdict(ev, "data");
    QDict *flags = qdict_get_qdict(data, "flags");

    g_assert_cmpstr(qdict_get_str(data, "recipient"), ==, recipient);
    g_assert_cmpstr(qdict_get_str(data, "action"), ==, action);
    g_assert_cmpint(qdict_get_bool(flags, "action-required"), ==, ar);
    g_assert_cmpint(qdict_get_bool(flags, "recursive"), ==, recursive);
    if (address < 0) {
        g_assert(!qdict_haskey(data, "address"));
    } else {
        g_assert_cmphex(qdict_get_int(data, "address"), ==, address);
    }
    g_assert_cmphex(qdict_get_int(data, "size"), ==, size);
    qobject_unref(ev);
}

static QList *query(QTestState *qts)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-memory-failures' }");
    QList *l = qdict_get_qlist(rsp, "return");

    qobject_ref(l);
    qobject_unref(rsp);
    return l;
}

/* How many ranges query-memory-failures lists */
static int nr_tracked(QTestState *qts)
{
    QList *l = query(qts);
    int n = qlist_size(l);

    qobject_unref(l);
    return n;
}

/*
 * MEMORY_FAILURE is throttled to one a second per page: let the second
 * of an earlier event of the same page pass, so that each one is seen.
 */
static void event_second_passes(QTestState *qts)
{
    qtest_clock_step(qts, 1000 * 1000 * 1000);
}

static void inject_gpa(QTestState *qts, uint64_t gpa, bool ar, int cpu)
{
    event_second_passes(qts);
    if (ar) {
        qtest_qmp_assert_success(qts, "{ 'execute': "
                                 "'inject-host-memory-failure', "
                                 "'arguments': { 'kind': 'action-required', "
                                 "'address': %" PRIu64 ", "
                                 "'cpu-index': %d } }", gpa, cpu);
    } else {
        qtest_qmp_assert_success(qts, "{ 'execute': "
                                 "'inject-host-memory-failure', "
                                 "'arguments': { 'kind': 'action-optional', "
                                 "'address': %" PRIu64 " } }", gpa);
    }
}

/* Action-optional and action-required errors in guest memory */
static void test_guest_memory(void)
{
    QTestState *qts = start(NULL);
    RasFw fw;
    QList *l;
    QDict *e;

    if (is_arm()) {
        /* Before firmware placed the error sources: not reported */
        inject_gpa(qts, page(0), false, 0);
        expect_event(qts, "guest", "ignore", false, false, page(0), 4096);
        ras_fw_init(&fw, qts);
        ras_fw_run_loader(&fw);
    } else {
        /* CR4.MCE is clear before the guest enables machine checks */
        inject_gpa(qts, page(0), false, 0);
        expect_event(qts, "guest", "ignore", false, false, page(0), 4096);
    }

    inject_gpa(qts, page(1), false, 0);
    expect_event(qts, "guest", is_arm() ? "inject" : "ignore", false, false,
                 page(1), 4096);
    inject_gpa(qts, page(2), true, 1);
    expect_event(qts, "guest", "inject", true, false, page(2), 4096);
    if (is_arm()) {
        /*
         * AO to the GED source at once; AR (not under KVM) only once a
         * vCPU touches the page: nothing in the SEA sources yet.
         */
        g_assert_cmphex(ras_ghes_record_pa(&fw, 0), ==, page(1));
        g_assert_cmphex(qtest_readl(qts, ras_ghes_block(&fw, 1)), ==, 0);
        g_assert_cmphex(qtest_readl(qts, ras_ghes_block(&fw, 2)), ==, 0);
    }
    inject_gpa(qts, page(2), true, 1);
    expect_event(qts, "guest", "inject", true, false, page(2), 4096);

    /* Tracked once per range, hits counted, sorted by address */
    l = query(qts);
    g_assert_cmpint(qlist_size(l), ==, 3);
    e = qobject_to(QDict, qlist_pop(l));
    g_assert_cmphex(qdict_get_int(e, "address"), ==, page(0));
    qobject_unref(e);
    e = qobject_to(QDict, qlist_pop(l));
    g_assert_cmphex(qdict_get_int(e, "address"), ==, page(1));
    g_assert_cmpint(qdict_get_int(e, "hits"), ==, 1);
    qobject_unref(e);
    e = qobject_to(QDict, qlist_pop(l));
    g_assert_cmphex(qdict_get_int(e, "address"), ==, page(2));
    g_assert_cmpstr(qdict_get_str(e, "recipient"), ==, "guest");
    g_assert_cmpint(qdict_get_int(e, "size"), ==, 4096);
    g_assert_cmpint(qdict_get_int(e, "hits"), ==, 2);
    g_assert_cmpint(qdict_get_int(e, "first-seen"), >,
                    (int64_t)1600000000 * 1000000);
    qobject_unref(e);
    qobject_unref(l);

    /* The page now traps: a device (or the monitor) reading it fails */
    if (is_arm()) {
        ras_ghes_ack(&fw, 0);
        qtest_readl(qts, page(1));
        g_assert_cmphex(ras_ghes_record_pa(&fw, 0), ==, page(1));
    }
    qtest_quit(qts);
}

/* A new machine, waiting for a migration stream */
static QTestState *start_incoming(const char *extra)
{
    g_autofree char *args = g_strdup_printf("-incoming defer %s",
                                            extra ?: "");

    return start(args);
}

/*
 * The migration stream is untrusted: a queued record the guest would
 * reject fails the load, cleanly, instead of being written for the guest.
 */
static void test_stream_bad_record(void)
{
    g_autoptr(RasStream) stream = ras_stream_new();
    QTestState *qts = start(NULL);
    uint8_t *last = NULL, *p;
    RasFw fw;
    int i;

    ras_fw_init(&fw, qts);
    ras_fw_run_loader(&fw);
    /* One record for the guest, two queued behind it (no poison) */
    for (i = 0; i < 3; i++) {
        qtest_qmp_assert_success(qts, "{ 'execute': 'inject-memory-error', "
                                 "'arguments': { 'address': %" PRIu64
                                 " } }", page(8 + i));
    }
    ras_stream_save(stream, qts);
    qts = start_incoming(NULL);
    g_assert_cmpstr(ras_stream_load(stream, qts), ==, "completed");
    qtest_quit(qts);

    /* The last record in the stream is the last one queued */
    for (p = stream->buf;
         (p = memmem(p, stream->buf + stream->len - p,
                     ras_cper_mem_err_guid, sizeof(ras_cper_mem_err_guid)));
         p++) {
        last = p;
    }
    g_assert(last && last - stream->buf >= 20);
    /* Its status block's data length, far past the record */
    stl_le_p(last - 20 + 12, 0xffff);
    ras_stream_write(stream, stream->buf, stream->len);
    qts = start_incoming(NULL);
    ras_stream_refused(stream, qts, "acpi-ghes");
    qtest_quit(qts);
}

/* A value no other page holds: found in a stream only if @gpa was sent */
static uint64_t marker(uint64_t gpa)
{
    return 0x5241535f504f4953ull ^ gpa;
}

static bool stream_holds(RasStream *stream, uint64_t value)
{
    return memmem(stream->buf, stream->len, &value, sizeof(value)) != NULL;
}

/* The range of query-memory-failures at @gpa */
static QDict *tracked_at(QList *l, uint64_t gpa)
{
    QListEntry *e;

    QLIST_FOREACH_ENTRY(l, e) {
        QDict *d = qobject_to(QDict, qlist_entry_obj(e));

        if (qdict_get_int(d, "address") == gpa) {
            return d;
        }
    }
    g_error("no poisoned range at 0x%" PRIx64, gpa);
}

/*
 * Poisoned guest memory migrates as holes: never read on the source, not
 * in the stream, recreated on the destination with what the source knew
 * of it, trapping there, and gone with the destination's reset.
 */
static void test_migration_poison(void)
{
    g_autoptr(RasStream) stream = ras_stream_new();
    QTestState *qts = start(NULL);
    QList *before, *after;
    int i;

    for (i = 0; i < 4; i++) {
        qtest_writeq(qts, page(20 + i), marker(page(20 + i)));
    }
    /* Action optional, action required (tracked, told when touched) */
    inject_gpa(qts, page(20), false, 0);
    qobject_unref(qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE"));
    inject_gpa(qts, page(21), true, 1);
    qobject_unref(qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE"));
    inject_gpa(qts, page(21), true, 1);
    qobject_unref(qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE"));
    before = query(qts);
    g_assert_cmpint(qlist_size(before), ==, 2);

    ras_stream_save(stream, qts);
    /* The poisoned pages were not read; their healthy neighbours were */
    g_assert(!stream_holds(stream, marker(page(20))));
    g_assert(!stream_holds(stream, marker(page(21))));
    g_assert(stream_holds(stream, marker(page(22))));
    g_assert(stream_holds(stream, marker(page(23))));
    ras_stream_section(stream, "memory-poison");

    qts = start_incoming(NULL);
    g_assert_cmpstr(ras_stream_load(stream, qts), ==, "completed");
    after = query(qts);
    g_assert_cmpint(qlist_size(after), ==, 2);
    for (i = 0; i < 2; i++) {
        QDict *b = tracked_at(before, page(20 + i));
        QDict *a = tracked_at(after, page(20 + i));

        g_assert_cmpstr(qdict_get_str(a, "recipient"), ==, "guest");
        g_assert_cmpint(qdict_get_int(a, "size"), ==, 4096);
        g_assert_cmpint(qdict_get_int(a, "hits"), ==,
                        qdict_get_int(b, "hits"));
        /* The source's clock, to the millisecond the tracker keeps */
        g_assert_cmpint(qdict_get_int(a, "first-seen"), ==,
                        qdict_get_int(b, "first-seen"));
    }
    g_assert_cmpint(qdict_get_int(tracked_at(after, page(21)), "hits"), ==,
                    2);
    qobject_unref(before);
    qobject_unref(after);

    /* The holes trap as on the source: an access fails */
    g_assert_cmphex(qtest_readq(qts, page(20)), ==, UINT64_MAX);
    g_assert_cmphex(qtest_readq(qts, page(21)), ==, UINT64_MAX);
    g_assert_cmphex(qtest_readq(qts, page(22)), ==, marker(page(22)));

    /* Reset gives fresh memory, as on the source */
    qtest_qmp_assert_success(qts, "{ 'execute': 'system_reset' }");
    qtest_qmp_eventwait(qts, "RESET");
    g_assert_cmpint(nr_tracked(qts), ==, 0);
    qtest_writeq(qts, page(20), 1);
    g_assert_cmphex(qtest_readq(qts, page(20)), ==, 1);
    qtest_quit(qts);

    /*
     * Without poison, no section (nor, on x86, the machine check queue's,
     * with nothing held): a QEMU that lacks them takes the stream
     */
    qts = start(NULL);
    ras_stream_save(stream, qts);
    g_assert(!memmem(stream->buf, stream->len, "memory-poison",
                     strlen("memory-poison")));
    g_assert(!memmem(stream->buf, stream->len, "x86-mce-queue",
                     strlen("x86-mce-queue")));
}

/*
 * Errors that come while a migration runs travel too: a page that failed
 * before it was sent is skipped, one sent before it failed is a hole on
 * the destination all the same.
 */
static void test_migration_poison_during(void)
{
    g_autoptr(RasStream) stream = ras_stream_new();
    QTestState *qts = start(NULL);

    qtest_writeq(qts, page(30), marker(page(30)));
    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate-set-parameters', "
                             "'arguments': { 'max-bandwidth': 65536 } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate', 'arguments': "
                             "{ 'uri': %s } }", stream->uri);
    ras_migration_wait(qts, "active");
    inject_gpa(qts, page(30), false, 0);
    qobject_unref(qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE"));
    /* Not cancelled: it goes on, and finishes at full speed */
    g_assert_cmpstr(ras_migration_status(qts), ==, "active");
    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate-set-parameters', "
                             "'arguments': { 'max-bandwidth': 0 } }");
    ras_migration_completed(qts);
    qtest_quit(qts);
    g_clear_pointer(&stream->buf, g_free);
    g_assert(g_file_get_contents(stream->file, (char **)&stream->buf,
                                 &stream->len, NULL));
    g_assert(!stream_holds(stream, marker(page(30))));

    qts = start_incoming(NULL);
    g_assert_cmpstr(ras_stream_load(stream, qts), ==, "completed");
    g_assert_cmpint(nr_tracked(qts), ==, 1);
    qtest_quit(qts);
}

/* The list query-memory-failures shows, as JSON */
static char *tracked_json(QTestState *qts)
{
    QList *l = query(qts);
    GString *json = qobject_to_json(QOBJECT(l));

    qobject_unref(l);
    return g_string_free(json, false);
}

/*
 * A migration that is cancelled, or fails, leaves the source as it was:
 * the same poison, trapping still; and the next one carries it.
 */
static void test_migration_cancelled(void)
{
    g_autoptr(RasStream) stream = ras_stream_new();
    QTestState *qts = start(NULL);
    g_autofree char *before = NULL, *after = NULL;

    inject_gpa(qts, page(60), false, 0);
    qobject_unref(qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE"));
    before = tracked_json(qts);
    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate-set-parameters', "
                             "'arguments': { 'max-bandwidth': 4096 } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate', 'arguments': "
                             "{ 'uri': 'exec:cat >/dev/null' } }");
    ras_migration_wait(qts, "active");
    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate_cancel' }");
    g_assert_cmpstr(ras_migration_wait(qts, NULL), ==, "cancelled");
    /* A destination that goes away */
    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate-set-parameters', "
                             "'arguments': { 'max-bandwidth': 0 } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate', 'arguments': "
                             "{ 'uri': 'exec:exit 1' } }");
    g_assert_cmpstr(ras_migration_wait(qts, NULL), ==, "failed");
    after = tracked_json(qts);
    g_assert_cmpstr(after, ==, before);
    g_assert_cmphex(qtest_readq(qts, page(60)), ==, UINT64_MAX);

    ras_stream_save(stream, qts);
    qts = start_incoming(NULL);
    g_assert_cmpstr(ras_stream_load(stream, qts), ==, "completed");
    g_free(after);
    after = tracked_json(qts);
    g_assert_cmpstr(after, ==, before);
    qtest_quit(qts);
}

static bool have_userfaultfd(void)
{
#ifdef CONFIG_LINUX
    int fd = syscall(__NR_userfaultfd, O_CLOEXEC);

    if (fd >= 0) {
        close(fd);
        return true;
    }
#endif
    return false;
}

/* Turn postcopy-ram on for the next migration of @qts */
static void postcopy_on(QTestState *qts)
{
    qtest_qmp_assert_success(qts, "{ 'execute': "
                             "'migrate-set-capabilities', 'arguments': "
                             "{ 'capabilities': [ { 'capability': "
                             "'postcopy-ram', 'state': true } ] } }");
}

/*
 * Postcopy: the holes are known to the destination from the switchover
 * on (in the device state), so it never asks for them; the pages that
 * were not sent yet come on demand or in the background, the poisoned
 * ones never.  The destination's memory is registered with postcopy's
 * userfaultfd at that point: skipped where the host has none.
 */
static void test_migration_postcopy(void)
{
    g_autofree char *dir = g_dir_make_tmp("ras-postcopy-XXXXXX", NULL);
    g_autofree char *uri = g_strdup_printf("unix:%s/sock", dir);
    g_autofree char *sock = g_strdup_printf("%s/sock", dir);
    QTestState *src, *dst;
    int i;

    if (!have_userfaultfd()) {
        g_test_skip("no userfaultfd here: postcopy cannot run");
        rmdir(dir);
        return;
    }
    src = start(NULL);
    for (i = 0; i < 4; i++) {
        qtest_writeq(src, page(40 + i), marker(page(40 + i)));
    }
    inject_gpa(src, page(40), false, 0);
    qobject_unref(qtest_qmp_eventwait_ref(src, "MEMORY_FAILURE"));
    inject_gpa(src, page(42), false, 0);
    qobject_unref(qtest_qmp_eventwait_ref(src, "MEMORY_FAILURE"));

    dst = start_incoming(NULL);
    postcopy_on(dst);
    qtest_qmp_assert_success(dst, "{ 'execute': 'migrate-incoming', "
                             "'arguments': { 'uri': %s } }", uri);
    postcopy_on(src);
    /* Slow enough that most memory is still to come at the switchover */
    qtest_qmp_assert_success(src, "{ 'execute': 'migrate-set-parameters', "
                             "'arguments': { 'max-bandwidth': 65536 } }");
    qtest_qmp_assert_success(src, "{ 'execute': 'migrate', 'arguments': "
                             "{ 'uri': %s } }", uri);
    ras_migration_wait(src, "active");
    qtest_qmp_assert_success(src, "{ 'execute': 'migrate-start-postcopy' }");
    ras_migration_wait(src, "postcopy-active");
    ras_migration_wait(dst, "postcopy-active");

    /* Known before any page was asked for; the healthy ones come */
    g_assert_cmpint(nr_tracked(dst), ==, 2);
    g_assert_cmphex(qtest_readq(dst, page(40)), ==, UINT64_MAX);
    g_assert_cmphex(qtest_readq(dst, page(41)), ==, marker(page(41)));
    g_assert_cmphex(qtest_readq(dst, page(42)), ==, UINT64_MAX);
    g_assert_cmphex(qtest_readq(dst, page(43)), ==, marker(page(43)));

    ras_migration_completed(src);
    g_assert_cmpstr(ras_migration_wait(dst, NULL), ==, "completed");
    g_assert_cmpint(nr_tracked(dst), ==, 2);
    g_assert_cmphex(qtest_readq(dst, page(40)), ==, UINT64_MAX);
    qtest_quit(src);
    qtest_quit(dst);
    unlink(sock);
    rmdir(dir);
}

/*
 * x86's BIOS is read-only RAM the guest sees at the top of 4 GiB: an
 * error there is reported as in RAM, but the trap over it keeps it a
 * ROM (writes are dropped), and a reset gives back its contents, not a
 * fresh empty page: the machine must boot again.
 */
static void test_rom(void)
{
    const uint64_t top = 0xfffff000ull;
    uint8_t before[4096], after[4096];
    QTestState *qts;

    if (is_arm()) {
        g_test_skip("arm virt has no read-only RAM in the memory map");
        return;
    }
    qts = start(NULL);
    qtest_memread(qts, top, before, sizeof(before));
    g_assert(!buffer_is_zero(before, sizeof(before)));
    inject_gpa(qts, top, false, 0);
    qobject_unref(qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE"));
    g_assert_cmpint(nr_tracked(qts), ==, 1);
    /* A write to ROM goes nowhere, poisoned or not */
    qtest_writeq(qts, top + 8, ~ldq_le_p(before + 8));
    qtest_qmp_assert_success(qts, "{ 'execute': 'system_reset' }");
    qtest_qmp_eventwait(qts, "RESET");
    g_assert_cmpint(nr_tracked(qts), ==, 0);
    qtest_memread(qts, top, after, sizeof(after));
    g_assert(!memcmp(before, after, sizeof(before)));
    qtest_quit(qts);
}

/* The guest address query-memory-failures gives its only range, or -1 */
static int64_t tracked_address(QTestState *qts)
{
    QList *l = query(qts);
    QDict *d;
    int64_t a;

    g_assert_cmpint(qlist_size(l), ==, 1);
    d = qobject_to(QDict, qlist_peek(l));
    a = qdict_haskey(d, "address") ? qdict_get_int(d, "address") : -1;
    qobject_unref(l);
    return a;
}

/*
 * A DIMM with poison, unplugged (the guest's ACPI eject played here) and
 * plugged again elsewhere: its trap and its guest address go with it,
 * the hole it leaves traps nothing.
 */
static void test_dimm_unplug(void)
{
    const uint64_t moved = 0x140000000ull;
    QTestState *qts;
    uint64_t at;

    if (is_arm()) {
        g_test_skip("x86's ACPI memory hotplug interface, played by hand");
        return;
    }
    qts = start_mem("512M,slots=2,maxmem=2G",
                    "-object memory-backend-ram,id=m1,size=128M "
                    "-device pc-dimm,id=d1,memdev=m1");
    qtest_qmp_assert_success(qts, "{ 'execute': "
                             "'inject-host-memory-failure', 'arguments': "
                             "{ 'kind': 'action-optional', 'memdev': 'm1', "
                             "'offset': 8192 } }");
    qobject_unref(qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE"));
    at = tracked_address(qts);
    g_assert_cmphex(at & 0xfff, ==, 0);
    g_assert_cmphex(qtest_readq(qts, at), ==, UINT64_MAX);

    qtest_qmp_assert_success(qts, "{ 'execute': 'device_del', "
                             "'arguments': { 'id': 'd1' } }");
    qtest_outl(qts, 0x0a00, 0);         /* slot 0 */
    qtest_outb(qts, 0x0a14, 1 << 3);    /* eject */
    qtest_qmp_eventwait(qts, "DEVICE_DELETED");
    /* Tracked still (the backend keeps the poison), at no address */
    g_assert_cmpint(tracked_address(qts), ==, -1);
    g_assert_cmphex(qtest_readq(qts, at), !=, UINT64_MAX);

    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', "
                             "'arguments': { 'driver': 'pc-dimm', "
                             "'id': 'd2', 'memdev': 'm1', "
                             "'addr': %" PRIu64 " } }", moved);
    g_assert_cmphex(tracked_address(qts), ==, moved + 8192);
    g_assert_cmphex(qtest_readq(qts, moved + 8192), ==, UINT64_MAX);
    g_assert_cmphex(qtest_readq(qts, moved), !=, UINT64_MAX);
    qtest_quit(qts);
}

/* Whether the flat view of address space @as ("AS \"name\"") has @what */
static bool flatview_has(QTestState *qts, const char *as, const char *what)
{
    g_autofree char *mtree = qtest_hmp(qts, "info mtree -f");
    g_auto(GStrv) views = g_strsplit(mtree, "FlatView #", 0);
    int i;

    for (i = 0; views[i]; i++) {
        if (strstr(views[i], as)) {
            return strstr(views[i], what) != NULL;
        }
    }
    g_error("no flat view of %s", as);
}

/* Write byte @val to register @reg of q35's MCH (00:00.0) */
static void mch_write(QTestState *qts, uint8_t reg, uint8_t val)
{
    qtest_outl(qts, 0xcf8, 0x80000000u | (reg & ~3u));
    qtest_outb(qts, 0xcfc + (reg & 3), val);
}

/*
 * q35's TSEG is SMRAM: outside SMM a black hole covers it.  Poison
 * there traps where SMRAM is seen (the vCPUs' SMM address space), never
 * over the black hole: a write from outside SMM must still go nowhere.
 */
static void test_smram(void)
{
    const uint64_t tseg_page = 512 * MiB - 4096;    /* TSEG: the top 1 MiB */
    QTestState *qts;

    if (is_arm()) {
        g_test_skip("x86 SMRAM");
        return;
    }
    /* TCG, stopped: the vCPUs have their SMM address space */
    qts = start("-accel tcg -S");
    qtest_writeq(qts, tseg_page, 0);
    mch_write(qts, 0x9d, 0x0a);     /* SMRAM: G_SMRAME, C_BASE_SEG */
    mch_write(qts, 0x9e, 0x01);     /* ESMRAMC: T_EN, 1 MiB */
    g_assert_cmphex(qtest_readl(qts, tseg_page), ==, 0xffffffff);
    /* Not at a guest address outside SMM: at the host memory behind it */
    qtest_qmp_assert_success(qts, "{ 'execute': "
                             "'inject-host-memory-failure', 'arguments': "
                             "{ 'kind': 'action-optional', 'memdev': 'pc.ram', "
                             "'offset': %" PRIu64 " } }", tseg_page);
    qobject_unref(qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE"));
    g_assert_cmpint(nr_tracked(qts), ==, 1);
    /* The trap is seen where TSEG is (SMM), not over the black hole */
    g_assert(!flatview_has(qts, "AS \"memory\"", "poisoned-memory"));
    g_assert(flatview_has(qts, "AS \"memory\"", "tseg-blackhole"));
    g_assert(flatview_has(qts, "AS \"cpu-smm-0\"",
                          "000000001ffff000-000000001fffffff (prio 1, i/o): "
                          "poisoned-memory"));
    qtest_writeq(qts, tseg_page, marker(tseg_page));
    g_assert_cmphex(qtest_readl(qts, tseg_page), ==, 0xffffffff);
    /* TSEG off: what is there is what SMM left, not the write */
    mch_write(qts, 0x9e, 0x00);
    g_assert_cmphex(qtest_readq(qts, tseg_page), !=, marker(tseg_page));
    qtest_quit(qts);
}

/* Run job @cmd (its arguments @args, in JSON) to its end, which it must */
static void run_job(QTestState *qts, const char *cmd, const char *args)
{
    QDict *rsp, *ev, *job;
    bool done = false;

    rsp = qtest_qmp(qts, "{ 'execute': %s, 'arguments': %p }", cmd,
                    qobject_from_json(args, &error_abort));
    g_assert(!qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    while (!done) {
        ev = qtest_qmp_eventwait_ref(qts, "JOB_STATUS_CHANGE");
        done = !strcmp(qdict_get_str(qdict_get_qdict(ev, "data"), "status"),
                       "concluded");
        qobject_unref(ev);
    }
    rsp = qtest_qmp(qts, "{ 'execute': 'query-jobs' }");
    job = qobject_to(QDict, qlist_peek(qdict_get_qlist(rsp, "return")));
    if (qdict_haskey(job, "error")) {
        g_error("%s: %s", cmd, qdict_get_str(job, "error"));
    }
    qtest_qmp_assert_success(qts, "{ 'execute': 'job-dismiss', "
                             "'arguments': { 'id': %s } }",
                             qdict_get_str(job, "id"));
    qobject_unref(rsp);
}

/*
 * An internal snapshot (snapshot-save, snapshot-load: savevm and loadvm)
 * keeps the poison as a migration does: the pages not read, the holes
 * recreated where it is loaded.
 */
static void test_snapshot_poison(void)
{
    g_autofree char *dir = g_dir_make_tmp("ras-snapshot-XXXXXX", NULL);
    g_autofree char *img = g_build_filename(dir, "disk.qcow2", NULL);
    g_autofree char *blk = NULL;
    RasStream saved = { 0 };
    QTestState *qts;
    QList *before, *after;

    g_assert(g_file_set_contents(img, "", 0, NULL));
    blk = g_strdup_printf("-blockdev driver=file,filename=%s,"
                          "node-name=file0", img);
    qts = start(blk);
    run_job(qts, "blockdev-create", "{ 'job-id': 'create', 'options': "
            "{ 'driver': 'qcow2', 'file': 'file0', 'size': 67108864 } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'blockdev-add', "
                             "'arguments': { 'driver': 'qcow2', "
                             "'node-name': 'disk0', 'file': 'file0' } }");
    qtest_writeq(qts, page(50), marker(page(50)));
    qtest_writeq(qts, page(51), marker(page(51)));
    inject_gpa(qts, page(50), false, 0);
    qobject_unref(qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE"));
    before = query(qts);
    run_job(qts, "snapshot-save", "{ 'job-id': 'save', 'tag': 'poisoned', "
            "'vmstate': 'disk0', 'devices': [ 'disk0' ] }");
    qtest_quit(qts);
    /* The poisoned page was not read, its neighbour was */
    g_assert(g_file_get_contents(img, (char **)&saved.buf, &saved.len,
                                 NULL));
    g_assert(!stream_holds(&saved, marker(page(50))));
    g_assert(stream_holds(&saved, marker(page(51))));
    g_free(saved.buf);

    g_free(blk);
    blk = g_strdup_printf("-blockdev driver=qcow2,node-name=disk0,"
                          "file.driver=file,file.filename=%s", img);
    qts = start(blk);
    run_job(qts, "snapshot-load", "{ 'job-id': 'load', 'tag': 'poisoned', "
            "'vmstate': 'disk0', 'devices': [ 'disk0' ] }");
    after = query(qts);
    g_assert_cmpint(qlist_size(after), ==, 1);
    g_assert_cmphex(qdict_get_int(tracked_at(after, page(50)), "first-seen"),
                    ==, qdict_get_int(tracked_at(before, page(50)),
                                      "first-seen"));
    g_assert_cmphex(qtest_readq(qts, page(50)), ==, UINT64_MAX);
    qobject_unref(before);
    qobject_unref(after);
    qtest_quit(qts);
    unlink(img);
    rmdir(dir);
}

/* x86 vCPU 0's boolean QOM property @name */
static bool cpu0_prop(QTestState *qts, const char *name)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-cpus-fast' }");
    QDict *cpu = qobject_to(QDict,
                            qlist_peek(qdict_get_qlist(rsp, "return")));
    QDict *val = qtest_qmp(qts, "{ 'execute': 'qom-get', 'arguments': "
                           "{ 'path': %s, 'property': %s } }",
                           qdict_get_str(cpu, "qom-path"), name);
    bool b = qdict_get_bool(val, "return");

    qobject_unref(val);
    qobject_unref(rsp);
    return b;
}

/*
 * x86 guests see our MCA recovery on the new machine types only: a VM of
 * pc-q35-10.2 keeps the CPUID QEMU 10.2 gives it, so that it migrates to
 * and from QEMU 10.2 without changing under the guest.
 */
static void test_x86_machine_compat(void)
{
    static const struct {
        const char *machine;
        bool mca_recovery;
    } want[] = {
        { "q35", true }, { "pc-q35-10.2", false },
        { "pc", true }, { "pc-i440fx-10.2", false },
    };
    int i;

    for (i = 0; i < ARRAY_SIZE(want); i++) {
        QTestState *qts = qtest_initf("-machine %s -cpu qemu64 -nic none "
                                      "-vga none", want[i].machine);

        g_assert_cmpint(cpu0_prop(qts, "x-tcg-mca-recovery"), ==,
                        want[i].mca_recovery);
        qtest_quit(qts);
    }
}

/* Whether 'migrate' is refused because memory has hardware errors */
static bool migration_refused(QTestState *qts)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'migrate', 'arguments': "
                           "{ 'uri': 'exec:cat >/dev/null' } }");
    bool refused = qdict_haskey(rsp, "error") &&
                   strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                        "desc"), "hardware errors");

    qobject_unref(rsp);
    return refused;
}

/*
 * QEMU's own memory that migrates (here ivshmem's, its BAR not mapped)
 * cannot be recreated: with an error there, migration is refused for
 * certain (-only-migratable cannot veto it), a migration running is
 * cancelled, and a reset, which does not replace that memory, keeps it
 * so.
 */
static void test_migration_hypervisor_memory(void)
{
    const char *shm = "-object memory-backend-memfd,id=shm,size=1M,share=on "
                      "-device ivshmem-plain,memdev=shm,master=on";
    g_autofree char *args = g_strdup_printf("-only-migratable %s", shm);
    QTestState *qts = start(args);
    int i;

    qtest_qmp_assert_success(qts, "{ 'execute': "
                             "'inject-host-memory-failure', 'arguments': "
                             "{ 'kind': 'action-optional', 'memdev': 'shm', "
                             "'offset': 4096 } }");
    expect_event(qts, "hypervisor", "ignore", false, false, -1, 4096);
    g_assert(migration_refused(qts));
    qtest_qmp_assert_success(qts, "{ 'execute': 'system_reset' }");
    qtest_qmp_eventwait(qts, "RESET");
    g_assert_cmpint(nr_tracked(qts), ==, 1);
    g_assert(migration_refused(qts));
    qtest_quit(qts);

    /* A slow migration, under way when the error comes */
    qts = start(shm);
    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate-set-parameters', "
                             "'arguments': { 'max-bandwidth': 4096 } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate', 'arguments': "
                             "{ 'uri': 'exec:cat >/dev/null' } }");
    ras_migration_wait(qts, "active");
    qtest_qmp_assert_success(qts, "{ 'execute': "
                             "'inject-host-memory-failure', 'arguments': "
                             "{ 'kind': 'action-optional', 'memdev': 'shm' } }");
    qobject_unref(qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE"));
    g_assert_cmpstr(ras_migration_wait(qts, NULL), ==, "cancelled");
    /* And the blocker is in place once it has stopped */
    for (i = 0; i < 1000 && !migration_refused(qts); i++) {
        g_usleep(10 * 1000);
    }
    g_assert(migration_refused(qts));
    qtest_quit(qts);
}

/* A stream whose poisoned ranges this machine cannot hold is refused */
static void test_stream_bad_poison(void)
{
    g_autoptr(RasStream) stream = ras_stream_new();
    QTestState *qts = start(NULL);
    uint8_t *sec, *p, range[16];

    inject_gpa(qts, page(40), false, 0);
    qobject_unref(qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE"));
    ras_stream_save(stream, qts);
    /* The range's size and guest address, side by side */
    stq_be_p(range, 4096);
    stq_be_p(range + 8, page(40));
    sec = ras_stream_section(stream, "memory-poison");
    p = memmem(sec, stream->buf + stream->len - sec, range, sizeof(range));
    g_assert(p);
    p += 8;

    /* A guest address where this RAM block is not mapped */
    stq_be_p(p, page(40) + 4096);
    ras_stream_write(stream, stream->buf, stream->len);
    qts = start_incoming(NULL);
    ras_stream_refused(stream, qts, "memory-poison");
    g_assert_cmpint(nr_tracked(qts), ==, 0);
    qtest_quit(qts);

    /* A range larger than the block (size just before the address) */
    stq_be_p(p, page(40));
    stq_be_p(p - 8, 1ull << 40);
    ras_stream_write(stream, stream->buf, stream->len);
    qts = start_incoming(NULL);
    ras_stream_refused(stream, qts, "memory-poison");
    g_assert_cmpint(nr_tracked(qts), ==, 0);
    qtest_quit(qts);
}

/* Reset gives fresh memory and forgets the poison */
static void test_reset(void)
{
    QTestState *qts = start(NULL);

    inject_gpa(qts, page(3), true, 0);
    expect_event(qts, "guest", "inject", true, false, page(3), 4096);
    qtest_writel(qts, page(4), 0x12345678);
    g_assert_cmpint(nr_tracked(qts), ==, 1);

    qtest_qmp_assert_success(qts, "{ 'execute': 'system_reset' }");
    qtest_qmp_eventwait(qts, "RESET");
    g_assert_cmpint(nr_tracked(qts), ==, 0);
    /* The range is RAM again, its neighbour kept its contents */
    qtest_writel(qts, page(3), 0xcafe);
    g_assert_cmphex(qtest_readl(qts, page(3)), ==, 0xcafe);
    g_assert_cmphex(qtest_readl(qts, page(4)), ==, 0x12345678);
    /* And it can fail again */
    inject_gpa(qts, page(3), false, 0);
    expect_event(qts, "guest", "ignore", false, false, page(3), 4096);
    qtest_quit(qts);
}

/* Memory QEMU uses for itself: a backend the guest does not map */
static void test_hypervisor_memory(void)
{
    QTestState *qts = start("-object memory-backend-ram,id=spare,size=2M");
    QList *l;
    QDict *e;

    qtest_qmp_assert_success(qts, "{ 'execute': "
                             "'inject-host-memory-failure', 'arguments': "
                             "{ 'kind': 'action-optional', 'memdev': 'spare', "
                             "'offset': 8192 } }");
    expect_event(qts, "hypervisor", "ignore", false, false, -1, 4096);
    l = query(qts);
    g_assert_cmpint(qlist_size(l), ==, 1);
    e = qobject_to(QDict, qlist_pop(l));
    g_assert_cmpstr(qdict_get_str(e, "recipient"), ==, "hypervisor");
    g_assert(!qdict_haskey(e, "address"));
    qobject_unref(e);
    qobject_unref(l);

    /* Consumed by QEMU itself: the event goes out, then QEMU exits */
    qtest_set_expected_status(qts, 1);
    qtest_qmp_assert_success(qts, "{ 'execute': "
                             "'inject-host-memory-failure', 'arguments': "
                             "{ 'kind': 'action-required', 'memdev': 'spare', "
                             "'cpu-index': 1 } }");
    expect_event(qts, "hypervisor", "fatal", true, false, -1, 4096);
    qtest_quit(qts);
}

/* A memory backend that is guest RAM maps to its guest address */
static void test_memdev_guest(void)
{
    QTestState *qts = start(is_arm() ?
                            "-object memory-backend-ram,id=ram0,size=1G "
                            "-machine memory-backend=ram0" :
                            "-object memory-backend-ram,id=ram0,size=512M "
                            "-machine memory-backend=ram0");

    qtest_qmp_assert_success(qts, "{ 'execute': "
                             "'inject-host-memory-failure', 'arguments': "
                             "{ 'kind': 'action-optional', 'memdev': 'ram0', "
                             "'offset': %" PRIu64 " } }",
                             (uint64_t)0x10000);
    expect_event(qts, "guest", "ignore", false, false,
                 (is_arm() ? RAS_VIRT_RAM_BASE : 0) + 0x10000, 4096);
    qtest_quit(qts);
}

/* inject-host-memory-failure refuses arguments @args */
static void expect_error(QTestState *qts, const char *needle,
                         const char *args)
{
    ras_assert_error(qts, needle, "{ 'execute': "
                     "'inject-host-memory-failure', 'arguments': %p }",
                     qobject_from_json(args, &error_abort));
}

static void test_bad_input(void)
{
    QTestState *qts = start("-object memory-backend-ram,id=spare,size=2M");
    g_autofree char *mmio = g_strdup_printf(
        "{ 'kind': 'action-optional', 'address': %llu }",
        is_arm() ? 0x09000000ull : 0xfed00000ull);
    g_autofree char *cpu = g_strdup_printf(
        "{ 'kind': 'action-required', 'address': %" PRIu64 ", "
        "'cpu-index': %d }", page(0), RAS_NR_CPUS);
    g_autofree char *neg = g_strdup_printf(
        "{ 'kind': 'action-required', 'address': %" PRIu64 ", "
        "'cpu-index': -1 }", page(0));
    g_autofree char *ao_cpu = g_strdup_printf(
        "{ 'kind': 'action-optional', 'address': %" PRIu64 ", "
        "'cpu-index': 0 }", page(0));
    g_autofree char *ar_count = g_strdup_printf(
        "{ 'kind': 'action-required', 'address': %" PRIu64 ", "
        "'count': 2 }", page(0));
    g_autofree char *no_kind = g_strdup_printf("{ 'address': %" PRIu64 " }",
                                               page(0));
    g_autofree char *both = g_strdup_printf(
        "{ 'kind': 'action-optional', 'address': %" PRIu64 ", "
        "'memdev': 'spare' }", page(0));
    g_autofree char *off = g_strdup_printf(
        "{ 'kind': 'action-optional', 'address': %" PRIu64 ", "
        "'offset': 0 }", page(0));

    expect_error(qts, "not guest RAM", mmio);
    expect_error(qts, "not guest RAM", "{ 'kind': 'action-optional', "
                 "'address': 1099511627776 }");
    expect_error(qts, "no vCPU", cpu);
    expect_error(qts, "no vCPU", neg);
    /* What only another kind takes, the schema refuses */
    expect_error(qts, "'cpu-index' is unexpected", ao_cpu);
    expect_error(qts, "'count' is unexpected", ar_count);
    expect_error(qts, "'kind' is missing", no_kind);
    expect_error(qts, "either address or memdev", both);
    expect_error(qts, "either address or memdev",
                 "{ 'kind': 'action-optional' }");
    expect_error(qts, "memdev only", off);
    expect_error(qts, "not a memory backend",
                 "{ 'kind': 'action-optional', 'memdev': 'nonesuch' }");
    expect_error(qts, "outside memory backend",
                 "{ 'kind': 'action-optional', 'memdev': 'spare', "
                 "'offset': 2097152 }");
    g_assert_cmpint(nr_tracked(qts), ==, 0);
    qtest_quit(qts);
}

/*
 * A burst: errors on every vCPU and the main thread back to back, some
 * repeated.  Nothing is lost and QEMU survives.
 */
static void test_burst(void)
{
    QTestState *qts = start(NULL);
    int i, n = 40, events = 0;

    for (i = 0; i < n; i++) {
        inject_gpa(qts, page(16 + i), i % 3 != 0, i % RAS_NR_CPUS);
    }
    for (i = 0; i < n; i++) {
        QDict *ev = qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE");

        events++;
        qobject_unref(ev);
    }
    g_assert_cmpint(events, ==, n);
    g_assert_cmpint(nr_tracked(qts), ==, n);
    /* Every signal recorded and handled, none without room */
    ras_assert_queue(qts, "signals", 1024, 0, n, 0);
    qtest_quit(qts);
}

/*
 * The same page reported again and again (a device doing DMA over it):
 * its first MEMORY_FAILURE and the first repeat at once, then one a
 * second, the last of the second kept, every hit counted in the query;
 * another page is not held back.
 */
static void test_event_throttle(void)
{
    QTestState *qts = start(NULL);
    QDict *e;
    QList *l;
    int i;

    for (i = 0; i < 20; i++) {
        qtest_qmp_assert_success(qts, "{ 'execute': "
                                 "'inject-host-memory-failure', "
                                 "'arguments': { 'kind': 'action-optional', "
                                 "'address': %" PRIu64 " } }", page(1));
    }
    /* The first of the range, then the first repeat */
    expect_event(qts, "guest", "ignore", false, false, page(1), 4096);
    expect_event(qts, "guest", "ignore", false, false, page(1), 4096);
    /* The second passes (inject_gpa): the last of page(1) comes out */
    inject_gpa(qts, page(2), false, 0);
    expect_event(qts, "guest", "ignore", false, false, page(1), 4096);
    expect_event(qts, "guest", "ignore", false, false, page(2), 4096);
    /* and nothing more of it */
    inject_gpa(qts, page(3), false, 0);
    expect_event(qts, "guest", "ignore", false, false, page(3), 4096);
    l = query(qts);
    e = qobject_to(QDict, qlist_peek(l));
    g_assert_cmphex(qdict_get_int(e, "address"), ==, page(1));
    g_assert_cmpint(qdict_get_int(e, "hits"), ==, 20);
    qobject_unref(l);
    qtest_quit(qts);
}

/*
 * Action-optional errors sent without waiting for each reply: the signal
 * of one may still be pending when the next is raised (the kernel merges
 * a signal that is already pending).  Each one still counts.
 */
static void test_ao_batch(void)
{
    QTestState *qts = start(NULL);
    int i, n = 32;

    for (i = 0; i < n; i++) {
        qtest_qmp_send(qts, "{ 'execute': 'inject-host-memory-failure', "
                       "'arguments': { 'kind': 'action-optional', "
                       "'address': %" PRIu64 " } }", page(16 + i));
    }
    for (i = 0; i < n; i++) {
        qobject_unref(qtest_qmp_receive(qts));
    }
    for (i = 0; i < n; i++) {
        qobject_unref(qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE"));
    }
    g_assert_cmpint(nr_tracked(qts), ==, n);
    qtest_quit(qts);
}

/*
 * A vCPU that takes the same action-required signal again before the
 * error is handled (KVM re-enters the guest and faults again), with the
 * main loop looking at the signal table in between: one error, one
 * event, one hit.
 */
static void test_refault_once(void)
{
    QTestState *qts = start(NULL);
    QList *l;
    QDict *e;
    RasFw fw;

    if (is_arm()) {
        ras_fw_init(&fw, qts);
        ras_fw_run_loader(&fw);
    }
    event_second_passes(qts);
    qtest_qmp_assert_success(qts, "{ 'execute': "
                             "'inject-host-memory-failure', "
                             "'arguments': { 'kind': 'action-required', "
                             "'address': %" PRIu64 ", 'cpu-index': 1, "
                             "'refaults': 5 } }", page(3));
    expect_event(qts, "guest", "inject", true, false, page(3), 4096);
    /* Nothing more of it: the next event is another page's */
    inject_gpa(qts, page(4), false, 0);
    expect_event(qts, "guest", is_arm() ? "inject" : "ignore", false, false,
                 page(4), 4096);
    l = query(qts);
    g_assert_cmpint(qlist_size(l), ==, 2);
    e = qobject_to(QDict, qlist_peek(l));
    g_assert_cmphex(qdict_get_int(e, "address"), ==, page(3));
    g_assert_cmpint(qdict_get_int(e, "hits"), ==, 1);
    qobject_unref(l);
    qtest_quit(qts);
}

/* Poison traps in the memory map of system memory ("info mtree") */
static int count_traps(QTestState *qts)
{
    g_autofree char *mtree = qtest_hmp(qts, "info mtree");
    g_auto(GStrv) lines = g_strsplit(mtree, "\n", 0);
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    int i;

    /*
     * A trap is a subregion of the RAM it hides: in the tree of the
     * address space, or of the RAM region its aliases show.  Address
     * spaces sharing a tree repeat it: each trap counts once.
     */
    for (i = 0; lines[i]; i++) {
        if (strstr(lines[i], "poisoned-memory")) {
            g_hash_table_add(seen, g_strstrip(lines[i]));
        }
    }
    return g_hash_table_size(seen);
}

/*
 * More poisoned pages than get an I/O region in the memory map (512): it
 * keeps running, and an action-required error whose region had to go is
 * not reported again as an action-optional one (vCPU accesses still trap,
 * at the TLB: guest test arm64-traps).
 */
static void test_many_traps(void)
{
    QTestState *qts = start(NULL);
    int i, n = 600, max_traps = 512;
    RasFw fw;

    if (is_arm()) {
        ras_fw_init(&fw, qts);
        ras_fw_run_loader(&fw);
    }
    /* Every other page: no two of them make one trap */
    for (i = 0; i < n; i++) {
        inject_gpa(qts, page(64 + 2 * i), true, i % RAS_NR_CPUS);
        qobject_unref(qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE"));
    }
    g_assert_cmpint(nr_tracked(qts), ==, n);
    g_assert_cmpint(count_traps(qts), ==, max_traps);
    if (is_arm()) {
        ras_assert_queue(qts, "ghes", -1, 0, 0, 0);
    }
    qtest_quit(qts);
}

/*
 * A run of neighbouring poisoned pages (a failing DIMM row, a storm) is
 * one trap: 2,000 of them all trap, none is reported as action optional
 * for lack of room, and the run still fails page by page.
 */
static void test_trap_runs(void)
{
    QTestState *qts = start_mem(is_arm() ? "1G" : "512M", NULL);
    int i, n = 2000;
    RasFw fw;

    if (is_arm()) {
        ras_fw_init(&fw, qts);
        ras_fw_run_loader(&fw);
    }
    /* Two runs, grown from both ends and joined in the middle */
    for (i = 0; i < n / 2; i++) {
        inject_gpa(qts, page(64 + i), true, 0);
        qobject_unref(qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE"));
        inject_gpa(qts, page(64 + n - 1 - i), true, 1);
        qobject_unref(qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE"));
    }
    g_assert_cmpint(count_traps(qts), ==, 1);
    if (is_arm()) {
        /* Nothing went the asynchronous way: every page is still trapped */
        g_assert_cmpint(qtest_readl(qts, ras_ghes_block(&fw, 0)), ==, 0);
        /* and a device reading one of them gets its record */
        qtest_readl(qts, page(64 + 1234));
        g_assert_cmphex(ras_ghes_record_pa(&fw, 0), ==, page(64 + 1234));
    }
    qtest_quit(qts);
}

/*
 * A device reading a poisoned page the guest was not told of (a 4 KiB
 * DMA is 512 accesses of 8 bytes through the trap), again and again:
 * every access fails, and the guest is told once, asynchronously.
 */
static void test_device_access(void)
{
    QTestState *qts = start(NULL);
    uint8_t buf[4096];
    RasFw fw;
    int i, j;

    if (is_arm()) {
        ras_fw_init(&fw, qts);
        ras_fw_run_loader(&fw);
    }
    qtest_memset(qts, page(64), 0x5a, sizeof(buf));
    /* Action required: the guest hears of it at the first access */
    inject_gpa(qts, page(64), true, 1);
    qobject_unref(qtest_qmp_eventwait_ref(qts, "MEMORY_FAILURE"));
    for (i = 0; i < 3; i++) {
        memset(buf, 0, sizeof(buf));
        qtest_memread(qts, page(64), buf, sizeof(buf));
        for (j = 0; j < sizeof(buf); j++) {
            g_assert_cmphex(buf[j], ==, 0xff);
        }
    }
    if (is_arm()) {
        /* One record, in the asynchronous source, and nothing queued */
        ras_assert_queue(qts, "ghes", -1, 0, 1, 0);
        g_assert_cmphex(ras_ghes_record_pa(&fw, 0), ==, page(64));
    }
    qtest_quit(qts);
}

/* x86: machine checks wait in a bounded queue, visible and configurable */
static void test_x86_queue(void)
{
    QTestState *qts = start("-global x86-mce-queue.size=5");

    ras_assert_queue(qts, "x86-mce", 5, 0, -1, 0);
    qtest_quit(qts);
}

static uint64_t free_huge_pages(void);

/* Guest address of the first DIMM */
static uint64_t dimm_base(QTestState *qts)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-memory-devices' }");
    QDict *dimm = qdict_get_qdict(qobject_to(QDict,
                                  qlist_peek(qdict_get_qlist(rsp, "return"))),
                                  "data");
    uint64_t base = qdict_get_int(dimm, "addr");

    qobject_unref(rsp);
    return base;
}

/* A machine with a DIMM of two 2 MiB huge pages at *@base, or NULL */
static QTestState *start_huge_dimm(uint64_t *base)
{
    QTestState *qts;

    if (free_huge_pages() < 2) {
        g_test_skip("needs two free 2 MiB huge pages "
                    "(/proc/sys/vm/nr_hugepages)");
        return NULL;
    }
    qts = start_mem(is_arm() ? "1G,slots=2,maxmem=2G"
                             : "512M,slots=2,maxmem=2G",
                    "-object memory-backend-memfd,id=h,size=4M,hugetlb=on,"
                    "hugetlbsize=2M -device pc-dimm,memdev=h");
    *base = dimm_base(qts);
    return qts;
}

/*
 * An action-optional error in a huge page (no vCPU involved, as under
 * TCG): the guest hears of every other base page of the huge page, once
 * each, then of the base page the host named (Linux offlines what it is
 * told, and told first it would kill that page's process at its next
 * touch, before the rest is retired); the event and the tracker keep the
 * whole huge page.  A second error in it is reported as signalled, and
 * does not tell the rest again.
 */
static void test_huge_page_exact(void)
{
    QTestState *qts;
    uint64_t base, pas[RAS_GHES_ASYNC_WINDOW];
    uint8_t told[512] = { 0 };
    RasFw fw;
    int i, k, n, total, records, distinct = 0, named_at = 0, most = 0;

    qts = start_huge_dimm(&base);
    if (!qts) {
        return;
    }
    ras_fw_init(&fw, qts);
    ras_fw_run_loader(&fw);
    inject_gpa(qts, base + 0x3000, false, 0);
    expect_event(qts, "guest", "inject", false, false, base, 2 * MiB);
    g_assert_cmphex(ras_ghes_record_pa(&fw, 0), ==, base);
    inject_gpa(qts, base + 0x5000, false, 0);
    expect_event(qts, "guest", "inject", false, false, base, 2 * MiB);
    /*
     * Each page once, the second error's twice (its report may come
     * first), several to a record once they wait together, the named page
     * after every other
     */
    for (total = 0, records = 0; total < 513; total += n, records++) {
        n = ras_ghes_record_pas(&fw, 0, pas, ARRAY_SIZE(pas));
        g_assert_cmpint(n, >, 0);
        most = MAX(most, n);
        for (k = 0; k < n; k++) {
            g_assert_cmphex(pas[k], >=, base);
            g_assert_cmphex(pas[k], <, base + 2 * MiB);
            if (!told[(pas[k] - base) / 0x1000]++) {
                distinct++;
                if (pas[k] == base + 0x3000) {
                    named_at = distinct;
                }
            }
        }
        ras_ghes_ack(&fw, 0);
    }
    g_assert_cmpint(total, ==, 513);
    /* Once they all wait, a whole window to a record */
    g_assert_cmpint(most, ==, RAS_GHES_ASYNC_WINDOW);
    g_assert_cmpint(records, <=, 2 + 513 / RAS_GHES_ASYNC_WINDOW);
    g_assert_cmpint(named_at, ==, 512);
    for (i = 0; i < 512; i++) {
        g_assert_cmpint(told[i], ==, i == 5 ? 2 : 1);
    }
    /* Nothing past the huge page */
    ras_ghes_ack(&fw, 0);
    g_assert_cmphex(qtest_readl(qts, ras_ghes_block(&fw, 0)), ==, 0);
    g_assert_cmpint(ras_ghes_source_int(qts, 0, "records"), ==, records);
    g_assert_cmpint(ras_ghes_source_int(qts, 0, "errors"), ==, 513);
    qtest_quit(qts);
}

/* An action-required error at @gpa taken by vCPU @cpu, as under KVM */
static void inject_ar_as_kvm(QTestState *qts, uint64_t gpa, int cpu)
{
    qtest_qmp_assert_success(qts, "{ 'execute': "
                             "'inject-host-memory-failure', "
                             "'arguments': { 'kind': 'action-required', "
                             "'address': %" PRIu64 ", 'cpu-index': %d, "
                             "'x-as-kvm': true } }", gpa, cpu);
}

/*
 * Under KVM (played with x-as-kvm): a vCPU in user mode that touches a
 * lost huge page is held while the guest is told of the other 511 base
 * pages; each retry (the vCPU faults again) is held too, and the first
 * one after the guest has acted on them all takes its SEA.  The process
 * that dies of it frees nothing the guest does not know is lost.
 */
static void test_huge_page_kvm_hold(void)
{
    const uint64_t touched = 0x3000;
    QTestState *qts;
    uint64_t base, pas[RAS_GHES_ASYNC_WINDOW];
    uint8_t told[512] = { 0 };
    RasFw fw;
    int i, k, n, total = 0;

    qts = start_huge_dimm(&base);
    if (!qts) {
        return;
    }
    ras_fw_init(&fw, qts);
    ras_fw_run_loader(&fw);
    event_second_passes(qts);
    inject_ar_as_kvm(qts, base + touched, 1);
    expect_event(qts, "guest", "inject", true, false, base, 2 * MiB);
    /* Held: nothing in vCPU 1's SEA source */
    g_assert_cmphex(qtest_readl(qts, ras_ghes_block(&fw, 2)), ==, 0);
    while (total < 511) {
        n = ras_ghes_record_pas(&fw, 0, pas, ARRAY_SIZE(pas));
        g_assert_cmpint(n, >, 0);
        for (k = 0; k < n; k++) {
            g_assert_cmphex(pas[k], >=, base);
            g_assert_cmphex(pas[k], <, base + 2 * MiB);
            told[(pas[k] - base) / 0x1000]++;
        }
        total += n;
        /* The vCPU retries meanwhile: held again */
        inject_ar_as_kvm(qts, base + touched, 1);
        g_assert_cmphex(qtest_readl(qts, ras_ghes_block(&fw, 2)), ==, 0);
        ras_ghes_ack(&fw, 0);
    }
    g_assert_cmpint(total, ==, 511);
    for (i = 0; i < 512; i++) {
        g_assert_cmpint(told[i], ==, i != touched / 0x1000);
    }
    /*
     * Told; acted on once the guest has made progress since (its vCPUs
     * idle, or a long enough wait of the guest's clock): the retry after
     * that takes its SEA, for the page it touched
     */
    g_usleep(20 * 1000);
    qtest_clock_step(qts, 10000000000ll);
    for (i = 0; i < 1000 && !qtest_readl(qts, ras_ghes_block(&fw, 2)); i++) {
        g_usleep(2 * 1000);
        inject_ar_as_kvm(qts, base + touched, 1);
    }
    g_assert_cmphex(ras_ghes_record_pa(&fw, 2), ==, base + touched);
    /* The rest was told once: nothing more for the asynchronous source */
    ras_ghes_ack(&fw, 0);
    g_assert_cmphex(qtest_readl(qts, ras_ghes_block(&fw, 0)), ==, 0);
    qtest_quit(qts);
}

/*
 * arm: a memory error in the memory of the GHES blob, which QEMU keeps:
 * the page is replaced and what the guest had not taken yet written
 * back; QEMU's own writes never trap; nothing is left poisoned.
 */
static void test_ras_memory(void)
{
    QTestState *qts = start(NULL);
    uint64_t blob, block0;
    RasFw fw;
    QList *l;
    QDict *e;
    int i;

    ras_fw_init(&fw, qts);
    ras_fw_run_loader(&fw);
    blob = ras_ghes_blob(&fw);
    block0 = ras_ghes_block(&fw, 0);
    /* A record the guest has not taken yet */
    inject_gpa(qts, page(1), false, 0);
    expect_event(qts, "guest", "inject", false, false, page(1), 4096);

    /* In the asynchronous source's page, then in the SEA sources' */
    inject_gpa(qts, block0, false, 0);
    expect_event(qts, "hypervisor", "ignore", false, false, block0, 4096);
    g_assert_cmphex(ras_ghes_record_pa(&fw, 0), ==, page(1));
    for (i = 0; i < RAS_GHES_SOURCES; i++) {
        g_assert_cmpint(ras_ghes_source_int(qts, i, "mended"), ==, !i);
    }
    inject_gpa(qts, ras_ghes_block(&fw, 1), false, 0);
    expect_event(qts, "hypervisor", "ignore", false, false,
                 ras_ghes_block(&fw, 1), 4096);
    for (i = 0; i < RAS_GHES_SOURCES; i++) {
        g_assert_cmpint(ras_ghes_source_int(qts, i, "mended"), ==, 1);
    }
    /* In the register page, taken by a vCPU */
    inject_gpa(qts, blob, true, 0);
    expect_event(qts, "hypervisor", "ignore", true, false, blob, 4096);
    /* Poisoned: only the guest's page, not QEMU's mended ones */
    l = query(qts);
    g_assert_cmpint(qlist_size(l), ==, 1);
    e = qobject_to(QDict, qlist_peek(l));
    g_assert_cmphex(qdict_get_int(e, "address"), ==, page(1));
    qobject_unref(l);

    /* Both still work: the next record goes in once this one is taken */
    inject_gpa(qts, page(2), false, 0);
    expect_event(qts, "guest", "inject", false, false, page(2), 4096);
    g_assert_cmphex(ras_ghes_record_pa(&fw, 0), ==, page(1));
    ras_ghes_ack(&fw, 0);
    g_assert_cmphex(ras_ghes_record_pa(&fw, 0), ==, page(2));
    qtest_quit(qts);
}

/*
 * arm: the blob in a huge page, which QEMU cannot replace without the
 * guest data it holds: its sources are lost, visibly; the rest of the
 * huge page is the guest's, at the address of its first byte though the
 * GHES registers are mapped over that byte.
 */
static void test_ras_memory_huge(void)
{
    QTestState *qts;
    QDict *rsp, *ev;
    RasFw fw;
    uint64_t base, blob;
    uint8_t le[8], copy[RAS_GHES_BLOB_LEN];
    int i;

    qts = start_huge_dimm(&base);
    if (!qts) {
        return;
    }
    ras_fw_init(&fw, qts);
    ras_fw_run_loader(&fw);
    /*
     * Firmware placed the blob at the start of the DIMM's huge page (on
     * the next boot: the address is taken once per boot)
     */
    blob = ras_ghes_blob(&fw);
    qtest_memread(qts, blob, copy, sizeof(copy));
    qtest_qmp_assert_success(qts, "{ 'execute': 'system_reset' }");
    qtest_qmp_eventwait(qts, "RESET");
    qtest_memwrite(qts, base, copy, sizeof(copy));
    stq_le_p(le, base);
    ras_fw_cfg_write(qts, ras_fw_file(&fw, "etc/hardware_errors_addr")->select,
                     le, sizeof(le));
    g_assert_cmpint(ras_ghes_source_int(qts, 0, "block-address"), ==,
                    base + RAS_GHES_REGS_LEN);

    inject_gpa(qts, base + MiB, false, 0);
    for (i = 0; i < RAS_GHES_SOURCES; i++) {
        ev = qtest_qmp_eventwait_ref(qts, "GHES_SOURCE_LOST");
        g_assert_cmpint(qdict_get_int(qdict_get_qdict(ev, "data"),
                                      "source-id"), ==, i);
        qobject_unref(ev);
        rsp = ras_ghes_source(qts, i);
        g_assert(qdict_get_bool(rsp, "lost"));
        qobject_unref(rsp);
    }
    /* No source left to tell the guest through */
    expect_event(qts, "guest", "ignore", false, false, base, 2 * MiB);
    /* QEMU's registers stay above the poison trap */
    qtest_writeq(qts, base + 8 * RAS_GHES_SOURCES, 1);
    g_assert_cmphex(qtest_readq(qts, base + 8 * RAS_GHES_SOURCES), ==, 1);
    qtest_quit(qts);
}

/*
 * x86, AMD (the default qemu64): an action-optional error is a deferred
 * error in a bank the guest polls, needing no CR4.MCE; the next one waits
 * until the guest has taken it from the bank.
 */
static void test_x86_amd_deferred(void)
{
    QTestState *qts = start("-cpu qemu64");
    int i;

    /* One in each of eight banks */
    for (i = 0; i < 8; i++) {
        inject_gpa(qts, page(1 + i), false, 0);
        expect_event(qts, "guest", "inject", false, false, page(1 + i),
                     4096);
        g_assert_cmpint(ras_queue_int(qts, "x86-mce", "waiting"), ==, 0);
    }
    /* The same page again, while it waits in its bank: nothing more */
    inject_gpa(qts, page(1), false, 0);
    expect_event(qts, "guest", "inject", false, false, page(1), 4096);
    g_assert_cmpint(ras_queue_int(qts, "x86-mce", "waiting"), ==, 0);
    /* No bank left: the next one waits for the guest */
    inject_gpa(qts, page(9), false, 0);
    expect_event(qts, "guest", "inject", false, false, page(9), 4096);
    g_assert_cmpint(ras_queue_int(qts, "x86-mce", "waiting"), ==, 1);
    /* The memory they were about is replaced at reset */
    qtest_qmp_assert_success(qts, "{ 'execute': 'system_reset' }");
    qtest_qmp_eventwait(qts, "RESET");
    g_assert_cmpint(ras_queue_int(qts, "x86-mce", "waiting"), ==, 0);
    qtest_quit(qts);
}

/*
 * x86: held machine checks in a migration stream, the subsection
 * "x86-mce-queue/state" of section "x86-mce-queue": counters, a count,
 * then that many of { vCPU, guest address, action required }.
 */
typedef struct X86Held {
    int32_t cpu_index;
    uint64_t gpa;
    bool ar;
} X86Held;

#define X86_MCE_QUEUE           "x86-mce-queue"
#define X86_MCE_QUEUE_STATE     "x86-mce-queue/state"
/* migration/savevm.c */
#define QEMU_VM_SECTION_FULL    0x04
#define QEMU_VM_SUBSECTION      0x05
#define QEMU_VM_SECTION_FOOTER  0x7e

static void put_be(GByteArray *out, uint64_t v, int size)
{
    uint8_t b[8];

    stq_be_p(b, v);
    g_byte_array_append(out, b + 8 - size, size);
}

/* A section's or subsection's name: its length, then its bytes */
static void put_name(GByteArray *out, const char *name)
{
    put_be(out, strlen(name), 1);
    g_byte_array_append(out, (const uint8_t *)name, strlen(name));
}

/*
 * The saved stream of a machine that held no machine check (which sends
 * no section for its queue) with the section put in, before the "timer"
 * section: delivered 5, dropped 1, @count, then @n held machine checks:
 * @held, or, for NULL, valid ones
 */
static void x86_stream_write(RasStream *stream, int32_t count, int n,
                             const X86Held *held)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    /* The idstr's length, the idstr and instance 0 */
    static const uint8_t timer[] = "\x05timer\0\0\0";
    uint8_t *p = memmem(stream->buf, stream->len, timer, sizeof(timer));
    /* the type byte and the section id before it */
    uint8_t *at = p ? p - 5 : NULL;
    const uint32_t section_id = 0x7ff0;
    int i;

    g_assert(!memmem(stream->buf, stream->len, X86_MCE_QUEUE,
                     strlen(X86_MCE_QUEUE)));
    g_assert(at && at[0] == QEMU_VM_SECTION_FULL);
    g_byte_array_append(out, stream->buf, at - stream->buf);
    put_be(out, QEMU_VM_SECTION_FULL, 1);
    put_be(out, section_id, 4);
    put_name(out, X86_MCE_QUEUE);
    put_be(out, 0, 4);                          /* instance */
    put_be(out, 1, 4);                          /* version */
    put_be(out, QEMU_VM_SUBSECTION, 1);
    put_name(out, X86_MCE_QUEUE_STATE);
    put_be(out, 1, 4);                          /* version */
    put_be(out, 5, 8);                          /* delivered */
    put_be(out, 1, 8);                          /* dropped */
    put_be(out, (uint32_t)count, 4);
    for (i = 0; i < n; i++) {
        X86Held h = held ? held[i] :
                    (X86Held){ i % RAS_NR_CPUS, page(i % 64), i & 1 };

        put_be(out, (uint32_t)h.cpu_index, 4);
        put_be(out, h.gpa, 8);
        put_be(out, h.ar, 1);
    }
    put_be(out, QEMU_VM_SECTION_FOOTER, 1);
    put_be(out, section_id, 4);
    g_byte_array_append(out, at, stream->buf + stream->len - at);
    ras_stream_write(stream, out->data, out->len);
}

/* A new machine (-global @extra) refuses the stream and still answers */
static void x86_stream_refused(RasStream *stream, const char *global)
{
    g_autofree char *extra = global ? g_strdup_printf("-global %s", global)
                                    : NULL;
    QTestState *qts = start_incoming(extra);

    ras_stream_refused(stream, qts, X86_MCE_QUEUE);
    qtest_quit(qts);
}

/*
 * The migration stream is untrusted: a count of held machine checks
 * below zero, above the queue's size or above 2^20 (whatever the size),
 * a machine check for no vCPU or at no page: the load fails, cleanly.
 */
static void test_x86_queue_stream(void)
{
    g_autoptr(RasStream) stream = ras_stream_new();
    const X86Held good[] = {
        { 0, page(1), true },
        { 1, page(2), false },
        { 1, page(3), false },
    };
    const X86Held bad[][2] = {
        { good[0], { RAS_NR_CPUS, page(2), false } },
        { good[0], { -1, page(2), false } },
        { good[0], { 1, page(2) + 8, false } },
        { { 0, page(1) + 0x800, true }, good[1] },
    };
    QTestState *qts;
    int i;

    ras_stream_save(stream, start(NULL));

    /* Two held machine checks: they wait on the destination */
    x86_stream_write(stream, 2, 2, good);
    qts = start_incoming(NULL);
    g_assert_cmpstr(ras_stream_load(stream, qts), ==, "completed");
    ras_assert_queue(qts, "x86-mce", 65536, 2, 5, 1);
    qtest_quit(qts);

    /* More than the queue holds */
    x86_stream_write(stream, 3, 3, good);
    x86_stream_refused(stream, "x86-mce-queue.size=2");
    /* Below zero (VMState would take it for a huge size) */
    x86_stream_write(stream, -1, 0, NULL);
    x86_stream_refused(stream, NULL);
    x86_stream_write(stream, INT32_MIN, 0, NULL);
    x86_stream_refused(stream, NULL);
    /* Above 2^20, on a machine whose queue would hold them */
    x86_stream_write(stream, (1 << 20) + 1, (1 << 20) + 1, NULL);
    x86_stream_refused(stream, "x86-mce-queue.size=4000000");

    /* No such vCPU, or not at a page */
    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        x86_stream_write(stream, 2, 2, bad[i]);
        x86_stream_refused(stream, NULL);
    }
}

static uint64_t free_huge_pages(void)
{
    g_autofree char *info = NULL;
    const char *p;

    if (!g_file_get_contents("/proc/meminfo", &info, NULL, NULL) ||
        !strstr(info, "Hugepagesize:       2048 kB")) {
        return 0;
    }
    p = strstr(info, "HugePages_Free:");
    return p ? g_ascii_strtoull(p + strlen("HugePages_Free:"), NULL, 10) : 0;
}

/*
 * A huge page fails as a whole: on a hot-plugged DIMM backed by 2 MiB
 * pages, an error anywhere in a page loses (and reports) all of it,
 * whether the signal reached a vCPU thread or the main thread.
 */
static void test_huge_page(void)
{
    QTestState *qts;
    uint64_t base;

    qts = start_huge_dimm(&base);
    if (!qts) {
        return;
    }
    inject_gpa(qts, base + 0x3000, false, 0);
    expect_event(qts, "guest", "ignore", false, false, base, 2 * MiB);
    inject_gpa(qts, base + 2 * MiB + 0x1ff000, true, 1);
    expect_event(qts, "guest", "inject", true, false, base + 2 * MiB,
                 2 * MiB);
    /* Inside a range already lost: one more hit, not a new range */
    inject_gpa(qts, base + 0x1000, false, 0);
    expect_event(qts, "guest", "ignore", false, false, base, 2 * MiB);
    g_assert_cmpint(nr_tracked(qts), ==, 2);
    qtest_quit(qts);
}

static void inject_sized(QTestState *qts, uint64_t gpa, uint64_t size)
{
    event_second_passes(qts);
    qtest_qmp_assert_success(qts, "{ 'execute': "
                             "'inject-host-memory-failure', 'arguments': "
                             "{ 'kind': 'action-optional', 'address': %"
                             PRIu64 ", 'page-size': %" PRIu64 " } }",
                             gpa, size);
}

/* The offset in ram_addr_t space of RAM block @name ("info ramblock") */
static uint64_t ramblock_offset(QTestState *qts, const char *name)
{
    g_autofree char *info = qtest_hmp(qts, "info ramblock");
    g_auto(GStrv) lines = g_strsplit(info, "\n", 0);
    uint64_t offset = UINT64_MAX;
    int i;

    for (i = 0; lines[i]; i++) {
        g_auto(GStrv) f = g_strsplit_set(g_strstrip(lines[i]), " ", 0);
        int j, k = 0;
        char *col[8] = { 0 };

        for (j = 0; f[j] && k < 8; j++) {
            if (*f[j]) {
                col[k++] = f[j];
            }
        }
        if (k >= 4 && !strcmp(col[0], name)) {
            offset = g_ascii_strtoull(col[3], NULL, 16);
        }
    }
    g_assert(offset != UINT64_MAX);
    return offset;
}

/*
 * A hot-plugged hugetlb DIMM, whose RAM block is only 256 KiB aligned in
 * ram_addr_t space: ranges are aligned in the block, so every report in
 * a huge page names its guest address, 4 KiB and huge-page reports of
 * one page meet in one range whatever their order, and reset gives back
 * exactly the lost huge page.
 */
static void test_hotplug_huge_page(void)
{
    QTestState *qts;
    QDict *e;
    QList *l;
    uint64_t base, hp;

    if (free_huge_pages() < 2) {
        g_test_skip("needs two free 2 MiB huge pages "
                    "(/proc/sys/vm/nr_hugepages)");
        return;
    }
    qts = start_mem(is_arm() ? "1G,slots=2,maxmem=2G"
                             : "512M,slots=2,maxmem=2G", NULL);
    /* A small block first, so the DIMM's lands off 2 MiB in ram_addr_t */
    qtest_qmp_assert_success(qts, "{ 'execute': 'object-add', 'arguments': "
                             "{ 'qom-type': 'memory-backend-ram', "
                             "'id': 'pad', 'size': 262144 } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'object-add', 'arguments': "
                             "{ 'qom-type': 'memory-backend-memfd', "
                             "'id': 'h', 'size': 4194304, 'hugetlb': true, "
                             "'hugetlbsize': 2097152 } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'device_add', 'arguments': "
                             "{ 'driver': 'pc-dimm', 'id': 'd', "
                             "'memdev': 'h' } }");
    base = dimm_base(qts);
    g_test_message("DIMM at 0x%" PRIx64 ", its RAM block at ram_addr 0x%"
                   PRIx64, base, ramblock_offset(qts, "h"));
    g_assert_cmphex(ramblock_offset(qts, "h") % (2 * MiB), !=, 0);
    /* Guest data in the second huge page */
    hp = base + 2 * MiB;
    qtest_writeq(qts, hp + 0x10, 0x1122334455667788ull);

    /* A 4 KiB report, then the huge page: one range, both hits */
    inject_sized(qts, base + 0x3000, 4096);
    expect_event(qts, "guest", "ignore", false, false, base + 0x3000, 4096);
    inject_sized(qts, base + 0x5000, 2 * MiB);
    expect_event(qts, "guest", "ignore", false, false, base, 2 * MiB);
    /* Again anywhere in it: the same guest address, one more hit */
    inject_gpa(qts, base + 0x1ff000, false, 0);
    expect_event(qts, "guest", "ignore", false, false, base, 2 * MiB);
    inject_sized(qts, base + 0x3000, 4096);
    expect_event(qts, "guest", "ignore", false, false, base + 0x3000, 4096);
    l = query(qts);
    g_assert_cmpint(qlist_size(l), ==, 1);
    e = qobject_to(QDict, qlist_peek(l));
    g_assert_cmphex(qdict_get_int(e, "address"), ==, base);
    g_assert_cmpint(qdict_get_int(e, "size"), ==, 2 * MiB);
    g_assert_cmpint(qdict_get_int(e, "hits"), ==, 4);
    qobject_unref(l);

    /* Reset replaces the lost huge page only */
    qtest_qmp_assert_success(qts, "{ 'execute': 'system_reset' }");
    qtest_qmp_eventwait(qts, "RESET");
    g_assert_cmphex(qtest_readq(qts, hp + 0x10), ==, 0x1122334455667788ull);

    /* The other order: the huge page, then a 4 KiB report inside it */
    inject_gpa(qts, hp + 0x3000, false, 0);
    expect_event(qts, "guest", "ignore", false, false, hp, 2 * MiB);
    inject_sized(qts, hp + 0x3000, 4096);
    expect_event(qts, "guest", "ignore", false, false, hp + 0x3000, 4096);
    g_assert_cmpint(nr_tracked(qts), ==, 1);
    qtest_quit(qts);
}

/*
 * Real host poison: where the host allows it, the host kernel's own
 * signal drives the same path; where it does not, a clear error.
 */
static void test_real_poison(void)
{
    QTestState *qts = start(NULL);
    QDict *rsp;

    rsp = qtest_qmp(qts, "{ 'execute': 'inject-host-memory-failure', "
                    "'arguments': { 'kind': 'real', 'address': %" PRIu64
                    " } }", page(6));
    if (qdict_haskey(rsp, "error")) {
        g_assert(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"), "desc"),
                        "real host poison is not available"));
        g_test_message("host cannot poison memory: %s",
                       qdict_get_str(qdict_get_qdict(rsp, "error"), "desc"));
    } else {
        /* Nobody placed error sources or enabled MCE: not reported */
        expect_event(qts, "guest", "ignore", false, false, page(6), 4096);
    }
    qobject_unref(rsp);
    /* The host kernel decides what it reports, and when */
    rsp = qtest_qmp(qts, "{ 'execute': 'inject-host-memory-failure', "
                    "'arguments': { 'kind': 'real', 'address': %" PRIu64
                    ", 'page-size': 4096 } }", page(6));
    g_assert(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"), "desc"),
                    "'page-size' is unexpected"));
    qobject_unref(rsp);
    qtest_quit(qts);
}

/* inject-host-memory-failure x-poison-marker @arg; the error, if any */
static char *mark(QTestState *qts, const char *arg)
{
    g_autofree char *args = g_strdup_printf("{ 'kind': 'x-poison-marker', "
                                            "%s }", arg);
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'inject-host-memory-failure', "
                           "'arguments': %p }",
                           qobject_from_json(args, &error_abort));
    char *err = qdict_haskey(rsp, "error") ?
        g_strdup(qdict_get_str(qdict_get_qdict(rsp, "error"), "desc")) :
        NULL;

    qobject_unref(rsp);
    return err;
}

/*
 * x-poison-marker: the page fails at its next access, with nothing told
 * before (the guest tests -traps touch such pages from QEMU's code); only
 * memory userfaultfd can register takes one (a refusal leaves no mark
 * behind), and at most 64 pages do.
 */
static void test_poison_marker(void)
{
    g_autofree char *file = g_strdup("ras-marker-XXXXXX");
    g_autofree char *backend = NULL;
    QTestState *qts;
    struct statfs fs;
    char *err, *arg;
    int fd, marked = 1, i;

    /* In the working directory: /tmp may be shared memory */
    fd = g_mkstemp(file);
    g_assert(fd >= 0);
    g_assert(fstatfs(fd, &fs) == 0);
    close(fd);
    backend = g_strdup_printf("-object memory-backend-file,id=disk,"
                              "size=1M,share=on,mem-path=%s", file);
    qts = start(backend);

    arg = g_strdup_printf("'address': %" PRIu64, page(7));
    err = mark(qts, arg);
    if (err && strstr(err, "cannot recreate poisoned memory")) {
        g_test_skip(err);
        g_free(err);
        g_free(arg);
        qtest_quit(qts);
        unlink(file);
        return;
    }
    g_assert_null(err);
    /* Nothing is told before an access; marking it again is no error */
    g_assert_cmpint(nr_tracked(qts), ==, 0);
    g_assert_null(mark(qts, arg));
    g_free(arg);
    /* A file on disk: userfaultfd cannot register it (tmpfs it can) */
    err = mark(qts, "'memdev': 'disk'");
    if (fs.f_type == 0x01021994) {
        g_test_message("the working directory is tmpfs: a marker in its "
                       "file is not refused");
        g_assert_null(err);
        marked++;
    } else {
        g_assert(err && strstr(err, "cannot recreate poisoned memory"));
    }
    g_free(err);
    for (i = 8; ; i++) {
        arg = g_strdup_printf("'address': %" PRIu64, page(i));
        err = mark(qts, arg);
        g_free(arg);
        if (err) {
            break;
        }
        marked++;
    }
    g_assert_cmpstr(err, ==, "no more host pages can be marked poisoned");
    g_free(err);
    g_assert_cmpint(marked, ==, 64);
    g_assert_cmpint(nr_tracked(qts), ==, 0);
    qtest_quit(qts);
    unlink(file);
}

/* The HMP twins */
static void test_hmp(void)
{
    QTestState *qts = start(NULL);
    g_autofree char *cmd = g_strdup_printf(
        "inject_host_memory_failure -a 0x%" PRIx64 " 1", page(5));
    g_autofree char *want = g_strdup_printf("0x%016" PRIx64 " size 0x1000 "
                                            "guest hits 1", page(5));
    char *out;

    out = qtest_hmp(qts, "info memory-failures");
    g_assert(strstr(out, "no memory lost"));
    g_assert(strstr(out, is_arm() ? "queue ghes (source 0): 0 waiting of "
                                    "65536, 0 delivered, 0 dropped"
                                  : "queue x86-mce: 0 waiting of 65536, "
                                    "0 delivered, 0 dropped"));
    g_free(out);
    out = qtest_hmp(qts, "%s", cmd);
    g_assert_cmpstr(out, ==, "");
    g_free(out);
    expect_event(qts, "guest", "inject", true, false, page(5), 4096);
    out = qtest_hmp(qts, "info memory-failures");
    g_assert(strstr(out, want));
    g_free(out);
    out = qtest_hmp(qts, "inject_host_memory_failure -a 0x%" PRIx64 " 7",
                    page(5));
    g_assert(strstr(out, "no vCPU with index 7"));
    g_free(out);
    qtest_quit(qts);
}

/*
 * HMP "mce" raises machine checks the way memory errors do (one
 * injector): a corrected error is only logged; an uncorrected one on a
 * vCPU that cannot take it (CR4.MCE is clear: under qtest no guest code
 * ran) shuts it down, which QEMU turns into a reset, with the reason on
 * the monitor and no MEMORY_FAILURE event (no host memory failed).
 */
static void test_hmp_mce(void)
{
    QTestState *qts = start(NULL);
    char *out;

    /* VAL | EN, corrected */
    out = qtest_hmp(qts, "mce 0 9 0x9000000000000000 0 0 0");
    g_assert_cmpstr(out, ==, "");
    g_free(out);
    /* VAL | UC | EN */
    out = qtest_hmp(qts, "mce 0 9 0xb000000000000000 0x5 0x1000 0");
    g_assert(strstr(out, "CPU 0: MCE not enabled by the guest"));
    g_free(out);
    qtest_qmp_eventwait(qts, "RESET");
    /* Upstream's injector sent one before the reset */
    g_assert_null(qtest_qmp_event_ref(qts, "MEMORY_FAILURE"));
    out = qtest_hmp(qts, "mce 0 99 0xb000000000000000 0x5 0x1000 0");
    g_assert(strstr(out, "Invalid MCE bank number"));
    g_free(out);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    arch = qtest_get_arch();

    if (is_arm() ? !qtest_has_machine("virt") : !qtest_has_machine("q35")) {
        return g_test_run();
    }
    qtest_add_func("/memory-failure/guest-memory", test_guest_memory);
    qtest_add_func("/memory-failure/reset", test_reset);
    qtest_add_func("/memory-failure/hypervisor-memory",
                   test_hypervisor_memory);
    qtest_add_func("/memory-failure/memdev-guest", test_memdev_guest);
    qtest_add_func("/memory-failure/bad-input", test_bad_input);
    qtest_add_func("/memory-failure/burst", test_burst);
    qtest_add_func("/memory-failure/ao-batch", test_ao_batch);
    qtest_add_func("/memory-failure/event-throttle", test_event_throttle);
    qtest_add_func("/memory-failure/many-traps", test_many_traps);
    qtest_add_func("/memory-failure/refault-once", test_refault_once);
    qtest_add_func("/memory-failure/migration-poison",
                   test_migration_poison);
    qtest_add_func("/memory-failure/migration-poison-during",
                   test_migration_poison_during);
    qtest_add_func("/memory-failure/migration-cancelled",
                   test_migration_cancelled);
    qtest_add_func("/memory-failure/migration-postcopy",
                   test_migration_postcopy);
    qtest_add_func("/memory-failure/rom", test_rom);
    qtest_add_func("/memory-failure/smram", test_smram);
    qtest_add_func("/memory-failure/dimm-unplug", test_dimm_unplug);
    qtest_add_func("/memory-failure/stream-bad-poison",
                   test_stream_bad_poison);
    qtest_add_func("/memory-failure/migration-hypervisor-memory",
                   test_migration_hypervisor_memory);
    qtest_add_func("/memory-failure/snapshot-poison", test_snapshot_poison);
    if (is_arm()) {
        qtest_add_func("/memory-failure/stream-bad-record",
                       test_stream_bad_record);
    }
    qtest_add_func("/memory-failure/trap-runs", test_trap_runs);
    qtest_add_func("/memory-failure/device-access", test_device_access);
    if (!is_arm()) {
        qtest_add_func("/memory-failure/x86-queue", test_x86_queue);
        qtest_add_func("/memory-failure/hmp-mce", test_hmp_mce);
        qtest_add_func("/memory-failure/x86-amd-deferred",
                       test_x86_amd_deferred);
        qtest_add_func("/memory-failure/x86-queue-stream",
                       test_x86_queue_stream);
        qtest_add_func("/memory-failure/x86-machine-compat",
                       test_x86_machine_compat);
    }
    if (is_arm()) {
        qtest_add_func("/memory-failure/ras-memory", test_ras_memory);
        qtest_add_func("/memory-failure/ras-memory-huge",
                       test_ras_memory_huge);
    }
    qtest_add_func("/memory-failure/hmp", test_hmp);
    qtest_add_func("/memory-failure/huge-page", test_huge_page);
    if (is_arm()) {
        qtest_add_func("/memory-failure/huge-page-exact",
                       test_huge_page_exact);
        qtest_add_func("/memory-failure/huge-page-kvm-hold",
                       test_huge_page_kvm_hold);
    }
    qtest_add_func("/memory-failure/hotplug-huge-page",
                   test_hotplug_huge_page);
    qtest_add_func("/memory-failure/real-poison", test_real_poison);
    qtest_add_func("/memory-failure/poison-marker", test_poison_marker);
    return g_test_run();
}
