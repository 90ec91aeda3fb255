/* clock.h -- wall and monotonic time in seconds, and sleeping. */
#ifndef COREPLUS_CLOCK_H
#define COREPLUS_CLOCK_H

double clock_wall(void);        /* UTC unix seconds, sub-second precision */
double clock_monotonic(void);   /* for intervals; never jumps */
void clock_sleep(double seconds);
/* A deadline given as wall-clock seconds (core.now()) on the monotonic
 * clock, which waits are measured on. */
double clock_deadline(double wall);

#endif
