/* ring.h -- a window: the ring of bookings and its arithmetic, for
 * book.c, window.c and file.c. No locking here: the
 * callers hold the window's lock. */
#ifndef COREPLUS_LIMITER_RING_H
#define COREPLUS_LIMITER_RING_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum { THR_EMPTY = 0, THR_PENDING = 1, THR_SENT = 2, THR_CANCELLED = 3 };

typedef struct thr_entry {
    uint64_t n;        /* booking number */
    double t;          /* booked, then actual, departure time */
    double lease;      /* pending: until when it holds later bookings up */
    uint64_t tag;      /* its owner's mark: a number can come back after the
                          ring was rebuilt, a tag does not (0: none) */
    uint32_t state;
    uint32_t pid;      /* the process that booked it (for people reading) */
} thr_entry;

typedef struct thr_ring {
    uint64_t next;     /* the next booking number; numbers start at 1 */
    uint64_t granted;
    uint64_t cancelled;
    double waited_total;
    double last_sent;
    double span;       /* per + margin of its key's last booking: how long a
                          departure counts (a shared file's idle slots) */
    uint64_t cap;      /* entries in e, a power of two: THR_RING in a file;
                          an in-process window starts at THR_RING_MIN and
                          grows while its bookings still count (thr_ring_room) */
    double learnt;     /* margin learnt from 429s, as of learnt_at (thr_ring_learn) */
    double learnt_at;
    thr_entry e[];     /* entry n lives at n % cap */
} thr_ring;

#define THR_RING_MIN 16
#define THR_RING_BYTES(cap) (offsetof(thr_ring, e) + (size_t)(cap) * sizeof(thr_entry))

/* An empty window of cap entries (a power of two, THR_RING_MIN to
 * THR_RING), or NULL when memory runs out. free() it. */
thr_ring *thr_ring_new(uint64_t cap);
/* Makes room for the next booking of an in-process window: when the entry
 * it would take is a booking that still counts (pending under its lease, or
 * sent less than per + margin ago), the ring doubles, up to THR_RING (then,
 * or when memory runs out, that booking gives way, as in a file). Returns
 * the window, which may have moved. A process holding many clients (one per
 * practice) so pays ~1 KB per window at 10/s, not THR_RING entries. */
thr_ring *thr_ring_room(thr_ring *r, const thr_config *cfg, double now);

/* The margin learnt from 429s (DEFAULT_LEARN_*), worn off as of now: to be
 * added to the configuration's margin. */
double thr_ring_learnt(const thr_ring *r, double now);
/* A 429 came back: widens the learnt margin by DEFAULT_LEARN_STEP, unless it
 * was widened less than a window ago (the 429s of one episode widen it
 * once). Returns the learnt margin. */
double thr_ring_learn(thr_ring *r, const thr_config *cfg, double now);

/* The earliest time booking n may leave (see ring.c). */
double thr_bound(const thr_ring *r, uint64_t n, const thr_config *cfg, double now,
                 int poll);
/* Books the next number at its bound (>= now): pending with a lease of
 * THR_LEASE from now, or sent. Sets *t; returns the number. */
uint64_t thr_ring_book(thr_ring *r, const thr_config *cfg, double now, int pending,
                       uint64_t tag, double *t);
/* Records the next number as having left at t, counting nothing in the
 * stats: a departure made under another window (Redis's), so that this
 * one, its fall-back, knows of it. */
void thr_ring_record(thr_ring *r, double t);
/* 1 when booking n is still pending under a lease that runs, so that its
 * owner may renew it or send on it; 0 when it was lost (the lease ran out,
 * the ring moved on or was rebuilt). */
int thr_ring_holds(const thr_ring *r, uint64_t n, uint64_t tag, double now);
/* 1 when booking n cannot be sent on any more: gone, cancelled, or pending
 * with a lease that ran out (a sent booking may be sent again: reserve's). */
int thr_ring_lost(const thr_ring *r, uint64_t n, uint64_t tag, double now);
/* Renews pending booking n's lease and returns when it may leave (its
 * bound, polled); moves its booked time up when earlier bookings went. */
double thr_ring_renew(thr_ring *r, uint64_t n, uint64_t tag, const thr_config *cfg,
                      double now);
/* Booking n leaves now: it counts from max(now, its bound). Returns that. */
double thr_ring_send(thr_ring *r, uint64_t n, uint64_t tag, const thr_config *cfg,
                     double now);
void thr_ring_cancel(thr_ring *r, uint64_t n, uint64_t tag);
/* Functions taking a tag find booking n only when it carries that tag (any
 * tag when it is 0). */

/* Copies the departures of src (an in-process window) numbered *from or
 * higher that still count (sent less than per + margin ago) into dst as
 * departures, in order, with the margin src learnt if it is the wider; sets
 * *from past the last. For a key that booked in its own window while its
 * file could not be used (no free slot, a lock held too long): the file's
 * window then holds what this process sent meanwhile. Pending bookings are
 * not copied: their owners book them again in the file (book.c). Returns
 * how many were copied. */
int thr_ring_carry(thr_ring *dst, const thr_ring *src, const thr_config *cfg, double now,
                   uint64_t *from);

/* Checks every value of a ring read from a shared file (cap THR_RING; a
 * zeroed ring is an empty one), mending what is
 * wrong so that it can only hold bookings back, never let more through or
 * hang anyone: an unusable numbering makes the ring full as of now
 * (thr_ring_fill), other values are judged as ring.c's thr_entry_repair
 * says, a learnt margin out of bounds counts as the widest. Returns how many
 * values were mended. */
int thr_ring_repair(thr_ring *r, const thr_config *cfg, double now);
/* An empty ring that counts as full as of now: the next booking waits a
 * whole window; it keeps the margin it learnt. For a file's window (cap
 * THR_RING) whose history was lost. */
void thr_ring_fill(thr_ring *r, const thr_config *cfg, double now);
/* Keeps what the ring holds and adds rate departures at now, so that it
 * counts as full as of now: for a window that lacks another's history (a
 * process came from a file that the path no longer names). */
void thr_ring_block(thr_ring *r, const thr_config *cfg, double now);

#endif
