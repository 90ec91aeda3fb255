/* fuzz_headers.c -- http_parse_headers, the response-header parser (src/http_parse.c).
 *
 * The raw block is an exactly-sized heap copy (ASan catches any read or write
 * past it). Properties: the count is -1 (no status line) or 0..max; a found
 * status is 100..999; every field lies inside the block; names are non-empty
 * lower-case RFC 9110 tokens; values hold no LF and have no space or tab at
 * either end. (A bare CR or a NUL in a value is passed through, as in
 * "X: a\r \n" -> "a\r": libcurl refuses NUL bytes in headers itself, Lua
 * strings carry both safely, and no response header is ever sent back out.)
 * The parser is run with a small max as well, to exercise the limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(char *raw, size_t size, size_t max)
{
    http_header *h = malloc((max ? max : 1) * sizeof *h);
    int status = -7, n, i;
    size_t j;

    n = http_parse_headers(raw, size, &status, h, max);
    if (n < -1 || (n >= 0 && (size_t)n > max))
        abort();
    if (n == -1 && status != 0)
        abort();
    if (n >= 0 && (status < 100 || status > 999))
        abort();
    for (i = 0; i < n; i++) {
        if (h[i].name < raw || h[i].name + h[i].name_len > raw + size
            || h[i].value < raw || h[i].value + h[i].value_len > raw + size)
            abort();
        if (!http_token_ok(h[i].name, h[i].name_len))
            abort();
        for (j = 0; j < h[i].name_len; j++) {
            if (h[i].name[j] >= 'A' && h[i].name[j] <= 'Z')
                abort();
        }
        if (memchr(h[i].value, '\n', h[i].value_len) != NULL)
            abort();
        if (h[i].value_len > 0
            && (h[i].value[0] == ' ' || h[i].value[0] == '\t'
                || h[i].value[h[i].value_len - 1] == ' '
                || h[i].value[h[i].value_len - 1] == '\t'))
            abort();
    }
    free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *raw = malloc(size ? size : 1);
    memcpy(raw, data, size);
    fuzz_check(raw, size, HTTP_MAX_HEADERS);
    memcpy(raw, data, size);
    fuzz_check(raw, size, 3);
    free(raw);
    return 0;
}
