# lua-coreplus -- build, test, install.
#   make deps                 install the Debian packages (idempotent)
#   make [build] [LUA=luajit] build coreplus/core.so for Lua 5.4 or LuaJIT
#   make test                 lint, specs (Lua 5.4), LuaJIT load, ASan/UBSan, valgrind, fuzz;
#                             ends "N passed, N failed" (CI runs `make deps test`)
#   make test-fast            lint, specs, LuaJIT load only
#   make demo                 the main job against the bundled mock server
#   make bench                benchmarks (prints ratios; never part of test)
#   make install [PREFIX=/usr/local] [DESTDIR=]
LUA      ?= lua5.4
PREFIX   ?= /usr/local
DESTDIR  ?=

ifeq ($(LUA),luajit)
  LUA_PC   := luajit
  LUA_ABI  := 5.1
else
  LUA_PC   := lua5.4
  LUA_ABI  := 5.4
endif

BUILD    := build/$(LUA)
SO       := $(BUILD)/coreplus/core.so
SRCS     := $(wildcard src/*.c)
HDRS     := $(wildcard src/*.h)
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-missing-field-initializers
CFLAGS   ?= -O2 -g
ALL_CFLAGS = $(CFLAGS) $(WARN) -std=c99 -D_POSIX_C_SOURCE=200809L -fPIC \
             -fvisibility=hidden $(shell pkg-config --cflags $(LUA_PC) libcurl libcrypto)
LIBS     := $(shell pkg-config --libs libcurl libcrypto 2>/dev/null) -lhiredis -lyajl -lpthread

# Tests see the build tree first and the repository's Lua files, then the defaults.
TEST_ENV = LUA_CPATH="$(CURDIR)/build/lua5.4/?.so;;" \
           LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;" \
           PATH="$(CURDIR)/bin:$$PATH" \
           JIT_CPATH="$(CURDIR)/build/luajit"

.PHONY: all build deps test test-fast demo bench install uninstall clean rock

all: build

build: $(SO)

$(SO): $(SRCS) $(HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $(SRCS) $(LIBS)

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
	@$(TEST_ENV) $(LUA) examples/demo.lua

bench: build
	@$(TEST_ENV) $(LUA) bench/run.lua $(BENCH)

install: build
	install -d $(DESTDIR)$(PREFIX)/lib/lua/$(LUA_ABI)/coreplus
	install -m 755 $(SO) $(DESTDIR)$(PREFIX)/lib/lua/$(LUA_ABI)/coreplus/core.so
	install -d $(DESTDIR)$(PREFIX)/share/lua/$(LUA_ABI)/coreplus
	cd lua && find coreplus -name '*.lua' -exec install -D -m 644 {} \
	    $(DESTDIR)$(PREFIX)/share/lua/$(LUA_ABI)/{} \;
	install -d $(DESTDIR)$(PREFIX)/share/lua-coreplus/nginx
	install -m 644 nginx/coreplus.conf $(DESTDIR)$(PREFIX)/share/lua-coreplus/nginx/coreplus.conf
	install -d $(DESTDIR)$(PREFIX)/bin
	for f in bin/*; do [ ! -f "$$f" ] || install -m 755 "$$f" $(DESTDIR)$(PREFIX)/bin/; done

clean:
	rm -rf build src/*.o core.so coreplus/core.so

# Further targets (check, fuzz, docs, ...) live in mk/*.mk, one concern each.
-include mk/*.mk
