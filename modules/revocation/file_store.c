/*
 * file_store.c - the embedded revocation store: a deny list file, loaded
 * into hash tables, watched by a thread that re-reads it when it changes
 * and swaps the new tables in (fhirpam_swap: requests never wait). A file
 * that does not parse is logged (syslog, with its line number) and the
 * previous good set stays in force.
 */
#include <errno.h>
#include <fhirpam/module.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "store.h"

/* A rule set and its generation, swapped in as one. */
typedef struct snapshot {
    denylist *list;
    uint64_t generation;
} snapshot;

typedef struct file_store {
    char *path;
    int64_t interval_ms;
    denylist_limits limits;
    fhirpam_swap *current; /* the snapshot in force */
    atomic_uint_fast64_t generation;
    struct stat seen; /* the file as last loaded (or last failed) */
    pthread_t watcher;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
} file_store;

static void free_snapshot(void *p)
{
    snapshot *s = p;
    denylist_free(s->list);
    free(s);
}

static snapshot *new_snapshot(denylist *list, uint64_t generation)
{
    snapshot *s = malloc(sizeof *s);
    if (s != NULL)
        *s = (snapshot){list, generation};
    return s;
}

static uint64_t file_generation(void *self)
{
    file_store *fs = self;
    return atomic_load_explicit(&fs->generation, memory_order_acquire);
}

static store_answer file_lookup(void *self, const revocation_query *q, revocation_hits *hits)
{
    file_store *fs = self;
    fhirpam_swap_ticket ticket;
    const snapshot *snap = fhirpam_swap_enter(fs->current, &ticket);
    const denylist *l = snap->list;
    hits->generation = snap->generation;
    const char *keys[RULE_KINDS][2] = {
        [RULE_JTI] = {q->jti, NULL},          [RULE_SUB] = {q->sub, NULL},
        [RULE_CLIENT] = {q->client_id, NULL}, [RULE_SUBCLIENT] = {q->sub, q->client_id},
        [RULE_SID] = {q->sid, NULL},          [RULE_ISSUER] = {NULL, NULL},
    };
    for (int k = 0; k < RULE_KINDS; k++) {
        hits->kind_present[k] = denylist_count(l, (rule_kind)k) > 0;
        bool complete =
            k == RULE_ISSUER || (keys[k][0] != NULL && (k != RULE_SUBCLIENT || keys[k][1] != NULL));
        hits->hit[k] =
            hits->kind_present[k] && complete &&
            denylist_find(l, (rule_kind)k, q->iss, keys[k][0], keys[k][1], &hits->time[k]);
    }
    fhirpam_swap_leave(ticket);
    return STORE_ANSWERED;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Re-reads the file if it changed since it was last seen. */
static void check_file(file_store *fs)
{
    struct stat st;
    if (stat(fs->path, &st) != 0) {
        if (fs->seen.st_ino != 0)
            syslog(LOG_ERR, "fhirpam revocation: %s: %s; the previous rules stay in force",
                   fs->path, strerror(errno));
        fs->seen.st_ino = 0;
        return;
    }
    if (same_file(&st, &fs->seen))
        return;
    fs->seen = st;
    fs->limits.now = (int64_t)time(NULL);
    char err[512];
    denylist *fresh = denylist_load(fs->path, &fs->limits, err, sizeof err);
    if (fresh == NULL) {
        syslog(LOG_ERR, "fhirpam revocation: %s; the previous rules stay in force", err);
        return;
    }
    uint64_t generation = atomic_load(&fs->generation) + 1;
    snapshot *snap = new_snapshot(fresh, generation);
    if (snap == NULL) {
        denylist_free(fresh);
        syslog(LOG_ERR, "fhirpam revocation: out of memory; the previous rules stay in force");
        return;
    }
    /* Publish first: an answer tagged with the new generation can only come
     * from the new set. */
    fhirpam_swap_publish(fs->current, snap);
    atomic_store_explicit(&fs->generation, generation, memory_order_release);
}

static void *watch(void *arg)
{
    file_store *fs = arg;
    pthread_mutex_lock(&fs->lock);
    while (!fs->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += fs->interval_ms / 1000;
        until.tv_nsec += (fs->interval_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&fs->wake, &fs->lock, &until);
        if (fs->stopping)
            break;
        pthread_mutex_unlock(&fs->lock);
        check_file(fs);
        pthread_mutex_lock(&fs->lock);
    }
    pthread_mutex_unlock(&fs->lock);
    return NULL;
}

static void file_close(void *self)
{
    file_store *fs = self;
    pthread_mutex_lock(&fs->lock);
    fs->stopping = true;
    pthread_cond_signal(&fs->wake);
    pthread_mutex_unlock(&fs->lock);
    pthread_join(fs->watcher, NULL);
    pthread_cond_destroy(&fs->wake);
    pthread_mutex_destroy(&fs->lock);
    fhirpam_swap_free(fs->current);
    free(fs->path);
    free(fs);
}

int file_store_open(const char *path, int64_t interval_ms, const denylist_limits *limits,
                    revocation_store *out, char *err, size_t errlen)
{
    file_store *fs = calloc(1, sizeof *fs);
    if (fs == NULL || (fs->path = strdup(path)) == NULL) {
        free(fs);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    fs->interval_ms = interval_ms;
    fs->limits = *limits;
    if (stat(path, &fs->seen) != 0)
        memset(&fs->seen, 0, sizeof fs->seen);
    denylist *first = denylist_load(path, limits, err, errlen);
    snapshot *snap = first != NULL ? new_snapshot(first, 1) : NULL;
    if (snap == NULL || (fs->current = fhirpam_swap_new(snap, free_snapshot)) == NULL) {
        if (first != NULL)
            snprintf(err, errlen, "out of memory");
        denylist_free(first);
        free(snap);
        free(fs->path);
        free(fs);
        return -1;
    }
    atomic_init(&fs->generation, 1);
    pthread_mutex_init(&fs->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&fs->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&fs->watcher, NULL, watch, fs) != 0) {
        snprintf(err, errlen, "cannot start the thread that watches %s", path);
        pthread_cond_destroy(&fs->wake);
        pthread_mutex_destroy(&fs->lock);
        fhirpam_swap_free(fs->current);
        free(fs->path);
        free(fs);
        return -1;
    }
    *out = (revocation_store){file_lookup, file_generation, file_close, fs};
    return 0;
}
