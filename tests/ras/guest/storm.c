/*
 * Guest side of an error storm: owns N pages, tells the host their
 * physical addresses, and reports how many memory errors the guest
 * kernel has handled, counted by the kernel itself (HardwareCorrupted in
 * /proc/meminfo grows by one page for every page memory_failure() took,
 * whatever the outcome, and is not rate limited).
 *
 *   storm ao N   frees the N pages after reporting them: action-optional
 *                errors then hit free pages
 *   storm ar N   keeps touching the N pages: an action-required error
 *                reaches the guest when the page is touched, and this
 *                process gets SIGBUS BUS_MCEERR_AR, counts it and moves on
 *   storm self N as ao, then the guest offlines the N pages itself
 *                (/sys/devices/system/memory/hard_offline_page, one
 *                memory_failure() each, no notification): the rate at
 *                which this guest can take errors at all, the ceiling of
 *                a storm
 *   storm self-ar N  as ar, and the guest offlines each page itself
 *                (hard_offline_page: memory_failure() unmaps it from this
 *                process), which then touches it and gets its SIGBUS
 *                BUS_MCEERR_AR: the guest's own work for an
 *                action-required error without the exception and its
 *                record, the ceiling of an action-required storm
 *
 * Output (guest console):
 *   P <pa hex> <n>                 n pages from pa up, in page order
 *   STORM READY n=<N> hwc=<kB>
 *   HWC <kB> SIGBUS <n> T <ms>     whenever a figure changes, and
 *                                  every second
 *   STORM STALLED ...              once, after 20 s without progress
 *                                  short of N pages, then the kernel's
 *                                  interrupt counts, blocked tasks and
 *                                  CPU stacks (sysrq w, l)
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
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint8_t *pages;
static uint8_t *dead;
static long npages, psz;
/* volatile: written by the signal handler */
static volatile long sigbus_count;
static sigjmp_buf touch_env;

static long hardware_corrupted_kb(void)
{
    static char buf[8192];
    int fd = open("/proc/meminfo", O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    char *p;
    long kb = -1;

    if (fd >= 0) {
        close(fd);
    }
    if (n <= 0) {
        return -1;
    }
    buf[n] = 0;
    p = strstr(buf, "HardwareCorrupted:");
    if (p) {
        sscanf(p, "HardwareCorrupted: %ld", &kb);
    }
    return kb;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t phys_addr(const void *va, int pagemap)
{
    uint64_t entry = 0;

    if (pread(pagemap, &entry, 8, ((uintptr_t)va / psz) * 8) != 8 ||
        !(entry & (1ull << 63))) {
        fprintf(stderr, "storm: page %p not present\n", va);
        exit(3);
    }
    return (entry & ((1ull << 55) - 1)) * psz;
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    uintptr_t a = (uintptr_t)si->si_addr;

    if (si->si_code == BUS_MCEERR_AR && a >= (uintptr_t)pages &&
        a < (uintptr_t)pages + npages * psz) {
        dead[(a - (uintptr_t)pages) / psz] = 1;
        sigbus_count++;
    }
    siglongjmp(touch_env, 1);
}

/* Copy a file to the console */
static void show(const char *path)
{
    char buf[4096];
    ssize_t n;
    int fd = open(path, O_RDONLY);

    while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
        fwrite(buf, 1, n, stdout);
    }
    if (fd >= 0) {
        close(fd);
    }
    fflush(stdout);
}

static void sysrq(char c)
{
    int fd = open("/proc/sysrq-trigger", O_WRONLY);

    if (fd >= 0) {
        write(fd, &c, 1);
        close(fd);
    }
}

/*
 * No progress for STALL_MS before every page is handled: once, show what
 * the guest kernel is doing (interrupt counts: machine checks taken, IRQ
 * work run; blocked tasks; every CPU's stack), for the run's console log.
 */
#define STALL_MS 20000

static void check_stall(long hwc, long now)
{
    static long first_hwc = -1, changed_ms, seen_hwc, seen_sig;
    static int dumped;

    if (first_hwc < 0 || hwc != seen_hwc || sigbus_count != seen_sig) {
        first_hwc = first_hwc < 0 ? hwc : first_hwc;
        seen_hwc = hwc;
        seen_sig = sigbus_count;
        changed_ms = now;
        return;
    }
    if (dumped || now - changed_ms < STALL_MS ||
        hwc >= first_hwc + npages * (psz >> 10)) {
        return;
    }
    dumped = 1;
    printf("STORM STALLED at HWC %ld SIGBUS %ld for %ld ms\n", hwc,
           sigbus_count, now - changed_ms);
    show("/proc/interrupts");
    sysrq('w');
    sysrq('l');
    printf("STORM STALL DUMP END\n");
    fflush(stdout);
}

/*
 * Kernel messages on the console can cut into a line: say it again every
 * second even when nothing changed, so the host always gets a whole one.
 */
static void report(long *last_hwc, long *last_sig, long t0)
{
    static long last_ms;
    long hwc = hardware_corrupted_kb();

    check_stall(hwc, now_ms());
    if (hwc != *last_hwc || sigbus_count != *last_sig ||
        now_ms() - last_ms >= 1000) {
        last_ms = now_ms();
        printf("HWC %ld SIGBUS %ld T %ld\n", hwc, sigbus_count,
               now_ms() - t0);
        fflush(stdout);
        *last_hwc = hwc;
        *last_sig = sigbus_count;
    }
}

/*
 * The guest's own memory_failure() on every page, as fast as it goes;
 * with @touch, each page is touched once offline (its SIGBUS is counted)
 */
static void offline_all(const uint64_t *pa_of, int touch, long *last_hwc,
                        long *last_sig, long t0)
{
    int fd = open("/sys/devices/system/memory/hard_offline_page", O_WRONLY);
    char buf[32];
    long i;

    if (fd < 0) {
        perror("storm: hard_offline_page");
        exit(3);
    }
    for (i = 0; i < npages; i++) {
        int len = snprintf(buf, sizeof(buf), "0x%llx",
                           (unsigned long long)pa_of[i]);

        if (write(fd, buf, len) != len) {
            perror("storm: hard_offline_page");
        }
        if (touch && !sigsetjmp(touch_env, 1)) {
            /* volatile: the load must really happen, and take its SIGBUS */
            (void)*(volatile uint8_t *)(pages + i * psz);
        }
        if (!(i % 64)) {
            report(last_hwc, last_sig, t0);
        }
    }
    close(fd);
}

int main(int argc, char **argv)
{
    struct sigaction sa = { .sa_sigaction = on_sigbus,
                            .sa_flags = SA_SIGINFO | SA_NODEFER };
    int ar, self, pagemap;
    long i, run, last_hwc = -2, last_sig = -1, t0;
    uint64_t *pa_of;

    if (argc != 3 || (strcmp(argv[1], "ao") && strcmp(argv[1], "ar") &&
                      strcmp(argv[1], "self") && strcmp(argv[1], "self-ar"))) {
        fprintf(stderr, "usage: storm ao|ar|self|self-ar N\n");
        return 2;
    }
    ar = !strcmp(argv[1], "ar") || !strcmp(argv[1], "self-ar");
    self = !strcmp(argv[1], "self") || !strcmp(argv[1], "self-ar");
    npages = atol(argv[2]);
    psz = getauxval(AT_PAGESZ);
    pages = mmap(NULL, npages * psz, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    dead = calloc(npages, 1);
    pa_of = calloc(npages, sizeof(*pa_of));
    pagemap = open("/proc/self/pagemap", O_RDONLY);
    /*
     * The pages must stay where the host is told they are: no huge page
     * (khugepaged would copy them elsewhere and free these), locked (and
     * init keeps compaction off locked pages).
     */
    if (pages == MAP_FAILED || !dead || !pa_of || pagemap < 0 ||
        madvise(pages, npages * psz, MADV_NOHUGEPAGE) < 0 ||
        mlock(pages, npages * psz) < 0) {
        perror("storm");
        return 3;
    }
    /* The console is slow: physically contiguous runs go on one line */
    for (i = 0; i < npages; i += run) {
        uint64_t pa = phys_addr(pages + i * psz, pagemap);

        run = 1;
        while (i + run < npages &&
               phys_addr(pages + (i + run) * psz, pagemap) == pa + run * psz) {
            run++;
        }
        for (long k = 0; k < run; k++) {
            pa_of[i + k] = pa + k * psz;
        }
        printf("P %llx %ld\n", (unsigned long long)pa, run);
    }
    close(pagemap);
    /*
     * Touched before the pages are freed: memory first touched later could
     * be one of them, already reported
     */
    hardware_corrupted_kb();
    if (!ar) {
        munmap(pages, npages * psz);
    }
    sigaction(SIGBUS, &sa, NULL);
    printf("STORM READY n=%ld hwc=%ld\n", npages, hardware_corrupted_kb());
    fflush(stdout);
    t0 = now_ms();
    if (self) {
        offline_all(pa_of, ar, &last_hwc, &last_sig, t0);
    }

    for (;;) {
        if (!ar) {
            usleep(20000);
            report(&last_hwc, &last_sig, t0);
            continue;
        }
        /* Touch every live page; a poisoned one ends up in dead[] */
        for (i = 0; i < npages; i++) {
            if (dead[i]) {
                continue;
            }
            /* A pass can take long once many pages fail: say so during it */
            if (!(i % 64)) {
                report(&last_hwc, &last_sig, t0);
            }
            if (sigsetjmp(touch_env, 1)) {
                continue;
            }
            /* volatile: the load must really happen */
            (void)*(volatile uint8_t *)(pages + i * psz);
        }
        report(&last_hwc, &last_sig, t0);
        usleep(1000);
    }
}
