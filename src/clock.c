/* clock.c -- time for the limiter and for claims, and core.now / core.sleep. */
#include <errno.h>
#include <time.h>

#include "clock.h"
#include "coreplus.h"

double clock_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double clock_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void clock_sleep(double seconds)
{
    struct timespec ts;
    if (!(seconds > 0))
        return;
    if (seconds > 86400)
        seconds = 86400;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    /* Signals must not cut a throttling pause short. */
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int clock_lua_now(lua_State *L)
{
    lua_pushnumber(L, clock_wall());
    return 1;
}

static int clock_lua_monotonic(lua_State *L)
{
    lua_pushnumber(L, clock_monotonic());
    return 1;
}

static int clock_lua_sleep(lua_State *L)
{
    clock_sleep(luaL_checknumber(L, 1));
    return 0;
}

static const luaL_Reg clock_funcs[] = {
    { "now", clock_lua_now },
    { "monotonic", clock_lua_monotonic },
    { "sleep", clock_lua_sleep },
    { NULL, NULL }
};

void clock_lua_register(lua_State *L)
{
    luaL_setfuncs(L, clock_funcs, 0);
}
