/* config.h -- what a limiter enforces ("at most rate requests in any window
 * of per seconds", margin added between a slot and the one rate places
 * later) and the lease a pending booking holds. The bottom of the limiter's
 * headers: every other includes it, it includes only the core's defaults
 * (src/defaults.h, the one home of the lease, shared with the ngx transport
 * as core.defaults.lease; see limiter.h). */
#ifndef COREPLUS_LIMITER_CONFIG_H
#define COREPLUS_LIMITER_CONFIG_H

#include "../defaults.h"

#define THR_RING 1024                  /* bookings a window remembers, at most */
#define THR_MAX_RATE (THR_RING / 2)
#define THR_LEASE DEFAULT_LEASE        /* seconds a pending booking holds the
                                          others up without a renewal */
#define THR_RENEW (THR_LEASE / 4)      /* the owner renews this often */
#define THR_FILE_KEYS 32               /* keys one shared file holds (file.h);
                                          core.defaults.limit_file_keys */

typedef struct thr_config {
    int rate;          /* 1 .. THR_MAX_RATE */
    double per;        /* > 0 seconds */
    double margin;     /* >= 0 seconds added to per between arrivals */
} thr_config;

#endif
