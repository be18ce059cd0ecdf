/*
 * index.c - see index.h. Runs at load and in the store's watcher thread,
 * never on the request path.
 */
#include "index.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct loader {
    consent_index *ix;
    const index_options *o;
    const consent_index *previous;
    consent **list;
    size_t n, cap;
    char *err;
    size_t errlen;
} loader;

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

int consent_store_file_name(const char *name)
{
    return name[0] != '.' && (ends_with(name, ".json") || ends_with(name, ".ndjson"));
}

void consent_index_free(consent_index *ix)
{
    if (ix == NULL)
        return;
    strmap_free(&ix->by_patient);
    strmap_free(&ix->resources);
    strmap_free(&ix->clients);
    free(ix->consents);
    arena_free(ix->arena);
    free(ix);
}

static int add_consent(loader *l, consent *c)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        consent **bigger = realloc(l->list, cap * sizeof *bigger);
        if (bigger == NULL)
            return -1;
        l->list = bigger;
        l->cap = cap;
    }
    l->list[l->n++] = c;
    return 0;
}

/* One resource (not a Bundle) read from file; where says which ("entry 3",
 * "line 7") for messages. */
static int take_resource(loader *l, const json_t *r, const char *file, const char *where)
{
    const char *type = json_string_value(json_object_get(r, "resourceType"));
    const char *id = json_string_value(json_object_get(r, "id"));
    if (!json_is_object(r) || type == NULL) {
        snprintf(l->err, l->errlen, "%s: %s: not a FHIR resource (no resourceType)", file, where);
        return -1;
    }
    arena *a = l->ix->arena;
    char why[400];
    if (id != NULL) {
        stored_resource *s = arena_alloc(a, sizeof *s);
        char *key = arena_printf(a, "%s/%s", type, id);
        void *existing;
        if (s == NULL || key == NULL || (s->file = arena_strdup(a, file)) == NULL ||
            strmap_put(&l->ix->resources, key, s, &existing) != 0) {
            snprintf(l->err, l->errlen, "%s: out of memory", file);
            return -1;
        }
        if (existing != NULL) {
            /* Two versions of one resource: which one holds is a guess. */
            snprintf(l->err, l->errlen, "%s: %s: %s is also in %s", file, where, key,
                     ((const stored_resource *)existing)->file);
            return -1;
        }
        if (identifiers_parse(a, r, &s->ids, why, sizeof why) != 0) {
            snprintf(l->err, l->errlen, "%s: %s: %s: %s", file, where, key, why);
            return -1;
        }
    }
    if (strcmp(type, "Consent") != 0)
        return 0;
    consent *c = NULL;
    int rc = consent_parse(a, r, file, &l->o->parse, &c, why, sizeof why);
    if (rc < 0) {
        snprintf(l->err, l->errlen, "%s: %s: %s", file, where, why);
        return -1;
    }
    if (rc > 0 && add_consent(l, c) != 0) {
        snprintf(l->err, l->errlen, "%s: out of memory", file);
        return -1;
    }
    return 0;
}

static int take_document(loader *l, const json_t *doc, const char *file, const char *where)
{
    const char *type = json_string_value(json_object_get(doc, "resourceType"));
    if (type == NULL || strcmp(type, "Bundle") != 0)
        return take_resource(l, doc, file, where);
    const json_t *entries = json_object_get(doc, "entry");
    if (entries != NULL && !json_is_array(entries)) {
        snprintf(l->err, l->errlen, "%s: %s: Bundle.entry is not an array", file, where);
        return -1;
    }
    size_t i;
    const json_t *e;
    json_array_foreach(entries, i, e)
    {
        const json_t *r = json_object_get(e, "resource");
        char at[64];
        if (strcmp(where, "resource") == 0)
            snprintf(at, sizeof at, "entry %zu", i);
        else
            snprintf(at, sizeof at, "%s entry %zu", where, i);
        if (r == NULL)
            continue; /* a request-only entry holds no resource */
        if (take_resource(l, r, file, at) != 0)
            return -1;
    }
    return 0;
}

/* Who can write a Consent decides who sees a patient's data: the checks
 * the deny list and the configuration get (DESIGN §3). */
static bool file_allowed(const struct stat *st)
{
    return S_ISREG(st->st_mode) && (st->st_uid == 0 || st->st_uid == geteuid()) &&
           (st->st_mode & 022) == 0 && (uint64_t)st->st_size <= CONSENT_MAX_FILE_BYTES;
}

static bool same_state(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The file's bytes. It is looked at without following a link and must be a
 * regular file before it is opened (a FIFO or a device is never opened);
 * it is opened non-blocking and without following a link, and checked
 * again on the descriptor, so that nothing put in its place in between can
 * block the watcher or be read. A file that changes while it is read is
 * refused (read again at the next check). */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    static const char rules[] = "must be a regular file of at most %u bytes, owned by root or "
                                "this user, not group- or world-writable";
    struct stat before, st, after;
    if (lstat(path, &before) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (!file_allowed(&before)) {
        snprintf(err, errlen, "%s: ", path);
        snprintf(err + strlen(err), errlen - strlen(err), rules, CONSENT_MAX_FILE_BYTES);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (!file_allowed(&st) || !same_state(&before, &st)) {
        snprintf(err, errlen, "%s: ", path);
        snprintf(err + strlen(err), errlen - strlen(err), rules, CONSENT_MAX_FILE_BYTES);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = malloc(size + 1);
    while (buf != NULL && got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* shorter than it was: caught below */
        got += (size_t)n;
    }
    bool changed = fstat(fd, &after) != 0 || !same_state(&st, &after);
    close(fd);
    if (buf == NULL || got != size || changed) {
        snprintf(err, errlen, "%s: %s", path, buf ? "changed while being read" : "out of memory");
        free(buf);
        return NULL;
    }
    buf[size] = '\0';
    *len = size;
    return buf;
}

/* What the previous index read of this file, or NULL. */
static const store_file *previous_file(const consent_index *previous, const char *path)
{
    for (size_t i = 0; previous != NULL && i < previous->nfiles; i++)
        if (strcmp(previous->files[i].path, path) == 0)
            return &previous->files[i];
    return NULL;
}

static int load_file(loader *l, const char *path)
{
    size_t len;
    char *text = read_file(path, &len, l->err, l->errlen);
    if (text == NULL)
        return -1;
    l->ix->files[l->ix->nfiles++] = (store_file){path, len};
    json_error_t jerr;
    int rc = 0;
    bool ndjson = ends_with(path, ".ndjson");
    /* An ndjson file is taken only whole: a line without its newline is one
     * being written, and a file that had Consents and now, still named,
     * has nothing was truncated by a rewrite in place (`cmd > file`). Either
     * keeps the previous index (and counts toward max_stale). */
    const store_file *before = ndjson ? previous_file(l->previous, path) : NULL;
    if (ndjson && len > 0 && text[len - 1] != '\n') {
        snprintf(l->err, l->errlen, "%s: the last line has no newline (the file is being written?)",
                 path);
        rc = -1;
    } else if (ndjson && len == 0 && before != NULL && before->size > 0) {
        snprintf(l->err, l->errlen,
                 "%s: the file is empty and held %llu bytes before (truncated while being "
                 "rewritten?)",
                 path, (unsigned long long)before->size);
        rc = -1;
    } else if (ndjson) {
        size_t line = 0;
        for (char *p = text; rc == 0 && p < text + len;) {
            char *nl = memchr(p, '\n', (size_t)(text + len - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
            line++;
            if (strspn(p, " \t\r") < n) {
                json_t *doc = json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr);
                char where[32];
                snprintf(where, sizeof where, "line %zu", line);
                if (doc == NULL) {
                    snprintf(l->err, l->errlen, "%s: line %zu: %s", path, line, jerr.text);
                    rc = -1;
                } else {
                    rc = take_document(l, doc, path, where);
                }
                json_decref(doc);
            }
            p += n + 1;
        }
    } else {
        json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (doc == NULL) {
            snprintf(l->err, l->errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
            rc = -1;
        } else {
            rc = take_document(l, doc, path, "resource");
        }
        json_decref(doc);
    }
    free(text);
    return rc;
}

static int load_registry(loader *l, const char *path)
{
    size_t len;
    char *text = read_file(path, &len, l->err, l->errlen);
    if (text == NULL)
        return -1;
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!json_is_object(doc)) {
        snprintf(l->err, l->errlen, "%s: %s", path,
                 doc ? "the client registry is a JSON object: client_id -> [\"system|value\"]"
                     : jerr.text);
        json_decref(doc);
        return -1;
    }
    arena *a = l->ix->arena;
    const char *client;
    const json_t *ids;
    json_object_foreach(doc, client, ids)
    {
        identifier_set *set = arena_alloc(a, sizeof *set);
        char *key = arena_strdup(a, client);
        if (set == NULL || key == NULL ||
            (set->ids = arena_alloc(a, (json_array_size(ids) + 1) * sizeof *set->ids)) == NULL ||
            strmap_put(&l->ix->clients, key, set, NULL) != 0) {
            snprintf(l->err, l->errlen, "%s: out of memory", path);
            json_decref(doc);
            return -1;
        }
        size_t i;
        const json_t *id;
        bool ok = json_is_array(ids);
        json_array_foreach(ids, i, id)
        {
            const char *s = json_string_value(id);
            ok = ok && s != NULL && strchr(s, '|') != NULL && strchr(s, '|')[1] != '\0';
            if (ok && (set->ids[set->n++] = arena_strdup(a, s)) == NULL)
                ok = false;
        }
        if (!ok) {
            snprintf(l->err, l->errlen, "%s: client \"%s\": a list of \"system|value\" strings",
                     path, client);
            json_decref(doc);
            return -1;
        }
    }
    json_decref(doc);
    return 0;
}

/* An actor the store holds is matched by that resource's identifiers, as
 * LEAP matches the resolved resource's (consent.md §2), and by the
 * reference's own identifier too: both describe the same party. -1 when
 * out of memory. */
static int resolve(arena *a, const strmap *resources, provision *p)
{
    for (uint32_t i = 0; i < p->nactors; i++) {
        actor *ac = &p->actors[i];
        const stored_resource *s =
            ac->reference ? strmap_get(resources, ac->reference, strlen(ac->reference)) : NULL;
        if (s == NULL)
            continue;
        ac->resolved = true;
        if (ac->ids.n == 0) {
            ac->ids = s->ids;
            continue;
        }
        const char **ids = arena_alloc(a, (s->ids.n + ac->ids.n) * sizeof *ids);
        if (ids == NULL)
            return -1;
        memcpy(ids, s->ids.ids, s->ids.n * sizeof *ids);
        memcpy(ids + s->ids.n, ac->ids.ids, ac->ids.n * sizeof *ids);
        ac->ids = (identifier_set){ids, s->ids.n + ac->ids.n};
    }
    for (uint32_t i = 0; i < p->nchildren; i++)
        if (resolve(a, resources, &p->children[i]) != 0)
            return -1;
    return 0;
}

/* Grouped by patient; in a group, dated before undated, newest first. */
static int by_patient_newest(const void *x, const void *y)
{
    const consent *a = *(consent *const *)x, *b = *(consent *const *)y;
    int c = strcmp(a->patient, b->patient);
    if (c != 0)
        return c;
    if (a->has_date != b->has_date)
        return a->has_date ? -1 : 1;
    if (a->has_date && a->date != b->date)
        return a->date > b->date ? -1 : 1;
    return strcmp(a->id, b->id);
}

static int name_order(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int list_dir(const char *dir, char ***names, size_t *count, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    struct stat st;
    if (d == NULL || fstat(dirfd(d), &st) != 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        if (d != NULL)
            closedir(d);
        return -1;
    }
    if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022) != 0) {
        snprintf(err, errlen,
                 "%s: the store directory must be owned by root or this user, not group- or "
                 "world-writable",
                 dir);
        closedir(d);
        return -1;
    }
    size_t n = 0, cap = 0;
    char **list = NULL;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (!consent_store_file_name(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **bigger = realloc(list, cap * sizeof *bigger);
            if (bigger == NULL) {
                rc = -1;
                break;
            }
            list = bigger;
        }
        if ((list[n] = strdup(e->d_name)) == NULL) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc != 0) {
        for (size_t i = 0; i < n; i++)
            free(list[i]);
        free(list);
        snprintf(err, errlen, "%s: out of memory", dir);
        return -1;
    }
    if (n > 0)
        qsort(list, n, sizeof *list, name_order);
    *names = list;
    *count = n;
    return 0;
}

consent_index *consent_index_load(const index_options *o, const consent_index *previous, char *err,
                                  size_t errlen)
{
    consent_index *ix = calloc(1, sizeof *ix);
    if (ix == NULL || (ix->arena = arena_new()) == NULL) {
        free(ix);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    loader l = {ix, o, previous, NULL, 0, 0, err, errlen};
    char **names = NULL;
    size_t nnames = 0;
    int rc = list_dir(o->dir, &names, &nnames, err, errlen);
    if (rc == 0 && (ix->files = arena_alloc(ix->arena, (nnames + 1) * sizeof *ix->files)) == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < nnames; i++) {
        char *path = arena_printf(ix->arena, "%s/%s", o->dir, names[i]);
        rc = path ? load_file(&l, path) : -1;
    }
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    if (rc == 0 && o->client_registry != NULL)
        rc = load_registry(&l, o->client_registry);
    if (rc == 0) {
        for (size_t i = 0; rc == 0 && i < l.n; i++)
            if (resolve(ix->arena, &ix->resources, &l.list[i]->root) != 0) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
            }
        if (l.n > 0)
            qsort(l.list, l.n, sizeof *l.list, by_patient_newest);
        ix->consents = l.list;
        ix->nconsents = l.n;
        l.list = NULL;
        for (size_t i = 0; rc == 0 && i < ix->nconsents;) {
            size_t j = i;
            while (j < ix->nconsents &&
                   strcmp(ix->consents[j]->patient, ix->consents[i]->patient) == 0)
                j++;
            patient_consents *pc = arena_alloc(ix->arena, sizeof *pc);
            if (pc == NULL) {
                rc = -1;
                snprintf(err, errlen, "out of memory");
                break;
            }
            *pc = (patient_consents){&ix->consents[i], (uint32_t)(j - i)};
            if (strmap_put(&ix->by_patient, ix->consents[i]->patient, pc, NULL) != 0) {
                rc = -1;
                snprintf(err, errlen, "out of memory");
            }
            i = j;
        }
    }
    free(l.list);
    if (rc != 0) {
        consent_index_free(ix);
        return NULL;
    }
    return ix;
}
