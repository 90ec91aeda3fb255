/* core.c -- luaopen_coreplus_core: registration only; each unit owns its part. */
#include "coreplus.h"
#include "req_lua.h"

#if defined(__GNUC__)
#define COREPLUS_EXPORT __attribute__((visibility("default")))
#else
#define COREPLUS_EXPORT
#endif

COREPLUS_EXPORT int luaopen_coreplus_core(lua_State *L);

int luaopen_coreplus_core(lua_State *L)
{
    lua_newtable(L);
    lua_newtable(L);
    lua_setfield(L, -2, "_private");   /* internal helpers for the Lua layer */
    defaults_lua_register(L);
    jwt_lua_register(L);
    json_lua_register(L);
    clock_lua_register(L);
    signal_lua_register(L);
    limiter_lua_register(L);
    limiter_redis_lua_register(L);
    req_lua_push_state(L);     /* stack: module state, shared by the request functions */
    http_lua_register(L);
    pipeline_lua_register(L);
    lua_pop(L, 1);
    lua_pushliteral(L, COREPLUS_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
