/* redis_url.c -- Redis URLs and the password masker (see redis_url.h). */
#include "redis_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* ===== small pieces ===== */

static int rurl_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int rurl_scheme_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '+' || c == '-' || c == '.';
}

static int rurl_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Where a URL stops inside free text: white space, quotes, controls. */
static int rurl_ends_token(int c)
{
    return (unsigned char)c <= ' ' || c == '"' || c == '\'' || c == '<' || c == '>'
           || c == '`' || c == 127;
}

/* Length of the scheme at s when "scheme://" starts there, else 0. */
static size_t rurl_scheme_len(const char *s, size_t n)
{
    size_t i = 0;
    if (n == 0 || !rurl_alpha((unsigned char)s[0]))
        return 0;
    while (i < n && rurl_scheme_char((unsigned char)s[i]))
        i++;
    if (i + 3 <= n && memcmp(s + i, "://", 3) == 0)
        return i;
    return 0;
}

int redis_url_is_url(const char *s)
{
    return s != NULL && rurl_scheme_len(s, strlen(s)) > 0;
}

int redis_url_number(const char *s, size_t n, long lo, long hi, long *out)
{
    long v = 0;
    size_t i;
    if (n == 0 || n > 9)
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int rurl_hex(int c)
{
    c = rurl_lower(c);
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A percent-decoded copy of s[0..n) into *out (a '%' not followed by two
 * hex digits stays as it is). -1: out of memory, or it decodes to a NUL. */
static int rurl_decode(const char *s, size_t n, char **out)
{
    char *p = malloc(n + 1);
    size_t i, j = 0;
    if (p == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        int h, l;
        if (s[i] == '%' && i + 2 < n && (h = rurl_hex((unsigned char)s[i + 1])) >= 0
            && (l = rurl_hex((unsigned char)s[i + 2])) >= 0) {
            p[j++] = (char)(h * 16 + l);
            i += 2;
        } else {
            p[j++] = s[i];
        }
    }
    p[j] = '\0';
    *out = p;
    return strlen(p) == j ? 0 : -1;
}

static void rurl_wipe(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void redis_url_free(redis_url *u)
{
    if (u == NULL)
        return;
    rurl_wipe(u->password);
    free(u->user);
    u->password = u->user = NULL;
}

/* ===== reading a URL ===== */

#define RURL_FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); goto fail; } while (0)

/* "user:password" or ":password" or "password", between p and at. */
static int rurl_userinfo(redis_url *u, const char *p, const char *at, char *err, size_t errlen)
{
    const char *c = memchr(p, ':', (size_t)(at - p));
    const char *pw = c ? c + 1 : p;
    if ((c != NULL && c > p && rurl_decode(p, (size_t)(c - p), &u->user) != 0)
        || rurl_decode(pw, (size_t)(at - pw), &u->password) != 0)
        RURL_FAIL("redis URL: the user or password is not readable (out of memory, or %%00)");
    if (u->user == NULL && u->password[0] == '\0') {   /* "redis://:@host": none */
        free(u->password);
        u->password = NULL;
    }
    return 0;
fail:
    return -1;
}

/* host[:port] or [IPv6][:port] between hp and end, into node. */
static int rurl_hostport(redis_node *node, const char *hp, const char *end, int defport,
                         char *err, size_t errlen)
{
    const char *he, *colon;
    size_t i;
    long v;
    if (hp < end && *hp == '[') {
        he = memchr(hp, ']', (size_t)(end - hp));
        if (he == NULL)
            RURL_FAIL("redis URL: ']' expected after an IPv6 address");
        if (he + 1 < end && he[1] != ':')
            RURL_FAIL("redis URL: ':' or the end expected after ']'");
        colon = he + 1 < end ? he + 1 : NULL;
        hp++;
    } else {
        colon = memchr(hp, ':', (size_t)(end - hp));
        he = colon ? colon : end;
    }
    if (he == hp || (size_t)(he - hp) >= sizeof node->host)
        RURL_FAIL("redis URL: a host name expected");
    for (i = 0; hp + i < he; i++)
        if (rurl_ends_token(hp[i]) || hp[i] == '@' || hp[i] == '/' || hp[i] == ',')
            RURL_FAIL("redis URL: a host name expected (it holds '%c')",
                      (unsigned char)hp[i] > ' ' ? hp[i] : '?');
    memcpy(node->host, hp, (size_t)(he - hp));
    node->host[he - hp] = '\0';
    node->port = defport;
    if (colon != NULL) {
        if (redis_url_number(colon + 1, (size_t)(end - colon - 1), 1, 65535, &v) != 0)
            RURL_FAIL("redis URL: a port from 1 to 65535 expected");
        node->port = (int)v;
    }
    return 0;
fail:
    return -1;
}

/* The path: "/db" (or nothing) for a server; "/MASTER[/db]" for Sentinel. */
static int rurl_path(redis_url *u, const char *p, char *err, size_t errlen)
{
    const char *slash;
    size_t len, i;
    long v;
    if (u->sentinel) {
        if (*p != '/' || p[1] == '\0' || p[1] == '/')
            RURL_FAIL("redis URL: the master's name expected after the sentinels "
                      "(redis+sentinel://host:port/MASTER[/db])");
        p++;
        slash = strchr(p, '/');
        len = slash ? (size_t)(slash - p) : strlen(p);
        if (len >= sizeof u->master)
            RURL_FAIL("redis URL: the master's name is too long");
        for (i = 0; i < len; i++)
            if (rurl_ends_token(p[i]))
                RURL_FAIL("redis URL: a master's name without spaces or quotes expected");
        memcpy(u->master, p, len);
        p += len;
    }
    u->db = 0;
    if (*p == '/' && p[1] != '\0') {
        if (redis_url_number(p + 1, strlen(p + 1), 0, 1000000, &v) != 0)
            RURL_FAIL("redis URL: a database number expected after '/'");
        u->db = (int)v;
    }
    return 0;
fail:
    return -1;
}

/* The scheme: 0, or -1 for one that is not Redis's. */
static int rurl_scheme(redis_url *u, const char *url, size_t n)
{
    static const struct { const char *name; int tls, sentinel; } known[] = {
        { "redis", 0, 0 }, { "rediss", 1, 0 },
        { "redis+sentinel", 0, 1 }, { "rediss+sentinel", 1, 1 },
    };
    size_t k, i;
    for (k = 0; k < sizeof known / sizeof known[0]; k++) {
        if (strlen(known[k].name) != n)
            continue;
        for (i = 0; i < n && rurl_lower((unsigned char)url[i]) == known[k].name[i]; i++)
            ;
        if (i == n) {
            u->tls = known[k].tls;
            u->sentinel = known[k].sentinel;
            return 0;
        }
    }
    return -1;
}

/* u->shown: the URL with *** for the password, ports and db filled in. */
static void rurl_show(redis_url *u)
{
    size_t len, i;
    len = (size_t)snprintf(u->shown, sizeof u->shown, "%s%s://%s%s%s", u->tls ? "rediss" : "redis",
                           u->sentinel ? "+sentinel" : "", u->user ? u->user : "",
                           u->password ? ":" : "", u->password ? "***@" : "");
    for (i = 0; i < (size_t)u->nnodes && len < sizeof u->shown; i++) {
        const redis_node *nd = &u->nodes[i];
        int v6 = strchr(nd->host, ':') != NULL;
        len += (size_t)snprintf(u->shown + len, sizeof u->shown - len, "%s%s%s%s:%d",
                                i ? "," : "", v6 ? "[" : "", nd->host, v6 ? "]" : "", nd->port);
    }
    if (len < sizeof u->shown)
        snprintf(u->shown + len, sizeof u->shown - len, "/%s%s%d", u->master,
                 u->sentinel ? "/" : "", u->db);
}

int redis_url_parse(const char *url, redis_url *u, char *err, size_t errlen)
{
    size_t sl = url ? rurl_scheme_len(url, strlen(url)) : 0;
    const char *p, *at, *hp, *end, *c;
    int defport;

    memset(u, 0, sizeof *u);
    if (sl == 0 || rurl_scheme(u, url, sl) != 0)
        RURL_FAIL("a redis://, rediss:// or redis+sentinel:// URL expected");
    p = url + sl + 3;
    at = strrchr(p, '@');
    if (at != NULL) {
        if (rurl_userinfo(u, p, at, err, errlen) != 0)
            goto fail;
        hp = at + 1;
    } else {
        hp = p;
    }
    end = hp + strcspn(hp, "/?#");
    if (*end == '?' || *end == '#')
        RURL_FAIL("redis URL: no query or fragment expected (TLS files are the options "
                  "redis_cafile, redis_certfile and redis_keyfile)");
    defport = u->sentinel ? 26379 : 6379;
    for (;;) {
        if (u->nnodes == REDIS_URL_NODES)
            RURL_FAIL("redis URL: at most %d hosts", REDIS_URL_NODES);
        c = memchr(hp, ',', (size_t)(end - hp));
        if (c != NULL && !u->sentinel)
            RURL_FAIL("redis URL: one host expected (several are for redis+sentinel://)");
        if (rurl_hostport(&u->nodes[u->nnodes], hp, c ? c : end, defport, err, errlen) != 0)
            goto fail;
        u->nnodes++;
        if (c == NULL)
            break;
        hp = c + 1;
    }
    if (rurl_path(u, end, err, errlen) != 0)
        goto fail;
    rurl_show(u);
    return 0;
fail:
    redis_url_free(u);
    return -1;
}

/* ===== masking ===== */

size_t redis_url_mask(const char *text, size_t n, char *out, size_t cap)
{
    size_t i = 0, o = 0;
#define RURL_PUT(ch) do { if (o + 1 < cap) out[o] = (ch); o++; } while (0)
    while (i < n) {
        size_t sl = 0, end, at, k, colon;
        /* a scheme starts here when the character before is not a scheme's */
        if ((i == 0 || !rurl_scheme_char((unsigned char)text[i - 1]))
            && (sl = rurl_scheme_len(text + i, n - i)) > 0) {
            size_t ui = i + sl + 3;
            for (end = ui; end < n && !rurl_ends_token(text[end]); end++)
                ;
            for (at = end; at > ui && text[at - 1] != '@'; at--)
                ;
            if (at > ui) {   /* user information in [ui, at - 1) */
                for (k = i; k < ui; k++)
                    RURL_PUT(text[k]);
                for (colon = ui; colon < at - 1 && text[colon] != ':'; colon++)
                    ;
                if (colon < at - 1) {
                    for (k = ui; k <= colon; k++)
                        RURL_PUT(text[k]);
                }
                RURL_PUT('*'); RURL_PUT('*'); RURL_PUT('*'); RURL_PUT('@');
                i = at;
                continue;
            }
        }
        RURL_PUT(text[i]);
        i++;
    }
    if (cap > 0)
        out[o < cap ? o : cap - 1] = '\0';
    return o;
#undef RURL_PUT
}
