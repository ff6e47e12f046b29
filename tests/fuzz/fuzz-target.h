/*
 * What libFuzzer calls in each target: one input, 0 to go on
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_FUZZ_FUZZ_TARGET_H
#define TESTS_FUZZ_FUZZ_TARGET_H

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
