/*
 * ngx_http_fhirpam_check.c - the fhirpam configuration checked the way a
 * worker will open it, before nginx accepts its own configuration.
 *
 * Called from the init_conf of a core module (ngx_fhirpam_check_module),
 * which nginx runs after it has read the whole file and before it starts
 * workers: in `nginx -t`, in `nginx -s reload`'s signaller, and in the
 * master on reload. A failure there refuses the new configuration and, on
 * reload, keeps the old workers running (a failure in init_module would end
 * the master instead).
 *
 * The check runs in a child process that first becomes the workers' user
 * (`user` directive) when nginx runs as root, then calls fhirpam_open(): so
 * what the workers could not read or write (the configuration, the keys,
 * the audit file, which fhirpam creates on open) fails here, and no thread
 * of fhirpam ever runs in the master. The child answers over a pipe: "ok"
 * and the stack names, or the error. Every `fhirpam_stack NAME` must name
 * one of those stacks.
 */
#include "ngx_http_fhirpam.h"

#include <grp.h>
#include <signal.h>
#include <sys/wait.h>

#define ANSWER_MAX 65536

/* In the child: become the workers' user, as ngx_worker_process_init does. */
static int become_worker_user(ngx_core_conf_t *ccf, char *why, size_t len)
{
    if (geteuid() != 0 || ccf->user == (ngx_uid_t)NGX_CONF_UNSET_UINT)
        return 0;
    if (setgid(ccf->group) != 0 || initgroups(ccf->username, ccf->group) != 0 ||
        setuid(ccf->user) != 0) {
        snprintf(why, len, "cannot become the workers' user \"%s\": %s", ccf->username,
                 strerror(errno));
        return -1;
    }
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void child(ngx_http_fhirpam_main_conf_t *mcf, ngx_core_conf_t *ccf, int fd)
{
    char out[ANSWER_MAX];
    size_t n = 0;
    fhirpam_error err = {{0}};
    if (become_worker_user(ccf, err.text, sizeof err.text) != 0) {
        n = (size_t)snprintf(out, sizeof out, "error %s", err.text);
    } else {
        fhirpam_context *ctx = fhirpam_open((const char *)mcf->config.data, NULL, &err);
        if (ctx == NULL) {
            n = (size_t)snprintf(out, sizeof out, "error %s", err.text);
        } else {
            char **names = NULL;
            size_t count = fhirpam_stack_names(ctx, &names);
            n = (size_t)snprintf(out, sizeof out, "ok\n");
            for (size_t i = 0; i < count && n < sizeof out; i++)
                n += (size_t)snprintf(out + n, sizeof out - n, "%s\n", names[i]);
            if (n >= sizeof out)
                n = (size_t)snprintf(out, sizeof out, "error too many stacks to list");
        }
        /* No fhirpam_close(): this process ends here, and _exit() does not
         * wait for the library's watcher threads. */
    }
    (void)write_all(fd, out, n);
    _exit(0);
}

/* Reads the child's whole answer (until it exits and the pipe closes). */
static ssize_t read_answer(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0 || (n += (size_t)r) == cap - 1)
            break;
    }
    buf[n] = '\0';
    return (ssize_t)n;
}

static int answer_has_stack(const char *answer, const ngx_str_t *name)
{
    const char *p = answer + 3; /* after "ok\n" */
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == name->len && ngx_strncmp(p, name->data, len) == 0)
            return 1;
        p += len + (nl ? 1 : 0);
    }
    return 0;
}

char *ngx_http_fhirpam_check_configuration(ngx_cycle_t *cycle)
{
    ngx_http_fhirpam_main_conf_t *mcf =
        ngx_http_cycle_get_module_main_conf(cycle, ngx_http_fhirpam_module);
    if (mcf == NULL)
        return NGX_CONF_OK; /* no http block */
    ngx_http_fhirpam_stack_ref_t *refs = mcf->stack_refs.elts;
    if (mcf->config.len == 0) {
        if (mcf->stack_refs.nelts > 0) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "fhirpam_stack \"%V\" in %V:%ui needs fhirpam_config in the http block",
                          &refs[0].name, &refs[0].file, refs[0].line);
            return NGX_CONF_ERROR;
        }
        return NGX_CONF_OK;
    }
    ngx_core_conf_t *ccf = (ngx_core_conf_t *)ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    int fds[2];
    if (pipe(fds) != 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno, "fhirpam: pipe() failed");
        return NGX_CONF_ERROR;
    }
    /* The master reaps every child in its SIGCHLD handler; this one is
     * reaped here, so SIGCHLD waits until then. */
    sigset_t chld, saved;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &saved);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child(mcf, ccf, fds[1]);
    }
    close(fds[1]);
    char *answer = NULL;
    ssize_t n = -1;
    if (pid > 0 && (answer = ngx_alloc(ANSWER_MAX, cycle->log)) != NULL)
        n = read_answer(fds[0], answer, ANSWER_MAX);
    close(fds[0]);
    if (pid > 0) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    sigprocmask(SIG_SETMASK, &saved, NULL);

    char *rv = NGX_CONF_OK;
    if (pid < 0 || n < 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "fhirpam: cannot check fhirpam_config \"%V\" (fork or read failed)",
                      &mcf->config);
        rv = NGX_CONF_ERROR;
    } else if (ngx_strncmp(answer, "ok\n", 3) != 0) {
        /* "error TEXT", or nothing when the check died (a module crashed). */
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "fhirpam_config \"%V\" in %V:%ui refused: %s",
                      &mcf->config, &mcf->config_file, mcf->config_line,
                      ngx_strncmp(answer, "error ", 6) == 0
                          ? answer + 6
                          : "the check ended without an answer (it crashed)");
        rv = NGX_CONF_ERROR;
    } else {
        for (ngx_uint_t i = 0; i < mcf->stack_refs.nelts; i++) {
            if (!answer_has_stack(answer, &refs[i].name)) {
                ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                              "fhirpam_stack \"%V\" in %V:%ui: %V has no stack of that name",
                              &refs[i].name, &refs[i].file, refs[i].line, &mcf->config);
                rv = NGX_CONF_ERROR;
            }
        }
    }
    ngx_free(answer);
    return rv;
}
