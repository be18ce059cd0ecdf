/*
 * mint.h - making keys and signed tokens, for `fhirpam token`, the demo and
 * the tests. Never used to verify: that is core/token/token.c's job alone.
 */
#ifndef FHIRPAM_TOOLS_MINT_H
#define FHIRPAM_TOOLS_MINT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>

/* A new key for alg (RS*, PS*: RSA of rsa_bits; ES256: P-256; ES384:
 * P-384), or NULL. */
EVP_PKEY *mint_keygen(const char *alg, unsigned rsa_bits);

/* The public JWK of key with kid and alg (alg may be NULL: then no `alg`
 * member), or NULL. The caller owns the result. */
json_t *mint_public_jwk(EVP_PKEY *key, const char *kid, const char *alg);

/* The base64url signature under alg of input[0..len) (ES*: raw r||s), a
 * string the caller frees, or NULL. */
char *mint_signature(EVP_PKEY *key, const char *alg, const char *input, size_t len);

/* header.payload.signature from JSON texts (encoded as given, byte for
 * byte), a string the caller frees, or NULL. */
char *mint_token(EVP_PKEY *key, const char *alg, const char *header_json, const char *payload_json);

/* base64url of data[0..len), a string the caller frees. */
char *mint_b64url(const void *data, size_t len);

#endif
