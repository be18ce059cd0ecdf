/*
 * token.h - access-token verification (jwt-verification.md §4) and the cache
 * of verified tokens.
 *
 * A verifier is built once per configuration from its `token` group and is
 * then read-only: token_verify() may be called from any number of threads.
 * A verified token lives in the verifier's cache; token_verify() returns it
 * with a reference the caller gives back with verified_token_release().
 */
#ifndef FHIRPAM_CORE_TOKEN_H
#define FHIRPAM_CORE_TOKEN_H

#include <fhirpam/fhirpam.h>
#include <jansson.h>
#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jws.h"

typedef struct token_verifier token_verifier;
typedef struct verified_token verified_token;

/* Why a token was refused (see jws.h). */
typedef jws_failure token_failure;

/* The two times every part of fhirpam that compares times shares (the
 * `token` group's `leeway` and `max_ttl`): one clock-skew allowance, and
 * the longest life of any token accepted (exp - iat and exp - now). */
typedef struct token_limits {
    int64_t leeway, max_ttl;
} token_limits;

/* Reads leeway and max_ttl from a `token` group (absent: the defaults), with
 * the verifier's own ranges. 0, or -1 with "file:line: message". */
int token_limits_read(const config_setting_t *group, const char *file, token_limits *out,
                      fhirpam_error *err);
token_limits token_limits_default(void);

/* Builds a verifier from the config's `token` group; relative key-set paths
 * are taken relative to config_path's directory. NULL with a
 * `file:line: message` in err on any error. */
token_verifier *token_verifier_new_from_config(const config_setting_t *group,
                                               const char *config_path, fhirpam_error *err);
void token_verifier_free(token_verifier *v);
token_limits token_verifier_limits(const token_verifier *v);

/* Verifies the compact JWS token[0..len) at time now. Returns the verified
 * token (a new reference) or NULL with why filled in. Thread-safe. */
const verified_token *token_verify(token_verifier *v, const char *token, size_t len, int64_t now,
                                   token_failure *why);

/* False when the `token` group says unverified_binding = "allow": bound
 * tokens are then permitted where no module verified their binding (the
 * behaviour before the rule of binding.h). */
bool token_verifier_enforces_binding(const token_verifier *v);

/* Entries in the verified-token cache and lookups that hit it. */
size_t token_verifier_cache_size(token_verifier *v);
uint64_t token_verifier_cache_hits(token_verifier *v);

/* The verified claims; read-only, valid until the reference is released. */
const json_t *verified_token_claims(const verified_token *vt);
void verified_token_release(const verified_token *vt);

/* The claims every decision records (NULL where absent or not a string),
 * read once when the token was verified. Valid while the reference is. */
typedef struct token_identity {
    const char *iss, *sub, *client_id, *jti, *patient;
    /* The same five, NUL-terminated one after the other in this order, so
     * that a decision copies them in one piece: at[i] is the offset of the
     * i-th in packed, or -1 where it is absent. */
    char *packed;
    size_t packed_len;
    long at[5];
    /* What its `cnf` binds it to (cnf.h), 0 for a bearer token. */
    unsigned binding;
} token_identity;
const token_identity *verified_token_identity(const verified_token *vt);

/* Module data kept with the token while it is cached (fhirpam_token_data). */
void *verified_token_data(const verified_token *vt, const void *key);
void *verified_token_data_attach(const verified_token *vt, const void *key, void *data,
                                 void (*free_fn)(void *));

#endif
