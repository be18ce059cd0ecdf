/*
 * jwks.h - the verification keys of the configured issuers, by kid.
 *
 * Loaded once per configuration from each issuer's JWKS file (RFC 7517 §5);
 * every key becomes an EVP_PKEY with its one pinned algorithm. Read-only
 * after loading, so lookups need no lock.
 */
#ifndef FHIRPAM_CORE_JWKS_H
#define FHIRPAM_CORE_JWKS_H

#include <stdbool.h>
#include <stddef.h>

#include "jws.h"

typedef struct jwks_key {
    char *kid;
    size_t kid_len;
    jwk_key key;
    size_t issuer; /* index of the issuer whose JWKS holds the key */
} jwks_key;

typedef struct jwks {
    jwks_key *keys; /* sorted by kid, for jwks_find */
    size_t n;
} jwks;

/* What a key set may contain. */
typedef struct jwks_policy {
    jwk_limits limits;           /* RSA key sizes (token.min_rsa_bits, max_rsa_bits) */
    jws_alg rsa_fallback;        /* for RSA keys without `alg` */
    bool allowed[JWS_ALG_COUNT]; /* the configured allow-list */
} jwks_policy;

/*
 * Adds the keys of the JWKS file at path (a trusted file: see trusted_open)
 * to set, for issuer number `issuer`. Every key goes through jwk_import(),
 * whose bounds keep a hostile key set cheap to refuse (a few microseconds a
 * key, no primality test). Refuses the whole file, with a message naming the
 * key, on any key that fails jwk_import(), an algorithm outside
 * the allow-list, a missing or duplicate kid (across all issuers), or a file
 * that is not {"keys": [...]}. Returns 0, or -1 with why filled.
 */
int jwks_add_file(jwks *set, const char *path, size_t issuer, const jwks_policy *policy, char *why,
                  size_t whylen);

/* Sorts the set; call once after the last jwks_add_file(). */
void jwks_finish(jwks *set);

/* The key whose kid is exactly kid[0..len), or NULL. Thread-safe. */
const jwks_key *jwks_find(const jwks *set, const char *kid, size_t len);

void jwks_free(jwks *set);

#endif
