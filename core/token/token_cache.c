/* token_cache.c - see token_cache.h. */
#include "token_cache.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cnf.h"
#include "token.h"

#define SHARDS 64

typedef struct data_slot {
    const void *key;
    void *data;
    void (*free_fn)(void *);
} data_slot;

/* Module data is read on every request and written once per token and
 * module: readers scan the published array without a lock; a writer copies
 * it one slot larger under data_lock and publishes the copy. Replaced
 * arrays stay on the `older` chain until the entry is freed, since a reader
 * may still be scanning one. */
typedef struct slot_array {
    struct slot_array *older;
    size_t n;
    data_slot slot[];
} slot_array;

struct verified_token {
    atomic_size_t refs;
    uint64_t hash;
    char *token;
    size_t len;
    size_t cost; /* bytes charged to the cache */
    json_t *claims;
    token_identity identity;
    token_times times;
    size_t issuer;

    /* Module data (fhirpam_token_data). */
    pthread_mutex_t data_lock;
    _Atomic(slot_array *) slots;

    /* Cache links, under the shard lock. */
    bool cached;
    struct verified_token *bucket_next;
    struct verified_token *older, *newer;
};

typedef struct shard {
    pthread_mutex_t lock;
    struct verified_token **buckets;
    size_t mask;
    struct verified_token *oldest, *newest;
    size_t count, bytes;
    uint64_t hits;
} shard;

struct token_cache {
    size_t max_entries, max_bytes; /* per shard */
    uint64_t seed;
    shard shards[SHARDS];
};

/* A seeded hash of the token's length and its last 32 bytes. Only verified
 * tokens enter the cache, and the end of a token is its signature, which
 * nobody without the issuer's key can choose: so hashing the tail spreads
 * entries as well as hashing everything, at a fixed cost per lookup. The
 * full bytes are still compared on every hit. */
#define HASHED_TAIL 32
static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_bytes(uint64_t seed, const char *p, size_t len)
{
    uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
    if (len > HASHED_TAIL) {
        p += len - HASHED_TAIL;
        len = HASHED_TAIL;
    }
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ mix(w)) * 0x9e3779b97f4a7c15ULL;
    }
    uint64_t tail = 0;
    memcpy(&tail, p + i, len - i);
    return mix(h ^ mix(tail ^ len));
}

token_cache *token_cache_new(size_t max_entries, size_t max_bytes)
{
    token_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->max_entries = max_entries == 0 ? 0 : (max_entries + SHARDS - 1) / SHARDS;
    c->max_bytes = max_bytes / SHARDS;
    if (RAND_bytes((unsigned char *)&c->seed, sizeof c->seed) != 1)
        c->seed = (uint64_t)(uintptr_t)c ^ 0x5bd1e9955bd1e995ULL;
    size_t nbuckets = 8;
    while (nbuckets < 2 * c->max_entries)
        nbuckets *= 2;
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_init(&s->lock, NULL);
        if (c->max_entries > 0) {
            s->buckets = calloc(nbuckets, sizeof *s->buckets);
            if (s->buckets == NULL) {
                token_cache_free(c);
                return NULL;
            }
            s->mask = nbuckets - 1;
        }
    }
    return c;
}

/* The claims every decision records, read once per token. */
static int identity_init(token_identity *id, const json_t *claims)
{
    static const char *const names[5] = {"iss", "sub", "client_id", "jti", "patient"};
    const char *v[5];
    size_t len[5], total = 0;
    for (int i = 0; i < 5; i++) {
        v[i] = json_string_value(json_object_get(claims, names[i]));
        len[i] = v[i] ? strlen(v[i]) : 0;
        total += len[i] > 0 ? len[i] + 1 : 0;
    }
    *id = (token_identity){v[0], v[1], v[2], v[3], v[4], .packed = malloc(total + 1)};
    if (id->packed == NULL)
        return -1;
    size_t at = 0;
    for (int i = 0; i < 5; i++) {
        id->at[i] = len[i] > 0 ? (long)at : -1; /* "" is recorded as absent */
        if (len[i] > 0) {
            memcpy(id->packed + at, v[i], len[i] + 1);
            at += len[i] + 1;
        }
    }
    id->packed_len = at;
    id->binding = cnf_binding(claims);
    return 0;
}

static void entry_free(struct verified_token *vt)
{
    slot_array *a = atomic_load(&vt->slots);
    for (size_t i = 0; a != NULL && i < a->n; i++) {
        if (a->slot[i].free_fn != NULL)
            a->slot[i].free_fn(a->slot[i].data);
    }
    while (a != NULL) {
        slot_array *older = a->older;
        free(a);
        a = older;
    }
    pthread_mutex_destroy(&vt->data_lock);
    json_decref(vt->claims);
    free(vt->identity.packed);
    free(vt->token);
    free(vt);
}

void verified_token_release(const verified_token *cvt)
{
    struct verified_token *vt = (struct verified_token *)cvt;
    if (vt != NULL && atomic_fetch_sub_explicit(&vt->refs, 1, memory_order_acq_rel) == 1)
        entry_free(vt);
}

static shard *shard_of(token_cache *c, uint64_t hash)
{
    return &c->shards[hash >> 58]; /* top 6 bits: SHARDS == 64 */
}

/* Unlink vt from its shard (lock held) and drop the cache's reference. */
static void unlink_locked(shard *s, struct verified_token *vt)
{
    struct verified_token **p = &s->buckets[vt->hash & s->mask];
    while (*p != vt)
        p = &(*p)->bucket_next;
    *p = vt->bucket_next;
    if (vt->older)
        vt->older->newer = vt->newer;
    else
        s->oldest = vt->newer;
    if (vt->newer)
        vt->newer->older = vt->older;
    else
        s->newest = vt->older;
    vt->cached = false;
    s->count--;
    s->bytes -= vt->cost;
}

void token_cache_free(token_cache *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        while (s->oldest != NULL) {
            struct verified_token *vt = s->oldest;
            unlink_locked(s, vt);
            verified_token_release(vt);
        }
        free(s->buckets);
        pthread_mutex_destroy(&s->lock);
    }
    free(c);
}

static struct verified_token *find_locked(shard *s, uint64_t hash, const char *token, size_t len)
{
    for (struct verified_token *vt = s->buckets[hash & s->mask]; vt != NULL; vt = vt->bucket_next) {
        if (vt->hash == hash && vt->len == len && memcmp(vt->token, token, len) == 0)
            return vt;
    }
    return NULL;
}

struct verified_token *token_cache_find(token_cache *c, const char *token, size_t len)
{
    if (c->max_entries == 0)
        return NULL;
    uint64_t hash = hash_bytes(c->seed, token, len);
    shard *s = shard_of(c, hash);
    pthread_mutex_lock(&s->lock);
    struct verified_token *vt = find_locked(s, hash, token, len);
    if (vt != NULL) {
        atomic_fetch_add_explicit(&vt->refs, 1, memory_order_relaxed);
        s->hits++;
    }
    pthread_mutex_unlock(&s->lock);
    return vt;
}

struct verified_token *token_cache_add(token_cache *c, const char *token, size_t len,
                                       json_t *claims, const token_times *times, size_t issuer)
{
    struct verified_token *vt = calloc(1, sizeof *vt);
    if (vt != NULL)
        atomic_init(&vt->slots, NULL);
    char *copy = malloc(len);
    if (vt == NULL || copy == NULL) {
        free(vt);
        free(copy);
        json_decref(claims);
        return NULL;
    }
    memcpy(copy, token, len);
    atomic_init(&vt->refs, 1);
    vt->token = copy;
    vt->len = len;
    /* The claims take about as much again as their text, twice over. */
    vt->cost = sizeof *vt + 3 * len;
    vt->claims = claims;
    if (identity_init(&vt->identity, claims) != 0) {
        json_decref(claims);
        free(copy);
        free(vt);
        return NULL;
    }
    vt->times = *times;
    vt->issuer = issuer;
    pthread_mutex_init(&vt->data_lock, NULL);
    if (c->max_entries == 0)
        return vt;

    vt->hash = hash_bytes(c->seed, token, len);
    shard *s = shard_of(c, vt->hash);
    pthread_mutex_lock(&s->lock);
    struct verified_token *existing = find_locked(s, vt->hash, token, len);
    if (existing != NULL) {
        atomic_fetch_add_explicit(&existing->refs, 1, memory_order_relaxed);
        pthread_mutex_unlock(&s->lock);
        entry_free(vt);
        return existing;
    }
    /* Make room: the oldest entries go first. */
    while (s->oldest != NULL &&
           (s->count + 1 > c->max_entries || s->bytes + vt->cost > c->max_bytes)) {
        struct verified_token *old = s->oldest;
        unlink_locked(s, old);
        verified_token_release(old);
    }
    if (vt->cost <= c->max_bytes) {
        size_t b = vt->hash & s->mask;
        vt->bucket_next = s->buckets[b];
        s->buckets[b] = vt;
        vt->older = s->newest;
        if (s->newest)
            s->newest->newer = vt;
        else
            s->oldest = vt;
        s->newest = vt;
        s->count++;
        s->bytes += vt->cost;
        vt->cached = true;
        atomic_fetch_add_explicit(&vt->refs, 1, memory_order_relaxed); /* the cache's */
    }
    pthread_mutex_unlock(&s->lock);
    return vt;
}

void token_cache_remove(token_cache *c, struct verified_token *vt)
{
    if (c->max_entries == 0)
        return;
    shard *s = shard_of(c, vt->hash);
    pthread_mutex_lock(&s->lock);
    bool was_cached = vt->cached;
    if (was_cached)
        unlink_locked(s, vt);
    pthread_mutex_unlock(&s->lock);
    if (was_cached)
        verified_token_release(vt);
}

const token_times *verified_token_times(const struct verified_token *vt)
{
    return &vt->times;
}

size_t verified_token_issuer(const struct verified_token *vt)
{
    return vt->issuer;
}

const token_identity *verified_token_identity(const verified_token *vt)
{
    return &vt->identity;
}

const json_t *verified_token_claims(const verified_token *vt)
{
    return vt->claims;
}

void *verified_token_data(const verified_token *cvt, const void *key)
{
    const slot_array *a = atomic_load_explicit(&cvt->slots, memory_order_acquire);
    for (size_t i = 0; a != NULL && i < a->n; i++) {
        if (a->slot[i].key == key)
            return a->slot[i].data;
    }
    return NULL;
}

void *verified_token_data_attach(const verified_token *cvt, const void *key, void *data,
                                 void (*free_fn)(void *))
{
    struct verified_token *vt = (struct verified_token *)cvt;
    void *result = NULL;
    pthread_mutex_lock(&vt->data_lock);
    slot_array *old = atomic_load_explicit(&vt->slots, memory_order_relaxed);
    size_t n = old != NULL ? old->n : 0;
    for (size_t i = 0; i < n; i++) {
        if (old->slot[i].key == key) {
            result = old->slot[i].data; /* another thread was first */
            goto done;
        }
    }
    slot_array *fresh = malloc(sizeof *fresh + (n + 1) * sizeof fresh->slot[0]);
    if (fresh != NULL) {
        fresh->older = old;
        fresh->n = n + 1;
        if (n > 0)
            memcpy(fresh->slot, old->slot, n * sizeof fresh->slot[0]);
        fresh->slot[n] = (data_slot){key, data, free_fn};
        atomic_store_explicit(&vt->slots, fresh, memory_order_release);
        result = data;
    }
done:
    pthread_mutex_unlock(&vt->data_lock);
    return result;
}

size_t token_cache_size(token_cache *c)
{
    size_t n = 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&c->shards[i].lock);
        n += c->shards[i].count;
        pthread_mutex_unlock(&c->shards[i].lock);
    }
    return n;
}

uint64_t token_cache_hits(token_cache *c)
{
    uint64_t n = 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&c->shards[i].lock);
        n += c->shards[i].hits;
        pthread_mutex_unlock(&c->shards[i].lock);
    }
    return n;
}
