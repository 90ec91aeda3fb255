/* req_lua.h -- what the request bindings (http_lua.c, pipeline_lua.c) share:
 * the per-Lua-state request state, reading options, pushing outcomes. */
#ifndef COREPLUS_REQ_LUA_H
#define COREPLUS_REQ_LUA_H

#include "compat.h"
#include "http.h"
#include "sched.h"

typedef struct req_state {
    sched_env env;
    char ua[256];              /* the default User-Agent */
} req_state;

/* Pushes a new state userdata (its __gc frees it); raises when libcurl
 * cannot be set up. */
req_state *req_lua_push_state(lua_State *L);
/* Pushes a userdata owning n initialised requests (its __gc frees them, so a
 * Lua error while reading or pushing leaks nothing); returns them. */
http_req *req_lua_push_batch(lua_State *L, size_t n);
/* Reads core.request's options from the table at t into r (raises on
 * misuse, naming the field). */
void req_lua_read(lua_State *L, int t, http_req *r, const req_state *st);
/* Pushes res (returns 1) or the error table (returns 0). */
int req_lua_push(lua_State *L, http_req *r);

/* Stack: module state. Sets each function into the module, with the state
 * as its upvalue. */
static inline void req_lua_setfuncs(lua_State *L, const luaL_Reg *f)
{
    for (; f->name != NULL; f++) {
        lua_pushvalue(L, -1);
        lua_pushcclosure(L, f->func, 1);
        lua_setfield(L, -3, f->name);
    }
}

/* The bindings; each takes the module and, on top of it, the state. */
void http_lua_register(lua_State *L);
void pipeline_lua_register(lua_State *L);

#endif
