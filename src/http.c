/* http.c -- one HTTP exchange over libcurl, without Lua. See http.h.
 *
 * Sections: header parsing, buffers and callbacks, signing, request set-up,
 * outcome. */
#include "http.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "clock.h"
#include "defaults.h"
#include "jwt.h"

/* ===== buffers and callbacks ===== */

/* The request will not be sent: kind, and a message (a format taking one
 * number: the seconds concerned). */
static void http_stop(http_req *r, int kind, const char *fmt, double seconds)
{
    r->stop = 1;
    r->kind = kind;
    snprintf(r->why, sizeof r->why, fmt, seconds);
}

static int http_buf_add(http_buf *b, const char *p, size_t n, size_t limit)
{
    if (n > limit || b->n > limit - n)
        return -1;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *q;
        while (cap < b->n + n + 1)
            cap *= 2;
        q = realloc(b->p, cap);
        if (q == NULL)
            return -1;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

static size_t http_on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    http_req *r = ud;
    size_t n = size * nmemb;
    if (http_buf_add(&r->resp_body, p, n, r->max_body) != 0) {
        r->too_large = 1;
        return 0;    /* aborts the transfer */
    }
    return n;
}

static size_t http_on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    http_req *r = ud;
    size_t n = size * nmemb;
    if (http_buf_add(&r->resp_head, p, n, HTTP_MAX_HEAD) != 0) {
        r->too_large = 1;
        return 0;
    }
    return n;
}

/* Called by libcurl after the connection is set up, right before the request
 * is sent: the moment the limiter's slot really starts. No Lua here. */
static int http_on_prereq(void *ud, char *ip, char *local_ip, int port, int local_port)
{
    http_req *r = ud;
    (void)ip;
    (void)local_ip;
    (void)port;
    (void)local_port;
    if (r->tk.lim != NULL) {
        /* Owed only when an earlier booking left later than planned. */
        double now = clock_monotonic(), owed = thr_sent(&r->tk, &r->cfg, now);
        if (owed > 0 && r->deadline > 0 && now + owed > r->deadline) {
            http_stop(r, HTTP_TIMEOUT, THR_LATE_WAIT, owed);   /* its slot stays counted */
            return CURL_PREREQFUNC_ABORT;
        }
        if (owed > 0) {
            clock_sleep(owed);
            r->waited += owed;
        }
    }
    r->sent = 1;
    return CURL_PREREQFUNC_OK;
}

/* ===== signing ===== */

/* The claims of r at the server's time now (http_read_opts checked them). */
const char *http_claims(const http_req *r, double now, jwt_claims *c,
                        char method_buf[JWT_METHOD_MAX + 1])
{
    jwt_fields f;
    memset(&f, 0, sizeof f);
    f.consumer_id = r->consumer_id;
    f.consumer_id_len = r->consumer_id ? strlen(r->consumer_id) : 0;
    f.access_token = r->access_token;
    f.access_token_len = r->access_token ? strlen(r->access_token) : 0;
    f.url = r->url;
    f.url_len = strlen(r->url);
    f.method = r->method;
    f.method_len = strlen(r->method);
    f.issuer = r->issuer;
    f.issuer_len = r->issuer ? strlen(r->issuer) : 0;
    f.audience = r->audience;
    f.audience_len = r->audience ? strlen(r->audience) : 0;
    f.now = now;
    f.ttl = DEFAULT_TOKEN_TTL;
    return jwt_claims_make(c, &f, method_buf);
}

/* Returns a malloc'ed "Authorization: JwToken <token>" line, or NULL. */
static char *http_auth_line(const http_req *r, jwt_mac *mac)
{
    static const char prefix[] = "Authorization: JwToken ";
    jwt_claims c;
    char method[JWT_METHOD_MAX + 1];
    size_t cap, n;
    char *line;

    if (http_claims(r, clock_wall() + r->now_offset, &c, method) != NULL)
        return NULL;
    cap = sizeof prefix + jwt_token_size(&c);
    line = malloc(cap);
    if (line == NULL)
        return NULL;
    memcpy(line, prefix, sizeof prefix - 1);
    n = jwt_token(mac, &c, r->secret, strlen(r->secret), line + sizeof prefix - 1);
    if (n == 0) {
        OPENSSL_cleanse(line, cap);
        free(line);
        return NULL;
    }
    line[sizeof prefix - 1 + n] = '\0';
    return line;
}

/* ===== request set-up ===== */

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static CURLcode http_global_rc = CURLE_FAILED_INIT;

static void http_global_init_once(void)
{
    http_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int http_global_init(void)
{
    pthread_once(&http_once, http_global_init_once);
    return http_global_rc == CURLE_OK ? 0 : -1;
}

CURLSH *http_share_new(void)
{
    CURLSH *sh = curl_share_init();
    if (sh == NULL)
        return NULL;
    /* One Lua state is single-threaded, so no lock callbacks are needed. */
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return sh;
}

void http_req_init(http_req *r)
{
    memset(r, 0, sizeof *r);
    r->timeout = DEFAULT_TIMEOUT;
    r->connect_timeout = DEFAULT_CONNECT_TIMEOUT;
    r->max_body = DEFAULT_MAX_BODY;
    r->retry_after = -1;
}

static void http_wipe(char **s)
{
    if (*s != NULL) {
        OPENSSL_cleanse(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void http_req_free(http_req *r)
{
    if (r->tk.lim != NULL)
        thr_cancel(&r->tk);
    if (r->lim != NULL)
        thr_close(r->lim);
    r->lim = NULL;
    free(r->method);
    free(r->url);
    free(r->body);
    r->method = r->url = r->body = NULL;
    mime_parts_free(&r->parts);
    if (r->mime != NULL)
        curl_mime_free(r->mime);
    r->mime = NULL;
    curl_slist_free_all(r->headers);
    curl_slist_free_all(r->resolve);
    r->headers = r->resolve = NULL;
    if (r->sent_headers != NULL) {
        /* The Authorization line holds the token. */
        struct curl_slist *h;
        for (h = r->sent_headers; h != NULL; h = h->next)
            OPENSSL_cleanse(h->data, strlen(h->data));
        curl_slist_free_all(r->sent_headers);
        r->sent_headers = NULL;
    }
    http_wipe(&r->secret);
    http_wipe(&r->access_token);
    free(r->consumer_id);
    free(r->issuer);
    free(r->audience);
    free(r->cafile);
    free(r->capath);
    free(r->user_agent);
    r->consumer_id = r->issuer = r->audience = r->cafile = r->capath = NULL;
    r->user_agent = NULL;
    free(r->resp_body.p);
    free(r->resp_head.p);
    memset(&r->resp_body, 0, sizeof r->resp_body);
    memset(&r->resp_head, 0, sizeof r->resp_head);
}

void http_book(http_req *r, double now)
{
    r->started = now;
    r->ready_at = now;
    if (r->deadline > 0 && now >= r->deadline) {
        http_stop(r, HTTP_TIMEOUT, THR_LATE_PAST, now - r->deadline);
        return;
    }
    if (r->lim == NULL)
        return;
    r->ready_at = thr_reserve(r->lim, &r->cfg, now, r->deadline, 1, &r->tk);
    if (r->tk.failed) {        /* Redis limiter, policy "fail": no slot */
        r->stop = 1;
        r->kind = HTTP_LIMITER;
        thr_error(r->lim, r->why, sizeof r->why);
    } else if (r->tk.late) {
        http_stop(r, HTTP_TIMEOUT, THR_LATE_LOCK, 0);
    } else if (r->deadline > 0 && r->ready_at > r->deadline) {
        thr_cancel(&r->tk);    /* fail at once rather than wait for nothing */
        http_stop(r, HTTP_TIMEOUT, THR_LATE_WAIT, r->ready_at - now);
    }
}

void http_keep(http_req *r, double now)
{
    if (r->tk.lim != NULL && !r->sent)
        thr_hold(&r->tk, &r->cfg, now);
}

double http_wait_left(http_req *r, double now)
{
    double d;
    if (r->tk.lim == NULL || r->stop)
        return 0.0;
    d = thr_ready(&r->tk, &r->cfg, now);
    if (r->deadline > 0 && d > 0 && now + d > r->deadline) {
        thr_cancel(&r->tk);    /* earlier bookings left late: it cannot make it */
        http_stop(r, HTTP_TIMEOUT, r->tk.late ? THR_LATE_LOCK : THR_LATE_WAIT, d);
        return 0.0;
    }
    return d;
}

static int http_append(struct curl_slist **l, const char *line)
{
    struct curl_slist *n = curl_slist_append(*l, line);
    if (n == NULL)
        return -1;
    *l = n;
    return 0;
}

static int http_fail_setup(http_req *r, const char *msg)
{
    r->kind = HTTP_NETWORK;
    r->rc = CURLE_FAILED_INIT;
    snprintf(r->errbuf, sizeof r->errbuf, "%s", msg);
    return -1;
}

static long http_ms(double s)
{
    double ms = ceil(s * 1000.0);
    return ms > 2147483647.0 ? 2147483647L : (ms < 1 ? 1L : (long)ms);
}

/* The headers sent: ours (unless the caller gave the same one: libcurl sends
 * the last of a name, so ours are only added when absent), the caller's,
 * and the signed Authorization line. 0, or -1 (r->errbuf says why). */
static int http_build_headers(http_req *r, jwt_mac *mac)
{
    struct curl_slist *h;
    /* a multipart body's Content-Type (with its boundary) is libcurl's */
    if (!r->has_ctype && r->parts.n == 0
        && http_append(&r->sent_headers, "Content-Type: application/json"))
        return http_fail_setup(r, "out of memory");
    if (!r->has_accept && http_append(&r->sent_headers, "Accept: application/json"))
        return http_fail_setup(r, "out of memory");
    if (http_append(&r->sent_headers, "Expect:"))    /* no 100-continue round trip */
        return http_fail_setup(r, "out of memory");
    for (h = r->headers; h != NULL; h = h->next) {
        if (http_append(&r->sent_headers, h->data))
            return http_fail_setup(r, "out of memory");
    }
    if (r->consumer_id != NULL) {
        char *auth = http_auth_line(r, mac);
        int rc;
        if (auth == NULL)
            return http_fail_setup(r, "could not sign the request (OpenSSL)");
        rc = http_append(&r->sent_headers, auth);
        OPENSSL_cleanse(auth, strlen(auth));
        free(auth);
        if (rc)
            return http_fail_setup(r, "out of memory");
    }
    return 0;
}

/* The method and body: libcurl picks the method from the body options. */
static void http_set_method(http_req *r, CURL *e)
{
    if (r->mime != NULL) {
        curl_easy_setopt(e, CURLOPT_MIMEPOST, r->mime);
        if (strcmp(r->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    } else if (r->body != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        if (strcmp(r->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    } else if (strcmp(r->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
}

/* Where libcurl delivers the response, and when the request leaves. */
static void http_set_callbacks(http_req *r, CURL *e)
{
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, http_on_prereq);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, r);
}

static void http_set_tls(http_req *r, CURL *e)
{
    if (r->cafile != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, r->cafile);
    if (r->capath != NULL)
        curl_easy_setopt(e, CURLOPT_CAPATH, r->capath);
    if (r->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

/* The transfer's timeouts end by the deadline at the latest. */
static int http_clamp(http_req *r, double now)
{
    double left = r->deadline - now;
    if (left <= 0) {
        http_stop(r, HTTP_TIMEOUT, THR_LATE_PAST, -left);
        return -1;
    }
    if (left < r->timeout) {
        r->timeout = left;
        r->clamped = 1;
    }
    if (left < r->connect_timeout)
        r->connect_timeout = left;
    return 0;
}

int http_prepare(http_req *r, CURL *e, CURLSH *share, jwt_mac *mac)
{
    double now = clock_monotonic();

    r->easy = e;
    r->waited = now - r->started;
    if (r->waited < 0)
        r->waited = 0;
    if (r->stop)    /* see http_book */
        return -1;
    if (r->deadline > 0 && http_clamp(r, now) != 0)
        return -1;
    if (http_build_headers(r, mac) != 0)
        return -1;
    if (r->parts.n > 0
        && (r->mime = mime_build(&r->parts, e, r->errbuf, sizeof r->errbuf)) == NULL) {
        r->kind = HTTP_NETWORK;
        r->rc = CURLE_FAILED_INIT;
        return -1;
    }
    curl_easy_setopt(e, CURLOPT_SHARE, share);
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    /* libcurl silently sends a request again when a reused connection closes
     * before any byte of the answer ("Connection died, retrying a fresh
     * connect"), POST included. A booking the server stored before the
     * connection dropped would then be made twice; on a new connection
     * libcurl never repeats, so that is where non-idempotent requests go. */
    if (!defaults_idempotent(r->method))
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, http_ms(r->timeout));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, http_ms(r->connect_timeout));
    http_set_callbacks(r, e);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->sent_headers);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_body);
    if (r->user_agent != NULL)
        curl_easy_setopt(e, CURLOPT_USERAGENT, r->user_agent);
    http_set_tls(r, e);
    if (r->resolve != NULL)
        curl_easy_setopt(e, CURLOPT_RESOLVE, r->resolve);
    http_set_method(r, e);
    return 0;
}

/* ===== outcome ===== */

static int http_classify(CURLcode rc, int too_large)
{
    switch (rc) {
    case CURLE_OK:
        return HTTP_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return HTTP_TIMEOUT;
    case CURLE_FILESIZE_EXCEEDED:
        return HTTP_TOO_LARGE;
    case CURLE_WRITE_ERROR:
        return too_large ? HTTP_TOO_LARGE : HTTP_NETWORK;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
        return HTTP_TLS;
    default:
        return HTTP_NETWORK;
    }
}

const char *http_kind_name(int kind)
{
    switch (kind) {
    case HTTP_TIMEOUT: return "timeout";
    case HTTP_TLS: return "tls";
    case HTTP_TOO_LARGE: return "too_large";
    case HTTP_NETWORK: return "network";
    case HTTP_LIMITER: return "limiter";
    default: return "ok";
    }
}

void http_finish(http_req *r, CURLcode rc)
{
    CURL *e = r->easy;
    char *ip = NULL;
    curl_off_t ra = -1;

    r->rc = rc;
    if (r->stop)
        snprintf(r->errbuf, sizeof r->errbuf, "%s", r->why);
    else
        r->kind = http_classify(rc, r->too_large);
    if (r->kind == HTTP_TIMEOUT && r->clamped && !r->stop)
        snprintf(r->errbuf, sizeof r->errbuf,
                 "the transfer passed the deadline (%.2f s were left when it started)",
                 r->timeout);
    if (rc != CURLE_OK && r->errbuf[0] == '\0')
        snprintf(r->errbuf, sizeof r->errbuf, "%s", curl_easy_strerror(rc));
    if (e != NULL) {
#define HTTP_GETINFO(type, field, info, name) curl_easy_getinfo(e, info, &r->field);
        HTTP_RESULT_INFO(HTTP_GETINFO)
#undef HTTP_GETINFO
        curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &r->num_connects);
        curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &r->http_version);
        if (curl_easy_getinfo(e, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip != NULL)
            snprintf(r->primary_ip, sizeof r->primary_ip, "%s", ip);
        if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
            r->retry_after = (long)ra;
        if (r->status == 429 && r->lim != NULL)   /* its key's margin widens (limiter.h) */
            thr_learn_429(r->lim, &r->cfg, clock_monotonic(), r->deadline);
        /* libcurl keeps pointers to these until the handle is reset */
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
        curl_easy_setopt(e, CURLOPT_MIMEPOST, NULL);
    }
    if (r->mime != NULL) {
        curl_mime_free(r->mime);
        r->mime = NULL;
    }
    /* A request that never started to leave does not count against the limit. */
    if (r->tk.lim != NULL) {
        if (r->sent)
            r->tk.lim = NULL;
        else
            thr_cancel(&r->tk);
    }
    if (r->sent_headers != NULL) {
        struct curl_slist *h;
        for (h = r->sent_headers; h != NULL; h = h->next)
            OPENSSL_cleanse(h->data, strlen(h->data));
        if (e != NULL)
            curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(r->sent_headers);
        r->sent_headers = NULL;
    }
}
