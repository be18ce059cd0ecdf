/*
 * jws.h - JWS signature algorithms and public JWK import on OpenSSL 3
 * (jwt-verification.md §4.2, §4.3). Shared by the access-token verifier and
 * the DPoP proof check: there is one of each in fhirpam.
 */
#ifndef FHIRPAM_CORE_JWS_H
#define FHIRPAM_CORE_JWS_H

#include <fhirpam/module.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum jws_alg {
    JWS_ALG_INVALID = 0,
    JWS_RS256,
    JWS_RS384,
    JWS_RS512,
    JWS_PS256,
    JWS_PS384,
    JWS_PS512,
    JWS_ES256,
    JWS_ES384,
    JWS_ALG_COUNT
} jws_alg;

/* The algorithm named exactly (byte for byte) name[0..len), or
 * JWS_ALG_INVALID: "rs256", "none" and "HS256" are all invalid. */
jws_alg jws_alg_from_name(const char *name, size_t len);
const char *jws_alg_name(jws_alg alg);

/* The digest of alg ("SHA256", ...), fetched once per process. */
const EVP_MD *jws_alg_md(jws_alg alg);

/* Call once before threads use the functions below (fetches the digests);
 * returns 0, or -1 when OpenSSL lacks one. Idempotent and thread-safe. */
int jws_init(void);

/*
 * Verifies sig over input with key under alg: RS* need a signature exactly
 * the modulus length; PS* use MGF1 with the same digest and a salt of the
 * digest length (never OpenSSL's "auto"); ES* take the JWS raw r||s form
 * (64 or 96 bytes), check 0 < r,s < n and convert it to DER. The key must
 * suit alg (jwk_import pins it). Thread-safe; clears OpenSSL's error queue.
 */
bool jws_verify(jws_alg alg, EVP_PKEY *key, const unsigned char *input, size_t inlen,
                const unsigned char *sig, size_t siglen);

/* Why a JWS (or a token) was refused: a code (invalid_token or expired),
 * a stable reason word and a sentence. Never contains the token itself. */
typedef struct jws_failure {
    fhirpam_code code;
    char reason[48];
    char text[256];
} jws_failure;

/* Fills why with code invalid_token; returns -1. */
int jws_refuse(jws_failure *why, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Chooses the key for a JWS from its parsed header, or refuses it (-1 with
 * why filled). The callback checks what its kind of token needs (alg in an
 * allow-list, typ, kid, crit...) and returns the key with its one algorithm.
 * siglen is the length the signature segment decodes to (read from its
 * length alone: the segment is decoded after the callback), so that a
 * callback that imports the key from the JWS itself can refuse a signature of
 * the wrong size before it spends anything on the key.
 */
typedef struct jwk_key jwk_key;
typedef int (*jws_key_fn)(void *cookie, const json_t *header, size_t siglen, const jwk_key **key,
                          jws_failure *why);

/*
 * Verifies a compact JWS, strictly (jwt-verification.md §4.1 steps 2-10):
 * the base64url alphabet and exactly two dots, no empty segment, a header
 * that is a JSON object without duplicate members or deep nesting, the key
 * the callback picks, and the signature over the literal header.payload. Only then is the payload
 * decoded: *payload (malloc'd, NUL-terminated, the caller frees) and
 * *payload_len. The header is handed to the callback only. Returns 0, or -1
 * with why filled. Thread-safe.
 */
int jws_compact_verify(const char *tok, size_t len, jws_key_fn select_key, void *cookie,
                       unsigned char **payload, size_t *payload_len, jws_failure *why);

/* Parses JSON text as an object under the same rules as a JWS header
 * (no duplicates, depth at most 32); NULL with why filled. `what` names it
 * in messages ("payload"). */
json_t *jws_parse_object(const unsigned char *text, size_t len, const char *what, jws_failure *why);

/* What jwk_import found: a key ready to verify with its one algorithm. */
struct jwk_key {
    EVP_PKEY *pkey;
    jws_alg alg;
    /* A digest context initialised once for this key and algorithm: OpenSSL
     * 3 copies an initialised context faster than it initialises a new one
     * (about 2 us of the 25 an RSA-2048 verification costs). Only ever
     * copied from, so threads may share it. */
    EVP_MD_CTX *ready;
};

/* Frees what jwk_import made (the key itself is not freed). */
void jwk_key_clear(jwk_key *key);

/* jws_verify() with a key from jwk_import(), using its prepared context. */
bool jws_verify_key(const jwk_key *key, const unsigned char *input, size_t inlen,
                    const unsigned char *sig, size_t siglen);

/* The RSA modulus sizes a key set or a proof accepts, in bits, within
 * FHIRPAM_RSA_MIN_BITS .. FHIRPAM_RSA_MAX_BITS (module.h). */
typedef struct jwk_limits {
    unsigned min_rsa_bits, max_rsa_bits;
} jwk_limits;

/* The RSA public exponent's largest size in bits (see jwk_import). */
#define JWK_RSA_MAX_E_BITS 33

/*
 * Imports a public JWK (RFC 7517/7518) into out (free with jwk_key_clear):
 * RSA (n, e) or EC on P-256 or P-384 (x, y of the exact size, on the curve).
 * The one function every key goes through, from a key set file, a proof's
 * header, or a key set fetched later: its bounds make the cost of any key
 * small and known before anything is computed with it. For RSA: the modulus
 * odd and of limits->min_rsa_bits to limits->max_rsa_bits, measured on its
 * encoding before it is decoded into a number; e odd, at least 3, at most
 * JWK_RSA_MAX_E_BITS bits; no ROCA fingerprint. There is no primality or
 * SP 800-56B check of the modulus (EVP_PKEY_public_check): it costs
 * milliseconds to seconds on hostile input, and a modulus that is not a
 * product of two primes only makes signatures fail (OpenSSL's verification is
 * safe on any odd modulus). For EC: OpenSSL's import refuses a point off the
 * curve and the quick check the point at infinity; on these prime-order
 * curves that is the whole public-key check. Refused: private members, `use`
 * other than "sig", `key_ops` without "verify", an `alg` that does not suit
 * the key, other key types. The key's algorithm is its `alg`, else
 * rsa_fallback for RSA keys, else the curve's ECDSA algorithm. Returns 0, or
 * -1 with a sentence in why.
 */
int jwk_import(const json_t *jwk, const jwk_limits *limits, jws_alg rsa_fallback, jwk_key *out,
               char *why, size_t whylen);

/*
 * The members of a public JWK that its RFC 7638 thumbprint does not cover,
 * checked as jwk_import does: no private members (d, p, q, dp, dq, qi, oth,
 * k), `use` absent or "sig", `key_ops` absent or holding "verify". A cache of
 * keys by thumbprint runs this on every hit, so that a key is refused the same
 * way whether it is cached or not. Returns 0, or -1 with a sentence in why.
 */
int jwk_check_members(const json_t *jwk, char *why, size_t whylen);

/*
 * The exact length a signature under alg must have with this JWK (RFC 7518
 * §3.3-3.5: the modulus length for RS* and PS*, read from the length of `n`;
 * twice the coordinate size for ES*), without decoding the key. 0 when the
 * JWK does not say (a missing or malformed member, a kty that does not suit
 * alg): jwk_import refuses such keys anyway.
 */
size_t jwk_signature_size(const json_t *jwk, jws_alg alg);

/*
 * The canonical form of a raw ECDSA signature r||s of 64 (P-256) or 96
 * (P-384) bytes: (r, n - s) when s is in the upper half of the group order
 * n, the signature unchanged otherwise. Both forms verify (ECDSA signatures
 * are malleable: -s is as good as s), so a cache that keys a token on its
 * signature keys it on this form. Returns true when sig was changed; any
 * other length, or s outside 0 < s < n, is left as it is.
 */
bool jws_ecdsa_canonical(unsigned char *sig, size_t siglen);

/* The RFC 7638 SHA-256 thumbprint of a public JWK (EC or RSA), base64url,
 * from the member strings as given. 0, or -1 when a member is missing. */
int jwk_thumbprint(const json_t *jwk, char out[48]);

#endif
