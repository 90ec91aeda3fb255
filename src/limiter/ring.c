/* ring.c -- a window's arithmetic (see ring.h, limiter.h). */
#include "ring.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "../defaults.h"

#define THR_NEXT_MAX 4503599627370496.0   /* 2^52: numbers stay exact doubles */

/* Masks stand for % cap: every cap is a power of two. */
typedef char thr_ring_pow2[(THR_RING & (THR_RING - 1)) == 0
                           && (THR_RING_MIN & (THR_RING_MIN - 1)) == 0 ? 1 : -1];

static thr_entry *thr_at(thr_ring *r, uint64_t n)
{
    return &r->e[n & (r->cap - 1)];
}

static const thr_entry *thr_at_c(const thr_ring *r, uint64_t n)
{
    return &r->e[n & (r->cap - 1)];
}

/* How far ahead a booked time can be under cfg: each booking waits for the
 * one rate places before it, and a file's ring holds THR_RING of them. */
static double thr_horizon(const thr_config *cfg)
{
    return ((double)THR_RING / cfg->rate + 1.0) * (cfg->per + cfg->margin + DEFAULT_LEARN_MAX)
        + THR_LEASE;
}

/* The earliest time booking n may leave: per + margin after the latest of
 * the bookings numbered n - rate or lower (any rate + 1 bookings then span at
 * least per, whatever order they really left in). A pending booking counts
 * only while its lease runs (its owner books again if it ever gets to run),
 * and when poll is set as leaving no earlier than now: it has not left yet. */
double thr_bound(const thr_ring *r, uint64_t n, const thr_config *cfg, double now,
                 int poll)
{
    double latest = -1.0;
    uint64_t k, lowest;
    int any = 0;

    if (n <= (uint64_t)cfg->rate)
        return 0.0;
    lowest = n > r->cap ? n - r->cap + 1 : 1;
    for (k = n - (uint64_t)cfg->rate; k >= lowest; k--) {
        const thr_entry *e = thr_at_c(r, k);
        if (e->n == k && (e->state == THR_SENT
                          || (e->state == THR_PENDING && now <= e->lease))) {
            double t = e->t;
            if (poll && e->state == THR_PENDING && now > t)
                t = now;
            if (!any || t > latest)
                latest = t;
            any = 1;
        }
        if (k == lowest)
            break;
    }
    return any ? latest + cfg->per + cfg->margin : 0.0;
}

/* ===== the learnt margin ===== */

double thr_ring_learnt(const thr_ring *r, double now)
{
    double worn = r->learnt - DEFAULT_LEARN_EASE * (now - r->learnt_at);
    return worn > 0 ? worn : 0.0;
}

double thr_ring_learn(thr_ring *r, const thr_config *cfg, double now)
{
    double learnt = thr_ring_learnt(r, now);
    if (learnt > 0 && now - r->learnt_at < cfg->per + cfg->margin + learnt)
        return learnt;   /* widened for this episode already */
    learnt += DEFAULT_LEARN_STEP;
    r->learnt = learnt < DEFAULT_LEARN_MAX ? learnt : DEFAULT_LEARN_MAX;
    r->learnt_at = now;
    return r->learnt;
}

static thr_entry *thr_ring_entry(thr_ring *r, uint64_t n, uint64_t tag)
{
    thr_entry *e = thr_at(r, n);
    return e->n == n && e->state != THR_EMPTY && (tag == 0 || e->tag == tag) ? e : NULL;
}

uint64_t thr_ring_book(thr_ring *r, const thr_config *cfg, double now, int pending,
                       uint64_t tag, double *t)
{
    thr_entry *e;
    uint64_t n;
    double at;

    if (r->next == 0)
        r->next = 1;
    n = r->next++;
    at = thr_bound(r, n, cfg, now, 0);
    if (at < now)
        at = now;
    e = thr_at(r, n);
    e->n = n;
    e->t = at;
    e->lease = now + THR_LEASE;
    e->tag = tag;
    e->state = pending ? THR_PENDING : THR_SENT;
    e->pid = (uint32_t)getpid();
    r->granted++;
    r->waited_total += at - now;
    if (!pending && at > r->last_sent)
        r->last_sent = at;
    *t = at;
    return n;
}

/* A sent booking of this process at t, the next number, leased until lease. */
static void thr_ring_append(thr_ring *r, double t, double lease)
{
    thr_entry *e;
    uint64_t n;
    if (r->next == 0)
        r->next = 1;
    n = r->next++;
    e = thr_at(r, n);
    memset(e, 0, sizeof *e);
    e->n = n;
    e->t = t;
    e->lease = lease;
    e->state = THR_SENT;
    e->pid = (uint32_t)getpid();
    if (t > r->last_sent)
        r->last_sent = t;
}

void thr_ring_record(thr_ring *r, double t)
{
    thr_ring_append(r, t, t);
}

int thr_ring_holds(const thr_ring *r, uint64_t n, uint64_t tag, double now)
{
    const thr_entry *e = thr_at_c(r, n);
    return e->n == n && (tag == 0 || e->tag == tag) && e->state == THR_PENDING
        && now <= e->lease;
}

int thr_ring_lost(const thr_ring *r, uint64_t n, uint64_t tag, double now)
{
    const thr_entry *e = thr_at_c(r, n);
    if (e->n != n || (tag != 0 && e->tag != tag))
        return 1;
    return !(e->state == THR_SENT || (e->state == THR_PENDING && now <= e->lease));
}

double thr_ring_renew(thr_ring *r, uint64_t n, uint64_t tag, const thr_config *cfg,
                      double now)
{
    thr_entry *e = thr_ring_entry(r, n, tag);
    double t = thr_bound(r, n, cfg, now, 1);
    if (e == NULL || e->state != THR_PENDING)
        return t;
    e->lease = now + THR_LEASE;
    /* Earlier bookings gone (their leases ran out): move up. Later ones
     * that counted from the old time stay safe, only later than needed. */
    if (t < e->t)
        e->t = t > now ? t : now;
    return t > e->t ? t : e->t;
}

double thr_ring_send(thr_ring *r, uint64_t n, uint64_t tag, const thr_config *cfg,
                     double now)
{
    thr_entry *e;
    double t = thr_bound(r, n, cfg, now, 0);
    if (t < now)
        t = now;
    e = thr_ring_entry(r, n, tag);
    if (e != NULL) {
        e->t = t;
        e->lease = now + THR_LEASE;   /* when it was written: see thr_entry_repair */
        e->state = THR_SENT;
    }
    if (t > r->last_sent)
        r->last_sent = t;
    return t;
}

void thr_ring_cancel(thr_ring *r, uint64_t n, uint64_t tag)
{
    thr_entry *e = thr_ring_entry(r, n, tag);
    if (e != NULL && e->state == THR_PENDING) {
        e->state = THR_CANCELLED;
        e->tag = (e->tag & ~(uint64_t)1) | 2u;   /* even: see thr_entry_repair */
        r->cancelled++;
    }
}

/* ===== a window that comes back to its file ===== */

/* A booking the window still needs: it holds later ones up, or its owner
 * will send on it. */
static int thr_counts(const thr_entry *e, const thr_config *cfg, double now)
{
    return (e->state == THR_PENDING && now <= e->lease)
        || (e->state == THR_SENT && e->t + cfg->per + cfg->margin > now);
}

int thr_ring_carry(thr_ring *dst, const thr_ring *src, const thr_config *cfg, double now,
                   uint64_t *from)
{
    uint64_t k = src->next > src->cap ? src->next - src->cap : 1;
    int copied = 0;
    if (*from > k)
        k = *from;
    for (; k < src->next; k++) {
        const thr_entry *e = thr_at_c(src, k);
        thr_entry *d;
        if (e->n != k || e->state != THR_SENT || !thr_counts(e, cfg, now))
            continue;
        if (dst->next == 0)
            dst->next = 1;
        d = thr_at(dst, dst->next);
        memset(d, 0, sizeof *d);
        d->n = dst->next++;
        d->t = e->t;
        d->lease = now + THR_LEASE;   /* when it was written: see thr_entry_repair */
        d->state = THR_SENT;
        d->pid = e->pid;
        dst->granted++;
        if (e->t > dst->last_sent)
            dst->last_sent = e->t;
        copied++;
    }
    if (src->next > *from)
        *from = src->next;
    if (thr_ring_learnt(src, now) > thr_ring_learnt(dst, now)) {
        dst->learnt = src->learnt;
        dst->learnt_at = src->learnt_at;
    }
    return copied;
}

/* ===== values read from a file ===== */

static int thr_learnt_repair(thr_ring *r, double now);

void thr_ring_fill(thr_ring *r, const thr_config *cfg, double now)
{
    uint64_t k, cap = r->cap;
    double learnt = r->learnt, learnt_at = r->learnt_at;   /* a rebuild keeps what it learnt */
    memset(r, 0, THR_RING_BYTES(cap));
    r->cap = cap;
    r->learnt = learnt;
    r->learnt_at = learnt_at;
    for (k = 1; k <= (uint64_t)cfg->rate && k < cap; k++) {
        thr_entry *e = thr_at(r, k);
        e->n = k;
        e->t = now;
        e->lease = now + THR_LEASE;
        e->state = THR_SENT;
    }
    r->next = k;
    r->last_sent = now;
    thr_learnt_repair(r, now);
}

void thr_ring_block(thr_ring *r, const thr_config *cfg, double now)
{
    int k;
    /* Already full as of about now (another process came from the old file
     * just before): nothing to add. Adding would put rate numbers between
     * bookings made since, and each would then wait a window for the one
     * before it. */
    if (thr_bound(r, r->next ? r->next : 1, cfg, now, 0) >= now + cfg->per + cfg->margin - THR_RENEW)
        return;
    for (k = 0; k < cfg->rate; k++)
        thr_ring_append(r, now, now + THR_LEASE);
}

/* What a booking's entry can plausibly hold. Every step that writes an
 * entry (book, renew, send, fill) sets its lease to the step's time +
 * THR_LEASE, and its time to max(that time, its bound), so that:
 *   - a lease is never more than THR_LEASE ahead of now;
 *   - a time is no later than when it was last written, or than one window
 *     after the latest booking numbered rate or more below it (the chain of
 *     bookings that made it wait). One window more is let be (a booking
 *     that waited for one whose time moved up since); beyond that the time
 *     is mended to the latest the evidence allows.
 * A cancel marks the owner's tag even (tags are odd), so that a cancelled
 * mark without it (a flipped state) is no cancel. */
typedef struct thr_sane {
    double now;
    double span;       /* per + margin + what the window learnt: a chain's step */
    double slack;      /* the most a step can have been (the most learnt) */
    int fixed;         /* values mended */
    double chain;      /* the latest time the chain allows, or -1e300: none */
    double horizon;    /* for a booking whose chain left the ring: the latest
                          any booking can be (thr_horizon) */
    int unknown;       /* its chain left the ring */
} thr_sane;

static int thr_entry_repair(thr_entry *e, const thr_sane *v)
{
    int fixed = 0;
    double limit;
    if (e->state != THR_PENDING && e->state != THR_SENT && e->state != THR_CANCELLED) {
        e->state = THR_SENT;   /* unknown: it may have left, and just now */
        e->t = v->now;
        fixed++;
    } else if (e->state == THR_CANCELLED ? e->tag == 0 || (e->tag & 1u) != 0
               : e->state == THR_PENDING && (e->tag & 1u) == 0) {
        e->state = THR_SENT;   /* a mark no cancel or booking makes: it counts */
        fixed++;
    }
    if (!(e->lease >= -1e15 && e->lease <= v->now + THR_LEASE)) {
        e->lease = v->now + THR_LEASE;   /* a pending one holds at most a lease */
        fixed++;
    }
    if (!(e->t >= -1e15)) {   /* NaN, infinite */
        e->t = v->now;
        fixed++;
    }
    /* the latest time the evidence allows: when it was last written, the
     * chain, or now; beyond one window from that it cannot be */
    limit = e->lease - THR_LEASE > v->now ? e->lease - THR_LEASE : v->now;
    if (v->chain > limit)
        limit = v->chain;
    if (v->unknown ? e->t > v->horizon : e->t > limit + v->slack) {
        e->t = v->unknown ? v->now : limit;
        fixed++;
    }
    return fixed;
}

/* Every booking writes its entry, so the entries of the last THR_RING
 * numbers before next carry exactly those numbers, and the others none. One
 * pass, in number order, checks that and mends the values of the numbered
 * entries (thr_entry_repair, each against the mended ones before it); a
 * numbering that is wrong anywhere makes the whole ring unusable (-1). Every
 * operation on a shared file runs this, so it stays one loop. */
static int thr_ring_check(thr_ring *r, const thr_config *cfg, thr_sane *v)
{
    const uint64_t mask = THR_RING - 1;
    uint64_t hi, lo, k, rate = (uint64_t)cfg->rate;
    double latest = -1e300;   /* the latest time of the bookings numbered <= k - rate */
    int fixed = 0;

    if (r->cap != THR_RING) {
        if (r->cap != 0 || r->next != 0)
            return -1;
        r->cap = THR_RING;   /* zeroed (a slot never written): an empty window */
    }
    if ((double)r->next > THR_NEXT_MAX)
        return -1;
    hi = r->next ? r->next - 1 : 0;
    lo = r->next > THR_RING ? r->next - THR_RING : 1;
    /* the entries of no number: index 0 and those above hi, before the ring wrapped */
    for (k = hi + 1; k <= THR_RING; k++)
        if (r->e[k & mask].n != 0 || (r->next == 0 && r->e[k & mask].state != THR_EMPTY))
            return -1;
    for (k = lo; k <= hi; k++) {
        thr_entry *e = &r->e[k & mask];
        if (e->n != k)
            return -1;
        /* the bookings below it in the ring: none ever (lo 1), or out of it */
        v->unknown = k < lo + rate && lo != 1;
        if (k >= lo + rate) {
            double t = r->e[(k - rate) & mask].t;
            if (t > latest)
                latest = t;
            v->chain = latest + v->span;
        }
        fixed += thr_entry_repair(e, v);
    }
    v->fixed = fixed;
    return 0;
}

/* The learnt margin's values: 1 when mended. */
static int thr_learnt_repair(thr_ring *r, double now)
{
    int fixed = 0;
    if (!(r->learnt >= 0 && r->learnt <= DEFAULT_LEARN_MAX)) {
        r->learnt = DEFAULT_LEARN_MAX;   /* unknown: the widest (slower, never 429s) */
        r->learnt_at = now;
        fixed = 1;
    }
    if (!(r->learnt_at >= -1e15 && r->learnt_at <= now)) {
        r->learnt_at = now;
        fixed = 1;
    }
    return fixed;
}

int thr_ring_repair(thr_ring *r, const thr_config *cfg, double now)
{
    double horizon = now + thr_horizon(cfg);
    thr_sane v;
    int fixed = thr_learnt_repair(r, now);

    v.now = now;
    v.span = cfg->per + cfg->margin + thr_ring_learnt(r, now);
    v.slack = cfg->per + cfg->margin + DEFAULT_LEARN_MAX;   /* whatever was learnt then */
    v.chain = -1e300;
    v.horizon = horizon;
    v.unknown = 0;
    if (thr_ring_check(r, cfg, &v) < 0) {
        r->cap = THR_RING;
        thr_ring_fill(r, cfg, now);
        return fixed + 1;
    }
    fixed += v.fixed;
    if (!(r->waited_total >= 0 && r->waited_total < 1e15)) {
        r->waited_total = 0;
        fixed++;
    }
    if (!(r->last_sent >= -1e15 && r->last_sent <= horizon)) {
        r->last_sent = now;
        fixed++;
    }
    return fixed;
}

/* ===== in-process windows ===== */

thr_ring *thr_ring_new(uint64_t cap)
{
    thr_ring *r = calloc(1, THR_RING_BYTES(cap));
    if (r != NULL)
        r->cap = cap;
    return r;
}

thr_ring *thr_ring_room(thr_ring *r, const thr_config *cfg, double now)
{
    uint64_t next = r->next ? r->next : 1, i, cap = r->cap * 2;
    const thr_entry *e = thr_at_c(r, next);
    thr_ring *bigger;

    if (e->n == 0 || e->n == next || !thr_counts(e, cfg, now) || r->cap >= THR_RING
        || (bigger = thr_ring_new(cap)) == NULL)
        return r;
    memcpy(bigger, r, offsetof(thr_ring, e));
    bigger->cap = cap;
    for (i = 0; i < r->cap; i++)
        if (r->e[i].n != 0)
            *thr_at(bigger, r->e[i].n) = r->e[i];
    free(r);
    return bigger;
}
