/*
 * context.h - the context a host holds: the current configuration and the
 * way requests pin it while a reload swaps in another.
 */
#ifndef FHIRPAM_CORE_CONTEXT_H
#define FHIRPAM_CORE_CONTEXT_H

#include <pthread.h>
#include <stdatomic.h>

#include "config.h"

#define CONTEXT_READER_SLOTS 32

/* One cache line per slot, so that threads hashed to different slots do not
 * bounce a shared counter between cores. */
typedef struct reader_slot {
    _Alignas(64) atomic_long count[2];
} reader_slot;

struct fhirpam_context {
    char *config_path;
    char *modules_dir;
    _Atomic(config *) current;
    pthread_mutex_t reload_lock;
    atomic_uint epoch;
    reader_slot slots[CONTEXT_READER_SLOTS];
    char id_prefix[17];
    atomic_uint_fast64_t decisions;
};

typedef struct reader_ticket {
    reader_slot *slot;
    unsigned parity;
} reader_ticket;

/* Pin the current configuration for the length of one request. Lock-free:
 * two atomic increments on a per-thread-hashed slot. */
config *context_enter(struct fhirpam_context *ctx, reader_ticket *ticket);
void context_leave(reader_ticket ticket);

/* Write a new unique decision id into buf (at least 40 bytes). */
void context_next_id(struct fhirpam_context *ctx, char *buf, size_t len);

#endif
