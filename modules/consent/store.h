/*
 * store.h - the consent index in force, re-read when the store directory
 * (or the client registry) changes, and swapped in without blocking a
 * request (fhirpam_swap). A directory that does not load (a file that does
 * not parse, a Consent this module cannot read) is logged to syslog naming
 * the file, and the previous index stays in force.
 */
#ifndef FHIRPAM_CONSENT_STORE_H
#define FHIRPAM_CONSENT_STORE_H

#include <fhirpam/module.h>

#include "index.h"

typedef struct consent_store consent_store;

/* Loads the directory once (NULL with err naming the file when it does not
 * load) and starts watching it every interval_ms. The strings in o are
 * borrowed and must outlive the store. */
consent_store *consent_store_open(const index_options *o, int64_t interval_ms, char *err,
                                  size_t errlen);

/* The index in force, pinned until consent_store_leave(). Lock-free,
 * thread-safe; no system call. */
const consent_index *consent_store_enter(consent_store *s, fhirpam_swap_ticket *ticket);
void consent_store_leave(fhirpam_swap_ticket ticket);

/* Since when (seconds since the epoch) the directory has failed to load
 * again, or 0 while the index in force is the directory's current state.
 * Lock-free; no system call. */
int64_t consent_store_failing_since(consent_store *s);

void consent_store_close(consent_store *s);

#endif
