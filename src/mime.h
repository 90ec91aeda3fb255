/* mime.h -- multipart/form-data parts for one request, without Lua.
 *
 * mime_lua.c copies a Lua list of parts into an http_parts; http.c turns it
 * into libcurl's MIME structure when the request is prepared. A part's file
 * (path) is read by libcurl while sending, a piece at a time, so a large
 * upload is never held in memory. */
#ifndef COREPLUS_MIME_H
#define COREPLUS_MIME_H

#include <stddef.h>

#include <curl/curl.h>

#define MIME_MAX_PARTS 64

typedef struct http_part {
    char *name;        /* the form field's name */
    char *filename;    /* NULL: none */
    char *type;        /* content type; NULL: none */
    char *data;        /* the bytes, or NULL when path is set */
    size_t data_len;
    char *path;        /* a file sent from disk, or NULL */
} http_part;

typedef struct http_parts {
    http_part *v;
    size_t n;
} http_parts;

void mime_parts_free(http_parts *p);   /* idempotent */

/* The MIME body for e (curl_mime_free it after the transfer), or NULL with
 * err filled. */
curl_mime *mime_build(const http_parts *p, CURL *e, char *err, size_t errlen);

#endif
