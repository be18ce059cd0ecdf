/* isolate_wire.c - see isolate_wire.h. */
#include "isolate_wire.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

uint64_t wire_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void reserve(wire_out *w, size_t more)
{
    if (w->failed)
        return;
    if (more > WIRE_MAX_FRAME - w->len) {
        w->failed = true;
        return;
    }
    if (w->len + more <= w->cap)
        return;
    size_t cap = w->cap ? w->cap : 1024;
    while (cap < w->len + more)
        cap *= 2;
    char *b = realloc(w->buf, cap);
    if (b == NULL) {
        w->failed = true;
        return;
    }
    w->buf = b;
    w->cap = cap;
}

void wire_begin(wire_out *w)
{
    *w = (wire_out){0};
    reserve(w, 4);
    w->len = w->failed ? 0 : 4;
}

void wire_put(wire_out *w, enum wire_tag tag, const void *data, size_t len)
{
    if (len > UINT32_MAX) {
        w->failed = true;
        return;
    }
    reserve(w, 5 + len);
    if (w->failed)
        return;
    uint32_t n = (uint32_t)len;
    w->buf[w->len] = (char)tag;
    memcpy(w->buf + w->len + 1, &n, 4);
    if (len > 0)
        memcpy(w->buf + w->len + 5, data, len);
    w->len += 5 + len;
}

void wire_put_str(wire_out *w, enum wire_tag tag, const char *s)
{
    if (s != NULL)
        wire_put(w, tag, s, strlen(s));
}

void wire_put_int(wire_out *w, enum wire_tag tag, long long v)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%lld", v);
    wire_put(w, tag, text, (size_t)n);
}

void wire_free(wire_out *w)
{
    free(w->buf);
    *w = (wire_out){0};
}

bool wire_next(wire_in *in, wire_field *f)
{
    if (in->bad || in->p == in->end)
        return false;
    uint32_t n;
    if (in->end - in->p < 5) {
        in->bad = true;
        return false;
    }
    memcpy(&n, in->p + 1, 4);
    if ((size_t)(in->end - in->p - 5) < n) {
        in->bad = true;
        return false;
    }
    f->tag = (enum wire_tag)(unsigned char)in->p[0];
    f->data = in->p + 5;
    f->len = n;
    in->p += 5 + (size_t)n;
    return true;
}

char *wire_string(const wire_field *f)
{
    if (memchr(f->data, '\0', f->len) != NULL)
        return NULL;
    char *s = malloc(f->len + 1);
    if (s != NULL) {
        memcpy(s, f->data, f->len);
        s[f->len] = '\0';
    }
    return s;
}

bool wire_int(const wire_field *f, long long *out)
{
    char text[32];
    if (f->len == 0 || f->len >= sizeof text)
        return false;
    memcpy(text, f->data, f->len);
    text[f->len] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* Wait until fd is ready for `events`, by the deadline (0: none). */
static enum wire_status wait_ready(int fd, short events, uint64_t deadline_us)
{
    for (;;) {
        int timeout = -1;
        if (deadline_us != 0) {
            uint64_t now = wire_now_us();
            if (now >= deadline_us)
                return WIRE_TIMEOUT;
            uint64_t ms = (deadline_us - now + 999) / 1000;
            timeout = ms > 60000 ? 60000 : (int)ms;
        }
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return WIRE_ERROR;
        if (n > 0)
            return WIRE_OK;
    }
}

enum wire_status wire_send(int fd, const wire_out *w, uint64_t deadline_us)
{
    if (w->failed || w->len < 4)
        return WIRE_ERROR;
    uint32_t n = (uint32_t)(w->len - 4);
    memcpy(w->buf, &n, 4);
    for (size_t done = 0; done < w->len;) {
        ssize_t k = send(fd, w->buf + done, w->len - done, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            enum wire_status s = wait_ready(fd, POLLOUT, deadline_us);
            if (s != WIRE_OK)
                return s;
            continue;
        }
        if (k <= 0)
            return errno == EPIPE || errno == ECONNRESET ? WIRE_EOF : WIRE_ERROR;
        done += (size_t)k;
    }
    return WIRE_OK;
}

static enum wire_status read_exactly(int fd, char *buf, size_t len, uint64_t deadline_us)
{
    for (size_t done = 0; done < len;) {
        enum wire_status s = wait_ready(fd, POLLIN, deadline_us);
        if (s != WIRE_OK)
            return s;
        ssize_t k = read(fd, buf + done, len - done);
        if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (k == 0 || (k < 0 && errno == ECONNRESET))
            return WIRE_EOF;
        if (k < 0)
            return WIRE_ERROR;
        done += (size_t)k;
    }
    return WIRE_OK;
}

enum wire_status wire_receive(int fd, char **frame, size_t *len, uint64_t deadline_us)
{
    *frame = NULL;
    *len = 0;
    uint32_t n;
    enum wire_status s = read_exactly(fd, (char *)&n, 4, deadline_us);
    if (s != WIRE_OK)
        return s;
    if (n > WIRE_MAX_FRAME)
        return WIRE_ERROR;
    char *buf = malloc(n ? n : 1);
    if (buf == NULL)
        return WIRE_ERROR;
    s = read_exactly(fd, buf, n, deadline_us);
    if (s != WIRE_OK) {
        free(buf);
        return s;
    }
    *frame = buf;
    *len = n;
    return WIRE_OK;
}
