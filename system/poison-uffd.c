/*
 * Poison recreated in healthy host memory, with userfaultfd
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bitops.h"
#include "qemu/madvise.h"
#include "system/poison-uffd.h"

#ifdef CONFIG_LINUX
#include <sys/ioctl.h>
#include "qemu/userfaultfd.h"
#endif

void poison_uffd_remove(void *host, uint64_t len)
{
    /* Markers live in page table entries: zapping them removes them */
    qemu_madvise(host, len, QEMU_MADV_DONTNEED);
}

#if defined(CONFIG_LINUX) && defined(UFFD_FEATURE_POISON)

bool poison_uffd_supported(void)
{
    uint64_t features;

    return uffd_query_features(&features) == 0 &&
           (features & UFFD_FEATURE_POISON);
}

/*
 * Install the markers through @fd, which has the range registered.  Only
 * an empty page table entry takes one: the kernel stops at a page that is
 * there (sent before it failed, or touched on the destination), having
 * marked those before it; the rest is zapped, once, and marked.
 */
static int poison_range(int fd, void *host, uint64_t len)
{
    uint64_t done = 0;
    bool zapped = false;
    int tries = 0;

    while (done < len) {
        struct uffdio_poison poison = {
            .range = { .start = (uintptr_t)host + done, .len = len - done },
        };

        if (ioctl(fd, UFFDIO_POISON, &poison) == 0) {
            return 0;
        }
        if ((int64_t)poison.updated > 0) {
            /* Part of it done (EAGAIN): go on from there */
            done += poison.updated;
            continue;
        }
        if (errno == EAGAIN && ++tries < 100) {
            continue;           /* the mapping changed meanwhile */
        }
        if (errno != EEXIST || zapped) {
            return -errno;
        }
        if (qemu_madvise((uint8_t *)host + done, len - done,
                         QEMU_MADV_DONTNEED) < 0) {
            return -errno;
        }
        zapped = true;
    }
    return 0;
}

bool poison_uffd_install_with(int fd, void *host, uint64_t len,
                              Error **errp)
{
    int ret = poison_range(fd, host, len);

    if (ret < 0) {
        error_setg_errno(errp, -ret, "cannot recreate poisoned memory at "
                         "host address %p (+0x%" PRIx64 ")", host, len);
        return false;
    }
    return true;
}

bool poison_uffd_install(void *host, uint64_t len, Error **errp)
{
    uint64_t ioctls = 0;
    int fd, ret;

    /* Only one userfaultfd may register a range: ours for this moment */
    fd = uffd_create_fd(UFFD_FEATURE_POISON, true);
    if (fd < 0) {
        error_setg(errp, "this host cannot recreate poisoned memory: "
                   "userfaultfd without UFFD_FEATURE_POISON (Linux 6.6)");
        return false;
    }
    if (uffd_register_memory(fd, host, len, UFFDIO_REGISTER_MODE_MISSING,
                             &ioctls) < 0) {
        ret = -errno;
    } else if (!(ioctls & (1ull << _UFFDIO_POISON))) {
        ret = -EOPNOTSUPP;
        uffd_unregister_memory(fd, host, len);
    } else {
        ret = poison_range(fd, host, len);
        uffd_unregister_memory(fd, host, len);
    }
    uffd_close_fd(fd);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "cannot recreate poisoned memory at "
                         "host address %p (+0x%" PRIx64 ")", host, len);
        return false;
    }
    return true;
}

#else

bool poison_uffd_supported(void)
{
    return false;
}

bool poison_uffd_install(void *host, uint64_t len, Error **errp)
{
    error_setg(errp, "this host cannot recreate poisoned memory "
               "(no userfaultfd UFFDIO_POISON)");
    return false;
}

bool poison_uffd_install_with(int fd, void *host, uint64_t len,
                              Error **errp)
{
    return poison_uffd_install(host, len, errp);
}

#endif
