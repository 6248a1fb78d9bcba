# Common Ground build. `make run` and `make test` are the two commands a newcomer needs;
# both install what is missing first (scripts/deps.sh).
#
# Layout: every src/<module>/*.c compiles to an object; the binary links them all.
# Two build flavours share the rules: build/release (optimised) and build/test
# (AddressSanitizer + UndefinedBehaviorSanitizer). Unit tests are discovered:
# tests/<module>/test_*.c becomes one cmocka binary that links the objects of
# src/<module>, src/core and whatever TEST_DEPS_<module> names below, so a module's
# tests build even while an unrelated module is being changed.

SHELL := /bin/bash
CC ?= cc
PKGS := libmicrohttpd sqlite3 libsodium jansson libcurl gmp cbc clp libpq
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lglpk -lm -lpthread

WARN := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wpointer-arith -Wstrict-prototypes \
        -Wmissing-prototypes -Wno-unused-parameter
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -Isrc $(WARN) -MMD -MP
RELEASE_CFLAGS := $(BASE_CFLAGS) -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2
TEST_CFLAGS := $(BASE_CFLAGS) -O1 -g -fno-omit-frame-pointer \
        -fsanitize=address,undefined -fno-sanitize-recover=undefined -DCG_TESTING=1
TEST_LDFLAGS := -fsanitize=address,undefined

SRC_ALL := $(sort $(shell find src -name '*.c'))
SRC_MAIN := src/cli/main.c
SRC_LIB := $(filter-out $(SRC_MAIN),$(SRC_ALL))

REL_OBJ := $(patsubst src/%.c,build/release/obj/%.o,$(SRC_ALL))
TST_OBJ := $(patsubst src/%.c,build/test/obj/%.o,$(SRC_ALL))
TST_LIBOBJ := $(patsubst src/%.c,build/test/obj/%.o,$(SRC_LIB))

BIN := build/commonground
TEST_BIN := build/test/commonground

# Which other modules' objects a module's unit tests link (core is always linked);
# `all` links every module. Engines link only themselves and core.
TEST_DEPS_http :=
TEST_DEPS_cli := all
TEST_DEPS_account := all
TEST_DEPS_app := all
TEST_DEPS_place := all
TEST_DEPS_directory := all

# tests/server holds the HTTP tests that drive a real running server over libcurl;
# they link only core and tests/server/harness.c.
UNIT_SRC := $(sort $(shell find tests -path tests/server -prune -o -path tests/browser -prune -o -name 'test_*.c' -print 2>/dev/null))
UNIT_BIN := $(patsubst tests/%.c,build/test/tests/%,$(UNIT_SRC))
SERVER_SRC := $(sort $(wildcard tests/server/test_*.c))
SERVER_BIN := $(patsubst tests/%.c,build/test/tests/%,$(SERVER_SRC))

.PHONY: all deps build assets test unit-tests run bench clean format check-format npm-deps
all: build

deps:
	@scripts/deps.sh

JOBS ?= $(shell nproc 2>/dev/null || echo 2)

# Packages are installed first, on their own, so that a parallel build never compiles
# against headers that are still being installed.
build:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory -j$(JOBS) $(BIN) assets locale

# Static assets served under /static/: the stylesheet compiled from GOV.UK Frontend's
# Sass sources (npm) plus our own files in static/.
STATIC_OWN := $(filter-out static/scss/%,$(shell find static -type f))
NPM_STAMP := node_modules/.cg-lock-stamp
assets: $(NPM_STAMP) build/static/app.css $(patsubst static/%,build/static/%,$(STATIC_OWN))

$(NPM_STAMP): package-lock.json
	@scripts/npm-deps.sh

build/static/app.css: $(wildcard static/scss/*.scss) scripts/build-css.mjs $(NPM_STAMP)
	@node scripts/build-css.mjs

build/static/%: static/%
	@mkdir -p $(dir $@)
	cp $< $@

$(BIN): $(REL_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(PKG_LIBS)

$(TEST_BIN): $(TST_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_LDFLAGS) -o $@ $^ $(PKG_LIBS)

build/release/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(RELEASE_CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

build/test/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

# The module a test belongs to is its folder below tests/: tests/engine/pb/test_x.c
# belongs to src/engine/pb.
mod_of = $(patsubst tests/%/,%,$(dir $(1)))
define unit_rule
build/test/tests/$(1): tests/$(1).c $$(filter build/test/obj/core/%,$$(TST_LIBOBJ)) \
    $$(filter build/test/obj/$(call mod_of,tests/$(1).c)/%,$$(TST_LIBOBJ)) \
    $$(foreach d,$$(TEST_DEPS_$(call mod_of,tests/$(1).c)),$$(filter build/test/obj/$$(d)/%,$$(TST_LIBOBJ))) \
    $$(if $$(filter all,$$(TEST_DEPS_$(call mod_of,tests/$(1).c))),$$(TST_LIBOBJ))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(TEST_CFLAGS) $$(PKG_CFLAGS) -Itests -o $$@ $$(filter %.c %.o,$$^) $$(TEST_LDFLAGS) $$(PKG_LIBS) -lcmocka
endef
$(foreach t,$(patsubst tests/%.c,%,$(UNIT_SRC)),$(eval $(call unit_rule,$(t))))

build/test/tests/server/%: tests/server/%.c tests/server/harness.c tests/server/harness.h \
    $(filter build/test/obj/core/%,$(TST_LIBOBJ))
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(PKG_CFLAGS) -Itests -o $@ $(filter %.c %.o,$^) $(TEST_LDFLAGS) $(PKG_LIBS) -lcmocka
# test_scaleout also plays extra server processes claiming jobs through the store.
build/test/tests/server/test_scaleout: $(filter build/test/obj/store/%,$(TST_LIBOBJ))

unit-tests: $(UNIT_BIN) $(SERVER_BIN) $(TEST_BIN) $(MO_FILES)

# Everything: unit tests, HTTP tests against the real server, browser tests.
test:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory -j$(JOBS) unit-tests assets locale
	@tests/run.sh

npm-deps: $(NPM_STAMP)

run: build
	@scripts/run.sh

bench: build
	@bench/run.sh

format:
	clang-format -i $(SRC_ALL) $(UNIT_SRC) $(SERVER_SRC)

clean:
	rm -rf build

-include $(REL_OBJ:.o=.d) $(TST_OBJ:.o=.d)

# ---- i18n (owned by src/web; see docs/templates.md) -----------------------------------
# po/<lang>.po (edited by translators) compiles into build/locale/<lang>/commonground.mo,
# which i18n_load("build/locale") reads at start-up. `make i18n-extract` refreshes
# po/commonground.pot and the .po files from the C sources and templates.
PO_FILES := $(wildcard po/*.po)
MO_FILES := $(patsubst po/%.po,build/locale/%/commonground.mo,$(PO_FILES))

.PHONY: locale i18n-extract
locale: $(MO_FILES)

build/locale/%/commonground.mo: po/%.po
	@mkdir -p $(dir $@)
	msgfmt --check -o $@ $<

i18n-extract:
	scripts/i18n-extract.sh
# ---- end i18n --------------------------------------------------------------------------
