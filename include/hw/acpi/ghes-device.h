/*
 * The guest's GHESv2 error sources: where their error status blocks live
 * and how records reach them (ACPI 6.5 18.3.2.8, GHESv2 read-ack protocol)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_ACPI_GHES_DEVICE_H
#define HW_ACPI_GHES_DEVICE_H

#include "hw/qdev-core.h"
#include "hw/acpi/acpi_dev_interface.h"
#include "hw/acpi/aml-build.h"
#include "hw/acpi/cper.h"
#include "hw/acpi/hest.h"
#include "hw/nvram/fw_cfg.h"
#include "qapi/qapi-types-ras.h"
#include "qom/object.h"
#include "system/guest-progress.h"
#include "system/ras-queue.h"

#define TYPE_ACPI_GHES "acpi-ghes"
OBJECT_DECLARE_SIMPLE_TYPE(AcpiGhesDevice, ACPI_GHES)

/*
 * Source 0 is asynchronous, notified through the GED (GPIO-signal) or,
 * on x86, a GPE (SCI); sources 1..N (arm) are synchronous, notified by
 * SEA, one per vCPU so that
 * every vCPU can take an external abort at the same time.  Beyond
 * GHES_MAX_SEA_SOURCES vCPUs share them (vCPU i uses source
 * 1 + i % N): each source costs three linker/loader commands, and the
 * loader script has room for about 170.
 *
 * Machine types of QEMU 10.2 and older keep that QEMU's sources
 * ("x-legacy-sources"): source 0 notified by SEA for every vCPU, and
 * (10.1 and 10.2) source 1 through the GED, in QEMU 10.2's blob layout,
 * with the blob's or the HEST's address kept by the GED as there.
 */
#define GHES_MAX_SEA_SOURCES    64
#define GHES_NO_SOURCE          UINT_MAX

typedef struct GhesSourceStats {
    uint64_t records;           /* records written into the block */
    uint64_t busy;              /* records refused: block not acknowledged */
    uint64_t mended;            /* memory errors in the block mended */
} GhesSourceStats;

/*
 * A record waiting for the asynchronous source, as migrated: held
 * inline, so that a load failing half-way leaves one allocation
 */
typedef struct GhesMigratedRecord {
    uint32_t len;
    uint8_t data[HEST_GHES_BLOCK_LEN];
} GhesMigratedRecord;

/* What QEMU keeps of a source, to mend its block after a memory error */
typedef struct GhesSourceCopy {
    uint8_t *record;            /* the last record written: a block's */
    uint32_t len;
    bool lost;                  /* its block went in an unmendable error */
} GhesSourceCopy;

struct AcpiGhesDevice {
    DeviceState parent_obj;

    /* properties */
    uint32_t sea_sources;
    uint32_t queue_size;        /* records waiting for the async source */
    DeviceState *acpi_dev;      /* GED that carries the async notification */
    bool legacy_sources;        /* QEMU 10.2's sources and layout */

    /* derived at realize */
    AcpiDeviceIf *notify_dev;   /* acpi_dev, and its ACPI_GENERIC_ERROR */
    void (*notify)(AcpiDeviceIf *dev, AcpiEventStatusBits event);
    uint32_t nr_sources;
    HestSource *sources;
    HestLayout layout;
    unsigned async_source;      /* or GHES_NO_SOURCE */
    unsigned first_sea;

    /* written by firmware through HEST_HW_ERRORS_ADDR_FILE (ours) */
    uint8_t hw_errors_addr_le[8];
    /*
     * ... as migrated: a stream's value is taken only once checked, so
     * that a refused one leaves the file as it was
     */
    uint8_t mig_addr_le[8];
    /*
     * Where firmware's report of the blob's (or the HEST's) address
     * lands: hw_errors_addr_le, or the GED's fields with legacy sources;
     * the report last acted on, and the one accepted
     */
    uint8_t *report_le;
    uint64_t report_seen;
    uint64_t report_accepted;
    /* the blob's address once validated; 0 until then */
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
    /* free blocks' address registers read 0 (an SEA came since placing) */
    bool zero_free_addresses;

    /* Records for the async source, delivered as the guest acknowledges */
    GQueue queue;
    RasReportQueue async_queue;
    /*
     * ... and as it works: errors acknowledged since its last sign of
     * progress, and those a guess took for done (ghes_async_may_write())
     */
    uint32_t async_unconfirmed;
    uint32_t async_guessed;
    int async_ack_cpu;              /* whose they are; -1: several */
    uint32_t async_block_errors;    /* in the record in its block */
    uint64_t async_merged;          /* errors beyond one a record */
    GuestProgress async_progress;
    QEMUTimer *async_timer;
    /* After a load: sources waiting on empty blocks (post_load) */
    QEMUTimer *load_ack_timer;
    /* @queue, flattened for migration */
    GhesMigratedRecord *mig;
    int32_t nr_mig;
    /*
     * The rest of the state as migrated: saved from copies, and a stream's
     * values taken only once the whole stream is checked (post_load), so
     * that a refused one leaves the running machine as it was
     */
    uint8_t *mig_regs;
    uint64_t mig_sequence;
    uint64_t mig_dropped;
    GhesSourceStats *mig_stats;
    uint64_t mig_async_merged;

    /* Address of the memory error each block holds, for coalescing */
    uint64_t *block_addr;

    uint64_t sequence;          /* last record sequence number used */
    GhesSourceCopy *copies;
    GhesSourceStats *stats;
};

/**
 * ghes_sea_source: the SEA source of vCPU @cpu_index, or another one if
 * a memory error took its block (the guest reads every SEA source on
 * every SEA)
 */
unsigned ghes_sea_source(AcpiGhesDevice *s, int cpu_index);

/* The source for errors no vCPU takes synchronously, or GHES_NO_SOURCE */
unsigned ghes_async_source(AcpiGhesDevice *s);

/**
 * ghes_device_find: the machine's GHES sources (those ghes_device_create()
 * made), or NULL without ras=on
 */
AcpiGhesDevice *ghes_device_find(void);

/**
 * ghes_device_create: create and realize the GHES sources of a machine
 * @machine: owner; the device becomes its "acpi-ghes" child
 * @acpi_dev: ACPI device that signals ACPI_GENERIC_ERROR: the GED (arm),
 *            or one raising a GPE (x86: ghes_build_gpe_aml())
 * @nr_cpus: possible vCPUs (at most GHES_MAX_SEA_SOURCES SEA sources);
 *           0 for none (x86 takes synchronous errors as machine checks)
 */
AcpiGhesDevice *ghes_device_create(Object *machine, DeviceState *acpi_dev,
                                   unsigned nr_cpus);

/* The GPE that carries ACPI_GENERIC_ERROR on machines without a GED */
unsigned ghes_gpe_number(void);

/*
 * ghes_build_gpe_aml: append to @table (the DSDT) the ACPI error device
 * and the method of ghes_gpe_number() that notifies it
 */
void ghes_build_gpe_aml(Aml *table);

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
 * ghes_post_record:
 * @s: the GHES sources
 * @source: source index (ghes_async_source() or ghes_sea_source())
 * @cper: a complete Generic Error Status Block
 * @len: its length, at most HEST_GHES_BLOCK_LEN
 * @errp: set when the record is refused
 *
 * Give @cper to the guest.  A synchronous source's record is written into
 * its error status block if the guest has acknowledged the one before,
 * and the caller delivers the SEA.  The asynchronous source's records
 * reach the guest in order, each written once the guest has taken the
 * one before, and notified through the GED; they wait in a queue of
 * "queue-size" records meanwhile, and are refused only when it is full.
 */
bool ghes_post_record(AcpiGhesDevice *s, unsigned source, const void *cper,
                      size_t len, Error **errp);

typedef enum GhesPosted {
    GHES_POST_FAILED,       /* refused, for the reason in *errp */
    GHES_POST_BUSY,         /* refused: the block holds another record */
    GHES_POST_DONE,         /* written, or queued for the async source */
    GHES_POST_PENDING,      /* the block holds this error, not taken yet */
} GhesPosted;

/**
 * ghes_post_mem_error: encode @err as a CPER memory error record and post
 * it to @source as ghes_post_record() does.  A synchronous source whose
 * block still holds a record of the same address, which the guest has
 * not taken, gets nothing new (GHES_POST_PENDING): the guest will read
 * that one.
 */
GhesPosted ghes_post_mem_error(AcpiGhesDevice *s, unsigned source,
                               const CperMemError *err, Error **errp);

/* Errors written to @source: its records, each counted for its errors */
uint64_t ghes_source_errors(AcpiGhesDevice *s, unsigned source);

/* Records waiting for @source */
unsigned ghes_device_queued(AcpiGhesDevice *s, unsigned source);

/**
 * ghes_device_block_free: whether @source can take a record now (placed
 * by firmware, and the guest acknowledged the previous record)
 */
bool ghes_device_block_free(AcpiGhesDevice *s, unsigned source);

#define GHES_ADDR_UNKNOWN   UINT64_MAX

/**
 * ghes_gpa_is_ram: whether [@addr, @addr + @len) is writable guest RAM
 */
bool ghes_gpa_is_ram(uint64_t addr, uint64_t len);

#endif
