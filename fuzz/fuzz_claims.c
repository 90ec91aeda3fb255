/* fuzz_claims.c -- jwt_claims_json, the claim JSON builder (jwt.c).
 *
 * The input is split into six strings (iss, aud, consumerId, accessToken, url,
 * httpMethod) and two 64-bit integers. The output buffer is exactly
 * jwt_claims_json_max bytes (ASan catches an overrun; the length is checked
 * too) and the output must parse with the strict RFC 8259 parser below, which
 * also checks that it is the one expected object: the eight members in order,
 * each string decoding back to the exact input bytes, each number the exact
 * input integer. The parser refuses raw control characters and invalid UTF-8
 * in strings; the builder passes bytes >= 0x80 through unchanged, so the
 * output is required to be valid UTF-8 only when every input string was.
 * It also checks jwt_utf8_valid against this file's own UTF-8 reader. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ----- a tiny strict JSON reader for this one shape ----- */

typedef struct { const char *p, *end; } fz_in;

static int fz_utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned cp, min;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xc2 && c <= 0xdf) { k = 1; cp = c & 0x1f; min = 0x80; }
        else if (c >= 0xe0 && c <= 0xef) { k = 2; cp = c & 0x0f; min = 0x800; }
        else if (c >= 0xf0 && c <= 0xf4) { k = 3; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += k + 1;
    }
    return 1;
}

static int fz_hex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads a JSON string into out (capacity >= its raw length); 0 or -1. Only
 * \u escapes below 0x80 are produced by the builder, and only those are
 * decoded to bytes here (others would need UTF-8 encoding: refused). */
static int fz_string(fz_in *in, char *out, size_t *outn, int need_utf8)
{
    const char *start;
    size_t o = 0;
    if (in->p >= in->end || *in->p != '"') return -1;
    start = ++in->p;
    while (in->p < in->end && *in->p != '"') {
        unsigned char c = (unsigned char)*in->p;
        if (c < 0x20) return -1;                  /* raw control character */
        if (c == '\\') {
            if (++in->p >= in->end) return -1;
            switch (*in->p) {
            case '"': out[o++] = '"'; break;
            case '\\': out[o++] = '\\'; break;
            case '/': out[o++] = '/'; break;
            case 'b': out[o++] = '\b'; break;
            case 'f': out[o++] = '\f'; break;
            case 'n': out[o++] = '\n'; break;
            case 'r': out[o++] = '\r'; break;
            case 't': out[o++] = '\t'; break;
            case 'u': {
                int v = 0, d, i;
                for (i = 0; i < 4; i++) {
                    if (++in->p >= in->end || (d = fz_hex(*in->p)) < 0) return -1;
                    v = v * 16 + d;
                }
                if (v >= 0x80) return -1;
                out[o++] = (char)v;
                break;
            }
            default: return -1;
            }
            in->p++;
        } else {
            out[o++] = (char)c;
            in->p++;
        }
    }
    if (in->p >= in->end) return -1;
    if (need_utf8 && !fz_utf8_ok((const unsigned char *)start, (size_t)(in->p - start)))
        return -1;
    in->p++;
    *outn = o;
    return 0;
}

static int fz_lit(fz_in *in, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(in->end - in->p) < n || memcmp(in->p, s, n) != 0) return -1;
    in->p += n;
    return 0;
}

static int fz_int(fz_in *in, long long want)
{
    /* JSON grammar: -?(0|[1-9][0-9]*), no fraction expected here. */
    const char *s = in->p;
    unsigned long long u = 0;
    int neg = 0;
    if (in->p < in->end && *in->p == '-') { neg = 1; in->p++; }
    if (in->p >= in->end || *in->p < '0' || *in->p > '9') return -1;
    if (*in->p == '0' && in->p + 1 < in->end && in->p[1] >= '0' && in->p[1] <= '9') return -1;
    while (in->p < in->end && *in->p >= '0' && *in->p <= '9') {
        u = u * 10 + (unsigned)(*in->p - '0');
        in->p++;
        if (in->p - s > 21) return -1;
    }
    if (neg ? (0ULL - u) != (unsigned long long)want : u != (unsigned long long)want)
        return -1;
    if (!neg && want < 0) return -1;
    return 0;
}

/* ----- the target ----- */

static size_t fz_take(const uint8_t **d, size_t *n, size_t want)
{
    size_t k = want < *n ? want : *n;
    *d += k;
    *n -= k;
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *str[6];
    size_t len[6];
    long long nums[2] = { 0, 0 };
    const char *keys[8] = { "iss", "aud", "nbf", "exp", "consumerId", "accessToken",
                            "url", "httpMethod" };
    int si[8] = { 0, 1, -1, -2, 2, 3, 4, 5 };
    jwt_claims c;
    size_t max, n, i, total = 0;
    char *out, *scratch;
    int all_utf8 = 1;
    fz_in in;

    /* jwt_utf8_valid (with its eight-bytes-at-a-time ASCII path) must agree
     * with the byte-at-a-time reader above on every input, at every offset. */
    for (size_t off = 0; off < 8 && off <= size; off++)
        if (jwt_utf8_valid((const char *)data + off, size - off)
            != fz_utf8_ok(data + off, size - off))
            abort();

    /* Layout: 16 bytes of integers, 6 length bytes, then the strings. */
    if (size >= 16) {
        memcpy(&nums[0], data, 8);
        memcpy(&nums[1], data + 8, 8);
        fz_take(&data, &size, 16);
    }
    {
        uint8_t lens[6] = { 0 };
        size_t k = size < 6 ? size : 6;
        memcpy(lens, data, k);
        fz_take(&data, &size, k);
        for (i = 0; i < 6; i++) {
            const uint8_t *p = data;
            len[i] = fz_take(&data, &size, i == 5 ? size : lens[i]);
            /* Each string in its own exactly-sized copy. */
            str[i] = len[i] ? memcpy(malloc(len[i]), p, len[i]) : NULL;
            total += len[i];
            if (!fz_utf8_ok(p, len[i]))
                all_utf8 = 0;
        }
    }

    memset(&c, 0, sizeof c);
    c.iss = str[0]; c.iss_len = len[0];
    c.aud = str[1]; c.aud_len = len[1];
    c.nbf = nums[0]; c.exp = nums[1];
    c.consumer_id = str[2]; c.consumer_id_len = len[2];
    c.access_token = str[3]; c.access_token_len = len[3];
    c.url = str[4]; c.url_len = len[4];
    c.method = str[5]; c.method_len = len[5];

    max = jwt_claims_json_max(&c);
    out = malloc(max);
    n = jwt_claims_json(&c, out);
    if (n > max)
        abort();

    scratch = malloc(n + 1);
    in.p = out;
    in.end = out + n;
    if (fz_lit(&in, "{")) abort();
    for (i = 0; i < 8; i++) {
        size_t kn;
        if (i > 0 && fz_lit(&in, ",")) abort();
        if (fz_string(&in, scratch, &kn, 1) || kn != strlen(keys[i])
            || memcmp(scratch, keys[i], kn) != 0)
            abort();
        if (fz_lit(&in, ":")) abort();
        if (si[i] < 0) {
            if (fz_int(&in, nums[-si[i] - 1])) abort();
        } else {
            size_t vn;
            int k = si[i];
            if (fz_string(&in, scratch, &vn, all_utf8)) abort();
            if (vn != len[k] || (vn && memcmp(scratch, str[k], vn) != 0)) abort();
        }
    }
    if (fz_lit(&in, "}") || in.p != in.end) abort();

    free(scratch);
    free(out);
    for (i = 0; i < 6; i++)
        free((void *)str[i]);
    (void)total;
    return 0;
}
