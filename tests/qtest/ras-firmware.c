/*
 * QTest helpers that play the guest firmware's part for ACPI on arm virt
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "standard-headers/linux/qemu_fw_cfg.h"
#include "ras-firmware.h"

#define FW_CFG_BASE         0x09020000ull
#define RAM_BASE            0x40000000ull
/* where the fake firmware puts what it allocates, and its scratch page */
#define ALLOC_BASE          (RAM_BASE + 0x04000000ull)
#define SCRATCH             (RAM_BASE + 0x08000000ull)

#define LOADER_FILESZ       RAS_FW_LOADER_FILESZ
#define CMD_ALLOCATE        1
#define CMD_ADD_POINTER     2
#define CMD_ADD_CHECKSUM    3
#define CMD_WRITE_POINTER   4

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
    qtest_writeq(qts, FW_CFG_BASE + 16, bswap64(SCRATCH));
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
