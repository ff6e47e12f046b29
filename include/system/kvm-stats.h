/*
 * Reading one statistic from a KVM binary statistics file
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef SYSTEM_KVM_STATS_H
#define SYSTEM_KVM_STATS_H

/*
 * The file offset of the value of the single-valued statistic @name in
 * the KVM binary statistics file @fd (KVM_GET_STATS_FD), or -1 if the
 * file has no such statistic or is not one QEMU can read.
 */
int64_t kvm_stats_find(int fd, const char *name);

#endif
