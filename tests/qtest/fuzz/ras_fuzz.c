/*
 * What the guest RAS fuzz targets share (ras_fuzz.h)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-qdev.h"
#include "qapi/qapi-commands-ras.h"
#include "qemu/error-report.h"
#include "monitor/qdev.h"
#include "qobject/qdict.h"
#include "qobject/qnum.h"
#include "qobject/qobject.h"
#include "io/channel-buffer.h"
#include "migration/qemu-file.h"
#include "migration/savevm.h"
#include "migration/vmstate.h"
#include "system/address-spaces.h"
#include "system/memory.h"
#include "system/poison-trap.h"
#include "fuzz.h"
#include "ras_fuzz.h"

uint8_t ras_fuzz_u8(RasFuzzInput *in)
{
    uint8_t v = 0;

    ras_fuzz_bytes(in, &v, 1);
    return v;
}

uint16_t ras_fuzz_u16(RasFuzzInput *in)
{
    uint8_t b[2] = { 0 };

    ras_fuzz_bytes(in, b, sizeof(b));
    return lduw_le_p(b);
}

uint64_t ras_fuzz_u64(RasFuzzInput *in)
{
    uint8_t b[8] = { 0 };

    ras_fuzz_bytes(in, b, sizeof(b));
    return ldq_le_p(b);
}

size_t ras_fuzz_bytes(RasFuzzInput *in, uint8_t *buf, size_t max)
{
    size_t n = MIN(max, in->len);

    memcpy(buf, in->data, n);
    in->data += n;
    in->len -= n;
    return n;
}

uint64_t ras_fuzz_addr(RasFuzzInput *in, const RasFuzzMachine *m)
{
    static const uint64_t edges[] = {
        0, 1, 4 * KiB - 1, 4 * KiB, 2 * MiB, 1ull << 63, UINT64_MAX,
        UINT64_MAX - 4 * KiB + 1,
    };
    uint8_t pick = ras_fuzz_u8(in);
    /* Near a chosen address: the byte before, within, after its page */
    static const int64_t nudge[] = { 0, 0, 0, 0, -1, 1, 8, 4 * KiB - 1,
                                     4 * KiB, 2 * MiB, -4 * KiB, 1024 };
    uint64_t base;

    if (pick < 0x80 && m->nr_addrs) {
        base = m->addrs[pick % m->nr_addrs];
    } else if (pick < 0xf0) {
        base = edges[pick % ARRAY_SIZE(edges)];
    } else {
        return ras_fuzz_u64(in);
    }
    return base + nudge[ras_fuzz_u8(in) % ARRAY_SIZE(nudge)];
}

static void put_wrong(QDict *args, const char *key, RasFuzzInput *in)
{
    switch (ras_fuzz_u8(in) % 4) {
    case 0:
        qdict_put_str(args, key, "0x1000");
        break;
    case 1:
        qdict_put_bool(args, key, true);
        break;
    case 2:
        qdict_put_int(args, key, 1);
        break;
    default:
        qdict_put(args, key, qdict_new());
    }
}

/*
 * Whether the argument is to be given a value: otherwise it is left out,
 * or given one of the wrong type
 */
static bool arg_value(QDict *args, const char *key, RasFuzzInput *in)
{
    uint8_t b = ras_fuzz_u8(in);

    if (b >= 0x30 && b < 0x38) {
        put_wrong(args, key, in);
    }
    return b >= 0x38;
}

static void put_u64(QDict *args, const char *key, RasFuzzInput *in,
                    uint64_t value)
{
    if (arg_value(args, key, in)) {
        /* QMP carries integers above INT64_MAX as unsigned */
        qdict_put(args, key, qnum_from_uint(value));
    }
}

static void put_int(QDict *args, const char *key, RasFuzzInput *in,
                    int nr_cpus)
{
    static const int64_t values[] = { 0, 1, -1, INT32_MAX, INT32_MIN,
                                      INT64_MAX, INT64_MIN, 2, 3, 64 };
    uint8_t pick;

    if (arg_value(args, key, in)) {
        pick = ras_fuzz_u8(in);
        qdict_put_int(args, key, pick < 0xc0 ? pick % (nr_cpus + 1) :
                                 values[pick % ARRAY_SIZE(values)]);
    }
}

static void put_bool(QDict *args, const char *key, RasFuzzInput *in)
{
    if (arg_value(args, key, in)) {
        qdict_put_bool(args, key, ras_fuzz_u8(in) & 1);
    }
}

static void put_enum(QDict *args, const char *key, RasFuzzInput *in,
                     const QEnumLookup *lookup)
{
    uint8_t pick;

    if (arg_value(args, key, in)) {
        pick = ras_fuzz_u8(in);
        qdict_put_str(args, key, pick < lookup->size ? lookup->array[pick] :
                      pick & 1 ? "" : "no-such-value");
    }
}

/* A page size: the valid ones, and what is not a power of two or huge */
static uint64_t page_size(RasFuzzInput *in)
{
    static const uint64_t sizes[] = {
        4 * KiB, 64 * KiB, 2 * MiB, 1 * GiB, 0, 1, 4 * KiB + 1, 12 * KiB,
        1ull << 63, UINT64_MAX, 512 * GiB,
    };

    return sizes[ras_fuzz_u8(in) % ARRAY_SIZE(sizes)];
}

/*
 * A count of pages: small ones (each is a signal, kept few so that an
 * input runs in milliseconds), the bound and past it, wrapping values
 */
static uint64_t page_count(RasFuzzInput *in)
{
    static const uint64_t counts[] = {
        0, 1, 2, 3, 17, 64, 1048577, 1ull << 52, UINT64_MAX,
    };

    return counts[ras_fuzz_u8(in) % ARRAY_SIZE(counts)];
}

static void call(void (*marshal)(QDict *, QObject **, Error **),
                 QDict *args)
{
    QObject *ret = NULL;
    Error *err = NULL;

    marshal(args, &ret, &err);
    qobject_unref(ret);
    error_free(err);
    qobject_unref(args);
}

static void qmp_memory_error(RasFuzzInput *in, const RasFuzzMachine *m)
{
    QDict *args = qdict_new();

    put_u64(args, "address", in, ras_fuzz_addr(in, m));
    put_u64(args, "size", in, page_size(in));
    put_enum(args, "severity", in, &CperSeverity_lookup);
    put_enum(args, "error-type", in, &CperMemoryErrorType_lookup);
    put_bool(args, "action-required", in);
    put_int(args, "cpu-index", in, m->nr_cpus);
    call(qmp_marshal_inject_memory_error, args);
}

static void qmp_host_memory_failure(RasFuzzInput *in, const RasFuzzMachine *m)
{
    QDict *args = qdict_new();
    uint8_t how = ras_fuzz_u8(in);

    /* By address, by backend and offset, both, neither */
    if (how & 1) {
        put_u64(args, "address", in, ras_fuzz_addr(in, m));
    }
    if (how & 2) {
        uint64_t offset = ras_fuzz_u64(in);

        qdict_put_str(args, "memdev", m->memdev && (how & 4) ? m->memdev :
                      "no-such-backend");
        /* Mostly inside the backend (128 MiB), page aligned or not */
        if (ras_fuzz_u8(in) & 1) {
            offset %= 128 * MiB;
        }
        put_u64(args, "offset", in, offset);
    }
    /* Either simulated kind, or none: never "real" */
    if (arg_value(args, "kind", in)) {
        qdict_put_str(args, "kind", ras_fuzz_u8(in) & 1 ? "action-required"
                                                        : "action-optional");
    }
    put_int(args, "cpu-index", in, m->nr_cpus);
    put_u64(args, "page-size", in, page_size(in));
    put_u64(args, "count", in, page_count(in));
    put_u64(args, "refaults", in, ras_fuzz_u8(in) < 0xf0 ?
            ras_fuzz_u8(in) % 4 : ras_fuzz_u64(in));
    call(qmp_marshal_inject_host_memory_failure, args);
}

/* A CPER payload: base64 of the input's bytes, or not base64 at all */
static void qmp_ghes_v2_error(RasFuzzInput *in)
{
    QDict *args = qdict_new();
    uint8_t buf[2048];
    size_t len = ras_fuzz_bytes(in, buf, ras_fuzz_u16(in) % sizeof(buf));
    g_autofree char *b64 = g_base64_encode(buf, len);

    if (len && buf[0] == 0xff) {
        qdict_put_str(args, "cper", "!not base64!");
    } else if (len && buf[0] == 0xfe) {
        put_wrong(args, "cper", in);
    } else {
        qdict_put_str(args, "cper", b64);
    }
    call(qmp_marshal_inject_ghes_v2_error, args);
}

void ras_fuzz_qmp(RasFuzzInput *in, const RasFuzzMachine *m)
{
    switch (ras_fuzz_u8(in) % 6) {
    case 0:
        qmp_memory_error(in, m);
        break;
    case 1:
        qmp_host_memory_failure(in, m);
        break;
    case 2:
        qmp_ghes_v2_error(in);
        break;
    case 3:
        call(qmp_marshal_query_ghes, qdict_new());
        break;
    case 4:
        call(qmp_marshal_query_ras_queues, qdict_new());
        break;
    default:
        call(qmp_marshal_query_memory_failures, qdict_new());
    }
}

/* --- migration state -------------------------------------------------- */

/* Change @buf of *@len bytes (room for @room) as the input says */
static void mutate(RasFuzzInput *in, uint8_t *buf, size_t *len, size_t room)
{
    unsigned edits = ras_fuzz_u8(in) % 8, i;

    for (i = 0; i < edits && *len; i++) {
        size_t at = ras_fuzz_u16(in) % *len;
        uint8_t kind = ras_fuzz_u8(in) % 4;

        switch (kind) {
        case 0:
            buf[at] ^= ras_fuzz_u8(in) | 1;
            break;
        case 1:
            /* Overwrite with up to 8 bytes of the input: whole fields */
            ras_fuzz_bytes(in, buf + at, MIN(ras_fuzz_u8(in) % 9,
                                             *len - at));
            break;
        case 2:
            *len = at;
            break;
        default:
            /* Grow: the input's bytes after the state */
            *len += ras_fuzz_bytes(in, buf + *len, MIN(ras_fuzz_u8(in),
                                                       room - *len));
        }
    }
}

void ras_fuzz_run(QTestState *s, const uint8_t *data, size_t size,
                  const RasFuzzOps *ops)
{
    RasFuzzInput in = { .data = data, .len = size };
    unsigned n = 0;

    while (in.len && n++ < RAS_FUZZ_MAX_OPS) {
        ops->op[ras_fuzz_u8(&in) % ops->nr_ops](s, &in);
        flush_events(s);
        ops->check();
    }
    ops->check_drains(s);
}

void ras_fuzz_dma(RasFuzzInput *in, const RasFuzzMachine *m)
{
    static const uint32_t lens[] = { 1, 8, 64, 4 * KiB, 8 * KiB + 3 };
    static const int64_t nudge[] = { 0, -1, 8, 4 * KiB - 1, -4 * KiB };
    /*
     * Starting in RAM only (poisoned or not): devices are not ours to fuzz
     * (a flash rebuilds the memory map for every byte written)
     */
    uint64_t addr = m->addrs[ras_fuzz_u8(in) % m->nr_addrs] +
                    nudge[ras_fuzz_u8(in) % ARRAY_SIZE(nudge)];
    uint32_t len = lens[ras_fuzz_u8(in) % ARRAY_SIZE(lens)];
    bool is_write = ras_fuzz_u8(in) & 1;
    g_autofree uint8_t *buf = g_malloc0(len);
    MemoryRegionSection sec = memory_region_find(get_system_memory(), addr,
                                                 1);
    bool ram = false;
    void *host;

    if (sec.mr) {
        ram = memory_region_is_ram(sec.mr) ||
              poison_trap_hidden_ram(sec.mr, sec.offset_within_region, &host);
        memory_region_unref(sec.mr);
    }
    if (!ram) {
        return;
    }
    /* From the main loop, as a device model: the result is the device's */
    address_space_rw(&address_space_memory, addr, MEMTXATTRS_UNSPECIFIED,
                     buf, len, is_write);
}

bool ras_fuzz_stream(RasFuzzInput *in, const VMStateDescription *vmsd,
                     void *opaque)
{
    QIOChannelBuffer *out = qio_channel_buffer_new(4096);
    QIOChannelBuffer *inb;
    g_autofree uint8_t *buf = NULL;
    Error *err = NULL;
    QEMUFile *f;
    size_t len, room;
    int ret;

    f = qemu_file_new_output(QIO_CHANNEL(out));
    ret = vmstate_save_state(f, vmsd, opaque, NULL, &err);
    if (ret) {
        error_report_err(err);
        g_assert_not_reached();
    }
    qemu_put_byte(f, QEMU_VM_EOF);
    g_assert(qemu_fflush(f) == 0);
    len = out->usage;
    room = len + 4096;
    buf = g_malloc0(room);
    memcpy(buf, out->data, len);
    qemu_fclose(f);
    object_unref(OBJECT(out));

    mutate(in, buf, &len, room);

    inb = qio_channel_buffer_new(len);
    if (len) {
        memcpy(inb->data, buf, len);
    }
    inb->usage = len;
    f = qemu_file_new_input(QIO_CHANNEL(inb));
    object_unref(OBJECT(inb));
    ret = vmstate_load_state(f, vmsd, opaque, vmsd->version_id, &err);
    if (ret) {
        error_free(err);
    }
    qemu_fclose(f);
    return ret == 0;
}

void ras_fuzz_dimm_plug(QTestState *s, bool plug, bool io, uint64_t hotplug)
{
    Error *err = NULL;

    if (plug) {
        QDict *opts = qdict_new();
        QObject *ret = NULL;

        qdict_put_str(opts, "driver", "pc-dimm");
        qdict_put_str(opts, "id", "d0");
        qdict_put_str(opts, "memdev", "dimm0");
        qmp_device_add(opts, &ret, &err);
        qobject_unref(opts);
        qobject_unref(ret);
    } else {
        qmp_device_del("d0", &err);
        /* Slot 0 selected, then its eject bit */
        if (!err && io) {
            qtest_outl(s, hotplug, 0);
            qtest_outb(s, hotplug + 0x14, 1 << 3);
        } else if (!err) {
            qtest_writel(s, hotplug, 0);
            qtest_writeb(s, hotplug + 0x14, 1 << 3);
        }
    }
    if (err) {
        error_report_err(err);
        g_assert_not_reached();
    }
}
