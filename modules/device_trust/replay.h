/*
 * replay.h - DPoP proofs seen recently (RFC 9449 §11.1), so that a proof is
 * accepted once. In memory, bounded, safe from many threads (one mutex per
 * shard, held for one probe). The functions are reached through
 * replay_cache_ops so that a store shared by several instances (a fleet
 * behind one URL) can take its place.
 */
#ifndef FHIRPAM_DEVICE_TRUST_REPLAY_H
#define FHIRPAM_DEVICE_TRUST_REPLAY_H

#include <stddef.h>
#include <stdint.h>

typedef enum replay_answer { REPLAY_FRESH, REPLAY_SEEN, REPLAY_FULL } replay_answer;

typedef struct replay_cache_ops {
    /* Remembers key until `until` unless it is already remembered and
     * not yet past its own `until` at time `now`. */
    replay_answer (*check_and_remember)(void *self, const char *key, size_t len, int64_t until,
                                        int64_t now);
    void (*close)(void *self);
    void *self;
} replay_cache_ops;

/* The in-memory store, holding at most `capacity` live proofs. */
int replay_memory_open(size_t capacity, replay_cache_ops *out);

#endif
