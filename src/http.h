/* http.h -- one HTTP exchange over libcurl, without Lua.
 *
 * req_lua.c reads a Lua options table into an http_req (every string
 * copied), then http.c signs and throttles it and sched.c runs it with
 * libcurl, collecting the body and headers into C buffers; only afterwards
 * does req_lua.c push anything to Lua. So a Lua error can never cross
 * libcurl.
 */
#ifndef COREPLUS_HTTP_H
#define COREPLUS_HTTP_H

#include <stddef.h>

#include <curl/curl.h>

#include "defaults.h"
#include "http_parse.h"
#include "jwt.h"
#include "mime.h"
#include "limiter/limiter.h"

#define HTTP_MAX_HEAD DEFAULT_MAX_HEAD   /* all response header lines together */

/* ===== one request ===== */

/* What libcurl reports of a finished transfer, each returned in res under
 * its Lua name: X(C type, field of http_req, CURLINFO_..., "Lua name").
 * The one list: http_req's fields, http_finish's curl_easy_getinfo calls and
 * req_lua.c's pushes are expanded from it (the contract of every transport's
 * results is lua/coreplus/transport/init.lua). */
#define HTTP_RESULT_INFO(X) \
    X(long, status, CURLINFO_RESPONSE_CODE, "status") \
    X(double, total_time, CURLINFO_TOTAL_TIME, "elapsed") \
    X(double, connect_time, CURLINFO_CONNECT_TIME, "connect_time") \
    X(double, appconnect_time, CURLINFO_APPCONNECT_TIME, "tls_time") \
    X(double, pretransfer_time, CURLINFO_PRETRANSFER_TIME, "pretransfer_time") \
    X(double, starttransfer_time, CURLINFO_STARTTRANSFER_TIME, "starttransfer_time") \
    X(long, primary_port, CURLINFO_PRIMARY_PORT, "primary_port") \
    X(long, local_port, CURLINFO_LOCAL_PORT, "local_port")
#define HTTP_RESULT_FIELD(type, field, info, name) type field;

typedef struct http_buf {
    char *p;
    size_t n, cap;
} http_buf;

enum http_kind { HTTP_OK = 0, HTTP_TIMEOUT, HTTP_TLS, HTTP_NETWORK, HTTP_TOO_LARGE,
                 HTTP_LIMITER /* the Redis limit failed (on_redis_error = "fail") */ };

typedef struct http_req {
    /* inputs, all owned (freed by http_req_free) */
    char *method;                 /* upper case */
    char *url;
    char *body;                   /* may be NULL */
    size_t body_len;
    http_parts parts;             /* multipart/form-data instead of body (n > 0) */
    struct curl_slist *headers;   /* caller's headers, "Name: value" */
    int has_ctype, has_accept, has_ua;
    char *consumer_id, *secret, *access_token, *issuer, *audience;  /* secret
                                     is wiped on free; NULL consumer_id: unsigned */
    double now_offset;
    double timeout, connect_timeout;
    char *cafile, *capath;
    int insecure;
    char *user_agent;
    struct curl_slist *resolve;
    size_t max_body;
    thr_limit *lim;               /* retained reference, or NULL */
    thr_config cfg;
    double deadline;              /* monotonic: the whole exchange is over by
                                     then (limiter wait, lock, transfer); 0: none */

    /* the transfer */
    int phase;                    /* the scheduler's (sched.c) */
    CURL *easy;
    struct curl_slist *sent_headers;
    curl_mime *mime;              /* built from parts for this transfer */
    thr_ticket tk;
    double ready_at;              /* monotonic time the limiter allows */
    double started, waited;
    int sent;                     /* the request began to leave (prereq ran) */
    int stop;                     /* it must not be sent: kind and errbuf say why */
    int clamped;                  /* the deadline cut the transfer's timeout */
    int too_large;
    char errbuf[CURL_ERROR_SIZE];
    char why[CURL_ERROR_SIZE];    /* why it was stopped (libcurl may write
                                     errbuf after an abort) */

    /* outcome */
    CURLcode rc;
    int kind;
    http_buf resp_body, resp_head;
    HTTP_RESULT_INFO(HTTP_RESULT_FIELD)
    long num_connects;            /* res.new_connection */
    long http_version;            /* res.http_version ("1.1", "2", ...) */
    long retry_after;             /* seconds, -1 when absent */
    char primary_ip[64];
} http_req;

void http_req_init(http_req *r);
void http_req_free(http_req *r);   /* idempotent; cancels an unsent booking */

/* libcurl global state and one share handle (connections, DNS, TLS sessions). */
int http_global_init(void);
CURLSH *http_share_new(void);

/* Books the limiter slot (if any) without waiting; sets r->ready_at. A
 * request that cannot be sent (the Redis limit failed with policy "fail",
 * or the wait would pass its deadline) gets r->stop, r->kind and errbuf. */
void http_book(http_req *r, double now);
/* A request on its way out (connecting) keeps its booking's lease. */
void http_keep(http_req *r, double now);
/* Seconds still to wait before this request may start (0 = go, or r->stop:
 * the wait would pass its deadline). */
double http_wait_left(http_req *r, double now);
/* The claims r is signed with at server time now (jwt_claims_make: NULL, or
 * the message naming the field that is wrong). */
const char *http_claims(const http_req *r, double now, jwt_claims *c,
                        char method_buf[JWT_METHOD_MAX + 1]);
/* Builds headers, signs (with mac's cached key set-up) and sets every option
 * on easy. Returns 0, or -1 with r->kind/errbuf set (nothing was sent). */
int http_prepare(http_req *r, CURL *easy, CURLSH *share, jwt_mac *mac);
/* Reads the outcome of a finished transfer into r and releases the booking. */
void http_finish(http_req *r, CURLcode rc);

const char *http_kind_name(int kind);

#endif
