/* redis.c -- the sliding window kept in Redis (see redis.h).
 *
 * Sections: URLs, the connection, operations. The script that runs inside
 * Redis, and the window's name, are in redis_script.c. All of this
 * file needs hiredis: a build without it (-DCOREPLUS_NO_REDIS, see
 * scripts/build-flags) takes src/limiter/noredis.c instead.
 *
 * The window of a key is the hash "coreplus:limit:<sha256(key) in hex>" (the
 * key itself, which derives from credentials, never reaches Redis):
 *   next  the last booking number (HINCRBY: bookings are numbered in order)
 *   <n>   booking n: "t" = it left at t, or "t d" = booked for t and still
 *         pending (waiting, or connecting) under a lease that runs until d
 *         (limiter.h: the owner renews it, with 'ready' or 'hold'; once it
 *         has run out the booking no longer counts, and its owner books
 *         again: 'sent', 'ready' and 'hold' answer lost = 1).
 * Times are the Redis server's (TIME inside the script), so every machine
 * agrees whatever its own clock says; only delays travel to the client.
 *
 * The rule is the local limiter's (limiter.c): booking n may leave no
 * earlier than per + margin after every booking numbered n - rate or lower,
 * so any rate + 1 departures span at least per + margin in whatever order
 * they really left. A pending earlier booking counts as leaving now: its
 * slot starts when its request really leaves (sent), after TCP/TLS set-up,
 * which the server's count of arrivals needs (docs/decisions.md #21). Only the
 * 2 * rate bookings below n - rate are looked at, and older ones deleted. */
#include "redis.h"

#ifndef COREPLUS_NO_REDIS

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "../clock.h"
#include "redis_url.h"

/* ===== the connection's state ===== */

struct thr_redis {
    pthread_mutex_t mu;          /* one command at a time on the connection */
    redisContext *c;             /* NULL: not connected */
    pid_t pid;                   /* the process that made the connection */
    redis_url url;               /* where, and who (url.shown for messages) */
    char wkey[64];               /* "coreplus:limit:" + 32 hex digits */
    char sha[41];                /* SHA-1 of the script, for EVALSHA */
    double timeout;
    int fail;                    /* policy: 1 "fail", 0 "local" */
    int down;                    /* the last attempt failed */
    int warned;                  /* the fall-back was reported for this outage */
    double retry_at;             /* monotonic: no attempt before this */
    char err[1024];
    uint64_t errors, local;
};

thr_redis *thr_redis_open(const char *url, const char *key, size_t keylen,
                          double timeout, int fail, char *err, size_t errlen)
{
    thr_redis *rd = calloc(1, sizeof *rd);
    unsigned char d[32];
    unsigned int dn = 0;

    if (rd == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (pthread_mutex_init(&rd->mu, NULL) != 0) {
        free(rd);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (redis_url_parse(url, &rd->url, err, errlen) != 0) {
        thr_redis_free(rd);
        return NULL;
    }
    if (rd->url.tls || rd->url.sentinel) {
        snprintf(err, errlen, "%s: TLS and Sentinel are not supported yet", rd->url.shown);
        thr_redis_free(rd);
        return NULL;
    }
    if (EVP_Digest(thr_redis_script, strlen(thr_redis_script), d, &dn, EVP_sha1(), NULL) != 1
        || dn != 20) {
        snprintf(err, errlen, "SHA-1 failed in OpenSSL");
        thr_redis_free(rd);
        return NULL;
    }
    thr_redis_hex(d, 20, rd->sha);
    if (thr_redis_window_name(key, keylen, rd->wkey) != 0) {
        snprintf(err, errlen, "SHA-256 failed in OpenSSL");
        thr_redis_free(rd);
        return NULL;
    }
    rd->timeout = timeout;
    rd->fail = fail;
    return rd;
}

void thr_redis_free(thr_redis *rd)
{
    if (rd == NULL)
        return;
    if (rd->c != NULL)
        redisFree(rd->c);
    redis_url_free(&rd->url);
    pthread_mutex_destroy(&rd->mu);
    free(rd);
}

/* ===== the connection ===== */

static struct timeval thr_redis_tv(double s)
{
    struct timeval tv;
    tv.tv_sec = (time_t)s;
    tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
    return tv;
}

static void thr_redis_drop(thr_redis *rd)
{
    if (rd->c != NULL)
        redisFree(rd->c);
    rd->c = NULL;
}

/* A failed exchange: the connection may hold a late reply, so it goes. */
static void thr_redis_io_error(thr_redis *rd, const char *what)
{
    const char *msg = rd->c != NULL && rd->c->errstr[0] ? rd->c->errstr : "no answer";
    if (rd->c != NULL && rd->c->err == REDIS_ERR_IO
        && (strstr(msg, "temporarily unavailable") || strstr(msg, "timed out")))
        snprintf(rd->err, sizeof rd->err, "%s: %s gave no answer in %g s", rd->url.shown, what,
                 rd->timeout);
    else
        snprintf(rd->err, sizeof rd->err, "%s: %s failed: %s", rd->url.shown, what, msg);
    thr_redis_drop(rd);
}

/* Runs one command on a connected context; returns the reply or NULL (the
 * message in rd->err). An error reply is returned as is. */
static redisReply *thr_redis_cmd(thr_redis *rd, const char *what, int argc,
                                 const char **argv, const size_t *lens)
{
    redisReply *rep = redisCommandArgv(rd->c, argc, argv, lens);
    if (rep == NULL)
        thr_redis_io_error(rd, what);
    return rep;
}

/* A set-up command (AUTH, SELECT): 0, or -1 with rd->err set and the
 * connection dropped. The server's message names no password. */
static int thr_redis_setup(thr_redis *rd, const char *what, int argc, const char **argv)
{
    size_t lens[3];
    redisReply *rep;
    int i;
    for (i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if ((rep = thr_redis_cmd(rd, what, argc, argv, lens)) == NULL)
        return -1;
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(rd->err, sizeof rd->err, "%s: %s refused: %s", rd->url.shown, what, rep->str);
        freeReplyObject(rep);
        thr_redis_drop(rd);
        return -1;
    }
    freeReplyObject(rep);
    return 0;
}

static int thr_redis_connect(thr_redis *rd)
{
    struct timeval tv = thr_redis_tv(rd->timeout);
    char db[16];
    const char *argv[3];
    int argc = 0;

    rd->pid = getpid();
    rd->c = redisConnectWithTimeout(rd->url.nodes[0].host, rd->url.nodes[0].port, tv);
    if (rd->c == NULL) {
        snprintf(rd->err, sizeof rd->err, "%s: out of memory", rd->url.shown);
        return -1;
    }
    if (rd->c->err) {
        snprintf(rd->err, sizeof rd->err, "%s: cannot connect: %s", rd->url.shown, rd->c->errstr);
        thr_redis_drop(rd);
        return -1;
    }
    if (redisSetTimeout(rd->c, tv) != REDIS_OK) {
        snprintf(rd->err, sizeof rd->err, "%s: cannot set the timeout", rd->url.shown);
        thr_redis_drop(rd);
        return -1;
    }
    if (rd->url.password != NULL) {
        argv[argc++] = "AUTH";
        if (rd->url.user != NULL)
            argv[argc++] = rd->url.user;
        argv[argc++] = rd->url.password;
        if (thr_redis_setup(rd, "AUTH", argc, argv) != 0)
            return -1;
    }
    if (rd->url.db != 0) {
        snprintf(db, sizeof db, "%d", rd->url.db);
        argv[0] = "SELECT";
        argv[1] = db;
        if (thr_redis_setup(rd, "SELECT", 2, argv) != 0)
            return -1;
    }
    return 0;
}

/* ===== operations ===== */

/* What one run of the script says. */
typedef struct thr_redis_out {
    uint64_t n;
    double delay;
    int pending, lost;
} thr_redis_out;

/* A delay of the script: decimal, finite, from 0 to as far ahead as a
 * window reaches (the script's horizon). */
static int thr_redis_delay(const char *s, const thr_config *cfg, double hold, double *out)
{
    char *end;
    double v = strtod(s, &end);
    double horizon = (1024.0 / cfg->rate + 1.0) * (cfg->per + cfg->margin) + hold + 1.0;
    if (end == s || *end != '\0' || !(v >= 0 && v <= horizon))
        return -1;
    *out = v;
    return 0;
}

static int thr_redis_flag(const redisReply *r)
{
    return r->type == REDIS_REPLY_INTEGER && (r->integer == 0 || r->integer == 1);
}

/* The script's reply { n, delay, pending, lost }, every value checked: 0,
 * or -1 with rd->err set. n_in: the booking asked about (0 for reserve). */
static int thr_redis_reply(thr_redis *rd, const redisReply *rep, uint64_t n_in,
                           const thr_config *cfg, double hold, thr_redis_out *out)
{
    const redisReply *const *e = (const redisReply *const *)rep->element;
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(rd->err, sizeof rd->err, "%s: the limiter script failed: %s", rd->url.shown,
                 rep->str);
        return -1;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 4
        || e[0]->type != REDIS_REPLY_INTEGER || e[0]->integer < 1
        || e[0]->integer > 9007199254740992LL || (n_in != 0 && (uint64_t)e[0]->integer != n_in)
        || e[1]->type != REDIS_REPLY_STRING
        || thr_redis_delay(e[1]->str, cfg, hold, &out->delay) != 0
        || !thr_redis_flag(e[2]) || !thr_redis_flag(e[3])) {
        snprintf(rd->err, sizeof rd->err, "%s: unexpected reply from the limiter script",
                 rd->url.shown);
        return -1;
    }
    out->n = (uint64_t)e[0]->integer;
    out->pending = e[2]->integer == 1;
    out->lost = e[3]->integer == 1;
    return 0;
}

/* EVALSHA, then EVAL when the server does not know the script (first use on
 * this server, or after SCRIPT FLUSH: EVAL caches it). NULL: rd->err set. */
static redisReply *thr_redis_eval(thr_redis *rd, const char **argv, size_t *lens)
{
    redisReply *rep = thr_redis_cmd(rd, "EVALSHA", 10, argv, lens);
    if (rep != NULL && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(rep);
        argv[0] = "EVAL";
        lens[0] = 4;
        argv[1] = thr_redis_script;
        lens[1] = strlen(thr_redis_script);
        rep = thr_redis_cmd(rd, "EVAL", 10, argv, lens);
    }
    return rep;
}

/* Runs the script once. Called with rd->mu held. Returns 0 with *out set,
 * or -1 (rd->err set). */
static int thr_redis_run(thr_redis *rd, const char *op, uint64_t n_in, const thr_config *cfg,
                         double hold, thr_redis_out *out)
{
    char sn[32], srate[16], sper[32], smargin[32], shold[32];
    const char *argv[10];
    size_t lens[10];
    redisReply *rep;
    int i, ok;

    if (rd->c != NULL && rd->pid != getpid()) {
        /* a forked child must not talk on its parent's connection */
        redisFree(rd->c);
        rd->c = NULL;
    }
    if (rd->c == NULL && thr_redis_connect(rd) != 0)
        return -1;
    snprintf(sn, sizeof sn, "%llu", (unsigned long long)n_in);
    snprintf(srate, sizeof srate, "%d", cfg->rate);
    snprintf(sper, sizeof sper, "%.6f", cfg->per);
    snprintf(smargin, sizeof smargin, "%.6f", cfg->margin);
    snprintf(shold, sizeof shold, "%.6f", hold);
    argv[0] = "EVALSHA";
    argv[1] = rd->sha;
    argv[2] = "1";
    argv[3] = rd->wkey;
    argv[4] = op;
    argv[5] = sn;
    argv[6] = srate;
    argv[7] = sper;
    argv[8] = smargin;
    argv[9] = shold;
    for (i = 0; i < 10; i++)
        lens[i] = strlen(argv[i]);
    if ((rep = thr_redis_eval(rd, argv, lens)) == NULL)
        return -1;
    ok = thr_redis_reply(rd, rep, n_in, cfg, hold, out);
    freeReplyObject(rep);
    if (ok != 0)
        thr_redis_drop(rd);   /* a reply out of step: start afresh */
    return ok;
}

/* Runs op under the lock, applying the reconnect back-off and the policy.
 * Returns THR_REDIS_OK, THR_REDIS_LOCAL or THR_REDIS_FAIL. */
static int thr_redis_op(thr_redis *rd, const char *op, uint64_t n_in, const thr_config *cfg,
                        double hold, thr_redis_out *out)
{
    double now = clock_monotonic();
    int rc = 0;

    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&rd->mu);
    if (rd->down && rd->c == NULL && now < rd->retry_at) {
        rc = -1;   /* still down: don't pay a connect timeout on every request */
    } else if (thr_redis_run(rd, op, n_in, cfg, hold, out) != 0) {
        rc = -1;
        rd->errors++;
        rd->down = 1;
        rd->retry_at = clock_monotonic() + THR_REDIS_RETRY;
    } else if (rd->down) {
        rd->down = 0;
        if (rd->warned && !rd->fail)
            fprintf(stderr, "coreplus: the shared limit at %s answers again\n", rd->url.shown);
        rd->warned = 0;
    }
    if (rc != 0 && !rd->fail && !rd->warned) {
        /* logged once per outage; stderr because the C core has no logger */
        rd->warned = 1;
        fprintf(stderr, "coreplus: %s; limiting this process on its own until Redis "
                        "answers (on_redis_error = \"local\")\n", rd->err);
    }
    pthread_mutex_unlock(&rd->mu);
    if (rc == 0)
        return THR_REDIS_OK;
    return rd->fail ? THR_REDIS_FAIL : THR_REDIS_LOCAL;
}

int thr_redis_reserve(thr_redis *rd, const thr_config *cfg, double hold,
                      uint64_t *n, double *delay, int *pending)
{
    thr_redis_out o;
    int rc = thr_redis_op(rd, "reserve", 0, cfg, hold, &o);
    *n = o.n;
    *delay = o.delay;
    *pending = o.pending;
    return rc;
}

int thr_redis_ready(thr_redis *rd, const thr_config *cfg, uint64_t n, double hold,
                    double *delay, int *pending, int *lost)
{
    thr_redis_out o;
    int rc = thr_redis_op(rd, "ready", n, cfg, hold, &o);
    *delay = o.delay;
    *pending = o.pending;
    *lost = o.lost;
    return rc;
}

int thr_redis_hold(thr_redis *rd, const thr_config *cfg, uint64_t n, double hold, int *lost)
{
    thr_redis_out o;
    int rc = thr_redis_op(rd, "hold", n, cfg, hold, &o);
    *lost = o.lost;
    return rc;
}

int thr_redis_sent(thr_redis *rd, const thr_config *cfg, uint64_t n, double *owed, int *lost)
{
    thr_redis_out o;
    int rc = thr_redis_op(rd, "sent", n, cfg, 0, &o);
    *owed = o.delay;
    *lost = o.lost;
    return rc;
}

void thr_redis_cancel(thr_redis *rd, const thr_config *cfg, uint64_t n)
{
    thr_redis_out o;
    thr_redis_op(rd, "cancel", n, cfg, 0, &o);
}

void thr_redis_error(thr_redis *rd, char *buf, size_t len)
{
    pthread_mutex_lock(&rd->mu);
    snprintf(buf, len, "%s", rd->err);
    pthread_mutex_unlock(&rd->mu);
}

void thr_redis_counts(thr_redis *rd, uint64_t *errors, uint64_t *local, int *connected)
{
    pthread_mutex_lock(&rd->mu);
    *errors = rd->errors;
    *local = rd->local;
    *connected = rd->c != NULL;
    pthread_mutex_unlock(&rd->mu);
}

void thr_redis_count_local(thr_redis *rd)
{
    pthread_mutex_lock(&rd->mu);
    rd->local++;
    pthread_mutex_unlock(&rd->mu);
}

#else
/* Built without Redis support: noredis.c stands in. */
typedef int thr_redis_unused;
#endif
