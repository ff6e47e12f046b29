/*
 * Guest-side test program: owns one anonymous page, tells the host its
 * physical address, and keeps touching it until the guest kernel
 * signals a memory error.
 *
 * Prints (on stdout, the guest console):
 *   VICTIM pid=<pid> va=0x<va> pa=0x<pa>
 *   VICTIM SIGBUS code=<BUS_MCEERR_AR|BUS_MCEERR_AO|other> addr=0x<addr>
 *                 lsb=<n> page=0x<va>
 *
 * With "spin CPU" it runs on that CPU only and touches its page without
 * ever sleeping, so that the CPU is executing its user code whenever
 * the host looks.
 *
 * With "thp" its page is inside a transparent huge page of its own (2 MiB,
 * 2 MiB aligned in guest physical memory, so one host huge page holds
 * nothing else of the guest's), at 0x12000 into it; it prints
 *   VICTIM thp=<1 if the huge page is physically contiguous, else 0>
 * and, once signalled, it lives on (as a process that handles SIGBUS
 * does) until the guest has retired the whole 2 MiB the host lost, or
 * 100 s have passed, and prints
 *   VICTIM retired=<HardwareCorrupted of /proc/meminfo, in kB>
 * before it exits and frees what is left of its huge page.  With "thp die"
 * it handles no SIGBUS: it dies of the first, as most programs do.
 *
 * With "wait" it owns a second page, reported as
 *   VICTIM second pa=0x<pa>
 * which it never touches again, says "VICTIM WAITING" and touches its
 * first page only once a line comes on standard input (the console): the
 * host decides where that happens (after a migration, say).
 *
 * With "moved" it never touches its page after filling it and waits (30 s
 * at most) for the guest to move it elsewhere, as a soft offline does,
 * then prints
 *   VICTIM MOVED from=0x<pa> to=0x<pa> intact=<1 if its data came along>
 *
 * With "free" it instead gives a page back to the kernel and reports
 * that page's physical address, then keeps working on its own page for
 * a while and exits with "VICTIM ALIVE": an error in the free page must
 * not touch it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

/* volatile: every access must really touch the (possibly poisoned) page */
static volatile uint8_t *page;
static int thp;

/* HardwareCorrupted in /proc/meminfo, in kB; -1 if unreadable */
static long hardware_corrupted_kb(void)
{
    static const char key[] = "HardwareCorrupted:";
    char buf[4096];
    char *p;
    long kb;
    int fd = open("/proc/meminfo", O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

    if (fd >= 0) {
        close(fd);
    }
    if (n <= 0) {
        return -1;
    }
    buf[n] = 0;
    p = strstr(buf, key);
    if (!p || sscanf(p + sizeof(key) - 1, "%ld", &kb) != 1) {
        return -1;
    }
    return kb;
}

static const char *code_name(int code)
{
    switch (code) {
    case BUS_MCEERR_AR:
        return "BUS_MCEERR_AR";
    case BUS_MCEERR_AO:
        return "BUS_MCEERR_AO";
    default:
        return "other";
    }
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    char buf[160];
    int n = snprintf(buf, sizeof(buf),
                     "VICTIM SIGBUS code=%s addr=%p lsb=%d page=%p\n",
                     code_name(si->si_code), si->si_addr,
                     (int)si->si_addr_lsb, (void *)page);

    int fd;

    /*
     * Kernel messages on the console can cut into this line: keep a copy
     * for init to print once the console is quiet.
     */
    write(1, buf, n);
    fd = open("/victim.out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        write(fd, buf, n);
    }
    if (thp) {
        struct timespec tick = { .tv_nsec = 100 * 1000 * 1000 };
        long kb = hardware_corrupted_kb();
        int i;

        for (i = 0; i < 1000 && kb < 2048; i++) {
            nanosleep(&tick, NULL);
            kb = hardware_corrupted_kb();
        }
        n = snprintf(buf, sizeof(buf), "VICTIM retired=%ld kB\n", kb);
        write(1, buf, n);
        if (fd >= 0) {
            write(fd, buf, n);
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    _exit(si->si_code == BUS_MCEERR_AR || si->si_code == BUS_MCEERR_AO ?
          0 : 2);
}

/* The guest's page size: this runs in the guest, not in QEMU */
static long page_size(void)
{
    return getauxval(AT_PAGESZ);
}

/* 0 while the page is not present (being migrated, say) */
static uint64_t phys_addr_if_present(const void *va)
{
    long psz = page_size();
    uint64_t entry = 0;
    int fd = open("/proc/self/pagemap", O_RDONLY);

    if (fd < 0 || pread(fd, &entry, 8, ((uintptr_t)va / psz) * 8) != 8) {
        perror("pagemap");
        exit(3);
    }
    close(fd);
    if (!(entry & (1ull << 63))) {
        return 0;
    }
    return (entry & ((1ull << 55) - 1)) * psz;
}

static uint64_t phys_addr(const void *va)
{
    uint64_t pa = phys_addr_if_present(va);

    if (!pa) {
        fprintf(stderr, "page not present\n");
        exit(3);
    }
    return pa;
}

/* "moved": see the top */
static int wait_moved(long psz)
{
    uint64_t from = phys_addr((const void *)page), to = from, now;
    int intact = 1;
    long i;

    for (i = 0; i < 3000 && to == from; i++) {
        usleep(10000);
        now = phys_addr_if_present((const void *)page);
        to = now ? now : from;
    }
    for (i = 0; i < psz; i++) {
        intact &= page[i] == 0x5a;
    }
    printf("VICTIM MOVED from=0x%llx to=0x%llx intact=%d\n",
           (unsigned long long)from, (unsigned long long)to, intact);
    return 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa = { .sa_sigaction = on_sigbus,
                            .sa_flags = SA_SIGINFO };
    long psz = page_size();
    int early = argc > 1 && !strcmp(argv[1], "early");
    int free_mode = argc > 1 && !strcmp(argv[1], "free");
    int spin = argc > 2 && !strcmp(argv[1], "spin");
    int wait = argc > 1 && !strcmp(argv[1], "wait");
    int moved = argc > 1 && !strcmp(argv[1], "moved");
    unsigned long i;

    thp = argc > 1 && !strcmp(argv[1], "thp");
    if (!thp || argc < 3 || strcmp(argv[2], "die")) {
        sigaction(SIGBUS, &sa, NULL);
    }
    if (spin) {
        cpu_set_t set;

        CPU_ZERO(&set);
        CPU_SET(atoi(argv[2]), &set);
        if (sched_setaffinity(0, sizeof(set), &set) < 0) {
            perror("sched_setaffinity");
            return 3;
        }
    }
    if (early) {
        prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY, 0, 0);
    }
    if (thp) {
        size_t huge = 2 << 20;
        uint8_t *r = mmap(NULL, 2 * huge, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        uint8_t *a = (uint8_t *)(((uintptr_t)r + huge - 1) & ~(huge - 1));
        uint64_t pa0;

        if (r == MAP_FAILED || madvise(a, huge, MADV_HUGEPAGE) < 0) {
            perror("thp");
            return 3;
        }
        memset(a, 0x5a, huge);
        pa0 = phys_addr(a);
        printf("VICTIM thp=%d\n", !(pa0 & (huge - 1)) &&
               phys_addr(a + huge - psz) == pa0 + huge - psz);
        page = a + 0x12000;
    } else {
        page = mmap(NULL, psz, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (page == MAP_FAILED) {
            perror("mmap");
            return 3;
        }
        memset((void *)page, 0x5a, psz);
    }
    if (free_mode) {
        /*
         * Free a large region, so that its pages go back to the buddy
         * allocator instead of a per-CPU list that hands them out again
         * at once; report one from its middle.  Print before freeing:
         * nothing may allocate memory between the two.
         */
        size_t len = 4 << 20;
        uint8_t *spare = mmap(NULL, len, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                              -1, 0);
        uint64_t pa;

        if (spare == MAP_FAILED) {
            perror("mmap");
            return 3;
        }
        memset(spare, 1, len);
        pa = phys_addr(spare + len / 2);
        printf("VICTIM pid=%d va=%p pa=0x%llx (freed)\n", getpid(),
               (void *)(spare + len / 2), (unsigned long long)pa);
        fflush(stdout);
        munmap(spare, len);
        for (i = 0; i < 600 * 4096; i++) {
            page[i % psz]++;
            if (!(i % 4096)) {
                usleep(10000);
            }
        }
        printf("VICTIM ALIVE\n");
        return 0;
    }
    printf("VICTIM pid=%d va=%p pa=0x%llx\n", getpid(), (void *)page,
           (unsigned long long)phys_addr((const void *)page));
    fflush(stdout);
    if (moved) {
        return wait_moved(psz);
    }
    if (wait) {
        uint8_t *second = mmap(NULL, psz, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                               -1, 0);
        char line[64];

        if (second == MAP_FAILED) {
            perror("mmap");
            return 3;
        }
        memset(second, 0xa5, psz);
        printf("VICTIM second pa=0x%llx\n",
               (unsigned long long)phys_addr(second));
        printf("VICTIM WAITING\n");
        fflush(stdout);
        if (!fgets(line, sizeof(line), stdin)) {
            return 3;
        }
        printf("VICTIM GO\n");
        fflush(stdout);
    }
    for (i = 0;; i++) {
        page[i % psz]++;
        if (!spin && !(i % 4096)) {
            usleep(10000);
        }
    }
}
