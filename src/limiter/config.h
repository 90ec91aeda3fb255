/* config.h -- what a limiter enforces: "at most rate requests in
 * any window of per seconds", with margin added between a slot and the one
 * rate places later. Shared by limiter.c, its binding and http.h. */
#ifndef COREPLUS_THROTTLE_CONFIG_H
#define COREPLUS_THROTTLE_CONFIG_H

typedef struct thr_config {
    int rate;          /* 1 .. THR_MAX_RATE */
    double per;        /* > 0 seconds */
    double margin;     /* >= 0 seconds added to per between arrivals */
} thr_config;

#endif
