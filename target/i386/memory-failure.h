/*
 * x86: reporting host memory failures to the guest as machine checks
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TARGET_I386_MEMORY_FAILURE_H
#define TARGET_I386_MEMORY_FAILURE_H

#include "system/memory-failure.h"
#include "hw/i386/x86-mce-queue.h"

/* The x86 CPUs' SysemuCPUOps::memory_failure */
extern const MemoryFailureArchOps x86_memory_failure_ops;

/* For the x86-mce-queue device: deliver what of @q may go now */
void x86_memory_failure_deliver_held(X86MceQueue *q);

/* For the x86-mce-queue device: the machine resets, pacing starts over */
void x86_memory_failure_reset(void);

/* Action-optional machine checks sent so far, paced by the guest's drain */
uint64_t x86_memory_failure_ao_sent(void);

#endif
