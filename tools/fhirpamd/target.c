/*
 * target.c - see target.h.
 */
#include "target.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Checks the path segments of path[0..len) (which starts with '/') and copies
 * it to out with %24 decoded. */
static int copy_path(const char *path, size_t len, char *out, size_t *outlen)
{
    size_t o = 0;
    size_t seg_start = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c <= 0x20 || c >= 0x7f || c == '\\')
            return -1;
        if (c == '/') {
            if (i > 0) {
                size_t seg = i - seg_start;
                const char *s = path + seg_start;
                if (seg == 0 || (seg == 1 && s[0] == '.') ||
                    (seg == 2 && s[0] == '.' && s[1] == '.'))
                    return -1;
            }
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
    /* The last segment: "." or ".." at the end ("/a/.."), an empty one is
     * only a trailing slash, which is allowed ("/fhir/"). */
    size_t seg = len - seg_start;
    const char *s = path + seg_start;
    if ((seg == 1 && s[0] == '.') || (seg == 2 && s[0] == '.' && s[1] == '.'))
        return -1;
    *outlen = o;
    return 0;
}

int target_resolve(const options *o, const char *uri, char **rel, const route **r, int *no_route)
{
    *rel = NULL;
    *r = NULL;
    *no_route = 0;
    if (uri == NULL || uri[0] != '/' || strchr(uri, '#') != NULL)
        return -1;
    const char *q = strchr(uri, '?');
    size_t path_len = q ? (size_t)(q - uri) : strlen(uri);
    size_t query_len = q ? strlen(q) : 0; /* with the '?' */
    for (size_t i = 0; i < query_len; i++) {
        unsigned char c = (unsigned char)q[i];
        if (c <= 0x20 || c >= 0x7f)
            return -1;
    }
    char *path = malloc(path_len + 1);
    if (path == NULL)
        return -1;
    size_t plen;
    if (copy_path(uri, path_len, path, &plen) != 0) {
        free(path);
        return -1;
    }
    path[plen] = '\0';
    size_t blen = strlen(o->base);
    const char *after;
    if (strncmp(path, o->base, blen) == 0)
        after = path + blen;
    else if (plen + 1 == blen && strncmp(path, o->base, plen) == 0)
        after = path + plen; /* the base itself without its slash: "" */
    else {
        free(path);
        *no_route = 1;
        return -1;
    }
    size_t alen = strlen(after);
    char *out = malloc(alen + query_len + 1);
    if (out == NULL) {
        free(path);
        return -1;
    }
    memcpy(out, after, alen);
    memcpy(out + alen, q ? q : "", query_len);
    out[alen + query_len] = '\0';
    free(path);
    *r = options_route(o, out);
    if (*r == NULL) {
        free(out);
        *no_route = 1;
        return -1;
    }
    *rel = out;
    return 0;
}
