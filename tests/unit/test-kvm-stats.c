/*
 * system/kvm-stats.c on files laid out as KVM lays out its binary
 * statistics, and on broken ones
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include "system/kvm-stats.h"

#define NAME_SIZE   48

typedef struct Stat {
    const char *name;
    uint16_t size;
    uint64_t value;
} Stat;

/*
 * A statistics file: header, id, descriptors, data, with the data block
 * at @data_pad bytes past the descriptors (KVM puts it anywhere the
 * header says)
 */
static int make_file(const Stat *stats, unsigned n, size_t data_pad,
                     struct kvm_stats_header *hdr)
{
    char path[] = "/tmp/test-kvm-stats-XXXXXX";
    size_t desc_size = sizeof(struct kvm_stats_desc) + NAME_SIZE;
    g_autofree uint8_t *buf = NULL;
    size_t len, data_off, value = 0;
    unsigned i;
    int fd = mkstemp(path);

    g_assert(fd >= 0);
    unlink(path);
    hdr->flags = 0;
    hdr->name_size = NAME_SIZE;
    hdr->num_desc = n;
    hdr->id_offset = sizeof(*hdr);
    hdr->desc_offset = hdr->id_offset + NAME_SIZE;
    hdr->data_offset = hdr->desc_offset + n * desc_size + data_pad;
    len = hdr->data_offset;
    for (i = 0; i < n; i++) {
        len += stats[i].size * sizeof(uint64_t);
    }
    buf = g_malloc0(len);
    memcpy(buf, hdr, sizeof(*hdr));
    strcpy((char *)buf + hdr->id_offset, "kvm-1234/vcpu-0");
    for (i = 0; i < n; i++) {
        struct kvm_stats_desc *d =
            (void *)(buf + hdr->desc_offset + i * desc_size);

        d->flags = KVM_STATS_TYPE_INSTANT | KVM_STATS_UNIT_BOOLEAN;
        d->size = stats[i].size;
        d->offset = value * sizeof(uint64_t);
        strcpy(d->name, stats[i].name);
        data_off = hdr->data_offset + d->offset;
        memcpy(buf + data_off, &stats[i].value, sizeof(uint64_t));
        value += stats[i].size;
    }
    g_assert_cmpint(pwrite(fd, buf, len, 0), ==, len);
    return fd;
}

static uint64_t read_at(int fd, int64_t off)
{
    uint64_t v = 0;

    g_assert_cmpint(off, >=, 0);
    g_assert_cmpint(pread(fd, &v, sizeof(v), off), ==, sizeof(v));
    return v;
}

static const Stat vcpu_stats[] = {
    { "halt_successful_poll", 1, 17 },
    { "halt_poll_success_hist", 32, 5 },
    { "halt_wakeup", 1, 99 },
    { "blocking", 1, 1 },
    { "exits", 1, 12345 },
};

static void test_find(void)
{
    struct kvm_stats_header h;
    int fd = make_file(vcpu_stats, ARRAY_SIZE(vcpu_stats), 16, &h);

    g_assert_cmpuint(read_at(fd, kvm_stats_find(fd, "blocking")), ==, 1);
    g_assert_cmpuint(read_at(fd, kvm_stats_find(fd, "exits")), ==, 12345);
    g_assert_cmpuint(read_at(fd, kvm_stats_find(fd, "halt_wakeup")), ==, 99);
    /* Missing, a prefix of one, a histogram */
    g_assert_cmpint(kvm_stats_find(fd, "halted"), ==, -1);
    g_assert_cmpint(kvm_stats_find(fd, "block"), ==, -1);
    g_assert_cmpint(kvm_stats_find(fd, "halt_poll_success_hist"), ==, -1);
    close(fd);
}

/* A header or descriptors that do not fit the file: not found */
static void test_broken(void)
{
    struct kvm_stats_header h;
    int fd = make_file(vcpu_stats, ARRAY_SIZE(vcpu_stats), 0, &h);
    struct kvm_stats_header bad;

    bad = h;
    bad.num_desc = 1000;    /* descriptors past the end of the file */
    g_assert_cmpint(pwrite(fd, &bad, sizeof(bad), 0), ==, sizeof(bad));
    g_assert_cmpint(kvm_stats_find(fd, "absent"), ==, -1);

    bad = h;
    bad.name_size = 0;
    g_assert_cmpint(pwrite(fd, &bad, sizeof(bad), 0), ==, sizeof(bad));
    g_assert_cmpint(kvm_stats_find(fd, "blocking"), ==, -1);

    bad = h;
    bad.name_size = UINT32_MAX;
    g_assert_cmpint(pwrite(fd, &bad, sizeof(bad), 0), ==, sizeof(bad));
    g_assert_cmpint(kvm_stats_find(fd, "blocking"), ==, -1);

    /* Names without their NUL still end within the descriptor */
    bad = h;
    bad.name_size = 8;
    g_assert_cmpint(pwrite(fd, &bad, sizeof(bad), 0), ==, sizeof(bad));
    g_assert_cmpint(kvm_stats_find(fd, "blocking"), ==, -1);

    g_assert_cmpint(ftruncate(fd, sizeof(h) - 1), ==, 0);
    g_assert_cmpint(kvm_stats_find(fd, "blocking"), ==, -1);
    close(fd);
}

/* This host's KVM, where it has one: a vCPU never run is not blocking */
static void test_host_kvm(void)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    int vm, vcpu, stats;

    if (kvm < 0) {
        g_test_skip("no /dev/kvm");
        return;
    }
    vm = ioctl(kvm, KVM_CREATE_VM, 0);
    vcpu = vm >= 0 ? ioctl(vm, KVM_CREATE_VCPU, 0) : -1;
    stats = vcpu >= 0 ? ioctl(vcpu, KVM_GET_STATS_FD, NULL) : -1;
    if (stats < 0) {
        g_test_skip("this host's KVM has no vCPU statistics");
    } else {
        g_assert_cmpuint(read_at(stats, kvm_stats_find(stats, "blocking")),
                         ==, 0);
        g_assert_cmpint(kvm_stats_find(stats, "no-such-statistic"), ==, -1);
        close(stats);
    }
    if (vcpu >= 0) {
        close(vcpu);
    }
    if (vm >= 0) {
        close(vm);
    }
    close(kvm);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/kvm-stats/find", test_find);
    g_test_add_func("/kvm-stats/broken", test_broken);
    g_test_add_func("/kvm-stats/host-kvm", test_host_kvm);
    return g_test_run();
}
