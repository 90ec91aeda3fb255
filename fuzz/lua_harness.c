/* lua_harness.c -- libFuzzer driver for targets written in Lua.
 *
 * Compiled once per target with -DFUZZ_SCRIPT="<name>.lua": one Lua 5.4 state
 * for the whole run, with the C core (statically linked, instrumented)
 * preloaded as coreplus.core and the repository's Lua layer on package.path;
 * cjson comes from the system's cpath. The script returns a function that is
 * called with each input as a string and raises when a property is broken
 * (the harness then aborts, which libFuzzer records as a crash with the
 * input). Lua line coverage is fed to libFuzzer through extra counters, so
 * inputs that reach new lines of the Lua code under test are kept. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

#ifndef FUZZ_TOP
#error "FUZZ_TOP (the repository) must be defined"
#endif
#ifndef FUZZ_SCRIPT
#error "FUZZ_SCRIPT must be defined"
#endif

int luaopen_coreplus_core(lua_State *L);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_COUNTERS (1u << 14)
__attribute__((section("__libfuzzer_extra_counters")))
static uint8_t fz_lua_counters[FZ_COUNTERS];

static lua_State *fz_L;
static int fz_check_ref = LUA_NOREF;

/* A line counter per (chunk, line): source strings are interned, so their
 * address identifies the chunk for the life of the state. */
static void fz_line_hook(lua_State *L, lua_Debug *ar)
{
    uintptr_t h;
    if (!lua_getinfo(L, "S", ar))
        return;
    h = (uintptr_t)ar->source * 31u + (uintptr_t)ar->currentline * 2654435761u;
    fz_lua_counters[(h ^ (h >> 15)) & (FZ_COUNTERS - 1)]++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    lua_State *L = luaL_newstate();
    (void)argc;
    (void)argv;
    luaL_openlibs(L);
    /* package.preload["coreplus.core"] = luaopen_coreplus_core */
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_coreplus_core);
    lua_setfield(L, -2, "coreplus.core");
    lua_pop(L, 1);
    lua_pushstring(L, FUZZ_TOP "/lua/?.lua;" FUZZ_TOP "/lua/?/init.lua;" FUZZ_TOP "/fuzz/?.lua");
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    /* stack: (empty) */
    if (luaL_loadfile(L, FUZZ_TOP "/fuzz/" FUZZ_SCRIPT) != LUA_OK
        || lua_pcall(L, 0, 1, 0) != LUA_OK || !lua_isfunction(L, -1)) {
        fprintf(stderr, "fuzz: cannot load %s: %s\n", FUZZ_SCRIPT,
                lua_isstring(L, -1) ? lua_tostring(L, -1) : "no function returned");
        exit(2);
    }
    fz_check_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_sethook(L, fz_line_hook, LUA_MASKLINE, 0);
    fz_L = L;
    return 0;
}

static int fz_traceback(lua_State *L)
{
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_State *L = fz_L;
    int top = lua_gettop(L);
    lua_pushcfunction(L, fz_traceback);
    lua_rawgeti(L, LUA_REGISTRYINDEX, fz_check_ref);
    lua_pushlstring(L, (const char *)data, size);
    /* stack: traceback check input */
    if (lua_pcall(L, 1, 0, top + 1) != LUA_OK) {
        fprintf(stderr, "fuzz: property broken: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_settop(L, top);
    /* Keep memory flat across millions of runs (and leak checks honest). */
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
