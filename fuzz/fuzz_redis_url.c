/* fuzz_redis_url.c -- Redis URLs and the password masker (redis_url.c)
 * over any text.
 *
 * Input: a NUL-free prefix is read as a URL; the whole input is masked.
 * Properties: nothing crashes; a URL read has 1..16 hosts with ports
 * 1..65535, and what it shows has *** exactly when it has a password; a
 * masked text fits redis_url_mask_cap, is terminated, and masking it again
 * changes nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "limiter/redis_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_fail(void)
{
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *m, *m2, err[256];
    size_t cap = redis_url_mask_cap(size), n, n2;
    redis_url u;
    int i;
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (redis_url_parse(s, &u, err, sizeof err) == 0) {
        if (u.nnodes < 1 || u.nnodes > REDIS_URL_NODES)
            fz_fail();
        for (i = 0; i < u.nnodes; i++)
            if (u.nodes[i].port < 1 || u.nodes[i].port > 65535 || u.nodes[i].host[0] == '\0')
                fz_fail();
        if ((u.password != NULL) != (strstr(u.shown, ":***@") != NULL))
            fz_fail();
        redis_url_free(&u);
    } else if (strchr(err, '\0') == NULL) {
        fz_fail();
    }
    m = malloc(cap);
    m2 = malloc(redis_url_mask_cap(cap));
    if (m != NULL && m2 != NULL) {
        n = redis_url_mask((const char *)data, size, m, cap);
        if (n >= cap || m[n] != '\0')
            fz_fail();
        n2 = redis_url_mask(m, n, m2, redis_url_mask_cap(cap));
        if (n2 != n || memcmp(m, m2, n) != 0)
            fz_fail();
    }
    free(m);
    free(m2);
    free(s);
    return 0;
}
