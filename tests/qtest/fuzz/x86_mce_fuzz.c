/*
 * Fuzz x86 memory error delivery in the real machine: QMP clients
 * injecting errors with hostile arguments, a guest in any machine check
 * state (CR4.MCE, MCIP, banks taken or not, interrupts, idle), virtual
 * time, resets, a device's DMA, the DIMM and vCPU 1 unplugged and plugged
 * back, and the x86-mce-queue's migration state saved, mutated and
 * loaded back.
 *
 * An input is a list of operations, each a byte then its arguments.
 * Besides crashes and sanitizer reports, each input checks that the
 * queue stays within its bound, that every machine check it holds is for
 * an existing vCPU at a page, and that a guest which handles every
 * machine check gets every one (the queue drains).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "target/i386/cpu.h"
#include "hw/core/cpu.h"
#include "hw/boards.h"
#include "hw/i386/x86-mce-queue.h"
#include "system/runstate.h"
#include "system/guest-progress.h"
#include "system/reset.h"
#include "target/i386/memory-failure.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-qdev.h"
#include "monitor/qdev.h"
#include "qobject/qdict.h"
#include "tests/qtest/libqtest.h"
#include "fuzz.h"
#include "ras_fuzz.h"

#define X86_FUZZ_RAM_SIZE       (256 * MiB)
#define X86_FUZZ_DIMM_BASE      (4 * GiB)       /* pc's device memory */

static const uint64_t addrs[] = {
    1 * MiB, 32 * MiB, 0x9f000, 0xa0000, 0xe0000,
    X86_FUZZ_RAM_SIZE - 4 * KiB, X86_FUZZ_RAM_SIZE, 0xfee00000,
    X86_FUZZ_DIMM_BASE, X86_FUZZ_DIMM_BASE + 128 * MiB - 4 * KiB,
};

static const RasFuzzMachine machine = {
    .addrs = addrs, .nr_addrs = ARRAY_SIZE(addrs), .memdev = "dimm0",
    .nr_cpus = 2,
};

static X86MceQueue *queue;

/*
 * Intel action-optional machine checks go into a guest log that QEMU
 * cannot see drain: it may send 8 the guest shows no sign of processing,
 * then one per 200 us of vCPU time the guest runs or per 100 ms of
 * virtual time (the qtest vCPUs run next to none).  Checked over the last
 * second: the ones sent, when, and the guest's CPU time then.
 */
#define PACED_WINDOW_NS         NANOSECONDS_PER_SECOND
#define PACED_MAX               64

static struct {
    uint64_t seen;
    unsigned n, head;
    int64_t t[PACED_MAX], cpu[PACED_MAX];
} paced;

/* Pacing starts over at a reset, the guest's own (shutdown) included */
static void paced_restart(void *opaque)
{
    paced.seen = x86_memory_failure_ao_sent();
    paced.n = 0;
}

static void check_paced(void)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL), cpu, window;
    uint64_t sent = x86_memory_failure_ao_sent();
    unsigned i, oldest;

    cpu = guest_progress_cpu_ns();
    for (; paced.seen < sent; paced.seen++) {
        i = (paced.head + paced.n) % PACED_MAX;
        if (paced.n == PACED_MAX) {
            paced.head = (paced.head + 1) % PACED_MAX;
        } else {
            paced.n++;
        }
        paced.t[i] = now;
        paced.cpu[i] = cpu;
    }
    while (paced.n && paced.t[paced.head] <= now - PACED_WINDOW_NS) {
        paced.head = (paced.head + 1) % PACED_MAX;
        paced.n--;
    }
    if (!paced.n) {
        return;
    }
    /* A vCPU unplugged took its CPU time along: from here on, as QEMU */
    for (i = 0; i < PACED_MAX; i++) {
        paced.cpu[i] = MIN(paced.cpu[i], cpu);
    }
    oldest = paced.head;
    window = now - paced.t[oldest];
    g_assert_cmpint(paced.n, <=, 8 + 1 + window / (100 * SCALE_MS) +
                    (cpu - paced.cpu[oldest]) / (200 * SCALE_US));
}

static GString *x86_cmdline(const char *cpu)
{
    GString *cmd = g_string_new(TARGET_NAME);

    g_string_append_printf(cmd, " -accel qtest -display none -machine pc "
                           "-cpu %s "
                           "-smp 2 -m 256M,slots=2,maxmem=1G -nic none "
                           "-nodefaults -object memory-backend-ram,id=dimm0,"
                           "size=128M -device pc-dimm,memdev=dimm0,id=d0 ",
                           cpu);
    /* More options, to debug a finding (-trace ...) */
    g_string_append_printf(cmd, " %s ", getenv("RAS_FUZZ_ARGS") ?: "");
    return cmd;
}

/* What users of TCG get: AMD, with MCA recovery (SUCCOR) */
static GString *x86_mce_amd_cmdline(FuzzTarget *t)
{
    return x86_cmdline("max");
}

/* Intel without local machine checks: every CPU joins each one */
static GString *x86_mce_intel_cmdline(FuzzTarget *t)
{
    return x86_cmdline("max,vendor=GenuineIntel,family=6,model=85");
}

/* The guest's side: what it has enabled, taken and cleared */
enum {
    GUEST_CR4_MCE = 1 << 0,
    GUEST_IF = 1 << 1,
    GUEST_HALTED = 1 << 2,
    GUEST_CLEAR_MCIP = 1 << 3,
    GUEST_CLEAR_BANKS = 1 << 4,
    GUEST_TAKE_MCE = 1 << 5,
    GUEST_LMCE_EN = 1 << 6,
};

static void guest_state(CPUState *cs, uint8_t how)
{
    CPUX86State *env = cpu_env(cs);
    unsigned i;

    env->cr[4] = how & GUEST_CR4_MCE ? env->cr[4] | CR4_MCE_MASK
                                      : env->cr[4] & ~CR4_MCE_MASK;
    env->eflags = how & GUEST_IF ? env->eflags | IF_MASK
                                 : env->eflags & ~IF_MASK;
    cs->halted = !!(how & GUEST_HALTED);
    if (how & GUEST_CLEAR_MCIP) {
        env->mcg_status = 0;
    }
    if (how & GUEST_CLEAR_BANKS) {
        for (i = 0; i < (env->mcg_cap & 0xff); i++) {
            env->mce_banks[i * 4 + 1] = 0;
        }
    }
    if (how & GUEST_TAKE_MCE) {
        cpu_reset_interrupt(cs, CPU_INTERRUPT_MCE);
    }
    if ((how & GUEST_LMCE_EN) && (env->mcg_cap & MCG_LMCE_P)) {
        env->mcg_ext_ctl |= MCG_EXT_CTL_LMCE_EN;
    }
}

static void op_guest(QTestState *s, RasFuzzInput *in)
{
    uint8_t which = ras_fuzz_u8(in), how = ras_fuzz_u8(in);
    CPUState *cs;

    CPU_FOREACH(cs) {
        if (which & (1 << cs->cpu_index)) {
            guest_state(cs, how);
        }
    }
}

static void op_clock(QTestState *s, RasFuzzInput *in)
{
    static const int64_t steps[] = { 1, 1000, SCALE_MS, 20 * SCALE_MS,
                                     400 * SCALE_MS,
                                     NANOSECONDS_PER_SECOND * 5 };

    qtest_clock_step(s, steps[ras_fuzz_u8(in) % ARRAY_SIZE(steps)]);
}

static void reset(QTestState *s)
{
    /*
     * Checked before the vCPUs run again: work queued on them earlier (a
     * simulated action-required error) raises its error afterwards, a new
     * one of the new boot
     */
    qemu_system_reset(SHUTDOWN_CAUSE_GUEST_RESET);
    g_assert(x86_mce_queue_empty(queue));
    flush_events(s);
}

static void op_stream(QTestState *s, RasFuzzInput *in)
{
    /*
     * A refused stream leaves the machine as the load left it, and it may
     * run on (an operator's "cont" after a failed snapshot-load): every
     * check holds after it too
     */
    ras_fuzz_stream(in, DEVICE_GET_CLASS(queue)->vmsd, queue);
}

static void check(void)
{
    GList *l;

    check_paced();
    g_assert_cmpuint(g_queue_get_length(&queue->held), <=, queue->size);
    for (l = queue->held.head; l; l = l->next) {
        X86HeldMce *h = l->data;

        g_assert(qemu_get_cpu(h->cpu_index));
        g_assert_cmphex(h->gpa & 0xfff, ==, 0);
    }
}

/* A guest that handles every machine check gets every one */
static void check_drains(QTestState *s)
{
    unsigned left = g_queue_get_length(&queue->held), n;
    CPUState *cs;

    for (n = 0; left && n < 2 * left + 8; n++) {
        CPU_FOREACH(cs) {
            guest_state(cs, GUEST_CR4_MCE | GUEST_IF | GUEST_HALTED |
                            GUEST_CLEAR_MCIP | GUEST_CLEAR_BANKS |
                            GUEST_TAKE_MCE);
        }
        qtest_clock_step(s, 400 * SCALE_MS);
        flush_events(s);
    }
    g_assert(x86_mce_queue_empty(queue));
}

static void op_qmp(QTestState *s, RasFuzzInput *in)
{
    ras_fuzz_qmp(in, &machine);
}

static void op_reset(QTestState *s, RasFuzzInput *in)
{
    reset(s);
}

static void op_dma(QTestState *s, RasFuzzInput *in)
{
    ras_fuzz_dma(in, &machine);
}

/*
 * The DIMM unplugged, as the guest's ACPI ejects it, or plugged back at
 * the address QEMU picks: its poison, traps and guest addresses follow
 */
#define X86_MEM_HOTPLUG_IO  0x0a00

static bool dimm_plugged = true;

static void op_dimm(QTestState *s, RasFuzzInput *in)
{
    dimm_plugged = !dimm_plugged;
    ras_fuzz_dimm_plug(s, dimm_plugged, true, X86_MEM_HOTPLUG_IO);
    flush_events(s);
}

/*
 * vCPU 1 unplugged, as the guest's ACPI ejects it (PIIX4's CPU hotplug
 * interface, switched to its modern form), or plugged back: what waits
 * for it (a held machine check, a report) must not wait for ever, nor
 * reach a vCPU that is gone
 */
#define CPU_HOTPLUG_IO  0xaf00

static bool cpu1_plugged = true;
/* Where vCPU 1 sits in the topology: socket, core, thread */
static int64_t cpu1_at[3];
static const char *const cpu1_ids[3] = { "socket-id", "core-id",
                                         "thread-id" };

static void cpu1_plug(QTestState *s, bool plug)
{
    Error *err = NULL;
    int i;

    if (plug == cpu1_plugged) {
        return;
    }
    if (plug) {
        QDict *opts = qdict_new();
        QObject *ret = NULL;

        qdict_put_str(opts, "driver", current_machine->cpu_type);
        qdict_put_str(opts, "id", "c1");
        for (i = 0; i < ARRAY_SIZE(cpu1_ids); i++) {
            qdict_put_int(opts, cpu1_ids[i], cpu1_at[i]);
        }
        qmp_device_add(opts, &ret, &err);
        qobject_unref(opts);
        qobject_unref(ret);
    } else {
        Object *cpu = OBJECT(qemu_get_cpu(1));
        g_autofree char *path = object_get_canonical_path(cpu);

        for (i = 0; i < ARRAY_SIZE(cpu1_ids); i++) {
            cpu1_at[i] = object_property_get_int(cpu, cpu1_ids[i],
                                                 &error_abort);
        }
        /* The guest's ACPI switched to the modern interface at boot */
        qtest_outl(s, CPU_HOTPLUG_IO, 0);
        qmp_device_del(path, &err);
        if (!err) {
            qtest_outl(s, CPU_HOTPLUG_IO, 1);       /* vCPU 1 */
            qtest_outb(s, CPU_HOTPLUG_IO + 4, 1 << 3);  /* eject */
        }
    }
    if (err) {
        error_report_err(err);
        g_assert_not_reached();
    }
    g_assert(!qemu_get_cpu(1) == !plug);
    cpu1_plugged = plug;
}

static void op_cpu(QTestState *s, RasFuzzInput *in)
{
    cpu1_plug(s, !cpu1_plugged);
    flush_events(s);
}

/* Seeds (tests/fuzz/make-seeds) name operations by their index here */
static RasFuzzOp * const x86_mce_ops[] = {
    op_qmp, op_qmp, op_qmp, op_guest, op_guest, op_clock,
    op_reset, op_stream, op_dma, op_dimm, op_cpu,
};

static const RasFuzzOps x86_mce_fuzz_ops = {
    .op = x86_mce_ops,
    .nr_ops = ARRAY_SIZE(x86_mce_ops),
    .check = check,
    .check_drains = check_drains,
};

static void x86_mce_fuzz(QTestState *s, const unsigned char *data,
                         size_t size)
{
    /* Every input starts from the same machine */
    if (!dimm_plugged) {
        ras_fuzz_dimm_plug(s, true, true, X86_MEM_HOTPLUG_IO);
        dimm_plugged = true;
    }
    cpu1_plug(s, true);
    reset(s);
    ras_fuzz_run(s, data, size, &x86_mce_fuzz_ops);
}

static void x86_mce_fuzz_pre(QTestState *s)
{
    queue = x86_mce_queue_get();
    g_assert(queue);
    qemu_register_reset(paced_restart, NULL);
}

static void register_x86_mce_fuzz_targets(void)
{
    fuzz_add_target(&(FuzzTarget){
        .name = "ras-x86-mce",
        .description = "Fuzz x86 memory error delivery (-cpu max, AMD): "
                       "QMP, guest machine check state, migration state",
        .get_init_cmdline = x86_mce_amd_cmdline,
        .pre_fuzz = x86_mce_fuzz_pre,
        .fuzz = x86_mce_fuzz,
    });
    fuzz_add_target(&(FuzzTarget){
        .name = "ras-x86-mce-intel",
        .description = "Fuzz x86 memory error delivery (Intel, broadcast "
                       "machine checks): QMP, guest state, migration state",
        .get_init_cmdline = x86_mce_intel_cmdline,
        .pre_fuzz = x86_mce_fuzz_pre,
        .fuzz = x86_mce_fuzz,
    });
}

fuzz_target_init(register_x86_mce_fuzz_targets);
