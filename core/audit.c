/*
 * audit.c - the audit sink: one JSON line per decision, written whole or not
 * at all.
 *
 * The file sink opens its file O_APPEND (so other processes and copytruncate
 * rotation are safe), checked like every file fhirpam trusts (a regular
 * file, owned by root or this user, not group- or world-writable: nobody
 * else can append forged records), and writes each record with one write(2),
 * the only system call on the request path. Writes are serialised by a mutex
 * (the kernel serialises O_APPEND writes to one file anyway), so that after
 * a short write (a full disk) the record's start is known and the file is
 * truncated back to it: no torn record, and no record glued onto one. When
 * that cannot be done the next record starts on a new line. Every 250 ms at
 * most, on a write, the file is compared with its path (fstat and stat, never
 * per request): a file deleted or renamed away (rotation) is noticed and the
 * path opened again, onto the same descriptor (dup3), with the same checks.
 *
 * The stderr sink writes a record with one write too; on a pipe or socket a
 * write is whole only up to PIPE_BUF bytes (POSIX write(2)): the core writes
 * a longer record brief there (audit_sink_max_record: no trace, strings cut,
 * "truncated": true), and a record still too long is refused rather than
 * mixed with other writers' lines. A
 * reader gone never kills the host: send(MSG_NOSIGNAL) on a socket, SIGPIPE
 * blocked on the writing thread around a pipe write.
 */
#include "audit.h"
#include "audit_syslog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cfgread.h"
#include "loader.h"

enum sink_kind { SINK_NONE, SINK_FILE, SINK_SYSLOG, SINK_STDERR };

/* What the descriptor is, which decides how a record is written whole. */
enum stream_kind { STREAM_REGULAR, STREAM_PIPE, STREAM_SOCKET, STREAM_OTHER };

/* How often, at most, the audit file is compared with its path. */
#define AUDIT_REOPEN_CHECK_NS (250 * 1000000LL)

struct audit_sink {
    enum sink_kind kind;
    int fd;
    bool required;
    int syslog_priority;
    struct syslog_sink *syslog;
    enum stream_kind stream;
    char *path;           /* the file sink's path */
    pthread_mutex_t lock; /* one write at a time; guards the fields below */
    int64_t next_check;   /* CLOCK_MONOTONIC_COARSE ns */
    bool torn;            /* a partial record is in the file: start on a new line */
    bool failed;          /* the path cannot be used (refused or unopenable) */
};

static const struct {
    const char *name;
    int facility;
} facilities[] = {
    {"auth", LOG_AUTH},     {"authpriv", LOG_AUTHPRIV}, {"daemon", LOG_DAEMON},
    {"user", LOG_USER},     {"local0", LOG_LOCAL0},     {"local1", LOG_LOCAL1},
    {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},     {"local4", LOG_LOCAL4},
    {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},     {"local7", LOG_LOCAL7},
};

static void free_sink(struct audit_sink *s)
{
    if (s->kind == SINK_FILE && s->fd >= 0)
        close(s->fd);
    syslog_sink_close(s->syslog);
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s);
}

static struct audit_sink *fail(struct audit_sink *s, fhirpam_error *err, const char *file,
                               const config_setting_t *at, const char *msg, const char *arg)
{
    fhirpam_error_set(err, "%s:%d: %s%s", file, at ? config_setting_source_line(at) : 0, msg,
                      arg ? arg : "");
    free_sink(s);
    return NULL;
}

/* Opens the audit file for appending (creating it 0600) and checks it on
 * the descriptor: a regular file must be one fhirpam trusts (no other user
 * can then add forged records to it); a character device (/dev/null, a
 * terminal) keeps no records to forge. -1 with why filled. */
static int open_audit_file(const char *path, char *why, size_t whylen)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
    if (fd < 0) {
        snprintf(why, whylen, "%s: %s", path,
                 errno == ELOOP ? "is a symbolic link" : strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode))
        return fd;
    char reason[200];
    if (trusted_check_fd(fd, reason, sizeof reason) != 0) {
        snprintf(why, whylen, "%s %s", path, reason);
        close(fd);
        return -1;
    }
    return fd;
}

static enum stream_kind stream_of(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return STREAM_OTHER;
    if (S_ISREG(st.st_mode))
        return STREAM_REGULAR;
    if (S_ISFIFO(st.st_mode))
        return STREAM_PIPE;
    if (S_ISSOCK(st.st_mode))
        return STREAM_SOCKET;
    return STREAM_OTHER;
}

static int64_t coarse_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct audit_sink *audit_sink_open(const config_setting_t *group, const char *file,
                                   fhirpam_error *err)
{
    struct audit_sink *s = calloc(1, sizeof *s);
    if (s == NULL) {
        fhirpam_error_set(err, "%s: out of memory", file);
        return NULL;
    }
    s->fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    if (group == NULL)
        return s;
    if (config_setting_type(group) != CONFIG_TYPE_GROUP)
        return fail(s, err, file, group, "'audit' must be a group", NULL);

    static const char *const keys[] = {"sink", "path", "required", "facility", "socket", NULL};
    if (cfg_check_keys(group, "audit", keys, file, err) != 0) {
        free_sink(s);
        return NULL;
    }
    const char *sink = NULL, *path = NULL, *facility = "authpriv", *socket_path = NULL;
    const config_setting_t *m;
    if ((m = config_setting_get_member(group, "sink")) != NULL) {
        if ((sink = config_setting_get_string(m)) == NULL)
            return fail(s, err, file, m, "'sink' must be a string", NULL);
    }
    if ((m = config_setting_get_member(group, "path")) != NULL) {
        if ((path = config_setting_get_string(m)) == NULL)
            return fail(s, err, file, m, "'path' must be a string", NULL);
    }
    if ((m = config_setting_get_member(group, "facility")) != NULL) {
        if ((facility = config_setting_get_string(m)) == NULL)
            return fail(s, err, file, m, "'facility' must be a string", NULL);
    }
    if ((m = config_setting_get_member(group, "socket")) != NULL) {
        if ((socket_path = config_setting_get_string(m)) == NULL || socket_path[0] != '/')
            return fail(s, err, file, m, "'socket' must be an absolute path", NULL);
    }
    if ((m = config_setting_get_member(group, "required")) != NULL) {
        if (config_setting_type(m) != CONFIG_TYPE_BOOL)
            return fail(s, err, file, m, "'required' must be true or false", NULL);
        s->required = config_setting_get_bool(m) != 0;
    }
    if (sink == NULL)
        return fail(s, err, file, group, "audit needs 'sink' (file, syslog, stderr or none)", NULL);
    if (socket_path != NULL && strcmp(sink, "syslog") != 0)
        return fail(s, err, file, group, "'socket' is only for the syslog sink", NULL);

    if (strcmp(sink, "none") == 0) {
        s->kind = SINK_NONE;
    } else if (strcmp(sink, "stderr") == 0) {
        s->kind = SINK_STDERR;
        s->fd = STDERR_FILENO;
        s->stream = stream_of(s->fd);
    } else if (strcmp(sink, "syslog") == 0) {
        s->kind = SINK_SYSLOG;
        int fac = -1;
        for (size_t i = 0; i < sizeof facilities / sizeof facilities[0]; i++) {
            if (strcmp(facilities[i].name, facility) == 0)
                fac = facilities[i].facility;
        }
        if (fac < 0)
            return fail(s, err, file, group, "unknown syslog facility: ", facility);
        s->syslog_priority = fac | LOG_INFO;
        if (path != NULL)
            return fail(s, err, file, group, "'path' is only for the file sink", NULL);
        char why[160];
        s->syslog = syslog_sink_open(socket_path ? socket_path : "/dev/log", s->syslog_priority,
                                     why, sizeof why);
        if (s->syslog == NULL)
            return fail(s, err, file, group, "", why);
    } else if (strcmp(sink, "file") == 0) {
        if (path == NULL || path[0] != '/')
            return fail(s, err, file, group, "the file sink needs an absolute 'path'", NULL);
        s->kind = SINK_FILE;
        char why[700];
        s->fd = open_audit_file(path, why, sizeof why);
        if (s->fd < 0)
            return fail(s, err, file, group, "cannot open the audit file: ", why);
        if ((s->path = strdup(path)) == NULL)
            return fail(s, err, file, group, "out of memory", NULL);
        s->stream = STREAM_REGULAR;
        s->next_check = coarse_now_ns() + AUDIT_REOPEN_CHECK_NS;
    } else {
        return fail(s, err, file, group, "unknown audit sink (file, syslog, stderr, none): ", sink);
    }
    if (s->kind != SINK_FILE && path != NULL)
        return fail(s, err, file, group, "'path' is only for the file sink", NULL);
    return s;
}

/* A deleted or renamed audit file is opened again at its path (under
 * sink->lock, at most every AUDIT_REOPEN_CHECK_NS). */
static void check_file(struct audit_sink *sink)
{
    int64_t now = coarse_now_ns();
    if (now < sink->next_check)
        return;
    sink->next_check = now + AUDIT_REOPEN_CHECK_NS;
    struct stat open_st, path_st;
    bool current = fstat(sink->fd, &open_st) == 0 && open_st.st_nlink > 0 &&
                   stat(sink->path, &path_st) == 0 && path_st.st_ino == open_st.st_ino &&
                   path_st.st_dev == open_st.st_dev;
    if (current && !sink->failed)
        return;
    char why[700];
    int fd = open_audit_file(sink->path, why, sizeof why);
    if (fd < 0 || dup3(fd, sink->fd, O_CLOEXEC) < 0) {
        if (!sink->failed)
            syslog(LOG_ERR,
                   "fhirpam audit: cannot open the audit file again (%s); decisions are not "
                   "recorded until it can be used",
                   fd < 0 ? why : strerror(errno));
        sink->failed = true;
    } else {
        if (sink->failed)
            syslog(LOG_NOTICE, "fhirpam audit: %s opened again", sink->path);
        sink->failed = false;
        sink->torn = false; /* a new file: nothing half-written in it */
    }
    if (fd >= 0)
        close(fd);
}

/* After a short write of n bytes of a record: cut them off again when they
 * are the file's last bytes (nobody appended since), else remember that the
 * next record must start a new line. The descriptor's offset is the end of
 * our bytes (O_APPEND, one writer in this process at a time). */
static void undo_short_write(struct audit_sink *sink, size_t n)
{
    off_t end = lseek(sink->fd, 0, SEEK_CUR);
    struct stat st;
    if (end >= (off_t)n && fstat(sink->fd, &st) == 0 && st.st_size == end &&
        ftruncate(sink->fd, end - (off_t)n) == 0)
        return;
    sink->torn = true;
}

static int write_file(struct audit_sink *sink, const char *record, size_t len)
{
    pthread_mutex_lock(&sink->lock);
    check_file(sink);
    int rc = -1;
    if (!sink->failed) {
        struct iovec iov[2] = {{"\n", 1}, {(void *)record, len}};
        int first = sink->torn ? 0 : 1;
        size_t total = len + (sink->torn ? 1 : 0);
        ssize_t n;
        do
            n = writev(sink->fd, iov + first, 2 - first);
        while (n < 0 && errno == EINTR);
        if (n == (ssize_t)total) {
            sink->torn = false;
            rc = 0;
        } else if (n > 0) {
            undo_short_write(sink, (size_t)n);
        }
    }
    pthread_mutex_unlock(&sink->lock);
    return rc;
}

/* write(2) with SIGPIPE kept from this thread: a pipe whose reader is gone
 * gives EPIPE here instead of killing the host. */
static ssize_t write_pipe(int fd, const char *buf, size_t len)
{
    sigset_t pipe_only, old;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    ssize_t n = write(fd, buf, len);
    if (!sigismember(&old, SIGPIPE)) {
        if (n < 0 && errno == EPIPE) {
            /* Take back the SIGPIPE this write raised before unblocking. */
            int saved = errno;
            struct timespec zero = {0, 0};
            while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR)
                ;
            errno = saved;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    return n;
}

static int write_stream(struct audit_sink *sink, const char *record, size_t len)
{
    bool atomic_limited = sink->stream == STREAM_PIPE || sink->stream == STREAM_SOCKET;
    if (atomic_limited && len > PIPE_BUF)
        return -1; /* it could not be written whole: refused, not torn */
    pthread_mutex_lock(&sink->lock);
    ssize_t n;
    do {
        if (sink->stream == STREAM_SOCKET)
            n = send(sink->fd, record, len, MSG_NOSIGNAL);
        else if (sink->stream == STREAM_PIPE)
            n = write_pipe(sink->fd, record, len);
        else
            n = write(sink->fd, record, len);
    } while (n < 0 && errno == EINTR);
    pthread_mutex_unlock(&sink->lock);
    return n == (ssize_t)len ? 0 : -1;
}

int audit_sink_write(struct audit_sink *sink, const char *record, size_t len)
{
    switch (sink->kind) {
    case SINK_NONE:
        return 0;
    case SINK_SYSLOG:
        return syslog_sink_send(sink->syslog, record, len);
    case SINK_FILE:
        /* The caller leaves room for the newline: one write per record. */
        return write_file(sink, record, len);
    case SINK_STDERR:
        return write_stream(sink, record, len);
    }
    return -1;
}

size_t audit_sink_max_record(const struct audit_sink *sink)
{
    bool atomic_limited = sink->stream == STREAM_PIPE || sink->stream == STREAM_SOCKET;
    return sink->kind == SINK_STDERR && atomic_limited ? PIPE_BUF : SIZE_MAX;
}

bool audit_sink_enabled(const struct audit_sink *sink)
{
    return sink->kind != SINK_NONE;
}

bool audit_sink_required(const struct audit_sink *sink)
{
    return sink->required;
}

void audit_sink_close(struct audit_sink *sink)
{
    free_sink(sink);
}
