# vouch - one plain, non-recursive GNU Makefile.
#
#   make            release build into build/ (vouchctl, daemons, tests)
#   make check      deps, then unit + integration + fuzz smoke tests under
#                   ASan+UBSan (build/asan/); ends with "N passed, N failed"
#   make fuzz       libFuzzer targets (clang-14) into build/fuzz/
#   make bench      benchmarks on the release build
#   make demo       the lab demo
#   make deps       install missing Debian packages (needs root)

O	:= build
A	:= $(O)/asan
F	:= $(O)/fuzz

CC	?= cc
FUZZCC	?= clang-14
PKGS	:= tss2-esys tss2-mu tss2-rc tss2-tctildr libconfig json-c libcrypto libssl sqlite3 \
	   libbpf xenforeignmemory xenlight
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN	:= -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wconversion \
	   -Wno-sign-conversion -Wstrict-prototypes -Wmissing-prototypes \
	   -Wvla -Wpointer-arith -Wno-format-truncation
BASE_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	   -I. $(WARN) $(PKG_CFLAGS) -fstack-protector-strong -fPIE -g
REL_CFLAGS  := $(BASE_CFLAGS) -O2 -D_FORTIFY_SOURCE=2
SAN_CFLAGS  := $(BASE_CFLAGS) -O1 -fno-omit-frame-pointer \
	   -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS_BIN := -pie -Wl,-z,relro,-z,now
SAN_LDFLAGS := -fsanitize=address,undefined
LIBS	:= $(PKG_LIBS) -lm -lpthread

LIB_DIRS := common measure attest tcb migrate ids
LIB_SRC  := $(sort $(wildcard $(addsuffix /*.c,$(LIB_DIRS))))
CTL_SRC  := $(sort $(wildcard tools/vouchctl/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
BENCH_SRC := $(sort $(wildcard tests/bench/bench_*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
TTOOL_SRC := $(sort $(wildcard tests/tools/*.c))
DAEMONS  := $(patsubst daemons/%.c,%,$(sort $(wildcard daemons/*.c)))

# $(call variant,DIR,CFLAGS,LDFLAGS): objects, library and programs of one
# build flavour; the same sources, compiled once per flavour.
define variant
$(1)/obj/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $(2) -MMD -MP -c $$< -o $$@
$(1)/libvouch.a: $$(LIB_SRC:%.c=$(1)/obj/%.o)
	@rm -f $$@
	ar rcs $$@ $$^
$(1)/vouchctl: $$(CTL_SRC:%.c=$(1)/obj/%.o) $(1)/libvouch.a
	$$(CC) $(3) $$(LDFLAGS_BIN) -o $$@ $$^ $$(LIBS)
$$(addprefix $(1)/,$$(DAEMONS)): $(1)/%: $(1)/obj/daemons/%.o $(1)/libvouch.a
	$$(CC) $(3) $$(LDFLAGS_BIN) -o $$@ $$^ $$(LIBS) -lpthread
$(1)/tests/%: $(1)/obj/tests/unit/%.o $(1)/libvouch.a
	@mkdir -p $$(dir $$@)
	$$(CC) $(3) -o $$@ $$^ $$(LIBS) -lcmocka
$(1)/tests/tools/%: $(1)/obj/tests/tools/%.o $(1)/libvouch.a
	@mkdir -p $$(dir $$@)
	$$(CC) $(3) -o $$@ $$^ $$(LIBS)
$(1)/bench/%: $(1)/obj/tests/bench/%.o $(1)/libvouch.a
	@mkdir -p $$(dir $$@)
	$$(CC) $(3) -o $$@ $$^ $$(LIBS)
-include $$(shell find $(1)/obj -name '*.d' 2>/dev/null)
endef

$(eval $(call variant,$(O),$(REL_CFLAGS),))
$(eval $(call variant,$(A),$(SAN_CFLAGS),$(SAN_LDFLAGS)))

# A fully static vouch-guard for the guard VM's busybox initramfs (no
# dynamic loader, no libraries in the guest): the release objects, the
# archives of the libraries it needs (static link order).
STATIC_LIBS := -lbpf -lelf -lz -lxenforeignmemory -lxentoollog -lxentoolcore \
	   -lconfig -ljson-c -lssl -lcrypto -ldl -lm -lpthread
$(O)/static/vouch-guard: $(O)/obj/daemons/vouch-guard.o $(O)/libvouch.a
	@mkdir -p $(dir $@)
	$(CC) -static -o $@ $^ $(STATIC_LIBS)

UNIT_BINS  = $(patsubst tests/unit/%.c,%,$(UNIT_SRC))
BENCH_BINS = $(patsubst tests/bench/%.c,%,$(BENCH_SRC))
FUZZ_BINS  = $(patsubst tests/fuzz/%.c,$(F)/%,$(FUZZ_SRC))
TTOOL_BINS = $(patsubst tests/tools/%.c,tests/tools/%,$(TTOOL_SRC))

all: $(O)/vouchctl $(DAEMONS:%=$(O)/%) $(UNIT_BINS:%=$(O)/tests/%) \
	$(TTOOL_BINS:%=$(O)/%)
asan: $(A)/vouchctl $(DAEMONS:%=$(A)/%) $(UNIT_BINS:%=$(A)/tests/%) \
	$(TTOOL_BINS:%=$(A)/%)

# Fuzz targets: clang-14 libFuzzer + ASan/UBSan; the library is compiled
# once with the same instrumentation into $(F)/libvouch.a.
FUZZ_CFLAGS := $(filter-out -Werror -Wno-format-truncation,$(BASE_CFLAGS)) -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -Wno-unused-command-line-argument
$(F)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@
$(F)/libvouch.a: $(LIB_SRC:%.c=$(F)/obj/%.o)
	@rm -f $@
	ar rcs $@ $^
$(F)/%: tests/fuzz/%.c $(F)/libvouch.a
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZ_CFLAGS) -o $@ $< $(F)/libvouch.a $(LIBS)
-include $(shell find $(F)/obj -name '*.d' 2>/dev/null)
fuzz: $(FUZZ_BINS)

deps:
	@tools/deps.sh

# check, bench and demo build in a sub-make: pkg-config flags are computed
# when the Makefile is read, which on a fresh machine is before deps ran.
check: deps
	$(MAKE) --no-print-directory asan fuzz $(O)/static/vouch-guard
	@tests/run.sh $(A) $(F)

# The Xen lab alone (also part of check): Xen 4.17 booted under QEMU.
check-xen: deps
	$(MAKE) --no-print-directory asan
	@VOUCH_TESTS=xenlab tests/run.sh $(A) $(F)

bench-bins: all $(BENCH_BINS:%=$(O)/bench/%) $(O)/static/vouch-guard

bench: deps
	$(MAKE) --no-print-directory bench-bins
	@tests/bench/run.sh $(O)

demo: deps
	$(MAKE) --no-print-directory all
	@tools/demo.sh $(O)

clean:
	rm -rf $(O)

.PHONY: all asan fuzz deps check check-xen bench bench-bins demo clean
.SECONDARY:
