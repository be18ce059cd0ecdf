/*
 * watch.h - a background thread that calls a function every interval until
 * stopped: the "re-read the file when it changes" loop of a module whose
 * data lives on disk. Nothing here knows what is checked; the callback
 * decides whether anything changed and publishes (fhirpam_swap) if so.
 *
 * Written generically so that the revocation file store, which has the same
 * loop, can move onto it.
 */
#ifndef FHIRPAM_CONSENT_WATCH_H
#define FHIRPAM_CONSENT_WATCH_H

#include <stdint.h>

typedef struct watcher watcher;

/* Starts a thread calling check(arg) every interval_ms. NULL when the thread
 * cannot be started or out of memory. */
watcher *watcher_start(int64_t interval_ms, void (*check)(void *arg), void *arg);

/* Wakes the thread now (a test's "check again"); thread-safe. */
void watcher_poke(watcher *w);

/* Stops the thread (waiting for a check in progress) and frees w. */
void watcher_stop(watcher *w);

#endif
