/* redis_lua.c -- Redis URLs for Lua, and what the OpenResty transport needs
 * from redis.c to share windows with the C core (same Redis keys, same
 * script).
 *
 *   core.redis_url(url) -> parts | nil, { kind = "malformed", message }
 *       parts = { scheme, tls, sentinel, user, password, host, port, db,
 *                 nodes = { { host =, port = }, ... }, master, shown }
 *       (redis_url.h: one reader for the C core and the ngx transport)
 *   core.mask_url(text) -> text with every URL's password as ***
 *   core._private.redis_limiter_key(key) -> the Redis key of key's window
 *   core._private.redis_limiter_slot(name) -> the Cluster slot of a Redis key
 *   core._private.redis_tag() -> a new owner tag (16 hex digits)
 *   core._private.redis_limiter_script    the script's text
 * (_private: internal, not part of the public interface.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../coreplus.h"
#include "redis.h"
#include "redis_url.h"

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

static int thr_redis_lua_slot(lua_State *L)
{
    size_t n;
    const char *key = luaL_checklstring(L, 1, &n);
    lua_pushinteger(L, thr_redis_slot(key, n));
    return 1;
}

static int thr_redis_lua_tag(lua_State *L)
{
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)thr_redis_new_tag());
    lua_pushstring(L, hex);
    return 1;
}

static void rurl_lua_node(lua_State *L, const redis_node *nd)
{
    lua_createtable(L, 0, 2);
    lua_pushstring(L, nd->host);
    lua_setfield(L, -2, "host");
    lua_pushinteger(L, nd->port);
    lua_setfield(L, -2, "port");
}

/* The parts of u as a table (the caller frees u afterwards). */
static void rurl_lua_push(lua_State *L, const redis_url *u)
{
    int i;
    lua_createtable(L, 0, 12);
    lua_pushstring(L, u->tls ? (u->sentinel ? "rediss+sentinel" : "rediss")
                             : (u->sentinel ? "redis+sentinel" : "redis"));
    lua_setfield(L, -2, "scheme");
    lua_pushboolean(L, u->tls);
    lua_setfield(L, -2, "tls");
    lua_pushboolean(L, u->sentinel);
    lua_setfield(L, -2, "sentinel");
    if (u->user != NULL) {
        lua_pushstring(L, u->user);
        lua_setfield(L, -2, "user");
    }
    if (u->password != NULL) {
        lua_pushstring(L, u->password);
        lua_setfield(L, -2, "password");
    }
    lua_pushstring(L, u->nodes[0].host);
    lua_setfield(L, -2, "host");
    lua_pushinteger(L, u->nodes[0].port);
    lua_setfield(L, -2, "port");
    lua_pushinteger(L, u->db);
    lua_setfield(L, -2, "db");
    lua_createtable(L, u->nnodes, 0);
    for (i = 0; i < u->nnodes; i++) {
        rurl_lua_node(L, &u->nodes[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "nodes");
    if (u->sentinel) {
        lua_pushstring(L, u->master);
        lua_setfield(L, -2, "master");
    }
    lua_pushstring(L, u->shown);
    lua_setfield(L, -2, "shown");
}

#define RURL_MT "coreplus.redis_url"

static int rurl_lua_gc(lua_State *L)
{
    redis_url_free(luaL_checkudata(L, 1, RURL_MT));
    return 0;
}

static int rurl_lua_parse(lua_State *L)
{
    const char *url = luaL_checkstring(L, 1);
    redis_url *u;
    char err[256];
    /* the parts live in a userdata until copied out, so that a memory error
     * while pushing them still frees (and wipes) the password */
    u = lua_newuserdata(L, sizeof *u);
    memset(u, 0, sizeof *u);
    if (luaL_newmetatable(L, RURL_MT)) {
        lua_pushcfunction(L, rurl_lua_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    /* stack: url box */
    if (redis_url_parse(url, u, err, sizeof err) != 0)
        return err_lua_fail(L, "malformed", err);
    rurl_lua_push(L, u);
    redis_url_free(u);
    return 1;
}

static int rurl_lua_mask(lua_State *L)
{
    size_t n, cap;
    const char *s = luaL_checklstring(L, 1, &n);
    char *out;
    cap = redis_url_mask_cap(n);
    if ((out = malloc(cap)) == NULL)
        return luaL_error(L, "out of memory");
    n = redis_url_mask(s, n, out, cap);
    lua_pushlstring(L, out, n < cap ? n : cap - 1);
    free(out);
    return 1;
}

void limiter_redis_lua_register(lua_State *L)
{
    /* stack: module */
    lua_pushcfunction(L, rurl_lua_parse);
    lua_setfield(L, -2, "redis_url");
    lua_pushcfunction(L, rurl_lua_mask);
    lua_setfield(L, -2, "mask_url");
    lua_getfield(L, -1, "_private");
    /* stack: module private */
    lua_pushcfunction(L, thr_redis_lua_key);
    lua_setfield(L, -2, "redis_limiter_key");
    lua_pushcfunction(L, thr_redis_lua_slot);
    lua_setfield(L, -2, "redis_limiter_slot");
    lua_pushcfunction(L, thr_redis_lua_tag);
    lua_setfield(L, -2, "redis_tag");
    lua_pushstring(L, thr_redis_script);
    lua_setfield(L, -2, "redis_limiter_script");
    lua_pop(L, 1);
}
