/* http_lua.c -- core.request and core.request_many (see http.h).
 *
 * Options are read (and every string copied) into C before libcurl runs; the
 * transfer collects into C buffers; the result is pushed afterwards. Requests
 * live in a "batch" userdata whose __gc frees them, so a Lua error raised
 * while reading options or pushing results leaks nothing.
 *
 * Per Lua state there is one http state (an upvalue of both functions): the
 * share handle (connections, DNS, TLS sessions), a multi handle and a pool of
 * easy handles, so connections are reused across calls.
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
 * or { error = err }, in input order. At most `concurrency` requests are
 * booked or in flight; each joins the multi handle when its limiter allows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "coreplus.h"
#include "defaults.h"
#include "http.h"
#include "jwt.h"
#include "http_lua.h"

#define HTTP_STATE_MT "coreplus.http.state"
#define HTTP_BATCH_MT "coreplus.http.batch"
#define HTTP_MAX_URL (64u << 10)
#define HTTP_MAX_CONCURRENCY 256
#define HTTP_POLL_MAX 0.1


typedef struct http_batch {
    size_t n;
    http_req *reqs;
} http_batch;

/* ===== state and batches ===== */

static int http_state_gc(lua_State *L)
{
    http_state *st = luaL_checkudata(L, 1, HTTP_STATE_MT);
    while (st->npool > 0)
        curl_easy_cleanup(st->pool[--st->npool]);
    if (st->multi != NULL)
        curl_multi_cleanup(st->multi);
    if (st->share != NULL)
        curl_share_cleanup(st->share);
    jwt_mac_free(st->mac);
    st->mac = NULL;
    st->multi = NULL;
    st->share = NULL;
    return 0;
}

CURL *http_pool_get(http_state *st)
{
    if (st->npool > 0)
        return st->pool[--st->npool];
    return curl_easy_init();
}

void http_pool_put(http_state *st, CURL *e)
{
    if (e == NULL)
        return;
    curl_easy_reset(e);
    if (st->npool < HTTP_POOL)
        st->pool[st->npool++] = e;
    else
        curl_easy_cleanup(e);
}

static int http_batch_gc(lua_State *L)
{
    http_batch *b = luaL_checkudata(L, 1, HTTP_BATCH_MT);
    size_t i;
    if (b->reqs != NULL) {
        for (i = 0; i < b->n; i++)
            http_req_free(&b->reqs[i]);
        free(b->reqs);
    }
    b->reqs = NULL;
    b->n = 0;
    return 0;
}

static http_batch *http_batch_new(lua_State *L, size_t n)
{
    http_batch *b = lua_newuserdata(L, sizeof *b);
    size_t i;
    b->n = 0;
    b->reqs = NULL;
    luaL_getmetatable(L, HTTP_BATCH_MT);
    lua_setmetatable(L, -2);
    b->reqs = calloc(n ? n : 1, sizeof *b->reqs);
    if (b->reqs == NULL)
        luaL_error(L, "out of memory");
    b->n = n;
    for (i = 0; i < n; i++)
        http_req_init(&b->reqs[i]);
    return b;
}

/* ===== options ===== */

static char *http_dup(lua_State *L, const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL)
        luaL_error(L, "out of memory");
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* An optional string field without NUL, CR or LF, copied; NULL when absent. */
static char *http_strfield(lua_State *L, int t, const char *k, int required)
{
    size_t n;
    const char *s = required ? compat_reqstrfield(L, t, k, &n)
                             : compat_optstrfield(L, t, k, &n);
    if (s == NULL)
        return NULL;
    if (!http_value_ok(s, n))
        luaL_error(L, "bad field '%s' (contains CR, LF or NUL)", k);
    return http_dup(L, s, n);
}

static double http_secfield(lua_State *L, int t, const char *k, double def)
{
    double v = compat_optnumfield(L, t, k, def);
    if (!(v > 0 && v <= 1e6))
        luaL_error(L, "bad field '%s' (seconds > 0 expected)", k);
    return v;
}

static int http_ieq(const char *a, size_t n, const char *b)
{
    size_t i;
    if (strlen(b) != n)
        return 0;
    for (i = 0; i < n; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != b[i])
            return 0;
    }
    return 1;
}

/* opts.headers: name -> value; stack: ... opts */
static void http_read_headers(lua_State *L, int t, http_req *r)
{
    lua_getfield(L, t, "headers");
    /* stack: ... headers */
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (lua_type(L, -1) != LUA_TTABLE)
        luaL_error(L, "bad field 'headers' (table expected, got %s)", luaL_typename(L, -1));
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
        /* stack: ... headers name value */
        size_t nlen, vlen;
        const char *name, *value;
        char *line;
        struct curl_slist *nl;
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "bad field 'headers' (names must be strings)");
        name = lua_tolstring(L, -2, &nlen);
        if (!http_token_ok(name, nlen) || nlen > 256)
            luaL_error(L, "bad field 'headers' (invalid header name)");
        if (lua_type(L, -1) == LUA_TNUMBER) {
            lua_pushvalue(L, -1);
            value = lua_tolstring(L, -1, &vlen);   /* converts the copy only */
            lua_replace(L, -2);
        } else if (lua_type(L, -1) == LUA_TSTRING) {
            value = lua_tolstring(L, -1, &vlen);
        } else {
            luaL_error(L, "bad field 'headers' (value of '%s' must be a string)", name);
            return;
        }
        if (!http_value_ok(value, vlen))
            luaL_error(L, "bad field 'headers' (value of '%s' contains CR, LF or NUL)", name);
        if (http_ieq(name, nlen, "authorization") && r->consumer_id != NULL)
            luaL_error(L, "bad field 'headers' (Authorization conflicts with credentials)");
        if (http_ieq(name, nlen, "content-type"))
            r->has_ctype = 1;
        else if (http_ieq(name, nlen, "accept"))
            r->has_accept = 1;
        else if (http_ieq(name, nlen, "user-agent"))
            r->has_ua = 1;
        line = malloc(nlen + vlen + 3);
        if (line == NULL)
            luaL_error(L, "out of memory");
        memcpy(line, name, nlen);
        memcpy(line + nlen, ": ", 2);
        memcpy(line + nlen + 2, value, vlen);
        line[nlen + 2 + vlen] = '\0';
        if (vlen == 0) {
            /* libcurl's way to send an empty value: "Name;" exactly (with
             * anything after the semicolon, even a space, it sends nothing) */
            line[nlen] = ';';
            line[nlen + 1] = '\0';
        }
        nl = curl_slist_append(r->headers, line);
        free(line);
        if (nl == NULL)
            luaL_error(L, "out of memory");
        r->headers = nl;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static void http_read_credentials(lua_State *L, int t, http_req *r)
{
    int c;
    lua_getfield(L, t, "credentials");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (lua_type(L, -1) != LUA_TTABLE)
        luaL_error(L, "bad field 'credentials' (table expected, got %s)",
                   luaL_typename(L, -1));
    c = lua_gettop(L);
    r->consumer_id = http_strfield(L, c, "consumer_id", 1);
    r->secret = http_strfield(L, c, "consumer_secret", 1);
    r->access_token = http_strfield(L, c, "access_token", 1);
    lua_pop(L, 1);
}

static void http_read_resolve(lua_State *L, int t, http_req *r)
{
    size_t i, n;
    lua_getfield(L, t, "resolve");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (lua_type(L, -1) != LUA_TTABLE)
        luaL_error(L, "bad field 'resolve' (a list of \"host:port:address\" expected)");
    n = compat_rawlen(L, -1);
    for (i = 1; i <= n; i++) {
        size_t len;
        const char *s;
        struct curl_slist *nl;
        lua_rawgeti(L, -1, (int)i);
        s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
        if (s == NULL || !http_value_ok(s, len) || len > 1024)
            luaL_error(L, "bad field 'resolve' (a list of \"host:port:address\" expected)");
        nl = curl_slist_append(r->resolve, s);
        if (nl == NULL)
            luaL_error(L, "out of memory");
        r->resolve = nl;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

void http_read_opts(lua_State *L, int t, http_req *r, const http_state *st)
{
    size_t n, i;
    const char *s;
    double v;

    char method[JWT_METHOD_MAX + 1];
    jwt_claims c;
    const char *bad;

    s = compat_optstrfield(L, t, "method", &n);
    if (jwt_method(s ? s : "GET", s ? n : 3, method) != 0)
        luaL_error(L, "bad field 'method' (an HTTP method such as GET expected)");
    r->method = http_dup(L, method, strlen(method));

    s = compat_reqstrfield(L, t, "url", &n);
    if (n > HTTP_MAX_URL)
        luaL_error(L, "bad field 'url' (longer than %d bytes)", (int)HTTP_MAX_URL);
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            luaL_error(L, "bad field 'url' (contains a space or a control character)");
    }
    if (!(n > 7 && http_ieq(s, 7, "http://")) && !(n > 8 && http_ieq(s, 8, "https://")))
        luaL_error(L, "bad field 'url' (an absolute http:// or https:// URL expected)");
    r->url = http_dup(L, s, n);

    s = compat_optstrfield(L, t, "body", &n);
    if (s != NULL) {
        r->body = http_dup(L, s, n);
        r->body_len = n;
    }

    http_read_credentials(L, t, r);
    http_read_headers(L, t, r);
    r->issuer = http_strfield(L, t, "issuer", 0);       /* NULL: the default */
    r->audience = http_strfield(L, t, "audience", 0);
    v = compat_optnumfield(L, t, "now_offset", 0);
    if (!(v > -1e9 && v < 1e9))
        luaL_error(L, "bad field 'now_offset' (seconds expected)");
    r->now_offset = v;
    /* the claims check of core.sign, before anything is sent */
    if ((bad = http_claims(r, clock_wall() + r->now_offset, &c, method)) != NULL)
        luaL_error(L, "%s", bad);
    r->timeout = http_secfield(L, t, "timeout", DEFAULT_TIMEOUT);
    r->connect_timeout = http_secfield(L, t, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
    r->cafile = http_strfield(L, t, "cafile", 0);
    r->capath = http_strfield(L, t, "capath", 0);

    lua_getfield(L, t, "insecure");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TBOOLEAN)
        luaL_error(L, "bad field 'insecure' (boolean expected, got %s)", luaL_typename(L, -1));
    r->insecure = lua_toboolean(L, -1);
    lua_pop(L, 1);

    r->user_agent = http_strfield(L, t, "user_agent", 0);
    if (r->user_agent == NULL && !r->has_ua)
        r->user_agent = http_dup(L, st->ua, strlen(st->ua));

    v = compat_optnumfield(L, t, "max_body", DEFAULT_MAX_BODY);
    if (!(v >= 0 && v <= 1099511627776.0) || v != floor(v))
        luaL_error(L, "bad field 'max_body' (a byte count expected)");
    r->max_body = (size_t)v;

    http_read_resolve(L, t, r);

    lua_getfield(L, t, "limiter");
    if (!lua_isnil(L, -1)) {
        thr_lua_tolimiter(L, lua_gettop(L), &r->lim, &r->cfg);
        thr_retain(r->lim);
    }
    lua_pop(L, 1);
}

/* ===== running ===== */

/* Blocks until the limiter allows it, then runs one request. No Lua. */
static void http_run_one(http_state *st, http_req *r)
{
    CURL *e;
    CURLcode rc;
    double d;

    http_book(r, clock_monotonic());
    while ((d = http_wait_left(r, clock_monotonic())) > 0)
        clock_sleep(d < HTTP_POLL_MAX ? d : HTTP_POLL_MAX);
    e = http_pool_get(st);
    if (e == NULL) {
        r->kind = HTTP_NETWORK;
        http_finish(r, CURLE_OUT_OF_MEMORY);
        return;
    }
    if (http_prepare(r, e, st->share, st->mac) != 0) {
        http_finish(r, CURLE_FAILED_INIT);
    } else {
        rc = curl_easy_perform(e);
        http_finish(r, rc);
    }
    r->easy = NULL;
    http_pool_put(st, e);
}

/* Starts request r on the multi handle, or finishes it at once on failure. */
int http_start(http_state *st, CURLM *multi, http_req *r)
{
    CURL *e = http_pool_get(st);
    if (e == NULL) {
        http_finish(r, CURLE_OUT_OF_MEMORY);
        return -1;
    }
    if (http_prepare(r, e, st->share, st->mac) != 0) {
        http_finish(r, CURLE_FAILED_INIT);
    } else {
        curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)r);
        if (curl_multi_add_handle(multi, e) == CURLM_OK)
            return 0;
        http_finish(r, CURLE_FAILED_INIT);
    }
    r->easy = NULL;
    http_pool_put(st, e);
    return -1;
}


/* Finishes the transfers multi reports done (phase HTTP_DONE) and returns
 * their easy handles to the pool. Returns how many finished. */
int http_reap(http_state *st, CURLM *multi)
{
    CURLMsg *msg;
    int left, n = 0;
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
        CURL *e = msg->easy_handle;
        http_req *r = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
        curl_multi_remove_handle(multi, e);
        if (r != NULL) {
            http_finish(r, msg->data.result);
            r->easy = NULL;
            r->phase = HTTP_DONE;
            n++;
        }
        http_pool_put(st, e);
    }
    return n;
}

/* Runs n requests with at most conc booked or in flight; a request joins the
 * multi handle only when its limiter slot has come. No Lua. */
static void http_run_many(http_state *st, http_req *reqs, size_t n, int conc)
{
    size_t next = 0, done = 0, first = 0, i;
    int active = 0, waiting = 0, running = 0;

    while (done < n) {
        double now = clock_monotonic(), soonest = HTTP_POLL_MAX;

        while (active + waiting < conc && next < n) {
            http_book(&reqs[next], now);
            reqs[next++].phase = HTTP_WAITING;
            waiting++;
        }
        while (first < n && reqs[first].phase == HTTP_DONE)
            first++;
        for (i = first; i < next; i++) {
            http_req *r = &reqs[i];
            double d;
            if (r->phase != HTTP_WAITING)
                continue;
            d = http_wait_left(r, now);
            if (d > 0) {
                if (d < soonest)
                    soonest = d;
                continue;
            }
            waiting--;
            if (http_start(st, st->multi, r) == 0) {
                r->phase = HTTP_ACTIVE;
                active++;
            } else {
                r->phase = HTTP_DONE;
                done++;
            }
        }

        if (active > 0) {
            int reaped;
            curl_multi_perform(st->multi, &running);
            reaped = http_reap(st, st->multi);
            active -= reaped;
            done += (size_t)reaped;
        }
        if (done >= n)
            break;
        if (active + waiting < conc && next < n)
            continue;    /* slots freed: book the next ones at once */
        if (active > 0) {
            int ms = (int)ceil(soonest * 1000.0);
            curl_multi_poll(st->multi, NULL, 0, ms < 1 ? 1 : ms, NULL);
        } else if (waiting > 0) {
            clock_sleep(soonest);
        }
    }
}

/* ===== results ===== */

static void http_push_headers(lua_State *L, http_req *r)
{
    http_header *h = lua_newuserdata(L, HTTP_MAX_HEADERS * sizeof *h);
    int status, n, i;
    /* stack: ... scratch */
    n = http_parse_headers(r->resp_head.p ? r->resp_head.p : (char *)"", r->resp_head.n,
                           &status, h, HTTP_MAX_HEADERS);
    lua_createtable(L, 0, n > 0 ? n : 0);
    /* stack: ... scratch headers */
    for (i = 0; i < n; i++) {
        lua_pushlstring(L, h[i].name, h[i].name_len);
        lua_pushvalue(L, -1);
        lua_rawget(L, -3);
        /* stack: ... scratch headers name old */
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_pushlstring(L, h[i].value, h[i].value_len);
        } else {
            /* repeated fields are one list (RFC 9110 5.3) */
            lua_pushliteral(L, ", ");
            lua_pushlstring(L, h[i].value, h[i].value_len);
            lua_concat(L, 3);
        }
        lua_rawset(L, -3);
    }
    lua_remove(L, -2);   /* the scratch */
}

static void http_setnum(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void http_setint(lua_State *L, const char *k, long v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

static const char *http_version_name(long v)
{
    switch (v) {
    case CURL_HTTP_VERSION_1_0: return "1.0";
    case CURL_HTTP_VERSION_1_1: return "1.1";
    case CURL_HTTP_VERSION_2_0: return "2";
    case CURL_HTTP_VERSION_3: return "3";
    default: return NULL;
    }
}

/* Pushes the response table, or the error table when the transfer failed. */
int http_push_outcome(lua_State *L, http_req *r)
{
    const char *ver;
    if (r->kind != HTTP_OK) {
        if (r->kind == HTTP_TOO_LARGE)
            snprintf(r->errbuf, sizeof r->errbuf,
                     "response larger than max_body (%zu bytes) or headers over %u bytes",
                     r->max_body, (unsigned)HTTP_MAX_HEAD);
        err_lua_push(L, http_kind_name(r->kind), r->errbuf);
        http_setint(L, "curl_code", (long)r->rc);
        lua_pushstring(L, curl_easy_strerror(r->rc));
        lua_setfield(L, -2, "curl_error");
        lua_pushboolean(L, r->sent);
        lua_setfield(L, -2, "sent");
        lua_pushstring(L, r->method);
        lua_setfield(L, -2, "method");
        lua_pushstring(L, r->url);
        lua_setfield(L, -2, "url");
        http_setnum(L, "elapsed", r->total_time);
        http_setnum(L, "waited", r->waited);
        return 0;
    }
    lua_createtable(L, 0, 18);
    http_setint(L, "status", r->status);
    http_push_headers(L, r);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, r->resp_body.p ? r->resp_body.p : "", r->resp_body.n);
    lua_setfield(L, -2, "body");
    http_setnum(L, "elapsed", r->total_time);
    http_setnum(L, "waited", r->waited);
    http_setnum(L, "connect_time", r->connect_time);
    http_setnum(L, "tls_time", r->appconnect_time);
    http_setnum(L, "pretransfer_time", r->pretransfer_time);
    http_setnum(L, "starttransfer_time", r->starttransfer_time);
    lua_pushboolean(L, r->num_connects > 0);
    lua_setfield(L, -2, "new_connection");
    lua_pushstring(L, r->primary_ip);
    lua_setfield(L, -2, "primary_ip");
    http_setint(L, "primary_port", r->primary_port);
    http_setint(L, "local_port", r->local_port);
    ver = http_version_name(r->http_version);
    if (ver != NULL) {
        lua_pushstring(L, ver);
        lua_setfield(L, -2, "http_version");
    }
    if (r->retry_after >= 0)
        http_setint(L, "retry_after", r->retry_after);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "sent");
    return 1;
}

/* ===== Lua functions ===== */

/* core.request(opts) -> res | nil, err */
static int http_lua_request(lua_State *L)
{
    http_state *st = lua_touserdata(L, lua_upvalueindex(1));
    http_batch *b;
    http_req *r;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    b = http_batch_new(L, 1);
    /* stack: opts batch */
    r = &b->reqs[0];
    http_read_opts(L, 1, r, st);
    http_run_one(st, r);
    if (http_push_outcome(L, r))
        return 1;
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

/* core.request_many(list, {concurrency=N}) -> results */
static int http_lua_request_many(lua_State *L)
{
    http_state *st = lua_touserdata(L, lua_upvalueindex(1));
    http_batch *b;
    size_t n, i;
    lua_Number conc = DEFAULT_CONCURRENCY;

    luaL_checktype(L, 1, LUA_TTABLE);
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        conc = compat_optnumfield(L, 2, "concurrency", DEFAULT_CONCURRENCY);
        if (!(conc >= 1 && conc <= HTTP_MAX_CONCURRENCY) || conc != floor(conc))
            return luaL_error(L, "bad field 'concurrency' (an integer from 1 to %d expected)",
                              HTTP_MAX_CONCURRENCY);
    }
    lua_settop(L, 2);
    n = compat_rawlen(L, 1);
    b = http_batch_new(L, n);
    /* stack: list opts batch */
    for (i = 0; i < n; i++) {
        lua_rawgeti(L, 1, (int)i + 1);
        if (lua_type(L, -1) != LUA_TTABLE)
            return luaL_error(L, "bad request #%d in list (table expected, got %s)",
                              (int)i + 1, luaL_typename(L, -1));
        http_read_opts(L, lua_gettop(L), &b->reqs[i], st);
        lua_pop(L, 1);
    }
    if (st->multi == NULL && (st->multi = curl_multi_init()) == NULL)
        return luaL_error(L, "curl_multi_init failed");
    http_run_many(st, b->reqs, n, (int)conc);

    lua_createtable(L, (int)n, 0);
    /* stack: list opts batch results */
    for (i = 0; i < n; i++) {
        if (!http_push_outcome(L, &b->reqs[i])) {
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
    http_state *st;

    /* stack: module */
    if (http_global_init() != 0)
        luaL_error(L, "curl_global_init failed");
    luaL_newmetatable(L, HTTP_BATCH_MT);
    lua_pushcfunction(L, http_batch_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);

    st = lua_newuserdata(L, sizeof *st);
    memset(st, 0, sizeof *st);
    if (luaL_newmetatable(L, HTTP_STATE_MT)) {
        lua_pushcfunction(L, http_state_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    /* stack: module state */
    st->share = http_share_new();
    if (st->share == NULL)
        luaL_error(L, "curl_share_init failed");
    st->mac = jwt_mac_new();   /* NULL: requests are signed with one-shot HMAC */

    defaults_user_agent(L, st->ua, sizeof st->ua);

    pipeline_lua_register(L, lua_gettop(L));
    luaL_setfuncs(L, http_funcs, 1);   /* the state is the upvalue */
}
