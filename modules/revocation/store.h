/*
 * store.h - where the revocation module finds its rules.
 *
 * The rules (revocation.c) ask a store for every rule that could apply to a
 * token in one call, so that a request sees one consistent set. The file
 * store (file_store.c) is the default; a shared backend for a fleet (Redis,
 * say) implements the same three functions, and says `unavailable` when it
 * cannot answer: the module then returns the code `unavailable`, which the
 * stack fails open or closed on with `[unavailable=...]`.
 */
#ifndef FHIRPAM_REVOCATION_STORE_H
#define FHIRPAM_REVOCATION_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <fhirpam/module.h>

#include "denylist.h"

/* The token's keys; NULL where the token has no such claim. */
typedef struct revocation_query {
    const char *iss, *jti, *sub, *client_id, *sid;
} revocation_query;

/* What the store found, per kind. */
typedef struct revocation_hits {
    bool hit[RULE_KINDS];
    int64_t time[RULE_KINDS];
    bool kind_present[RULE_KINDS]; /* the store has rules of this kind at all */
    uint64_t generation;           /* of the rule set answered from; 0: do not reuse */
} revocation_hits;

typedef enum store_answer { STORE_ANSWERED, STORE_UNAVAILABLE } store_answer;

typedef struct revocation_store {
    /* Fills hits for q. Thread-safe; never blocks on a writer. */
    store_answer (*lookup)(void *self, const revocation_query *q, revocation_hits *hits);
    /* The generation of the rule set in force now (0: the store cannot say):
     * an answer with this generation may be reused for the same token. */
    uint64_t (*generation)(void *self);
    void (*close)(void *self);
    void *self;
} revocation_store;

/* The file store: the deny list at path, re-read in a background thread when
 * the file changes (checked every interval_ms), its state reported as a
 * source of kind "revocation" (registered through args). 0, or -1 with err
 * filled. */
int file_store_open(const fhirpam_args *args, const char *path, int64_t interval_ms,
                    const denylist_limits *limits, revocation_store *out, char *err, size_t errlen);

#endif
