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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "base64url.h"
#include "jws.h"

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
 * imported once. The thumbprint is a SHA-256 of
 * the key's members, so equal thumbprints mean equal keys. Direct-mapped,
 * entries reference-counted so that one being replaced stays valid for the
 * threads verifying with it.
 */
#define KEY_CACHE_SLOTS 256

typedef struct cached_key {
    char jkt[48];
    jwk_key key;
    int refs; /* under key_cache_lock */
} cached_key;

static pthread_mutex_t key_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cached_key *key_cache[KEY_CACHE_SLOTS];

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

/* Caches k (whose reference the caller keeps). */
static void keep_key(cached_key *k)
{
    pthread_mutex_lock(&key_cache_lock);
    size_t slot = slot_of(k->jkt);
    cached_key *old = key_cache[slot];
    key_cache[slot] = k;
    k->refs++;
    bool free_old = old != NULL && --old->refs == 0;
    pthread_mutex_unlock(&key_cache_lock);
    if (free_old) {
        jwk_key_clear(&old->key);
        free(old);
    }
}

typedef struct embedded {
    const char *const *algs;
    size_t nalgs;
    fhirpam_jws_proof *proof;
    cached_key *key; /* the header's jwk, imported or from the cache */
    jwk_key alt;     /* that key under another RSA algorithm */
} embedded;

static int embedded_key(void *cookie, const json_t *header, const jwk_key **key, jws_failure *why)
{
    embedded *e = cookie;
    const json_t *alg = json_object_get(header, "alg");
    const char *name = json_string_value(alg);
    bool allowed = false;
    for (size_t i = 0; name != NULL && i < e->nalgs; i++)
        allowed |= strcmp(e->algs[i], name) == 0;
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
    /* Private members are refused even for a key already cached. */
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    for (size_t i = 0; i < sizeof private_members / sizeof *private_members; i++)
        if (json_object_get(jwk, private_members[i]) != NULL)
            return jws_refuse(why, "bad_jwk", "the proof's jwk has private member '%s'",
                              private_members[i]);
    const json_t *jwk_alg = json_object_get(jwk, "alg");
    if (jwk_alg != NULL &&
        !(json_is_string(jwk_alg) && strcmp(json_string_value(jwk_alg), name) == 0))
        return jws_refuse(why, "alg_key_mismatch", "the proof's alg is not its jwk's own alg");
    if (jwk_thumbprint(jwk, e->proof->jkt) != 0)
        return jws_refuse(why, "bad_jwk", "the proof's jwk is not an EC or RSA public key");
    e->key = find_key(e->proof->jkt);
    if (e->key == NULL) {
        /* The key's algorithm is the header's (the jwk's own alg, if any,
         * must agree), and it must suit the key type. */
        cached_key *fresh = calloc(1, sizeof *fresh);
        if (fresh == NULL)
            return jws_refuse(why, "out_of_memory", "out of memory");
        char reason[200];
        jws_alg fallback = a >= JWS_RS256 && a <= JWS_PS512 ? a : JWS_RS256;
        static const jwk_limits limits = {FHIRPAM_RSA_MIN_BITS, FHIRPAM_RSA_DEFAULT_MAX_BITS};
        if (jwk_import(jwk, &limits, fallback, &fresh->key, reason, sizeof reason) != 0) {
            free(fresh);
            return jws_refuse(why, "bad_jwk", "the proof's jwk: %s", reason);
        }
        memcpy(fresh->jkt, e->proof->jkt, sizeof fresh->jkt);
        fresh->refs = 1;
        if (!json_is_string(json_object_get(jwk, "alg")))
            keep_key(fresh); /* a key pinned by its own alg stays uncached */
        e->key = fresh;
    }
    /* The same key may sign with any algorithm that suits it (an RSA key
     * with RS256 or PS256): the header's alg must suit the key's type. */
    bool rsa_alg = a >= JWS_RS256 && a <= JWS_PS512;
    bool rsa_key = e->key->key.alg >= JWS_RS256 && e->key->key.alg <= JWS_PS512;
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

FHIRPAM_API int fhirpam_jws_verify_embedded(const char *jws, size_t len, const char *const *algs,
                                            size_t nalgs, fhirpam_jws_proof *proof, char *err,
                                            size_t errlen)
{
    memset(proof, 0, sizeof *proof);
    if (jws == NULL || len > 8192) {
        snprintf(err, errlen, "the proof is missing or longer than 8192 bytes");
        return -1;
    }
    embedded e = {algs, nalgs, proof, NULL, {NULL, JWS_ALG_INVALID, NULL}};
    jws_failure why;
    unsigned char *payload = NULL;
    size_t plen = 0;
    int rc = jws_compact_verify(jws, len, embedded_key, &e, &payload, &plen, &why);
    release_key(e.key);
    if (rc != 0) {
        snprintf(err, errlen, "%s", why.text);
        return -1;
    }
    proof->payload = (char *)payload;
    proof->payload_len = plen;
    return 0;
}

FHIRPAM_API void fhirpam_jws_proof_free(fhirpam_jws_proof *proof)
{
    if (proof != NULL) {
        free(proof->payload);
        proof->payload = NULL;
    }
}
