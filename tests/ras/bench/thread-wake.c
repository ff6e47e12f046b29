/*
 * What the host charges to wake a sleeping thread: a thread waits on a
 * condition variable, as a halted vCPU's does, and is woken N times, each
 * after it has slept GAP_US; prints the median and 99th percentile of
 * pthread_cond_broadcast(), in microseconds.  The guest notification of
 * the latency benchmark includes one such wake: the interrupt controller
 * kicks the halted vCPU's thread.
 *
 * Usage: thread-wake [N [GAP_US]]
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int woken;

static long long now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000ll + t.tv_nsec;
}

static void *sleeper(void *arg)
{
    pthread_mutex_lock(&lock);
    for (;;) {
        while (!woken) {
            pthread_cond_wait(&cond, &lock);
        }
        woken = 0;
    }
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    int gap_us = argc > 2 ? atoi(argv[2]) : 5000;
    long long *ns;
    pthread_t t;
    int i;

    if (n < 1 || gap_us < 0) {
        fprintf(stderr, "usage: thread-wake [N [GAP_US]]\n");
        return 2;
    }
    ns = calloc(n, sizeof(*ns));
    if (!ns || pthread_create(&t, NULL, sleeper, NULL)) {
        return 1;
    }
    for (i = 0; i < n; i++) {
        long long start;

        usleep(gap_us);
        pthread_mutex_lock(&lock);
        woken = 1;
        start = now_ns();
        pthread_cond_broadcast(&cond);
        ns[i] = now_ns() - start;
        pthread_mutex_unlock(&lock);
    }
    qsort(ns, n, sizeof(*ns), cmp);
    printf("%.1f %.1f\n", ns[n / 2] / 1e3, ns[(n * 99) / 100] / 1e3);
    return 0;
}
