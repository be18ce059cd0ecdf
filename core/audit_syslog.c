/*
 * audit_syslog.c - see audit_syslog.h.
 *
 * The message is the one glibc's syslog(3) sends on /dev/log (RFC 3164
 * §4.1: PRI, a local "Mmm dd hh:mm:ss" timestamp, the tag with the pid),
 * which rsyslog, syslog-ng and journald's /dev/log all read. The socket is
 * connected once; when the daemon goes away and comes back (a new socket at
 * the same path), a send fails with ECONNREFUSED or ENOENT, and the socket
 * is connected again, in place, and the send retried once. Reconnecting the
 * same descriptor (a datagram socket may connect again at any time) rather
 * than opening another means no thread ever sends on a closed or reused
 * descriptor number.
 */
#include "audit_syslog.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct syslog_sink {
    int fd;
    int priority;
    int pid;
    struct sockaddr_un addr;
    socklen_t addr_len;
    pthread_mutex_t reconnect_lock;
};

struct syslog_sink *syslog_sink_open(const char *socket_path, int priority, char *why,
                                     size_t whylen)
{
    struct syslog_sink *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    size_t n = strlen(socket_path);
    if (n >= sizeof s->addr.sun_path) {
        snprintf(why, whylen, "the syslog socket path is longer than %zu bytes",
                 sizeof s->addr.sun_path - 1);
        free(s);
        return NULL;
    }
    s->addr.sun_family = AF_UNIX;
    memcpy(s->addr.sun_path, socket_path, n + 1);
    s->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    s->priority = priority;
    s->pid = (int)getpid();
    s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        snprintf(why, whylen, "cannot make a syslog socket: %s", strerror(errno));
        free(s);
        return NULL;
    }
    /* A syslog daemon that stops reading must not hold requests for long:
     * after a second the send fails, and a required audit denies. Large
     * records (a bundle's summaries) need a larger send buffer than the
     * default; the kernel caps it at net.core.wmem_max. */
    struct timeval timeout = {1, 0};
    int sndbuf = 1 << 20;
    setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    pthread_mutex_init(&s->reconnect_lock, NULL);
    (void)connect(s->fd, (const struct sockaddr *)&s->addr, s->addr_len);
    return s;
}

/* Errors after which the daemon may be back under the same path. */
static bool peer_gone(int e)
{
    return e == ECONNREFUSED || e == ENOTCONN || e == ECONNRESET || e == ENOENT ||
           e == EDESTADDRREQ || e == EPIPE;
}

static bool send_whole(int fd, struct iovec *iov, size_t total)
{
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t n;
    do {
        n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n >= 0 && (size_t)n == total;
}

int syslog_sink_send(struct syslog_sink *s, const char *record, size_t len)
{
    if (len > 0 && record[len - 1] == '\n')
        len--;
    char header[64], stamp[32];
    struct tm tm;
    time_t now = time(NULL);
    if (localtime_r(&now, &tm) == NULL || strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm) == 0)
        snprintf(stamp, sizeof stamp, "Jan  1 00:00:00");
    int hlen = snprintf(header, sizeof header, "<%d>%s fhirpam[%d]: ", s->priority, stamp, s->pid);
    struct iovec iov[2] = {{header, (size_t)hlen}, {(void *)record, len}};
    size_t total = (size_t)hlen + len;
    if (send_whole(s->fd, iov, total))
        return 0;
    if (!peer_gone(errno))
        return -1;
    pthread_mutex_lock(&s->reconnect_lock);
    bool sent = connect(s->fd, (const struct sockaddr *)&s->addr, s->addr_len) == 0 &&
                send_whole(s->fd, iov, total);
    pthread_mutex_unlock(&s->reconnect_lock);
    return sent ? 0 : -1;
}

void syslog_sink_close(struct syslog_sink *s)
{
    if (s == NULL)
        return;
    close(s->fd);
    pthread_mutex_destroy(&s->reconnect_lock);
    free(s);
}
