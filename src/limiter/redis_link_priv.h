/* redis_link_priv.h -- the insides of a link (redis_link.h), shared by its
 * two units: redis_link.c (the registry, nodes and their connections,
 * commands) and redis_find.c (where a key lives: the master Sentinel names,
 * the Cluster's slot map). Private to them. */
#ifndef COREPLUS_REDIS_LINK_PRIV_H
#define COREPLUS_REDIS_LINK_PRIV_H

#include <pthread.h>

#include "redis_conn.h"
#include "redis_link.h"
#include "redis_reply.h"
#include "redis_url.h"

typedef struct rnode {
    char host[RREP_HOST];
    int port;
    rconn conn;
    double retry_at;        /* monotonic: no connect attempt before this */
    char why[300];          /* the failure that started the wait */
    int warned;             /* its outage was said */
} rnode;

struct rlink {
    struct rlink *next;     /* the registry */
    char *id;               /* url "\n" TLS settings */
    int refs;
    pthread_mutex_t mu;     /* one exchange at a time */
    redis_url url;
    SSL_CTX *tls;           /* NULL: plain TCP */
    rnode *nodes;           /* servers (the URL's, or learned) */
    int nnodes, cap;
    rconn *sentinels;       /* redis+sentinel: one per URL node */
    int master;             /* sentinel: node index of the master, -1 unknown */
    int last_master;        /* the one before (-1: none yet), to say a change */
    int cluster;            /* -1 not asked yet, 0 no, 1 yes */
    short *slots;           /* cluster: slot -> node index, -1 unknown */
    int last;               /* the node the latest command went to, -1: none */
    int warned;             /* an outage with no node to blame was said */
};

/* redis_link.c */
int rlink_add_node(rlink *k, const char *host, int port);   /* its index; -1: out of memory */
double rlink_until(double step, double deadline);           /* the deadline of one exchange */
redisReply *rlink_cmd(rconn *c, int argc, const char **argv, double step, double deadline,
                      char *err, size_t errlen);
int rlink_auth(rlink *k, rconn *c, double step, double deadline, char *err, size_t errlen);
/* Opens node i's connection when it is not (see redis_link.c). */
int rlink_open(rlink *k, int i, double step, double deadline, char *err, size_t errlen);

/* redis_find.c */
/* The master's node index, asking the sentinels in turn when unknown; -1. */
int rfind_master(rlink *k, double step, double deadline, char *err, size_t errlen);
/* CLUSTER SLOTS on node i: k->cluster 0 (not a Cluster) or 1 with the map. */
int rfind_cluster_read(rlink *k, int i, double step, double deadline, char *err, size_t errlen);
/* Reads the slot map again from any node that answers but `failed`. */
void rfind_cluster_refresh(rlink *k, int failed, double step, double deadline);
/* The node that serves slot now; -1 with err set. */
int rfind_target(rlink *k, int slot, double step, double deadline, char *err, size_t errlen);

#endif
