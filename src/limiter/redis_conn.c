/* redis_conn.c -- one connection to one Redis server (see redis_conn.h).
 *
 * Sections: the socket under a deadline, TLS over memory BIOs, connecting,
 * commands. */
#ifndef COREPLUS_NO_REDIS   /* (the header needs hiredis) */

#include "redis_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "../clock.h"

#define RCONN_CHUNK 16384

void rconn_init(rconn *c)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

int rconn_is_open(const rconn *c)
{
    return c->fd >= 0 && c->pid == getpid();
}

void rconn_close(rconn *c)
{
    if (c->ssl != NULL)
        SSL_free(c->ssl);   /* frees both BIOs; sends nothing */
    if (c->reader != NULL)
        redisReaderFree(c->reader);
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->rbio = c->wbio = NULL;
    c->reader = NULL;
    c->fd = -1;
}

/* Closes c and says why; returns rc. */
static int rconn_fail(rconn *c, int rc, char *err, size_t errlen, const char *fmt, const char *what)
{
    snprintf(err, errlen, fmt, c->name, what);
    rconn_close(c);
    return rc;
}

/* ===== the socket under a deadline ===== */

/* The outcome of a deadline that came: "<what> in <budget> s". */
static int rconn_late(rconn *c, char *err, size_t errlen, const char *what)
{
    char buf[80];
    snprintf(buf, sizeof buf, "%s in %.3g s", what, c->budget);
    return rconn_fail(c, RCONN_LATE, err, errlen, "%s: %s", buf);
}

/* Waits until fd is ready for ev: RCONN_OK, RCONN_LATE or RCONN_IO. */
static int rconn_wait(int fd, short ev, double deadline)
{
    for (;;) {
        struct pollfd p;
        double left = deadline - clock_monotonic();
        int ms, r;
        if (left <= 0)
            return RCONN_LATE;
        ms = left > 3600.0 ? 3600000 : (int)(left * 1000.0) + 1;
        p.fd = fd;
        p.events = ev;
        p.revents = 0;
        r = poll(&p, 1, ms);
        if (r > 0)
            return RCONN_OK;   /* errors show in the call that follows */
        if (r < 0 && errno != EINTR)
            return RCONN_IO;
    }
}

/* Sends n bytes: RCONN_OK, or an outcome with c closed. */
static int rconn_send(rconn *c, const char *p, size_t n, double deadline, char *err,
                      size_t errlen)
{
    while (n > 0) {
        ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
        } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (rconn_wait(c->fd, POLLOUT, deadline) == RCONN_LATE)
                return rconn_late(c, err, errlen, "no room to send");
        } else if (r < 0 && errno != EINTR) {
            return rconn_fail(c, RCONN_IO, err, errlen, "%s: send failed: %s", strerror(errno));
        }
    }
    return RCONN_OK;
}

/* Receives up to cap bytes (at least one): RCONN_OK with *got, or an outcome
 * with c closed. */
static int rconn_recv(rconn *c, char *buf, size_t cap, size_t *got, double deadline,
                      char *err, size_t errlen)
{
    for (;;) {
        ssize_t r = recv(c->fd, buf, cap, 0);
        if (r > 0) {
            *got = (size_t)r;
            return RCONN_OK;
        }
        if (r == 0)
            return rconn_fail(c, RCONN_IO, err, errlen, "%s: %s", "the server closed the connection");
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (rconn_wait(c->fd, POLLIN, deadline) == RCONN_LATE)
                return rconn_late(c, err, errlen, "no answer");
        } else if (errno != EINTR) {
            return rconn_fail(c, RCONN_IO, err, errlen, "%s: receive failed: %s", strerror(errno));
        }
    }
}

/* ===== TLS over memory BIOs ===== */

/* Sends what OpenSSL has written to its memory BIO. */
static int rconn_tls_flush(rconn *c, double deadline, char *err, size_t errlen)
{
    char buf[RCONN_CHUNK];
    int n, rc;
    while ((n = BIO_read(c->wbio, buf, sizeof buf)) > 0)
        if ((rc = rconn_send(c, buf, (size_t)n, deadline, err, errlen)) != RCONN_OK)
            return rc;
    return RCONN_OK;
}

/* Moves bytes from the socket into OpenSSL's memory BIO. */
static int rconn_tls_fill(rconn *c, double deadline, char *err, size_t errlen)
{
    char buf[RCONN_CHUNK];
    size_t got;
    int rc = rconn_recv(c, buf, sizeof buf, &got, deadline, err, errlen);
    if (rc == RCONN_OK && BIO_write(c->rbio, buf, (int)got) != (int)got)
        return rconn_fail(c, RCONN_IO, err, errlen, "%s: %s", "out of memory (TLS)");
    return rc;
}

/* Why OpenSSL failed, in words; drains its error queue. */
static void rconn_tls_why(rconn *c, char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    long v = c->ssl != NULL ? SSL_get_verify_result(c->ssl) : X509_V_OK;
    char buf[256];
    if (v != X509_V_OK)
        snprintf(err, errlen, "%s: TLS: the server's certificate was refused: %s", c->name,
                 X509_verify_cert_error_string(v));
    else if (e != 0)
        snprintf(err, errlen, "%s: TLS %s failed: %s", c->name, what,
                 ERR_error_string(e, buf));
    else
        snprintf(err, errlen, "%s: TLS %s failed", c->name, what);
    ERR_clear_error();
}

/* An address literal (no SNI for it, and an IP check instead of a name). */
static int rconn_is_ip(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static int rconn_tls_start(rconn *c, const char *host, SSL_CTX *tls, double deadline,
                           char *err, size_t errlen)
{
    int r, e, rc;

    ERR_clear_error();
    c->ssl = SSL_new(tls);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
        rconn_tls_why(c, err, errlen, "set-up");
        BIO_free(c->rbio);   /* (NULL-safe; ssl owns none yet) */
        BIO_free(c->wbio);
        c->rbio = c->wbio = NULL;
        rconn_close(c);
        return RCONN_IO;
    }
    /* ssl reads rbio and writes wbio; this file moves their bytes to and
     * from the socket. An empty rbio means "wait for more", not the end. */
    BIO_set_mem_eof_return(c->rbio, -1);
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    if (SSL_get_verify_mode(c->ssl) != SSL_VERIFY_NONE) {
        if (rconn_is_ip(host))
            r = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host);
        else
            r = SSL_set1_host(c->ssl, host) && SSL_set_tlsext_host_name(c->ssl, host);
        if (r != 1) {
            rconn_tls_why(c, err, errlen, "set-up");
            rconn_close(c);
            return RCONN_IO;
        }
    } else if (!rconn_is_ip(host)) {
        SSL_set_tlsext_host_name(c->ssl, host);
    }
    for (;;) {
        ERR_clear_error();
        r = SSL_connect(c->ssl);
        e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
        if ((rc = rconn_tls_flush(c, deadline, err, errlen)) != RCONN_OK)
            return rc;
        if (r == 1)
            return RCONN_OK;
        if (e == SSL_ERROR_WANT_READ) {
            if ((rc = rconn_tls_fill(c, deadline, err, errlen)) != RCONN_OK)
                return rc;
        } else if (e != SSL_ERROR_WANT_WRITE) {
            rconn_tls_why(c, err, errlen, "handshake");
            rconn_close(c);
            return RCONN_IO;
        }
    }
}

/* ===== connecting ===== */

/* A non-blocking TCP connection to one address by deadline. */
static int rconn_tcp(rconn *c, const struct addrinfo *ai, double deadline, char *err,
                     size_t errlen)
{
    int one = 1, soerr = 0, rc;
    socklen_t sl = sizeof soerr;
    c->fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (c->fd < 0)
        return rconn_fail(c, RCONN_IO, err, errlen, "%s: cannot connect: %s", strerror(errno));
    fcntl(c->fd, F_SETFD, FD_CLOEXEC);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return RCONN_OK;
    if (errno != EINPROGRESS)
        return rconn_fail(c, RCONN_IO, err, errlen, "%s: cannot connect: %s", strerror(errno));
    if ((rc = rconn_wait(c->fd, POLLOUT, deadline)) == RCONN_LATE)
        return rconn_late(c, err, errlen, "cannot connect");
    if (rc != RCONN_OK || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0)
        return rconn_fail(c, RCONN_IO, err, errlen, "%s: cannot connect: %s",
                          strerror(soerr ? soerr : errno));
    return RCONN_OK;
}

int rconn_open(rconn *c, const char *host, int port, SSL_CTX *tls, double deadline,
               char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL, *ai;
    char sport[16];
    int rc = RCONN_IO, g;

    rconn_close(c);
    c->budget = deadline - clock_monotonic();
    snprintf(c->name, sizeof c->name, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    snprintf(sport, sizeof sport, "%d", port);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* (name resolution is the system's, not bounded by the deadline) */
    if ((g = getaddrinfo(host, sport, &hints, &res)) != 0) {
        snprintf(err, errlen, "%s: cannot resolve the host: %s", c->name, gai_strerror(g));
        return RCONN_IO;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next)
        if ((rc = rconn_tcp(c, ai, deadline, err, errlen)) != RCONN_IO)
            break;
    freeaddrinfo(res);
    if (rc != RCONN_OK)
        return rc;
    c->pid = getpid();
    if ((c->reader = redisReaderCreate()) == NULL)
        return rconn_fail(c, RCONN_IO, err, errlen, "%s: %s", "out of memory");
    if (tls != NULL)
        return rconn_tls_start(c, host, tls, deadline, err, errlen);
    return RCONN_OK;
}

/* ===== commands ===== */

static int rconn_write(rconn *c, const char *cmd, size_t n, double deadline, char *err,
                       size_t errlen)
{
    if (c->ssl == NULL)
        return rconn_send(c, cmd, n, deadline, err, errlen);
    ERR_clear_error();
    if (SSL_write(c->ssl, cmd, (int)n) != (int)n) {   /* a memory BIO takes it all */
        rconn_tls_why(c, err, errlen, "write");
        rconn_close(c);
        return RCONN_IO;
    }
    return rconn_tls_flush(c, deadline, err, errlen);
}

/* Reads more of the reply into the reader. */
static int rconn_more(rconn *c, double deadline, char *err, size_t errlen, size_t *fed)
{
    char buf[RCONN_CHUNK];
    size_t got = 0;
    int rc;
    if (c->ssl == NULL) {
        if ((rc = rconn_recv(c, buf, sizeof buf, &got, deadline, err, errlen)) != RCONN_OK)
            return rc;
    } else {
        for (;;) {
            int r, e;
            ERR_clear_error();
            r = SSL_read(c->ssl, buf, sizeof buf);
            e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
            /* TLS 1.3 may answer a ticket or a key update: send it */
            if ((rc = rconn_tls_flush(c, deadline, err, errlen)) != RCONN_OK)
                return rc;
            if (r > 0) {
                got = (size_t)r;
                break;
            }
            if (e == SSL_ERROR_ZERO_RETURN)
                return rconn_fail(c, RCONN_IO, err, errlen, "%s: %s",
                                  "the server closed the connection");
            if (e != SSL_ERROR_WANT_READ) {
                rconn_tls_why(c, err, errlen, "read");
                rconn_close(c);
                return RCONN_IO;
            }
            if ((rc = rconn_tls_fill(c, deadline, err, errlen)) != RCONN_OK)
                return rc;
        }
    }
    *fed += got;
    if (redisReaderFeed(c->reader, buf, got) != REDIS_OK)
        return rconn_fail(c, RCONN_IO, err, errlen, "%s: %s", "out of memory");
    return RCONN_OK;
}

int rconn_call(rconn *c, int argc, const char **argv, const size_t *lens, double deadline,
               redisReply **reply, char *err, size_t errlen)
{
    char *cmd = NULL;
    int n, rc;
    size_t fed = 0;

    *reply = NULL;
    c->budget = deadline - clock_monotonic();
    if (!rconn_is_open(c)) {
        rconn_close(c);
        snprintf(err, errlen, "%s: not connected", c->name);
        return RCONN_IO;
    }
    if ((n = redisFormatCommandArgv(&cmd, argc, argv, lens)) < 0)
        return rconn_fail(c, RCONN_IO, err, errlen, "%s: %s", "out of memory");
    rc = rconn_write(c, cmd, (size_t)n, deadline, err, errlen);
    OPENSSL_cleanse(cmd, (size_t)n);
    redisFreeCommand(cmd);
    if (rc != RCONN_OK)
        return rc;
    for (;;) {
        void *r = NULL;
        if (redisReaderGetReply(c->reader, &r) != REDIS_OK)
            return rconn_fail(c, RCONN_PROTO, err, errlen, "%s: a reply that is not RESP: %s",
                              c->reader->errstr);
        if (r != NULL) {
            *reply = r;
            return RCONN_OK;
        }
        if (fed > RCONN_MAX_REPLY)
            return rconn_fail(c, RCONN_PROTO, err, errlen, "%s: %s", "a reply over 4 MB");
        if ((rc = rconn_more(c, deadline, err, errlen, &fed)) != RCONN_OK)
            return rc;
    }
}

#else
/* Built without Redis support: noredis.c stands in. */
typedef int rconn_unused;
#endif
