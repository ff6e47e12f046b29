/*
 * libFuzzer target: the poison tracker (system/memory-poison.c) against
 * a model
 *
 * The input is a sequence of operations on a few RAM blocks of sizes the
 * input chooses: add a range (any offset, inside the block or past its
 * end, sizes from 4 KiB to 16 MiB) or a run of pages, look an offset up,
 * ask the lockless TLB question, mark told, forget a block, list
 * everything, clear.  The model is a plain list of ranges with the
 * semantics memory-poison.h states; every answer of the tracker is
 * compared with it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bitmap.h"
#include "qemu/bswap.h"
#include "system/memory-poison.h"
#include "system/ramblock.h"
#include "fuzz-target.h"

#define NR_BLOCKS       4
#define PAGE            4096ull
#define MAX_PAGES       8192        /* 32 MiB blocks at most */
#define MIN_SHIFT       12
#define MAX_SHIFT       24
#define HITS_MAX        ((1ull << 24) - 1)

typedef struct Input {
    const uint8_t *p, *end;
} Input;

static bool more(Input *in)
{
    return in->p < in->end;
}

static uint64_t take(Input *in, int bytes)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < bytes; i++) {
        v |= (uint64_t)(in->p < in->end ? *in->p++ : 0) << (8 * i);
    }
    return v;
}

typedef struct ModelRange {
    unsigned block;
    uint64_t offset, size;
    bool has_gpa;
    uint64_t gpa;
    MemoryFailureRecipient recipient;
    bool data_intact, reported;
    uint64_t hits;
} ModelRange;

static RAMBlock *rbs[NR_BLOCKS];
static GArray *model;               /* of ModelRange */
/* The TLB bitmap as memory-poison.c keeps it, and its size once made */
static unsigned long *bits[NR_BLOCKS];
static uint64_t map_pages[NR_BLOCKS];

static ModelRange *covering(unsigned b, uint64_t offset)
{
    unsigned i;

    for (i = 0; i < model->len; i++) {
        ModelRange *r = &g_array_index(model, ModelRange, i);

        if (r->block == b && offset >= r->offset &&
            offset - r->offset < r->size) {
            return r;
        }
    }
    return NULL;
}

static void forget(unsigned b)
{
    unsigned i;

    for (i = model->len; i-- > 0;) {
        if (g_array_index(model, ModelRange, i).block == b) {
            g_array_remove_index_fast(model, i);
        }
    }
    g_clear_pointer(&bits[b], g_free);
    map_pages[b] = 0;
}

static void check_entry(const ModelRange *r, const MemoryPoison *p)
{
    assert(p->rb == rbs[r->block]);
    assert(p->offset == r->offset && p->size == r->size);
    assert(p->has_gpa == r->has_gpa);
    assert(!r->has_gpa || p->gpa == r->gpa);
    assert(p->recipient == r->recipient);
    assert(p->data_intact == r->data_intact && p->reported == r->reported);
    assert(p->hits == r->hits);
}

static void do_add(Input *in)
{
    unsigned b = take(in, 1) % NR_BLOCKS;
    uint64_t page = take(in, 2) % (2 * MAX_PAGES);
    uint64_t size = 1ull << (MIN_SHIFT + take(in, 1) %
                             (MAX_SHIFT - MIN_SHIFT + 1));
    uint64_t offset = page * PAGE + take(in, 2) % PAGE;
    unsigned flags = take(in, 1);
    bool has_gpa = flags & 1, data_intact = flags & 2;
    uint64_t gpa = take(in, 6) << 12 | (offset & (PAGE - 1));
    MemoryFailureRecipient recipient = flags & 4 ?
        MEMORY_FAILURE_RECIPIENT_HYPERVISOR : MEMORY_FAILURE_RECIPIENT_GUEST;
    ModelRange *old, n;
    MemoryPoison p;
    bool is_new;
    unsigned i;

    is_new = memory_poison_add(rbs[b], offset, size, has_gpa, gpa,
                               recipient, data_intact, &p);
    offset &= ~(size - 1);
    old = covering(b, offset);
    if (old && old->size >= size) {
        /* Known, by itself or inside a larger range */
        assert(!is_new);
        old->hits = MIN(old->hits + 1, HITS_MAX);
        old->data_intact &= data_intact;
        check_entry(old, &p);
        return;
    }
    assert(is_new);
    n = (ModelRange) {
        .block = b, .offset = offset, .size = size, .has_gpa = has_gpa,
        .gpa = has_gpa ? gpa & ~(size - 1) : 0, .recipient = recipient,
        .data_intact = data_intact, .hits = 1,
    };
    /* A larger range takes in the smaller ones it covers */
    for (i = model->len; i-- > 0;) {
        ModelRange *r = &g_array_index(model, ModelRange, i);

        if (r->block == b && r->offset >= offset &&
            r->offset - offset < size) {
            assert(r->size < size);
            n.hits = MIN(n.hits + r->hits, HITS_MAX);
            n.reported |= r->reported;
            g_array_remove_index_fast(model, i);
        }
    }
    g_array_append_val(model, n);
    check_entry(&n, &p);
    /* The bitmap is made when the block gets its first range */
    if (!bits[b]) {
        map_pages[b] = DIV_ROUND_UP(rbs[b]->max_length, PAGE);
        bits[b] = bitmap_new(map_pages[b]);
    }
    /* The part of the range inside the block is marked */
    if (offset / PAGE < map_pages[b]) {
        bitmap_set(bits[b], offset / PAGE,
                   MIN(size / PAGE, map_pages[b] - offset / PAGE));
    }
}

/* Many pages at once: the table grows, absorbs leave tombstones */
static void do_add_run(Input *in)
{
    unsigned b = take(in, 1) % NR_BLOCKS;
    uint64_t page = take(in, 2) % (2 * MAX_PAGES);
    unsigned count = take(in, 1), stride = 1 + take(in, 1) % 16;
    unsigned flags = take(in, 1), i;
    uint8_t op[15];

    for (i = 0; i < count; i++) {
        Input one = { op, op + sizeof(op) };

        op[0] = b;
        stw_le_p(op + 1, page + i * stride);
        op[3] = 0;                          /* 4 KiB */
        stw_le_p(op + 4, 0);
        op[6] = flags;
        memset(op + 7, 0, 6);
        stw_le_p(op + 7, i);
        do_add(&one);
    }
}

static void do_find(Input *in)
{
    unsigned b = take(in, 1) % NR_BLOCKS;
    uint64_t offset = take(in, 2) % (2 * MAX_PAGES) * PAGE +
                      take(in, 2) % PAGE;
    ModelRange *r = covering(b, offset);
    MemoryPoison p;
    bool found = memory_poison_find(rbs[b], offset, &p);
    bool trapped = memory_poison_page_poisoned(rbs[b], offset);

    assert(found == !!r);
    if (r) {
        check_entry(r, &p);
    }
    /* The TLB's question: as the bitmap says */
    assert(trapped == (bits[b] && offset / PAGE < map_pages[b] &&
                       test_bit(offset / PAGE, bits[b])));
    /* ... never a healthy page, every page of a range in the block */
    assert(!trapped || found);
    assert(trapped || !r || offset / PAGE >= map_pages[b]);
    assert(memory_poison_find(rbs[b], offset, NULL) == found);
}

static void do_reported(Input *in)
{
    unsigned b = take(in, 1) % NR_BLOCKS;
    uint64_t offset = take(in, 2) % (2 * MAX_PAGES) * PAGE;
    ModelRange *r = covering(b, offset);

    memory_poison_set_reported(rbs[b], offset, true);
    if (r) {
        r->reported = true;
    }
}

static void list_one(const MemoryPoison *p, void *opaque)
{
    unsigned *seen = opaque, b, i;

    for (b = 0; b < NR_BLOCKS && rbs[b] != p->rb; b++) {
        continue;
    }
    assert(b < NR_BLOCKS);
    for (i = 0; i < model->len; i++) {
        ModelRange *r = &g_array_index(model, ModelRange, i);

        if (r->block == b && r->offset == p->offset) {
            check_entry(r, p);
            (*seen)++;
            return;
        }
    }
    assert(!"listed a range the model does not have");
}

static void check_all(void)
{
    unsigned seen = 0, b;

    memory_poison_foreach(list_one, &seen);
    assert(seen == model->len);
    assert(memory_poison_count() == model->len);
    for (b = 0; b < NR_BLOCKS; b++) {
        bool any = false;
        unsigned i;

        for (i = 0; i < model->len; i++) {
            any |= g_array_index(model, ModelRange, i).block == b;
        }
        assert(memory_poison_block_has_poison(rbs[b]) == any);
    }
    assert(memory_poison_bytes() >= model->len * 24);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Input in = { data, data + size };
    unsigned b;

    if (!model) {
        model = g_array_new(false, false, sizeof(ModelRange));
        for (b = 0; b < NR_BLOCKS; b++) {
            rbs[b] = g_new0(RAMBlock, 1);
        }
    }
    memory_poison_clear();
    g_array_set_size(model, 0);
    for (b = 0; b < NR_BLOCKS; b++) {
        /* Any whole number of pages, or a ragged end */
        uint64_t len = (1 + take(&in, 2) % MAX_PAGES) * PAGE;

        rbs[b]->max_length = len - (take(&in, 1) & 1 ? 512 : 0);
        g_clear_pointer(&bits[b], g_free);
        map_pages[b] = 0;
    }
    while (more(&in)) {
        switch (take(&in, 1) % 16) {
        case 0 ... 5:
            do_add(&in);
            break;
        case 6:
            do_add_run(&in);
            break;
        case 7 ... 11:
            do_find(&in);
            break;
        case 12:
            do_reported(&in);
            break;
        case 13:
            b = take(&in, 1) % NR_BLOCKS;
            memory_poison_forget_block(rbs[b]);
            forget(b);
            break;
        case 14:
            check_all();
            break;
        case 15:
            memory_poison_clear();
            g_array_set_size(model, 0);
            for (b = 0; b < NR_BLOCKS; b++) {
                forget(b);
            }
            break;
        }
    }
    check_all();
    return 0;
}
