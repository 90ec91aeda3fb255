/* http_parse.c -- response header parsing and header hygiene: pure C over
 * bytes, no libcurl and no Lua, so a fuzz target can link this file alone.
 * See http_parse.h. */
#include "http_parse.h"

#include <string.h>

static int http_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int http_token_ok(const char *s, size_t n)
{
    size_t i;
    if (n == 0)
        return 0;
    for (i = 0; i < n; i++) {
        if (!http_tchar((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

int http_value_ok(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return 0;
    }
    return 1;
}

/* "HTTP/1.1 200 OK", "HTTP/2 404": returns the code, or 0. */
static int http_status_line(const char *s, size_t n)
{
    size_t i = 5;
    int code = 0, d;
    if (n < 5 || memcmp(s, "HTTP/", 5) != 0)
        return 0;
    while (i < n && s[i] != ' ')
        i++;
    while (i < n && s[i] == ' ')
        i++;
    for (d = 0; d < 3; d++, i++) {
        if (i >= n || s[i] < '0' || s[i] > '9')
            return 0;
        code = code * 10 + (s[i] - '0');
    }
    /* "HTTP/1.1 204" with no space and no reason phrase: libcurl takes it */
    if (i < n && s[i] != ' ' && s[i] != '\r')
        return 0;
    return code >= 100 ? code : 0;
}

static int http_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int http_parse_headers(char *raw, size_t n, int *status, http_header *out,
                       size_t max)
{
    size_t pos = 0, block = 0, count = 0;
    int found = 0, code = 0;

    *status = 0;
    /* Find the last line that is a status line: the final response. */
    while (pos < n) {
        char *nl = memchr(raw + pos, '\n', n - pos);
        size_t end = nl ? (size_t)(nl - raw) : n;
        int c = http_status_line(raw + pos, end - pos);
        if (c) {
            found = 1;
            code = c;
            block = nl ? end + 1 : n;
        }
        pos = nl ? end + 1 : n;
    }
    if (!found)
        return -1;
    *status = code;

    pos = block;
    while (pos < n && count < max) {
        char *nl = memchr(raw + pos, '\n', n - pos);
        size_t end = nl ? (size_t)(nl - raw) : n, len = end - pos, i;
        char *line = raw + pos, *colon;
        pos = nl ? end + 1 : n;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (len == 0)
            break;                   /* the blank line ends the block */
        if (http_is_ows(line[0]))
            continue;                /* obsolete folding: dropped */
        colon = memchr(line, ':', len);
        if (colon == NULL || !http_token_ok(line, (size_t)(colon - line)))
            continue;
        out[count].name = line;
        out[count].name_len = (size_t)(colon - line);
        for (i = 0; i < out[count].name_len; i++) {
            if (line[i] >= 'A' && line[i] <= 'Z')
                line[i] = (char)(line[i] - 'A' + 'a');
        }
        i = (size_t)(colon - line) + 1;
        while (i < len && http_is_ows(line[i]))
            i++;
        while (len > i && http_is_ows(line[len - 1]))
            len--;
        out[count].value = line + i;
        out[count].value_len = len - i;
        count++;
    }
    return (int)count;
}

