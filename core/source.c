/*
 * source.c - see source.h. The state is a few atomics, so that a request
 * asks "is it stale?" with one load; the error sentence, written only when a
 * load fails, is behind a mutex nobody takes on the request path.
 */
#include "source.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "config.h"

struct fhirpam_source {
    char kind[32];
    char name[512];
    source_list *list; /* the configuration's, or NULL (a module test harness) */
    _Atomic int64_t fresh_at, stale_since;
    atomic_uint_fast64_t failures;
    pthread_mutex_t lock; /* guards error */
    char error[512];
};

static bool valid_kind(const char *kind)
{
    size_t n = strlen(kind);
    if (n == 0 || n >= sizeof((struct fhirpam_source *)0)->kind)
        return false;
    for (const char *p = kind; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    }
    return true;
}

/* Whether a source of this kind can join the list: its kind is there
 * already, or there is room for one more (a kind the audit record could not
 * name would be a stale source nobody is told about). */
static bool room_for_kind(const source_list *list, const char *kind)
{
    size_t kinds = 0;
    for (size_t i = 0; i < list->n; i++) {
        bool first = true; /* the first source of its kind in the list */
        for (size_t j = 0; j < i && first; j++)
            first = strcmp(list->items[j]->kind, list->items[i]->kind) != 0;
        if (strcmp(list->items[i]->kind, kind) == 0)
            return true;
        kinds += first;
    }
    return kinds < SOURCE_MAX_KINDS;
}

FHIRPAM_API fhirpam_source *fhirpam_source_new(const fhirpam_args *args, const char *kind,
                                               const char *name)
{
    if (kind == NULL || !valid_kind(kind))
        return NULL;
    struct fhirpam_source *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    snprintf(s->kind, sizeof s->kind, "%s", kind);
    snprintf(s->name, sizeof s->name, "%s", name ? name : "");
    atomic_init(&s->fresh_at, (int64_t)time(NULL));
    atomic_init(&s->stale_since, 0);
    atomic_init(&s->failures, 0);
    pthread_mutex_init(&s->lock, NULL);
    source_list *list = args != NULL && args->env != NULL ? &args->env->sources : NULL;
    if (list != NULL) {
        if (!room_for_kind(list, kind)) {
            pthread_mutex_destroy(&s->lock);
            free(s);
            return NULL;
        }
        if (list->n == list->cap) {
            size_t cap = list->cap ? list->cap * 2 : 4;
            struct fhirpam_source **grown = realloc(list->items, cap * sizeof *grown);
            if (grown == NULL) {
                pthread_mutex_destroy(&s->lock);
                free(s);
                return NULL;
            }
            list->items = grown;
            list->cap = cap;
        }
        list->items[list->n++] = s;
        s->list = list;
    }
    return s;
}

FHIRPAM_API void fhirpam_source_fresh(fhirpam_source *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->fresh_at, (int64_t)time(NULL));
    if (atomic_exchange(&s->stale_since, 0) == 0)
        return;
    pthread_mutex_lock(&s->lock);
    s->error[0] = '\0';
    pthread_mutex_unlock(&s->lock);
    syslog(LOG_NOTICE, "fhirpam %s: %s loaded again; its current data is in force", s->kind,
           s->name);
}

FHIRPAM_API void fhirpam_source_stale(fhirpam_source *s, const char *fmt, ...)
{
    if (s == NULL)
        return;
    char text[sizeof s->error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    atomic_fetch_add(&s->failures, 1);
    int64_t expected = 0;
    atomic_compare_exchange_strong(&s->stale_since, &expected, (int64_t)time(NULL));
    pthread_mutex_lock(&s->lock);
    bool again = strcmp(s->error, text) == 0;
    memcpy(s->error, text, sizeof text);
    pthread_mutex_unlock(&s->lock);
    /* Loud, but once per distinct failure: a watcher that finds the same bad
     * file every second must not flood the log. */
    if (!again)
        syslog(LOG_ERR, "fhirpam %s: %s; the previous data stays in force", s->kind, text);
}

FHIRPAM_API void fhirpam_source_free(fhirpam_source *s)
{
    if (s == NULL)
        return;
    source_list *list = s->list;
    for (size_t i = 0; list != NULL && i < list->n; i++) {
        if (list->items[i] == s) {
            memmove(&list->items[i], &list->items[i + 1], (list->n - i - 1) * sizeof *list->items);
            list->n--;
            break;
        }
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void source_list_free(source_list *list)
{
    free(list->items);
    memset(list, 0, sizeof *list);
}

const char *source_kind(const struct fhirpam_source *s)
{
    return s->kind;
}

bool source_is_stale(const struct fhirpam_source *s)
{
    return atomic_load_explicit(&s->stale_since, memory_order_relaxed) != 0;
}

void source_info(struct fhirpam_source *s, fhirpam_source_info *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->kind, sizeof out->kind, "%s", s->kind);
    snprintf(out->name, sizeof out->name, "%s", s->name);
    out->fresh_at = atomic_load(&s->fresh_at);
    out->stale_since = atomic_load(&s->stale_since);
    out->failures = atomic_load(&s->failures);
    if (out->stale_since != 0) {
        pthread_mutex_lock(&s->lock);
        snprintf(out->error, sizeof out->error, "%s", s->error);
        pthread_mutex_unlock(&s->lock);
    }
}
