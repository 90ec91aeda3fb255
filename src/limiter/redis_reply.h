/* redis_reply.h -- what the limiter makes of Redis's replies: redirections
 * (MOVED, ASK), the Cluster's slot map (CLUSTER SLOTS), the master a
 * Sentinel names, a server's ROLE, and the window script's answer. Pure
 * functions over hiredis's parsed replies, every field checked (a server
 * or anything between may send anything): fuzzed by fuzz/fuzz_redis_reply.c. */
#ifndef COREPLUS_REDIS_REPLY_H
#define COREPLUS_REDIS_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define RREP_HOST 256
#define RREP_SLOTS 16384

/* "-MOVED slot host:port" or "-ASK slot host:port": 1 with the fields set
 * (*ask = 1 for ASK), 0 for any other reply, -1 for a redirection that
 * cannot be read. */
int rrep_redirect(const redisReply *r, int *ask, int *slot, char *host, size_t hostlen,
                  int *port);

/* CLUSTER SLOTS: calls fn for each node of each slot range (master first:
 * replica = 0). Returns the number of ranges, or -1 when the reply is not a
 * slot map (fn may have been called for the ranges before). */
typedef void (*rrep_slot_fn)(void *arg, int first, int last, const char *host, int port,
                             int replica);
int rrep_slots(const redisReply *r, rrep_slot_fn fn, void *arg);

/* SENTINEL GET-MASTER-ADDR-BY-NAME: 0 with host and port; 1 when the
 * Sentinel knows no such master (nil); -1 otherwise. */
int rrep_master_addr(const redisReply *r, char *host, size_t hostlen, int *port);

/* ROLE: 1 master, 0 anything else, -1 not a ROLE reply. */
int rrep_role_master(const redisReply *r);

/* The window script's answer { n, delay, pending, lost, mended }. */
typedef struct rrep_window {
    uint64_t n;
    double delay;      /* seconds, 0 .. max_delay */
    int pending, lost;
    long mended;       /* values the script wrote back corrected */
} rrep_window;
/* 0 with out set, -1 for any other shape. n_in != 0: the booking asked
 * about, which the answer must name. */
int rrep_window_read(const redisReply *r, uint64_t n_in, double max_delay, rrep_window *out);

#endif
