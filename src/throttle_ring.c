/* throttle_ring.c -- a window's arithmetic (see throttle_ring.h, throttle.h). */
#include "throttle_ring.h"

#include <errno.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

/* A pending booking whose process is gone will never leave. (In another PID
 * namespace a live process looks gone too: the booking is then dropped,
 * which errs towards sending, only for the moments it spends connecting.) */
static int thr_owner_dead(const thr_entry *e)
{
    return e->pid != 0 && (pid_t)e->pid != getpid() && kill((pid_t)e->pid, 0) != 0
           && errno == ESRCH;
}

/* The earliest time booking n may leave: per + margin after the latest of
 * the bookings numbered n - rate or lower (any rate + 1 bookings then span at
 * least per, whatever order they really left in). When poll is set, a
 * pending booking counts as leaving no earlier than now: it has not left yet. */
double thr_bound(thr_ring *r, uint64_t n, const thr_config *cfg,
                        double now, int poll)
{
    double latest = -1.0;
    uint64_t k, lowest;
    int any = 0;

    if (n <= (uint64_t)cfg->rate)
        return 0.0;
    lowest = n > THR_RING ? n - THR_RING + 1 : 1;
    for (k = n - (uint64_t)cfg->rate; k >= lowest; k--) {
        thr_entry *e = &r->e[k % THR_RING];
        double t;
        if (e->n == k && e->state == THR_PENDING && thr_owner_dead(e)) {
            e->state = THR_CANCELLED;
            r->cancelled++;
        }
        if (e->n == k && e->state != THR_EMPTY && e->state != THR_CANCELLED) {
            t = e->t;
            if (poll && e->state == THR_PENDING && now - e->t < THR_PENDING_MAX
                && now > t)
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

thr_entry *thr_entry_of(thr_ring *r, uint64_t n)
{
    thr_entry *e = &r->e[n % THR_RING];
    return e->n == n && e->state != THR_EMPTY ? e : NULL;
}
