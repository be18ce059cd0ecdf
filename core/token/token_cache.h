/*
 * token_cache.h - verified tokens, kept so that a token seen again skips the
 * signature check and the parse.
 *
 * Keyed by the token's bytes with an ECDSA signature in canonical form
 * (s in the lower half of the group order): strict decoding means one string
 * per signature value, and the canonical form makes (r, s) and (r, n - s),
 * which both verify, one key. So the spellings of one token share one entry
 * and cannot dodge it: every token has one entry, however it is spelled.
 * Bounded in entries and bytes; the oldest entries go first. Sharded, each
 * shard behind its own mutex held only to find, insert or unlink an entry,
 * so threads contend only when they hash to the same shard at the same
 * moment. Entries are reference-counted: one evicted while a request uses it
 * lives until that request releases it.
 */
#ifndef FHIRPAM_CORE_TOKEN_CACHE_H
#define FHIRPAM_CORE_TOKEN_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct token_cache token_cache;

/* The time claims of a verified token, for the per-request checks. */
typedef struct token_times {
    double exp;
    double nbf, iat;
    bool has_nbf, has_iat;
} token_times;

struct verified_token; /* defined in token_cache.c */

/* max_entries 0 disables caching (token_cache_new still returns a cache). */
token_cache *token_cache_new(size_t max_entries, size_t max_bytes);
void token_cache_free(token_cache *cache);

/* The entry for token[0..len), with a new reference, or NULL. */
struct verified_token *token_cache_find(token_cache *cache, const char *token, size_t len);

/*
 * Makes an entry for a freshly verified token (taking the reference to
 * claims) and, when caching is on, inserts it. Returns the entry with a
 * reference for the caller: the existing one if another thread inserted the
 * same token first. NULL only when out of memory (claims are then released).
 */
struct verified_token *token_cache_add(token_cache *cache, const char *token, size_t len,
                                       json_t *claims, const token_times *times, size_t issuer);

/* Drops the entry from the cache (the caller's reference stays valid). */
void token_cache_remove(token_cache *cache, struct verified_token *vt);

const token_times *verified_token_times(const struct verified_token *vt);
size_t verified_token_issuer(const struct verified_token *vt);

/* Entries currently cached, and lookups that hit (for tests and metrics). */
size_t token_cache_size(token_cache *cache);
uint64_t token_cache_hits(token_cache *cache);

#endif
