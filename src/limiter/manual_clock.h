/* manual_clock.h -- the limiter's time: the real monotonic clock, or a
 * manual clock that moves only when told, so that specs drive waits, leases
 * and lock waits without sleeping (core.manual_clock, limiter_lua.c).
 *
 * Every function takes NULL for the real clock. A manual clock lives in this
 * process, or in a file that several processes read (8 bytes: the time as a
 * little-endian double at offset 0), so that a spec and its child processes
 * share one time. Sleeping on a manual clock that drives moves it forward
 * at once; one that follows waits (polling the file every millisecond) until
 * another process has moved it that far. No Lua here. */
#ifndef COREPLUS_LIMITER_MANUAL_CLOCK_H
#define COREPLUS_LIMITER_MANUAL_CLOCK_H

/* The name of its metatable: the userdata holds one thr_clock *. */
#define THR_CLOCK_MT "coreplus.manual_clock"

typedef struct thr_clock thr_clock;

/* A manual clock at time at (fd < 0), or on the file open at fd (taken
 * over; at < 0: keep the time the file holds); follow = 1: sleeping waits
 * for the time to come. NULL when memory runs out. */
thr_clock *thr_clock_new(double at, int fd, int follow);
void thr_clock_retain(thr_clock *c);
void thr_clock_release(thr_clock *c);   /* frees it with its last reference */

double thr_clock_now(thr_clock *c);
void thr_clock_sleep(thr_clock *c, double seconds);
/* Moves a manual clock forward by seconds (>= 0); returns its time. */
double thr_clock_advance(thr_clock *c, double seconds);
/* A deadline in core.now() seconds (a manual clock's own seconds) on c. */
double thr_clock_deadline(thr_clock *c, double wall);

#endif
