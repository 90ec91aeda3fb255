/* http_lua.h -- what http_lua.c shares with pipeline_lua.c: the per-Lua-state
 * http state (share handle, easy-handle pool) and reading/pushing requests. */
#ifndef COREPLUS_HTTP_LUA_H
#define COREPLUS_HTTP_LUA_H

#include "compat.h"
#include "http.h"

#define HTTP_POOL 16

typedef struct http_state {
    CURLSH *share;
    jwt_mac *mac;            /* the HMAC key set-up, kept between requests */
    CURLM *multi;            /* request_many's; pipelines have their own */
    CURL *pool[HTTP_POOL];
    int npool;
    char ua[256];
} http_state;

/* Phases of a request that is run by a multi handle. */
enum { HTTP_QUEUED = 0, HTTP_WAITING, HTTP_ACTIVE, HTTP_DONE };

CURL *http_pool_get(http_state *st);
void http_pool_put(http_state *st, CURL *e);
/* Reads core.request's options from the table at t into r (raises on misuse). */
void http_read_opts(lua_State *L, int t, http_req *r, const http_state *st);
/* Pushes res (returns 1) or the error table (returns 0). */
int http_push_outcome(lua_State *L, http_req *r);
/* Adds r to multi; on failure finishes r at once and returns -1. */
int http_start(http_state *st, CURLM *multi, http_req *r);

/* Finishes what multi reports done; returns how many. */
int http_reap(http_state *st, CURLM *multi);

void pipeline_lua_register(lua_State *L, int state_index);

#endif
