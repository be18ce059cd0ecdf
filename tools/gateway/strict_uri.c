/*
 * strict_uri.c - see strict_uri.h.
 */
#include "strict_uri.h"

#include <stdbool.h>

static bool dot_segment(const char *s, size_t n)
{
    return (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

int strict_uri_path_copy(const char *path, size_t len, char *out, size_t *outlen)
{
    if (len == 0 || path[0] != '/')
        return -1;
    size_t o = 0;
    size_t seg_start = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '?' || c == '#')
            return -1;
        if (c == '/') {
            if (i > 0 && (i == seg_start || dot_segment(path + seg_start, i - seg_start)))
                return -1;
            seg_start = i + 1;
            out[o++] = '/';
            continue;
        }
        if (c == '%') {
            if (i + 2 < len && path[i + 1] == '2' && path[i + 2] == '4') {
                out[o++] = '$';
                i += 2;
                continue;
            }
            return -1;
        }
        out[o++] = (char)c;
    }
    /* The last segment: "." or ".." at the end ("/a/..") is refused; an
     * empty one is only a trailing slash ("/fhir/"). */
    if (dot_segment(path + seg_start, len - seg_start))
        return -1;
    *outlen = o;
    return 0;
}

int strict_uri_query_check(const char *query, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)query[i];
        if (c <= 0x20 || c >= 0x7f || c == '#')
            return -1;
    }
    return 0;
}
