/*
 * fhirpamd - the decision service: nginx auth_request and Envoy ext_authz in
 * front of any FHIR server, with fhirpam deciding every request.
 *
 * The main thread only starts things and then waits for signals (they are
 * blocked in every thread, so they arrive here through sigwaitinfo):
 * SIGHUP reloads, SIGTERM/SIGINT drain and exit. Answers come from the
 * libmicrohttpd worker pool (http.c).
 */
#include <errno.h>
#include <fhirpam/fhirpam.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "metrics.h"
#include "options.h"

/* Every routed stack must exist: a typo in --route would otherwise deny
 * every request of its location (fail closed, but loudly at start). */
static int check_routes(const options *o, fhirpam_context *ctx, const char *when)
{
    char **names = NULL;
    size_t n = fhirpam_stack_names(ctx, &names);
    int missing = 0;
    for (size_t i = 0; i < o->nroutes; i++) {
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            found = strcmp(names[k], o->routes[i].stack) == 0;
        if (!found) {
            fprintf(stderr,
                    "fhirpamd: %s: route \"%s\" names stack \"%s\", which %s does not have\n", when,
                    o->routes[i].prefix, o->routes[i].stack, o->config_path);
            missing++;
        }
    }
    fhirpam_free_strings(names, n);
    return missing ? -1 : 0;
}

/* What `fhirpam check` warns of (a stack that will deny every bound token,
 * say), in the log at start and after each reload. */
static void log_warnings(const options *o, fhirpam_context *ctx)
{
    char **warnings = NULL;
    size_t n = fhirpam_config_warnings(ctx, &warnings);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "fhirpamd: %s: warning: %s\n", o->config_path, warnings[i]);
    fhirpam_free_strings(warnings, n);
}

/* Write the port to path atomically (a reader never sees half a file). */
static int write_ready_file(const char *path, uint16_t port)
{
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n);
    if (tmp == NULL)
        return -1;
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int rc = -1;
    if (f != NULL) {
        int w = fprintf(f, "%u\n", (unsigned)port);
        if (fclose(f) == 0 && w > 0 && rename(tmp, path) == 0)
            rc = 0;
    }
    if (rc != 0) {
        fprintf(stderr, "fhirpamd: %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

static void reload(const options *o, fhirpam_context *ctx)
{
    fhirpam_error err = {{0}};
    if (fhirpam_reload(ctx, &err) != 0) {
        metrics_reload(0);
        fprintf(stderr, "fhirpamd: reload refused, the previous configuration stays: %s\n",
                err.text);
        return;
    }
    metrics_reload(1);
    fprintf(stderr, "fhirpamd: configuration reloaded from %s\n", o->config_path);
    /* The new configuration is in force either way; a missing stack denies
     * its location's requests (code `error`) until it is fixed. */
    check_routes(o, ctx, "after reload");
    log_warnings(o, ctx);
}

static atomic_bool server_stopped;

static void *stop_server(void *arg)
{
    server_stop(arg);
    atomic_store(&server_stopped, true);
    return NULL;
}

/*
 * Stop accepting, give the requests in flight --drain-seconds, and stop.
 * Stopping closes the connections still open and joins the worker threads;
 * a worker inside a module that never returns cannot be joined, and waiting
 * for it would leave a daemon only SIGKILL ends. So the stop gets a few
 * seconds of its own, and past them fhirpamd exits without it: those
 * clients' connections close unanswered (a gateway then answers 500, never
 * the data), and the exit status (1) says the drain did not finish.
 */
#define STOP_SECONDS 2

static void drain(server *s, unsigned seconds)
{
    server_quiesce(s);
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (unsigned long waited = 0; server_in_flight(s) > 0 && waited < seconds * 100UL; waited++)
        nanosleep(&tick, NULL);
    long left = server_in_flight(s);
    if (left > 0)
        fprintf(stderr, "fhirpamd: %ld requests still in flight after %u s, closing them\n", left,
                seconds);
    pthread_t stopper;
    if (pthread_create(&stopper, NULL, stop_server, s) != 0) {
        server_stop(s);
        return;
    }
    for (int waited = 0; !atomic_load(&server_stopped) && waited < STOP_SECONDS * 100; waited++)
        nanosleep(&tick, NULL);
    if (!atomic_load(&server_stopped)) {
        fprintf(stderr, "fhirpamd: a request is still inside a module that has not returned; "
                        "exiting without it\n");
        _exit(1);
    }
    pthread_join(stopper, NULL);
}

int main(int argc, char **argv)
{
    options o;
    int rc = options_parse(&o, argc, argv);
    if (rc != 0) {
        options_free(&o);
        return rc > 0 ? 0 : 2;
    }
    /* Block the signals before any thread exists, so that every worker
     * inherits the mask and they reach sigwaitinfo below. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    fhirpam_error err = {{0}};
    fhirpam_context *ctx = fhirpam_open(o.config_path, o.modules_dir, &err);
    if (ctx == NULL) {
        fprintf(stderr, "fhirpamd: %s\n", err.text);
        options_free(&o);
        return 1;
    }
    int status = 1;
    if (check_routes(&o, ctx, "start") != 0)
        goto out;
    log_warnings(&o, ctx);
    if (o.check_only) {
        printf("fhirpamd: %s: ok, %zu routes\n", o.config_path, o.nroutes);
        status = 0;
        goto out;
    }
    metrics_init();
    server s;
    uint16_t port;
    if (server_start(&s, &o, ctx, &port) != 0)
        goto out_metrics;
    if (o.ready_file != NULL && write_ready_file(o.ready_file, port) != 0) {
        server_stop(&s);
        goto out_metrics;
    }
    fprintf(stderr, "fhirpamd %s: listening on %s (port %u), %u threads, %zu routes under %s\n",
            FHIRPAM_VERSION, o.listen_text, (unsigned)port, o.threads, o.nroutes, o.base);
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&sigs, &info);
        if (sig == SIGHUP) {
            reload(&o, ctx);
        } else if (sig == SIGTERM || sig == SIGINT) {
            fprintf(stderr, "fhirpamd: %s: draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        } else if (sig < 0 && errno != EINTR) {
            fprintf(stderr, "fhirpamd: sigwaitinfo: %s\n", strerror(errno));
            break;
        }
    }
    drain(&s, o.drain_seconds);
    fprintf(stderr, "fhirpamd: stopped\n");
    status = 0;
out_metrics:
    metrics_free();
out:
    fhirpam_close(ctx);
    options_free(&o);
    return status;
}
