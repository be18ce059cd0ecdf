/*
 * context.c - open, reload and close a context.
 *
 * A reload must swap the configuration atomically, let requests in flight
 * finish on the old one, and free the old one only when nobody uses it, all
 * without a lock that readers contend on. Readers count themselves in one of
 * two counters (the parity of `epoch`) of a slot chosen by thread. The
 * reloader publishes the new config, then waits for each parity in turn to
 * drain, flipping the epoch first so that new readers go to the other one.
 * A reader that pinned the old config incremented its counter before it
 * loaded `current`, hence before the swap; once both parities have been seen
 * at zero after the swap, every such reader has left. (This is the two-phase
 * scheme of sleepable RCU, reduced to what one pointer needs.)
 */
#include "context.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static reader_slot *my_slot(struct fhirpam_context *ctx)
{
    static _Thread_local char anchor;
    uintptr_t h = (uintptr_t)&anchor;
    h ^= h >> 17;
    h *= 0x9e3779b97f4a7c15u;
    return &ctx->slots[(h >> 32) % CONTEXT_READER_SLOTS];
}

config *context_enter(struct fhirpam_context *ctx, reader_ticket *ticket)
{
    ticket->slot = my_slot(ctx);
    ticket->parity = atomic_load(&ctx->epoch) & 1u;
    atomic_fetch_add(&ticket->slot->count[ticket->parity], 1);
    return atomic_load(&ctx->current);
}

void context_leave(reader_ticket ticket)
{
    atomic_fetch_sub(&ticket.slot->count[ticket.parity], 1);
}

static void wait_for_readers(struct fhirpam_context *ctx, unsigned parity)
{
    for (size_t i = 0; i < CONTEXT_READER_SLOTS; i++) {
        unsigned spins = 0;
        while (atomic_load(&ctx->slots[i].count[parity]) != 0) {
            if (++spins < 64) {
                sched_yield();
            } else {
                struct timespec ts = {0, 100000};
                nanosleep(&ts, NULL);
            }
        }
    }
}

/* Wait until no request can still be using a config unpublished before now. */
static void synchronize(struct fhirpam_context *ctx)
{
    for (int phase = 0; phase < 2; phase++) {
        unsigned old = atomic_fetch_add(&ctx->epoch, 1u) & 1u;
        wait_for_readers(ctx, old);
    }
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
    ctx->config_path = strdup(config_path);
    ctx->modules_dir = modules_dir ? strdup(modules_dir) : NULL;
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
    config *c = config_load(config_path, modules_dir, err);
    if (c == NULL) {
        pthread_mutex_destroy(&ctx->reload_lock);
        goto fail;
    }
    atomic_store(&ctx->current, c);
    return ctx;
fail:
    free(ctx->config_path);
    free(ctx->modules_dir);
    free(ctx);
    return NULL;
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
    config *old = atomic_exchange(&ctx->current, fresh);
    synchronize(ctx);
    config_free(old);
    pthread_mutex_unlock(&ctx->reload_lock);
    return 0;
}

FHIRPAM_API void fhirpam_close(fhirpam_context *ctx)
{
    if (ctx == NULL)
        return;
    config_free(atomic_load(&ctx->current));
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

FHIRPAM_API void fhirpam_free_strings(char **strings, size_t count)
{
    if (strings == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        free(strings[i]);
    free(strings);
}
