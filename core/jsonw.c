/*
 * jsonw.c - streaming JSON writer.
 */
#include "jsonw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jw_init(jsonw *w)
{
    memset(w, 0, sizeof *w);
}

void jw_free(jsonw *w)
{
    free(w->data);
    jw_init(w);
}

char *jw_take(jsonw *w)
{
    char *out = w->failed ? NULL : w->data;
    if (out == NULL)
        free(w->data);
    jw_init(w);
    return out;
}

static bool reserve(jsonw *w, size_t more)
{
    if (w->failed)
        return false;
    if (w->len + more + 1 <= w->cap)
        return true;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + more + 1) {
        if (cap > SIZE_MAX / 2) {
            w->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *data = realloc(w->data, cap);
    if (data == NULL) {
        w->failed = true;
        return false;
    }
    w->data = data;
    w->cap = cap;
    return true;
}

void jw_append(jsonw *w, const char *bytes, size_t len)
{
    if (!reserve(w, len))
        return;
    memcpy(w->data + w->len, bytes, len);
    w->len += len;
    w->data[w->len] = '\0';
}

static void put_char(jsonw *w, char c)
{
    jw_append(w, &c, 1);
}

/* Separate this value from the previous one at the same level. */
static void before_value(jsonw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (w->need_comma[w->depth - 1])
            put_char(w, ',');
        w->need_comma[w->depth - 1] = true;
    }
}

static void open_level(jsonw *w, char c)
{
    before_value(w);
    if (w->depth >= JSONW_MAX_DEPTH) {
        w->failed = true;
        return;
    }
    put_char(w, c);
    w->need_comma[w->depth++] = false;
}

static void close_level(jsonw *w, char c)
{
    if (w->depth <= 0) {
        w->failed = true;
        return;
    }
    w->depth--;
    put_char(w, c);
}

void jw_begin_object(jsonw *w)
{
    open_level(w, '{');
}

void jw_end_object(jsonw *w)
{
    close_level(w, '}');
}

void jw_begin_array(jsonw *w)
{
    open_level(w, '[');
}

void jw_end_array(jsonw *w)
{
    close_level(w, ']');
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 when it is not valid. */
static size_t utf8_sequence_length(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* The C1 controls U+0080-U+009F (NEL among them), U+2028 LINE SEPARATOR
 * and U+2029 PARAGRAPH SEPARATOR, given a valid sequence of n bytes. */
static bool breaks_lines(const unsigned char *s, size_t n)
{
    if (n == 2)
        return s[0] == 0xc2 && s[1] <= 0x9f;
    return n == 3 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9);
}

void jw_string_n(jsonw *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    before_value(w);
    put_char(w, '"');
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        /* Copy plain runs in one go: the common case on the request path. */
        while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            jw_append(w, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            jw_append(w, esc, 2);
            i++;
        } else if (c == '\n') {
            jw_append(w, "\\n", 2);
            i++;
        } else if (c == '\r') {
            jw_append(w, "\\r", 2);
            i++;
        } else if (c == '\t') {
            jw_append(w, "\\t", 2);
            i++;
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            jw_append(w, esc, 6);
            i++;
        } else {
            size_t n = utf8_sequence_length(p + i, len - i);
            if (n == 0) {
                /* Keep the record valid JSON: an invalid byte becomes U+FFFD. */
                jw_append(w, "\\ufffd", 6);
                i++;
            } else if (breaks_lines(p + i, n)) {
                /* Valid JSON raw, but a line break to JavaScript before
                 * ES2019, to Unicode-aware line readers (U+2028, U+2029)
                 * and to some log pipelines (U+0085 NEL, and the C1
                 * controls around it): one record would read as several. */
                uint32_t cp = n == 2 ? (uint32_t)(p[i] & 0x1f) << 6 | (p[i + 1] & 0x3f)
                                     : 0x2000u | (p[i + 2] & 0x3f);
                char esc[6] = {
                    '\\',        'u', hex[cp >> 12], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
                    hex[cp & 15]};
                jw_append(w, esc, 6);
                i += n;
            } else {
                jw_append(w, s + i, n);
                i += n;
            }
        }
    }
    put_char(w, '"');
}

void jw_string(jsonw *w, const char *s)
{
    if (s == NULL)
        jw_null(w);
    else
        jw_string_n(w, s, strlen(s));
}

void jw_key(jsonw *w, const char *key)
{
    jw_string(w, key);
    put_char(w, ':');
    w->after_key = true;
}

void jw_int(jsonw *w, int64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%" PRId64, v);
    before_value(w);
    jw_append(w, buf, (size_t)n);
}

void jw_uint(jsonw *w, uint64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%" PRIu64, v);
    before_value(w);
    jw_append(w, buf, (size_t)n);
}

void jw_bool(jsonw *w, bool v)
{
    before_value(w);
    if (v)
        jw_append(w, "true", 4);
    else
        jw_append(w, "false", 5);
}

void jw_null(jsonw *w)
{
    before_value(w);
    jw_append(w, "null", 4);
}

void jw_raw(jsonw *w, const char *json, size_t len)
{
    before_value(w);
    jw_append(w, json, len);
}
