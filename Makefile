# acmeproxy: plain GNU make, objects under build/ (build/san/ for the
# ASan/UBSan variant). `make run` and `make test` install what is missing
# first (deploy/deps.sh), then build.

PKGS      := libcurl libcjson lmdb inih libcrypto libssl libcares libxml-2.0 \
             libsystemd libpq
# The release: the Debian package's version (deploy/debian/changelog's
# first entry) and the build info of the metrics.
VERSION   := $(shell sed -n '1s/^acmeproxy (\([^)-]*\).*/\1/p' deploy/debian/changelog 2>/dev/null)
TESTPKGS  := cmocka
SAN       ?=
BUILD     := build$(if $(SAN),/san)
# Debian's civetweb source as deploy/deps.sh unpacked it (never edited), and
# the copy the build compiles: that source with deploy/civetweb-patches/
# applied in the order of their series file.
CIVET_ORIG    := build/civetweb-src
CIVET_SRC     := build/civetweb-patched
CIVET_PATCHES := $(addprefix deploy/civetweb-patches/,\
                   $(shell grep -v '^\#' deploy/civetweb-patches/series))
CIVET_STAMP   := $(CIVET_SRC)/.applied

ifeq ($(filter deps run test bench fuzz clean format deb,$(MAKECMDGOALS)),)
ifneq ($(shell pkg-config --exists $(PKGS) $(TESTPKGS) && test -f $(CIVET_ORIG)/src/civetweb.c && test -f /usr/include/http_parser.h && echo ok),ok)
$(error dependencies missing: run deploy/deps.sh (make run / make test do it for you))
endif
endif

CC        ?= cc
CFLAGS    ?= -O2 -g
WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wvla \
             -Wcast-qual -Wnull-dereference
CFLAGS    += -std=c11 -fstack-protector-strong -fPIE
CPPFLAGS  += -D_GNU_SOURCE -DACMEPROXY_VERSION='"$(VERSION)"' -I. \
             -I$(CIVET_SRC)/include \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
SYSLIBS   := -lhttp_parser -lmbedtls -lmbedx509 -lmbedcrypto -lresolv \
             -lpthread -ldl
LDLIBS    += $(shell pkg-config --libs $(PKGS) 2>/dev/null) $(SYSLIBS)
# The proxy itself does not link these: it loads them with dlopen when it
# first needs them (libcurl: common/httpc.c; libpq: common/store_pg.c;
# libsystemd: proxy/main.c, only under systemd; libxml2: adapters/adcs.c,
# only with an adcs adapter; libssl: proxy/val_tlsalpn01.c, at the first
# tls-alpn-01 validation), so an idle LMDB proxy
# maps none of them nor what they pull in (README "Memory"). The tests and
# tools link everything (their own code calls libcurl and libpq).
LAZY_PKGS := libcurl libpq libsystemd libxml-2.0 libssl
PROXY_LDLIBS := $(shell pkg-config --libs $(filter-out $(LAZY_PKGS),$(PKGS)) \
                  2>/dev/null) $(SYSLIBS)
LDFLAGS   += -pie -Wl,-z,relro,-z,now

# float-cast-overflow: GCC leaves it out of "undefined"; a double from a
# peer cast to an integer out of range must abort the sanitizer build.
ifeq ($(SAN),1)
CFLAGS    += -O1 -fsanitize=address,undefined,float-cast-overflow \
             -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS   += -fsanitize=address,undefined,float-cast-overflow
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
        fuzz fuzz-build torture deb

all: $(BUILD)/acmeproxy

deps:
	@deploy/deps.sh

$(BUILD)/acmeproxy: $(BUILD)/proxy/main.o $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(PROXY_LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c -o $@ $<

# The patched copy is made anew whenever a patch, the series or the
# original changes; a patch that does not apply stops the build.
$(CIVET_STAMP): $(CIVET_ORIG)/src/civetweb.c deploy/civetweb-patches/series \
                $(CIVET_PATCHES)
	@rm -rf $(CIVET_SRC) $(CIVET_SRC).tmp
	@mkdir -p $(CIVET_SRC).tmp
	@cp -a $(CIVET_ORIG)/src $(CIVET_ORIG)/include $(CIVET_SRC).tmp/
	@for p in $(CIVET_PATCHES); do \
	    echo "civetweb: applying $$p"; \
	    patch -d $(CIVET_SRC).tmp -p1 --quiet --forward --no-backup-if-mismatch \
	        < $$p || exit 1; \
	done
	@mv $(CIVET_SRC).tmp $(CIVET_SRC)
	@touch $@

$(CIVET_SRC)/src/civetweb.c $(CIVET_SRC)/include/civetweb.h: $(CIVET_STAMP)

# Only these include civetweb.h.
$(BUILD)/proxy/server.o $(BUILD)/proxy/adminsrv.o $(BUILD)/proxy/adminapi.o: $(CIVET_STAMP)

$(BUILD)/civetweb.o: $(CIVET_SRC)/src/civetweb.c $(CIVET_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CIVET_DEFS) $(CFLAGS) -w -c -o $@ $<

# -MMD: a unit test is built again when a file it includes changes (its
# headers, and test_store.c, which test_store_pg.c includes whole).
$(BUILD)/test/unit/%: test/unit/%.c $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(shell pkg-config --cflags $(TESTPKGS)) $(CFLAGS) \
	    $(WARN) -Wno-missing-prototypes -MMD -MP -MF $@.d -o $@ $< \
	    $(LIB_OBJS) $(LDFLAGS) $(LDLIBS) $(shell pkg-config --libs $(TESTPKGS))

# test_eab watches every free of the project's code for the EAB secret.
$(BUILD)/test/unit/test_eab: LDFLAGS += -Wl,--wrap=free
# test_fileio does the same for secrets read from files.
$(BUILD)/test/unit/test_fileio: LDFLAGS += -Wl,--wrap=free

unit: $(UNIT_BINS) $(BUILD)/mockpki $(BUILD)/test/acmeproxy-hooks

# A test-only build of the proxy whose validator and issuer can be made to
# crash on purpose (ACMEPROXY_TEST_CRASH, see proxy/jobs.h) and whose
# workers can pause between requests (ACMEPROXY_TEST_HANDOFF_PAUSE_MS, see
# proxy/server.c): these objects are compiled again with -DAP_TEST_HOOKS;
# build/acmeproxy itself carries no such switch.
HOOK_SRCS := proxy/validate.c proxy/issuer.c proxy/server.c
HOOK_OBJS := $(HOOK_SRCS:%.c=$(BUILD)/test/hooks/%.o)

$(BUILD)/test/hooks/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -DAP_TEST_HOOKS $(CFLAGS) $(WARN) -MMD -MP -c -o $@ $<

$(BUILD)/test/acmeproxy-hooks: $(BUILD)/proxy/main.o $(HOOK_OBJS) \
    $(filter-out $(HOOK_SRCS:%.c=$(BUILD)/%.o),$(LIB_OBJS))
	$(CC) $(LDFLAGS) -o $@ $^ $(PROXY_LDLIBS)

# The stand-in PKIs of the integration tests (test/mockpki): the common
# objects plus a civetweb build that can ask for client certificates.
MOCK_OBJS := $(filter $(BUILD)/common/%,$(LIB_OBJS)) \
             $(BUILD)/adapters/support.o $(BUILD)/test/mockpki/civet_mtls.o \
             $(BUILD)/test/mockpki/oddcert.o

$(BUILD)/test/mockpki/civet_mtls.o: test/mockpki/civet_mtls.c \
    $(CIVET_SRC)/src/civetweb.c $(CIVET_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -I$(CIVET_SRC)/src $(CIVET_DEFS) $(CFLAGS) -w -c \
	    -o $@ $<

$(BUILD)/mockpki: $(BUILD)/test/mockpki/mockpki.o $(MOCK_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

san:
	$(MAKE) SAN=1 all unit

# build/acmeproxy_<version>_<arch>.deb (deploy/deb.sh: dpkg-buildpackage on
# a tree assembled in build/deb from the sources and deploy/debian/, then
# lintian).
deb: deps
	@deploy/deb.sh

run: deps
	@$(MAKE) --no-print-directory all
	@deploy/run.sh

test: deps
	@$(MAKE) --no-print-directory all unit bench-tools
	@$(MAKE) --no-print-directory SAN=1 all unit
	@$(MAKE) --no-print-directory fuzz-build
	@$(MAKE) --no-print-directory deb
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
# only runs the smoke suite). The generator's keys, signatures and CSRs
# are OpenSSL's libcrypto, like the proxy's.
BENCH_DIR := $(BUILD)/test/bench
BENCH_KEY := $(BENCH_DIR)/bench_key.o

$(BENCH_DIR)/acmebench: $(BENCH_DIR)/acmebench.o $(BENCH_DIR)/responder.o \
                        $(BENCH_DIR)/bench_http.o $(BENCH_DIR)/bench_http_test.o \
                        $(BENCH_KEY) $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lm

$(BENCH_DIR)/seed: $(BENCH_DIR)/seed.o $(BENCH_KEY) $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The attack on connections (idle, stalled TLS, slowloris, slow body).
$(BENCH_DIR)/connattack: $(BENCH_DIR)/connattack.o
	$(CC) $(LDFLAGS) -o $@ $^ -lmbedtls -lmbedx509 -lmbedcrypto

$(BENCH_DIR)/bench_ca: $(BENCH_DIR)/bench_ca.o $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench-tools: $(BENCH_DIR)/acmebench $(BENCH_DIR)/seed $(BENCH_DIR)/connattack \
             $(BENCH_DIR)/bench_ca

bench: deps
	@test/bench/deps.sh
	@$(MAKE) --no-print-directory all bench-tools
	@test/bench/run.sh

# test/fuzz: one libFuzzer binary per test/fuzz/fuzz_<name>.c, built with
# clang, ASan and UBSan over the same sources (objects in build/fuzz).
# `make fuzz` runs each for FUZZ_SECONDS (default 60) and fails on any
# crash, leak or timeout; `make test` runs each for a few seconds.
FUZZ_DIR   := build/fuzz
FUZZ_CC    := clang
FUZZ_CFLAGS := -std=c11 -g -O1 -fsanitize=address,undefined \
               -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_SRCS  := $(wildcard test/fuzz/fuzz_*.c)
FUZZ_BINS  := $(FUZZ_SRCS:test/fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_OBJS  := $(LIB_SRCS:%.c=$(FUZZ_DIR)/%.o) $(FUZZ_DIR)/civetweb.o

$(FUZZ_DIR)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    $(WARN) -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/proxy/server.o $(FUZZ_DIR)/proxy/adminsrv.o $(FUZZ_DIR)/proxy/adminapi.o: $(CIVET_STAMP)

$(FUZZ_DIR)/civetweb.o: $(CIVET_SRC)/src/civetweb.c $(CIVET_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(CIVET_DEFS) $(FUZZ_CFLAGS) -w -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: test/fuzz/fuzz_%.c $(FUZZ_OBJS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(WARN) \
	    -o $@ $< $(FUZZ_OBJS) $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

# The objects are only reached through the fuzz_% pattern rule, which
# would make them intermediate files that make deletes after every build.
.SECONDARY: $(FUZZ_OBJS)

FUZZ_SECONDS ?= 60
fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) test/fuzz/run.sh

valgrind: all unit
	@for t in $(UNIT_BINS); do \
	    valgrind -q --error-exitcode=1 --leak-check=full $$t || exit 1; \
	done

# test/lint/run.sh: the include graph (it reads the objects of build/ for
# the call check) and the file sizes.
lint: all
	test/lint/run.sh build
	@! grep -nE '\b(sprintf|vsprintf|strcpy|strcat|strncat|gets|atoi|atol|strtok)\(' \
	    common/*.c proxy/*.c adapters/*.c
	cppcheck --quiet --error-exitcode=1 --std=c11 -I. common proxy adapters

format:
	clang-format -i common/*.[ch] proxy/*.[ch] adapters/*.[ch] test/unit/*.c

clean:
	rm -rf build/acmeproxy build/common build/proxy build/adapters \
	    build/test build/san build/fuzz build/civetweb.o $(CIVET_SRC) \
	    build/deb build/acmeproxy_*.deb build/lintian.txt

-include $(shell find $(BUILD) -path build/deb -prune -o -type f -name '*.d' \
             -print 2>/dev/null)
-include $(shell find $(FUZZ_DIR) -name '*.d' 2>/dev/null)
