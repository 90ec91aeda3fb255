/* redis.c -- the sliding window kept in Redis (see redis.h).
 *
 * The window of a key is the hash "coreplus:limit:{<sha256(key) in hex>}"
 * (the key itself, which derives from credentials, never reaches Redis);
 * redis_script.c says what it holds and how the script mends it. Times are
 * the Redis server's (TIME inside the script), so every machine agrees
 * whatever its own clock says; only delays travel to the client.
 *
 * The rule is the local limiter's (limiter.c): booking n may leave no
 * earlier than per + margin after every booking numbered n - rate or lower,
 * so any rate + 1 departures span at least per + margin in whatever order
 * they really left. A pending earlier booking counts as leaving now: its
 * slot starts when its request really leaves (sent), after TCP/TLS set-up,
 * which the server's count of arrivals needs (docs/decisions.md#slot-counts-from-departure).
 * The script reads the whole window (departures of the last window and the
 * bookings pending) and places a booking per + margin after the rate-th
 * latest before it.
 *
 * All of this file needs hiredis: a build without it (-DCOREPLUS_NO_REDIS,
 * see scripts/build-flags) takes src/limiter/noredis.c instead. */
#include "redis.h"

#ifndef COREPLUS_NO_REDIS

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "../clock.h"
#include "../defaults.h"
#include "redis_link.h"
#include "redis_reply.h"

#define THR_REDIS_SAY_LOCAL \
    "limiting this process on its own until Redis answers (on_redis_error = \"local\")"

struct thr_redis {
    rlink *link;                 /* the way to Redis (shared in the process) */
    char wkey[64];               /* the window's key */
    int slot;                    /* its Cluster slot */
    char sha[41];                /* SHA-1 of the script, for EVALSHA */
    double timeout;              /* each exchange, at most */
    int fail;                    /* policy: 1 "fail", 0 "local" */
    pthread_mutex_t mu;          /* guards what follows */
    char err[1024];
    uint64_t errors, local, mended, calls;
    uint64_t share_n0, share_mine;   /* the window's booking number when this
                                        count began, and this process's since */
    uint64_t share_last;         /* the latest number counted */
    double share;                /* this process's part of the window's bookings */
};

/* insecure TLS is said once per process and URL */
static void thr_redis_say_insecure(const char *shown)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static char said[8][128];
    static int n;
    int i, seen = 0;
    pthread_mutex_lock(&mu);
    for (i = 0; i < n && !seen; i++)
        seen = strncmp(said[i], shown, sizeof said[i] - 1) == 0;
    if (!seen) {
        fprintf(stderr, "coreplus: redis_insecure = true: the certificate of %s is not "
                        "checked; anyone between here and Redis can read and change the "
                        "limit's traffic\n", shown);
        if (n < 8)
            snprintf(said[n++], sizeof said[0], "%s", shown);
    }
    pthread_mutex_unlock(&mu);
}

thr_redis *thr_redis_open(const char *url, const char *key, size_t keylen,
                          const thr_redis_opts *o, char *err, size_t errlen)
{
    thr_redis *rd = calloc(1, sizeof *rd);
    rtls_opts tls;
    unsigned char d[32];
    unsigned int dn = 0;

    if (rd == NULL || pthread_mutex_init(&rd->mu, NULL) != 0) {
        free(rd);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    tls.cafile = o->cafile;
    tls.certfile = o->certfile;
    tls.keyfile = o->keyfile;
    tls.insecure = o->insecure;
    if ((rd->link = rlink_get(url, &tls, err, errlen)) == NULL) {
        thr_redis_free(rd);
        return NULL;
    }
    if (o->insecure && strncmp(rlink_shown(rd->link), "rediss", 6) == 0)
        thr_redis_say_insecure(rlink_shown(rd->link));
    if (EVP_Digest(thr_redis_script, strlen(thr_redis_script), d, &dn, EVP_sha1(), NULL) != 1
        || dn != 20 || thr_redis_window_name(key, keylen, rd->wkey) != 0) {
        snprintf(err, errlen, "a digest failed in OpenSSL");
        thr_redis_free(rd);
        return NULL;
    }
    thr_redis_hex(d, 20, rd->sha);
    rd->slot = thr_redis_slot(rd->wkey, strlen(rd->wkey));
    rd->share = 1.0;
    rd->timeout = o->timeout;
    rd->fail = o->fail;
    return rd;
}

void thr_redis_free(thr_redis *rd)
{
    if (rd == NULL)
        return;
    rlink_release(rd->link);
    pthread_mutex_destroy(&rd->mu);
    free(rd);
}

/* ===== operations ===== */

/* The longest delay the script may answer (its horizon, the widest margin
 * it may have learnt included). */
static double thr_redis_horizon(const thr_config *cfg)
{
    return (1024.0 / cfg->rate + 1.0) * (cfg->per + cfg->margin + DEFAULT_LEARN_MAX)
           + THR_REDIS_LEASE_CAP + 1.0;
}

/* Runs the script once: 0 with *out set, or -1 with why in err. */
static int thr_redis_run(thr_redis *rd, const char *op, uint64_t n_in, uint64_t tag,
                         const thr_config *cfg, double hold, double deadline,
                         rrep_window *out, char *err, size_t errlen)
{
    char sn[32], srate[16], sper[32], smargin[32], shold[32], stag[24], learn[3][32];
    const char *argv[14];
    size_t lens[14];
    redisReply *rep;
    int i, ok;

    snprintf(sn, sizeof sn, "%llu", (unsigned long long)n_in);
    snprintf(srate, sizeof srate, "%d", cfg->rate);
    snprintf(sper, sizeof sper, "%.6f", cfg->per);
    snprintf(smargin, sizeof smargin, "%.6f", cfg->margin);
    snprintf(shold, sizeof shold, "%.6f", hold);
    snprintf(stag, sizeof stag, "%016llx", (unsigned long long)tag);
    snprintf(learn[0], sizeof learn[0], "%.6f", DEFAULT_LEARN_STEP);
    snprintf(learn[1], sizeof learn[1], "%.6f", DEFAULT_LEARN_MAX);
    snprintf(learn[2], sizeof learn[2], "%.6f", DEFAULT_LEARN_EASE);
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
    argv[10] = stag;
    argv[11] = learn[0];
    argv[12] = learn[1];
    argv[13] = learn[2];
    for (i = 0; i < 14; i++)
        lens[i] = strlen(argv[i]);
    rep = rlink_script(rd->link, rd->slot, 14, argv, lens, thr_redis_script, rd->timeout,
                       deadline, err, errlen);
    if (rep == NULL)
        return -1;
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s: the limiter script failed: %.200s", rlink_shown(rd->link),
                 rep->str);
        ok = -1;
    } else if ((ok = rrep_window_read(rep, n_in, thr_redis_horizon(cfg), out)) != 0) {
        snprintf(err, errlen, "%s: unexpected reply from the limiter script",
                 rlink_shown(rd->link));
    }
    freeReplyObject(rep);
    return ok;
}

/* Runs op, counting and applying the policy: THR_REDIS_OK, THR_REDIS_LOCAL
 * or THR_REDIS_FAIL. */
static int thr_redis_op(thr_redis *rd, const char *op, uint64_t n_in, uint64_t tag,
                        const thr_config *cfg, double hold, double deadline, rrep_window *out)
{
    char err[1024];
    int rc, late;
    memset(out, 0, sizeof *out);
    err[0] = '\0';
    if (deadline > 0 && clock_monotonic() >= deadline) {
        /* the call's time is up: nothing to ask Redis, nothing to say (a
         * booking left uncancelled counts until its lease runs out) */
        snprintf(err, sizeof err, "%s: the call's deadline had passed", rlink_shown(rd->link));
        pthread_mutex_lock(&rd->mu);
        snprintf(rd->err, sizeof rd->err, "%s", err);
        pthread_mutex_unlock(&rd->mu);
        return rd->fail ? THR_REDIS_FAIL : THR_REDIS_LOCAL;
    }
    rc = thr_redis_run(rd, op, n_in, tag, cfg, hold, deadline, out, err, sizeof err);
    /* a failure because the call's own time ran out says nothing of Redis */
    late = rc != 0 && deadline > 0 && clock_monotonic() >= deadline - 0.001;
    if (!late)
        rlink_say(rd->link, rc == 0, rd->fail ? NULL : THR_REDIS_SAY_LOCAL, err);
    pthread_mutex_lock(&rd->mu);
    rd->calls++;
    if (rc == 0) {
        rd->mended += (uint64_t)out->mended;
    } else {
        rd->errors++;
        snprintf(rd->err, sizeof rd->err, "%s", err);
    }
    pthread_mutex_unlock(&rd->mu);
    if (rc == 0)
        return THR_REDIS_OK;
    return rd->fail ? THR_REDIS_FAIL : THR_REDIS_LOCAL;
}

/* Counts a booking of this process, numbered n in the window: once the
 * count spans rate numbers the share is this process's part of them; every
 * 8 x rate numbers the count starts again (and when the window did). */
static void thr_redis_count_share(thr_redis *rd, const thr_config *cfg, uint64_t n)
{
    uint64_t span;
    pthread_mutex_lock(&rd->mu);
    /* (numbers that went back by more than a window: the window restarted,
     * its numbering with it, maybe still above share_n0) */
    if (rd->share_n0 == 0 || n < rd->share_n0 || n + (uint64_t)cfg->rate < rd->share_last
        || n - rd->share_n0 >= (uint64_t)(8 * cfg->rate)) {
        rd->share_n0 = n;
        rd->share_mine = 0;
    }
    if (n > rd->share_last || n + (uint64_t)cfg->rate < rd->share_last)
        rd->share_last = n;
    rd->share_mine++;
    span = n - rd->share_n0 + 1;
    if (span >= (uint64_t)cfg->rate) {
        rd->share = (double)rd->share_mine / (double)span;
        if (rd->share > 1.0)
            rd->share = 1.0;
    }
    pthread_mutex_unlock(&rd->mu);
}

void thr_redis_share_restart(thr_redis *rd)
{
    pthread_mutex_lock(&rd->mu);
    rd->share_n0 = 0;
    pthread_mutex_unlock(&rd->mu);
}

void thr_redis_share(thr_redis *rd, const thr_config *cfg, thr_config *out)
{
    double share;
    int rate;
    pthread_mutex_lock(&rd->mu);
    share = rd->share;
    pthread_mutex_unlock(&rd->mu);
    *out = *cfg;
    rate = (int)((double)cfg->rate * share);
    out->rate = rate < 1 ? 1 : rate > cfg->rate ? cfg->rate : rate;
}

int thr_redis_reserve(thr_redis *rd, const thr_config *cfg, double hold, double deadline,
                      uint64_t *n, uint64_t *tag, double *delay, int *pending)
{
    rrep_window o;
    int rc;
    *tag = hold > 0 ? thr_redis_new_tag() : 0;
    rc = thr_redis_op(rd, "reserve", 0, *tag, cfg, hold, deadline, &o);
    if (rc == THR_REDIS_OK)
        thr_redis_count_share(rd, cfg, o.n);
    *n = o.n;
    *delay = o.delay;
    *pending = o.pending;
    return rc;
}

int thr_redis_ready(thr_redis *rd, const thr_config *cfg, uint64_t n, uint64_t tag,
                    double hold, double deadline, double *delay, int *pending, int *lost)
{
    rrep_window o;
    int rc = thr_redis_op(rd, "ready", n, tag, cfg, hold, deadline, &o);
    *delay = o.delay;
    *pending = o.pending;
    *lost = o.lost;
    return rc;
}

int thr_redis_hold(thr_redis *rd, const thr_config *cfg, uint64_t n, uint64_t tag,
                   double hold, double deadline, int *lost)
{
    rrep_window o;
    int rc = thr_redis_op(rd, "hold", n, tag, cfg, hold, deadline, &o);
    *lost = o.lost;
    return rc;
}

int thr_redis_sent(thr_redis *rd, const thr_config *cfg, uint64_t n, uint64_t tag,
                   double deadline, double *owed, int *lost)
{
    rrep_window o;
    int rc = thr_redis_op(rd, "sent", n, tag, cfg, 0, deadline, &o);
    *owed = o.delay;
    *lost = o.lost;
    return rc;
}

void thr_redis_cancel(thr_redis *rd, const thr_config *cfg, uint64_t n, uint64_t tag,
                      double deadline)
{
    rrep_window o;
    thr_redis_op(rd, "cancel", n, tag, cfg, 0, deadline, &o);
}

int thr_redis_learn(thr_redis *rd, const thr_config *cfg, double deadline, double *learnt)
{
    rrep_window o;
    int rc = thr_redis_op(rd, "learn", 0, 0, cfg, 0, deadline, &o);
    *learnt = o.delay;
    return rc;
}

void thr_redis_error(thr_redis *rd, char *buf, size_t len)
{
    pthread_mutex_lock(&rd->mu);
    snprintf(buf, len, "%s", rd->err);
    pthread_mutex_unlock(&rd->mu);
}

void thr_redis_get_counts(thr_redis *rd, thr_redis_counts *c)
{
    pthread_mutex_lock(&rd->mu);
    c->errors = rd->errors;
    c->local = rd->local;
    c->mended = rd->mended;
    c->calls = rd->calls;
    pthread_mutex_unlock(&rd->mu);
    c->connected = rlink_connected(rd->link);
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
