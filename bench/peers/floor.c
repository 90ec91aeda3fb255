/* floor.c -- the floor for the per-request benchmark: libcurl alone, one easy
 * handle kept alive, fetching the same 100-row page N times into memory with
 * the headers lua-coreplus sends (one token, made by the caller, serves every
 * transfer: signing is not part of the floor). Prints the process CPU seconds
 * per transfer (clock()) and the bytes of the last body.
 *   floor URL CAFILE AUTHORIZATION N */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

typedef struct body { char *data; size_t len, cap; } body;

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
    body *b = userdata;
    size_t add = size * n;
    if (b->len + add > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 65536;
        while (cap < b->len + add)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (grown == NULL)
            return 0;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, add);
    b->len += add;
    return add;
}

int main(int argc, char **argv)
{
    CURL *e;
    struct curl_slist *h = NULL;
    body b = { NULL, 0, 0 };
    char auth[4096];
    long status = 0;
    int i, n;
    clock_t c0;

    if (argc != 5) {
        fprintf(stderr, "usage: floor URL CAFILE AUTHORIZATION N\n");
        return 2;
    }
    n = atoi(argv[4]);
    snprintf(auth, sizeof auth, "Authorization: %s", argv[3]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    e = curl_easy_init();
    h = curl_slist_append(h, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json");
    h = curl_slist_append(h, "User-Agent: coreplus-bench-floor/1.0 (bench@example.com)");
    curl_easy_setopt(e, CURLOPT_URL, argv[1]);
    curl_easy_setopt(e, CURLOPT_CAINFO, argv[2]);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    /* the first transfer opens the connection, the next few warm it (and the
       caches) up; the measured ones reuse it */
    for (i = 0; i < 10; i++) {
        if (curl_easy_perform(e) != CURLE_OK)
            return 1;
        b.len = 0;
    }
    c0 = clock();
    for (i = 0; i < n; i++) {
        b.len = 0;
        if (curl_easy_perform(e) != CURLE_OK)
            return 1;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200)
            return 1;
    }
    printf("%.9f %zu\n", (double)(clock() - c0) / CLOCKS_PER_SEC / n, b.len);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    free(b.data);
    curl_global_cleanup();
    return 0;
}
