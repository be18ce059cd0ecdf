/* replay.c - see replay.h. */
#include "replay.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS    64
#define MAX_PROBE 64

typedef struct slot {
    uint64_t h1, h2; /* two independent 64-bit hashes of the key; 0,0 = never used */
    int64_t until;
} slot;

typedef struct shard {
    pthread_mutex_t lock;
    slot *slots;
    size_t mask;
} shard;

typedef struct memory_cache {
    uint64_t seed1, seed2;
    shard shards[SHARDS];
} memory_cache;

static uint64_t hash(uint64_t seed, const char *p, size_t len)
{
    uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static replay_answer memory_check(void *self, const char *key, size_t len, int64_t until,
                                  int64_t now)
{
    memory_cache *c = self;
    uint64_t h1 = hash(c->seed1, key, len) | 1, h2 = hash(c->seed2, key, len);
    shard *s = &c->shards[h2 % SHARDS];
    replay_answer answer = REPLAY_FULL;
    pthread_mutex_lock(&s->lock);
    slot *free_slot = NULL;
    for (size_t i = 0; i < MAX_PROBE; i++) {
        slot *e = &s->slots[(h1 + i) & s->mask];
        if (e->h1 == h1 && e->h2 == h2 && e->until >= now) {
            answer = REPLAY_SEEN;
            goto done;
        }
        if (free_slot == NULL && (e->h1 == 0 || e->until < now))
            free_slot = e;
        if (e->h1 == 0)
            break; /* never used: the key is not further along */
    }
    if (free_slot != NULL) {
        *free_slot = (slot){h1, h2, until};
        answer = REPLAY_FRESH;
    }
done:
    pthread_mutex_unlock(&s->lock);
    return answer;
}

static void memory_close(void *self)
{
    memory_cache *c = self;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_destroy(&c->shards[i].lock);
        free(c->shards[i].slots);
    }
    free(c);
}

int replay_memory_open(size_t capacity, replay_cache_ops *out)
{
    memory_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    if (RAND_bytes((unsigned char *)&c->seed1, sizeof c->seed1) != 1 ||
        RAND_bytes((unsigned char *)&c->seed2, sizeof c->seed2) != 1) {
        free(c);
        return -1;
    }
    /* Twice the capacity, so that probes stay short. */
    size_t per = 64;
    while (per < 2 * capacity / SHARDS)
        per *= 2;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&c->shards[i].lock, NULL);
        c->shards[i].slots = calloc(per, sizeof(slot));
        c->shards[i].mask = per - 1;
        if (c->shards[i].slots == NULL) {
            memory_close(c);
            return -1;
        }
    }
    *out = (replay_cache_ops){memory_check, memory_close, c};
    return 0;
}
