/* http_parse.h -- response header parsing and header hygiene, without
 * libcurl or Lua: pure functions over bytes (the fuzz target drives them). */
#ifndef COREPLUS_HTTP_PARSE_H
#define COREPLUS_HTTP_PARSE_H

#include <stddef.h>

#define HTTP_MAX_HEADERS 512          /* header fields returned to Lua */

typedef struct http_header {
    char *name;          /* lower-cased in place; not NUL-terminated */
    size_t name_len;
    char *value;         /* without surrounding white space */
    size_t value_len;
} http_header;

/* Parses the header lines libcurl delivered for one transfer: possibly several
 * blocks (1xx interim responses, a proxy's CONNECT reply); only the last block
 * that starts with a status line counts. Names are lower-cased in place.
 * Lines without a colon, with an invalid name, or folded (obsolete) are
 * skipped. Fills at most max fields and returns how many, or -1 when no status
 * line was found; *status gets the status code (100..999) or 0. */
int http_parse_headers(char *raw, size_t n, int *status, http_header *out,
                       size_t max);

/* Refuses CR, LF and NUL (1 = acceptable). */
int http_value_ok(const char *s, size_t n);
/* An RFC 9110 token (header names, methods). */
int http_token_ok(const char *s, size_t n);

#endif
