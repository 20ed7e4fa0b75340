# acmeproxy: plain GNU make, objects under build/ (build/san/ for the
# ASan/UBSan variant). `make run` and `make test` install what is missing
# first (deploy/deps.sh), then build.

PKGS      := libcurl libcjson lmdb inih libcrypto
TESTPKGS  := cmocka
SAN       ?=
BUILD     := build$(if $(SAN),/san)
CIVET_SRC := build/civetweb-src

ifeq ($(filter deps run test bench clean format,$(MAKECMDGOALS)),)
ifneq ($(shell pkg-config --exists $(PKGS) $(TESTPKGS) && test -f $(CIVET_SRC)/src/civetweb.c && echo ok),ok)
$(error dependencies missing: run deploy/deps.sh (make run / make test do it for you))
endif
endif

CC        ?= cc
CFLAGS    ?= -O2 -g
WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wvla \
             -Wcast-qual -Wnull-dereference
CFLAGS    += -std=c11 -fstack-protector-strong -fPIE
CPPFLAGS  += -D_GNU_SOURCE -I. -I$(CIVET_SRC)/include \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS    += $(shell pkg-config --libs $(PKGS) 2>/dev/null) \
             -lmbedtls -lmbedx509 -lmbedcrypto -lresolv -lpthread -ldl
LDFLAGS   += -pie -Wl,-z,relro,-z,now

ifeq ($(SAN),1)
CFLAGS    += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
             -fno-omit-frame-pointer
LDFLAGS   += -fsanitize=address,undefined
else
CPPFLAGS  += -D_FORTIFY_SOURCE=2
endif

# civetweb 1.15 from Debian's source package, with mbedTLS instead of the
# run-time loaded OpenSSL that crashes with OpenSSL 3. No file serving, no
# CGI: the proxy only answers its own routes.
CIVET_DEFS := -DUSE_MBEDTLS -DUSE_IPV6 -DNO_CGI -DNO_CACHING -DNO_FILES

LIB_SRCS  := $(wildcard common/*.c adapters/*.c) \
             $(filter-out proxy/main.c,$(wildcard proxy/*.c))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/civetweb.o
UNIT_SRCS := $(wildcard test/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:%.c=$(BUILD)/%)

.PHONY: all deps run test unit san clean format valgrind lint bench bench-tools \
        torture

all: $(BUILD)/acmeproxy

deps:
	@deploy/deps.sh

$(BUILD)/acmeproxy: $(BUILD)/proxy/main.o $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c -o $@ $<

$(BUILD)/civetweb.o: $(CIVET_SRC)/src/civetweb.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CIVET_DEFS) $(CFLAGS) -w -c -o $@ $<

$(BUILD)/test/unit/%: test/unit/%.c $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(shell pkg-config --cflags $(TESTPKGS)) $(CFLAGS) \
	    $(WARN) -Wno-missing-prototypes -o $@ $< $(LIB_OBJS) $(LDFLAGS) \
	    $(LDLIBS) $(shell pkg-config --libs $(TESTPKGS))

unit: $(UNIT_BINS) $(BUILD)/mockpki $(BUILD)/test/acmeproxy-hooks

# A test-only build of the proxy whose validator and issuer can be made to
# crash on purpose (ACMEPROXY_TEST_CRASH, see proxy/jobs.h): the two
# objects are compiled again with -DAP_TEST_HOOKS; build/acmeproxy itself
# carries no crash switch.
HOOK_SRCS := proxy/challenge.c proxy/issuer.c
HOOK_OBJS := $(HOOK_SRCS:%.c=$(BUILD)/test/hooks/%.o)

$(BUILD)/test/hooks/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -DAP_TEST_HOOKS $(CFLAGS) $(WARN) -MMD -MP -c -o $@ $<

$(BUILD)/test/acmeproxy-hooks: $(BUILD)/proxy/main.o $(HOOK_OBJS) \
    $(filter-out $(HOOK_SRCS:%.c=$(BUILD)/%.o),$(LIB_OBJS))
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The stand-in PKIs of the integration tests (test/mockpki): the common
# objects plus a civetweb build that can ask for client certificates.
MOCK_OBJS := $(filter $(BUILD)/common/%,$(LIB_OBJS)) \
             $(BUILD)/adapters/support.o $(BUILD)/test/mockpki/civet_mtls.o

$(BUILD)/test/mockpki/civet_mtls.o: test/mockpki/civet_mtls.c \
    $(CIVET_SRC)/src/civetweb.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -I$(CIVET_SRC)/src $(CIVET_DEFS) $(CFLAGS) -w -c \
	    -o $@ $<

$(BUILD)/mockpki: $(BUILD)/test/mockpki/mockpki.o $(MOCK_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

san:
	$(MAKE) SAN=1 all unit

run: deps
	@$(MAKE) --no-print-directory all
	@deploy/run.sh

test: deps
	@$(MAKE) --no-print-directory all unit bench-tools
	@$(MAKE) --no-print-directory SAN=1 all unit
	@test/run.sh

# Exactly once through crashes, at length (never part of `make test`,
# which runs 5 cycles): 100 SIGKILL and 100 SIGTERM cycles under load per
# stand-in PKI, then the start-up time with 100k queued jobs.
torture: deps
	@$(MAKE) --no-print-directory all unit bench-tools
	@CYCLES=$${CYCLES:-100} test/torture/torture.sh build/acmeproxy
	@test/torture/startup.sh build/acmeproxy

# test/bench: the ACME load generator and the store seeder. `make bench`
# runs them against the proxy and Pebble (never part of `make test`, which
# only runs the smoke suite). The generator signs with OpenSSL's libcrypto
# when its headers are there (make bench installs them), else mbedTLS.
BENCH_DIR := $(BUILD)/test/bench
BENCH_SSL := $(shell pkg-config --exists libcrypto 2>/dev/null && echo yes)
BENCH_KEY := $(BENCH_DIR)/bench_key.o

$(BENCH_KEY): CPPFLAGS += $(if $(BENCH_SSL),-DBENCH_OPENSSL)
$(BENCH_KEY): Makefile

$(BENCH_DIR)/acmebench: $(BENCH_DIR)/acmebench.o $(BENCH_DIR)/responder.o \
                        $(BENCH_KEY) $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lm $(if $(BENCH_SSL),-lcrypto)

$(BENCH_DIR)/seed: $(BENCH_DIR)/seed.o $(BENCH_KEY) $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(if $(BENCH_SSL),-lcrypto)

bench-tools: $(BENCH_DIR)/acmebench $(BENCH_DIR)/seed

bench: deps
	@test/bench/deps.sh
	@$(MAKE) --no-print-directory all bench-tools
	@test/bench/run.sh

valgrind: all unit
	@for t in $(UNIT_BINS); do \
	    valgrind -q --error-exitcode=1 --leak-check=full $$t || exit 1; \
	done

lint:
	@! grep -nE '\b(sprintf|vsprintf|strcpy|strcat|strncat|gets|atoi|atol|strtok)\(' \
	    common/*.c proxy/*.c adapters/*.c
	cppcheck --quiet --error-exitcode=1 --std=c11 -I. common proxy adapters

format:
	clang-format -i common/*.[ch] proxy/*.[ch] adapters/*.[ch] test/unit/*.c

clean:
	rm -rf build/acmeproxy build/common build/proxy build/adapters \
	    build/test build/san build/civetweb.o

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
