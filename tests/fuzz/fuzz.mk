# libFuzzer targets (tests/fuzz/README.md). Included by the top Makefile.
# The same sources as the gcc builds, compiled by clang with -fsanitize=fuzzer-no-link,
# address,undefined into build/fuzz (never mixed with build/rel or build/asan); each target
# links tests/fuzz/fuzz_<name>.c + common.c with -fsanitize=fuzzer.
#   make fuzz        fuzz every target for FUZZ_TIME s (default 60), FUZZ_JOBS at a time
#   make check-fuzz  replay every corpus file once (a tier of make check)
#   make fuzz-build  only build
# FUZZ_TARGETS="volman state" limits both to those targets; FUZZ_ARGS adds libFuzzer flags.

FUZZ_CC ?= clang
FUZZ_B := build/fuzz
FUZZ_TIME ?= 60
FUZZ_JOBS ?= 1
FUZZ_ARGS ?=
FUZZ_ALL := volman options admin state mountinfo sysfs iscsiadm scaleio_gw config target_replies
FUZZ_TARGETS ?= $(FUZZ_ALL)

FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(FUZZ_SAN) \
	-std=gnu11 -D_GNU_SOURCE $(WARN) -Wno-unknown-warning-option -Wno-format-nonliteral -I. $(PKG_CFLAGS) \
	-DFUZZ_FIXTURES='"$(CURDIR)/tests/fixtures"'
FUZZ_LDFLAGS := -fsanitize=fuzzer $(FUZZ_SAN)

# Everything below tools/attachctl.c's main(): core, agent, attachctl's library part.
FUZZ_LIB_SRCS := $(CORE_SRCS) $(AGENT_SRCS) $(filter-out tools/attachctl.c,$(CTL_SRCS))
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_B)/obj/%.o,$(FUZZ_LIB_SRCS))
FUZZ_BINS := $(addprefix $(FUZZ_B)/fuzz_,$(FUZZ_ALL))

.PHONY: fuzz fuzz-build check-fuzz

$(FUZZ_B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_B)/libfuzzcore.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_B)/fuzz_%: $(FUZZ_B)/obj/tests/fuzz/fuzz_%.o $(FUZZ_B)/obj/tests/fuzz/common.o \
		$(FUZZ_B)/libfuzzcore.a
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ $(LIBS)

# Kept: make would delete them as intermediates of the pattern chain and rebuild every time.
.SECONDARY: $(FUZZ_B)/obj/tests/fuzz/common.o $(patsubst %,$(FUZZ_B)/obj/tests/fuzz/fuzz_%.o,$(FUZZ_ALL))

fuzz-build: $(addprefix $(FUZZ_B)/fuzz_,$(FUZZ_TARGETS))

fuzz: fuzz-build
	@FUZZ_TIME=$(FUZZ_TIME) FUZZ_JOBS=$(FUZZ_JOBS) FUZZ_ARGS="$(FUZZ_ARGS)" \
		tests/fuzz/run.sh $(FUZZ_B) $(FUZZ_TARGETS)

check-fuzz: fuzz-build
	@tests/fuzz/replay.sh $(FUZZ_B) $(FUZZ_TARGETS)

-include $(shell find $(FUZZ_B) -name '*.d' 2>/dev/null)
