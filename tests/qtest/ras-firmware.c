/*
 * What ghes-test and memory-failure-test share: the guest firmware's part
 * for ACPI on arm virt, the GHES blob, QMP checks, migration streams
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "standard-headers/linux/qemu_fw_cfg.h"
#include "ras-firmware.h"

#define FW_CFG_BASE         0x09020000ull   /* arm virt: MMIO */
#define FW_CFG_DMA_PORT     0x514           /* x86: I/O ports */
#define RAM_BASE            (ras_fw_is_x86() ? 0 : RAS_VIRT_RAM_BASE)
/* where the fake firmware puts what it allocates, and its scratch page */
#define ALLOC_BASE          (RAM_BASE + 0x04000000ull)
#define SCRATCH             (RAM_BASE + 0x08000000ull)

#define LOADER_FILESZ       RAS_FW_LOADER_FILESZ
#define CMD_ALLOCATE        1
#define CMD_ADD_POINTER     2
#define CMD_ADD_CHECKSUM    3
#define CMD_WRITE_POINTER   4

bool ras_fw_is_x86(void)
{
    return !strcmp(qtest_get_arch(), "x86_64") ||
           !strcmp(qtest_get_arch(), "i386");
}

/* fw_cfg DMA transfer (docs/specs/fw_cfg.rst), used for reads and writes */
static void ras_fw_cfg_dma(QTestState *qts, uint16_t select, uint32_t control,
                       uint64_t addr, uint32_t len)
{
    uint8_t desc[16];

    stl_be_p(desc, ((uint32_t)select << 16) | FW_CFG_DMA_CTL_SELECT |
             control);
    stl_be_p(desc + 4, len);
    stq_be_p(desc + 8, addr);
    qtest_memwrite(qts, SCRATCH, desc, sizeof(desc));
    if (ras_fw_is_x86()) {
        /* big-endian registers: the high half, then the low one starts */
        qtest_outl(qts, FW_CFG_DMA_PORT, bswap32(SCRATCH >> 32));
        qtest_outl(qts, FW_CFG_DMA_PORT + 4, bswap32((uint32_t)SCRATCH));
    } else {
        qtest_writeq(qts, FW_CFG_BASE + 16, bswap64(SCRATCH));
    }
    g_assert_cmphex(qtest_readl(qts, SCRATCH), ==, 0);
}

static void ras_fw_cfg_read(QTestState *qts, uint16_t select, void *buf,
                        uint32_t len)
{
    ras_fw_cfg_dma(qts, select, FW_CFG_DMA_CTL_READ, SCRATCH + 0x100, len);
    qtest_memread(qts, SCRATCH + 0x100, buf, len);
}

void ras_fw_cfg_write(QTestState *qts, uint16_t select, const void *buf,
                         uint32_t len)
{
    qtest_memwrite(qts, SCRATCH + 0x100, buf, len);
    ras_fw_cfg_dma(qts, select, FW_CFG_DMA_CTL_WRITE, SCRATCH + 0x100, len);
}

static void ras_fw_read_dir(RasFw *fw)
{
    uint32_t count;
    g_autofree uint8_t *dir = NULL;
    int i;

    ras_fw_cfg_read(fw->qts, FW_CFG_FILE_DIR, &count, 4);
    count = be32_to_cpu(count);
    g_assert_cmpint(count, <=, ARRAY_SIZE(fw->files));
    dir = g_malloc(4 + count * 64);
    ras_fw_cfg_read(fw->qts, FW_CFG_FILE_DIR, dir, 4 + count * 64);
    for (i = 0; i < count; i++) {
        uint8_t *e = dir + 4 + i * 64;

        fw->files[i].size = ldl_be_p(e);
        fw->files[i].select = lduw_be_p(e + 4);
        memcpy(fw->files[i].name, e + 8, LOADER_FILESZ);
        fw->files[i].addr = 0;
    }
    fw->nr_files = count;
}

RasFwFile *ras_fw_file(RasFw *fw, const char *name)
{
    int i;

    for (i = 0; i < fw->nr_files; i++) {
        if (!strncmp(fw->files[i].name, name, LOADER_FILESZ)) {
            return &fw->files[i];
        }
    }
    return NULL;
}

/* Run etc/table-loader the way firmware does */
void ras_fw_run_loader(RasFw *fw)
{
    RasFwFile *loader;
    g_autofree uint8_t *cmds = NULL;
    uint32_t off;

    fw->next_alloc = ALLOC_BASE;
    ras_fw_read_dir(fw);
    loader = ras_fw_file(fw, "etc/table-loader");
    g_assert(loader);
    cmds = g_malloc(loader->size);
    ras_fw_cfg_read(fw->qts, loader->select, cmds, loader->size);

    for (off = 0; off + 128 <= loader->size; off += 128) {
        uint8_t *c = cmds + off;
        uint32_t cmd = ldl_le_p(c);

        if (cmd == CMD_ALLOCATE) {
            RasFwFile *f = ras_fw_file(fw, (char *)c + 4);
            uint32_t align = ldl_le_p(c + 4 + LOADER_FILESZ);
            g_autofree uint8_t *data = NULL;

            g_assert(f);
            fw->next_alloc = ROUND_UP(fw->next_alloc, MAX(align, 1));
            f->addr = fw->next_alloc;
            fw->next_alloc += ROUND_UP(f->size, 4096);
            data = g_malloc(f->size);
            ras_fw_cfg_read(fw->qts, f->select, data, f->size);
            qtest_memwrite(fw->qts, f->addr, data, f->size);
        } else if (cmd == CMD_ADD_POINTER) {
            RasFwFile *dst = ras_fw_file(fw, (char *)c + 4);
            RasFwFile *src = ras_fw_file(fw, (char *)c + 4 + LOADER_FILESZ);
            uint32_t poff = ldl_le_p(c + 4 + 2 * LOADER_FILESZ);
            uint8_t size = c[8 + 2 * LOADER_FILESZ];
            uint64_t val = 0;

            g_assert(dst && src && dst->addr && src->addr);
            g_assert(size == 8 || size == 4);
            qtest_memread(fw->qts, dst->addr + poff, &val, size);
            val = le64_to_cpu(val) + src->addr;
            val = cpu_to_le64(val);
            qtest_memwrite(fw->qts, dst->addr + poff, &val, size);
        } else if (cmd == CMD_ADD_CHECKSUM) {
            RasFwFile *f = ras_fw_file(fw, (char *)c + 4);
            uint32_t csum_off = ldl_le_p(c + 4 + LOADER_FILESZ);
            uint32_t start = ldl_le_p(c + 8 + LOADER_FILESZ);
            uint32_t len = ldl_le_p(c + 12 + LOADER_FILESZ);
            g_autofree uint8_t *data = g_malloc(len);
            uint8_t sum = 0, zero = 0;
            uint32_t i;

            g_assert(f && f->addr);
            qtest_memwrite(fw->qts, f->addr + csum_off, &zero, 1);
            qtest_memread(fw->qts, f->addr + start, data, len);
            for (i = 0; i < len; i++) {
                sum += data[i];
            }
            sum = -sum;
            qtest_memwrite(fw->qts, f->addr + csum_off, &sum, 1);
        } else if (cmd == CMD_WRITE_POINTER) {
            RasFwFile *dst = ras_fw_file(fw, (char *)c + 4);
            RasFwFile *src = ras_fw_file(fw, (char *)c + 4 + LOADER_FILESZ);
            uint32_t dst_off = ldl_le_p(c + 4 + 2 * LOADER_FILESZ);
            uint32_t src_off = ldl_le_p(c + 8 + 2 * LOADER_FILESZ);
            uint8_t size = c[12 + 2 * LOADER_FILESZ];
            uint64_t val = cpu_to_le64(src->addr + src_off);

            g_assert(dst && src && src->addr);
            g_assert_cmpint(dst_off, ==, 0);
            ras_fw_cfg_write(fw->qts, dst->select, &val, size);
        }
    }
}

/* Locate a table in the firmware's copy of etc/acpi/tables */
uint64_t ras_fw_find_table(RasFw *fw, const char *sig, uint32_t *len)
{
    RasFwFile *t = ras_fw_file(fw, "etc/acpi/tables");
    uint64_t off = 0;

    g_assert(t && t->addr);
    while (off + 8 <= t->size) {
        char s[4];
        uint32_t l = qtest_readl(fw->qts, t->addr + off + 4);

        qtest_memread(fw->qts, t->addr + off, s, 4);
        if (!l) {
            break;
        }
        if (!memcmp(s, sig, 4)) {
            *len = l;
            return t->addr + off;
        }
        off += l;
    }
    return 0;
}

void ras_fw_init(RasFw *fw, QTestState *qts)
{
    memset(fw, 0, sizeof(*fw));
    fw->qts = qts;
}

const char *ras_fw_dummy_bios(void)
{
    static char *bios;

    if (!bios) {
        int fd = g_file_open_tmp("ras-test-bios-XXXXXX", &bios, NULL);
        char zero[4096] = { 0 };

        g_assert(fd >= 0);
        g_assert(write(fd, zero, sizeof(zero)) == sizeof(zero));
        close(fd);
    }
    return bios;
}

QTestState *ras_virt_start(const char *mem, const char *extra)
{
    return qtest_initf("-machine virt,ras=on -cpu max -smp %d -m %s "
                       "-nic none -bios %s %s", RAS_NR_CPUS, mem,
                       ras_fw_dummy_bios(), extra ?: "");
}

/* --- the GHES blob ----------------------------------------------------- */

const uint8_t ras_cper_mem_err_guid[16] = {
    0x14, 0x11, 0xBC, 0xA5, 0x64, 0x6F, 0xDE, 0x4E,
    0xB8, 0x63, 0x3E, 0x83, 0xED, 0x7C, 0x83, 0xB1,
};

int ras_ghes_sources(void)
{
    return ras_fw_is_x86() ? RAS_GHES_SOURCES_X86 : RAS_GHES_SOURCES;
}

uint64_t ras_ghes_blob(RasFw *fw)
{
    RasFwFile *f = ras_fw_file(fw, "etc/hardware_errors");

    g_assert(f && f->addr);
    return f->addr;
}

uint64_t ras_ghes_block(RasFw *fw, int i)
{
    return ras_ghes_blob(fw) + RAS_GHES_REGS_LEN +
           (i ? RAS_GHES_ASYNC_BLOCK_LEN + RAS_GHES_BLOCK_LEN * (i - 1) : 0);
}

uint64_t ras_ghes_address_reg(RasFw *fw, int i)
{
    return ras_ghes_blob(fw) + 8 * i;
}

uint64_t ras_ghes_ack_reg(RasFw *fw, int i)
{
    return ras_ghes_blob(fw) + 8 * (ras_ghes_sources() + i);
}

int ras_ghes_record_pas(RasFw *fw, int i, uint64_t *pas, int max)
{
    uint64_t block = ras_ghes_block(fw, i);
    int n = (qtest_readl(fw->qts, block) >> 4) & 0x3ff, k;

    g_assert_cmpint(n, <=, max);
    for (k = 0; k < n; k++) {
        /* header, then data entries of 72 + 80 bytes; the address at 16 */
        pas[k] = qtest_readq(fw->qts, block + 20 + k * (72 + 80) + 72 + 16);
    }
    return n;
}

uint64_t ras_ghes_record_pa(RasFw *fw, int i)
{
    return qtest_readq(fw->qts, ras_ghes_block(fw, i) + RAS_GHES_RECORD_PA);
}

void ras_ghes_ack(RasFw *fw, int i)
{
    uint64_t ack;

    qtest_writel(fw->qts, ras_ghes_block(fw, i), 0);
    ack = qtest_readq(fw->qts, ras_ghes_ack_reg(fw, i));
    qtest_writeq(fw->qts, ras_ghes_ack_reg(fw, i), (ack & ~1ull) | 1);
    if (i == 0) {
        /* Time for the guest to have done what it acknowledged */
        qtest_clock_step(fw->qts, RAS_FW_ASYNC_MAX_WAIT_NS);
    }
}

QDict *ras_ghes_source(QTestState *qts, int i)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-ghes' }");
    QList *l = qdict_get_qlist(qdict_get_qdict(rsp, "return"), "sources");
    QDict *s = NULL;

    for (; i >= 0; i--) {
        qobject_unref(s);
        s = qobject_to(QDict, qlist_pop(l));
    }
    g_assert(s);
    qobject_unref(rsp);
    return s;
}

int64_t ras_ghes_source_int(QTestState *qts, int i, const char *key)
{
    QDict *s = ras_ghes_source(qts, i);
    int64_t v = qdict_get_int(s, key);

    qobject_unref(s);
    return v;
}

/* --- QMP ---------------------------------------------------------------- */

void ras_assert_error(QTestState *qts, const char *needle,
                      const char *fmt, ...)
{
    va_list ap;
    QDict *rsp, *err;

    va_start(ap, fmt);
    rsp = qtest_vqmp(qts, fmt, ap);
    va_end(ap);
    err = qdict_get_qdict(rsp, "error");
    g_assert(err);
    if (!strstr(qdict_get_str(err, "desc"), needle)) {
        g_error("expected '%s' in '%s'", needle, qdict_get_str(err, "desc"));
    }
    qobject_unref(rsp);
}

static QDict *ras_queue(QTestState *qts, const char *name)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-ras-queues' }");
    QList *l = qdict_get_qlist(rsp, "return");
    QDict *q;

    while ((q = qobject_to(QDict, qlist_pop(l)))) {
        if (!strcmp(qdict_get_str(q, "queue"), name)) {
            break;
        }
        qobject_unref(q);
    }
    qobject_unref(rsp);
    if (!q) {
        g_error("query-ras-queues has no queue %s", name);
    }
    return q;
}

int64_t ras_queue_int(QTestState *qts, const char *name, const char *key)
{
    QDict *q = ras_queue(qts, name);
    int64_t v = qdict_get_int(q, key);

    qobject_unref(q);
    return v;
}

void ras_assert_queue(QTestState *qts, const char *name, int64_t capacity,
                      int64_t waiting, int64_t delivered, int64_t dropped)
{
    const char *const key[] = { "capacity", "waiting", "delivered",
                                "dropped" };
    const int64_t want[] = { capacity, waiting, delivered, dropped };
    QDict *q = ras_queue(qts, name);
    int i;

    for (i = 0; i < ARRAY_SIZE(key); i++) {
        if (want[i] >= 0 && qdict_get_int(q, key[i]) != want[i]) {
            g_error("queue %s: %s %" PRId64 ", not %" PRId64, name, key[i],
                    qdict_get_int(q, key[i]), want[i]);
        }
    }
    qobject_unref(q);
}

/* --- migration ---------------------------------------------------------- */

const char *ras_migration_status(QTestState *qts)
{
    static char status[32];
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-migrate' }");

    g_strlcpy(status, qdict_get_try_str(qdict_get_qdict(rsp, "return"),
                                        "status") ?: "none",
              sizeof(status));
    qobject_unref(rsp);
    return status;
}

/* Long enough for a sanitizer build to save or load a 1 GiB machine */
#define MIGRATION_WAIT_US   (60 * G_USEC_PER_SEC)

const char *ras_migration_wait(QTestState *qts, const char *want)
{
    gint64 deadline = g_get_monotonic_time() + MIGRATION_WAIT_US;
    const char *st;

    for (;;) {
        st = ras_migration_status(qts);
        if (want ? !strcmp(st, want) :
            !strcmp(st, "completed") || !strcmp(st, "failed") ||
            !strcmp(st, "cancelled")) {
            return st;
        }
        if (g_get_monotonic_time() > deadline) {
            g_error("migration still '%s', not '%s'", st, want ?: "ended");
        }
        g_usleep(10 * 1000);
    }
}

void ras_migration_completed(QTestState *qts)
{
    g_assert_cmpstr(ras_migration_wait(qts, NULL), ==, "completed");
}

RasStream *ras_stream_new(void)
{
    RasStream *s = g_new0(RasStream, 1);

    s->dir = g_dir_make_tmp("ras-stream-XXXXXX", NULL);
    g_assert(s->dir);
    s->file = g_build_filename(s->dir, "state", NULL);
    s->uri = g_strdup_printf("file:%s", s->file);
    return s;
}

void ras_stream_free(RasStream *s)
{
    unlink(s->file);
    rmdir(s->dir);
    g_free(s->dir);
    g_free(s->file);
    g_free(s->uri);
    g_free(s->buf);
    g_free(s);
}

void ras_stream_save(RasStream *s, QTestState *qts)
{
    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate', 'arguments': "
                             "{ 'uri': %s } }", s->uri);
    ras_migration_completed(qts);
    qtest_quit(qts);
    g_clear_pointer(&s->buf, g_free);
    g_assert(g_file_get_contents(s->file, (char **)&s->buf, &s->len, NULL));
}

uint8_t *ras_stream_section(RasStream *s, const char *idstr)
{
    uint8_t *p = memmem(s->buf, s->len, idstr, strlen(idstr));

    g_assert(p);
    return p;
}

void ras_stream_write(RasStream *s, const void *buf, size_t len)
{
    g_assert(g_file_set_contents(s->file, buf, len, NULL));
}

const char *ras_stream_load(RasStream *s, QTestState *qts)
{
    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate-incoming', "
                             "'arguments': { 'uri': %s, "
                             "'exit-on-error': false } }", s->uri);
    return ras_migration_wait(qts, NULL);
}

void ras_stream_refused(RasStream *s, QTestState *qts, const char *needle)
{
    QDict *rsp;
    const char *desc;

    g_assert_cmpstr(ras_stream_load(s, qts), ==, "failed");
    rsp = qtest_qmp(qts, "{ 'execute': 'query-migrate' }");
    desc = qdict_get_try_str(qdict_get_qdict(rsp, "return"), "error-desc");
    g_test_message("refused: %s", desc);
    if (!desc || !strstr(desc, needle)) {
        g_error("expected '%s' in the migration error '%s'", needle, desc);
    }
    qobject_unref(rsp);
    /* Whatever the stream held, the machine is still there to ask */
    qtest_qmp_assert_success(qts, "{ 'execute': 'query-status' }");
}
