# Fuzzing with libFuzzer (Debian's clang 14): targets in fuzz/, seed corpora
# in fuzz/corpus/<target>/, new corpus entries and crash inputs in fuzz/out/.
#   make fuzz          each target for FUZZ_RUNS (default 1,000,000) executions
#   make fuzz-short    10,000 executions each (part of make check)
#   make fuzz-build    build them only (build/fuzz/fuzz_*)
# Targets: fuzz_b64url, fuzz_claims, fuzz_headers, fuzz_ring, fuzz_redis_reply,
# fuzz_redis_url (pure C over jwt.c, http_parse.c, ring.c, redis_reply.c with
# hiredis's reader, redis_url.c),
# fuzz_jwt_decode and fuzz_query (Lua scripts fuzz/*.lua run in an embedded
# Lua 5.4 state with the core statically linked; see fuzz/lua_harness.c).
FUZZ_CC     ?= clang
FUZZ_DIR    := build/fuzz
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  = -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -std=c99 \
               -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Wno-unused-command-line-argument \
               -Isrc
# $(call flags,$(FUZZ_DIR),1|2): worked out when the recipes run (scripts/build-flags).
FUZZ_CC_LINE = $(call flags,$(FUZZ_DIR),1)
FUZZ_LIBS    = $(call flags,$(FUZZ_DIR),2)
FUZZ_CORE    = $(patsubst src/%.c,$(FUZZ_DIR)/obj/%.o,$(SRCS))
FUZZ_C       = fuzz_b64url fuzz_claims fuzz_headers fuzz_ring fuzz_redis_reply fuzz_redis_url
FUZZ_LUA     = fuzz_jwt_decode fuzz_query fuzz_json_decode
FUZZ_TARGETS = $(addprefix $(FUZZ_DIR)/,$(FUZZ_C) $(FUZZ_LUA))
FUZZ_RUNS   ?= 1000000

.PHONY: fuzz fuzz-short fuzz-build

fuzz-build: $(FUZZ_TARGETS)

$(FUZZ_DIR)/flags: FORCE
	@REDIS=$(REDIS) scripts/build-flags $@ "$(FUZZ_CC) $(FUZZ_CFLAGS)" \
	    "lua5.4 libcurl libcrypto yajl" "lua5.4 libcurl libcrypto yajl" "-lpthread -lm"

$(FUZZ_DIR)/obj/%.o: src/%.c $(HDRS) $(FUZZ_DIR)/flags mk/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC_LINE) -fsanitize=fuzzer-no-link -c -o $@ $<

$(addprefix $(FUZZ_DIR)/,$(FUZZ_C)): $(FUZZ_DIR)/%: fuzz/%.c $(FUZZ_CORE) $(FUZZ_DIR)/flags
	$(FUZZ_CC_LINE) -fsanitize=fuzzer -o $@ $< $(FUZZ_CORE) $(FUZZ_LIBS)

$(FUZZ_DIR)/fuzz_%: fuzz/lua_harness.c fuzz/%.lua $(FUZZ_CORE) $(FUZZ_DIR)/flags
	$(FUZZ_CC_LINE) -fsanitize=fuzzer -DFUZZ_TOP='"$(CURDIR)"' \
	    -DFUZZ_SCRIPT='"$*.lua"' -o $@ $< $(FUZZ_CORE) $(FUZZ_LIBS)

fuzz: fuzz-build
	@FUZZ_RUNS=$(FUZZ_RUNS) COREPLUS_TEST_STEPS=fuzz scripts/run-tests

fuzz-short: fuzz-build
	@FUZZ_RUNS=10000 COREPLUS_TEST_STEPS=fuzz scripts/run-tests
