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
 * the program reads it every 100 ms until the read fails.  Then it
 * touches every page once, with a write of a marker or a read (in turns
 * of two pages: the poisoned pages are every other one), and prints
 *   SCAN failed <index>            (one line per page whose access failed)
 *   SCAN failed-count <n>
 *   SCAN leaked <n>                (failed reads whose value was seen)
 *   SCAN intact <n> corrupt <n>    (the others read back, and with bad
 *                                   data)
 *   SCAN DONE
 * Then poison QEMU's own code consumes: it prints
 *   SCAN consume <cross> <helper> <bell> 0x<code pa> 0x<far pa>
 * three healthy pages and a page of code never run: the host replaces
 * the first two and the code by poison markers in QEMU's mappings
 * (nothing is told before they are touched), then writes a doorbell into
 * the second word of the third.  On x86 a second page of code, <far>, is
 * alone in its page table, which the host replaces by a marker too (0
 * elsewhere).  The program then reads 8 bytes across
 * the start of page <cross> (TCG's slow path), zeroes page <helper>
 * (arm64: DC ZVA) or restores the FPU from it (x86: FXRSTOR), accesses
 * QEMU's C code makes with host pointers, and calls the code, which TCG
 * must translate first; each must fail at its instruction:
 *   SCAN consume cross failed code <si_code> leaked <n>
 *   SCAN consume helper failed code <si_code>
 *   SCAN consume fetch failed code <si_code>
 *   SCAN consume lookup failed code <si_code>     (x86: a call of <far>:
 *                                   TCG looks its TB up at the jump)
 * ("... not failed" if it did not), then
 *   SCAN consume done
 * Then it reads a healthy page every 10 ms, printing
 *   SCAN walk <index>
 * first and, when a read fails (the host poisoned its page table),
 *   SCAN walk failed
 * and waits to be stopped.  A failed access must be failed at its
 * instruction: the value a failed read loaded is stored by the next
 * instruction, which must not run, and a failed write must leave the page
 * as it was (the host reads it).  The guest kernel's lines broke into the
 * scan's: x86 machine checks are logged at KERN_EMERG from a work item.
 * So the results are printed once that log has ended, and the console
 * shows only emergencies from READY on.
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
#include <unistd.h>

#define MARKER      0x5ca9000000000000ull
#define UNSEEN      0xdeadbeefdeadbeefull
#define WRITTEN(i)  ((i) & 2)
#define DOORBELL    0xd00bd00bull

static sigjmp_buf env;
/* Stored to memory by the instruction after the load (volatile) */
static volatile uint64_t seen;
static long leaked;
/* Set by the handler, read after its siglongjmp() (volatile) */
static volatile int sig_code;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    sig_code = si->si_code;
    siglongjmp(env, 1);
}

static void on_walk_sigbus(int sig, siginfo_t *si, void *uc)
{
    static const char msg[] = "SCAN walk failed\n";

    if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0) {
        _exit(4);
    }
    for (;;) {
        pause();
    }
}

/* Only emergencies (a panic) reach the console from now on */
static void quiet_console(void)
{
    int fd = open("/proc/sys/kernel/printk", O_WRONLY);

    if (fd < 0 || write(fd, "1\n", 2) != 2) {
        perror("scan: /proc/sys/kernel/printk");
    }
    if (fd >= 0) {
        close(fd);
    }
}

/* Reads the first word of @p; false if the read failed (SIGBUS) */
static int read_page(volatile uint64_t *p, uint64_t *value)
{
    seen = UNSEEN;
    if (sigsetjmp(env, 1)) {
        leaked += seen != UNSEEN;
        return 0;
    }
    seen = *p;
    *value = seen;
    return 1;
}

/* Writes @value to the first word of @p; false if the write failed */
static int write_page(volatile uint64_t *p, uint64_t value)
{
    if (sigsetjmp(env, 1)) {
        return 0;
    }
    *p = value;
    return 1;
}

/* An access QEMU's C code makes with a host pointer, to page @p */
static void helper_access(uint8_t *p)
{
#if defined(__aarch64__)
    asm volatile("dc zva, %0" : : "r"(p) : "memory");
#elif defined(__x86_64__)
    asm volatile("fxrstor64 %0" : : "m"(*(uint8_t (*)[512])p));
#endif
}

/* What helper_access() reads, if it is not failed: the state it restores */
static void helper_prepare(uint8_t *p)
{
#if defined(__x86_64__)
    asm volatile("fxsave64 %0" : "=m"(*(uint8_t (*)[512])p));
#endif
}

/*
 * A page of code never run (a return), at @at (NULL: anywhere), locked;
 * its physical address in *@pa.  NULL if there is none.
 */
static uint8_t *code_page(void *at, long psz, int pagemap, uint64_t *pa)
{
#if defined(__aarch64__)
    static const uint32_t ret = 0xd65f03c0;
#else
    static const uint8_t ret = 0xc3;
#endif
    uint8_t *code = mmap(at, psz, PROT_READ | PROT_WRITE | PROT_EXEC,
                         MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED : 0),
                         -1, 0);
    uint64_t entry = 0;

    if (code == MAP_FAILED) {
        return NULL;
    }
    memcpy(code, &ret, sizeof(ret));
    __builtin___clear_cache((char *)code, (char *)code + sizeof(ret));
    if (mlock(code, psz) < 0 ||
        pread(pagemap, &entry, 8, (uintptr_t)code / psz * 8) != 8 ||
        !(entry & (1ull << 63))) {
        return NULL;
    }
    *pa = (entry & ((1ull << 55) - 1)) * psz;
    return code;
}

/* Runs @code; false if the call failed (SIGBUS), its si_code in sig_code */
static int call(uint8_t *code)
{
    sig_code = 0;
    if (sigsetjmp(env, 1)) {
        return 0;
    }
    ((void (*)(void))code)();
    return 1;
}

/*
 * Poison QEMU's own code consumes: see the top of the file.  @failed:
 * the pages whose access failed (poisoned), none of which is used.
 */
static void consume(uint8_t *buf, long n, long psz, const char *failed,
                    int pagemap)
{
    long cross = 0, helper = 0, bell = 0, i;
    uint64_t code_pa = 0, far_pa = 0;
    uint8_t *code = code_page(NULL, psz, pagemap, &code_pa), *far = NULL;
    /* The host writes it behind the compiler's back (volatile) */
    volatile uint64_t *doorbell;

    /* From the end: the walk takes the first healthy page */
    for (i = n - 1; i > 1 && !cross; i--) {
        if (failed[i]) {
            continue;
        } else if (!bell) {
            bell = i;
        } else if (!helper) {
            helper = i;
        } else if (i + 1 < helper && !failed[i - 1]) {
            cross = i;
        }
    }
#if defined(__x86_64__)
    {
        /* Alone in its 2 MiB: its page table maps nothing else */
        uint8_t *region = mmap(NULL, 4 << 20, PROT_NONE, MAP_PRIVATE |
                               MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

        far = region == MAP_FAILED ? NULL :
              code_page((void *)(((uintptr_t)region + (2 << 20)) &
                                 ~((2ul << 20) - 1)), psz, pagemap, &far_pa);
    }
#endif
    if (!cross || !code) {
        printf("SCAN consume: no healthy pages left\n");
        return;
    }
    helper_prepare(buf + helper * psz);
    doorbell = (uint64_t *)(buf + bell * psz) + 1;
    printf("SCAN consume %ld %ld %ld 0x%llx 0x%llx\n", cross, helper, bell,
           (unsigned long long)code_pa, (unsigned long long)far_pa);
    fflush(stdout);
    while (*doorbell != DOORBELL) {
        usleep(10000);
    }

    seen = UNSEEN;
    sig_code = 0;
    if (sigsetjmp(env, 1)) {
        printf("SCAN consume cross failed code %d leaked %d\n", sig_code,
               seen != UNSEEN);
    } else {
        /* 4 bytes of each page: the load crosses into page <cross> */
        seen = *(volatile uint64_t *)(buf + cross * psz - 4);
        printf("SCAN consume cross not failed\n");
    }
    sig_code = 0;
    if (sigsetjmp(env, 1)) {
        printf("SCAN consume helper failed code %d\n", sig_code);
    } else {
        helper_access(buf + helper * psz);
        printf("SCAN consume helper not failed\n");
    }
    if (call(code)) {
        printf("SCAN consume fetch not failed\n");
    } else {
        printf("SCAN consume fetch failed code %d\n", sig_code);
    }
    if (far && call(far)) {
        printf("SCAN consume lookup not failed\n");
    } else if (far) {
        printf("SCAN consume lookup failed code %d\n", sig_code);
    }
    printf("SCAN consume done\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct sigaction sa = { .sa_sigaction = on_sigbus,
                            .sa_flags = SA_SIGINFO | SA_NODEFER };
    long psz = getauxval(AT_PAGESZ);
    long n = argc > 1 ? atol(argv[1]) : 1000, i, intact = 0, corrupt = 0;
    long walk, nfailed = 0;
    int fd = open("/proc/self/pagemap", O_RDONLY);
    uint8_t *buf;
    char *failed;
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
    quiet_console();
    printf("SCAN READY\n");
    fflush(stdout);

    while (read_page((uint64_t *)buf, &v)) {
        usleep(100000);
    }
    failed = calloc(n, 1);
    for (i = 0; i < n; i++) {
        /* One access each, the one the host checks (volatile) */
        volatile uint64_t *p = (uint64_t *)(buf + i * psz);

        failed[i] = WRITTEN(i) ? !write_page(p, MARKER | i)
                               : !read_page(p, &v);
    }
    /* The guest kernel logs machine checks from a work item: let it end */
    sleep(2);
    for (i = 0; i < n; i++) {
        if (failed[i]) {
            printf("SCAN failed %ld\n", i);
            nfailed++;
            continue;
        }
        if (read_page((uint64_t *)(buf + i * psz), &v) &&
            v == (WRITTEN(i) ? MARKER | i : (uint64_t)i)) {
            intact++;
        } else {
            corrupt++;
        }
    }
    printf("SCAN failed-count %ld\n", nfailed);
    printf("SCAN leaked %ld\n", leaked);
    printf("SCAN intact %ld corrupt %ld\nSCAN DONE\n", intact, corrupt);
    fflush(stdout);
    consume(buf, n, psz, failed, fd);

    /*
     * The pages stay the scan's while the host reads them; it then
     * poisons the page table that maps a healthy page, which the scan
     * keeps reading: a walk of that table must fail.
     */
    for (walk = 0; walk < n && failed[walk]; walk++) {
        continue;
    }
    sa.sa_sigaction = on_walk_sigbus;
    sigaction(SIGBUS, &sa, NULL);
    printf("SCAN walk %ld\n", walk);
    fflush(stdout);
    for (;;) {
        /* A load each time, to walk the table again (volatile) */
        v = *(volatile uint64_t *)(buf + walk * psz);
        usleep(10000);
    }
}
