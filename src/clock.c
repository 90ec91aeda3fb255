/* clock.c -- time for the limiter and for claims, without Lua (see clock.h). */
#include <errno.h>
#include <time.h>

#include "clock.h"

double clock_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double clock_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void clock_sleep(double seconds)
{
    struct timespec ts;
    if (!(seconds > 0))
        return;
    if (seconds > 86400)
        seconds = 86400;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    /* Signals must not cut a throttling pause short. */
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

double clock_deadline(double wall)
{
    return clock_monotonic() + (wall - clock_wall());
}
