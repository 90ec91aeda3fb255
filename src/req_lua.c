/* req_lua.c -- what core.request, core.request_many and core.pipeline share:
 * their state (sched_env and the default User-Agent), reading a request's
 * options into an http_req (every string copied, misuse raised before
 * anything is sent) and pushing its outcome back (see http_lua.c for the
 * options and fields). No libcurl transfer runs here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "coreplus.h"
#include "defaults.h"
#include "req_lua.h"

#define REQ_STATE_MT "coreplus.http.state"
#define REQ_BATCH_MT "coreplus.http.batch"
#define REQ_MAX_URL (64u << 10)

/* ===== the state and batches ===== */

static int req_state_gc(lua_State *L)
{
    req_state *st = luaL_checkudata(L, 1, REQ_STATE_MT);
    sched_env_free(&st->env);
    return 0;
}

req_state *req_lua_push_state(lua_State *L)
{
    req_state *st = lua_newuserdata(L, sizeof *st);
    memset(st, 0, sizeof *st);
    if (luaL_newmetatable(L, REQ_STATE_MT)) {
        lua_pushcfunction(L, req_state_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    /* stack: ... state (its __gc frees whatever is set up below) */
    if (sched_env_init(&st->env) != 0)
        luaL_error(L, "libcurl could not be set up (curl_global_init or curl_share_init)");
    defaults_user_agent(L, st->ua, sizeof st->ua);
    return st;
}

typedef struct req_batch {
    size_t n;
    http_req *reqs;
} req_batch;

static int req_batch_gc(lua_State *L)
{
    req_batch *b = luaL_checkudata(L, 1, REQ_BATCH_MT);
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

http_req *req_lua_push_batch(lua_State *L, size_t n)
{
    req_batch *b = lua_newuserdata(L, sizeof *b);
    size_t i;
    b->n = 0;
    b->reqs = NULL;
    if (luaL_newmetatable(L, REQ_BATCH_MT)) {
        lua_pushcfunction(L, req_batch_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    b->reqs = calloc(n ? n : 1, sizeof *b->reqs);
    if (b->reqs == NULL)
        luaL_error(L, "out of memory");
    b->n = n;
    for (i = 0; i < n; i++)
        http_req_init(&b->reqs[i]);
    return b->reqs;
}

/* ===== options ===== */

static char *req_dup(lua_State *L, const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL)
        luaL_error(L, "out of memory");
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* An optional string field without NUL, CR or LF, copied; NULL when absent. */
static char *req_strfield(lua_State *L, int t, const char *k, int required)
{
    size_t n;
    const char *s = required ? compat_reqstrfield(L, t, k, &n)
                             : compat_optstrfield(L, t, k, &n);
    if (s == NULL)
        return NULL;
    if (!http_value_ok(s, n))
        luaL_error(L, "bad field '%s' (contains CR, LF or NUL)", k);
    return req_dup(L, s, n);
}

static double req_secfield(lua_State *L, int t, const char *k, double def)
{
    double v = compat_optnumfield(L, t, k, def);
    if (!(v > 0 && v <= 1e6))
        luaL_error(L, "bad field '%s' (seconds > 0 expected)", k);
    return v;
}

static int req_ieq(const char *a, size_t n, const char *b)
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

/* "Name: value", or "Name;" for an empty value: libcurl's way to send one
 * (with anything after the semicolon, even a space, it sends nothing). */
static void req_add_header(lua_State *L, http_req *r, const char *name, size_t nlen,
                           const char *value, size_t vlen)
{
    struct curl_slist *nl;
    char *line = malloc(nlen + vlen + 3);
    if (line == NULL)
        luaL_error(L, "out of memory");
    memcpy(line, name, nlen);
    if (vlen == 0) {
        memcpy(line + nlen, ";", 2);
    } else {
        memcpy(line + nlen, ": ", 2);
        memcpy(line + nlen + 2, value, vlen);
        line[nlen + 2 + vlen] = '\0';
    }
    nl = curl_slist_append(r->headers, line);
    free(line);
    if (nl == NULL)
        luaL_error(L, "out of memory");
    r->headers = nl;
}

/* One headers entry; stack: ... headers name value */
static void req_read_header(lua_State *L, http_req *r)
{
    size_t nlen, vlen;
    const char *name, *value;
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
    if (req_ieq(name, nlen, "authorization") && r->consumer_id != NULL)
        luaL_error(L, "bad field 'headers' (Authorization conflicts with credentials)");
    if (req_ieq(name, nlen, "content-type"))
        r->has_ctype = 1;
    else if (req_ieq(name, nlen, "accept"))
        r->has_accept = 1;
    else if (req_ieq(name, nlen, "user-agent"))
        r->has_ua = 1;
    req_add_header(L, r, name, nlen, value, vlen);
}

/* opts.headers: name -> value; stack: ... opts */
static void req_read_headers(lua_State *L, int t, http_req *r)
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
        req_read_header(L, r);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static void req_read_credentials(lua_State *L, int t, http_req *r)
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
    r->consumer_id = req_strfield(L, c, "consumer_id", 1);
    r->secret = req_strfield(L, c, "consumer_secret", 1);
    r->access_token = req_strfield(L, c, "access_token", 1);
    lua_pop(L, 1);
}

static void req_read_resolve(lua_State *L, int t, http_req *r)
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

/* A multipart text field (name, filename, type): no CR, LF, NUL or '"', which
 * would break out of the part's header; NULL when absent. */
static char *req_partfield(lua_State *L, int p, const char *k, size_t i, int required)
{
    size_t n, j;
    const char *s = compat_optstrfield(L, p, k, &n);
    if (s == NULL) {
        if (required)
            luaL_error(L, "bad field 'multipart' (part %d needs a '%s')", (int)i, k);
        return NULL;
    }
    for (j = 0; j < n; j++) {
        if (s[j] == '\r' || s[j] == '\n' || s[j] == '\0' || s[j] == '"')
            luaL_error(L, "bad field 'multipart' (part %d: '%s' contains CR, LF, NUL or '\"')", (int)i, k);
    }
    if (n == 0 || n > 1024)
        luaL_error(L, "bad field 'multipart' (part %d: '%s' must be 1 to 1024 bytes)", (int)i, k);
    return req_dup(L, s, n);
}

/* opts.multipart = { {name=, data= | path=, filename=, type=}, ... }; the
 * body is then libcurl's multipart/form-data (and `body` must be absent). */
static void req_read_multipart(lua_State *L, int t, http_req *r)
{
    size_t i, n;
    lua_getfield(L, t, "multipart");
    /* stack: ... parts */
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (lua_type(L, -1) != LUA_TTABLE)
        luaL_error(L, "bad field 'multipart' (a list of parts expected, got %s)", luaL_typename(L, -1));
    if (r->body != NULL)
        luaL_error(L, "bad field 'multipart' (a request has either a body or parts, not both)");
    n = compat_rawlen(L, -1);
    if (n == 0 || n > MIME_MAX_PARTS)
        luaL_error(L, "bad field 'multipart' (1 to %d parts expected)", MIME_MAX_PARTS);
    r->parts.v = calloc(n, sizeof *r->parts.v);
    if (r->parts.v == NULL)
        luaL_error(L, "out of memory");
    r->parts.n = n;   /* freed by http_req_free, even if a part below raises */
    for (i = 1; i <= n; i++) {
        http_part *hp = &r->parts.v[i - 1];
        size_t len;
        const char *data;
        int p;
        lua_rawgeti(L, -1, (int)i);
        /* stack: ... parts part */
        if (lua_type(L, -1) != LUA_TTABLE)
            luaL_error(L, "bad field 'multipart' (part %d: table expected)", (int)i);
        p = lua_gettop(L);
        hp->name = req_partfield(L, p, "name", i, 1);
        hp->filename = req_partfield(L, p, "filename", i, 0);
        hp->type = req_partfield(L, p, "type", i, 0);
        hp->path = req_strfield(L, p, "path", 0);
        data = compat_optstrfield(L, p, "data", &len);
        if ((data == NULL) == (hp->path == NULL))
            luaL_error(L, "bad field 'multipart' (part %d: give either 'data' or 'path')", (int)i);
        if (data != NULL) {
            hp->data = req_dup(L, data, len);
            hp->data_len = len;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* method, url and body */
static void req_read_target(lua_State *L, int t, http_req *r)
{
    char method[JWT_METHOD_MAX + 1];
    size_t n, i;
    const char *s = compat_optstrfield(L, t, "method", &n);

    if (jwt_method(s ? s : "GET", s ? n : 3, method) != 0)
        luaL_error(L, "bad field 'method' (an HTTP method such as GET expected)");
    r->method = req_dup(L, method, strlen(method));

    s = compat_reqstrfield(L, t, "url", &n);
    if (n > REQ_MAX_URL)
        luaL_error(L, "bad field 'url' (longer than %d bytes)", (int)REQ_MAX_URL);
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            luaL_error(L, "bad field 'url' (contains a space or a control character)");
    }
    if (!(n > 7 && req_ieq(s, 7, "http://")) && !(n > 8 && req_ieq(s, 8, "https://")))
        luaL_error(L, "bad field 'url' (an absolute http:// or https:// URL expected)");
    r->url = req_dup(L, s, n);

    s = compat_optstrfield(L, t, "body", &n);
    if (s != NULL) {
        r->body = req_dup(L, s, n);
        r->body_len = n;
    }
}

/* credentials, issuer, audience, now_offset, then the claims check of
 * core.sign (jwt_claims_make), before anything is sent */
static void req_read_signing(lua_State *L, int t, http_req *r)
{
    char method[JWT_METHOD_MAX + 1];
    jwt_claims c;
    const char *bad;
    double v;

    req_read_credentials(L, t, r);
    r->issuer = req_strfield(L, t, "issuer", 0);       /* NULL: the default */
    r->audience = req_strfield(L, t, "audience", 0);
    v = compat_optnumfield(L, t, "now_offset", 0);
    if (!(v > -1e9 && v < 1e9))
        luaL_error(L, "bad field 'now_offset' (seconds expected)");
    r->now_offset = v;
    if ((bad = http_claims(r, clock_wall() + r->now_offset, &c, method)) != NULL)
        luaL_error(L, "%s", bad);
}

/* deadline: core.now() seconds, kept on the monotonic clock */
static void req_read_deadline(lua_State *L, int t, http_req *r)
{
    double v = compat_optnumfield(L, t, "deadline", 0);
    if (v == 0)
        return;
    if (!(v > 0 && v < 1e12))
        luaL_error(L, "bad field 'deadline' (core.now() seconds expected)");
    r->deadline = clock_deadline(v);
}

/* timeouts, TLS, User-Agent, max_body, resolve */
static void req_read_transfer(lua_State *L, int t, http_req *r, const char *ua)
{
    double v;
    req_read_deadline(L, t, r);
    r->timeout = req_secfield(L, t, "timeout", DEFAULT_TIMEOUT);
    r->connect_timeout = req_secfield(L, t, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
    r->cafile = req_strfield(L, t, "cafile", 0);
    r->capath = req_strfield(L, t, "capath", 0);

    lua_getfield(L, t, "insecure");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TBOOLEAN)
        luaL_error(L, "bad field 'insecure' (boolean expected, got %s)", luaL_typename(L, -1));
    r->insecure = lua_toboolean(L, -1);
    lua_pop(L, 1);

    r->user_agent = req_strfield(L, t, "user_agent", 0);
    if (r->user_agent == NULL && !r->has_ua)
        r->user_agent = req_dup(L, ua, strlen(ua));

    v = compat_optnumfield(L, t, "max_body", DEFAULT_MAX_BODY);
    if (!(v >= 0 && v <= 1099511627776.0) || v != floor(v))
        luaL_error(L, "bad field 'max_body' (a byte count expected)");
    r->max_body = (size_t)v;
    req_read_resolve(L, t, r);
}

void req_lua_read(lua_State *L, int t, http_req *r, const req_state *st)
{
    req_read_target(L, t, r);
    req_read_signing(L, t, r);
    req_read_headers(L, t, r);    /* after credentials: Authorization conflicts */
    req_read_transfer(L, t, r, st->ua);
    req_read_multipart(L, t, r);
    lua_getfield(L, t, "limiter");
    if (!lua_isnil(L, -1)) {
        thr_lua_tolimiter(L, lua_gettop(L), &r->lim, &r->cfg);
        thr_retain(r->lim);
    }
    lua_pop(L, 1);
}

/* ===== results ===== */

static void req_push_headers(lua_State *L, http_req *r)
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

static void req_setnum(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void req_setint(lua_State *L, const char *k, long v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

static const char *req_version_name(long v)
{
    switch (v) {
    case CURL_HTTP_VERSION_1_0: return "1.0";
    case CURL_HTTP_VERSION_1_1: return "1.1";
    case CURL_HTTP_VERSION_2_0: return "2";
    case CURL_HTTP_VERSION_3: return "3";
    default: return NULL;
    }
}

/* The error table of a failed request. */
static void req_push_error(lua_State *L, http_req *r)
{
    if (r->kind == HTTP_TOO_LARGE)
        snprintf(r->errbuf, sizeof r->errbuf,
                 "response larger than max_body (%zu bytes) or headers over %u bytes",
                 r->max_body, (unsigned)HTTP_MAX_HEAD);
    err_lua_push(L, http_kind_name(r->kind), r->errbuf);
    req_setint(L, "curl_code", (long)r->rc);
    lua_pushstring(L, curl_easy_strerror(r->rc));
    lua_setfield(L, -2, "curl_error");
    lua_pushboolean(L, r->sent);
    lua_setfield(L, -2, "sent");
    lua_pushstring(L, r->method);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, r->url);
    lua_setfield(L, -2, "url");
    req_setnum(L, "elapsed", r->total_time);
    req_setnum(L, "waited", r->waited);
}

int req_lua_push(lua_State *L, http_req *r)
{
    const char *ver;
    if (r->kind != HTTP_OK) {
        req_push_error(L, r);
        return 0;
    }
    lua_createtable(L, 0, 18);
#define REQ_SET_long req_setint
#define REQ_SET_double req_setnum
#define REQ_PUSH_INFO(type, field, info, name) REQ_SET_##type(L, name, r->field);
    HTTP_RESULT_INFO(REQ_PUSH_INFO)
#undef REQ_PUSH_INFO
#undef REQ_SET_long
#undef REQ_SET_double
    req_push_headers(L, r);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, r->resp_body.p ? r->resp_body.p : "", r->resp_body.n);
    lua_setfield(L, -2, "body");
    req_setnum(L, "waited", r->waited);
    lua_pushboolean(L, r->num_connects > 0);
    lua_setfield(L, -2, "new_connection");
    lua_pushstring(L, r->primary_ip);
    lua_setfield(L, -2, "primary_ip");
    ver = req_version_name(r->http_version);
    if (ver != NULL) {
        lua_pushstring(L, ver);
        lua_setfield(L, -2, "http_version");
    }
    if (r->retry_after >= 0)
        req_setint(L, "retry_after", r->retry_after);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "sent");
    return 1;
}

