/*
 * isolate.c - the host's side of isolation: a pool of workers per stack
 * line, and a call through one (isolate.h; the worker's side is
 * isolate_serve.c).
 */
#include "isolate.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "authz.h"
#include "codes.h"
#include "isolate_wire.h"

extern char **environ;

#define ISOLATE_MAX_WORKERS 64
/* Starting a worker and opening its module: generous, it happens at load
 * (and after a worker was lost). */
#define ISOLATE_START_SECONDS 10

typedef struct worker {
    pid_t pid; /* 0: no process */
    int fd;    /* our end of its socket pair, non-blocking */
    bool busy; /* in a call, or being started */
} worker;

struct isolated_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed; /* a worker became free */
    worker workers[ISOLATE_MAX_WORKERS];
    unsigned max;
    int worker_fd, image_fd;
    wire_out init; /* the start-up frame, sent to every worker */
    char *module, *stack;
};

/* fd duplicated to a number >= 10 (close-on-exec), so that the child's
 * dup2 onto 3, 4 and 5 can never overwrite another source first. */
static int high_dup(int fd)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, 10);
}

/* Reap pid, killing it first. Returns its wait status, or -1 when it was
 * reaped elsewhere (a host that ignores SIGCHLD). */
static int stop_process(pid_t pid)
{
    kill(pid, SIGKILL);
    int status;
    pid_t r;
    do {
        r = waitpid(pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    return r == pid ? status : -1;
}

static void describe_exit(int status, char *buf, size_t len)
{
    if (status >= 0 && WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else if (status >= 0 && WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(buf, len, "gone");
}

/* Start a worker in slot w and have it open the module. 0, or -1 with why
 * filled (the worker's own message when it refused). */
static int start_worker(struct isolated_pool *p, worker *w, char *why, size_t whylen)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        snprintf(why, whylen, "cannot make a socket pair for an isolation worker: %s",
                 strerror(errno));
        return -1;
    }
    int sock = high_dup(pair[1]), image = high_dup(p->image_fd), exe = high_dup(p->worker_fd);
    close(pair[1]);
    int rc = -1;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    if (sock < 0 || image < 0 || exe < 0) {
        snprintf(why, whylen, "out of file descriptors for an isolation worker");
        goto out;
    }
    /* The worker gets its socket on 3, the module's image on 4 and its own
     * program on 5, nothing else of ours; default signal handling, an empty
     * mask (a host's blocked signals are not its business), and a process
     * group of its own (a terminal's ^C is for the host). */
    posix_spawn_file_actions_adddup2(&fa, sock, 3);
    posix_spawn_file_actions_adddup2(&fa, image, 4);
    posix_spawn_file_actions_adddup2(&fa, exe, 5);
    posix_spawn_file_actions_addclosefrom_np(&fa, 6);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP);
    char *argv[] = {"fhirpam-worker", NULL};
    pid_t pid;
    int e = posix_spawn(&pid, "/proc/self/fd/5", &fa, &attr, argv, environ);
    if (e != 0) {
        snprintf(why, whylen, "cannot start the isolation worker: %s", strerror(e));
        goto out;
    }
    int fd = pair[0];
    pair[0] = -1;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    uint64_t deadline = wire_now_us() + ISOLATE_START_SECONDS * 1000000ull;
    char *reply = NULL;
    size_t len = 0;
    enum wire_status st = wire_send(fd, &p->init, deadline);
    if (st == WIRE_OK)
        st = wire_receive(fd, &reply, &len, deadline);
    if (st != WIRE_OK) {
        char how[96];
        describe_exit(stop_process(pid), how, sizeof how);
        snprintf(why, whylen, "the isolation worker for module '%s' did not start (%s)", p->module,
                 st == WIRE_TIMEOUT ? "no answer in 10 s" : how);
        close(fd);
        goto out;
    }
    wire_in in = {reply, reply + len, false};
    wire_field f;
    bool ready = false;
    char *text = NULL;
    while (wire_next(&in, &f)) {
        if (f.tag == W_STATUS)
            ready = f.len == 2 && memcmp(f.data, "ok", 2) == 0;
        else if (f.tag == W_TEXT && text == NULL)
            text = wire_string(&f);
    }
    free(reply);
    if (!ready) {
        snprintf(why, whylen, "%s", text ? text : "the isolation worker refused to start");
        free(text);
        stop_process(pid);
        close(fd);
        goto out;
    }
    free(text);
    w->pid = pid;
    w->fd = fd;
    rc = 0;
out:
    if (pair[0] >= 0)
        close(pair[0]);
    if (sock >= 0)
        close(sock);
    if (image >= 0)
        close(image);
    if (exe >= 0)
        close(exe);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
}

static void release(struct isolated_pool *p, worker *w, bool lost)
{
    pthread_mutex_lock(&p->lock);
    if (lost && w->pid != 0) {
        close(w->fd);
        w->fd = -1;
        w->pid = 0;
    }
    w->busy = false;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

/* A free worker, started when none is free and a slot is; NULL when the
 * deadline passes first (*failed: a worker could not be started). */
static worker *acquire(struct isolated_pool *p, uint64_t deadline_us, bool *failed, char *why,
                       size_t whylen)
{
    struct timespec until = {(time_t)(deadline_us / 1000000u),
                             (long)(deadline_us % 1000000u) * 1000L};
    pthread_mutex_lock(&p->lock);
    for (;;) {
        worker *idle = NULL, *empty = NULL;
        for (unsigned i = 0; i < p->max; i++) {
            worker *w = &p->workers[i];
            if (!w->busy && w->pid != 0) {
                idle = w;
                break;
            }
            if (!w->busy && w->pid == 0 && empty == NULL)
                empty = w;
        }
        worker *w = idle ? idle : empty;
        if (w != NULL) {
            w->busy = true;
            pthread_mutex_unlock(&p->lock);
            if (w->pid == 0 && start_worker(p, w, why, whylen) != 0) {
                *failed = true;
                release(p, w, true);
                return NULL;
            }
            return w;
        }
        if (pthread_cond_timedwait(&p->freed, &p->lock, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
    }
}

/* The verified claims as JSON text, kept with the token (key: the pool) so
 * that it is written once per token, not once per call. *owned when the
 * caller frees it. */
static const char *claims_text(struct isolated_pool *p, struct fhirpam_authz *az, bool *owned)
{
    *owned = false;
    if (az->claims == NULL)
        return NULL;
    const char *kept = fhirpam_token_data(az, p);
    if (kept != NULL)
        return kept;
    char *text = json_dumps(az->claims, JSON_COMPACT);
    if (text == NULL)
        return NULL;
    kept = fhirpam_token_data_attach(az, p, text, free);
    if (kept == NULL) {
        *owned = true; /* no token to keep it with */
        return text;
    }
    if (kept != text)
        free(text);
    return kept;
}

static void encode_call(struct isolated_pool *p, struct fhirpam_authz *az, wire_out *w)
{
    const struct fhirpam_request *req = az->req;
    wire_begin(w);
    wire_put_str(w, W_METHOD, req->method);
    wire_put_str(w, W_URL, req->url);
    for (size_t i = 0; i < req->nheaders; i++) {
        wire_put_str(w, W_HEADER_NAME, req->headers[i].name);
        wire_put_str(w, W_HEADER_VALUE, req->headers[i].value);
    }
    if (req->body != NULL)
        wire_put(w, W_BODY, req->body, req->body_len);
    if (req->current != NULL)
        wire_put(w, W_CURRENT, req->current, req->current_len);
    wire_put_str(w, W_CERT_PEM, req->client_cert_pem);
    wire_put_str(w, W_CERT_THUMBPRINT, req->client_cert_thumbprint);
    for (size_t i = 0; i < req->ndevice_attrs; i++) {
        wire_put_str(w, W_DEVICE_NAME, req->device_attrs[i].name);
        wire_put_str(w, W_DEVICE_VALUE, req->device_attrs[i].value);
    }
    wire_put_int(w, W_NOW, az->now);
    wire_put_str(w, W_STACK_NAME, az->stack_name);
    bool owned;
    const char *claims = claims_text(p, az, &owned);
    if (az->claims != NULL && claims == NULL)
        w->failed = true;
    wire_put_str(w, W_CLAIMS, claims);
    if (owned)
        free((char *)claims);
    wire_put_str(w, W_TOKEN_SCHEME, az->token_scheme);
    if (az->access_token != NULL)
        wire_put(w, W_ACCESS_TOKEN, az->access_token, az->access_token_len);
    wire_put_str(w, W_IF_NONE_EXIST, az->if_none_exist);
    for (size_t i = 0; i < az->nattrs; i++) {
        wire_put_str(w, W_ATTR_NAME, az->attrs[i].name);
        wire_put_str(w, W_ATTR_VALUE, az->attrs[i].value);
    }
}

/* Apply the worker's answer through the SDK's own checks, as if the module
 * had made the calls here. false when the answer is malformed. */
static bool apply_result(struct fhirpam_authz *az, const char *frame, size_t len,
                         fhirpam_code *code)
{
    wire_in in = {frame, frame + len, false};
    wire_field f;
    bool have_code = false, ok = true;
    char *word = NULL, *text = NULL, *scheme = NULL, *error = NULL, *name = NULL, *type = NULL;
    while (ok && wire_next(&in, &f)) {
        char *s = f.tag == W_CODE ? NULL : wire_string(&f);
        long long v;
        switch (f.tag) {
        case W_CODE:
            have_code = wire_int(&f, &v) && code_is_valid((int)v) && v == (int)v;
            *code = have_code ? (fhirpam_code)v : FHIRPAM_ERROR;
            break;
        case W_REASON_WORD:
            free(word), word = s, s = NULL;
            break;
        case W_REASON_TEXT:
            free(text), text = s, s = NULL;
            break;
        case W_CHALLENGE_SCOPE:
            if (s != NULL)
                fhirpam_set_challenge_scope(az, s);
            break;
        case W_CHALLENGE_SCHEME:
            free(scheme), scheme = s, s = NULL;
            break;
        case W_CHALLENGE_ERROR:
            free(error), error = s, s = NULL;
            break;
        case W_DPOP_NONCE:
            if (s != NULL)
                fhirpam_set_dpop_nonce(az, s);
            break;
        case W_ATTR_NAME:
            free(name), name = s, s = NULL;
            break;
        case W_ATTR_VALUE:
            /* Only what changed: what earlier modules set keeps its origin. */
            if (name != NULL && s != NULL) {
                const char *had = fhirpam_attr_get(az, name);
                if ((had == NULL || strcmp(had, s) != 0) && fhirpam_attr_set(az, name, s) != 0)
                    ok = false;
            }
            free(name), name = NULL;
            break;
        case W_OBLIGATION_TYPE:
            free(type), type = s, s = NULL;
            break;
        case W_BINDING:
            /* Each kind through the SDK call the module made, so the host's
             * own rule (the line's descriptor declares the flag) decides. */
            ok = wire_int(&f, &v) && v > 0 && v <= INT_MAX;
            for (unsigned bit = 1; ok && bit != 0 && bit <= (unsigned)v; bit <<= 1) {
                if (((unsigned)v & bit) && fhirpam_binding_verified(az, (fhirpam_binding)bit) != 0)
                    ok = false;
            }
            break;
        case W_OBLIGATION_PARAMS:
            ok = type != NULL && s != NULL && fhirpam_add_obligation(az, type, s) == 0;
            free(type), type = NULL;
            break;
        default:
            ok = false;
        }
        free(s);
    }
    if (word != NULL)
        fhirpam_set_reason(az, word, "%s", text ? text : "");
    if (scheme != NULL && error != NULL)
        fhirpam_set_challenge(az, scheme, error);
    free(word);
    free(text);
    free(scheme);
    free(error);
    free(name);
    free(type);
    return ok && have_code && !in.bad;
}

fhirpam_code isolated_call(struct isolated_pool *p, struct fhirpam_authz *az, uint64_t deadline_us,
                           uint64_t budget_us, bool *stopped)
{
    *stopped = false;
    char why[256] = "";
    bool failed = false;
    worker *w = acquire(p, deadline_us, &failed, why, sizeof why);
    if (w == NULL) {
        if (failed) {
            fhirpam_set_reason(az, "isolation_failed", "%s", why);
            return FHIRPAM_ERROR;
        }
        *stopped = true;
        fhirpam_set_reason(az, "deadline_exceeded",
                           "no isolation worker of module '%.64s' was free within the %llu ms "
                           "budget of stack '%.64s'",
                           p->module, (unsigned long long)(budget_us / 1000), p->stack);
        return FHIRPAM_UNAVAILABLE;
    }
    wire_out call;
    encode_call(p, az, &call);
    char *reply = NULL;
    size_t len = 0;
    enum wire_status st = wire_send(w->fd, &call, deadline_us);
    wire_free(&call);
    if (st == WIRE_OK)
        st = wire_receive(w->fd, &reply, &len, deadline_us);
    fhirpam_code code = FHIRPAM_ERROR;
    if (st == WIRE_OK && apply_result(az, reply, len, &code)) {
        free(reply);
        release(p, w, false);
        return code;
    }
    free(reply);
    /* Timed out, died, or answered nonsense: this worker is done for. */
    char how[96];
    describe_exit(stop_process(w->pid), how, sizeof how);
    release(p, w, true);
    if (st == WIRE_TIMEOUT) {
        *stopped = true;
        fhirpam_set_reason(az, "deadline_exceeded",
                           "module '%.64s' did not answer within the %llu ms budget of stack "
                           "'%.64s'; its isolation worker was stopped",
                           p->module, (unsigned long long)(budget_us / 1000), p->stack);
        return FHIRPAM_UNAVAILABLE;
    }
    if (st == WIRE_OK)
        fhirpam_set_reason(az, "bad_worker_answer",
                           "the isolation worker of module '%.64s' answered nonsense", p->module);
    else
        fhirpam_set_reason(az, "module_crashed",
                           "module '%.64s' failed in its isolation worker (%s); a new worker "
                           "starts on the next call",
                           p->module, how);
    return FHIRPAM_ERROR;
}

struct isolated_pool *isolated_pool_new(const isolate_spec *spec, char *why, size_t whylen)
{
    struct isolated_pool *p = calloc(1, sizeof *p);
    if (p == NULL) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    p->max = spec->workers < 1                     ? 1
             : spec->workers > ISOLATE_MAX_WORKERS ? ISOLATE_MAX_WORKERS
                                                   : spec->workers;
    p->worker_fd = high_dup(spec->worker_fd);
    p->image_fd = high_dup(spec->image_fd);
    p->module = strdup(spec->module);
    p->stack = strdup(spec->stack);
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&p->freed, &monotonic);
    pthread_condattr_destroy(&monotonic);
    for (unsigned i = 0; i < ISOLATE_MAX_WORKERS; i++)
        p->workers[i].fd = -1;
    wire_begin(&p->init);
    wire_put_str(&p->init, W_CONFIG_PATH, spec->config_path);
    wire_put(&p->init, W_CONFIG_TEXT, spec->config_text, spec->config_len);
    wire_put_str(&p->init, W_STACK, spec->stack);
    wire_put_int(&p->init, W_INDEX, (long long)spec->index);
    wire_put_str(&p->init, W_MODULE, spec->module);
    wire_put_str(&p->init, W_FHIR_BASE, spec->fhir_base);
    if (p->worker_fd < 0 || p->image_fd < 0 || p->module == NULL || p->stack == NULL ||
        p->init.failed) {
        snprintf(why, whylen, "out of memory or file descriptors");
        isolated_pool_free(p);
        return NULL;
    }
    if (start_worker(p, &p->workers[0], why, whylen) != 0) {
        isolated_pool_free(p);
        return NULL;
    }
    return p;
}

void isolated_pool_free(struct isolated_pool *p)
{
    if (p == NULL)
        return;
    /* Closing its socket tells a worker to close its instance and exit. */
    for (unsigned i = 0; i < ISOLATE_MAX_WORKERS; i++) {
        if (p->workers[i].pid != 0)
            close(p->workers[i].fd);
    }
    for (unsigned i = 0; i < ISOLATE_MAX_WORKERS; i++) {
        pid_t pid = p->workers[i].pid;
        if (pid == 0)
            continue;
        int status;
        pid_t r = 0;
        for (int tick = 0; tick < 100 && r == 0; tick++) {
            r = waitpid(pid, &status, WNOHANG);
            if (r == 0) {
                struct timespec t = {0, 10000000};
                nanosleep(&t, NULL);
            }
        }
        if (r == 0)
            stop_process(pid);
    }
    if (p->worker_fd >= 0)
        close(p->worker_fd);
    if (p->image_fd >= 0)
        close(p->image_fd);
    wire_free(&p->init);
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->lock);
    free(p->module);
    free(p->stack);
    free(p);
}
