/* token_cache.c - see token_cache.h. */
#include "token_cache.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base64url.h"
#include "cnf.h"
#include "jws.h"
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
    char *token; /* its key: the bytes, ECDSA signature canonical (token_key) */
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

/*
 * The key of a token in the cache: its bytes, with an ECDSA signature in
 * canonical form. ECDSA signatures are malleable: when (r, s) verifies, so
 * does (r, n - s), and anyone holding a token can respell it so. Refusing
 * the high form would refuse real tokens (OpenSSL, Java and jose sign
 * either form at random), so both forms of one token share one key instead,
 * and one entry: its verification, its module data and its eviction. A
 * signature segment of 86 or 128 characters can only be ES256 or ES384 (an
 * RSA signature is at least 256 bytes, 342 characters), and a lookup
 * matches only a verified entry's header, payload and canonical signature,
 * so a string that finds an entry carries one of the two forms of a
 * signature that verified.
 */
typedef struct token_key {
    const char *token;
    size_t len;
    size_t sig_at;  /* where the signature segment starts (len when none) */
    bool respelled; /* the canonical signature differs: it is in sig */
    char sig[129];  /* the canonical signature segment, when respelled */
} token_key;

#define ES384_SIG_CHARS 128 /* base64url of 96 bytes */

static void token_key_init(token_key *k, const char *token, size_t len)
{
    k->token = token;
    k->len = len;
    k->sig_at = len;
    k->respelled = false;
    /* Only the last 129 bytes can hold a dot that starts an ECDSA one. */
    for (size_t i = len; i > 0 && len - i <= ES384_SIG_CHARS; i--) {
        if (token[i - 1] == '.') {
            k->sig_at = i;
            break;
        }
    }
    size_t chars = len - k->sig_at;
    unsigned char raw[96 + 2];
    if (chars != b64url_encoded_len(64) && chars != ES384_SIG_CHARS)
        return;
    long n = b64url_decode(token + k->sig_at, chars, raw);
    if (n > 0 && jws_ecdsa_canonical(raw, (size_t)n)) {
        b64url_encode(raw, (size_t)n, k->sig);
        k->respelled = true;
    }
}

/* The key's bytes from offset `from` on: the token's, or from the canonical
 * signature's when `from` is inside the signature and it was respelled. */
static const char *token_key_tail(const token_key *k, size_t from)
{
    return k->respelled && from >= k->sig_at ? k->sig + (from - k->sig_at) : k->token + from;
}

/* Writes the key's bytes (len of them) to out. */
static void token_key_copy(const token_key *k, char *out)
{
    memcpy(out, k->token, k->sig_at);
    memcpy(out + k->sig_at, token_key_tail(k, k->sig_at), k->len - k->sig_at);
}

static bool token_key_equal(const token_key *k, const char *bytes, size_t len)
{
    return len == k->len && memcmp(bytes, k->token, k->sig_at) == 0 &&
           memcmp(bytes + k->sig_at, token_key_tail(k, k->sig_at), len - k->sig_at) == 0;
}

/* A seeded hash of the key's length and its last 32 bytes. Only verified
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

static uint64_t hash_key(uint64_t seed, const token_key *k)
{
    size_t len = k->len;
    uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
    /* The signature segment is longer than the tail whenever respelled. */
    const char *p = token_key_tail(k, len > HASHED_TAIL ? len - HASHED_TAIL : 0);
    if (len > HASHED_TAIL)
        len = HASHED_TAIL;
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

static struct verified_token *find_locked(shard *s, uint64_t hash, const token_key *key)
{
    for (struct verified_token *vt = s->buckets[hash & s->mask]; vt != NULL; vt = vt->bucket_next) {
        if (vt->hash == hash && token_key_equal(key, vt->token, vt->len))
            return vt;
    }
    return NULL;
}

struct verified_token *token_cache_find(token_cache *c, const char *token, size_t len)
{
    if (c->max_entries == 0)
        return NULL;
    token_key key;
    token_key_init(&key, token, len);
    uint64_t hash = hash_key(c->seed, &key);
    shard *s = shard_of(c, hash);
    pthread_mutex_lock(&s->lock);
    struct verified_token *vt = find_locked(s, hash, &key);
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
    token_key key;
    token_key_init(&key, token, len);
    token_key_copy(&key, copy);
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

    vt->hash = hash_key(c->seed, &key);
    shard *s = shard_of(c, vt->hash);
    pthread_mutex_lock(&s->lock);
    struct verified_token *existing = find_locked(s, vt->hash, &key);
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
