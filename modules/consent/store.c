/*
 * store.c - see store.h. The loop (fhirpam_watcher, which also runs in the
 * children of a host that forks) and the swap (fhirpam_swap) are the SDK's,
 * as in the revocation file store.
 */
#include "store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

struct consent_store {
    index_options options;
    fhirpam_swap *current; /* the consent_index in force */
    uint64_t seen;         /* signature of the directory as last loaded (or last failed) */
    uint64_t pending;      /* a new signature, loaded once it holds for one more check */
    uint64_t generation;
    _Atomic int64_t failing_since; /* when re-reading started to fail (epoch s), 0: it loads */
    fhirpam_watcher *watch;
};

static void free_index(void *p)
{
    consent_index_free(p);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdu;
}

/* Everything about a file that a change to it, or to whether it may be
 * read, alters: its inode, size and modification time, and also its mode,
 * owner and change time, so that a file refused for its mode and then
 * fixed with chmod is read again (issue 27 row 11). */
static uint64_t stat_hash(const char *name, const struct stat *st)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3u;
    const uint64_t fields[] = {
        (uint64_t)st->st_ino,          (uint64_t)st->st_dev,          (uint64_t)st->st_size,
        (uint64_t)st->st_mtim.tv_sec,  (uint64_t)st->st_mtim.tv_nsec, (uint64_t)st->st_ctim.tv_sec,
        (uint64_t)st->st_ctim.tv_nsec, (uint64_t)st->st_mode,         (uint64_t)st->st_uid,
        (uint64_t)st->st_gid,
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        h = mix(h, fields[i]);
    return h;
}

/* What the directory holds now, as one number: the directory's own state,
 * every store file's (summed: readdir's order does not matter), and the
 * client registry's. Nothing is opened: a FIFO is only looked at. */
static uint64_t signature(const index_options *o)
{
    uint64_t sum = 0, count = 0;
    DIR *d = opendir(o->dir);
    if (d == NULL)
        return 1;
    int dfd = dirfd(d);
    struct dirent *e;
    struct stat st;
    if (fstat(dfd, &st) == 0)
        sum += stat_hash(".", &st);
    while ((e = readdir(d)) != NULL) {
        if (!consent_store_file_name(e->d_name))
            continue;
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            memset(&st, 0, sizeof st);
        sum += stat_hash(e->d_name, &st);
        count++;
    }
    closedir(d);
    uint64_t h = mix(sum, count);
    if (o->client_registry != NULL) {
        if (lstat(o->client_registry, &st) != 0)
            memset(&st, 0, sizeof st);
        h = mix(h, stat_hash(o->client_registry, &st));
    }
    return h | 2; /* never 1 (no directory) or 0 */
}

static void check_store(void *arg)
{
    consent_store *s = arg;
    uint64_t sig = signature(&s->options);
    if (sig == s->seen)
        return;
    /* A state is read once it has held for a whole interval: a file being
     * rewritten in place is not caught half-way at a line's end. */
    if (sig != s->pending) {
        s->pending = sig;
        return;
    }
    s->seen = sig;
    char err[800];
    fhirpam_swap_ticket ticket;
    const consent_index *now = fhirpam_swap_enter(s->current, &ticket);
    consent_index *fresh = consent_index_load(&s->options, now, err, sizeof err);
    fhirpam_swap_leave(ticket);
    if (fresh == NULL) {
        syslog(LOG_ERR, "fhirpam consent: %s; the previous consents stay in force", err);
        int64_t expected = 0;
        atomic_compare_exchange_strong(&s->failing_since, &expected, (int64_t)time(NULL));
        return;
    }
    fresh->generation = ++s->generation;
    fhirpam_swap_publish(s->current, fresh);
    atomic_store(&s->failing_since, 0);
}

consent_store *consent_store_open(const index_options *o, int64_t interval_ms, char *err,
                                  size_t errlen)
{
    consent_store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->options = *o;
    atomic_init(&s->failing_since, 0);
    s->seen = signature(o);
    consent_index *first = consent_index_load(o, NULL, err, errlen);
    if (first == NULL) {
        free(s);
        return NULL;
    }
    first->generation = s->generation = 1;
    if ((s->current = fhirpam_swap_new(first, free_index)) == NULL) {
        consent_index_free(first);
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if ((s->watch = fhirpam_watcher_start(interval_ms, check_store, s)) == NULL) {
        fhirpam_swap_free(s->current);
        free(s);
        snprintf(err, errlen, "cannot start the thread that watches %s", o->dir);
        return NULL;
    }
    return s;
}

const consent_index *consent_store_enter(consent_store *s, fhirpam_swap_ticket *ticket)
{
    return fhirpam_swap_enter(s->current, ticket);
}

void consent_store_leave(fhirpam_swap_ticket ticket)
{
    fhirpam_swap_leave(ticket);
}

int64_t consent_store_failing_since(consent_store *s)
{
    return atomic_load_explicit(&s->failing_since, memory_order_relaxed);
}

void consent_store_close(consent_store *s)
{
    if (s == NULL)
        return;
    fhirpam_watcher_stop(s->watch);
    fhirpam_swap_free(s->current);
    free(s);
}
