/* fuzz_ring.c -- thr_ring_repair over windows as a damaged file may hold
 * them (ring.c), then bookings on the mended window.
 *
 * Input: rate, per and margin from the first 3 bytes (its top bit: a wrong
 * capacity, else THR_RING as in a file); the window's first 40 bytes; then patches of 2 bytes (an entry index) + 40 bytes (the entry), so
 * that mutations land on entries the arithmetic looks at.
 * Properties: a mended window needs no second mending; no lease in it runs
 * more than THR_LEASE past now; a cancelled entry carries an even tag and a
 * pending one an odd tag (thr_entry_repair); every booking made on it is due
 * at a finite time from now to at most two horizons ahead (nothing hangs,
 * nothing is due in the past); its lease runs from now; a pending booking is
 * held, and no longer once sent. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "limiter/ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_HEAD 40
#define FZ_PATCH (2 + sizeof(thr_entry))

static void fz_fail(void)
{
    abort();
}

static void fz_check_time(double t, double now, double horizon)
{
    if (!isfinite(t) || t < now || t > now + 2 * horizon)
        fz_fail();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static thr_ring *r;
    thr_config cfg;
    double now = 1000.0, horizon, t;
    uint64_t n;
    size_t o;

    if (size < 3 + FZ_HEAD)
        return 0;
    cfg.rate = 1 + data[0] % THR_MAX_RATE;
    cfg.per = 0.05 + data[1] / 16.0;
    cfg.margin = (data[2] % 8) / 100.0;
    if (!(cfg.margin < cfg.per))
        cfg.margin = 0;
    if (r == NULL && (r = thr_ring_new(THR_RING)) == NULL)
        return 0;
    memset(r, 0, THR_RING_BYTES(THR_RING));
    memcpy(r, data + 3, FZ_HEAD);
    r->cap = data[2] & 0x80 ? data[0] : THR_RING;
    for (o = 3 + FZ_HEAD; o + FZ_PATCH <= size; o += FZ_PATCH) {
        unsigned i = ((unsigned)data[o] << 8 | data[o + 1]) % THR_RING;
        memcpy(&r->e[i], data + o + 2, sizeof r->e[i]);
    }
    horizon = ((double)THR_RING / cfg.rate + 1.0) * (cfg.per + cfg.margin) + THR_LEASE;

    thr_ring_repair(r, &cfg, now);
    if (thr_ring_repair(r, &cfg, now) != 0)
        fz_fail();
    for (o = 0; o < THR_RING; o++) {
        const thr_entry *e = &r->e[o];
        if (e->n == 0)
            continue;
        if (!(e->lease <= now + THR_LEASE)
            || (e->state == THR_CANCELLED && (e->tag == 0 || (e->tag & 1u)))
            || (e->state == THR_PENDING && !(e->tag & 1u)))
            fz_fail();
    }
    n = thr_ring_book(r, &cfg, now, 1, 7, &t);
    fz_check_time(t, now, horizon);
    if (!thr_ring_holds(r, n, 7, now) || thr_ring_holds(r, n, 8, now))
        fz_fail();
    fz_check_time(thr_ring_renew(r, n, 7, &cfg, now), now, horizon);
    fz_check_time(thr_ring_send(r, n, 7, &cfg, now), now, horizon);
    if (thr_ring_holds(r, n, 7, now) || thr_ring_lost(r, n, 7, now))
        fz_fail();
    n = thr_ring_book(r, &cfg, now, 0, 0, &t);
    fz_check_time(t, now, horizon);
    return 0;
}
