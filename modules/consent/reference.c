/* reference.c - see reference.h. */
#include "reference.h"

#include <string.h>

bool fhir_id_valid(const char *s, size_t len)
{
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

static bool type_valid(const char *s, size_t len)
{
    if (len == 0 || len > 64 || s[0] < 'A' || s[0] > 'Z')
        return false;
    for (size_t i = 1; i < len; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')))
            return false;
    return true;
}

#define MAX_SEGMENTS 4

/* The segments of s[0..len) split at '/', at most MAX_SEGMENTS; -1 when
 * there are more, or an empty one. */
static int split(const char *s, size_t len, const char **seg, size_t *seglen)
{
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '/')
            continue;
        if (i == start || n == MAX_SEGMENTS)
            return -1;
        seg[n] = s + start;
        seglen[n++] = i - start;
        start = i + 1;
    }
    return n;
}

/* The relative forms, s[0..len) without a trailing '/'. */
static int read_relative(const char *s, size_t len, unsigned flags, reference_parts *out)
{
    const char *seg[MAX_SEGMENTS];
    size_t seglen[MAX_SEGMENTS];
    int n = split(s, len, seg, seglen);
    if (n == 4 || n == 3) {
        /* Type/id/_history/v, or (bare) id/_history/v. */
        int h = n - 2;
        if (seglen[h] != 8 || memcmp(seg[h], "_history", 8) != 0 ||
            !fhir_id_valid(seg[h + 1], seglen[h + 1]))
            return -1;
        n -= 2;
    }
    if (n == 2 && type_valid(seg[0], seglen[0]) && fhir_id_valid(seg[1], seglen[1])) {
        *out = (reference_parts){seg[0], seglen[0], seg[1], seglen[1]};
        return 0;
    }
    if (n == 1 && (flags & REFERENCE_BARE_ID) && fhir_id_valid(seg[0], seglen[0])) {
        *out = (reference_parts){NULL, 0, seg[0], seglen[0]};
        return 0;
    }
    return -1;
}

/* Where the last k '/'-separated segments of [s, end) start, or NULL when
 * there are fewer. */
static const char *last_segments(const char *s, const char *end, int k)
{
    int slashes = 0;
    for (const char *p = end; p > s; p--)
        if (p[-1] == '/' && ++slashes == k)
            return p;
    return slashes == k - 1 ? s : NULL;
}

static bool is_absolute(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

int reference_read(const char *value, const char *base, unsigned flags, reference_parts *out)
{
    if (value == NULL)
        return -1;
    size_t len = strlen(value);
    bool trailing = len > 0 && value[len - 1] == '/';
    if (trailing)
        len--; /* one trailing slash: Patient/123/ is Patient/123 (never a bare id's) */
    if (!is_absolute(value))
        return read_relative(value, len, trailing ? 0 : flags & REFERENCE_BARE_ID, out);
    if (flags & REFERENCE_ANY_BASE) {
        /* The path after the host ends in Type/id/_history/v or Type/id. */
        const char *path = strchr(strstr(value, "://") + 3, '/'), *end = value + len;
        if (path == NULL || path >= end)
            return -1;
        for (int k = 4; k >= 2; k -= 2) {
            const char *p = last_segments(path + 1, end, k);
            if (p != NULL && read_relative(p, (size_t)(end - p), 0, out) == 0)
                return 0;
        }
        return -1;
    }
    size_t blen = base ? strlen(base) : 0;
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    if (blen == 0 || blen >= len || strncmp(value, base, blen) != 0 || value[blen] != '/')
        return -1;
    return read_relative(value + blen + 1, len - blen - 1, 0, out);
}
