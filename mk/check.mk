# make check -- the C core under AddressSanitizer + UBSan (whole busted suite),
# valgrind memcheck (the core's specs, normal build) and a short fuzz run.
# Results print as TAP through scripts/run-tests, ending "N passed, N failed".
#   make check                 the sanitizer run, valgrind and fuzz-short
#   make check-asan            only the sanitizer run   (SPECS=... to narrow)
#   make check-valgrind        only valgrind
#   make asan-build            only build the sanitizer core.so (build/asan/)
# The ASan pass skips the specs whose work runs in processes that never load
# the ASan core.so, saying which and why (scripts/run-tests, asan_skip_reason;
# docs/decisions.md#asan-skips); SPECS=... runs the files named, skipped or not.
# SHUFFLE_SEED=N shuffles every busted run (make test and make test-fast too).
ASAN_DIR   := build/asan
ASAN_SO    := $(ASAN_DIR)/coreplus/core.so
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=undefined
# Optimised a little (the suite stays fast) but keeping frames for reports.
# Like the normal build, the flags are worked out when the recipe runs
# ($(ASAN_DIR)/flags, see scripts/build-flags in the Makefile).
ASAN_CFLAGS = -O1 -g $(SAN_FLAGS) $(WARN) $(CORE_FLAGS)

CHECK_ENV  = $(TEST_ENV) ASAN_CPATH="$(CURDIR)/$(ASAN_DIR)" \
             ASAN_PRELOAD="$(shell gcc -print-file-name=libasan.so)"

.PHONY: check check-asan check-valgrind asan-build

asan-build: $(ASAN_SO) $(ASAN_DIR)/check-preload.so

$(ASAN_DIR)/flags: FORCE
	@REDIS=$(REDIS) scripts/build-flags $@ "gcc $(ASAN_CFLAGS)" \
	    "lua5.4 libcurl libcrypto yajl" "libcurl libcrypto yajl" "-lpthread $(SAN_FLAGS)"

$(ASAN_SO): $(SRCS) $(HDRS) $(ASAN_DIR)/flags Makefile mk/check.mk
	@mkdir -p $(dir $@)
	$(call flags,$(ASAN_DIR),1) -shared -o $@ $(SRCS) $(call flags,$(ASAN_DIR),2)

check: asan-build fuzz-build
	@$(MAKE) --no-print-directory build LUA=lua5.4
	@$(CHECK_ENV) COREPLUS_TEST_STEPS="asan valgrind fuzz" FUZZ_RUNS=10000 \
	    scripts/run-tests $(SPECS)

check-asan: asan-build
	@$(MAKE) --no-print-directory build LUA=lua5.4
	@$(CHECK_ENV) COREPLUS_TEST_STEPS="asan" scripts/run-tests $(SPECS)

check-valgrind:
	@$(MAKE) --no-print-directory build LUA=lua5.4
	@$(CHECK_ENV) COREPLUS_TEST_STEPS="valgrind" scripts/run-tests

# Preloaded after libasan: gives the specs' child commands a clean environment.
$(ASAN_DIR)/check-preload.so: scripts/check-preload.c mk/check.mk
	@mkdir -p $(dir $@)
	gcc -O2 -g -Wall -Wextra -Werror -fPIC -shared -o $@ $< -ldl
