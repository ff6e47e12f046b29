# SPDX-License-Identifier: GPL-2.0-or-later
#
# Front end for the grafted QEMU build: ./configure first.

-include build/config.mk

NINJA ?= ninja
BINARIES = qemu-system-aarch64 qemu-system-x86_64
QTESTS = tests/qtest/ghes-test tests/qtest/ghes-compat-test \
	tests/qtest/ghes-x86-test tests/qtest/memory-failure-test \
	tests/unit/test-poison-uffd tests/unit/test-kvm-stats

.PHONY: all check check-qtest check-build check-guest demo bench bench-poison \
	bench-migration bench-large-failure bench-latency bench-boot clean

all: build/config.mk
	./configure --no-deps >/dev/null
	$(NINJA) -C $(OBJDIR) $(BINARIES) $(QTESTS)

build/config.mk:
	@echo "run ./configure first" >&2; exit 1

check: all
	tests/ras/run-tests $(OBJDIR)

check-qtest check-build check-guest: all
	tests/ras/run-tests $(OBJDIR) $(@:check-%=%)

demo: all
	tests/ras/guest/run-demo $(OBJDIR)

# Storm benchmark, ours and upstream side by side (BENCH_ARGS: e.g.
# "--sizes 100,1000 --only arm64-ao,upstream-arm64-ao-raw"), then what
# poison costs: the tracker alone, healthy guest memory under TCG, and
# live migration
bench: all
	tests/ras/bench/storm $(OBJDIR) \
	    --upstream $$(tests/ras/bench/build-upstream $(BUILD)) \
	    --json $(BUILD)/storm.jsonl $(BENCH_ARGS)
	$(MAKE) bench-poison
	$(MAKE) bench-migration
	$(MAKE) bench-large-failure
	$(MAKE) bench-latency
	$(MAKE) bench-boot

# One error with nothing queued, 1,000 times: signal to guest notification
bench-latency: all
	tests/ras/bench/latency $(OBJDIR) --json $(BUILD)/latency.jsonl

# Boot time with ras=on against ras=off, both architectures
bench-boot: all
	tests/ras/bench/boot-time $(OBJDIR) --json $(BUILD)/boot-time.jsonl

bench-poison: all
	$(NINJA) -C $(OBJDIR) tests/bench/memory-poison-bench
	$(OBJDIR)/tests/bench/memory-poison-bench 1000000
	tests/ras/bench/poison-cost $(OBJDIR) --json $(BUILD)/poison-cost.jsonl

# Live migration with 0, 1, 1,000 and 100,000 poisoned pages
# One simulated failure of 20,000 and 100,000 pages into an x86 guest
bench-large-failure: all
	tests/ras/bench/large-failure $(OBJDIR)

bench-migration: all
	tests/ras/bench/migration $(OBJDIR) --json $(BUILD)/migration.jsonl

clean:
	rm -rf build

# Hostile input.  One clang build in a second directory serves both
# jobs (tests/ras/sanitizers/configure): ASan, UBSan and QEMU's libFuzzer
# support.  check-sanitizers: the qtests and ten guest tests against its
# qemu-system-* (SANITIZERS_ONLY=qtest or guest runs one part).  fuzz:
# the libFuzzer targets of tests/fuzz (our files alone) and the
# in-machine ones of tests/qtest/fuzz (qemu-fuzz-*), FUZZ_SECONDS each,
# from their committed corpus.
SANITIZER_OBJDIR = $(BUILD)/fuzz-qemu
FUZZ_OUT = $(BUILD)/fuzz
FUZZ_SECONDS ?= 60
FUZZ_BINARIES = qemu-fuzz-aarch64 qemu-fuzz-x86_64

.PHONY: check-sanitizers fuzz sanitizer-build

sanitizer-build: all
	tests/ras/sanitizers/configure $(BUILD) $(SANITIZER_OBJDIR)
	$(NINJA) -C $(SANITIZER_OBJDIR) $(BINARIES) $(QTESTS) $(FUZZ_BINARIES)

check-sanitizers: sanitizer-build
	tests/ras/sanitizers/run $(SANITIZER_OBJDIR) $(SANITIZERS_ONLY)

fuzz: sanitizer-build
	tests/fuzz/build $(SRCDIR) $(OBJDIR) $(FUZZ_OUT)
	tests/fuzz/build $(SRCDIR) $(OBJDIR) $(FUZZ_OUT)/cov coverage
	tests/fuzz/run $(SRCDIR) $(FUZZ_OUT) $(FUZZ_SECONDS); \
	    standalone=$$?; \
	    tests/fuzz/run-machine $(SRCDIR) $(SANITIZER_OBJDIR) \
	        $(FUZZ_OUT)/machine $(FUZZ_SECONDS) && [ $$standalone = 0 ]
