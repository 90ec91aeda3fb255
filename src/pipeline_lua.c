/* pipeline_lua.c -- core.pipeline: requests in flight as a stream.
 *
 * request_many runs a fixed list to the end; a pager that fetches ahead needs
 * a stream instead: keep N requests in flight, take each as it completes, add
 * the next. Each pipeline is a scheduler (sched.c) with its own multi handle
 * that shares the state's connections (share handle) and easy-handle pool.
 *
 *   local p = core.pipeline{ concurrency = DEFAULT_CONCURRENCY }
 *   local id = p:add(opts)          -- opts as core.request; raises when full
 *   local id, res, err = p:next()   -- blocks until one completes; nil when empty
 *   p:pending()  p:capacity()  p:close()  (also __gc; __close on 5.4)
 *
 * Requests book their limiter slot when added, in order, and join the multi
 * handle when the slot comes. No Lua runs during a transfer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coreplus.h"
#include "defaults.h"
#include "req_lua.h"

#define PIPE_MT "coreplus.pipeline"

typedef struct pipe_t {
    req_state *st;
    int st_ref;                 /* keeps st's userdata alive (registry ref) */
    sched s;
    http_req *reqs;             /* cap requests; reqs[i] is free when ids[i] == 0 */
    lua_Integer *ids;
    int cap;
    lua_Integer last_id;
} pipe_t;

static pipe_t *pipe_check(lua_State *L)
{
    pipe_t *p = luaL_checkudata(L, 1, PIPE_MT);
    if (p->reqs == NULL)
        luaL_error(L, "pipeline is closed");
    return p;
}

/* Idempotent: abandons transfers in flight and frees everything. */
static int pipe_close(lua_State *L)
{
    pipe_t *p = luaL_checkudata(L, 1, PIPE_MT);
    int i;
    sched_free(&p->s);
    if (p->reqs != NULL) {
        for (i = 0; i < p->cap; i++)
            http_req_free(&p->reqs[i]);
        free(p->reqs);
        p->reqs = NULL;
    }
    free(p->ids);
    p->ids = NULL;
    luaL_unref(L, LUA_REGISTRYINDEX, p->st_ref);
    p->st_ref = LUA_NOREF;
    return 0;
}

/* core.pipeline{ concurrency = N } */
static int pipe_new(lua_State *L)
{
    req_state *st = lua_touserdata(L, lua_upvalueindex(1));
    lua_Number conc = DEFAULT_CONCURRENCY;
    pipe_t *p;
    int i;

    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        conc = compat_optnumfield(L, 1, "concurrency", DEFAULT_CONCURRENCY);
    }
    if (!(conc >= 1 && conc <= SCHED_MAX) || conc != floor(conc))
        return luaL_error(L, "bad field 'concurrency' (an integer from 1 to %d expected)",
                          SCHED_MAX);
    p = lua_newuserdata(L, sizeof *p);
    memset(p, 0, sizeof *p);
    p->st_ref = LUA_NOREF;
    luaL_getmetatable(L, PIPE_MT);
    lua_setmetatable(L, -2);
    /* stack: [opts] pipe -- from here __gc owns whatever is allocated */
    /* p->st is a raw pointer into the state's userdata: without a reference
     * the core's functions could be collected, and the state with them,
     * while this pipeline still uses it. */
    lua_pushvalue(L, lua_upvalueindex(1));
    p->st_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    p->st = st;
    p->cap = (int)conc;
    p->reqs = calloc((size_t)p->cap, sizeof *p->reqs);
    p->ids = calloc((size_t)p->cap, sizeof *p->ids);
    if (p->reqs == NULL || p->ids == NULL || sched_init(&p->s, &st->env, p->cap, 0) != 0)
        return luaL_error(L, "out of memory creating a pipeline");
    for (i = 0; i < p->cap; i++)
        http_req_init(&p->reqs[i]);
    return 1;
}

/* p:add(opts) -> id */
static int pipe_add(lua_State *L)
{
    pipe_t *p = pipe_check(L);
    http_req *r;
    int i;

    luaL_checktype(L, 2, LUA_TTABLE);
    for (i = 0; i < p->cap && p->ids[i] != 0; i++)
        ;
    if (i == p->cap)
        return luaL_error(L, "pipeline full (%d in flight): take a result with next() first", p->cap);
    r = &p->reqs[i];
    /* A previous use, or a read that raised half-way, may have left copies. */
    http_req_free(r);
    http_req_init(r);
    req_lua_read(L, 2, r, p->st);
    sched_add(&p->s, r);   /* books the limiter slot now, in order */
    p->ids[i] = ++p->last_id;
    lua_pushinteger(L, p->ids[i]);
    return 1;
}

/* p:next() -> id, res | id, nil, err | nil when nothing is pending */
static int pipe_next(lua_State *L)
{
    pipe_t *p = pipe_check(L);
    http_req *r;
    int i;

    lua_settop(L, 1);   /* results are counted from the stack: no stray args */
    r = sched_next(&p->s);
    if (r == NULL) {
        lua_pushnil(L);
        return 1;
    }
    i = (int)(r - p->reqs);
    lua_pushinteger(L, p->ids[i]);
    if (!req_lua_push(L, r)) {
        lua_pushnil(L);
        lua_insert(L, -2);
        /* stack: self id nil err */
    }
    http_req_free(r);   /* the result is in Lua now: free its copies at once */
    http_req_init(r);
    p->ids[i] = 0;
    return lua_gettop(L) - 1;
}

static int pipe_pending(lua_State *L)
{
    pipe_t *p = luaL_checkudata(L, 1, PIPE_MT);
    lua_pushinteger(L, p->s.used);
    return 1;
}

static int pipe_capacity(lua_State *L)
{
    pipe_t *p = luaL_checkudata(L, 1, PIPE_MT);
    lua_pushinteger(L, p->cap);
    return 1;
}

static const luaL_Reg pipe_methods[] = {
    { "add", pipe_add },
    { "next", pipe_next },
    { "pending", pipe_pending },
    { "capacity", pipe_capacity },
    { "close", pipe_close },
    { NULL, NULL }
};

static const luaL_Reg pipe_funcs[] = {
    { "pipeline", pipe_new },
    { NULL, NULL }
};

void pipeline_lua_register(lua_State *L)
{
    /* stack: module state */
    luaL_newmetatable(L, PIPE_MT);
    lua_pushcfunction(L, pipe_close);
    lua_setfield(L, -2, "__gc");
#if COMPAT_HAS_CLOSE
    lua_pushcfunction(L, pipe_close);
    lua_setfield(L, -2, "__close");
#endif
    lua_newtable(L);
    luaL_setfuncs(L, pipe_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    req_lua_setfuncs(L, pipe_funcs);
}
