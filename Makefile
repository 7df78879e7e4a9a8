# attachd — one non-recursive Makefile. `make` builds bin/attachd, bin/attachctl and
# bin/attachd-broker;
# `make check` installs what is missing and runs all three test tiers.

CC ?= cc
PKGS := libiscsi devmapper libudev blkid libcurl libmicrohttpd gnutls jansson sqlite3 libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wno-unused-parameter -Wmissing-prototypes \
	-Wstrict-prototypes -Wpointer-arith -Wvla -Wno-format-truncation
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -D_GNU_SOURCE $(WARN) -I. $(PKG_CFLAGS)
ifneq ($(CI),)
CFLAGS += -Werror
endif
LDFLAGS += -pie -Wl,-z,relro,-z,now
LIBS := $(PKG_LIBS) -lpthread
# attachd links no libcurl: backends/scaleio/curlso.c dlopen()s it at the first gateway
# operation (it and what it pulls in were ~3 MiB of the agent's RSS).
ATTACHD_LIBS := $(shell pkg-config --libs $(filter-out libcurl,$(PKGS)) 2>/dev/null) -lpthread

# Variant: `make SAN=1` builds into build/asan with ASan+UBSan (used for the unit tests).
BIN ?= bin
ifeq ($(SAN),1)
B ?= build/asan
CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
else
B ?= build/rel
CFLAGS += $(HARDEN)
endif

# Layers, bottom up. Everything below agent/ goes into one static library.
CORE_SRCS := $(wildcard lib/*.c dm/*.c backends/*.c backends/*/*.c attach/*.c)
AGENT_SRCS := $(filter-out agent/main.c,$(wildcard agent/*.c))
# attachctl starts with libc and jansson alone; what needs libiscsi or gnutls (probe
# iscsi://, identity without an agent) is in bin/attachctl-helper, which attachctl runs.
CTL_HELPER_SRCS := tools/attachctl_helper.c
CTL_SRCS := $(filter-out $(CTL_HELPER_SRCS),$(wildcard tools/attachctl*.c))
CTL_LIBS := $(shell pkg-config --libs jansson 2>/dev/null)
# attachd-broker: a sibling daemon of agent/ over backends/ and lib/.
BROKER_SRCS := $(filter-out broker/main.c,$(wildcard broker/*.c))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
HOST_SRCS := $(wildcard tests/host/test_*.c)
TESTLIB_SRCS := $(wildcard tests/lib/*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
CORE_OBJS := $(call obj,$(CORE_SRCS))
AGENT_OBJS := $(call obj,$(AGENT_SRCS))
BROKER_OBJS := $(call obj,$(BROKER_SRCS))
TESTLIB_OBJS := $(call obj,$(TESTLIB_SRCS))
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRCS))
HOST_BINS := $(patsubst tests/host/%.c,$(B)/tests/host/%,$(HOST_SRCS))

ifeq ($(SAN),1)
ATTACHD := $(B)/attachd
ATTACHCTL := $(B)/attachctl
ATTACHCTL_HELPER := $(B)/attachctl-helper
BROKER := $(B)/attachd-broker
else
ATTACHD := $(BIN)/attachd
ATTACHCTL := $(BIN)/attachctl
ATTACHCTL_HELPER := $(BIN)/attachctl-helper
BROKER := $(BIN)/attachd-broker
endif

.PHONY: all check check-unit check-asan check-host check-vm layers format clean deps demo bench soak tests
all: $(ATTACHD) $(ATTACHCTL) $(ATTACHCTL_HELPER) $(BROKER) layers

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(B)/libcore.a: $(CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^
$(B)/libagent.a: $(AGENT_OBJS)
	@rm -f $@
	ar rcs $@ $^
$(B)/libbroker.a: $(BROKER_OBJS)
	@rm -f $@
	ar rcs $@ $^


$(ATTACHD): $(call obj,agent/main.c) $(B)/libagent.a $(B)/libcore.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -Wl,--as-needed -o $@ $^ $(ATTACHD_LIBS)
$(ATTACHCTL): $(call obj,$(CTL_SRCS)) $(B)/libcore.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CTL_LIBS)
$(ATTACHCTL_HELPER): $(call obj,$(CTL_HELPER_SRCS) $(filter-out tools/attachctl.c,$(CTL_SRCS))) \
		$(B)/libagent.a $(B)/libcore.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -Wl,--as-needed -o $@ $^ $(ATTACHD_LIBS)
$(BROKER): $(call obj,broker/main.c) $(B)/libbroker.a $(B)/libcore.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/%: $(B)/obj/tests/%.o $(TESTLIB_OBJS) $(B)/libagent.a $(B)/libbroker.a $(B)/libcore.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

tests: $(UNIT_BINS) $(HOST_BINS) $(ATTACHD) $(ATTACHCTL) $(ATTACHCTL_HELPER) $(BROKER)

layers:
	@tools/check-layers.sh

# The README's test command. Installs what is missing, builds, runs all tiers.
check:
	@tools/check.sh

check-unit: $(UNIT_BINS)
	@tests/run-cmocka.sh unit $(UNIT_BINS)
check-asan:
	@$(MAKE) --no-print-directory SAN=1 tests
	@tests/run-cmocka.sh unit-asan $(patsubst build/rel/%,build/asan/%,$(UNIT_BINS))
check-host: tests
	@tests/host/run.sh $(B)
check-vm: all
	@tests/vm/run.sh

demo:
	@tools/demo.sh

bench:
	@tools/bench.sh

soak:
	@tools/soak.sh

deps:
	@tools/setup-deps.sh

format:
	clang-format -i $(CORE_SRCS) $(AGENT_SRCS) agent/main.c $(BROKER_SRCS) broker/main.c $(CTL_SRCS) $(CTL_HELPER_SRCS) $(wildcard */*.h */*/*.h)

clean:
	rm -rf build/rel build/asan build/fuzz bin

include tests/fuzz/fuzz.mk

-include $(shell find build/rel build/asan -name '*.d' 2>/dev/null)
