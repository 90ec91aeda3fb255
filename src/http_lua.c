/* http_lua.c -- core.request and core.request_many (see http.h, sched.h).
 *
 * Options are read (and every string copied) into C before libcurl runs
 * (req_lua.c); the scheduler (sched.c) runs the transfers into C buffers;
 * the result is pushed afterwards. Requests live in a "batch" userdata whose
 * __gc frees them, so a Lua error raised while reading options or pushing
 * results leaks nothing.
 *
 * Per Lua state there is one request state (an upvalue of these functions
 * and of core.pipeline): the share handle (connections, DNS, TLS sessions),
 * a pool of easy handles and the HMAC context, so connections and the key
 * set-up are reused across calls.
 *
 * core.request(opts) -> res | nil, err
 *   opts.method           "GET" (default), "POST", ...: letters only, upper-cased
 *   opts.url              absolute http(s) URL, final, query included; signed as is
 *   opts.body             string or nil
 *   opts.headers          { name = value }: names are tokens; values without CR/LF/NUL.
 *                         Content-Type, Accept and User-Agent given here replace ours.
 *   opts.credentials      { consumer_id, consumer_secret, access_token }; nil: unsigned
 *   opts.issuer           iss claim (default: core.defaults.issuer)
 *   opts.audience         aud claim (default: core.defaults.audience)
 *   opts.now_offset       seconds added to the local clock for nbf/exp (the server's
 *                         clock counts; the Lua layer learns it from Date headers)
 *   opts.timeout          whole exchange, seconds; opts.connect_timeout (defaults.h)
 *   opts.deadline         core.now() seconds by which everything must be over: the
 *                         limiter's wait, the shared file's lock and the transfer
 *                         (its timeouts are clamped to what is left). A wait that
 *                         would pass it fails at once, unsent: kind "timeout",
 *                         sent = false, the message says what ran out.
 *   opts.cafile, opts.capath, opts.insecure (false; must be a boolean)
 *   opts.user_agent       default: core.defaults.user_agent
 *   opts.limiter          a core.limiter: the slot is booked before, and counted
 *                         from the moment the request really leaves
 *   opts.max_body         bytes (DEFAULT_MAX_BODY); more aborts with kind "too_large"
 *   opts.resolve          { "host:port:address", ... } (libcurl CURLOPT_RESOLVE; tests)
 * Misuse (bad types, CR/LF in the url, method, header values, user_agent) raises
 * naming the field, before anything is sent. Redirects are not followed.
 *
 * res = { status, headers (lower-case names; repeated fields joined with ", "),
 *         body, elapsed, waited (limiter), connect_time, tls_time,
 *         pretransfer_time, starttransfer_time, new_connection, primary_ip,
 *         primary_port, local_port, http_version, retry_after (seconds, when
 *         the response had Retry-After), sent = true }
 * err = { kind = "timeout" | "tls" | "network" | "too_large", message,
 *         curl_code, curl_error, sent (false: provably never reached the
 *         server), method, url, elapsed, waited }. Never the token or secret.
 *
 * core.request_many(list, { concurrency = DEFAULT_CONCURRENCY }) -> results: results[i] is res
 * or { error = err }, in input order: the scheduler is filled, and refilled
 * as each request completes, until the list is drained. At most
 * `concurrency` requests are booked or in flight; each joins the multi
 * handle when its limiter allows. */
#include <math.h>

#include "coreplus.h"
#include "defaults.h"
#include "req_lua.h"

/* Runs n requests, at most conc booked or in flight. No Lua. Returns 0, or
 * -1 when the scheduler cannot be set up (out of memory). */
static int http_run(req_state *st, http_req *reqs, size_t n, int conc)
{
    sched s;
    size_t next = 0, done = 0;
    if (sched_init(&s, &st->env, conc, 1) != 0)
        return -1;
    while (done < n) {
        while (next < n && sched_add(&s, &reqs[next]) == 0)
            next++;
        if (sched_next(&s) == NULL)
            break;   /* cannot happen: something was queued */
        done++;
    }
    sched_free(&s);
    return 0;
}

/* core.request(opts) -> res | nil, err */
static int http_lua_request(lua_State *L)
{
    req_state *st = lua_touserdata(L, lua_upvalueindex(1));
    http_req *r;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    r = req_lua_push_batch(L, 1);
    /* stack: opts batch */
    req_lua_read(L, 1, r, st);
    if (http_run(st, r, 1, 1) != 0)
        return luaL_error(L, "out of memory");
    if (req_lua_push(L, r))
        return 1;
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

static int http_concurrency(lua_State *L, int arg)
{
    lua_Number conc = DEFAULT_CONCURRENCY;
    if (!lua_isnoneornil(L, arg)) {
        luaL_checktype(L, arg, LUA_TTABLE);
        conc = compat_optnumfield(L, arg, "concurrency", DEFAULT_CONCURRENCY);
    }
    if (!(conc >= 1 && conc <= SCHED_MAX) || conc != floor(conc))
        luaL_error(L, "bad field 'concurrency' (an integer from 1 to %d expected)", SCHED_MAX);
    return (int)conc;
}

/* core.request_many(list, {concurrency=N}) -> results */
static int http_lua_request_many(lua_State *L)
{
    req_state *st = lua_touserdata(L, lua_upvalueindex(1));
    http_req *reqs;
    size_t n, i;
    int conc;

    luaL_checktype(L, 1, LUA_TTABLE);
    conc = http_concurrency(L, 2);
    lua_settop(L, 2);
    n = compat_rawlen(L, 1);
    reqs = req_lua_push_batch(L, n);
    /* stack: list opts batch */
    for (i = 0; i < n; i++) {
        lua_rawgeti(L, 1, (int)i + 1);
        if (lua_type(L, -1) != LUA_TTABLE)
            return luaL_error(L, "bad request #%d in list (table expected, got %s)",
                              (int)i + 1, luaL_typename(L, -1));
        req_lua_read(L, lua_gettop(L), &reqs[i], st);
        lua_pop(L, 1);
    }
    if (http_run(st, reqs, n, conc) != 0)
        return luaL_error(L, "out of memory");

    lua_createtable(L, (int)n, 0);
    /* stack: list opts batch results */
    for (i = 0; i < n; i++) {
        if (!req_lua_push(L, &reqs[i])) {
            lua_createtable(L, 0, 1);
            lua_insert(L, -2);
            lua_setfield(L, -2, "error");
        }
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

static const luaL_Reg http_funcs[] = {
    { "request", http_lua_request },
    { "request_many", http_lua_request_many },
    { NULL, NULL }
};

void http_lua_register(lua_State *L)
{
    req_lua_setfuncs(L, http_funcs);
}
