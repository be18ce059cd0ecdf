/* json_strict.c - see json_strict.h. A recursive-descent reader; the depth
 * bound keeps the recursion bounded. */
#include "json_strict.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct reader {
    const unsigned char *start, *p, *end;
    int depth, max_depth;
    char *err;
    size_t errlen;
    char *buf; /* scratch for unescaped strings */
    size_t bufcap;
} reader;

static json_t *fail(reader *r, const char *msg)
{
    snprintf(r->err, r->errlen, "%s at byte %zu", msg, (size_t)(r->p - r->start));
    return NULL;
}

static void skip_space(reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static bool grow(reader *r, size_t need)
{
    if (need <= r->bufcap)
        return true;
    size_t cap = r->bufcap ? r->bufcap : 256;
    while (cap < need)
        cap *= 2;
    char *b = realloc(r->buf, cap);
    if (b == NULL)
        return false;
    r->buf = b;
    r->bufcap = cap;
    return true;
}

static int hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Reads a string (p at the opening quote) into r->buf; returns its length,
 * or -1. */
static long read_string(reader *r)
{
    r->p++; /* the quote */
    size_t n = 0;
    for (;;) {
        /* Copy a run of plain ASCII at once: the common case. */
        const unsigned char *s = r->p;
        while (s < r->end && *s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\')
            s++;
        size_t run = (size_t)(s - r->p);
        if (!grow(r, n + run + 4))
            return -1;
        memcpy(r->buf + n, r->p, run);
        n += run;
        r->p = s;
        if (r->p >= r->end) {
            fail(r, "unterminated string");
            return -1;
        }
        unsigned c = *r->p;
        if (c == '"') {
            r->p++;
            return (long)n;
        }
        if (c < 0x20) {
            fail(r, "control character in string");
            return -1;
        }
        if (c >= 0x80) {
            size_t k = utf8_sequence(r->p, r->end);
            if (k == 0) {
                fail(r, "invalid UTF-8");
                return -1;
            }
            memcpy(r->buf + n, r->p, k);
            n += k;
            r->p += k;
            continue;
        }
        /* An escape. */
        if (r->end - r->p < 2) {
            fail(r, "unterminated escape");
            return -1;
        }
        unsigned e = r->p[1];
        r->p += 2;
        static const char simple_from[] = "\"\\/bfnrt", simple_to[] = "\"\\/\b\f\n\r\t";
        const char *k = e ? strchr(simple_from, (int)e) : NULL;
        if (k != NULL) {
            r->buf[n++] = simple_to[k - simple_from];
            continue;
        }
        if (e != 'u' || r->end - r->p < 4 || hex4(r->p) < 0) {
            fail(r, "invalid escape");
            return -1;
        }
        unsigned cp = (unsigned)hex4(r->p);
        r->p += 4;
        if (cp >= 0xdc00 && cp <= 0xdfff) {
            fail(r, "lone low surrogate");
            return -1;
        }
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' || hex4(r->p + 2) < 0xdc00 ||
                hex4(r->p + 2) > 0xdfff) {
                fail(r, "lone high surrogate");
                return -1;
            }
            cp = 0x10000 + ((cp - 0xd800) << 10) + ((unsigned)hex4(r->p + 2) - 0xdc00);
            r->p += 6;
        }
        if (cp == 0) {
            fail(r, "\\u0000 in string");
            return -1;
        }
        n += put_utf8(r->buf + n, cp);
    }
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static json_t *read_number(reader *r)
{
    const unsigned char *s = r->p;
    bool real = false;
    if (s < r->end && *s == '-')
        s++;
    if (s >= r->end || *s < '0' || *s > '9')
        return fail(r, "invalid number");
    if (*s == '0')
        s++;
    else
        while (s < r->end && *s >= '0' && *s <= '9')
            s++;
    if (s < r->end && *s == '.') {
        real = true;
        s++;
        if (s >= r->end || *s < '0' || *s > '9')
            return fail(r, "invalid number");
        while (s < r->end && *s >= '0' && *s <= '9')
            s++;
    }
    if (s < r->end && (*s == 'e' || *s == 'E')) {
        real = true;
        s++;
        if (s < r->end && (*s == '+' || *s == '-'))
            s++;
        if (s >= r->end || *s < '0' || *s > '9')
            return fail(r, "invalid number");
        while (s < r->end && *s >= '0' && *s <= '9')
            s++;
    }
    size_t len = (size_t)(s - r->p);
    if (len > JSON_STRICT_MAX_NUMBER)
        return fail(r, "number too long");
    char text[JSON_STRICT_MAX_NUMBER + 1];
    memcpy(text, r->p, len);
    text[len] = '\0';
    r->p = s;
    if (!real) {
        errno = 0;
        long long v = strtoll(text, NULL, 10);
        if (errno == ERANGE)
            return fail(r, "integer out of range");
        return json_integer(v);
    }
    /* strtod follows the process locale; the host's LC_NUMERIC must not
     * change what a token means. */
    pthread_once(&c_locale_once, make_c_locale);
    if (c_locale == (locale_t)0)
        return fail(r, "no C locale");
    double d = strtod_l(text, NULL, c_locale);
    if (isinf(d))
        return fail(r, "real number overflow");
    return json_real(d);
}

static json_t *read_value(reader *r);

static json_t *read_array(reader *r)
{
    r->p++;
    json_t *a = json_array();
    if (a == NULL)
        return fail(r, "out of memory");
    skip_space(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return a;
    }
    for (;;) {
        json_t *v = read_value(r);
        if (v == NULL || json_array_append_new(a, v) != 0)
            goto bad;
        skip_space(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            return a;
        }
        fail(r, "expected ',' or ']'");
        goto bad;
    }
bad:
    json_decref(a);
    return NULL;
}

static json_t *read_object(reader *r)
{
    r->p++;
    json_t *o = json_object();
    if (o == NULL)
        return fail(r, "out of memory");
    skip_space(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return o;
    }
    for (;;) {
        skip_space(r);
        if (r->p >= r->end || *r->p != '"') {
            fail(r, "expected a member name");
            goto bad;
        }
        long klen = read_string(r);
        if (klen < 0)
            goto bad;
        /* The name is in r->buf until the value is read: keep a copy. */
        char key_small[64];
        char *key = (size_t)klen < sizeof key_small ? key_small : malloc((size_t)klen + 1);
        if (key == NULL) {
            fail(r, "out of memory");
            goto bad;
        }
        memcpy(key, r->buf, (size_t)klen);
        key[klen] = '\0';
        if (json_object_getn(o, key, (size_t)klen) != NULL) {
            if (key != key_small)
                free(key);
            fail(r, "duplicate object key");
            goto bad;
        }
        skip_space(r);
        json_t *v = NULL;
        if (r->p < r->end && *r->p == ':') {
            r->p++;
            v = read_value(r);
        } else {
            fail(r, "expected ':'");
        }
        int set = v != NULL ? json_object_setn_new_nocheck(o, key, (size_t)klen, v) : -1;
        if (key != key_small)
            free(key);
        if (set != 0)
            goto bad;
        skip_space(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            return o;
        }
        fail(r, "expected ',' or '}'");
        goto bad;
    }
bad:
    json_decref(o);
    return NULL;
}

static bool literal(reader *r, const char *word, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return false;
    r->p += n;
    return true;
}

static json_t *read_value(reader *r)
{
    skip_space(r);
    if (r->p >= r->end)
        return fail(r, "unexpected end of text");
    switch (*r->p) {
    case '{':
    case '[': {
        if (++r->depth > r->max_depth)
            return fail(r, "nesting too deep");
        json_t *v = *r->p == '{' ? read_object(r) : read_array(r);
        r->depth--;
        return v;
    }
    case '"': {
        long n = read_string(r);
        json_t *v = n < 0 ? NULL : json_stringn_nocheck(r->buf, (size_t)n);
        return v != NULL || n < 0 ? v : fail(r, "out of memory");
    }
    case 't':
        return literal(r, "true", 4) ? json_true() : fail(r, "invalid literal");
    case 'f':
        return literal(r, "false", 5) ? json_false() : fail(r, "invalid literal");
    case 'n':
        return literal(r, "null", 4) ? json_null() : fail(r, "invalid literal");
    default:
        return read_number(r);
    }
}

json_t *json_strict_parse(const char *text, size_t len, int max_depth, char *err, size_t errlen)
{
    const unsigned char *start = (const unsigned char *)text;
    reader r = {start, start, start + len, 0, max_depth, err, errlen, NULL, 0};
    err[0] = '\0';
    json_t *v = read_value(&r);
    if (v != NULL) {
        skip_space(&r);
        if (r.p != r.end) {
            fail(&r, "data after the value");
            json_decref(v);
            v = NULL;
        }
    }
    free(r.buf);
    return v;
}
