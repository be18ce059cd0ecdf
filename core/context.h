/*
 * context.h - the context a host holds: the current configuration and the
 * way requests pin it while a reload swaps in another.
 */
#ifndef FHIRPAM_CORE_CONTEXT_H
#define FHIRPAM_CORE_CONTEXT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"
#include "swap.h"

struct fhirpam_context {
    char *config_path;
    char *modules_dir;
    swap_cell current;           /* the config */
    pthread_mutex_t reload_lock; /* one writer: reloads, the reaper, close */
    /* Configurations replaced while requests still used them, freed by the
     * reaper thread once they have left (under reload_lock). */
    config *retired;
    pthread_t reaper;
    bool reaper_running, reaper_joinable, closing;
    pthread_cond_t reaper_wake;
    char id_prefix[17];
    atomic_uint_fast64_t decisions;
};

typedef swap_ticket reader_ticket;

/* Pin the current configuration for the length of one request. Lock-free:
 * two atomic increments on a per-thread-hashed slot. */
config *context_enter(struct fhirpam_context *ctx, reader_ticket *ticket);
void context_leave(reader_ticket ticket);

/* Write a new unique decision id into buf (at least 40 bytes). */
void context_next_id(struct fhirpam_context *ctx, char *buf, size_t len);

#endif
