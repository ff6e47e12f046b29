/*
 * Poison tracker benchmark: insert and look up many poisoned ranges
 *
 * Usage: memory-poison-bench [RANGES] [BLOCK_GIB]
 * Poisons RANGES distinct 4 KiB pages, at random, of a BLOCK_GIB block,
 * then looks each of them up, and as many healthy pages; prints the
 * time of each phase and the table's bytes per range.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bitmap.h"
#include "qemu/cutils.h"
#include "qemu/timer.h"
#include "system/memory-poison.h"
#include "system/ramblock.h"

#define PAGE 4096ull

static double seconds_since(int64_t start_ns)
{
    return (get_clock() - start_ns) / 1e9;
}

int main(int argc, char **argv)
{
    uint64_t n = 1000000, gib = 16, pages, i, found = 0, healthy = 0;
    /* The tracker reads a block's size only */
    RAMBlock *rb = g_new0(RAMBlock, 1);
    g_autofree uint64_t *order = NULL;
    GRand *rand = g_rand_new_with_seed(1);
    g_autofree unsigned long *bits = NULL;
    MemoryPoison p;
    int64_t t0;
    double add_s, find_s, miss_s, fill_s;
    uint64_t fill_poisoned = 0;

    if ((argc > 1 && qemu_strtou64(argv[1], NULL, 0, &n) < 0) ||
        (argc > 2 && qemu_strtou64(argv[2], NULL, 0, &gib) < 0)) {
        fprintf(stderr, "usage: %s [RANGES] [BLOCK_GIB]\n", argv[0]);
        return 1;
    }
    pages = gib << 30 >> 12;
    rb->max_length = gib << 30;
    if (n > pages / 2) {
        fprintf(stderr, "at most %" PRIu64 " ranges in %" PRIu64 " GiB\n",
                pages / 2, gib);
        return 1;
    }
    /* Distinct pages at random, chosen before the clock starts */
    bits = bitmap_new(pages);
    order = g_new(uint64_t, n);
    for (i = 0; i < n; i++) {
        uint64_t pg;

        do {
            pg = ((uint64_t)g_rand_int(rand) << 32 | g_rand_int(rand)) %
                 pages;
        } while (test_bit(pg, bits));
        set_bit(pg, bits);
        order[i] = pg;
    }

    t0 = get_clock();
    for (i = 0; i < n; i++) {
        memory_poison_add(rb, order[i] * PAGE, PAGE, true, order[i] * PAGE,
                          MEMORY_FAILURE_RECIPIENT_GUEST, true, &p);
    }
    add_s = seconds_since(t0);

    t0 = get_clock();
    for (i = 0; i < n; i++) {
        found += memory_poison_find(rb, order[i] * PAGE + 123, &p);
    }
    find_s = seconds_since(t0);

    /* A TLB fill of a healthy page in a block with poison */
    t0 = get_clock();
    for (i = 0; i < n; i++) {
        uint64_t pg = (order[i] + 1) % pages;

        healthy += !test_bit(pg, bits) &&
                   !memory_poison_find(rb, pg * PAGE, NULL);
    }
    miss_s = seconds_since(t0);

    /* A TLB fill's question, without the lock, for every page */
    t0 = get_clock();
    for (i = 0; i < pages; i++) {
        fill_poisoned += memory_poison_page_poisoned(rb, i * PAGE);
    }
    fill_s = seconds_since(t0);

    printf("ranges %" PRIu64 " (4 KiB at random in %" PRIu64 " GiB)\n",
           n, gib);
    printf("insert %.3f s, look up %.3f s (%" PRIu64 " found), healthy "
           "look up %.3f s (%" PRIu64 " healthy)\n",
           add_s, find_s, found, miss_s, healthy);
    printf("total %.3f s, %.1f ns per operation\n", add_s + find_s + miss_s,
           (add_s + find_s + miss_s) * 1e9 / (3 * n));
    printf("TLB fill check: %.1f ns per page (%" PRIu64 " pages, %" PRIu64
           " poisoned)\n", fill_s * 1e9 / pages, pages, fill_poisoned);
    printf("table %zu bytes, %.1f bytes per range\n", memory_poison_bytes(),
           (double)memory_poison_bytes() / memory_poison_count());
    g_rand_free(rand);
    /* Fails if the tracker lost or invented a range */
    return found == n && fill_poisoned == n && memory_poison_count() == n ?
           0 : 1;
}
