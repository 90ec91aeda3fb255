/* manual_clock.c -- the limiter's time (see manual_clock.h). */
#include "manual_clock.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../clock.h"

struct thr_clock {
    pthread_mutex_t mu;
    int refs;
    int fd;            /* the shared file, or -1 */
    int follow;
    double at;         /* the time, when there is no file */
};

#define THR_CLOCK_POLL 0.001   /* a follower looks this often, in real seconds */

/* The file holds a little-endian double, whatever this machine's order. */
static double thr_clock_read(int fd)
{
    unsigned char b[8];
    uint64_t u = 0;
    double t;
    int i;
    if (pread(fd, b, sizeof b, 0) != (ssize_t)sizeof b)
        return 0.0;
    for (i = 7; i >= 0; i--)
        u = u << 8 | b[i];
    memcpy(&t, &u, sizeof t);
    return t == t ? t : 0.0;
}

static void thr_clock_write(int fd, double t)
{
    unsigned char b[8];
    uint64_t u;
    int i;
    memcpy(&u, &t, sizeof u);
    for (i = 0; i < 8; i++, u >>= 8)
        b[i] = (unsigned char)(u & 0xff);
    (void)!pwrite(fd, b, sizeof b, 0);
}

thr_clock *thr_clock_new(double at, int fd, int follow)
{
    thr_clock *c = calloc(1, sizeof *c);
    if (c == NULL || pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return NULL;
    }
    c->refs = 1;
    c->fd = fd;
    c->follow = follow;
    c->at = at > 0 ? at : 0.0;
    if (fd >= 0 && at >= 0)
        thr_clock_write(fd, at);
    return c;
}

void thr_clock_retain(thr_clock *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->refs++;
    pthread_mutex_unlock(&c->mu);
}

void thr_clock_release(thr_clock *c)
{
    int left;
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    left = --c->refs;
    pthread_mutex_unlock(&c->mu);
    if (left > 0)
        return;
    if (c->fd >= 0)
        close(c->fd);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

double thr_clock_now(thr_clock *c)
{
    double t;
    if (c == NULL)
        return clock_monotonic();
    if (c->fd >= 0)
        return thr_clock_read(c->fd);
    pthread_mutex_lock(&c->mu);
    t = c->at;
    pthread_mutex_unlock(&c->mu);
    return t;
}

double thr_clock_advance(thr_clock *c, double seconds)
{
    double t;
    if (c == NULL)
        return clock_monotonic();
    if (!(seconds > 0))
        seconds = 0;
    pthread_mutex_lock(&c->mu);
    if (c->fd >= 0) {
        t = thr_clock_read(c->fd) + seconds;
        thr_clock_write(c->fd, t);
    } else {
        t = c->at += seconds;
    }
    pthread_mutex_unlock(&c->mu);
    return t;
}

void thr_clock_sleep(thr_clock *c, double seconds)
{
    double until;
    if (c == NULL) {
        clock_sleep(seconds);
        return;
    }
    if (!(seconds > 0))
        return;
    if (!c->follow) {
        thr_clock_advance(c, seconds);
        return;
    }
    until = thr_clock_now(c) + seconds;
    while (thr_clock_now(c) < until)
        clock_sleep(THR_CLOCK_POLL);
}

double thr_clock_deadline(thr_clock *c, double wall)
{
    return c == NULL ? clock_deadline(wall) : wall;
}
