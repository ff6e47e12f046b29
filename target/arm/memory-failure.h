/*
 * Arm: reporting host memory failures to the guest
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TARGET_ARM_MEMORY_FAILURE_H
#define TARGET_ARM_MEMORY_FAILURE_H

#include "system/memory-failure.h"

/* The Arm CPUs' SysemuCPUOps::memory_failure */
extern const MemoryFailureArchOps arm_memory_failure_ops;

#endif
