/*
 * Guest-side test program: which of its pages fail when read?
 *
 * Usage: scan PAGES
 * Locks PAGES pages, each filled with its index, and prints their
 * physical addresses:
 *   SCAN pa <index> 0x<pa>        (one line per page)
 *   SCAN READY
 * The host then poisons some of them without telling the guest kernel
 * (no error sources), the last one poisoned being page 0, the doorbell:
 * the program reads it every 100 ms until the read fails.  Then it reads
 * every page once and prints
 *   SCAN failed <index> ...        (the pages whose read failed)
 *   SCAN intact <n> corrupt <n>    (pages read back, and with bad data)
 *   SCAN DONE
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf env;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    siglongjmp(env, 1);
}

/* Reads the first word of @p; false if the read failed (SIGBUS) */
static int read_page(volatile uint64_t *p, uint64_t *value)
{
    if (sigsetjmp(env, 1)) {
        return 0;
    }
    *value = *p;
    return 1;
}

int main(int argc, char **argv)
{
    struct sigaction sa = { .sa_sigaction = on_sigbus,
                            .sa_flags = SA_SIGINFO | SA_NODEFER };
    long psz = getauxval(AT_PAGESZ);
    long n = argc > 1 ? atol(argv[1]) : 1000, i, intact = 0, corrupt = 0;
    int fd = open("/proc/self/pagemap", O_RDONLY);
    uint8_t *buf;
    uint64_t v;

    sigaction(SIGBUS, &sa, NULL);
    buf = mmap(NULL, n * psz, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED || fd < 0) {
        perror("scan");
        return 3;
    }
    /* Kept where pagemap says, and not copied into a huge page */
    madvise(buf, n * psz, MADV_NOHUGEPAGE);
    if (mlock(buf, n * psz) < 0) {
        perror("mlock");
        return 3;
    }
    for (i = 0; i < n; i++) {
        uint64_t entry = 0;

        *(uint64_t *)(buf + i * psz) = i;
        if (pread(fd, &entry, 8, ((uintptr_t)buf / psz + i) * 8) != 8 ||
            !(entry & (1ull << 63))) {
            fprintf(stderr, "page %ld not present\n", i);
            return 3;
        }
        printf("SCAN pa %ld 0x%llx\n", i,
               (unsigned long long)(entry & ((1ull << 55) - 1)) * psz);
    }
    printf("SCAN READY\n");
    fflush(stdout);

    while (read_page((uint64_t *)buf, &v)) {
        usleep(100000);
    }
    printf("SCAN failed");
    for (i = 0; i < n; i++) {
        if (!read_page((uint64_t *)(buf + i * psz), &v)) {
            printf(" %ld", i);
        } else if (v == (uint64_t)i) {
            intact++;
        } else {
            corrupt++;
        }
    }
    printf("\nSCAN intact %ld corrupt %ld\nSCAN DONE\n", intact, corrupt);
    return 0;
}
