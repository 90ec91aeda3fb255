/* manual_clock_lua.c -- core.manual_clock: time that moves only when told,
 * for specs of the limiter (manual_clock.h; its use: core.limiter{clock =}).
 *
 *   core.manual_clock([at]) -> clock       this process's own; at (seconds,
 *                                           default 1000) is its time
 *   core.manual_clock{ at =, file =, follow = } -> clock
 *       file    a path: the time lives in that file (created 0600), so that
 *               processes opening it share it; at is written there, or
 *               without at the file's time is kept
 *       follow  true: sleeping on it waits until another process has moved
 *               the time that far (false: sleeping moves it)
 *   clock:now() -> seconds
 *   clock:advance(seconds) -> now
 *   clock:sleep(seconds)                   as a limiter on it sleeps
 *   clock:close()                          also __gc; limiters keep theirs */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../coreplus.h"
#include "manual_clock.h"

static thr_clock *thr_clock_lua_check(lua_State *L, int idx)
{
    thr_clock **c = luaL_checkudata(L, idx, THR_CLOCK_MT);
    if (*c == NULL)
        luaL_error(L, "manual clock is closed");
    return *c;
}

static double thr_clock_lua_seconds(lua_State *L, int arg)
{
    double s = luaL_checknumber(L, arg);
    if (!(s >= 0 && s < 1e9))
        luaL_argerror(L, arg, "seconds >= 0 expected");
    return s;
}

/* The options at 1: *at (-1: keep the file's), the file opened (or -1), follow. */
static int thr_clock_lua_options(lua_State *L, double *at, int *follow)
{
    const char *path;
    int fd = -1;
    *at = 1000.0;
    *follow = 0;
    if (lua_isnoneornil(L, 1))
        return -1;
    if (lua_type(L, 1) == LUA_TNUMBER) {
        *at = lua_tonumber(L, 1);
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_getfield(L, 1, "follow");
        *follow = lua_toboolean(L, -1);
        lua_getfield(L, 1, "file");
        path = lua_tostring(L, -1);
        if (!lua_isnil(L, -1) && path == NULL)
            luaL_error(L, "bad field 'file' (a path expected)");
        lua_getfield(L, 1, "at");
        if (lua_type(L, -1) == LUA_TNUMBER)
            *at = lua_tonumber(L, -1);
        else if (!lua_isnil(L, -1))
            luaL_error(L, "bad field 'at' (seconds >= 0 expected)");
        else if (path != NULL)
            *at = -1;
        if (path != NULL
            && (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
            luaL_error(L, "bad field 'file' (cannot open '%s')", path);
        lua_pop(L, 3);
    }
    if (!(*at == -1 || (*at >= 0 && *at < 1e12))) {
        if (fd >= 0)
            close(fd);
        luaL_error(L, "bad field 'at' (seconds >= 0 expected)");
    }
    return fd;
}

static int thr_clock_lua_new(lua_State *L)
{
    double at;
    int follow, fd = thr_clock_lua_options(L, &at, &follow);
    thr_clock **c = lua_newuserdata(L, sizeof *c);
    *c = thr_clock_new(at, fd, follow);
    if (*c == NULL) {
        if (fd >= 0)
            close(fd);
        return luaL_error(L, "out of memory");
    }
    luaL_getmetatable(L, THR_CLOCK_MT);
    lua_setmetatable(L, -2);
    return 1;
}

static int thr_clock_lua_now(lua_State *L)
{
    lua_pushnumber(L, thr_clock_now(thr_clock_lua_check(L, 1)));
    return 1;
}

static int thr_clock_lua_advance(lua_State *L)
{
    thr_clock *c = thr_clock_lua_check(L, 1);
    lua_pushnumber(L, thr_clock_advance(c, thr_clock_lua_seconds(L, 2)));
    return 1;
}

static int thr_clock_lua_sleep(lua_State *L)
{
    thr_clock *c = thr_clock_lua_check(L, 1);
    thr_clock_sleep(c, thr_clock_lua_seconds(L, 2));
    return 0;
}

static int thr_clock_lua_close(lua_State *L)
{
    thr_clock **c = luaL_checkudata(L, 1, THR_CLOCK_MT);
    thr_clock_release(*c);
    *c = NULL;
    return 0;
}

static int thr_clock_lua_tostring(lua_State *L)
{
    thr_clock **c = luaL_checkudata(L, 1, THR_CLOCK_MT);
    if (*c == NULL)
        lua_pushliteral(L, "coreplus.manual_clock (closed)");
    else
        lua_pushfstring(L, "coreplus.manual_clock (%f s)", thr_clock_now(*c));
    return 1;
}

static const luaL_Reg thr_clock_methods[] = {
    { "now", thr_clock_lua_now },
    { "advance", thr_clock_lua_advance },
    { "sleep", thr_clock_lua_sleep },
    { "close", thr_clock_lua_close },
    { NULL, NULL }
};

void limiter_clock_lua_register(lua_State *L)
{
    /* stack: module */
    if (luaL_newmetatable(L, THR_CLOCK_MT)) {
        lua_newtable(L);
        luaL_setfuncs(L, thr_clock_methods, 0);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, thr_clock_lua_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, thr_clock_lua_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, THR_CLOCK_MT);
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, thr_clock_lua_new);
    lua_setfield(L, -2, "manual_clock");
}
