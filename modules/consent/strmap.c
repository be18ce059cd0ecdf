/* strmap.c - see strmap.h. Open addressing, linear probing, FNV-1a. */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct strmap_slot {
    const char *key;
    size_t len;
    uint64_t hash;
    void *value;
};

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3u;
    }
    return h;
}

void strmap_free(strmap *m)
{
    free(m->slots);
    *m = (strmap){0};
}

static struct strmap_slot *find(const strmap *m, const char *key, size_t len, uint64_t h)
{
    for (size_t i = (size_t)h & m->mask;; i = (i + 1) & m->mask) {
        struct strmap_slot *s = &m->slots[i];
        if (s->key == NULL || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0))
            return s;
    }
}

static int grow(strmap *m)
{
    size_t cap = m->slots == NULL ? 16 : (m->mask + 1) * 2;
    struct strmap_slot *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return -1;
    strmap bigger = {slots, cap - 1, m->count};
    for (size_t i = 0; m->slots != NULL && i <= m->mask; i++)
        if (m->slots[i].key != NULL)
            *find(&bigger, m->slots[i].key, m->slots[i].len, m->slots[i].hash) = m->slots[i];
    free(m->slots);
    *m = bigger;
    return 0;
}

int strmap_put(strmap *m, const char *key, void *value, void **existing)
{
    if ((m->slots == NULL || (m->count + 1) * 4 > (m->mask + 1) * 3) && grow(m) != 0)
        return -1;
    size_t len = strlen(key);
    uint64_t h = hash_bytes(key, len);
    struct strmap_slot *s = find(m, key, len, h);
    if (s->key != NULL) {
        if (existing != NULL)
            *existing = s->value;
        return 0;
    }
    *s = (struct strmap_slot){key, len, h, value};
    m->count++;
    if (existing != NULL)
        *existing = NULL;
    return 0;
}

void *strmap_get(const strmap *m, const char *key, size_t len)
{
    if (m->slots == NULL)
        return NULL;
    struct strmap_slot *s = find(m, key, len, hash_bytes(key, len));
    return s->key != NULL ? s->value : NULL;
}
