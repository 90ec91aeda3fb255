/* error_lua.c -- the one shape of every expected failure the core returns:
 * nil, { kind = <name>, message = <text>, ... }. The table's metatable gives
 * tostring(err) = its message, so code that prints it reads the reason. */
#include "coreplus.h"

#define ERR_MT "coreplus.core.error"

static int err_lua_tostring(lua_State *L)
{
    lua_getfield(L, 1, "message");
    if (lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 1);
        lua_pushliteral(L, "coreplus.core error");
    }
    return 1;
}

void err_lua_push(lua_State *L, const char *kind, const char *message)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    if (luaL_newmetatable(L, ERR_MT)) {
        lua_pushcfunction(L, err_lua_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_setmetatable(L, -2);
}

int err_lua_fail(lua_State *L, const char *kind, const char *message)
{
    lua_pushnil(L);
    err_lua_push(L, kind, message);
    return 2;
}
