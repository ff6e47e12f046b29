/*
 * Guest-side benchmark program: memory throughput, round after round
 *
 * Usage: membw MIB SECONDS
 * Each round prints two lines, forever:
 *   MEMBW read <MiB/s>     sum of a MIB MiB buffer, read again and again
 *   MEMBW touch <pages/s>  fresh pages mapped, written once, unmapped:
 *                          a page fault and a TLB fill each
 *   MEMBW compute <M/s>    arithmetic in registers, no memory access:
 *                          the control, which poison cannot slow down
 *                          but a slower host CPU does
 * each measured over SECONDS seconds.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    size_t len = (size_t)(argc > 1 ? atol(argv[1]) : 256) << 20;
    double secs = argc > 2 ? atof(argv[2]) : 3;
    long psz = getauxval(AT_PAGESZ);
    size_t chunk = 16 << 20;
    uint64_t *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    /* volatile: the sum must be computed, not optimised away */
    volatile uint64_t sink = 0;

    if (buf == MAP_FAILED) {
        perror("mmap");
        return 3;
    }
    memset(buf, 1, len);
    for (;;) {
        double t0 = now(), t;
        uint64_t bytes = 0, pages = 0, sum = 0;
        size_t i;

        do {
            for (i = 0; i < len / 8; i++) {
                sum += buf[i];
            }
            bytes += len;
        } while ((t = now()) - t0 < secs);
        sink += sum;
        printf("MEMBW read %.1f\n", bytes / (t - t0) / (1 << 20));
        fflush(stdout);

        t0 = now();
        do {
            uint8_t *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

            if (p == MAP_FAILED) {
                perror("mmap");
                return 3;
            }
            for (i = 0; i < chunk; i += psz) {
                p[i] = 1;
            }
            munmap(p, chunk);
            pages += chunk / psz;
        } while ((t = now()) - t0 < secs);
        printf("MEMBW touch %.0f\n", pages / (t - t0));
        fflush(stdout);

        t0 = now();
        {
            uint64_t x = 88172645463325252ull, steps = 0;

            do {
                /* xorshift: a dependent chain the compiler must keep */
                for (i = 0; i < 1000000; i++) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                }
                steps += 1000000;
            } while ((t = now()) - t0 < secs);
            sink += x;
            printf("MEMBW compute %.1f\n", steps / (t - t0) / 1e6);
            fflush(stdout);
        }
    }
}
