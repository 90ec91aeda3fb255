/* redis_lua.c -- what the OpenResty transport needs from
 * redis.c to share windows with the C core (same Redis keys, same
 * script), in core._private: internal, not part of the public interface.
 *
 *   core._private.redis_limiter_key(key) -> the Redis key of key's window
 *   core._private.redis_limiter_script    the script's text */
#include "../coreplus.h"
#include "redis.h"

static int thr_redis_lua_key(lua_State *L)
{
    size_t n = 0;
    const char *key = luaL_optlstring(L, 1, NULL, &n);
    char name[64];
    if (thr_redis_window_name(key, n, name) != 0)
        return luaL_error(L, "SHA-256 failed in OpenSSL");
    lua_pushstring(L, name);
    return 1;
}

void limiter_redis_lua_register(lua_State *L)
{
    /* stack: module */
    lua_getfield(L, -1, "_private");
    /* stack: module private */
    lua_pushcfunction(L, thr_redis_lua_key);
    lua_setfield(L, -2, "redis_limiter_key");
    lua_pushstring(L, thr_redis_script);
    lua_setfield(L, -2, "redis_limiter_script");
    lua_pop(L, 1);
}
