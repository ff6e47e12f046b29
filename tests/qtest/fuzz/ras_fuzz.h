/*
 * What the guest RAS fuzz targets share: reading an input as a list of
 * operations, our QMP commands called with hostile arguments, and a
 * device's migration state saved, mutated and loaded back
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_QTEST_FUZZ_RAS_FUZZ_H
#define TESTS_QTEST_FUZZ_RAS_FUZZ_H

#include "migration/vmstate.h"
#include "tests/qtest/libqtest.h"

/* The rest of a fuzz input; reads past its end give zeroes */
typedef struct RasFuzzInput {
    const uint8_t *data;
    size_t len;
} RasFuzzInput;

uint8_t ras_fuzz_u8(RasFuzzInput *in);
uint16_t ras_fuzz_u16(RasFuzzInput *in);
uint64_t ras_fuzz_u64(RasFuzzInput *in);
/* Up to @max bytes of the input, as many as it has left */
size_t ras_fuzz_bytes(RasFuzzInput *in, uint8_t *buf, size_t max);

/*
 * Guest addresses worth trying on this machine, besides the boundaries
 * ras_fuzz_addr() always tries (0, page edges, the top of the address
 * space) and a raw 64-bit value
 */
typedef struct RasFuzzMachine {
    const uint64_t *addrs;
    size_t nr_addrs;
    const char *memdev;         /* a memory backend's id, or NULL */
    int nr_cpus;
} RasFuzzMachine;

uint64_t ras_fuzz_addr(RasFuzzInput *in, const RasFuzzMachine *m);

/*
 * One of our QMP commands, through its marshaller as a client's JSON
 * would reach it, with arguments made from the input: missing, of the
 * wrong type, huge, negative, unaligned, wrapping or out of range.
 * Never real host poison (inject-host-memory-failure's "real"): that
 * would take the page from the host running the fuzzer.
 */
void ras_fuzz_qmp(RasFuzzInput *in, const RasFuzzMachine *m);

/*
 * A device's DMA near one of the machine's RAM addresses: a read or a
 * write of up to two pages, through whatever the memory map has there (a
 * poison trap included)
 */
void ras_fuzz_dma(RasFuzzInput *in, const RasFuzzMachine *m);

/*
 * The machine's pc-dimm "d0" (backend "dimm0") plugged back at the
 * address QEMU picks, or unplugged as the guest's ACPI ejects it through
 * the memory hotplug interface at @hotplug (I/O ports if @io, else MMIO):
 * its poison, traps and guest addresses follow it.
 */
void ras_fuzz_dimm_plug(QTestState *s, bool plug, bool io, uint64_t hotplug);

/* A fuzz target's operations, and what must hold after them */
typedef void RasFuzzOp(QTestState *s, RasFuzzInput *in);

typedef struct RasFuzzOps {
    RasFuzzOp * const *op;
    unsigned nr_ops;
    void (*check)(void);            /* after every operation */
    void (*check_drains)(QTestState *s);    /* at the end */
} RasFuzzOps;

#define RAS_FUZZ_MAX_OPS    256

/*
 * Run the input: a byte chooses each operation (modulo @ops->nr_ops; an
 * operation listed twice is chosen twice as often), which reads its
 * arguments from what follows
 */
void ras_fuzz_run(QTestState *s, const uint8_t *data, size_t size,
                  const RasFuzzOps *ops);

/*
 * Save @opaque's state with @vmsd, change it as the input says (flipped
 * and overwritten bytes, cut short, grown), and load it back: the load
 * must succeed or fail cleanly.  Returns whether it succeeded.
 */
bool ras_fuzz_stream(RasFuzzInput *in, const VMStateDescription *vmsd,
                     void *opaque);

#endif
