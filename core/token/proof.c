/*
 * proof.c - what device binding needs from the core's cryptography: the
 * client certificate's x5t#S256 (RFC 8705 §3.1), RFC 7638 JWK thumbprints,
 * and JWS proofs signed by the JWK in their own header (RFC 9449 §4.3),
 * verified by the same code as access tokens.
 */
#include <fhirpam/module.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "base64url.h"
#include "jws.h"
#include "proof.h"

FHIRPAM_API const char *fhirpam_request_client_cert_thumbprint(fhirpam_authz *az)
{
    if (az->cert_thumbprint_done)
        return az->cert_thumbprint[0] ? az->cert_thumbprint : NULL;
    az->cert_thumbprint_done = true;
    az->cert_thumbprint[0] = '\0';
    if (az->req->client_cert_thumbprint != NULL) {
        snprintf(az->cert_thumbprint, sizeof az->cert_thumbprint, "%s",
                 az->req->client_cert_thumbprint);
        return az->cert_thumbprint[0] ? az->cert_thumbprint : NULL;
    }
    if (az->req->client_cert_pem == NULL)
        return NULL;
    BIO *bio = BIO_new_mem_buf(az->req->client_cert_pem, -1);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    int len = cert ? i2d_X509(cert, &der) : -1;
    unsigned char digest[32];
    unsigned int dlen = 0;
    if (len > 0 && EVP_Digest(der, (size_t)len, digest, &dlen, EVP_sha256(), NULL) == 1 &&
        dlen == 32)
        b64url_encode(digest, 32, az->cert_thumbprint);
    OPENSSL_free(der);
    X509_free(cert);
    BIO_free(bio);
    return az->cert_thumbprint[0] ? az->cert_thumbprint : NULL;
}

/* RFC 7638: the required members only, in lexicographic order, no
 * whitespace, hashed with SHA-256. The member strings are used exactly as
 * received. */
int jwk_thumbprint(const json_t *jwk, char out[48])
{
    static const char *const ec[] = {"crv", "kty", "x", "y", NULL};
    static const char *const rsa[] = {"e", "kty", "n", NULL};
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *const *members = kty && strcmp(kty, "EC") == 0    ? ec
                                 : kty && strcmp(kty, "RSA") == 0 ? rsa
                                                                  : NULL;
    if (members == NULL)
        return -1;
    char canon[2048];
    size_t n = 0;
    canon[n++] = '{';
    for (size_t i = 0; members[i] != NULL; i++) {
        const json_t *v = json_object_get(jwk, members[i]);
        if (!json_is_string(v))
            return -1;
        int w = snprintf(canon + n, sizeof canon - n, "%s\"%s\":\"%s\"", i ? "," : "", members[i],
                         json_string_value(v));
        if (w < 0 || (size_t)w >= sizeof canon - n)
            return -1;
        n += (size_t)w;
    }
    if (n + 1 >= sizeof canon)
        return -1;
    canon[n++] = '}';
    unsigned char digest[32];
    unsigned int dlen = 0;
    if (EVP_Digest(canon, n, digest, &dlen, EVP_sha256(), NULL) != 1 || dlen != 32)
        return -1;
    b64url_encode(digest, 32, out);
    return 0;
}

/*
 * Imported proof keys, by RFC 7638 thumbprint. A device signs every request
 * with the same key: importing it (EVP_PKEY_fromdata, and for EC the quick
 * public-key check) costs a fair part of a verification, so the key is
 * imported once. The thumbprint is a SHA-256 of the key's members, so equal
 * thumbprints mean equal keys. Direct-mapped, entries reference-counted so
 * that one being replaced stays valid for the threads verifying with it.
 *
 * A key enters the cache only after a signature by it has verified. Anyone
 * can put any public key in a proof's header, so a key admitted on import
 * alone would let a stream of proofs with made-up keys and random signatures
 * push every real client's key out, and those keys cost nothing to make. A
 * signature that verifies is a proof that its sender holds the private key,
 * and a new key pair per request costs the sender what it costs us. A cache
 * of thumbprints that failed was the other way, and a worse one: the
 * thumbprint covers only e, kty and n (or crv, kty, x, y), so a client's
 * own public key sent with a bad signature, or with `use: "enc"`, would
 * lock that client out.
 */
#define KEY_CACHE_SLOTS 256

typedef struct cached_key {
    char jkt[48];
    jwk_key key;
    unsigned rsa_bits; /* the modulus size of an RSA key, 0 for EC */
    int refs;          /* under key_cache_lock */
} cached_key;

static pthread_mutex_t key_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cached_key *key_cache[KEY_CACHE_SLOTS];
static atomic_uint_fast64_t keys_imported, keys_reused, keys_admitted;

static size_t slot_of(const char *jkt)
{
    /* The thumbprint is already a uniform hash. */
    return (b64url_values[(unsigned char)jkt[0]] << 2 ^ b64url_values[(unsigned char)jkt[1]]) %
           KEY_CACHE_SLOTS;
}

static void release_key(cached_key *k)
{
    if (k == NULL)
        return;
    pthread_mutex_lock(&key_cache_lock);
    bool last = --k->refs == 0;
    pthread_mutex_unlock(&key_cache_lock);
    if (last) {
        jwk_key_clear(&k->key);
        free(k);
    }
}

static cached_key *find_key(const char *jkt)
{
    pthread_mutex_lock(&key_cache_lock);
    cached_key *k = key_cache[slot_of(jkt)];
    if (k != NULL && strcmp(k->jkt, jkt) == 0)
        k->refs++;
    else
        k = NULL;
    pthread_mutex_unlock(&key_cache_lock);
    return k;
}

/* Caches k (whose reference the caller keeps), unless another thread
 * cached the same key first. */
static void keep_key(cached_key *k)
{
    pthread_mutex_lock(&key_cache_lock);
    size_t slot = slot_of(k->jkt);
    cached_key *old = key_cache[slot];
    bool free_old = false;
    if (old == NULL || strcmp(old->jkt, k->jkt) != 0) {
        key_cache[slot] = k;
        k->refs++;
        free_old = old != NULL && --old->refs == 0;
        atomic_fetch_add_explicit(&keys_admitted, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&key_cache_lock);
    if (free_old) {
        jwk_key_clear(&old->key);
        free(old);
    }
}

size_t proof_key_cache_slot(const char *jkt)
{
    return slot_of(jkt);
}

void proof_key_cache_stats(proof_key_stats *out)
{
    out->imported = atomic_load_explicit(&keys_imported, memory_order_relaxed);
    out->reused = atomic_load_explicit(&keys_reused, memory_order_relaxed);
    out->admitted = atomic_load_explicit(&keys_admitted, memory_order_relaxed);
}

typedef struct embedded {
    const fhirpam_proof_rules *rules;
    jwk_limits limits;
    bool wrong_key; /* refused because the jwk is not rules->jkt */
    fhirpam_jws_proof *proof;
    cached_key *key; /* the header's jwk, imported or from the cache */
    bool admit;      /* imported now, to be cached once its signature verifies */
    jwk_key alt;     /* that key under another RSA algorithm */
} embedded;

static bool is_rsa(jws_alg a)
{
    return a >= JWS_RS256 && a <= JWS_PS512;
}

/* The key of the proof's jwk, from the cache or imported (then e->admit). */
static int proof_key(embedded *e, const json_t *jwk, jws_alg a, jws_failure *why)
{
    e->key = find_key(e->proof->jkt);
    if (e->key != NULL) {
        /* Cached for another instance's bounds, maybe: ours hold too. */
        unsigned bits = e->key->rsa_bits;
        if (bits != 0 && (bits < e->limits.min_rsa_bits || bits > e->limits.max_rsa_bits))
            return jws_refuse(why, "bad_jwk",
                              "the proof's jwk: RSA key of %u bits; %u to %u are "
                              "accepted",
                              bits, e->limits.min_rsa_bits, e->limits.max_rsa_bits);
        atomic_fetch_add_explicit(&keys_reused, 1, memory_order_relaxed);
        return 0;
    }
    /* The key's algorithm is the header's (the jwk's own alg, if any, must
     * agree), and it must suit the key type. */
    cached_key *fresh = calloc(1, sizeof *fresh);
    if (fresh == NULL)
        return jws_refuse(why, "out_of_memory", "out of memory");
    char reason[200];
    atomic_fetch_add_explicit(&keys_imported, 1, memory_order_relaxed);
    if (jwk_import(jwk, &e->limits, is_rsa(a) ? a : JWS_RS256, &fresh->key, reason,
                   sizeof reason) != 0) {
        free(fresh);
        return jws_refuse(why, "bad_jwk", "the proof's jwk: %s", reason);
    }
    memcpy(fresh->jkt, e->proof->jkt, sizeof fresh->jkt);
    fresh->rsa_bits = is_rsa(fresh->key.alg) ? (unsigned)EVP_PKEY_get_bits(fresh->key.pkey) : 0;
    fresh->refs = 1;
    e->key = fresh;
    /* A key pinned by its own alg stays uncached. */
    e->admit = !json_is_string(json_object_get(jwk, "alg"));
    return 0;
}

static int embedded_key(void *cookie, const json_t *header, size_t siglen, const jwk_key **key,
                        jws_failure *why)
{
    embedded *e = cookie;
    const json_t *alg = json_object_get(header, "alg");
    const char *name = json_string_value(alg);
    bool allowed = false;
    for (size_t i = 0; name != NULL && i < e->rules->nalgs; i++)
        allowed |= strcmp(e->rules->algs[i], name) == 0;
    jws_alg a = name ? jws_alg_from_name(name, json_string_length(alg)) : JWS_ALG_INVALID;
    if (!allowed || a == JWS_ALG_INVALID)
        return jws_refuse(why, "alg_not_allowed", "the proof's alg is not allowed");
    if (json_object_get(header, "crit") != NULL)
        return jws_refuse(why, "crit_unsupported", "the proof has critical extensions");
    const json_t *typ = json_object_get(header, "typ");
    if (typ != NULL && !json_is_string(typ))
        return jws_refuse(why, "bad_typ", "the proof's typ is not a string");
    snprintf(e->proof->typ, sizeof e->proof->typ, "%s", typ ? json_string_value(typ) : "");
    snprintf(e->proof->alg, sizeof e->proof->alg, "%s", name);
    const json_t *jwk = json_object_get(header, "jwk");
    if (!json_is_object(jwk))
        return jws_refuse(why, "missing_jwk", "the proof's header has no jwk");
    /* Private members, `use` and `key_ops` are outside the thumbprint:
     * refused here, so that a key already cached is refused the same way. */
    char reason[160];
    if (jwk_check_members(jwk, reason, sizeof reason) != 0)
        return jws_refuse(why, "bad_jwk", "the proof's jwk %s", reason);
    const json_t *jwk_alg = json_object_get(jwk, "alg");
    if (jwk_alg != NULL &&
        !(json_is_string(jwk_alg) && strcmp(json_string_value(jwk_alg), name) == 0))
        return jws_refuse(why, "alg_key_mismatch", "the proof's alg is not its jwk's own alg");
    /* The signature's length is the key's size (RFC 7518 §3.3-3.5), and
     * both are known from the text: a proof whose signature cannot be the
     * jwk's is refused before the key is imported or anything computed. */
    size_t want = jwk_signature_size(jwk, a);
    if (want == 0)
        return jws_refuse(why, "alg_key_mismatch", "the proof's alg does not suit its jwk");
    if (siglen != want)
        return jws_refuse(why, "bad_signature",
                          "the proof's signature is %zu bytes; its jwk under %s makes %zu", siglen,
                          name, want);
    if (jwk_thumbprint(jwk, e->proof->jkt) != 0)
        return jws_refuse(why, "bad_jwk", "the proof's jwk is not an EC or RSA public key");
    /* A proof for a bound token must be by the token's key (RFC 9449 §6.1,
     * §7.1): any other key is refused on its thumbprint, a hash of a few
     * hundred bytes, so that no key of the sender's choosing is imported
     * and no signature by it checked. */
    if (e->rules->jkt != NULL && strcmp(e->rules->jkt, e->proof->jkt) != 0) {
        e->wrong_key = true;
        return jws_refuse(why, "wrong_key",
                          "the proof's key is not the key the token is bound to (cnf.jkt)");
    }
    if (proof_key(e, jwk, a, why) != 0)
        return -1;
    /* The same key may sign with any algorithm that suits it (an RSA key
     * with RS256 or PS256): the header's alg must suit the key's type. */
    bool rsa_alg = is_rsa(a), rsa_key = is_rsa(e->key->key.alg);
    if (rsa_alg != rsa_key || (!rsa_alg && e->key->key.alg != a))
        return jws_refuse(why, "alg_key_mismatch", "the proof's alg does not suit its jwk");
    if (e->key->key.alg != a) {
        /* An RSA key prepared for another RSA algorithm: verify without the
         * prepared context. */
        e->alt = (jwk_key){e->key->key.pkey, a, NULL};
        *key = &e->alt;
        return 0;
    }
    *key = &e->key->key;
    return 0;
}

FHIRPAM_API int fhirpam_jws_verify_proof(const char *jws, size_t len,
                                         const fhirpam_proof_rules *rules, fhirpam_jws_proof *proof,
                                         char *err, size_t errlen)
{
    memset(proof, 0, sizeof *proof);
    if (jws == NULL || len > 8192) {
        snprintf(err, errlen, "the proof is missing or longer than 8192 bytes");
        return -1;
    }
    unsigned min_bits = rules->min_rsa_bits, max_bits = rules->max_rsa_bits;
    if (min_bits < FHIRPAM_RSA_MIN_BITS || max_bits > FHIRPAM_RSA_MAX_BITS || min_bits > max_bits) {
        snprintf(err, errlen, "RSA proof key sizes %u to %u are not within %d to %d", min_bits,
                 max_bits, FHIRPAM_RSA_MIN_BITS, FHIRPAM_RSA_MAX_BITS);
        return -1;
    }
    embedded e = {.rules = rules, .limits = {min_bits, max_bits}, .proof = proof};
    jws_failure why;
    unsigned char *payload = NULL;
    size_t plen = 0;
    int rc = jws_compact_verify(jws, len, embedded_key, &e, &payload, &plen, &why);
    if (rc == 0 && e.admit)
        keep_key(e.key);
    release_key(e.key);
    if (rc != 0) {
        snprintf(err, errlen, "%s", why.text);
        return e.wrong_key ? FHIRPAM_PROOF_WRONG_KEY : -1;
    }
    proof->payload = (char *)payload;
    proof->payload_len = plen;
    return 0;
}

FHIRPAM_API int fhirpam_jws_verify_embedded(const char *jws, size_t len, const char *const *algs,
                                            size_t nalgs, fhirpam_jws_proof *proof, char *err,
                                            size_t errlen)
{
    const fhirpam_proof_rules rules = {algs, nalgs, FHIRPAM_RSA_MIN_BITS,
                                       FHIRPAM_RSA_DEFAULT_MAX_BITS, NULL};
    return fhirpam_jws_verify_proof(jws, len, &rules, proof, err, errlen);
}

FHIRPAM_API void fhirpam_jws_proof_free(fhirpam_jws_proof *proof)
{
    if (proof != NULL) {
        free(proof->payload);
        proof->payload = NULL;
    }
}
