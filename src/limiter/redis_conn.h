/* redis_conn.h -- one connection to one Redis server, over TCP or TLS, with
 * every step bounded by a deadline.
 *
 * RESP is hiredis's: commands are formatted by redisFormatCommandArgv and
 * replies parsed by its redisReader (packaged, tested code; Debian 12's
 * hiredis 0.14 has no TLS, so the I/O is ours). TLS is OpenSSL over memory
 * BIOs, so that every byte goes through one socket loop here: send with
 * MSG_NOSIGNAL (a server that hung up never raises SIGPIPE), poll with
 * what is left of the deadline. No Lua, no locking: the caller serializes
 * use of one connection (redis_link.c). */
#ifndef COREPLUS_REDIS_CONN_H
#define COREPLUS_REDIS_CONN_H

#include <stddef.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>

#define RCONN_MAX_REPLY (4 * 1024 * 1024)   /* a longer reply is refused */

typedef struct rconn {
    int fd;                 /* -1: closed */
    pid_t pid;              /* the process that opened it (a forked child
                               must not talk on its parent's connection) */
    SSL *ssl;               /* NULL: plain TCP */
    BIO *rbio, *wbio;       /* ssl's memory BIOs (owned by ssl) */
    redisReader *reader;
    char name[300];         /* host:port, for messages */
    double budget;          /* seconds the current exchange was given */
} rconn;

/* Outcomes. */
enum { RCONN_OK = 0, RCONN_IO = -1, RCONN_LATE = -2, RCONN_PROTO = -3 };

void rconn_init(rconn *c);

/* Connects to host:port by deadline (monotonic seconds); tls != NULL: a TLS
 * handshake follows, checking the certificate against host unless tls
 * verifies nothing (redis_tls.h). Returns RCONN_OK, or an outcome with a
 * message in err (the connection closed). */
int rconn_open(rconn *c, const char *host, int port, SSL_CTX *tls, double deadline,
               char *err, size_t errlen);

/* Sends one command and reads its reply (freeReplyObject) by deadline. An
 * error reply is a reply. The formatted command is wiped after sending (it
 * may hold a password). On any outcome but RCONN_OK the connection is
 * closed: it may still hold a late reply. */
int rconn_call(rconn *c, int argc, const char **argv, const size_t *lens, double deadline,
               redisReply **reply, char *err, size_t errlen);

/* 1 when open in this process. */
int rconn_is_open(const rconn *c);

void rconn_close(rconn *c);

#endif
