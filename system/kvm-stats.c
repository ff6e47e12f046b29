/*
 * Reading one statistic from a KVM binary statistics file
 *
 * The file is KVM's, but a broken or unexpected one must not make QEMU
 * read out of bounds: every size and offset is checked.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <linux/kvm.h>
#include "system/kvm-stats.h"

/* Far more than KVM has (6.12: 64 bytes of name, a few dozen stats) */
#define KVM_STATS_MAX_NAME      4096
#define KVM_STATS_MAX_DESC      65536

int64_t kvm_stats_find(int fd, const char *name)
{
    struct kvm_stats_header h;
    g_autofree struct kvm_stats_desc *d = NULL;
    size_t desc_size;
    uint32_t i;

    if (pread(fd, &h, sizeof(h), 0) != sizeof(h) || !h.name_size ||
        h.name_size > KVM_STATS_MAX_NAME || h.num_desc > KVM_STATS_MAX_DESC) {
        return -1;
    }
    desc_size = sizeof(*d) + h.name_size;
    d = g_malloc(desc_size);
    for (i = 0; i < h.num_desc; i++) {
        if (pread(fd, d, desc_size,
                  (off_t)h.desc_offset + (off_t)i * desc_size) != desc_size) {
            return -1;
        }
        d->name[h.name_size - 1] = '\0';
        if (!strcmp(d->name, name)) {
            /* One 64-bit value, not a histogram */
            return d->size == 1 ? (int64_t)h.data_offset + d->offset : -1;
        }
    }
    return -1;
}
