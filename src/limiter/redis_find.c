/* redis_find.c -- where a key lives (redis_link_priv.h): the master a
 * Sentinel names (asked again after a failover) and a Cluster's slot map
 * (read with CLUSTER SLOTS, read again when a node fails). */
#ifndef COREPLUS_NO_REDIS   /* (the header needs hiredis) */

#include "redis_link_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ===== Sentinel ===== */

/* Asks sentinel s for the master; 0 with k->master set, or -1 (err set). */
static int rfind_ask_sentinel(rlink *k, int s, double step, double deadline, char *err,
                              size_t errlen)
{
    rconn *c = &k->sentinels[s];
    const char *argv[3] = { "SENTINEL", "GET-MASTER-ADDR-BY-NAME", k->url.master };
    char host[RREP_HOST];
    int port, rc, i, authed = 0;
    redisReply *r;

    for (;;) {
        if (!rconn_is_open(c) && rconn_open(c, k->url.nodes[s].host, k->url.nodes[s].port,
                                            k->tls, rlink_until(step, deadline), err, errlen)
                                     != RCONN_OK)
            return -1;
        if ((r = rlink_cmd(c, 3, argv, step, deadline, err, errlen)) == NULL)
            return -1;
        /* a sentinel with requirepass: the URL's password, once */
        if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0 && !authed
            && k->url.password != NULL) {
            freeReplyObject(r);
            if (rlink_auth(k, c, step, deadline, err, errlen) != 0)
                return -1;
            authed = 1;
            continue;
        }
        break;
    }
    rc = rrep_master_addr(r, host, sizeof host, &port);
    if (rc != 0)
        snprintf(err, errlen, "%s: %s", c->name, rc == 1 ? "knows no master of that name"
                 : r->type == REDIS_REPLY_ERROR ? r->str : "an unexpected reply");
    freeReplyObject(r);
    if (rc != 0)
        return -1;
    if ((i = rlink_add_node(k, host, port)) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (k->last_master >= 0 && k->last_master != i)
        fprintf(stderr, "coreplus: %s: the master is now %s:%d (a Sentinel failover)\n",
                k->url.shown, host, port);
    k->master = k->last_master = i;
    return 0;
}

/* The master's node index, asking the sentinels in turn when unknown. */
int rfind_master(rlink *k, double step, double deadline, char *err, size_t errlen)
{
    int s;
    if (k->master >= 0)
        return k->master;
    for (s = 0; s < k->url.nnodes; s++)
        if (rfind_ask_sentinel(k, s, step, deadline, err, errlen) == 0)
            return k->master;
    return -1;
}

/* ===== Cluster ===== */

static void rfind_slot_seen(void *arg, int first, int last, const char *host, int port,
                            int replica)
{
    rlink *k = arg;
    int i = rlink_add_node(k, host, port), s;
    if (i < 0 || replica)
        return;   /* replicas are only known: a place to ask when masters fail */
    for (s = first; s <= last; s++)
        k->slots[s] = (short)i;
}

/* CLUSTER SLOTS on node i (open): k->cluster becomes 0 (not a Cluster) or
 * 1 with the slot map read. 0, or -1 with err set. */
int rfind_cluster_read(rlink *k, int i, double step, double deadline, char *err,
                              size_t errlen)
{
    const char *argv[2] = { "CLUSTER", "SLOTS" };
    redisReply *r = rlink_cmd(&k->nodes[i].conn, 2, argv, step, deadline, err, errlen);
    int s;
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_ERROR) {
        /* "ERR This instance has cluster support disabled" */
        freeReplyObject(r);
        if (k->cluster < 0)
            k->cluster = 0;
        return 0;
    }
    if (k->slots == NULL && (k->slots = malloc(RREP_SLOTS * sizeof *k->slots)) == NULL) {
        freeReplyObject(r);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (s = 0; s < RREP_SLOTS; s++)
        k->slots[s] = -1;
    if (rrep_slots(r, rfind_slot_seen, k) < 0) {   /* (it may add nodes: no rconn *) */
        freeReplyObject(r);
        snprintf(err, errlen, "%s: CLUSTER SLOTS: an unexpected reply", k->nodes[i].conn.name);
        rconn_close(&k->nodes[i].conn);
        return -1;
    }
    freeReplyObject(r);
    k->cluster = 1;
    return 0;
}

/* Reads the slot map again from any node that answers (after a node
 * failed, or the cluster moved a slot). */
void rfind_cluster_refresh(rlink *k, int failed, double step, double deadline)
{
    char err[256];
    int i;
    for (i = 0; i < k->nnodes; i++) {
        if (i == failed || rlink_open(k, i, step, deadline, err, sizeof err) != 0)
            continue;
        if (rfind_cluster_read(k, i, step, deadline, err, sizeof err) == 0)
            return;
    }
}

/* The node that serves slot now; -1 with err set. */
int rfind_target(rlink *k, int slot, double step, double deadline, char *err,
                        size_t errlen)
{
    if (k->url.sentinel)
        return rfind_master(k, step, deadline, err, errlen);
    if (k->cluster == 1 && k->slots[slot] >= 0)
        return k->slots[slot];
    return 0;
}

#else
typedef int rfind_unused;
#endif
