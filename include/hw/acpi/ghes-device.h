/*
 * The guest's GHESv2 error sources: where their error status blocks live
 * and how records reach them (ACPI 6.5 18.3.2.8, GHESv2 read-ack protocol)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_ACPI_GHES_DEVICE_H
#define HW_ACPI_GHES_DEVICE_H

#include "hw/qdev-core.h"
#include "hw/acpi/cper.h"
#include "hw/acpi/hest.h"
#include "hw/nvram/fw_cfg.h"
#include "qapi/qapi-types-ras.h"
#include "qom/object.h"
#include "system/guest-progress.h"

#define TYPE_ACPI_GHES "acpi-ghes"
OBJECT_DECLARE_SIMPLE_TYPE(AcpiGhesDevice, ACPI_GHES)

/*
 * Source 0 is asynchronous, notified through the GED (GPIO-signal);
 * sources 1..N are synchronous, notified by SEA, one per vCPU so that
 * every vCPU can take an external abort at the same time.  Beyond
 * GHES_MAX_SEA_SOURCES vCPUs share them (vCPU i uses source
 * 1 + i % N): each source costs three linker/loader commands, and the
 * loader script has room for about 170.
 */
#define GHES_SOURCE_ASYNC       0
#define GHES_MAX_SEA_SOURCES    64

typedef struct GhesSourceStats {
    uint64_t records;           /* records written into the block */
    uint64_t busy;              /* records refused: block not acknowledged */
    uint64_t overflow;          /* records refused: queue full */
    uint64_t mended;            /* memory errors in the block mended */
} GhesSourceStats;

/* What QEMU keeps of a source, to mend its block after a memory error */
typedef struct GhesSourceCopy {
    uint8_t record[HEST_GHES_BLOCK_LEN];  /* the last record written */
    uint32_t len;
    bool lost;                  /* its block went in an unmendable error */
} GhesSourceCopy;

struct AcpiGhesDevice {
    DeviceState parent_obj;

    /* properties */
    uint32_t sea_sources;
    uint32_t queue_size;        /* records waiting for the async source */
    DeviceState *acpi_dev;      /* GED that carries the async notification */

    /* derived at realize */
    unsigned nr_sources;
    HestSource *sources;

    /* written by firmware through HEST_HW_ERRORS_ADDR_FILE */
    uint8_t hw_errors_addr_le[8];
    /* the same address once validated; 0 until then */
    uint64_t hw_errors_addr;

    /*
     * The register pages of the blob (error status addresses, read
     * acks), trapped so that an acknowledgement is seen as it happens.
     */
    MemoryRegion regs_mr;
    MemoryListener map_listener;    /* the blob must stay guest RAM */
    QEMUBH *map_check;
    bool regs_mapped;
    uint8_t *regs;
    uint32_t regs_len;

    /* Records for the async source, delivered as the guest acknowledges */
    GQueue queue;
    /* ... and as it works: records acknowledged since it last idled */
    uint32_t async_unconfirmed;
    GuestProgress async_progress;
    QEMUTimer *async_timer;
    uint8_t *queue_buf;         /* the queue, flattened for migration */
    uint32_t queue_buf_len;

    /* Address of the memory error each block holds, for coalescing */
    uint64_t *block_addr;

    uint64_t sequence;          /* last record sequence number used */
    GhesSourceCopy *copies;
    GhesSourceStats *stats;
    uint32_t nr_stats;          /* == nr_sources, for migration */
};

/**
 * ghes_sea_source: the SEA source of vCPU @cpu_index, or another one if
 * a memory error took its block (the guest reads every SEA source on
 * every SEA)
 */
unsigned ghes_sea_source(AcpiGhesDevice *s, int cpu_index);

/**
 * ghes_device_find: the machine's GHES sources, or NULL without ras=on
 */
AcpiGhesDevice *ghes_device_find(void);

/**
 * ghes_device_create: create and realize the GHES sources of a machine
 * @machine: owner; the device becomes its "acpi-ghes" child
 * @acpi_dev: ACPI device that signals ACPI_GENERIC_ERROR (the GED)
 * @nr_cpus: possible vCPUs (at most GHES_MAX_SEA_SOURCES SEA sources)
 */
AcpiGhesDevice *ghes_device_create(Object *machine, DeviceState *acpi_dev,
                                   unsigned nr_cpus);

void ghes_device_build_hest(AcpiGhesDevice *s, GArray *table_data,
                            GArray *hw_errors, BIOSLinker *linker,
                            const char *oem_id, const char *oem_table_id);
void ghes_device_add_fw_cfg(AcpiGhesDevice *s, FWCfgState *fw_cfg,
                            GArray *hw_errors);

/**
 * ghes_device_ready: whether firmware has placed the error status blocks
 */
bool ghes_device_ready(AcpiGhesDevice *s, Error **errp);

/**
 * ghes_device_write_record:
 * @s: the GHES sources
 * @source: source index (GHES_SOURCE_ASYNC or ghes_sea_source())
 * @cper: a complete Generic Error Status Block
 * @len: its length, at most HEST_GHES_BLOCK_LEN
 * @errp: set when the record cannot be written now
 *
 * Write @cper into the source's error status block if the guest has
 * acknowledged the previous record, and clear the read-ack register.
 * Raises the source's notification for asynchronous sources; the caller
 * delivers the SEA for synchronous ones.  Nothing is written on error.
 */
bool ghes_device_write_record(AcpiGhesDevice *s, unsigned source,
                              const void *cper, size_t len, Error **errp);

/**
 * ghes_record_mem_error:
 * @s: the GHES sources
 * @source: source index
 * @gpa: guest physical address, aligned to @size
 * @size: bytes lost, a power of two
 * @errp: set when the record cannot be written now
 *
 * Encode a recoverable multi-bit ECC memory error and write it to @source.
 */
bool ghes_record_mem_error(AcpiGhesDevice *s, unsigned source, uint64_t gpa,
                           uint64_t size, Error **errp);

/**
 * ghes_device_post_record:
 *
 * Like ghes_device_write_record(), but a record for the asynchronous
 * source that cannot be written now waits in a queue (up to the
 * "queue-size" property) and is written when the guest acknowledges the
 * one before: records reach the guest in order, none is refused while
 * the queue has room.  Synchronous sources have no queue.
 */
bool ghes_device_post_record(AcpiGhesDevice *s, unsigned source,
                             const void *cper, size_t len, Error **errp);

/* Records waiting for @source */
unsigned ghes_device_queued(AcpiGhesDevice *s, unsigned source);

/* The asynchronous source's queue, for query-ras-queues */
RasQueueInfo *ghes_device_queue_info(AcpiGhesDevice *s);

/**
 * ghes_device_write_mem_error: post an encoded memory error to @source
 */
bool ghes_device_write_mem_error(AcpiGhesDevice *s, unsigned source,
                                 const CperMemError *err, Error **errp);

/**
 * ghes_device_block_free: whether @source can take a record now (placed
 * by firmware, and the guest acknowledged the previous record)
 */
bool ghes_device_block_free(AcpiGhesDevice *s, unsigned source);

#define GHES_ADDR_UNKNOWN   UINT64_MAX

/**
 * ghes_device_block_addr: the physical address of the memory error
 * record @source holds and the guest has not taken yet, or
 * GHES_ADDR_UNKNOWN (block free, or not a memory error QEMU encoded)
 */
uint64_t ghes_device_block_addr(AcpiGhesDevice *s, unsigned source);

/**
 * ghes_device_next_sequence: a fresh record sequence number
 */
uint64_t ghes_device_next_sequence(AcpiGhesDevice *s);

/**
 * ghes_gpa_is_ram: whether [@addr, @addr + @len) is writable guest RAM
 */
bool ghes_gpa_is_ram(uint64_t addr, uint64_t len);

#endif
