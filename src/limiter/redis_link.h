/* redis_link.h -- the way to one Redis deployment, shared in a process by
 * every limiter that names the same URL and TLS settings: a plain server, a
 * Cluster (reached through any node: MOVED and ASK followed, the slot map
 * read with CLUSTER SLOTS and read again when the cluster changes) or a
 * master found through Sentinel (asked again after a failover). It owns the
 * connections (one per node, made lazily: AUTH [user] password, SELECT db),
 * and the back-off after a failure (per node: no connect attempt more than
 * once a second while one is down). No Lua; thread-safe.
 *
 * Every exchange (a connect, a TLS handshake, each command) gets at most
 * `step` seconds and never runs past `deadline`: a call's timeout bounds
 * all of it. */
#ifndef COREPLUS_REDIS_LINK_H
#define COREPLUS_REDIS_LINK_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "redis_tls.h"

#define RLINK_RETRY 1.0       /* seconds between attempts on a node that failed */
#define RLINK_REDIRECTS 5     /* MOVED/ASK followed per command, at most */
#define RLINK_SLOW 0.1        /* seconds without an answer that make a node
                                 count as down, whatever the call's deadline */

typedef struct rlink rlink;

/* The link for url and tls (a new one or a shared one; rlink_release ends
 * it). NULL with a message in err (never the password) for a bad URL or
 * unusable TLS files. */
rlink *rlink_get(const char *url, const rtls_opts *tls, char *err, size_t errlen);
void rlink_release(rlink *k);

/* The URL as it may be shown (*** for the password). */
const char *rlink_shown(const rlink *k);

/* Runs a script: argv (EVALSHA sha numkeys key ...) on the node that holds
 * slot; when the node does not know the script, the same with argv[0] =
 * "EVAL" and argv[1] = script. deadline: monotonic seconds, 0 = none; step:
 * the most one exchange may take. Returns the reply (an error reply is a
 * reply; freeReplyObject), or NULL with a message in err. */
redisReply *rlink_script(rlink *k, int slot, int argc, const char **argv, size_t *lens,
                         const char *script, double step, double deadline,
                         char *err, size_t errlen);

/* After rlink_script: ok = 0 says err on stderr with the words say after
 * it, once per outage of the node it went to (or of the deployment, when
 * no node could be named); ok = 1 after such an outage says it ended.
 * say NULL: nothing is said. (stderr: the C core has no logger.) */
void rlink_say(rlink *k, int ok, const char *say, const char *err);

/* 1 while a connection to the deployment is open. */
int rlink_connected(rlink *k);

#endif
