/* compat.h -- the only place that knows Lua 5.1/LuaJIT from Lua 5.4.
 *
 * LuaJIT 2.1 already provides luaL_setfuncs/luaL_newlib, so the shim is keyed
 * on luaL_newlib being absent (plain Lua 5.1) rather than on the version number,
 * which would clash with LuaJIT's own declarations. */
#ifndef COREPLUS_COMPAT_H
#define COREPLUS_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502 && !defined(luaL_newlib)
static inline void compat_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup + 1, "too many upvalues");
    for (; l->name != NULL; l++) {
        int i;
        for (i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}
#define luaL_setfuncs compat_setfuncs
#define luaL_newlib(L, l) (lua_newtable(L), luaL_setfuncs(L, l, 0))
#endif

#if LUA_VERSION_NUM < 502
#define compat_rawlen(L, i) lua_objlen(L, (i))
#define COMPAT_HAS_CLOSE 0
#else
#define compat_rawlen(L, i) lua_rawlen(L, (i))
#define COMPAT_HAS_CLOSE (LUA_VERSION_NUM >= 504)
#endif

/* Reads an optional integer field of the table at index t; Lua 5.4 floats
 * with an integral value are accepted, anything else raises naming the field. */
static inline lua_Number compat_optnumfield(lua_State *L, int t, const char *k,
                                            lua_Number def)
{
    lua_Number v = def;
    lua_getfield(L, t, k);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER) {
            luaL_error(L, "bad field '%s' (number expected, got %s)", k,
                       luaL_typename(L, -1));
        }
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* Reads an optional string field; returns NULL when absent. The value is
 * popped: it stays valid only while something else holds it, and a field
 * computed by __index is held by nothing. Copy it (or check it) before the
 * next call that can run Lua or allocate. */
static inline const char *compat_optstrfield(lua_State *L, int t, const char *k,
                                             size_t *len)
{
    const char *s = NULL;
    lua_getfield(L, t, k);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING) {
            luaL_error(L, "bad field '%s' (string expected, got %s)", k,
                       luaL_typename(L, -1));
        }
        s = lua_tolstring(L, -1, len);
    } else if (len) {
        *len = 0;
    }
    lua_pop(L, 1);
    return s;
}

static inline const char *compat_reqstrfield(lua_State *L, int t, const char *k,
                                             size_t *len)
{
    const char *s = compat_optstrfield(L, t, k, len);
    if (s == NULL)
        luaL_error(L, "missing required field '%s'", k);
    return s;
}

#endif
