# dater: build, test, benchmark, install.
#
#   make            build bin/dater-*
#   make deps       install the missing Debian -dev packages (as root)
#   make check      unit tests (Check) and black-box tests of the binaries
#   make check-pg   the tests on a throw-away PostgreSQL cluster (make
#                   check runs them too when PostgreSQL is installed)
#   make bench      benchmarks against raw-SQLite baselines
#   make demo       run the main job on the built-in defaults
#   make install    PREFIX=/usr/local DESTDIR=
#   make SANITIZE=1 check    the same under ASan + UBSan
#   make fuzz       libFuzzer harnesses (clang, ASan + UBSan) in build/fuzz/,
#                   each run FUZZ_SECONDS (30); a crash fails and its input
#                   is kept in tests/fuzz/regress/NAME/
#   make fuzz-regress   replay tests/fuzz/corpus and regress through the
#                   harnesses built with $(CC) (part of make check)

VERSION = 0.1.0
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
# PREFIX=/usr is the system's own tree: config in /etc/dater and data in
# /var/lib/dater (FHS); any other prefix keeps both under it.
ifeq ($(PREFIX),/usr)
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var/lib/dater
else
SYSCONFDIR ?= $(PREFIX)/etc
LOCALSTATEDIR ?= $(PREFIX)/var/lib/dater
endif
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions

CC ?= cc
PKG_CONFIG ?= pkg-config
# What every program links. libcurl and libpq are not linked: lib/http.c
# loads libcurl (dlopen) in the processes that make an HTTP call, and
# lib/pg.c loads libpq in those that open a PostgreSQL database; their
# headers are needed, and their packages bring libcurl.so.4 and
# libpq.so.5.
PKGS = jansson sqlite3 libconfig libbsd-overlay
CURL_PKG = libcurl libpq
CHECK_PKGS = check
# The Debian package that gives pkg-config each of them (.ci/deps.sh).
DEB_jansson = libjansson-dev
DEB_sqlite3 = libsqlite3-dev
DEB_libconfig = libconfig-dev
DEB_libbsd-overlay = libbsd-dev
DEB_libcurl = libcurl4-openssl-dev
DEB_libpq = libpq-dev
DEB_check = check

# $(call pkg,FLAGS,PKGS): what pkg-config FLAGS says for PKGS; a package
# pkg-config cannot find stops the build, naming the Debian package.
# Expanded only by the recipes that compile or link (once each: the
# variables below replace themselves with their value on first use), so
# deps, clean and lint work without the packages, and 'make deps check'
# finds what deps has just installed.
pkg = $(if $(shell command -v $(PKG_CONFIG)),,$(error '$(PKG_CONFIG)' not \
	found: install pkg-config, or run 'make deps'))$(foreach p,$(2),$(if \
	$(shell $(PKG_CONFIG) --exists $(p) && echo y),,$(error pkg-config \
	cannot find '$(p)': install $(DEB_$(p)), or run 'make deps')))$(shell \
	$(PKG_CONFIG) $(1) $(2))
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(call pkg,--cflags,$(PKGS) \
	$(CURL_PKG)))$(PKG_CFLAGS)
PKG_LIBS = $(eval PKG_LIBS := $$(call pkg,--libs,$(PKGS)))$(PKG_LIBS)
CHECK_CFLAGS = $(eval CHECK_CFLAGS := $$(call pkg,--cflags,$(CHECK_PKGS)))$\
	$(CHECK_CFLAGS)
CHECK_LIBS = $(eval CHECK_LIBS := $$(call pkg,--libs,$(CHECK_PKGS)))$\
	$(CHECK_LIBS)

CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -Wformat=2 \
	-Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
	-DDATER_VERSION='"$(VERSION)"'
CFLAGS += $(PKG_CFLAGS)
# Each program records only the shared libraries it uses (start-up time:
# every library is loaded and relocated at each exec).
LDFLAGS += -Wl,--as-needed
LDLIBS += $(PKG_LIBS) -ldl

ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
BUILD = build/san
else
BUILD = build/opt
endif

LIB_SRC = $(wildcard lib/*.c lib/report/*.c jobs/*.c)
LIB_OBJ = $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC))
LIBDATER = $(BUILD)/libdater.a
HDRS = $(wildcard lib/*.h lib/report/*.h jobs/*.h)

PROGS = $(patsubst bin/%.c,%,$(wildcard bin/dater-*.c))
BINS = $(addprefix bin/,$(PROGS))

TEST_SRC = $(wildcard tests/check_*.c)
TEST_OBJ = $(patsubst %.c,$(BUILD)/%.o,$(TEST_SRC))

all: $(BINS)

# build/flavour names the flavour bin/ was linked with; it changes (and
# so relinks everything) only when SANITIZE does.
build/flavour: FORCE
	@mkdir -p build
	@echo $(BUILD) | cmp -s - $@ || echo $(BUILD) > $@

.PHONY: FORCE
FORCE:

# V=1 shows the full commands.
ifeq ($(V),1)
Q =
else
Q = @
endif

$(BUILD)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@test "$(Q)" = "" || echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(LIBDATER): $(LIB_OBJ)
	@rm -f $@
	@test "$(Q)" = "" || echo "  AR      $@"
	$(Q)$(AR) rcs $@ $^

bin/%: $(BUILD)/bin/%.o $(LIBDATER) build/flavour
	@test "$(Q)" = "" || echo "  LINK    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBDATER) $(LDLIBS)

tests/check_all: $(TEST_OBJ) $(LIBDATER) build/flavour
	@test "$(Q)" = "" || echo "  LINK    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(LIBDATER) $(LDLIBS) \
		$(CHECK_LIBS)

# Every "suite_NAME(void)" defined at the start of a line in a test file.
$(BUILD)/tests/suites.inc: $(TEST_SRC)
	@mkdir -p $(dir $@)
	$(Q)sed -n 's/^suite_\([a-z0-9_]*\)(void)$$/SUITE(\1)/p' $(TEST_SRC) > $@

$(BUILD)/tests/%.o: CFLAGS += -I$(BUILD)/tests

$(BUILD)/tests/%.o: tests/%.c $(HDRS) tests/check_dater.h $(BUILD)/tests/suites.inc
	@mkdir -p $(dir $@)
	@test "$(Q)" = "" || echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

# Keep the programs' objects (make would delete them as intermediates).
.SECONDARY: $(patsubst bin/%,$(BUILD)/bin/%.o,$(BINS))

.PHONY: all check check-pg check-pg-if-any unit blackbox bench demo deps install clean \
	lint fuzz fuzz-regress

# The integration tests' HTTP peers (node packages pinned in tests/).
PEERS = tests/node_modules/.package-lock.json
$(PEERS): tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund --loglevel=error

check: all tests/check_all $(PEERS) fuzz-regress
	./tests/check_all
	./tests/run-blackbox.sh
	@$(MAKE) --no-print-directory check-pg-if-any

# The tests once more on PostgreSQL (issue 12; the Debian packages
# postgresql and libpq-dev). make check runs this pass after the SQLite
# one: against the database DATER_TEST_PG names when it is set, else on a
# throw-away cluster when PostgreSQL's initdb and pg_ctl are installed
# (tests/pg-cluster.sh available), else it says it skipped the pass.
# check-pg always runs it, on a throw-away cluster: tests/pg-cluster.sh
# starts one on a Unix socket in a temp dir (as the user dater-test when
# run as root) and stops it and removes its dir however the run ends.
# Each Check test gets a schema of its own (tests/check_util.c) and each
# black-box test a database (tests/blackbox-lib.sh); the tests about the
# SQLite file skip themselves. PG_BLACKBOX=0 runs the Check suites only
# (CI's sanitizer run); T="t_a t_b" picks black-box tests.
PG_BLACKBOX ?= 1
T ?=
pg_pass = DATER_TEST_PG=$(1) ./tests/check_all && \
	{ [ "$(PG_BLACKBOX)" = 0 ] || DATER_TEST_PG=$(1) ./tests/run-blackbox.sh $(T); }
check-pg: all tests/check_all $(PEERS)
	@dir=$$(mktemp -d "$${TMPDIR:-/tmp}/dater-pg.XXXXXX") || exit 1; \
	trap './tests/pg-cluster.sh stop "$$dir"' EXIT; \
	trap 'exit 130' INT TERM HUP; \
	uri=$$(./tests/pg-cluster.sh start "$$dir") || exit 1; \
	echo "check-pg: PostgreSQL at $$uri"; \
	$(call pg_pass,$$uri)

check-pg-if-any: all tests/check_all $(PEERS)
	@if [ -n "$${DATER_TEST_PG:-}" ]; then \
		echo "check: the PostgreSQL pass on DATER_TEST_PG"; \
		$(call pg_pass,"$$DATER_TEST_PG"); \
	elif ./tests/pg-cluster.sh available; then \
		$(MAKE) --no-print-directory check-pg; \
	else \
		echo "check: no PostgreSQL here (apt-get install postgresql" \
		    "libpq-dev): the PostgreSQL pass is skipped"; \
	fi

unit: tests/check_all $(PEERS)
	./tests/check_all

blackbox: all $(PEERS)
	./tests/run-blackbox.sh

bench: all
	$(MAKE) -C tests/bench
	./tests/bench/run.sh

demo: all
	./tests/demo.sh

deps:
	@./.ci/deps.sh

# Fuzzing: one harness per parser in tests/fuzz/fuzz_NAME.c, seed inputs
# in tests/fuzz/corpus/NAME/, crashes kept in tests/fuzz/regress/NAME/.
# libFuzzer builds use their own objects (clang, coverage + sanitizers)
# in build/fuzz/; the replayers use this build's objects and compiler.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 30
FUZZ_NAMES = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
FUZZ_CFLAGS = -g -O1 -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror \
	-Wno-unused-parameter -DDATER_VERSION='"$(VERSION)"' $(FUZZ_SAN) \
	$(PKG_CFLAGS)
FUZZ_LIB = build/fuzz/libdater.a
FUZZ_BINS = $(addprefix build/fuzz/fuzz_,$(FUZZ_NAMES))
REPLAY_BINS = $(addprefix $(BUILD)/fuzz/replay_,$(FUZZ_NAMES))

build/fuzz/%.o: %.c $(HDRS) tests/fuzz/fuzz.h
	@mkdir -p $(dir $@)
	@test "$(Q)" = "" || echo "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_LIB): $(patsubst %.c,build/fuzz/%.o,$(LIB_SRC))
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

# fake_http.o comes before the archive, so lib/http.o is never linked.
build/fuzz/fuzz_%: build/fuzz/tests/fuzz/fuzz_%.o \
    build/fuzz/tests/fuzz/fake_http.o $(FUZZ_LIB)
	@test "$(Q)" = "" || echo "  LINK    $@"
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz/replay_%: $(BUILD)/tests/fuzz/fuzz_%.o \
    $(BUILD)/tests/fuzz/replay.o $(BUILD)/tests/fuzz/fake_http.o $(LIBDATER)
	@mkdir -p $(dir $@)
	@test "$(Q)" = "" || echo "  LINK    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/fuzz/%.o: tests/fuzz/%.c $(HDRS) tests/fuzz/fuzz.h
	@mkdir -p $(dir $@)
	@test "$(Q)" = "" || echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

.SECONDARY: $(patsubst %,build/fuzz/tests/fuzz/fuzz_%.o,$(FUZZ_NAMES)) \
	build/fuzz/tests/fuzz/fake_http.o $(BUILD)/tests/fuzz/fake_http.o \
	$(BUILD)/tests/fuzz/replay.o \
	$(patsubst %,$(BUILD)/tests/fuzz/fuzz_%.o,$(FUZZ_NAMES))

fuzz: $(FUZZ_BINS)
	./tests/fuzz/run.sh fuzz build/fuzz $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-regress: $(REPLAY_BINS)
	./tests/fuzz/run.sh replay $(BUILD)/fuzz 0 $(FUZZ_NAMES)

# Where `make install` puts the service files; @BINDIR@, @SYSCONFDIR@
# and @LOCALSTATEDIR@ in them become the paths above.
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DATADIR ?= $(PREFIX)/share/dater
DATER_USER ?= dater
SUBST = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	-e 's|@LOCALSTATEDIR@|$(LOCALSTATEDIR)|g'
UNITS = $(wildcard etc/systemd/*.service etc/systemd/*.timer)

# Installs the programs, man pages, systemd units (+ sysusers.d and
# tmpfiles.d entries for the user and the data directory) and the
# crontab; the config and fields.json only where none exist yet; the
# data directory with mode 0700 (owned by $(DATER_USER) when run as root
# without DESTDIR and the user exists).
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(SYSCONFDIR)/dater \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(DATADIR)
	install -d -m 0700 $(DESTDIR)$(LOCALSTATEDIR)
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)
	install -m 0644 $(wildcard bin/*.1) $(DESTDIR)$(MANDIR)/man1
	install -m 0644 $(wildcard man/*.5) $(DESTDIR)$(MANDIR)/man5
	install -d $(DESTDIR)$(BASHCOMPDIR)
	for p in $(PROGS); do \
		install -m 0644 etc/bash-completion/dater \
		    $(DESTDIR)$(BASHCOMPDIR)/$$p || exit 1; \
	done
	for u in $(UNITS); do \
		$(SUBST) $$u > $(DESTDIR)$(UNITDIR)/$${u##*/} && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/} || exit 1; \
	done
	$(SUBST) etc/systemd/dater.sysusers > $(DESTDIR)$(SYSUSERSDIR)/dater.conf
	$(SUBST) etc/systemd/dater.tmpfiles > $(DESTDIR)$(TMPFILESDIR)/dater.conf
	$(SUBST) cron/crontab > $(DESTDIR)$(DATADIR)/crontab
	chmod 0644 $(DESTDIR)$(SYSUSERSDIR)/dater.conf \
		$(DESTDIR)$(TMPFILESDIR)/dater.conf $(DESTDIR)$(DATADIR)/crontab
	test -f $(DESTDIR)$(SYSCONFDIR)/dater/dater.conf || { \
		sed 's|^database = .*|database = "$(LOCALSTATEDIR)/dater.db";|' \
		etc/dater.conf > $(DESTDIR)$(SYSCONFDIR)/dater/dater.conf && \
		chmod 0644 $(DESTDIR)$(SYSCONFDIR)/dater/dater.conf; }
	test -f $(DESTDIR)$(SYSCONFDIR)/dater/fields.json || \
		install -m 0644 etc/fields.json $(DESTDIR)$(SYSCONFDIR)/dater/
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && \
	    id $(DATER_USER) >/dev/null 2>&1; then \
		echo "chown $(DATER_USER): $(LOCALSTATEDIR)"; \
		chown $(DATER_USER): $(LOCALSTATEDIR); \
	fi

# The man pages, and the systemd units when systemd-analyze is there
# (filled in with a scratch tree whose programs are empty stand-ins, so
# ExecStart= points at executables without a build). verify exits 0
# after "ignoring" a bad line, so any output fails.
lint:
	mandoc -T lint -W warning bin/*.1 man/*.5
	@if command -v systemd-analyze >/dev/null; then \
		d=$$(mktemp -d) && mkdir $$d/bin && \
		for p in $$(sed -n 's|.*@BINDIR@/\([a-z-]*\).*|\1|p' $(UNITS)); do \
			printf '#!/bin/sh\n' > $$d/bin/$$p && chmod +x $$d/bin/$$p; \
		done && \
		for u in $(UNITS); do \
			sed -e "s|@BINDIR@|$$d/bin|g" -e "s|@SYSCONFDIR@|$$d/etc|g" \
			    -e "s|@LOCALSTATEDIR@|$$d/var|g" $$u > $$d/$${u##*/}; \
		done && \
		echo "systemd-analyze verify $(notdir $(UNITS))" && \
		out=$$(cd $$d && systemd-analyze verify --man=no \
		    $(addprefix ./,$(notdir $(UNITS))) 2>&1); \
		rc=$$?; rm -rf $$d; \
		if [ -n "$$out" ]; then echo "$$out"; rc=1; fi; exit $$rc; \
	else \
		echo "lint: no systemd-analyze here; units not verified"; \
	fi

clean:
	rm -rf build $(BINS) tests/check_all
	-$(MAKE) -C tests/bench clean 2>/dev/null
