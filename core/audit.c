/*
 * audit.c - the audit sink: one JSON line per decision.
 *
 * The file sink opens its file once (O_APPEND, so concurrent writers and
 * copytruncate rotation are safe) and writes each record with one write(2):
 * the only system call on the request path. A rename-style rotation is
 * picked up by fhirpam_reload(), which opens the path again.
 */
#include "audit.h"
#include "audit_syslog.h"

#include "cfgread.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "cfgread.h"

enum sink_kind { SINK_NONE, SINK_FILE, SINK_SYSLOG, SINK_STDERR };

struct audit_sink {
    enum sink_kind kind;
    int fd;
    bool required;
    int syslog_priority;
    struct syslog_sink *syslog;
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

static struct audit_sink *fail(struct audit_sink *s, fhirpam_error *err, const char *file,
                               const config_setting_t *at, const char *msg, const char *arg)
{
    fhirpam_error_set(err, "%s:%d: %s%s", file, at ? config_setting_source_line(at) : 0, msg,
                      arg ? arg : "");
    free(s);
    return NULL;
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
    if (group == NULL)
        return s;
    if (config_setting_type(group) != CONFIG_TYPE_GROUP)
        return fail(s, err, file, group, "'audit' must be a group", NULL);

    static const char *const keys[] = {"sink", "path", "required", "facility", "socket", NULL};
    if (cfg_check_keys(group, "audit", keys, file, err) != 0) {
        free(s);
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
        s->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (s->fd < 0)
            return fail(s, err, file, group, "cannot open the audit file: ", strerror(errno));
    } else {
        return fail(s, err, file, group, "unknown audit sink (file, syslog, stderr, none): ", sink);
    }
    if (s->kind != SINK_FILE && path != NULL)
        return fail(s, err, file, group, "'path' is only for the file sink", NULL);
    return s;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int audit_sink_write(struct audit_sink *sink, const char *record, size_t len)
{
    switch (sink->kind) {
    case SINK_NONE:
        return 0;
    case SINK_SYSLOG:
        return syslog_sink_send(sink->syslog, record, len);
    case SINK_FILE:
    case SINK_STDERR:
        /* The caller leaves room for the newline: one write per record keeps
         * lines from different threads whole (O_APPEND). */
        return write_all(sink->fd, record, len);
    }
    return -1;
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
    if (sink->kind == SINK_FILE && sink->fd >= 0)
        close(sink->fd);
    syslog_sink_close(sink->syslog);
    free(sink);
}
