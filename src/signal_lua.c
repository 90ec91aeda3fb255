/* signal_lua.c -- core.catch_signals, core.caught_signal, core.release_signals:
 * SIGTERM, SIGINT and SIGHUP turned into a flag, for a loop that must end
 * between two of its steps rather than in the middle of one (`coreplus sync
 * --watch` commits or drops each batch whole; a stop then waits for the
 * batch in hand).
 *
 *   core.catch_signals()   -- from now on those signals set the flag
 *   core.caught_signal()   -- "TERM" | "INT" | "HUP" | nil: the first caught
 *   core.release_signals() -- their default actions again, the flag cleared
 *
 * The handler stores the signal's number and nothing else (no Lua runs in
 * it). The same signal a second time ends the process as it would have
 * ended without the catch: a second Ctrl-C is not ignored. SA_RESTART, so
 * that libcurl's and the databases' system calls are not cut short. The
 * flag is process-wide, as signals are. */
#include <signal.h>
#include <string.h>

#include "coreplus.h"

static const struct { int sig; const char *name; } signal_names[] = {
    { SIGTERM, "TERM" }, { SIGINT, "INT" }, { SIGHUP, "HUP" },
};
#define SIGNAL_COUNT (sizeof signal_names / sizeof signal_names[0])

static volatile sig_atomic_t signal_caught = 0;

static void signal_handler(int sig)
{
    if (signal_caught == sig) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    if (signal_caught == 0)
        signal_caught = sig;
}

static int signal_set(void (*handler)(int))
{
    struct sigaction sa;
    size_t i;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < SIGNAL_COUNT; i++)
        if (sigaction(signal_names[i].sig, &sa, NULL) != 0)
            return 0;
    return 1;
}

static int signal_lua_catch(lua_State *L)
{
    if (!signal_set(signal_handler))
        return err_lua_fail(L, "signal", "sigaction failed");
    lua_pushboolean(L, 1);
    return 1;
}

static int signal_lua_release(lua_State *L)
{
    if (!signal_set(SIG_DFL))
        return err_lua_fail(L, "signal", "sigaction failed");
    signal_caught = 0;
    lua_pushboolean(L, 1);
    return 1;
}

static int signal_lua_caught(lua_State *L)
{
    int sig = signal_caught;
    size_t i;
    for (i = 0; i < SIGNAL_COUNT; i++) {
        if (signal_names[i].sig == sig) {
            lua_pushstring(L, signal_names[i].name);
            return 1;
        }
    }
    lua_pushnil(L);
    return 1;
}

static const luaL_Reg signal_funcs[] = {
    { "catch_signals", signal_lua_catch },
    { "caught_signal", signal_lua_caught },
    { "release_signals", signal_lua_release },
    { NULL, NULL }
};

void signal_lua_register(lua_State *L)
{
    luaL_setfuncs(L, signal_funcs, 0);
}
