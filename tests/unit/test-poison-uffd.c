/*
 * Poison markers installed with userfaultfd (system/poison-uffd.c): what
 * a migration destination under KVM relies on, tested on this host's own
 * memory.  An access to a marked page must fault as poison does (SIGBUS
 * BUS_MCEERR_AR where the host kernel has CONFIG_MEMORY_FAILURE; without
 * it, as here, BUS_ADRERR), its neighbours must be untouched, and
 * discarding the page (what reset does) must give fresh memory back.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <setjmp.h>
#include <linux/falloc.h>
#include <sys/ioctl.h>
#include "qapi/error.h"
#include "qemu/madvise.h"
#include "qemu/memfd.h"
#include "qemu/userfaultfd.h"
#include "system/poison-uffd.h"

static sigjmp_buf fault_jmp;
static volatile int fault_code;         /* volatile: set by the handler */
static void *volatile fault_addr;       /* volatile: set by the handler */

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    fault_code = si->si_code;
    fault_addr = si->si_addr;
    siglongjmp(fault_jmp, 1);
}

/* Read a byte of @p: 0 if it worked, else the SIGBUS si_code */
static int touch(volatile uint8_t *p, uint8_t *val)
{
    struct sigaction sa = { .sa_sigaction = on_sigbus,
                            .sa_flags = SA_SIGINFO | SA_NODEFER };
    struct sigaction old;
    int code = 0;

    sigaction(SIGBUS, &sa, &old);
    fault_code = 0;
    fault_addr = NULL;
    if (!sigsetjmp(fault_jmp, 1)) {
        *val = *p;
    } else {
        code = fault_code;
        g_assert(fault_addr == (void *)p);
    }
    sigaction(SIGBUS, &old, NULL);
    return code;
}

static void assert_poisoned(uint8_t *p)
{
    uint8_t v;
    int code = touch(p, &v);

    g_assert(code == BUS_MCEERR_AR || code == BUS_ADRERR);
}

/*
 * @mem: 4 pages, all written with 0x5a except page 2 (never touched).
 * Page 1 (its data present: the stream sent it before it failed) and page
 * 2 (absent: never sent) are marked; pages 0 and 3 must read back intact.
 */
static void check_mapping(uint8_t *mem, size_t psz, int fd)
{
    uint8_t v;

    memset(mem, 0x5a, 2 * psz);
    memset(mem + 3 * psz, 0x5a, psz);
    g_assert(poison_uffd_install(mem + psz, psz, &error_abort));
    g_assert(poison_uffd_install(mem + 2 * psz, psz, &error_abort));
    assert_poisoned(mem + psz);
    assert_poisoned(mem + 2 * psz + 100);
    g_assert_cmpint(touch(mem, &v), ==, 0);
    g_assert_cmphex(v, ==, 0x5a);
    g_assert_cmpint(touch(mem + 4 * psz - 1, &v), ==, 0);
    g_assert_cmphex(v, ==, 0x5a);

    /*
     * Reset discards the page as qemu_ram_remap() does (a shared mapping's
     * file gets a hole, which leaves the marker in place), then removes
     * the marker: fresh memory again
     */
    if (fd >= 0) {
        g_assert_cmpint(fallocate(fd, FALLOC_FL_PUNCH_HOLE |
                                  FALLOC_FL_KEEP_SIZE, psz, psz), ==, 0);
        assert_poisoned(mem + psz);
    } else {
        g_assert_cmpint(qemu_madvise(mem + psz, psz, QEMU_MADV_DONTNEED),
                        ==, 0);
    }
    poison_uffd_remove(mem + psz, psz);
    g_assert_cmpint(touch(mem + psz, &v), ==, 0);
    g_assert_cmphex(v, ==, 0);
    /* The marker is per page: its neighbour is still poisoned */
    assert_poisoned(mem + 2 * psz);
}

static void test_anonymous(void)
{
    size_t psz = qemu_real_host_page_size();
    uint8_t *mem = mmap(NULL, 4 * psz, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    g_assert(mem != MAP_FAILED);
    check_mapping(mem, psz, -1);
    munmap(mem, 4 * psz);
}

/* memory-backend-memfd and share=on backends */
static void test_shared_memfd(void)
{
    size_t psz = qemu_real_host_page_size();
    int fd = qemu_memfd_create("test-poison-uffd", 4 * psz, false, 0, 0,
                               &error_abort);
    uint8_t *mem = mmap(NULL, 4 * psz, PROT_READ | PROT_WRITE, MAP_SHARED,
                        fd, 0);

    g_assert(mem != MAP_FAILED);
    check_mapping(mem, psz, fd);
    munmap(mem, 4 * psz);
    close(fd);
}

/*
 * A range some other userfaultfd holds (a postcopy destination's, say)
 * cannot take a marker: a clear error, not a silent success
 */
static void test_range_taken(void)
{
    size_t psz = qemu_real_host_page_size();
    uint8_t *mem = mmap(NULL, psz, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int fd = uffd_create_fd(0, true);
    Error *err = NULL;

    g_assert(mem != MAP_FAILED && fd >= 0);
    g_assert_cmpint(uffd_register_memory(fd, mem, psz,
                                         UFFDIO_REGISTER_MODE_MISSING, NULL),
                    ==, 0);
    g_assert(!poison_uffd_install(mem, psz, &err));
    g_assert(err);
    g_test_message("%s", error_get_pretty(err));
    error_free(err);
    uffd_close_fd(fd);
    munmap(mem, psz);
}

/*
 * An incoming postcopy migration has guest memory registered with its own
 * userfaultfd, created without asking for UFFD_FEATURE_POISON: the markers
 * go in through it, over a missing page and a present one, and stay once
 * postcopy unregisters the memory at its end.
 */
static void test_through_registered_fd(void)
{
    size_t psz = qemu_real_host_page_size();
    uint8_t *mem = mmap(NULL, 4 * psz, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int fd = uffd_create_fd(0, true);
    uint8_t v;

    g_assert(mem != MAP_FAILED && fd >= 0);
    /* Present: 0 and 2 (sent before it failed) and 3; 1 missing */
    mem[0] = 0x11;
    mem[2 * psz] = 0x22;
    mem[3 * psz] = 0x33;
    g_assert_cmpint(uffd_register_memory(fd, mem, 4 * psz,
                                         UFFDIO_REGISTER_MODE_MISSING, NULL),
                    ==, 0);
    g_assert(poison_uffd_install_with(fd, mem + psz, 2 * psz, &error_abort));
    g_assert_cmpint(uffd_unregister_memory(fd, mem, 4 * psz), ==, 0);
    uffd_close_fd(fd);
    assert_poisoned(mem + psz);
    assert_poisoned(mem + 2 * psz);
    g_assert_cmpint(touch(mem, &v), ==, 0);
    g_assert_cmpint(v, ==, 0x11);
    g_assert_cmpint(touch(mem + 3 * psz, &v), ==, 0);
    g_assert_cmpint(v, ==, 0x33);
    munmap(mem, 4 * psz);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!poison_uffd_supported()) {
        g_test_skip("no userfaultfd with UFFD_FEATURE_POISON (Linux 6.6) "
                    "here");
        return g_test_run();
    }
    g_test_add_func("/poison-uffd/anonymous", test_anonymous);
    g_test_add_func("/poison-uffd/shared-memfd", test_shared_memfd);
    g_test_add_func("/poison-uffd/range-taken", test_range_taken);
    g_test_add_func("/poison-uffd/through-registered-fd",
                    test_through_registered_fd);
    return g_test_run();
}
