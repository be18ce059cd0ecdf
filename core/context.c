/*
 * context.c - open, reload and close a context.
 *
 * A reload must swap the configuration atomically, let requests in flight
 * finish on the old one, and free the old one only when nobody uses it, all
 * without a lock that readers contend on: that is swap.h's job.
 */
#include "context.h"
#include "binding.h"
#include "token.h"
#include "trusted.h"
#include "watcher.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

config *context_enter(struct fhirpam_context *ctx, reader_ticket *ticket)
{
    watchers_resume();
    return swap_enter(&ctx->current, ticket);
}

void context_leave(reader_ticket ticket)
{
    swap_leave(ticket);
}

void context_next_id(struct fhirpam_context *ctx, char *buf, size_t len)
{
    /* "<prefix>-<12 hex digits>", written by hand: this runs per decision. */
    static const char hex[] = "0123456789abcdef";
    uint_fast64_t n = atomic_fetch_add(&ctx->decisions, 1) + 1;
    size_t p = strlen(ctx->id_prefix);
    if (len < p + 14) {
        buf[0] = '\0';
        return;
    }
    memcpy(buf, ctx->id_prefix, p);
    buf[p] = '-';
    for (int i = 11; i >= 0; i--, n >>= 4)
        buf[p + 1 + (size_t)i] = hex[n & 15];
    buf[p + 13] = '\0';
}

FHIRPAM_API fhirpam_context *fhirpam_open(const char *config_path, const char *modules_dir,
                                          fhirpam_error *err)
{
    if (config_path == NULL) {
        fhirpam_error_set(err, "no configuration file given");
        return NULL;
    }
    struct fhirpam_context *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        fhirpam_error_set(err, "out of memory");
        return NULL;
    }
    /* Relative paths are taken against the working directory once, here:
     * a reload reads the same files wherever the host has moved since. */
    ctx->config_path = path_absolute(config_path);
    ctx->modules_dir = modules_dir ? path_absolute(modules_dir) : NULL;
    if (ctx->config_path == NULL || (modules_dir != NULL && ctx->modules_dir == NULL)) {
        fhirpam_error_set(err, "out of memory");
        goto fail;
    }
    /* Decision ids: a random per-context prefix and a counter, so ids are
     * unique across restarts and hosts without a system call per request. */
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        fhirpam_error_set(err, "cannot read random bytes for decision ids: %s", strerror(errno));
        goto fail;
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(ctx->id_prefix + 2 * i, 3, "%02x", rnd[i]);
    pthread_mutex_init(&ctx->reload_lock, NULL);
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&ctx->reaper_wake, &monotonic);
    pthread_condattr_destroy(&monotonic);
    config *c = config_load(ctx->config_path, ctx->modules_dir, err);
    if (c == NULL) {
        pthread_cond_destroy(&ctx->reaper_wake);
        pthread_mutex_destroy(&ctx->reload_lock);
        goto fail;
    }
    swap_init(&ctx->current, c);
    return ctx;
fail:
    free(ctx->config_path);
    free(ctx->modules_dir);
    free(ctx);
    return NULL;
}

FHIRPAM_API void fhirpam_token_cache_stats(fhirpam_context *ctx, uint64_t *hits, size_t *entries)
{
    *hits = 0;
    *entries = 0;
    if (ctx == NULL)
        return;
    reader_ticket ticket;
    const config *c = context_enter(ctx, &ticket);
    if (c != NULL && c->verifier != NULL) {
        *hits = token_verifier_cache_hits(c->verifier);
        *entries = token_verifier_cache_size(c->verifier);
    }
    context_leave(ticket);
}

/* Under reload_lock: when no request that began before now is still
 * inside (within timeout_ms; < 0: no bound), free every retired config. */
static bool free_retired(struct fhirpam_context *ctx, long timeout_ms)
{
    if (ctx->retired == NULL)
        return true;
    if (!swap_quiesce(&ctx->current, timeout_ms))
        return false;
    while (ctx->retired != NULL) {
        config *c = ctx->retired;
        ctx->retired = c->retired_next;
        config_free(c);
    }
    return true;
}

/* The reaper: a thread that lives while configurations wait for a request
 * that outlasted the reload (a slow module), trying every 50 ms. */
#define REAPER_TRY_MS 50

static void *reaper_main(void *arg)
{
    struct fhirpam_context *ctx = arg;
    pthread_mutex_lock(&ctx->reload_lock);
    while (!ctx->closing && !free_retired(ctx, REAPER_TRY_MS)) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += REAPER_TRY_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&ctx->reaper_wake, &ctx->reload_lock, &until);
    }
    ctx->reaper_running = false;
    pthread_mutex_unlock(&ctx->reload_lock);
    return NULL;
}

/* Under reload_lock. Without a thread, the retired configs wait for the
 * next reload or fhirpam_close(). */
static void start_reaper(struct fhirpam_context *ctx)
{
    if (ctx->reaper_running)
        return;
    if (ctx->reaper_joinable)
        pthread_join(ctx->reaper, NULL);
    ctx->reaper_joinable = ctx->reaper_running =
        pthread_create(&ctx->reaper, NULL, reaper_main, ctx) == 0;
}

/*
 * The new configuration is in force as soon as it has loaded. The old one
 * is freed when its last request has left: reload waits for that up to the
 * new configuration's limits.reload_wait_ms, so that in the usual case (no
 * request takes long) the old modules are closed when it returns; past the
 * bound, a request held by a slow module keeps the old configuration alive
 * and the reaper frees it when the request ends. Reload never waits on a
 * request without a bound, so a SIGHUP is never held up by a module.
 */
FHIRPAM_API size_t fhirpam_sources(fhirpam_context *ctx, fhirpam_source_info *out, size_t max)
{
    if (ctx == NULL)
        return 0;
    reader_ticket ticket;
    const config *c = context_enter(ctx, &ticket);
    size_t n = c->env.sources.n;
    for (size_t i = 0; i < n && i < max && out != NULL; i++)
        source_info(c->env.sources.items[i], &out[i]);
    context_leave(ticket);
    return n;
}

FHIRPAM_API int fhirpam_reload(fhirpam_context *ctx, fhirpam_error *err)
{
    if (ctx == NULL)
        return -1;
    pthread_mutex_lock(&ctx->reload_lock);
    config *fresh = config_load(ctx->config_path, ctx->modules_dir, err);
    if (fresh == NULL) {
        pthread_mutex_unlock(&ctx->reload_lock);
        return -1;
    }
    config *old = swap_exchange(&ctx->current, fresh);
    old->retired_next = ctx->retired;
    ctx->retired = old;
    if (!free_retired(ctx, (long)fresh->limits.reload_wait_ms))
        start_reaper(ctx);
    pthread_mutex_unlock(&ctx->reload_lock);
    return 0;
}

FHIRPAM_API void fhirpam_close(fhirpam_context *ctx)
{
    if (ctx == NULL)
        return;
    pthread_mutex_lock(&ctx->reload_lock);
    ctx->closing = true;
    pthread_cond_signal(&ctx->reaper_wake);
    pthread_mutex_unlock(&ctx->reload_lock);
    if (ctx->reaper_joinable)
        pthread_join(ctx->reaper, NULL);
    /* No request may be in flight now (fhirpam.h), so this returns. */
    free_retired(ctx, -1);
    config_free(atomic_load(&ctx->current.current));
    pthread_cond_destroy(&ctx->reaper_wake);
    pthread_mutex_destroy(&ctx->reload_lock);
    free(ctx->config_path);
    free(ctx->modules_dir);
    free(ctx);
}

FHIRPAM_API size_t fhirpam_stack_names(fhirpam_context *ctx, char ***names)
{
    reader_ticket t;
    config *c = context_enter(ctx, &t);
    size_t n = c->nstacks;
    if (names != NULL) {
        *names = calloc(n ? n : 1, sizeof **names);
        for (size_t i = 0; *names != NULL && i < n; i++) {
            (*names)[i] = strdup(c->stacks[i].name);
            if ((*names)[i] == NULL) {
                fhirpam_free_strings(*names, i);
                *names = NULL;
            }
        }
        if (*names == NULL)
            n = 0;
    }
    context_leave(t);
    return n;
}

FHIRPAM_API size_t fhirpam_config_warnings(fhirpam_context *ctx, char ***warnings)
{
    reader_ticket t;
    config *c = context_enter(ctx, &t);
    size_t n = binding_config_warnings(c, warnings);
    context_leave(t);
    return n;
}

FHIRPAM_API void fhirpam_free_strings(char **strings, size_t count)
{
    if (strings == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        free(strings[i]);
    free(strings);
}
