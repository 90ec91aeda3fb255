/* book.c -- bookings (see limiter.h): reserve, wait (renewing the lease),
 * send or cancel, each step one operation on a window (window.c) or one
 * call to Redis (redis.c). */
#include "window.h"

#include <string.h>
#include <unistd.h>

#include "../clock.h"

/* ===== Redis ===== */

/* The Redis outcome of a reserve; *t the booked time. -1: book locally. */
static int thr_reserve_redis(thr_limit *l, const thr_config *cfg, double now, int pending,
                             thr_ticket *tk)
{
    uint64_t n;
    double d;
    int rc = thr_redis_reserve(l->redis, cfg, pending ? THR_LEASE : 0, tk->deadline, &n,
                               &tk->tag, &d, &tk->pending);
    if (rc == THR_REDIS_OK) {
        pthread_mutex_lock(&l->mu);
        l->local->granted++;        /* this process's counters */
        l->local->waited_total += d;
        pthread_mutex_unlock(&l->mu);
        tk->lim = l;
        tk->n = n;
        tk->t = now + d;
        tk->where = THR_AT_REDIS;
        return 0;
    }
    if (rc == THR_REDIS_FAIL) {
        tk->failed = 1;
        return 0;
    }
    thr_redis_count_local(l->redis);   /* THR_REDIS_LOCAL */
    return -1;
}

/* A Redis limiter's fall-back window keeps to this process's recent share of
 * the limit (thr_redis_share), so that processes falling back together
 * stay near the limit; any other window keeps to cfg. */
static const thr_config *thr_fallback_cfg(const thr_limit *l, const thr_config *cfg,
                                          thr_config *buf)
{
    if (l == NULL || l->redis == NULL)
        return cfg;
    thr_redis_share(l->redis, cfg, buf);
    return buf;
}

/* A mark no other booking carries: the process, a count, the time. */
static uint64_t thr_new_tag(void)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static uint64_t count;
    uint64_t c;
    pthread_mutex_lock(&mu);
    c = ++count;
    pthread_mutex_unlock(&mu);
    return (((uint64_t)getpid() << 40) ^ (c << 1) ^ (uint64_t)(clock_monotonic() * 1e6)) | 1u;
}

/* Books the next slot of w's window for tk. */
static void thr_book(thr_ticket *tk, thr_win *w, double now, int pending)
{
    tk->tag = pending ? thr_new_tag() : 0;
    tk->n = thr_ring_book(w->ring, &w->cfg, now, pending, tk->tag, &tk->t);
    tk->where = w->where;
}

/* The window a booking's next step looks at: its own, except that one made
 * in this process's window while the shared file could not be used looks at
 * the file again, and goes there when it can be used
 * (docs/decisions.md#limit-carried-to-file); not while its lock stays taken,
 * so that the step does not wait for it once more. */
static int thr_home(const thr_ticket *tk)
{
    thr_limit *l = tk->lim;
    int locked;
    if (tk->where != THR_AT_LOCAL || l->file == NULL)
        return tk->where;
    pthread_mutex_lock(&l->mu);
    locked = l->busy == THR_FILE_BUSY;
    pthread_mutex_unlock(&l->mu);
    return locked ? THR_AT_LOCAL : THR_AT_FILE;
}

/* tk, booked in this process's window, is booked again in the file's (the
 * caller holds it): it no longer counts here. */
static void thr_leave_local(thr_ticket *tk)
{
    pthread_mutex_lock(&tk->lim->mu);
    thr_ring_cancel(tk->lim->local, tk->n, tk->tag);
    pthread_mutex_unlock(&tk->lim->mu);
}

static void thr_count_relet(thr_limit *l)
{
    pthread_mutex_lock(&l->mu);
    l->relets++;
    pthread_mutex_unlock(&l->mu);
}

/* ===== switching between Redis and the fall-back =====
 *
 * The fall-back window knows every recent departure of this process: those
 * made under Redis are recorded there too (thr_mirror). While Redis cannot
 * be used, and for a window after the last departure Redis cannot know of
 * (made on the fall-back alone), the process is "unsure": a booking made in
 * Redis is booked in the fall-back window as well and leaves when both
 * allow. So neither switch, to the fall-back or back to Redis, lets the
 * process send more than its share (docs/decisions.md#redis-switch); a
 * booking whose Redis goes away while it waits moves to the fall-back. */

static int thr_unsure(thr_limit *l, double now)
{
    int unsure;
    pthread_mutex_lock(&l->mu);
    unsure = now < l->unsure_until;
    pthread_mutex_unlock(&l->mu);
    return unsure;
}

static void thr_set_unsure(thr_limit *l, const thr_config *cfg, double now)
{
    pthread_mutex_lock(&l->mu);
    l->unsure_until = now + cfg->per + cfg->margin + DEFAULT_LEARN_MAX + THR_LEASE;
    pthread_mutex_unlock(&l->mu);
}

/* Books tk (made in Redis) in the fall-back window too; its time is the
 * later of the two. */
static void thr_also(thr_ticket *tk, const thr_config *cfg, double now, int pending)
{
    thr_win w;
    thr_config fb;
    double t;
    cfg = thr_fallback_cfg(tk->lim, cfg, &fb);
    if (thr_win_open(tk->lim, THR_AT_LOCAL, cfg, now, tk->deadline, &w) != THR_FILE_OK)
        return;
    tk->also_tag = pending ? thr_new_tag() : 0;
    tk->also_n = thr_ring_book(w.ring, &w.cfg, now, pending, tk->also_tag, &t);
    w.ring->granted--;   /* (counted once: the Redis booking was) */
    thr_win_close(&w, 1);
    tk->also = 1;
    if (t > tk->t)
        tk->t = t;
}

/* The fall-back window's operation on tk's `also` booking: renew (0), send
 * (1) or cancel (2). The time it may leave (renew, send). */
static double thr_also_op(thr_ticket *tk, const thr_config *cfg, double now, int op)
{
    thr_win w;
    thr_config fb;
    double t = now;
    cfg = thr_fallback_cfg(tk->lim, cfg, &fb);
    if (thr_win_open(tk->lim, THR_AT_LOCAL, cfg, now, tk->deadline, &w) != THR_FILE_OK)
        return now;
    if (op == 0)
        t = thr_ring_renew(w.ring, tk->also_n, tk->also_tag, &w.cfg, now);
    else if (op == 1)
        t = thr_ring_send(w.ring, tk->also_n, tk->also_tag, &w.cfg, now);
    else
        thr_ring_cancel(w.ring, tk->also_n, tk->also_tag);
    thr_win_close(&w, 1);
    if (op != 0)
        tk->also = 0;
    return t;
}

/* A departure at t under Redis, recorded in the fall-back window. */
static void thr_mirror(thr_limit *l, const thr_config *cfg, double now, double t)
{
    thr_win w;
    thr_config fb;
    cfg = thr_fallback_cfg(l, cfg, &fb);
    if (thr_win_open(l, THR_AT_LOCAL, cfg, now, 0, &w) != THR_FILE_OK)
        return;
    thr_ring_record(w.ring, t);
    thr_win_close(&w, 1);
}

/* Redis went away while tk waited: it moves to the fall-back window (its
 * `also` booking when it has one). */
static void thr_to_fallback(thr_ticket *tk, const thr_config *cfg, double now)
{
    thr_win w;
    thr_config fb;
    thr_set_unsure(tk->lim, cfg, now);
    if (tk->also) {
        tk->where = THR_AT_LOCAL;
        tk->n = tk->also_n;
        tk->tag = tk->also_tag;
        tk->also = 0;
        tk->renewed = 0;   /* (ready looks at it at once) */
        return;
    }
    thr_redis_count_local(tk->lim->redis);
    cfg = thr_fallback_cfg(tk->lim, cfg, &fb);
    if (thr_win_open(tk->lim, THR_AT_LOCAL, cfg, now, tk->deadline, &w) != THR_FILE_OK)
        return;
    thr_book(tk, &w, now, 1);
    thr_win_close(&w, 1);
}

/* Redis: asks while an earlier booking was pending, and renews this one's
 * lease when due (Redis then moves it up if earlier ones went); a lost lease
 * books again. */
static double thr_ready_redis(thr_ticket *tk, const thr_config *cfg, double now)
{
    double d, left = tk->t - now;
    int p, rc, lost = 0, renew = now - tk->renewed >= THR_RENEW;
    if (!tk->pending && !renew)
        return left > 0 ? left : 0.0;
    rc = thr_redis_ready(tk->lim->redis, cfg, tk->n, tk->tag, renew ? THR_LEASE : 0,
                         tk->deadline, &d, &p, &lost);
    if (rc == THR_REDIS_LOCAL) {
        thr_to_fallback(tk, cfg, now);
        return thr_ready(tk, cfg, now);
    }
    if (rc != THR_REDIS_OK) {
        tk->pending = 0;   /* Redis is gone (policy "fail"): go by the booked slot */
        tk->renewed = now;
        return left > 0 ? left : 0.0;
    }
    if (lost) {
        thr_count_relet(tk->lim);
        if (tk->also)
            thr_also_op(tk, cfg, now, 2);
        thr_reserve(tk->lim, cfg, now, tk->deadline, 1, tk);
        return tk->lim != NULL && tk->t > now ? tk->t - now : 0.0;
    }
    if (renew) {
        tk->renewed = now;
        left = d;          /* the booking's own time, as Redis moved it */
        tk->t = now + d;
    } else if (d > left) {
        left = d;
    }
    tk->pending = p;
    if (tk->also && renew) {   /* (the later of its two slots) */
        double t = thr_also_op(tk, cfg, now, 0);
        if (t > tk->t)
            tk->t = t;
        if (t - now > left)
            left = t - now;
    }
    if (p && left < THR_REDIS_POLL)
        left = THR_REDIS_POLL;
    return left > 0 ? left : 0.0;
}

/* ===== any window ===== */

double thr_reserve(thr_limit *l, const thr_config *cfg, double now, double deadline,
                   int pending, thr_ticket *tk)
{
    thr_win w;
    thr_config fb;
    memset(tk, 0, sizeof *tk);
    tk->cfg = *cfg;
    tk->deadline = deadline;
    tk->renewed = now;
    tk->t = now;
    if (l->redis != NULL && thr_reserve_redis(l, cfg, now, pending, tk) == 0) {
        if (tk->where == THR_AT_REDIS && thr_unsure(l, now)) {
            thr_redis_share_restart(l->redis);
            thr_also(tk, cfg, now, pending);
        }
        return tk->t;
    }
    if (l->redis != NULL)
        thr_set_unsure(l, cfg, now);
    cfg = thr_fallback_cfg(l, cfg, &fb);
    if (thr_win_open(l, l->redis != NULL ? THR_AT_LOCAL : THR_AT_FILE, cfg, now, deadline, &w)
        != THR_FILE_OK) {
        tk->late = 1;
        return now;
    }
    thr_book(tk, &w, now, pending);
    tk->lim = l;
    thr_win_close(&w, 1);
    return tk->t;
}

/* The deadline came while waiting for the file's lock: a wait that passes it. */
static double thr_late(thr_ticket *tk, double now)
{
    tk->late = 1;
    return tk->deadline - now + 1e-3;
}

double thr_ready(thr_ticket *tk, const thr_config *cfg, double now)
{
    thr_win w;
    thr_config fb;
    double t;
    int lost = 0;
    if (tk->lim == NULL)
        return 0.0;
    if (tk->where == THR_AT_REDIS)
        return thr_ready_redis(tk, cfg, now);
    cfg = thr_fallback_cfg(tk->lim, cfg, &fb);
    if (now < tk->t && now - tk->renewed < THR_RENEW)
        return tk->t - now;   /* its lease runs: nothing to do yet */
    if (thr_win_open(tk->lim, thr_home(tk), cfg, now, tk->deadline, &w) != THR_FILE_OK)
        return thr_late(tk, now);
    if (w.where != tk->where && tk->where == THR_AT_LOCAL) {
        thr_leave_local(tk);   /* the file can be used again: book there, at the back */
        thr_book(tk, &w, now, 1);
    } else if (w.where != tk->where || !thr_ring_holds(w.ring, tk->n, tk->tag, now)) {
        /* Lost: the lease ran out (this process was stopped), the file was
         * rebuilt, or it cannot be used now. Book again, at the back. */
        if (w.where == tk->where)
            thr_ring_cancel(w.ring, tk->n, tk->tag);
        thr_book(tk, &w, now, 1);
        lost = 1;
    }
    t = thr_ring_renew(w.ring, tk->n, tk->tag, &w.cfg, now);
    tk->renewed = now;
    thr_win_close(&w, 1);
    if (lost)
        thr_count_relet(tk->lim);   /* after closing: l->mu may be the window's */
    tk->t = t;
    return t > now ? t - now : 0.0;
}

void thr_hold(thr_ticket *tk, const thr_config *cfg, double now)
{
    thr_win w;
    thr_config fb;
    int lost = 0;
    if (tk->lim == NULL || now - tk->renewed < THR_RENEW)
        return;
    tk->renewed = now;
    if (tk->where == THR_AT_REDIS) {
        thr_redis_hold(tk->lim->redis, cfg, tk->n, tk->tag, THR_LEASE, tk->deadline, &lost);
        if (tk->also)
            thr_also_op(tk, cfg, now, 0);
        return;   /* a lost lease is found and mended by thr_sent */
    }
    cfg = thr_fallback_cfg(tk->lim, cfg, &fb);
    if (thr_win_open(tk->lim, tk->where, cfg, now, tk->deadline, &w) != THR_FILE_OK)
        return;   /* the deadline came first: the call ends before its lease */
    if (w.where == tk->where)
        thr_ring_renew(w.ring, tk->n, tk->tag, &w.cfg, now);
    thr_win_close(&w, w.where == tk->where);
}

/* Redis: the booking leaves now; a lost one is booked again, as sent. */
static double thr_sent_redis(thr_ticket *tk, const thr_config *cfg, double now)
{
    thr_limit *l = tk->lim;
    double owed = 0.0;
    int lost = 0;
    if (thr_redis_sent(l->redis, cfg, tk->n, tk->tag, tk->deadline, &owed, &lost)
        != THR_REDIS_OK || owed < 0)
        owed = 0.0;   /* Redis failed: the booking keeps its booked slot */
    if (lost) {
        thr_count_relet(l);
        if (tk->also)
            thr_also_op(tk, cfg, now, 2);
        owed = thr_reserve(l, cfg, now, tk->deadline, 0, tk) - now;
        if (owed < 0)
            owed = 0.0;
    }
    if (tk->also) {   /* it leaves when the fall-back window allows too */
        double t = thr_also_op(tk, cfg, now, 1);
        if (t - now > owed)
            owed = t - now;
    } else if (tk->where == THR_AT_REDIS) {
        thr_mirror(l, cfg, now, now + owed);
    }
    pthread_mutex_lock(&l->mu);
    if (now + owed > l->local->last_sent)
        l->local->last_sent = now + owed;
    pthread_mutex_unlock(&l->mu);
    tk->t = now + owed;
    return owed;
}

double thr_sent(thr_ticket *tk, const thr_config *cfg, double now)
{
    thr_win w;
    thr_config fb;
    double t;
    int lost;
    if (tk->lim == NULL)
        return 0.0;
    if (tk->where == THR_AT_REDIS)
        return thr_sent_redis(tk, cfg, now);
    if (tk->lim->redis != NULL)
        thr_set_unsure(tk->lim, cfg, now);   /* a departure Redis will not know of */
    cfg = thr_fallback_cfg(tk->lim, cfg, &fb);
    if (thr_win_open(tk->lim, thr_home(tk), cfg, now, tk->deadline, &w) != THR_FILE_OK)
        return thr_late(tk, now);
    if (w.where != tk->where && tk->where == THR_AT_LOCAL) {
        /* The file can be used again: it leaves there, at the back, as sent. */
        thr_leave_local(tk);
        thr_book(tk, &w, now, 0);
        thr_win_close(&w, 1);
        return tk->t - now;
    }
    if (w.where != tk->where) {
        thr_win_close(&w, 0);
        return 0.0;   /* the file cannot be used now: its lease will run out */
    }
    if ((lost = thr_ring_lost(w.ring, tk->n, tk->tag, now)) != 0) {
        /* Others stopped waiting for it: it goes at the back, as sent. */
        thr_ring_cancel(w.ring, tk->n, tk->tag);
        thr_book(tk, &w, now, 0);
        t = tk->t;
    } else {
        t = thr_ring_send(w.ring, tk->n, tk->tag, &w.cfg, now);
    }
    thr_win_close(&w, 1);
    if (lost)
        thr_count_relet(tk->lim);
    tk->t = t;
    return t - now;
}

void thr_cancel(thr_ticket *tk)
{
    thr_win w;
    if (tk->lim == NULL)
        return;
    if (tk->where == THR_AT_REDIS) {
        if (tk->also)
            thr_also_op(tk, &tk->cfg, thr_clock_now(tk->lim->clock), 2);
        thr_redis_cancel(tk->lim->redis, &tk->cfg, tk->n, tk->tag, tk->deadline);
        pthread_mutex_lock(&tk->lim->mu);
        tk->lim->local->cancelled++;
        pthread_mutex_unlock(&tk->lim->mu);
    } else if (thr_win_open(tk->lim, tk->where, &tk->cfg, thr_clock_now(tk->lim->clock),
                            tk->deadline, &w) == THR_FILE_OK) {
        /* (past the deadline, one try: else its lease runs out by itself) */
        if (w.where == tk->where)
            thr_ring_cancel(w.ring, tk->n, tk->tag);
        thr_win_close(&w, 1);
    }
    tk->lim = NULL;
}

/* ===== learning from 429s ===== */

double thr_learn_429(thr_limit *l, const thr_config *cfg, double now, double deadline)
{
    thr_win w;
    double learnt;
    /* a window in Redis learns there, for every process; while Redis cannot
     * be used, the fall-back window learns */
    if (l->redis != NULL && thr_redis_learn(l->redis, cfg, deadline, &learnt) == THR_REDIS_OK)
        return learnt;
    if (thr_win_open(l, l->redis != NULL ? THR_AT_LOCAL : THR_AT_FILE, cfg, now, deadline, &w)
        != THR_FILE_OK)
        return 0.0;   /* the deadline came first: the next 429 teaches it */
    learnt = thr_ring_learn(w.ring, cfg, now);
    thr_win_close(&w, 1);
    return learnt;
}
