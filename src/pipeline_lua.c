/* pipeline_lua.c -- core.pipeline: requests in flight as a stream.
 *
 * request_many runs a fixed list to the end; a pager that fetches ahead needs
 * a stream instead: keep N requests in flight, take each as it completes, add
 * the next. Each pipeline has its own multi handle and shares the state's
 * connections (share handle) and easy-handle pool.
 *
 *   local p = core.pipeline{ concurrency = 4 }
 *   local id = p:add(opts)          -- opts as core.request; raises when full
 *   local id, res, err = p:next()   -- blocks until one completes; nil when empty
 *   p:pending()  p:capacity()  p:close()  (also __gc; __close on 5.4)
 *
 * Requests book their limiter slot when added, in order, and join the multi
 * handle when the slot comes. No Lua runs during a transfer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "coreplus.h"
#include "defaults.h"
#include "http.h"
#include "http_lua.h"

#define PIPE_MT "coreplus.pipeline"
#define PIPE_FREE (-1)
#define PIPE_MAX 256
#define PIPE_POLL_MAX 0.1

typedef struct pipe_t {
    http_state *st;
    int st_ref;                 /* keeps st's userdata alive (registry ref) */
    CURLM *multi;
    http_req *reqs;
    lua_Integer *ids;
    int cap;
    int used;
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
    if (p->reqs != NULL) {
        for (i = 0; i < p->cap; i++) {
            http_req *r = &p->reqs[i];
            if (r->easy != NULL) {
                curl_multi_remove_handle(p->multi, r->easy);
                /* Not back to the pool: the state may already be finalized
                 * when a Lua state closes. */
                curl_easy_cleanup(r->easy);
                r->easy = NULL;
            }
            http_req_free(r);
        }
        free(p->reqs);
        p->reqs = NULL;
    }
    free(p->ids);
    p->ids = NULL;
    luaL_unref(L, LUA_REGISTRYINDEX, p->st_ref);
    p->st_ref = LUA_NOREF;
    if (p->multi != NULL)
        curl_multi_cleanup(p->multi);
    p->multi = NULL;
    p->used = 0;
    return 0;
}

/* core.pipeline{ concurrency = 4 } */
static int pipe_new(lua_State *L)
{
    http_state *st = lua_touserdata(L, lua_upvalueindex(1));
    lua_Number conc = DEFAULT_CONCURRENCY;
    pipe_t *p;
    int i;

    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        conc = compat_optnumfield(L, 1, "concurrency", DEFAULT_CONCURRENCY);
    }
    if (!(conc >= 1 && conc <= PIPE_MAX) || conc != floor(conc))
        return luaL_error(L, "bad field 'concurrency' (an integer from 1 to %d expected)", PIPE_MAX);
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
    p->multi = curl_multi_init();
    if (p->reqs == NULL || p->ids == NULL || p->multi == NULL)
        return luaL_error(L, "out of memory creating a pipeline");
    for (i = 0; i < p->cap; i++) {
        http_req_init(&p->reqs[i]);
        p->reqs[i].phase = PIPE_FREE;
    }
    return 1;
}

/* p:add(opts) -> id */
static int pipe_add(lua_State *L)
{
    pipe_t *p = pipe_check(L);
    http_req *r = NULL;
    int i;

    luaL_checktype(L, 2, LUA_TTABLE);
    for (i = 0; i < p->cap; i++) {
        if (p->reqs[i].phase == PIPE_FREE) {
            r = &p->reqs[i];
            break;
        }
    }
    if (r == NULL)
        return luaL_error(L, "pipeline full (%d in flight): take a result with next() first", p->cap);
    /* A previous use, or a read that raised half-way, may have left copies. */
    http_req_free(r);
    http_req_init(r);
    r->phase = PIPE_FREE;
    http_read_opts(L, 2, r, p->st);
    http_book(r, clock_monotonic());
    r->phase = HTTP_WAITING;
    p->ids[i] = ++p->last_id;
    p->used++;
    lua_pushinteger(L, p->ids[i]);
    return 1;
}

/* Moves the pipeline forward until some request is done; returns its slot. */
static int pipe_run_until_done(pipe_t *p)
{
    for (;;) {
        double now = clock_monotonic(), soonest = PIPE_POLL_MAX;
        int i, active = 0, waiting = 0, running = 0;

        for (i = 0; i < p->cap; i++) {
            http_req *r = &p->reqs[i];
            double d;
            if (r->phase == HTTP_DONE)
                return i;
            if (r->phase == HTTP_ACTIVE) {
                active++;
                continue;
            }
            if (r->phase != HTTP_WAITING)
                continue;
            d = http_wait_left(r, now);
            if (d > 0) {
                waiting++;
                if (d < soonest)
                    soonest = d;
                continue;
            }
            if (http_start(p->st, p->multi, r) == 0) {
                r->phase = HTTP_ACTIVE;
                active++;
            } else {
                r->phase = HTTP_DONE;
                return i;
            }
        }
        if (active > 0) {
            curl_multi_perform(p->multi, &running);
            http_reap(p->st, p->multi);
        }
        for (i = 0; i < p->cap; i++)
            if (p->reqs[i].phase == HTTP_DONE)
                return i;
        if (active > 0) {
            int ms = (int)ceil(soonest * 1000.0);
            curl_multi_poll(p->multi, NULL, 0, ms < 1 ? 1 : ms, NULL);
        } else if (waiting > 0) {
            clock_sleep(soonest);
        } else {
            return -1;   /* nothing left: cannot happen while used > 0 */
        }
    }
}

/* p:next() -> id, res | id, nil, err | nil when nothing is pending */
static int pipe_next(lua_State *L)
{
    pipe_t *p = pipe_check(L);
    int slot;
    http_req *r;

    lua_settop(L, 1);   /* results are counted from the stack: no stray args */

    if (p->used == 0) {
        lua_pushnil(L);
        return 1;
    }
    slot = pipe_run_until_done(p);
    if (slot < 0) {
        lua_pushnil(L);
        return 1;
    }
    r = &p->reqs[slot];
    lua_pushinteger(L, p->ids[slot]);
    if (http_push_outcome(L, r)) {
        /* stack: self id res */
    } else {
        lua_pushnil(L);
        lua_insert(L, -2);
        /* stack: self id nil err */
    }
    http_req_free(r);   /* the result is in Lua now: free its copies at once */
    http_req_init(r);
    r->phase = PIPE_FREE;
    p->used--;
    return lua_gettop(L) - 1;
}

static int pipe_pending(lua_State *L)
{
    pipe_t *p = luaL_checkudata(L, 1, PIPE_MT);
    lua_pushinteger(L, p->used);
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

void pipeline_lua_register(lua_State *L, int state_index)
{
    /* stack: module ... state */
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

    lua_pushvalue(L, state_index);
    lua_pushcclosure(L, pipe_new, 1);
    lua_setfield(L, -3, "pipeline");   /* module is just below the state */
}
