/* limiter_lua.c -- core.limiter and the limiter object (see limiter.h).
 *
 *   core.limiter{ rate =, per =, key = nil, shared = nil, margin = }  (defaults.h)
 *   limiter:acquire([deadline]) -> waited      blocks until a slot is free; nil,
 *                                              {kind = "timeout"} when the wait
 *                                              would pass deadline (core.now() s)
 *   limiter:reserve([now]) -> delay, booking   books a slot, never blocks
 *   limiter:sent(booking [, now]) -> owed      the booked request left now
 *   limiter:rate_limited([now]) -> learnt      a request came back 429: the
 *                                              key's margin widens (thr_learn_429)
 *   limiter:stats() -> table
 *   limiter:close()                            also __gc, and __close on 5.4
 *   core.default_limit_path() -> path | nil, err   the per-user file to share
 *
 * `now` arguments are core.monotonic() seconds; they exist so that specs can
 * drive the window arithmetic without sleeping. clock = core.manual_clock()
 * (manual_clock_lua.c) runs the limiter on that clock instead: its now is
 * the default `now`, acquire's deadline is in its seconds, and every wait
 * (the slot, the shared file's lock) sleeps on it, so a spec never sleeps.
 * core.request refuses such a limiter: it times real requests.
 *
 * rate: integer 1..512; per: seconds > 0; margin (DEFAULT_MARGIN says why
 * it is what it is) is added to per between a slot and the one rate places
 * later. Limiters with the same key (and the same shared path, or none)
 * share one window in this process. shared = path: one file holds up to 32
 * keys (stored as SHA-256, so the file never holds a token), created 0600,
 * refused when it belongs to another user or others may write it; every
 * operation takes its fcntl lock for at most THR_LOCK_WAIT and checks what it
 * reads (file.h). A pending booking holds the others up only while
 * its lease runs (limiter.h), so a process that dies or is stopped costs
 * them at most THR_LEASE. Processes sharing a file each enforce their own
 * rate/per against the common history: give them the same figures.
 *
 * stats() -> { rate, per, margin, learnt_margin, key, shared, granted,
 *              cancelled, pending, relets, waited_total, last_sent }
 * (learnt_margin: seconds the window adds to margin now, learnt from 429s;
 * counters are the window's,
 * i.e. of every limiter sharing it; last_sent is core.monotonic() time;
 * pending counts bookings whose lease runs; relets, this process's bookings
 * made again after their lease ran out). A shared file adds file_repairs
 * (damaged values or files this process mended) and file_busy (bookings
 * made in this process's own window because the file could not be used:
 * its lock stayed taken for THR_LOCK_WAIT, logged once to stderr).
 *
 * shared = "redis://[[user]:password@]host[:port][/db]": the window lives in
 * Redis and is shared by every machine using it (redis.c; the key is
 * stored as a SHA-256 there too). Redis's clock counts, so machines with
 * skewed clocks agree; reserve's `now` is then only the base of the returned
 * delay. Options: redis_timeout (seconds, DEFAULT_REDIS_TIMEOUT: the connect and each
 * command), on_redis_error = "local" (default: book in this process's own
 * window while Redis is unreachable, logging once to stderr) or "fail"
 * (acquire and reserve return nil, err with err.kind "limiter"; core.request
 * returns that error without sending). A booking from reserve in the
 * fall-back window is a negative number; pass it to sent unchanged. stats()
 * adds redis_connected, redis_errors and redis_local (bookings made locally),
 * and its counters are this process's; shared shows the URL without password. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../coreplus.h"
#include "../defaults.h"
#include "limiter.h"
#include "path.h"
#include "redis.h"
#include "redis_url.h"

#define THR_MT "coreplus.limiter"
#define THR_POLL_MAX 0.05   /* re-check at least this often while waiting */

typedef struct thr_lua {
    thr_limit *lim;         /* NULL once closed */
    thr_config cfg;
    char *key;              /* as given (may be NULL) */
    char *path;             /* shared file or redis URL (may be NULL) */
    int redis;              /* path is a redis:// URL */
} thr_lua;

static thr_lua *thr_check(lua_State *L, int idx)
{
    thr_lua *t = luaL_checkudata(L, idx, THR_MT);
    if (t->lim == NULL)
        luaL_error(L, "limiter is closed");
    return t;
}

/* For http_lua.c: the limiter at idx, or raises naming the field. */
int thr_lua_tolimiter(lua_State *L, int idx, thr_limit **lim, thr_config *cfg)
{
    thr_lua *t = lua_touserdata(L, idx);
    int ok = 0;
    if (t != NULL && lua_getmetatable(L, idx)) {
        luaL_getmetatable(L, THR_MT);
        ok = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    if (!ok)
        return luaL_error(L, "bad field 'limiter' (a core.limiter object expected, got %s)",
                          luaL_typename(L, idx));
    if (t->lim == NULL)
        return luaL_error(L, "bad field 'limiter' (limiter is closed)");
    if (thr_clock_of(t->lim) != NULL)
        return luaL_error(L, "bad field 'limiter' (a limiter on a manual clock times no real "
                             "requests)");
    *lim = t->lim;
    *cfg = t->cfg;
    return 0;
}

static char *thr_strdup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void thr_release(thr_lua *t)
{
    if (t->lim != NULL)
        thr_close(t->lim);
    t->lim = NULL;
    free(t->key);
    free(t->path);
    t->key = t->path = NULL;
}

/* rate, per, margin of the options at 1 (raises naming the bad one) */
static void thr_lua_read_config(lua_State *L, thr_config *cfg)
{
    lua_Number rate = compat_optnumfield(L, 1, "rate", DEFAULT_RATE);
    lua_Number per = compat_optnumfield(L, 1, "per", DEFAULT_PER);
    lua_Number margin = compat_optnumfield(L, 1, "margin", DEFAULT_MARGIN);
    int own_margin;
    lua_getfield(L, 1, "margin");
    own_margin = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (!(rate >= 1 && rate <= THR_MAX_RATE) || rate != floor(rate))
        luaL_error(L, "bad field 'rate' (an integer from 1 to %d expected)", THR_MAX_RATE);
    if (!(per > 0 && per <= 86400))
        luaL_error(L, "bad field 'per' (seconds > 0 expected)");
    /* name the option the caller gave: a tiny per is refused for itself */
    if (!own_margin && !(margin < per))
        luaL_error(L, "bad field 'per' (seconds above the margin, %f s, expected)", margin);
    if (!(margin >= 0 && margin < per))
        luaL_error(L, "bad field 'margin' (seconds >= 0 and < per expected)");
    cfg->rate = (int)rate;
    cfg->per = per;
    cfg->margin = margin;
}

/* key and shared, copied into t at once (a field computed by __index is
 * not kept); returns the key's length */
static size_t thr_lua_read_where(lua_State *L, thr_lua *t)
{
    size_t keylen = 0, plen = 0;
    const char *key = compat_optstrfield(L, 1, "key", &keylen);
    const char *path;
    if (key != NULL && (t->key = thr_strdup(key, keylen)) == NULL)
        luaL_error(L, "out of memory");
    path = compat_optstrfield(L, 1, "shared", &plen);
    if (path != NULL && (t->path = thr_strdup(path, plen)) == NULL)
        luaL_error(L, "out of memory");
    if (path != NULL && (plen == 0 || strlen(t->path) != plen))
        luaL_error(L, "bad field 'shared' (a file path expected)");
    /* any scheme:// is a URL (refused by name unless Redis's), never a path */
    t->redis = path != NULL && redis_url_is_url(t->path);
    return keylen;
}

/* The clock option: a manual clock, or NULL for the real one. */
static thr_clock *thr_lua_read_clock(lua_State *L, int redis)
{
    thr_clock **c;
    lua_getfield(L, 1, "clock");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    c = luaL_testudata(L, -1, THR_CLOCK_MT);
    if (c == NULL || *c == NULL)
        luaL_error(L, "bad field 'clock' (an open core.manual_clock expected)");
    if (redis)
        luaL_error(L, "bad field 'clock' (a window in Redis runs on Redis's clock)");
    lua_pop(L, 1);
    return *c;   /* the limiter retains it */
}

/* The Redis options, copied (a field computed by __index is not kept). */
typedef struct thr_lua_redis {
    thr_redis_opts o;
    char file[3][1024];
} thr_lua_redis;

/* A TLS file option into buf; *out NULL when absent. */
static void thr_lua_read_file(lua_State *L, const char *k, char *buf, const char **out)
{
    size_t n = 0;
    const char *s = compat_optstrfield(L, 1, k, &n);
    *out = NULL;
    if (s == NULL)
        return;
    if (n == 0 || n >= 1024 || strlen(s) != n)
        luaL_error(L, "bad field '%s' (a file path expected)", k);
    memcpy(buf, s, n + 1);
    *out = buf;
}

/* on_redis_error ("fail" or "local"), redis_timeout, and the TLS options
 * redis_cafile, redis_certfile, redis_keyfile, redis_insecure */
static void thr_lua_read_redis(lua_State *L, thr_lua_redis *r)
{
    const char *policy = compat_optstrfield(L, 1, "on_redis_error", NULL);
    int fail = 0;
    memset(r, 0, sizeof *r);
    if (policy != NULL)   /* compared before anything else can collect it */
        fail = strcmp(policy, "fail") == 0 ? 1 : strcmp(policy, "local") == 0 ? 0 : -1;
    r->o.timeout = compat_optnumfield(L, 1, "redis_timeout", DEFAULT_REDIS_TIMEOUT);
    if (fail < 0)
        luaL_error(L, "bad field 'on_redis_error' (\"local\" or \"fail\" expected)");
    if (!(r->o.timeout > 0 && r->o.timeout <= 60))
        luaL_error(L, "bad field 'redis_timeout' (seconds > 0 and <= 60 expected)");
    r->o.fail = fail;
    thr_lua_read_file(L, "redis_cafile", r->file[0], &r->o.cafile);
    thr_lua_read_file(L, "redis_certfile", r->file[1], &r->o.certfile);
    thr_lua_read_file(L, "redis_keyfile", r->file[2], &r->o.keyfile);
    lua_getfield(L, 1, "redis_insecure");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TBOOLEAN)
        luaL_error(L, "bad field 'redis_insecure' (boolean expected, got %s)",
                   luaL_typename(L, -1));
    r->o.insecure = lua_toboolean(L, -1);
    lua_pop(L, 1);
}

/* core.limiter{ rate=, per=, key=, shared=, margin= } -> limiter */
static int thr_lua_new(lua_State *L)
{
    thr_lua *t;
    size_t keylen;
    thr_lua_redis redis;
    thr_clock *clock;
    char err[512];

    if (lua_isnoneornil(L, 1))
        lua_newtable(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    t = lua_newuserdata(L, sizeof *t);
    memset(t, 0, sizeof *t);
    luaL_getmetatable(L, THR_MT);
    lua_setmetatable(L, -2);
    /* stack: opts limiter (collected, and its strings freed, on any error) */
    thr_lua_read_redis(L, &redis);
    keylen = thr_lua_read_where(L, t);
    thr_lua_read_config(L, &t->cfg);
    clock = thr_lua_read_clock(L, t->redis);
    if (t->redis)
        t->lim = thr_open_redis(t->key, keylen, t->path, &redis.o, err, sizeof err);
    else
        t->lim = thr_open(t->key, keylen, t->path, clock, err, sizeof err);
    if (t->lim == NULL) {
        /* a TLS file that cannot be used is named by its own field */
        char field[24];
        size_t n = strcspn(err, " ");
        if (strncmp(err, "redis_", 6) == 0 && n < sizeof field) {
            memcpy(field, err, n);
            field[n] = '\0';
            return luaL_error(L, "bad field '%s' (%s)", field, err);
        }
        return luaL_error(L, "bad field 'shared' (%s)", err);
    }
    return 1;
}

/* nil, { kind = "limiter", message = why } (the shared limit failed) */
static int thr_lua_fail(lua_State *L, thr_lua *t)
{
    char why[1024];
    thr_error(t->lim, why, sizeof why);
    return err_lua_fail(L, "limiter", why[0] ? why : "the shared limit failed");
}

/* An optional deadline argument: core.now() seconds (a manual clock's own);
 * returned on the limiter's clock, 0 when absent. */
static double thr_lua_deadline(lua_State *L, int arg, thr_clock *clock)
{
    double d;
    if (lua_isnoneornil(L, arg))
        return 0;
    d = lua_type(L, arg) == LUA_TNUMBER ? lua_tonumber(L, arg) : -1;
    if (!(d > 0 && d < 1e12))
        luaL_argerror(L, arg, "a deadline in core.now() seconds expected");
    return thr_clock_deadline(clock, d);
}

/* nil, { kind = "timeout", message = what ran out, sent = false } */
static int thr_lua_late(lua_State *L, const char *fmt, double seconds)
{
    char msg[160];
    snprintf(msg, sizeof msg, fmt, seconds);
    err_lua_fail(L, "timeout", msg);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "sent");
    return 2;
}

/* Waits for tk's slot (0), or gives up when that would pass deadline (-1,
 * *late = the wait that would have been needed). */
static int thr_lua_wait(thr_lua *t, thr_ticket *tk, double deadline, double *late)
{
    thr_clock *clock = thr_clock_of(t->lim);
    for (;;) {
        double now = thr_clock_now(clock), d = thr_ready(tk, &t->cfg, now);
        if (d <= 0)
            return 0;
        if (deadline > 0 && now + d > deadline) {
            *late = d;
            return -1;
        }
        thr_clock_sleep(clock, d < THR_POLL_MAX ? d : THR_POLL_MAX);
    }
}

/* limiter:acquire([deadline]) -> waited_seconds | nil, err
 * deadline: core.now() seconds by which the slot must have come. */
static int thr_lua_acquire(lua_State *L)
{
    thr_lua *t = thr_check(L, 1);
    thr_clock *clock = thr_clock_of(t->lim);
    double deadline = thr_lua_deadline(L, 2, clock);
    double start = thr_clock_now(clock), now, d;
    thr_ticket tk;

    if (deadline > 0 && start >= deadline)
        return thr_lua_late(L, THR_LATE_PAST, start - deadline);
    thr_reserve(t->lim, &t->cfg, start, deadline, 1, &tk);
    if (tk.failed)
        return thr_lua_fail(L, t);
    if (tk.late)
        return thr_lua_late(L, THR_LATE_LOCK, 0);
    if (thr_lua_wait(t, &tk, deadline, &d) != 0) {
        thr_cancel(&tk);
        return thr_lua_late(L, tk.late ? THR_LATE_LOCK : THR_LATE_WAIT, d);
    }
    now = thr_clock_now(clock);
    d = thr_sent(&tk, &t->cfg, now);
    if (deadline > 0 && now + d > deadline)   /* the slot stays counted */
        return thr_lua_late(L, tk.late ? THR_LATE_LOCK : THR_LATE_WAIT, d);
    thr_clock_sleep(clock, d);
    now = thr_clock_now(clock);
    thr_add_wait(t->lim, &t->cfg, (now - start) - (tk.t - start > 0 ? tk.t - start : 0), deadline);
    lua_pushnumber(L, now - start);
    return 1;
}

/* An optional injected time (monotonic seconds; default: the limiter's
 * clock): a NaN or infinity would poison a window that other processes
 * share. */
static double thr_lua_time(lua_State *L, int arg, thr_lua *t)
{
    double now;
    if (lua_isnoneornil(L, arg))
        return thr_clock_now(thr_clock_of(t->lim));
    now = luaL_checknumber(L, arg);
    if (!(now > -1e12 && now < 1e12))
        luaL_argerror(L, arg, "a finite time in seconds expected");
    return now;
}

/* limiter:reserve([now]) -> delay_seconds, booking | nil, err */
static int thr_lua_reserve(lua_State *L)
{
    thr_lua *t = thr_check(L, 1);
    double now = thr_lua_time(L, 2, t);
    thr_ticket tk;
    double at = thr_reserve(t->lim, &t->cfg, now, 0, 0, &tk);
    if (tk.failed)
        return thr_lua_fail(L, t);
    lua_pushnumber(L, at - now);
    /* a shared limiter's fall-back bookings are told apart by their sign */
    lua_pushinteger(L, thr_shared(t->lim) && tk.where == THR_AT_LOCAL ? -(lua_Integer)tk.n
                                                                       : (lua_Integer)tk.n);
    return 2;
}

/* limiter:sent(booking [, now]) -> owed_seconds
 * For callers that learn when the request really left (after connecting). */
static int thr_lua_sent(lua_State *L)
{
    thr_lua *t = thr_check(L, 1);
    lua_Number n = luaL_checknumber(L, 2);
    double now = thr_lua_time(L, 3, t);
    thr_ticket tk;
    memset(&tk, 0, sizeof tk);
    tk.cfg = t->cfg;
    if (n <= -1 || !thr_shared(t->lim)) {
        n = n < 0 ? -n : n;    /* booked in the (fall-back) local window */
        tk.where = THR_AT_LOCAL;
    } else {
        tk.where = t->redis ? THR_AT_REDIS : THR_AT_FILE;
    }
    if (!(n >= 1 && n < 9007199254740992.0) || n != floor(n))
        return luaL_argerror(L, 2, "a booking number from reserve expected");
    tk.lim = t->lim;
    tk.n = (uint64_t)n;
    lua_pushnumber(L, thr_sent(&tk, &t->cfg, now));
    return 1;
}

/* limiter:rate_limited([now]) -> learnt_margin
 * For callers that send requests themselves (core.request tells the limiter
 * by itself): a request booked here came back 429. */
static int thr_lua_rate_limited(lua_State *L)
{
    thr_lua *t = thr_check(L, 1);
    double now = thr_lua_time(L, 2, t);
    lua_pushnumber(L, thr_learn_429(t->lim, &t->cfg, now, 0));
    return 1;
}

static void thr_setint(lua_State *L, const char *k, uint64_t v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

static void thr_setnum(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

/* where the window lives, never showing a Redis password */
static void thr_lua_push_where(lua_State *L, thr_lua *t)
{
    if (t->key) {
        lua_pushstring(L, t->key);
        lua_setfield(L, -2, "key");
    }
    if (t->path) {
        char shown[1024];   /* masking never writes a password: a cut is safe */
        if (t->redis) {
            redis_url_mask(t->path, strlen(t->path), shown, sizeof shown);
            lua_pushstring(L, shown);
        } else {
            lua_pushstring(L, t->path);
        }
        lua_setfield(L, -2, "shared");
    }
}

static int thr_lua_stats(lua_State *L)
{
    thr_lua *t = thr_check(L, 1);
    thr_stats st;
    thr_get_stats(t->lim, &t->cfg, &st);
    lua_createtable(L, 0, 16);
    thr_setint(L, "rate", (uint64_t)t->cfg.rate);
    thr_setnum(L, "per", t->cfg.per);
    thr_setnum(L, "margin", t->cfg.margin);
    thr_setnum(L, "learnt_margin", st.learnt);
    thr_lua_push_where(L, t);
    if (st.redis) {
        lua_pushboolean(L, st.redis_connected);
        lua_setfield(L, -2, "redis_connected");
        thr_setint(L, "redis_errors", st.redis_errors);
        thr_setint(L, "redis_local", st.redis_local);
        thr_setint(L, "redis_repairs", st.redis_repairs);
        thr_setint(L, "redis_calls", st.redis_calls);
    }
    if (st.file) {
        thr_setint(L, "file_repairs", st.file_repairs);
        thr_setint(L, "file_busy", st.file_busy);
    }
    thr_setint(L, "granted", st.granted);
    thr_setint(L, "cancelled", st.cancelled);
    thr_setint(L, "pending", st.pending);
    thr_setint(L, "relets", st.relets);
    thr_setnum(L, "waited_total", st.waited_total);
    thr_setnum(L, "last_sent", st.last_sent);
    return 1;
}

static int thr_lua_close(lua_State *L)
{
    thr_release(luaL_checkudata(L, 1, THR_MT));
    return 0;
}

static int thr_lua_tostring(lua_State *L)
{
    thr_lua *t = luaL_checkudata(L, 1, THR_MT);
    lua_pushfstring(L, "coreplus.limiter (%d per %f s%s%s)", t->cfg.rate, t->cfg.per,
                    t->redis ? ", shared in Redis" : t->path ? ", shared" : "",
                    t->lim ? "" : ", closed");
    return 1;
}

static const luaL_Reg thr_methods[] = {
    { "acquire", thr_lua_acquire },
    { "reserve", thr_lua_reserve },
    { "sent", thr_lua_sent },
    { "rate_limited", thr_lua_rate_limited },
    { "stats", thr_lua_stats },
    { "close", thr_lua_close },
    { NULL, NULL }
};

/* core.default_limit_path([{ runtime_dir =, temp_dir = }]) -> path | nil, err
 * The per-user file that limiters share by default (path.h); the
 * options (default $XDG_RUNTIME_DIR and /tmp) exist for specs. */
static int thr_lua_default_path(lua_State *L)
{
    char path[4200], err[512];
    const char *runtime = getenv("XDG_RUNTIME_DIR"), *temp = "/tmp";
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_getfield(L, 1, "runtime_dir");   /* false: none; kept on the stack */
        if (lua_type(L, -1) == LUA_TSTRING)
            runtime = lua_tostring(L, -1);
        else if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
            runtime = NULL;
        else if (!lua_isnil(L, -1))
            return luaL_error(L, "bad field 'runtime_dir' (string or false expected)");
        lua_getfield(L, 1, "temp_dir");
        if (lua_type(L, -1) == LUA_TSTRING)
            temp = lua_tostring(L, -1);
        else if (!lua_isnil(L, -1))
            return luaL_error(L, "bad field 'temp_dir' (string expected)");
    }
    if (thr_default_path(runtime, temp, path, sizeof path, err, sizeof err) != 0)
        return err_lua_fail(L, "limiter", err);
    lua_pushstring(L, path);
    return 1;
}

static const luaL_Reg thr_funcs[] = {
    { "limiter", thr_lua_new },
    { "default_limit_path", thr_lua_default_path },
    { NULL, NULL }
};

void limiter_lua_register(lua_State *L)
{
    /* stack: module */
    if (luaL_newmetatable(L, THR_MT)) {
        lua_newtable(L);
        luaL_setfuncs(L, thr_methods, 0);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, thr_lua_close);
        lua_setfield(L, -2, "__gc");
#if COMPAT_HAS_CLOSE
        lua_pushcfunction(L, thr_lua_close);
        lua_setfield(L, -2, "__close");
#endif
        lua_pushcfunction(L, thr_lua_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, "coreplus.limiter");
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, thr_funcs, 0);
    limiter_clock_lua_register(L);
}
