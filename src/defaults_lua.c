/* defaults_lua.c -- core.defaults: defaults.h as a Lua table, read by the Lua
 * layer instead of repeating the values.
 *
 *   core.defaults = { issuer, audience, token_ttl, timeout, connect_timeout,
 *                     max_body, concurrency, rate, per, margin, redis_timeout,
 *                     max_head, lease, learn_step, learn_max, learn_ease,
 *                     user_agent, idempotent = { GET = true, HEAD = true, ... },
 *                     max_rate, max_concurrency,    (the largest the core takes)
 *                     limit_file_keys }   (the keys one shared limit file holds)
 *
 * It is a fresh table per core: changing it changes nothing in C. */
#include <stdio.h>

#include <curl/curl.h>

#include "coreplus.h"
#include "defaults.h"
#include "sched.h"
#include "limiter/limiter.h"

void defaults_user_agent(lua_State *L, char *out, size_t n)
{
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    const char *luaver = LUA_VERSION;

    lua_getglobal(L, "jit");
    /* stack: ... jit */
    if (lua_type(L, -1) == LUA_TTABLE) {
        lua_getfield(L, -1, "version");
        if (lua_type(L, -1) == LUA_TSTRING)
            luaver = lua_tostring(L, -1);   /* kept alive by jit.version */
        lua_pop(L, 1);
    }
    snprintf(out, n, DEFAULT_USER_AGENT_FORMAT, COREPLUS_VERSION,
             cv && cv->version ? cv->version : "?", luaver);
    lua_pop(L, 1);
}

/* Whole numbers as integers, so that Lua 5.4 prints 45 rather than 45.0. */
static void defaults_setnum(lua_State *L, const char *k, double v)
{
    if (v == (double)(lua_Integer)v)
        lua_pushinteger(L, (lua_Integer)v);
    else
        lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void defaults_push_idempotent(lua_State *L)
{
    lua_newtable(L);
#define DEFAULTS_SET(name) lua_pushboolean(L, 1); lua_setfield(L, -2, #name);
    DEFAULT_IDEMPOTENT(DEFAULTS_SET)
#undef DEFAULTS_SET
}

void defaults_lua_register(lua_State *L)
{
    char ua[256];
    /* stack: module */
    lua_newtable(L);
    lua_pushliteral(L, DEFAULT_ISSUER);
    lua_setfield(L, -2, "issuer");
    lua_pushliteral(L, DEFAULT_AUDIENCE);
    lua_setfield(L, -2, "audience");
    defaults_setnum(L, "token_ttl", DEFAULT_TOKEN_TTL);
    defaults_setnum(L, "timeout", DEFAULT_TIMEOUT);
    defaults_setnum(L, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
    defaults_setnum(L, "max_body", DEFAULT_MAX_BODY);
    defaults_setnum(L, "concurrency", DEFAULT_CONCURRENCY);
    defaults_setnum(L, "rate", DEFAULT_RATE);
    defaults_setnum(L, "per", DEFAULT_PER);
    defaults_setnum(L, "margin", DEFAULT_MARGIN);
    defaults_setnum(L, "redis_timeout", DEFAULT_REDIS_TIMEOUT);
    defaults_setnum(L, "learn_step", DEFAULT_LEARN_STEP);
    defaults_setnum(L, "learn_max", DEFAULT_LEARN_MAX);
    defaults_setnum(L, "learn_ease", DEFAULT_LEARN_EASE);
    defaults_setnum(L, "max_head", DEFAULT_MAX_HEAD);
    defaults_setnum(L, "lease", DEFAULT_LEASE);
    defaults_setnum(L, "max_rate", THR_MAX_RATE);
    defaults_setnum(L, "max_concurrency", SCHED_MAX);
    defaults_setnum(L, "limit_file_keys", THR_FILE_KEYS);
    defaults_user_agent(L, ua, sizeof ua);
    lua_pushstring(L, ua);
    lua_setfield(L, -2, "user_agent");
    defaults_push_idempotent(L);
    lua_setfield(L, -2, "idempotent");
    /* stack: module defaults */
    lua_setfield(L, -2, "defaults");
}
