/*
 * file_store.c - the embedded revocation store: a deny list file, loaded
 * into hash tables, watched by a core watcher thread (fhirpam_watcher, which
 * also runs in the children of a host that forks) that re-reads it when it
 * changes and swaps the new tables in (fhirpam_swap: requests never wait).
 *
 * A change is any difference in what stat() says of the path: device,
 * inode, size, mode, owner, mtime and ctime (a rewrite in place with the
 * same size and mtime, `cp -p`, still moves ctime; a `chmod` moves only ctime
 * and mode). The version recorded is the one that loaded, from the
 * descriptor that was read; a version that was refused is recorded apart, so
 * that it is not re-read every tick, and any change to it is read again. A
 * file changed within the last second is read again on the next ticks until
 * it is older (timestamps are coarse: two writes in one tick can share
 * them, the "racy git" problem), and its content compared.
 *
 * A version that does not load leaves the previous rules in force and marks
 * the source stale (fhirpam_source: syslog, the audit record's
 * "revocation_stale", fhirpam_sources() and fhirpamd's /metrics).
 */
#include <errno.h>
#include <fhirpam/module.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store.h"

/* A rule set and its generation, swapped in as one. */
typedef struct snapshot {
    denylist *list;
    uint64_t generation;
} snapshot;

/* What stat() says of one version of the file (all zero: none). */
typedef struct file_version {
    dev_t dev;
    ino_t ino;
    off_t size;
    mode_t mode;
    uid_t uid;
    gid_t gid;
    struct timespec mtime, ctime;
} file_version;

typedef struct file_store {
    char *path;
    denylist_limits limits;
    fhirpam_swap *current; /* the snapshot in force */
    atomic_uint_fast64_t generation;
    fhirpam_source *source;
    fhirpam_watcher *watcher;
    /* The watcher's own (and open()'s, before the watcher starts): */
    file_version loaded;  /* the version the rules in force came from */
    uint64_t loaded_hash; /* of its content */
    bool loaded_racy;     /* changed too recently for its stat to be trusted */
    file_version refused; /* the last version that did not load, or none */
    bool missing;         /* the path was gone at the last check */
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

static file_version version_of(const struct stat *st)
{
    return (file_version){st->st_dev, st->st_ino, st->st_size, st->st_mode,
                          st->st_uid, st->st_gid, st->st_mtim, st->st_ctim};
}

static bool same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool same_version(const file_version *a, const file_version *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mode == b->mode &&
           a->uid == b->uid && a->gid == b->gid && same_time(a->mtime, b->mtime) &&
           same_time(a->ctime, b->ctime);
}

static uint64_t content_hash(const char *text, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 0x100000001b3ULL;
    return h;
}

/*
 * Reads the file and, when it loads, makes it the rule set in force (first:
 * at open, where a failure refuses the module). 0, or -1 with err filled.
 */
static int load(file_store *fs, bool first, char *err, size_t errlen)
{
    struct timespec started;
    clock_gettime(CLOCK_REALTIME, &started);
    denylist_file f;
    int read = denylist_read(fs->path, &f, err, errlen);
    if (read != 0) {
        /* A file refused as it is waits for its next change; one a writer
         * held locked is read again at the next tick (what stat says now
         * may already be the version the writer is finishing). */
        struct stat st;
        fs->refused =
            read != DENYLIST_BUSY && stat(fs->path, &st) == 0 ? version_of(&st) : (file_version){0};
        return -1;
    }
    file_version version = version_of(&f.st);
    /* Changed in the second before the read, or later: a write in the same
     * clock tick as this read would not show in the timestamps. */
    bool racy = f.st.st_ctim.tv_sec >= started.tv_sec - 1;
    uint64_t hash = content_hash(f.text, f.len);
    if (!first && hash == fs->loaded_hash) {
        /* The same rules (a chmod, a touch, a racy re-read): keep the set
         * and the answers kept per token. */
        free(f.text);
        fs->loaded = version;
        fs->loaded_racy = racy;
        fs->refused = (file_version){0};
        return 0;
    }
    fs->limits.now = (int64_t)time(NULL);
    denylist *fresh = denylist_build(f.text, f.len, fs->path, &fs->limits, err, errlen);
    free(f.text);
    if (fresh == NULL) {
        fs->refused = version;
        return -1;
    }
    uint64_t generation = atomic_load(&fs->generation) + 1;
    snapshot *snap = new_snapshot(fresh, generation);
    if (snap == NULL) {
        denylist_free(fresh);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (first) {
        fs->current = fhirpam_swap_new(snap, free_snapshot);
        if (fs->current == NULL) {
            free_snapshot(snap);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        atomic_init(&fs->generation, generation);
    } else {
        /* Publish first: an answer tagged with the new generation can only
         * come from the new set. */
        fhirpam_swap_publish(fs->current, snap);
        atomic_store_explicit(&fs->generation, generation, memory_order_release);
    }
    fs->loaded = version;
    fs->loaded_hash = hash;
    fs->loaded_racy = racy;
    fs->refused = (file_version){0};
    return 0;
}

/* The watcher's tick: re-read the file if it changed since it was loaded. */
static void check_file(void *arg)
{
    file_store *fs = arg;
    struct stat st;
    if (stat(fs->path, &st) != 0) {
        if (!fs->missing)
            fhirpam_source_stale(fs->source, "%s: %s", fs->path, strerror(errno));
        fs->missing = true;
        return;
    }
    fs->missing = false;
    file_version now = version_of(&st);
    if (same_version(&now, &fs->loaded) && !fs->loaded_racy) {
        fhirpam_source_fresh(fs->source);
        return;
    }
    if (same_version(&now, &fs->refused))
        return; /* still the version that did not load: still stale */
    char err[600];
    if (load(fs, false, err, sizeof err) == 0)
        fhirpam_source_fresh(fs->source);
    else
        fhirpam_source_stale(fs->source, "%s", err);
}

static void file_close(void *self)
{
    file_store *fs = self;
    fhirpam_watcher_stop(fs->watcher);
    fhirpam_swap_free(fs->current);
    fhirpam_source_free(fs->source);
    free(fs->path);
    free(fs);
}

int file_store_open(const fhirpam_args *args, const char *path, int64_t interval_ms,
                    const denylist_limits *limits, revocation_store *out, char *err, size_t errlen)
{
    file_store *fs = calloc(1, sizeof *fs);
    if (fs == NULL || (fs->path = strdup(path)) == NULL) {
        free(fs);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    fs->limits = *limits;
    if (load(fs, true, err, errlen) != 0) {
        free(fs->path);
        free(fs);
        return -1;
    }
    fs->source = fhirpam_source_new(args, "revocation", path);
    fs->watcher = fs->source != NULL ? fhirpam_watcher_start(interval_ms, check_file, fs) : NULL;
    if (fs->watcher == NULL) {
        snprintf(err, errlen, "cannot start the thread that watches %s", path);
        fhirpam_source_free(fs->source);
        fhirpam_swap_free(fs->current);
        free(fs->path);
        free(fs);
        return -1;
    }
    *out = (revocation_store){file_lookup, file_generation, file_close, fs};
    return 0;
}
