# latch: refresh-token authentication as FastCGI responders.
#
#   make run     install what is missing, build, serve on 127.0.0.1:8080
#   make check   the same set-up on its own cluster and port, then every test
#   make asan    the whole suite under AddressSanitizer + UBSan
#   make stop    stop what `make run` started
#   make bench   wrk against the real stack (see tests/bench/run.sh)
#   make cluster-check  latch on several hosts (network namespaces, root):
#                PgBouncer, a synchronous replica, the failover
#   make bench-cluster  refresh and profile on 1, 2 and 4 web hosts
#   make fuzz    libFuzzer on the parsers of untrusted input (clang),
#                FUZZ_SECONDS each; make fuzz-smoke: 6 s each (in check)

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/lib/latch
DATADIR  ?= $(PREFIX)/share
MANDIR   ?= $(DATADIR)/man
DOCDIR   ?= $(DATADIR)/doc/latch
DESTDIR  ?=
BUILD    ?= build
PORT     ?= 8080
CHECK_PORT ?= 18080
ASAN_PORT ?= 18180
PYTEST   ?= /usr/bin/python3 -m pytest
STACK    := deploy/dev/stack.sh

PKGS      = fcgi json-c libpq libcrypto libxcrypt
# Recursive (=) on purpose: pkg-config may only exist once `deps` ran.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS)) -pthread
TEST_LIBS  = $(shell pkg-config --libs cmocka)

CFLAGS   ?= -O2 -g
WARN      = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2 -Wvla
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE -pthread $(WARN) $(CFLAGS) -Ilib $(PKG_CFLAGS) \
            -DLATCH_MIGRATIONS_DIR='"$(MIGRATIONS_DIR)"'

LIB_SRC   = $(wildcard lib/*.c)
LIB_OBJ   = $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC  = $(wildcard tests/unit/test_*.c)
UNIT_BIN  = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
PROGRAMS  = $(BUILD)/auth.fcgi $(BUILD)/login.fcgi $(BUILD)/api.fcgi \
            $(BUILD)/latchctl
# make bench's ceilings (tests/bench/ceilings): built by check, asan and
# clang too so that they keep compiling, never installed.
CEILINGS  = $(BUILD)/ceilings/ceil-responder $(BUILD)/ceilings/ceil-crypt

# The settings of API.md: the check and asan stacks must not inherit a
# developer's exported values, since the tests assume the defaults. The
# list is the binary's (lib/config.c), read once it is built: $(call
# CLEAN_ENV,DIR) with DIR holding latchctl.
config_keys = $(shell $(1)/latchctl config keys)
CLEAN_ENV = env $(foreach k,$(or $(call config_keys,$(1)),$(error \
            $(1)/latchctl config keys printed nothing)) LATCH_CONFIG,-u $(k))

SAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
            -fno-sanitize-recover=all
SAN_ENV   = ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all programs unit-build unit run stop check integration asan \
        browser-deps \
        asan-integration \
        install uninstall clean deps deps-check deps-bench bench ceilings \
        clang fuzz fuzz-build fuzz-smoke cluster-short cluster-check \
        cluster-full bench-cluster FORCE

all: $(PROGRAMS)

$(BUILD)/%.o: %.c $(wildcard lib/*.h cli/*.h tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/auth.fcgi: $(BUILD)/fcgi/auth.o $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/login.fcgi: $(BUILD)/fcgi/login.o $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/api.fcgi: $(BUILD)/fcgi/api.o $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)

CLI_OBJ   = $(patsubst %.c,$(BUILD)/%.o,$(wildcard cli/*.c))
# The schema version config check requires: the newest migrations/NNN_*.sql.
$(BUILD)/cli/cmd_ops.o: ALL_CFLAGS += -DLATCH_SCHEMA_VERSION=$(shell ls migrations | sed -n 's/^0*\([0-9]\{1,\}\)_.*\.sql$$/\1/p' | sort -n | tail -n 1)
$(BUILD)/cli/cmd_ops.o: $(wildcard migrations/*.sql)

# latchctl's default migrations directory is compiled in from DATADIR:
# a build for another PREFIX or DATADIR rebuilds cmd_migrate.o (the stamp
# changes only when the directory does).
MIGRATIONS_DIR = $(DATADIR)/latch/migrations
$(BUILD)/migrations-dir: FORCE
	@mkdir -p $(dir $@)
	@echo '$(MIGRATIONS_DIR)' | cmp -s - $@ || echo '$(MIGRATIONS_DIR)' >$@
$(BUILD)/cli/cmd_migrate.o: $(BUILD)/migrations-dir

$(BUILD)/latchctl: $(CLI_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

unit-build: $(UNIT_BIN)

# Same flags as latch, but only the libraries each ceiling may use.
$(BUILD)/ceilings/%.o: tests/bench/ceilings/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/ceilings/ceil-responder: $(BUILD)/ceilings/responder.o
	$(CC) $(CFLAGS) -o $@ $^ $(shell pkg-config --libs fcgi libpq)

$(BUILD)/ceilings/ceil-crypt: $(BUILD)/ceilings/crypt_rate.o
	$(CC) $(CFLAGS) -o $@ $^ $(shell pkg-config --libs libxcrypt)

ceilings: $(CEILINGS)

# cmocka programs, one per module; the first failure stops the run.
unit: unit-build
	@for t in $(UNIT_BIN); do \
		echo "== $$t"; $(SAN_ENV) ./$$t || exit 1; \
	done

deps:
	@deploy/dev/deps.sh run

deps-check:
	@deploy/dev/deps.sh check

# The browser tests' npm packages (tests/browser/package-lock.json: pinned
# playwright-core and axe-core, no browser download), installed afresh when
# node_modules is missing or older than the lock. npm ci writes
# node_modules/.package-lock.json; touched so that its time is the install's.
BROWSER_DIR = tests/browser
BROWSER_STAMP = $(BROWSER_DIR)/node_modules/.package-lock.json
$(BROWSER_STAMP): $(BROWSER_DIR)/package-lock.json $(BROWSER_DIR)/package.json
	cd $(BROWSER_DIR) && npm ci --no-audit --no-fund
	@touch $@

browser-deps: $(BROWSER_STAMP)

run: deps
	@$(MAKE) --no-print-directory all
	@PORT=$(PORT) BIN_DIR=$(BUILD) $(STACK) up run

stop:
	@$(STACK) down run

# The real stack (PostgreSQL + lighttpd) on its own cluster and port,
# created afresh so that every run starts from the same empty database
# (rate-limit counters included); it is stopped whatever the tests say.
integration:
	@$(STACK) clean check
	@$(call CLEAN_ENV,$(BUILD)) PORT=$(CHECK_PORT) BIN_DIR=$(BUILD) $(STACK) up check
	@LATCH_INSTANCE=check BIN_DIR=$(CURDIR)/$(BUILD) $(PYTEST) -q \
		-p no:cacheprovider tests/integration; \
	status=$$?; $(STACK) down check; exit $$status

check: deps-check
	@$(MAKE) --no-print-directory browser-deps
	@$(MAKE) --no-print-directory -j2 all unit-build ceilings
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory cluster-short

# The cluster tests (tests/cluster, README "Many web hosts"): latch on
# several hosts, each a network namespace of this machine (cluster.sh),
# PgBouncer in transaction pooling between them and a PostgreSQL primary
# with a synchronous streaming replica; the contract smoke, rotation,
# grace and reuse under load, then the failover. make check runs the short
# form (2 web hosts, about 30 s); cluster-check the full one (4 web hosts,
# more clients, longer loads). Each uses its own tag (namespaces
# lc-TAG-*, run dir, 10.231.X.0/24), stopped whatever the tests say. The
# namespaces need root: as another user the short form is skipped, saying
# so.
CLUSTER_TAG ?= check
CLUSTER_FULL_TAG ?= full
CLUSTER_RUN = status=0; \
	$(call CLEAN_ENV,$(BUILD)) BIN_DIR=$(CURDIR)/$(BUILD) $(PYTEST) -q \
		-p no:cacheprovider tests/cluster || status=$$?; \
	tests/cluster/cluster.sh down $$CLUSTER_TAG || status=1; \
	cat var/cluster-$$CLUSTER_TAG.results 2>/dev/null; exit $$status
cluster-short:
	@if [ "$$(id -u)" != 0 ]; then \
		echo "cluster: skipped (network namespaces need root)"; exit 0; fi; \
	export CLUSTER_TAG=$(CLUSTER_TAG) CLUSTER_WEBS=2 CLUSTER_FULL=0; \
	$(CLUSTER_RUN)

cluster-check: deps-check
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory cluster-full

# (A make of its own: CLEAN_ENV reads the keys from the latchctl just built.)
cluster-full:
	@export CLUSTER_TAG=$(CLUSTER_FULL_TAG) CLUSTER_WEBS=4 CLUSTER_FULL=1; \
	$(CLUSTER_RUN)

# wrk from the clients' namespace against refresh and profile on 1, 2 and
# 4 web hosts sharing one primary through PgBouncer, beside pgbench's
# rotations on that primary, with where the CPU went (tests/cluster/bench.sh).
bench-cluster: deps-bench
	@$(MAKE) --no-print-directory all
	@BIN_DIR=$(CURDIR)/$(BUILD) tests/cluster/bench.sh

# Everything again, built with sanitizers into build-asan; any report in
# the error log of the FastCGI processes, of the CGI runs (web-*/) or of a
# recipe's responders (recipe-*/) fails the run.
asan: deps-check
	@$(MAKE) --no-print-directory browser-deps
	@$(MAKE) --no-print-directory -j2 BUILD=build-asan CFLAGS="$(SAN_FLAGS)" \
		all unit-build ceilings
	@$(MAKE) --no-print-directory BUILD=build-asan CFLAGS="$(SAN_FLAGS)" unit
	@$(MAKE) --no-print-directory asan-integration

# (A make of its own: CLEAN_ENV reads the keys from a latchctl that must
# be built before this recipe is expanded.)
asan-integration:
	@$(STACK) clean asan
	@$(call CLEAN_ENV,build-asan) $(SAN_ENV) PORT=$(ASAN_PORT) BIN_DIR=build-asan \
		$(STACK) up asan
	@$(SAN_ENV) LATCH_INSTANCE=asan BIN_DIR=$(CURDIR)/build-asan $(PYTEST) -q \
		-p no:cacheprovider tests/integration; \
	status=$$?; $(STACK) down asan; \
	rundir="$$(cat var/asan.rundir)"; \
	if cat "$$rundir"/fcgi.stderr.log* "$$rundir"/web-*/fcgi.stderr.log* \
		"$$rundir"/recipe-*/fcgi.stderr.log* 2>/dev/null | grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:'; \
	then echo "asan: sanitizer reports in $$rundir/fcgi.stderr.log*"; exit 1; fi; \
	exit $$status

# wrk, pgbench and the ceilings against the real stack, every figure
# beside its ceiling from the same run (tests/bench/run.sh says how).
BENCH_PORT ?= 18600
bench: deps-bench
	@$(MAKE) --no-print-directory all ceilings
	@BENCH_PORT=$(BENCH_PORT) BIN_DIR=$(CURDIR)/$(BUILD) tests/bench/run.sh

deps-bench:
	@deploy/dev/deps.sh bench

# libFuzzer harnesses (tests/fuzz/fuzz_NAME.c, README "Fuzzing") for
# the parsers of untrusted and operator input, with ASan and UBSan, no
# recovery. lib/ is compiled once per fuzz build into one archive that
# every harness links. `make fuzz` runs each harness FUZZ_SECONDS, one
# after the other (FUZZ_JOBS at a time); `make fuzz-smoke` runs each for
# FUZZ_SMOKE_SECONDS (6), two at a time: eight harnesses in about 24 s,
# within CI's budget for make check. Any crash, leak, timeout or OOM fails the target
# with the input's path and the report's head (tests/fuzz/run.sh).
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 6
FUZZ_JOBS ?= 1
FUZZ_CC  ?= clang
FUZZ_DIR  = build-fuzz
FUZZ_NAMES = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS = $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_LIB_OBJ = $(LIB_SRC:lib/%.c=$(FUZZ_DIR)/lib/%.o)
FUZZ_CFLAGS = -std=c17 -D_GNU_SOURCE -pthread $(WARN) -O1 -g \
            -fno-omit-frame-pointer -fsanitize=address,undefined \
            -fno-sanitize-recover=all -Ilib $(PKG_CFLAGS)

$(FUZZ_DIR)/lib/%.o: lib/%.c $(wildcard lib/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/liblatch.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h \
            $(FUZZ_DIR)/liblatch.a $(wildcard lib/*.h)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_DIR)/liblatch.a \
		-o $@ $(PKG_LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz:
	@$(MAKE) --no-print-directory -j2 fuzz-build
	@FUZZ_DIR=$(FUZZ_DIR) tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_JOBS) \
		$(FUZZ_NAMES)

fuzz-smoke:
	@$(MAKE) --no-print-directory -j2 fuzz-build
	@FUZZ_DIR=$(FUZZ_DIR) tests/fuzz/run.sh $(FUZZ_SMOKE_SECONDS) 2 \
		$(FUZZ_NAMES)

# gcc is the default compiler; this proves clang builds clean too.
clang:
	@$(MAKE) --no-print-directory BUILD=build-clang CC=clang all unit-build \
		ceilings

# What goes where (README "Installing"): the programs, the migrations
# latchctl applies by default, the demo page, the man pages, and every
# recipe of deploy/ as examples, directory by directory, whatever they
# hold (dot files such as .htaccess too); deploy/dev (the test stack) and
# deploy/www (installed as the demo page) are not recipes. Executable
# files stay executable (0755), the rest is 0644. The man pages name the
# installed paths.
EXAMPLES = $(filter-out deploy/dev deploy/www,$(patsubst %/,%,$(wildcard deploy/*/)))
MAN_SUBST = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' \
            -e 's|@MIGRATIONS_DIR@|$(MIGRATIONS_DIR)|g' \
            -e 's|@DOCDIR@|$(DOCDIR)|g' -e 's|@WWWDIR@|$(DATADIR)/latch/www|g'

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) \
		$(DESTDIR)$(MIGRATIONS_DIR) $(DESTDIR)$(DATADIR)/latch/www \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(BUILD)/latchctl $(DESTDIR)$(BINDIR)/latchctl
	install -m 0755 $(BUILD)/auth.fcgi $(BUILD)/login.fcgi $(BUILD)/api.fcgi \
		$(DESTDIR)$(LIBEXECDIR)/
	install -m 0644 migrations/*.sql $(DESTDIR)$(MIGRATIONS_DIR)/
	cd deploy/www && find . -type f | while read -r f; do \
		install -D -m 0644 "$$f" "$(DESTDIR)$(DATADIR)/latch/www/$$f" || exit 1; \
	done
	$(MAN_SUBST) man/latchctl.8 >$(DESTDIR)$(MANDIR)/man8/latchctl.8
	$(MAN_SUBST) man/latch.conf.5 >$(DESTDIR)$(MANDIR)/man5/latch.conf.5
	chmod 0644 $(DESTDIR)$(MANDIR)/man8/latchctl.8 \
		$(DESTDIR)$(MANDIR)/man5/latch.conf.5
	for d in $(EXAMPLES); do \
		(cd deploy && find "$${d#deploy/}" -type f) | while read -r f; do \
			if [ -x "deploy/$$f" ]; then m=0755; else m=0644; fi; \
			install -D -m $$m "deploy/$$f" \
				"$(DESTDIR)$(DOCDIR)/examples/$$f" || exit 1; \
		done || exit 1; \
	done

# Removes what install put there (the examples directory and latch's own
# directories whole: they hold nothing else).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/latchctl $(DESTDIR)$(MANDIR)/man8/latchctl.8 \
		$(DESTDIR)$(MANDIR)/man5/latch.conf.5
	rm -rf $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DATADIR)/latch \
		$(DESTDIR)$(DOCDIR)

clean:
	rm -rf build build-asan build-clang build-fuzz
