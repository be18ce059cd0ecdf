/* uri.c - see uri.h. */
#include "uri.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

static bool unreserved(int c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Drops the last segment (and the '/' before it) from out[0..*n). */
static void pop_segment(char *out, size_t *n)
{
    while (*n > 0 && out[*n - 1] != '/')
        (*n)--;
    if (*n > 0)
        (*n)--;
}

/* RFC 3986 §5.2.4: in (a path) into out, which has room for strlen(in) + 2. */
static void remove_dot_segments(const char *in, char *out)
{
    size_t n = 0;
    while (*in) {
        if (strncmp(in, "../", 3) == 0) {
            in += 3;
        } else if (strncmp(in, "./", 2) == 0 || strncmp(in, "/./", 3) == 0) {
            in += 2;
        } else if (strcmp(in, "/.") == 0) {
            in = "/";
        } else if (strncmp(in, "/../", 4) == 0) {
            in += 3;
            pop_segment(out, &n);
        } else if (strcmp(in, "/..") == 0) {
            in = "/";
            pop_segment(out, &n);
        } else if (strcmp(in, ".") == 0 || strcmp(in, "..") == 0) {
            in += strlen(in);
        } else {
            do
                out[n++] = *in++;
            while (*in && *in != '/');
        }
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
}

int uri_normalize(const char *uri, char *out, size_t outlen)
{
    size_t scheme_len;
    bool https;
    if (strncasecmp(uri, "https://", 8) == 0)
        scheme_len = 8, https = true;
    else if (strncasecmp(uri, "http://", 7) == 0)
        scheme_len = 7, https = false;
    else
        return -1;
    const char *host = uri + scheme_len;
    size_t host_len = strcspn(host, "/?#");
    if (host_len == 0 || memchr(host, '@', host_len) != NULL)
        return -1; /* no host, or userinfo */
    const char *path = host + host_len;
    size_t path_len = strcspn(path, "?#");

    size_t n = 0;
    const char *scheme = https ? "https://" : "http://";
    if (strlen(scheme) + host_len + 2 > outlen)
        return -1;
    memcpy(out, scheme, strlen(scheme));
    n = strlen(scheme);
    /* Host lower-cased; a default port dropped. */
    const char *colon = memchr(host, ':', host_len);
    size_t name_len = colon ? (size_t)(colon - host) : host_len;
    if (name_len == 0)
        return -1;
    for (const char *d = colon ? colon + 1 : host + host_len; d < host + host_len; d++)
        if (*d < '0' || *d > '9')
            return -1; /* a port is digits */
    for (size_t i = 0; i < name_len; i++)
        out[n++] = (char)tolower((unsigned char)host[i]);
    if (colon != NULL) {
        const char *port = colon + 1;
        size_t port_len = host_len - name_len - 1;
        bool default_port = (https && port_len == 3 && memcmp(port, "443", 3) == 0) ||
                            (!https && port_len == 2 && memcmp(port, "80", 2) == 0);
        if (port_len == 0)
            default_port = true; /* "host:" is the default port */
        if (!default_port) {
            out[n++] = ':';
            memcpy(out + n, port, port_len);
            n += port_len;
        }
    }
    /* Path: escapes normalised, then dot segments removed. */
    char path_buf[4096];
    size_t k = 0;
    if (path_len + 2 > sizeof path_buf)
        return -1;
    if (path_len == 0 || path[0] != '/')
        path_buf[k++] = '/';
    for (size_t i = 0; i < path_len; i++) {
        if (path[i] != '%') {
            path_buf[k++] = path[i];
            continue;
        }
        int hi = i + 2 < path_len ? hexval((unsigned char)path[i + 1]) : -1;
        int lo = i + 2 < path_len ? hexval((unsigned char)path[i + 2]) : -1;
        if (hi < 0 || lo < 0)
            return -1; /* a bad escape */
        int c = hi * 16 + lo;
        if (unreserved(c)) {
            path_buf[k++] = (char)c;
        } else {
            path_buf[k++] = '%';
            path_buf[k++] = (char)toupper((unsigned char)path[i + 1]);
            path_buf[k++] = (char)toupper((unsigned char)path[i + 2]);
        }
        i += 2;
    }
    path_buf[k] = '\0';
    if (n + k + 2 > outlen)
        return -1;
    remove_dot_segments(path_buf, out + n);
    return 0;
}
