/* mime.c -- multipart/form-data parts, built with libcurl's MIME API. */
#include "mime.h"

#include <stdio.h>
#include <stdlib.h>

void mime_parts_free(http_parts *p)
{
    size_t i;
    for (i = 0; p->v != NULL && i < p->n; i++) {
        free(p->v[i].name);
        free(p->v[i].filename);
        free(p->v[i].type);
        free(p->v[i].data);
        free(p->v[i].path);
    }
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

/* One part; 0, or -1 with err filled. */
static int mime_add(curl_mime *m, const http_part *hp, char *err, size_t errlen)
{
    curl_mimepart *part = curl_mime_addpart(m);
    CURLcode rc;
    if (part == NULL) {
        snprintf(err, errlen, "out of memory building the multipart body");
        return -1;
    }
    rc = curl_mime_name(part, hp->name);
    if (rc == CURLE_OK && hp->path != NULL)
        rc = curl_mime_filedata(part, hp->path);     /* streamed while sending */
    else if (rc == CURLE_OK)
        rc = curl_mime_data(part, hp->data ? hp->data : "", hp->data_len);
    /* filedata names the part after the file's base name: the caller's wins */
    if (rc == CURLE_OK && hp->filename != NULL)
        rc = curl_mime_filename(part, hp->filename);
    if (rc == CURLE_OK && hp->type != NULL)
        rc = curl_mime_type(part, hp->type);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "multipart part '%s': %s", hp->name, curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

curl_mime *mime_build(const http_parts *p, CURL *e, char *err, size_t errlen)
{
    curl_mime *m = curl_mime_init(e);
    size_t i;
    if (m == NULL) {
        snprintf(err, errlen, "out of memory building the multipart body");
        return NULL;
    }
    for (i = 0; i < p->n; i++) {
        if (mime_add(m, &p->v[i], err, errlen) != 0) {
            curl_mime_free(m);
            return NULL;
        }
    }
    return m;
}
