# lua-coreplus -- build, test, install. `make help` lists every target.
#   make deps                 install the Debian packages (scripts/deps; idempotent)
#   make [build] [LUA=luajit] build coreplus/core.so for Lua 5.4 or LuaJIT
#                             (REDIS=auto|yes|no: auto builds without Redis when hiredis is absent)
#   make test                 lint, specs (Lua 5.4), LuaJIT load, ASan/UBSan, valgrind, fuzz;
#                             ends "N passed, N failed" (CI: .ci/run, the README's test command)
#   make test-fast            lint, specs, LuaJIT load only
#   make demo                 the main job against the bundled mock server
#   make bench                benchmarks (prints ratios; never part of test)
#   make install [PREFIX=/usr/local] [DESTDIR=] [LUA=luajit]
#   make uninstall [PREFIX=/usr/local] [DESTDIR=] [LUA=luajit]   what install put there
#   make rock                 build/rock/coreplus-<version>-1.src.rock from the committed HEAD
#   make fresh-check          both README commands in a fresh Debian 12 root (root; ~10 min)
#   make rock-build, make rock-install   LuaRocks's build and install steps (the rockspec runs them)
#   make clean                remove build/
#   make help                 this list
# `make` alone builds: the first rule in this file would otherwise be the goal.
.DEFAULT_GOAL := build

LUA      ?= lua5.4
PREFIX   ?= /usr/local
DESTDIR  ?=
REDIS    ?= auto

ifeq ($(LUA),luajit)
  LUA_PC   := luajit
  LUA_ABI  := 5.1
else ifeq ($(LUA),lua5.4)
  LUA_PC   := lua5.4
  LUA_ABI  := 5.4
else
  $(error LUA=$(LUA): lua5.4 or luajit expected)
endif

BUILD_DIR ?= build/$(LUA)
SO       := $(BUILD_DIR)/coreplus/core.so
SRCS     := $(wildcard src/*.c src/limiter/*.c)
HDRS     := $(wildcard src/*.h src/limiter/*.h)
# The one list of what core.so exports (luaopen_coreplus_core); the rockspec links it too.
EXPORTS  := src/exports.ld
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-missing-field-initializers
CFLAGS   ?= -O2 -g
CORE_FLAGS := -std=c99 -D_POSIX_C_SOURCE=200809L -fPIC -fvisibility=hidden
BASE_CFLAGS = $(CFLAGS) $(WARN) $(CORE_FLAGS)

# Flags come from pkg-config when a recipe runs, never while make reads this
# file (on a new machine that is before `make deps` has installed anything).
# scripts/build-flags writes them to a file that core.so depends on, rewritten
# only when they change: a core.so is rebuilt when its flags change and never
# reused with other ones. $(call flags,DIR,1) is the compiler and its flags,
# $(call flags,DIR,2) the libraries.
flags = $(shell sed -n $(2)p $(1)/flags)
FORCE:

# Tests see the build tree first and the repository's Lua files, then the
# defaults, and no other Lua paths (scripts/lua-env: whatever
# `eval "$(luarocks path)"` left in the shell stays out).
TEST_ENV = scripts/lua-env --checkout lua5.4 \
           PATH="$(CURDIR)/bin:$$PATH" \
           JIT_CPATH="$(CURDIR)/build/luajit"
# The same for the LUA chosen (demo, bench).
RUN_ENV  = scripts/lua-env --checkout $(LUA) PATH="$(CURDIR)/bin:$$PATH"

.PHONY: all build deps test test-fast demo bench install uninstall clean rock fresh-check help \
        rock-build rock-install FORCE

all: build

build: $(SO)

$(BUILD_DIR)/flags: FORCE
	@REDIS=$(REDIS) scripts/build-flags $@ "$(CC) $(BASE_CFLAGS)" \
	    "$(LUA_PC) libcurl libcrypto yajl" "libcurl libcrypto yajl" -lpthread

$(SO): $(SRCS) $(HDRS) $(EXPORTS) $(BUILD_DIR)/flags Makefile
	@mkdir -p $(dir $@)
	$(call flags,$(BUILD_DIR),1) -shared -o $@ $(SRCS) \
	    $(EXPORTS) $(call flags,$(BUILD_DIR),2)

deps:
	@scripts/deps

# The whole suite, as CI runs it: lint, every spec (Lua 5.4), the LuaJIT
# load step, then the C core under ASan+UBSan (every spec again), valgrind on
# the core's specs and a short fuzz run (mk/check.mk, mk/fuzz.mk). One
# closing line "N passed, N failed" covers all of it.
TEST_STEPS ?= lint specs luajit asan valgrind fuzz

test:
	@$(MAKE) --no-print-directory build LUA=lua5.4
	@$(MAKE) --no-print-directory build LUA=luajit
	@$(MAKE) --no-print-directory asan-build fuzz-build
	@$(CHECK_ENV) COREPLUS_TEST_STEPS="$(TEST_STEPS)" FUZZ_RUNS=10000 scripts/run-tests $(SPECS)

# The quick loop while developing: no sanitizers, no valgrind, no fuzzing.
test-fast:
	@$(MAKE) --no-print-directory build LUA=lua5.4
	@$(MAKE) --no-print-directory build LUA=luajit
	@$(TEST_ENV) COREPLUS_TEST_STEPS="lint specs luajit" scripts/run-tests $(SPECS)

demo: build
	@$(RUN_ENV) $(LUA) examples/demo.lua

bench: build
	@$(RUN_ENV) $(LUA) bench/run.lua $(BENCH)

install: build
	@PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" LUA=$(LUA) LUA_ABI=$(LUA_ABI) SO=$(SO) \
	    scripts/install install

uninstall:
	@PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" LUA=$(LUA) LUA_ABI=$(LUA_ABI) \
	    scripts/install uninstall

# LuaRocks's build (rockspec/*.rockspec: build.type = "make"). LuaRocks passes
# CC, CFLAGS, LIBFLAG, LUA_INCDIR and the directories it found for CURL,
# OPENSSL and HIREDIS; no pkg-config here. Warnings stay on but are not fatal:
# a user's newer compiler must not stop the install.
ROCK_DIR := build/luarocks
ROCK_SO  := $(ROCK_DIR)/coreplus/core.so
LIBFLAG  ?= -shared
# An rpath only for a library directory the dynamic linker does not search by
# itself: one in the system's directories would outrank LD_LIBRARY_PATH and
# pin the rock to this machine's layout.
SYSTEM_LIBDIRS = /lib /lib64 /usr/lib /usr/lib64 /lib/$(MULTIARCH) /usr/lib/$(MULTIARCH)
MULTIARCH = $(shell $(CC) -print-multiarch 2>/dev/null)
rock_libdir = $(if $(strip $(1)),-L$(1) $(if $(filter $(SYSTEM_LIBDIRS),$(patsubst %/,%,$(1))),,-Wl$(comma)-rpath$(comma)$(1)))
comma := ,

$(ROCK_DIR)/flags: FORCE
	@REDIS=$(REDIS) scripts/build-flags $@ \
	    "$(CC) $(CFLAGS) $(filter-out -Werror,$(WARN)) $(CORE_FLAGS) -I$(LUA_INCDIR) \
	     -I$(CURL_INCDIR) -I$(OPENSSL_INCDIR) -I$(HIREDIS_INCDIR) -I$(YAJL_INCDIR)" "" "" \
	    "$(call rock_libdir,$(CURL_LIBDIR)) -lcurl $(call rock_libdir,$(OPENSSL_LIBDIR)) -lcrypto \
	     $(call rock_libdir,$(HIREDIS_LIBDIR)) $(call rock_libdir,$(YAJL_LIBDIR)) -lyajl -lpthread"

$(ROCK_SO): $(SRCS) $(HDRS) $(EXPORTS) $(ROCK_DIR)/flags Makefile
	@mkdir -p $(dir $@)
	$(call flags,$(ROCK_DIR),1) $(LIBFLAG) -o $@ $(SRCS) $(EXPORTS) $(call flags,$(ROCK_DIR),2)

rock-build: $(ROCK_SO)

rock-install: rock-build
	@SO=$(ROCK_SO) INST_LIBDIR="$(INST_LIBDIR)" INST_LUADIR="$(INST_LUADIR)" \
	    INST_BINDIR="$(INST_BINDIR)" scripts/install rock-install

# A source rock of the committed HEAD under the version in src/coreplus.h
# (luarocks pack from a git+file:// clone; scripts/pack-rock says how).
rock:
	@scripts/pack-rock build/rock

# Both README commands in a bare Debian 12 root (mmdebstrap), as a new user
# runs them: for changes to the build. Needs root and Debian's archive.
fresh-check:
	@scripts/fresh-root --readme

help:
	@sed -n -e 's/^#   \(make .*\)/\1/p' -e 's/^#\( \{20,\}[^ ].*\)/\1/p' \
	    Makefile $(sort $(wildcard mk/*.mk))

clean:
	rm -rf build src/*.o src/limiter/*.o core.so coreplus/core.so

# Further targets (check, fuzz, docs, ...) live in mk/*.mk, one concern each.
-include mk/*.mk
