/*
 * target.c - see target.h.
 */
#include "target.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "strict_uri.h"

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
    if (strict_uri_query_check(q ? q : "", query_len) != 0)
        return -1;
    char *path = malloc(path_len + 1);
    if (path == NULL)
        return -1;
    size_t plen;
    if (strict_uri_path_copy(uri, path_len, path, &plen) != 0) {
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
