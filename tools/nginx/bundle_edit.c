/*
 * bundle_edit.c - see bundle_edit.h. A scanner of JSON tokens (RFC 8259),
 * iterative (no recursion on attacker-controlled nesting), that only needs
 * to find where each top-level member and each entry begins and ends.
 */
#include "bundle_edit.h"

#include <stdbool.h>
#include <string.h>

#define MAX_DEPTH 2048

typedef struct scan {
    const char *s;
    size_t len, i;
} scan;

static void skip_ws(scan *sc)
{
    while (sc->i < sc->len) {
        char c = sc->s[sc->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        sc->i++;
    }
}

/* At '"': past the closing quote; *escaped when a backslash was seen. */
static int skip_string(scan *sc, bool *escaped)
{
    sc->i++;
    while (sc->i < sc->len) {
        unsigned char c = (unsigned char)sc->s[sc->i];
        if (c == '\\') {
            *escaped = true;
            sc->i += 2;
            continue;
        }
        sc->i++;
        if (c == '"')
            return 0;
        if (c < 0x20)
            return -1;
    }
    return -1;
}

/* One value (after leading whitespace); containers are matched with a
 * stack of the closers expected. */
static int skip_value(scan *sc)
{
    char closers[MAX_DEPTH];
    size_t depth = 0;
    bool escaped = false;
    skip_ws(sc);
    do {
        if (sc->i >= sc->len)
            return -1;
        char c = sc->s[sc->i];
        if (c == '"') {
            if (skip_string(sc, &escaped) != 0)
                return -1;
        } else if (c == '{' || c == '[') {
            if (depth == MAX_DEPTH)
                return -1;
            closers[depth++] = c == '{' ? '}' : ']';
            sc->i++;
        } else if (c == '}' || c == ']') {
            if (depth == 0 || closers[depth - 1] != c)
                return -1;
            depth--;
            sc->i++;
        } else if (c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (depth == 0)
                return -1;
            sc->i++;
        } else {
            /* A number or a literal: up to the next delimiter. */
            size_t start = sc->i;
            while (sc->i < sc->len && strchr(",:]} \t\r\n{[\"", sc->s[sc->i]) == NULL)
                sc->i++;
            if (sc->i == start)
                return -1;
        }
    } while (depth > 0);
    return 0;
}

static bool expect(scan *sc, char c)
{
    skip_ws(sc);
    if (sc->i >= sc->len || sc->s[sc->i] != c)
        return false;
    sc->i++;
    return true;
}

static bool peek(scan *sc, char c)
{
    skip_ws(sc);
    return sc->i < sc->len && sc->s[sc->i] == c;
}

typedef struct writer {
    char *out;
    size_t n, cap;
} writer;

static int put(writer *w, const char *p, size_t n)
{
    if (n > w->cap - w->n)
        return -1;
    memcpy(w->out + w->n, p, n);
    w->n += n;
    return 0;
}

/* The "entry" array, at '[': the kept elements, joined by commas. */
static int copy_entries(scan *sc, writer *w, const size_t *remove, size_t nremove)
{
    size_t index = 0, k = 0;
    bool first = true;
    if (!expect(sc, '[') || put(w, "[", 1) != 0)
        return -1;
    if (!peek(sc, ']')) {
        for (;;) {
            skip_ws(sc);
            size_t start = sc->i;
            if (skip_value(sc) != 0)
                return -1;
            if (k < nremove && remove[k] == index) {
                k++;
            } else {
                if ((!first && put(w, ",", 1) != 0) || put(w, sc->s + start, sc->i - start) != 0)
                    return -1;
                first = false;
            }
            index++;
            if (expect(sc, ','))
                continue;
            break;
        }
    }
    if (!expect(sc, ']') || put(w, "]", 1) != 0)
        return -1;
    return k == nremove ? 0 : -1; /* an index beyond the last entry */
}

int bundle_edit_remove_entries(const char *json, size_t len, const size_t *remove, size_t nremove,
                               char *out, size_t *outlen)
{
    for (size_t k = 1; k < nremove; k++) {
        if (remove[k] <= remove[k - 1])
            return -1;
    }
    scan sc = {json, len, 0};
    writer w = {out, 0, len};
    bool first = true, seen_entry = false;
    if (!expect(&sc, '{') || put(&w, "{", 1) != 0)
        return -1;
    if (!peek(&sc, '}')) {
        for (;;) {
            skip_ws(&sc);
            size_t member = sc.i;
            bool escaped = false;
            if (sc.i >= len || json[sc.i] != '"' || skip_string(&sc, &escaped) != 0 || escaped)
                return -1;
            const char *name = json + member + 1;
            size_t name_len = sc.i - member - 2;
            if (!expect(&sc, ':'))
                return -1;
            skip_ws(&sc);
            bool is_entry = name_len == 5 && memcmp(name, "entry", 5) == 0;
            bool is_total = name_len == 5 && memcmp(name, "total", 5) == 0;
            if (is_entry) {
                if (seen_entry)
                    return -1;
                seen_entry = true;
                if ((!first && put(&w, ",", 1) != 0) || put(&w, "\"entry\":", 8) != 0 ||
                    copy_entries(&sc, &w, remove, nremove) != 0)
                    return -1;
                first = false;
            } else {
                if (skip_value(&sc) != 0)
                    return -1;
                if (!is_total) {
                    if ((!first && put(&w, ",", 1) != 0) ||
                        put(&w, json + member, sc.i - member) != 0)
                        return -1;
                    first = false;
                }
            }
            if (expect(&sc, ','))
                continue;
            break;
        }
    }
    if (!expect(&sc, '}') || put(&w, "}", 1) != 0)
        return -1;
    skip_ws(&sc);
    if (sc.i != len || !seen_entry)
        return -1;
    *outlen = w.n;
    return 0;
}
