/* clock_lua.c -- core.now, core.monotonic, core.sleep (see clock.h). */
#include "clock.h"
#include "coreplus.h"

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
