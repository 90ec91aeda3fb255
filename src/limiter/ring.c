/* ring.c -- a window's arithmetic (see ring.h, limiter.h). */
#include "ring.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

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
    return ((double)THR_RING / cfg->rate + 1.0) * (cfg->per + cfg->margin) + THR_LEASE;
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
        r->cancelled++;
    }
}

/* ===== values read from a file ===== */

void thr_ring_fill(thr_ring *r, const thr_config *cfg, double now)
{
    uint64_t k, cap = r->cap;
    memset(r, 0, THR_RING_BYTES(cap));
    r->cap = cap;
    for (k = 1; k <= (uint64_t)cfg->rate && k < cap; k++) {
        thr_entry *e = thr_at(r, k);
        e->n = k;
        e->t = now;
        e->state = THR_SENT;
    }
    r->next = k;
    r->last_sent = now;
}

/* One entry of the numbered range: its state, time and lease. */
static int thr_entry_repair(thr_entry *e, double now, double horizon)
{
    int fixed = 0;
    if (e->state != THR_PENDING && e->state != THR_SENT && e->state != THR_CANCELLED) {
        e->state = THR_SENT;   /* unknown: it may have left, and just now */
        e->t = now;
        fixed++;
    }
    if (!(e->t >= -1e15 && e->t <= horizon)) {   /* NaN, infinite, too far ahead */
        e->t = now;
        fixed++;
    }
    if (e->state == THR_PENDING && !(e->lease >= -1e15 && e->lease <= horizon + THR_LEASE)) {
        e->lease = now + THR_LEASE;
        fixed++;
    }
    return fixed;
}

/* Every booking writes its entry, so the entries of the last THR_RING
 * numbers before next carry exactly those numbers, and the others none: the
 * entry at index i holds the highest number below next that is i modulo
 * THR_RING, when that number is among the last THR_RING, else 0. One pass
 * checks that and mends the values of the numbered entries; a numbering
 * that is wrong anywhere makes the whole ring unusable (-1). Every operation
 * on a shared file runs this, so it stays one loop. */
static int thr_ring_check(thr_ring *r, double now, double horizon)
{
    const uint64_t mask = THR_RING - 1;
    uint64_t hi, lo, i;
    int fixed = 0;

    if (r->cap != THR_RING) {
        if (r->cap != 0 || r->next != 0)
            return -1;
        r->cap = THR_RING;   /* zeroed (a slot never written): an empty window */
    }
    if (r->next == 0) {
        for (i = 0; i < THR_RING; i++)
            if (r->e[i].n != 0 || r->e[i].state != THR_EMPTY)
                return -1;
        return 0;
    }
    if ((double)r->next > THR_NEXT_MAX)
        return -1;
    hi = r->next - 1;
    lo = r->next > THR_RING ? r->next - THR_RING : 1;
    for (i = 0; i < THR_RING; i++) {
        uint64_t d = (hi - i) & mask, expect = d <= hi && hi - d >= lo ? hi - d : 0;
        if (r->e[i].n != expect)
            return -1;
        if (expect != 0)
            fixed += thr_entry_repair(&r->e[i], now, horizon);
    }
    return fixed;
}

int thr_ring_repair(thr_ring *r, const thr_config *cfg, double now)
{
    double horizon = now + thr_horizon(cfg);
    int fixed = thr_ring_check(r, now, horizon);

    if (fixed < 0) {
        r->cap = THR_RING;
        thr_ring_fill(r, cfg, now);
        return 1;
    }
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

/* A booking the window still needs: it holds later ones up, or its owner
 * will send on it. */
static int thr_counts(const thr_entry *e, const thr_config *cfg, double now)
{
    return (e->state == THR_PENDING && now <= e->lease)
        || (e->state == THR_SENT && e->t + cfg->per + cfg->margin > now);
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
