/* throttle_ring.h -- a window: the ring of bookings and its arithmetic, for
 * the limiter's units (throttle.c, throttle_file.c). No locking here: the
 * callers hold the window's lock. */
#ifndef COREPLUS_THROTTLE_RING_H
#define COREPLUS_THROTTLE_RING_H

#include <stdint.h>

#include "throttle.h"

enum { THR_EMPTY = 0, THR_PENDING = 1, THR_SENT = 2, THR_CANCELLED = 3 };

typedef struct thr_entry {
    uint64_t n;        /* booking number; entry n lives at n % THR_RING */
    double t;          /* booked, then actual, departure time */
    uint32_t state;
    uint32_t pid;      /* the process that booked it (pending bookings) */
} thr_entry;

typedef struct thr_ring {
    uint64_t next;     /* the next booking number; numbers start at 1 */
    uint64_t granted;
    uint64_t cancelled;
    double waited_total;
    double last_sent;
    thr_entry e[THR_RING];
} thr_ring;

/* The earliest time booking n may leave (see throttle_ring.c). */
double thr_bound(thr_ring *r, uint64_t n, const thr_config *cfg, double now, int poll);
/* Booking n's entry, or NULL when the ring no longer holds it. */
thr_entry *thr_entry_of(thr_ring *r, uint64_t n);

#endif
