/*
 * jws.c - see jws.h. Every check here exists because some JOSE library once
 * skipped it (jwt-verification.md §3, items 9-12).
 */
#include "jws.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "base64url.h"
#include "json_strict.h"

static const struct {
    const char *name;
    const char *digest;
} algs[JWS_ALG_COUNT] = {
    [JWS_RS256] = {"RS256", "SHA256"}, [JWS_RS384] = {"RS384", "SHA384"},
    [JWS_RS512] = {"RS512", "SHA512"}, [JWS_PS256] = {"PS256", "SHA256"},
    [JWS_PS384] = {"PS384", "SHA384"}, [JWS_PS512] = {"PS512", "SHA512"},
    [JWS_ES256] = {"ES256", "SHA256"}, [JWS_ES384] = {"ES384", "SHA384"},
};

/* Group orders of P-256 and P-384 (SEC 2), for the r and s range checks. */
static const char p256_order_hex[] =
    "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";
static const char p384_order_hex[] =
    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
    "581A0DB248B0A77AECEC196ACCC52973";

static EVP_MD *digests[JWS_ALG_COUNT];
static BIGNUM *p256_order, *p384_order;
/* The same orders and their halves (n >> 1) as big-endian bytes, for
 * jws_ecdsa_canonical, which runs on every cache lookup of an ES* token. */
static unsigned char p256_order_bytes[32], p256_half_bytes[32];
static unsigned char p384_order_bytes[48], p384_half_bytes[48];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_status = -1;

static int order_bytes(const BIGNUM *order, unsigned char *bytes, unsigned char *half, int len)
{
    BIGNUM *h = BN_new();
    int ok = h != NULL && BN_rshift1(h, order) == 1 && BN_bn2binpad(order, bytes, len) == len &&
             BN_bn2binpad(h, half, len) == len;
    BN_free(h);
    return ok ? 0 : -1;
}

static void init_tables(void)
{
    for (int a = 1; a < JWS_ALG_COUNT; a++) {
        digests[a] = EVP_MD_fetch(NULL, algs[a].digest, NULL);
        if (digests[a] == NULL)
            return;
    }
    if (BN_hex2bn(&p256_order, p256_order_hex) == 0 || BN_hex2bn(&p384_order, p384_order_hex) == 0)
        return;
    if (order_bytes(p256_order, p256_order_bytes, p256_half_bytes, 32) != 0 ||
        order_bytes(p384_order, p384_order_bytes, p384_half_bytes, 48) != 0)
        return;
    init_status = 0;
}

int jws_init(void)
{
    pthread_once(&init_once, init_tables);
    return init_status;
}

jws_alg jws_alg_from_name(const char *name, size_t len)
{
    for (int a = 1; a < JWS_ALG_COUNT; a++) {
        if (strlen(algs[a].name) == len && memcmp(algs[a].name, name, len) == 0)
            return (jws_alg)a;
    }
    return JWS_ALG_INVALID;
}

const char *jws_alg_name(jws_alg alg)
{
    return alg > JWS_ALG_INVALID && alg < JWS_ALG_COUNT ? algs[alg].name : "invalid";
}

const EVP_MD *jws_alg_md(jws_alg alg)
{
    if (jws_init() != 0 || alg <= JWS_ALG_INVALID || alg >= JWS_ALG_COUNT)
        return NULL;
    return digests[alg];
}

static bool is_rsa_alg(jws_alg alg)
{
    return alg >= JWS_RS256 && alg <= JWS_PS512;
}

static bool is_pss_alg(jws_alg alg)
{
    return alg >= JWS_PS256 && alg <= JWS_PS512;
}

/* Size in bytes of one coordinate (and of r and s) for an ECDSA alg. */
static int ec_coord_size(jws_alg alg)
{
    return alg == JWS_ES256 ? 32 : alg == JWS_ES384 ? 48 : 0;
}

/* The JWS form r||s as DER (what OpenSSL verifies), after the range checks
 * that a DER parser would not do for us. Returns the DER length, or 0. */
static size_t ecdsa_raw_to_der(jws_alg alg, const unsigned char *sig, size_t siglen,
                               unsigned char *der, size_t derlen)
{
    int n = ec_coord_size(alg);
    const BIGNUM *order = alg == JWS_ES256 ? p256_order : p384_order;
    if (siglen != (size_t)(2 * n))
        return 0;
    BIGNUM *r = BN_bin2bn(sig, n, NULL), *s = BN_bin2bn(sig + n, n, NULL);
    ECDSA_SIG *es = NULL;
    size_t out = 0;
    if (r == NULL || s == NULL || BN_is_zero(r) || BN_is_zero(s) || BN_cmp(r, order) >= 0 ||
        BN_cmp(s, order) >= 0)
        goto done;
    es = ECDSA_SIG_new();
    if (es == NULL || ECDSA_SIG_set0(es, r, s) != 1)
        goto done;
    r = s = NULL; /* owned by es now */
    int len = i2d_ECDSA_SIG(es, NULL);
    if (len > 0 && (size_t)len <= derlen) {
        unsigned char *p = der;
        out = (size_t)i2d_ECDSA_SIG(es, &p);
    }
done:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return out;
}

bool jws_ecdsa_canonical(unsigned char *sig, size_t siglen)
{
    if (jws_init() != 0 || (siglen != 64 && siglen != 96))
        return false;
    size_t n = siglen / 2;
    const unsigned char *order = n == 32 ? p256_order_bytes : p384_order_bytes;
    const unsigned char *half = n == 32 ? p256_half_bytes : p384_half_bytes;
    unsigned char *s = sig + n;
    /* Fixed-width big-endian numbers compare as byte strings. */
    if (memcmp(s, half, n) <= 0 || memcmp(s, order, n) >= 0)
        return false;
    unsigned borrow = 0;
    for (size_t i = n; i-- > 0;) {
        unsigned d = (unsigned)order[i] - s[i] - borrow;
        s[i] = (unsigned char)d;
        borrow = d >> 8 & 1;
    }
    return true;
}

/* The key is of the kind alg needs (jwk_import pins it; DPoP imports keys
 * from the proof itself, so check again here). */
static bool key_suits(jws_alg alg, EVP_PKEY *key)
{
    if (is_rsa_alg(alg))
        return EVP_PKEY_is_a(key, "RSA");
    return EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_bits(key) == 8 * ec_coord_size(alg);
}

/* A digest context for verifying with key under alg: PSS parameters set. */
static EVP_MD_CTX *init_context(jws_alg alg, EVP_PKEY *key)
{
    const EVP_MD *md = jws_alg_md(alg);
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (md == NULL || ctx == NULL || EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key) != 1)
        goto fail;
    if (is_pss_alg(alg) && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1 ||
                            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        goto fail;
    return ctx;
fail:
    EVP_MD_CTX_free(ctx);
    return NULL;
}

static bool verify_with(jws_alg alg, EVP_PKEY *key, const EVP_MD_CTX *ready,
                        const unsigned char *input, size_t inlen, const unsigned char *sig,
                        size_t siglen)
{
    if (jws_alg_md(alg) == NULL || key == NULL || !key_suits(alg, key))
        return false;
    unsigned char der[128];
    if (ec_coord_size(alg) != 0) {
        siglen = ecdsa_raw_to_der(alg, sig, siglen, der, sizeof der);
        if (siglen == 0)
            return false;
        sig = der;
    } else if (siglen != (size_t)EVP_PKEY_get_size(key)) {
        return false; /* RFC 8017 §8.2.2: exactly the modulus length */
    }
    EVP_MD_CTX *ctx;
    if (ready != NULL) {
        ctx = EVP_MD_CTX_new();
        if (ctx != NULL && EVP_MD_CTX_copy_ex(ctx, ready) != 1) {
            EVP_MD_CTX_free(ctx);
            ctx = NULL;
        }
    } else {
        ctx = init_context(alg, key);
    }
    bool ok = ctx != NULL && EVP_DigestVerify(ctx, sig, siglen, input, inlen) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

bool jws_verify(jws_alg alg, EVP_PKEY *key, const unsigned char *input, size_t inlen,
                const unsigned char *sig, size_t siglen)
{
    return verify_with(alg, key, NULL, input, inlen, sig, siglen);
}

bool jws_verify_key(const jwk_key *key, const unsigned char *input, size_t inlen,
                    const unsigned char *sig, size_t siglen)
{
    return verify_with(key->alg, key->pkey, key->ready, input, inlen, sig, siglen);
}

void jwk_key_clear(jwk_key *key)
{
    EVP_MD_CTX_free(key->ready);
    EVP_PKEY_free(key->pkey);
    key->ready = NULL;
    key->pkey = NULL;
}

/* ---- JWK import ---- */

/* A base64urlUInt member (RFC 7518 §2), strict and minimal (no leading zero
 * octet: one value, one string), into out[0..max): its length is checked on
 * the text before anything is decoded. Returns the length, or 0. */
static size_t uint_member(const json_t *jwk, const char *name, unsigned char *out, size_t max,
                          char *why, size_t whylen)
{
    const json_t *v = json_object_get(jwk, name);
    if (!json_is_string(v)) {
        snprintf(why, whylen, "'%s' is missing or not a string", name);
        return 0;
    }
    size_t len = json_string_length(v);
    if (len == 0 || len > b64url_encoded_len(max)) {
        snprintf(why, whylen, "'%s' is empty or longer than %zu bytes", name, max);
        return 0;
    }
    unsigned char buf[FHIRPAM_RSA_MAX_BITS / 8 + 3]; /* b64url_decoded_max of the longest */
    long n = b64url_decode(json_string_value(v), len, buf);
    if (n <= 0 || (size_t)n > max) {
        snprintf(why, whylen, "'%s' is not base64url of at most %zu bytes", name, max);
        return 0;
    }
    if (buf[0] == 0) {
        snprintf(why, whylen, "'%s' has leading zero octets", name);
        return 0;
    }
    memcpy(out, buf, (size_t)n);
    return (size_t)n;
}

/* The bit length of the big-endian number p[0..len), p[0] != 0. */
static unsigned bit_length(const unsigned char *p, size_t len)
{
    unsigned bits = (unsigned)(len - 1) * 8;
    for (unsigned top = p[0]; top != 0; top >>= 1)
        bits++;
    return bits;
}

/* A fixed-size coordinate, copied into out. */
static int coord_member(const json_t *jwk, const char *name, size_t size, unsigned char *out,
                        char *why, size_t whylen)
{
    const json_t *v = json_object_get(jwk, name);
    unsigned char buf[128];
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        b64url_decoded_max(json_string_length(v)) > sizeof buf) {
        snprintf(why, whylen, "'%s' is missing or not a coordinate", name);
        return -1;
    }
    long n = b64url_decode(json_string_value(v), json_string_length(v), buf);
    if (n != (long)size) {
        snprintf(why, whylen, "'%s' is not base64url of exactly %zu bytes", name, size);
        return -1;
    }
    memcpy(out, buf, size);
    return 0;
}

static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

/* ROCA (CVE-2017-15361): moduli from the flawed Infineon generator are, for
 * each small prime p below, congruent to a power of 65537 mod p. A random
 * modulus passes all of these tests with negligible probability. The
 * subgroups are computed here rather than copied as fingerprint constants. */
static bool roca_fingerprint(const BIGNUM *n)
{
    static const unsigned primes[] = {
        3,  5,  7,  11, 13, 17,  19,  23,  29,  31,  37,  41,  43,  47,  53,  59,  61,  67,  71,
        73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167};
    for (size_t i = 0; i < sizeof primes / sizeof primes[0]; i++) {
        unsigned p = primes[i];
        BN_ULONG r = BN_mod_word(n, p);
        if (r == (BN_ULONG)-1)
            return false;
        unsigned g = 65537 % p, x = 1;
        bool in_subgroup = false;
        do {
            in_subgroup |= x == r;
            x = x * g % p;
        } while (x != 1);
        if (!in_subgroup)
            return false;
    }
    return true;
}

/* The bounds of jwk_import for RSA, in order of cost: all on the encoded
 * numbers first, then the ROCA test (divisions by small primes), then the
 * import itself; nothing here grows faster than the key's size. */
static EVP_PKEY *import_rsa(const json_t *jwk, const jwk_limits *limits, char *why, size_t whylen)
{
    /* A byte more than the largest modulus, so that a key just over the
     * bound is refused with its size. */
    unsigned char nbytes[FHIRPAM_RSA_MAX_BITS / 8 + 1], ebytes[8];
    size_t nlen = uint_member(jwk, "n", nbytes, sizeof nbytes, why, whylen);
    size_t elen = nlen ? uint_member(jwk, "e", ebytes, sizeof ebytes, why, whylen) : 0;
    if (nlen == 0 || elen == 0)
        return NULL;
    unsigned bits = bit_length(nbytes, nlen), ebits = bit_length(ebytes, elen);
    if (bits < limits->min_rsa_bits || bits > limits->max_rsa_bits) {
        snprintf(why, whylen, "RSA key of %u bits; %u to %u are accepted", bits,
                 limits->min_rsa_bits, limits->max_rsa_bits);
        return NULL;
    }
    /* e odd and 3 <= e < 2^33: e = 1 verifies anything, an even e is not
     * an RSA key, and each bit of e is one more modular multiplication in
     * every verification. 33 bits is BoringSSL's bound (rsa_check_public_key:
     * Windows CryptoAPI cannot use larger exponents, and nothing else does). */
    if (!(ebytes[elen - 1] & 1) || ebits < 2 || ebits > JWK_RSA_MAX_E_BITS) {
        snprintf(why, whylen, "the RSA exponent must be odd, at least 3 and at most %d bits",
                 JWK_RSA_MAX_E_BITS);
        return NULL;
    }
    if (!(nbytes[nlen - 1] & 1)) {
        snprintf(why, whylen, "the RSA modulus is even");
        return NULL;
    }
    BIGNUM *n = BN_bin2bn(nbytes, (int)nlen, NULL), *e = BN_bin2bn(ebytes, (int)elen, NULL);
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    if (n == NULL || e == NULL) {
        snprintf(why, whylen, "out of memory");
        goto done;
    }
    if (roca_fingerprint(n)) {
        snprintf(why, whylen, "the RSA modulus has the ROCA weakness (CVE-2017-15361)");
        goto done;
    }
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
        goto done;
    pkey = pkey_from_params("RSA", bld);
    if (pkey == NULL)
        snprintf(why, whylen, "OpenSSL refused the RSA key");
done:
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pkey;
}

static EVP_PKEY *import_ec(const json_t *jwk, jws_alg *curve_alg, char *why, size_t whylen)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const char *group;
    size_t size;
    if (crv != NULL && strcmp(crv, "P-256") == 0) {
        group = "prime256v1", size = 32, *curve_alg = JWS_ES256;
    } else if (crv != NULL && strcmp(crv, "P-384") == 0) {
        group = "secp384r1", size = 48, *curve_alg = JWS_ES384;
    } else {
        snprintf(why, whylen, "EC curve '%s' is not supported (P-256, P-384)",
                 crv ? crv : "(missing)");
        return NULL;
    }
    unsigned char point[1 + 2 * 48];
    point[0] = 0x04; /* uncompressed */
    if (coord_member(jwk, "x", size, point + 1, why, whylen) != 0 ||
        coord_member(jwk, "y", size, point + 1 + size, why, whylen) != 0)
        return NULL;
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld != NULL &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * size) == 1)
        pkey = pkey_from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    /* fromdata refuses a point off the curve; the quick check adds the point
     * at infinity. P-256 and P-384 have prime order (cofactor 1), so every
     * other point on them has order n, and the full check's n*Q = O test (a
     * point multiplication, as much again as a verification) proves nothing
     * more. */
    EVP_PKEY_CTX *check = pkey != NULL ? EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL) : NULL;
    if (check == NULL || EVP_PKEY_public_check_quick(check) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
        snprintf(why, whylen, "the EC point is not on %s", crv);
    }
    EVP_PKEY_CTX_free(check);
    return pkey;
}

static bool alg_suits_kty(jws_alg alg, bool rsa, jws_alg curve_alg)
{
    return rsa ? is_rsa_alg(alg) : alg == curve_alg;
}

size_t jwk_signature_size(const json_t *jwk, jws_alg alg)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    if (ec_coord_size(alg) != 0) {
        /* ES256 is P-256 and ES384 P-384 (RFC 7518 §3.4): any other key
         * can never verify, and is refused before it is imported. */
        const char *crv = json_string_value(json_object_get(jwk, "crv"));
        const char *want = alg == JWS_ES256 ? "P-256" : "P-384";
        if (kty == NULL || strcmp(kty, "EC") != 0 || crv == NULL || strcmp(crv, want) != 0)
            return 0;
        return 2 * (size_t)ec_coord_size(alg);
    }
    const json_t *n = json_object_get(jwk, "n");
    if (!is_rsa_alg(alg) || kty == NULL || strcmp(kty, "RSA") != 0 || !json_is_string(n))
        return 0;
    /* A minimal n (jwk_import refuses leading zero octets) is exactly as long
     * as the modulus, and so as every signature it makes (RFC 8017 §8.1.2). */
    return b64url_decoded_len(json_string_length(n));
}

int jwk_check_members(const json_t *jwk, char *why, size_t whylen)
{
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    if (!json_is_object(jwk)) {
        snprintf(why, whylen, "a JWK must be a JSON object");
        return -1;
    }
    for (size_t i = 0; i < sizeof private_members / sizeof private_members[0]; i++) {
        if (json_object_get(jwk, private_members[i]) != NULL) {
            snprintf(why, whylen, "has private member '%s': publish public keys only",
                     private_members[i]);
            return -1;
        }
    }
    const json_t *use = json_object_get(jwk, "use");
    if (use != NULL && !(json_is_string(use) && strcmp(json_string_value(use), "sig") == 0)) {
        snprintf(why, whylen, "'use' is not \"sig\"");
        return -1;
    }
    const json_t *ops = json_object_get(jwk, "key_ops");
    if (ops != NULL) {
        bool verify = false;
        size_t i;
        const json_t *op;
        if (!json_is_array(ops))
            goto bad_ops;
        json_array_foreach(ops, i, op)
        {
            if (!json_is_string(op))
                goto bad_ops;
            verify |= strcmp(json_string_value(op), "verify") == 0;
        }
        if (!verify) {
        bad_ops:
            snprintf(why, whylen, "'key_ops' does not allow \"verify\"");
            return -1;
        }
    }
    return 0;
}

int jwk_import(const json_t *jwk, const jwk_limits *limits, jws_alg rsa_fallback, jwk_key *out,
               char *why, size_t whylen)
{
    out->pkey = NULL;
    out->alg = JWS_ALG_INVALID;
    out->ready = NULL;
    ERR_clear_error();
    if (jws_init() != 0) {
        snprintf(why, whylen, "OpenSSL lacks a digest fhirpam needs");
        return -1;
    }
    if (limits->min_rsa_bits < FHIRPAM_RSA_MIN_BITS ||
        limits->max_rsa_bits > FHIRPAM_RSA_MAX_BITS ||
        limits->min_rsa_bits > limits->max_rsa_bits) {
        snprintf(why, whylen, "RSA key sizes %u to %u are not within %d to %d",
                 limits->min_rsa_bits, limits->max_rsa_bits, FHIRPAM_RSA_MIN_BITS,
                 FHIRPAM_RSA_MAX_BITS);
        return -1;
    }
    if (jwk_check_members(jwk, why, whylen) != 0)
        return -1;
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    bool rsa = kty != NULL && strcmp(kty, "RSA") == 0;
    jws_alg curve_alg = JWS_ALG_INVALID;
    EVP_PKEY *pkey;
    if (rsa) {
        pkey = import_rsa(jwk, limits, why, whylen);
    } else if (kty != NULL && strcmp(kty, "EC") == 0) {
        pkey = import_ec(jwk, &curve_alg, why, whylen);
    } else {
        snprintf(why, whylen, "key type '%s' is not supported (RSA, EC)", kty ? kty : "(missing)");
        return -1;
    }
    if (pkey == NULL)
        goto fail;

    const json_t *alg = json_object_get(jwk, "alg");
    jws_alg pinned = rsa ? rsa_fallback : curve_alg;
    if (alg != NULL) {
        pinned = json_is_string(alg)
                     ? jws_alg_from_name(json_string_value(alg), json_string_length(alg))
                     : JWS_ALG_INVALID;
        if (pinned == JWS_ALG_INVALID || !alg_suits_kty(pinned, rsa, curve_alg)) {
            snprintf(why, whylen, "'alg' %s does not suit this %s key",
                     json_is_string(alg) ? json_string_value(alg) : "(not a string)", kty);
            goto fail;
        }
    }
    if (pinned == JWS_ALG_INVALID || !alg_suits_kty(pinned, rsa, curve_alg)) {
        snprintf(why, whylen, "no algorithm for this key");
        goto fail;
    }
    out->ready = init_context(pinned, pkey);
    if (out->ready == NULL) {
        snprintf(why, whylen, "OpenSSL cannot verify with this key");
        goto fail;
    }
    out->pkey = pkey;
    out->alg = pinned;
    ERR_clear_error();
    return 0;
fail:
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return -1;
}

/* ---- compact serialization ---- */

#define JSON_MAX_DEPTH 32

int jws_refuse(jws_failure *why, const char *reason, const char *fmt, ...)
{
    why->code = FHIRPAM_INVALID_TOKEN;
    snprintf(why->reason, sizeof why->reason, "%s", reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why->text, sizeof why->text, fmt, ap);
    va_end(ap);
    return -1;
}

json_t *jws_parse_object(const unsigned char *text, size_t len, const char *what, jws_failure *why)
{
    char err[128];
    json_t *doc = json_strict_parse((const char *)text, len, JSON_MAX_DEPTH, err, sizeof err);
    if (doc == NULL) {
        bool dup = strstr(err, "duplicate") != NULL;
        jws_refuse(why, dup ? "duplicate_member" : "bad_json", "the %s is not valid JSON: %s", what,
                   err);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        jws_refuse(why, "bad_json", "the %s is not a JSON object", what);
        return NULL;
    }
    return doc;
}

/* Why a segment did not decode: a character outside the alphabet (padding,
 * whitespace, '+', '/') breaks the token's structure; a bad length or stray
 * bits in the last character break its base64url. */
static void refuse_segment(jws_failure *why, const char *seg, size_t len, const char *what)
{
    for (size_t i = 0; i < len; i++) {
        if (!b64url_is_alpha((unsigned char)seg[i])) {
            jws_refuse(why, "bad_structure", "the token's %s has a character outside base64url",
                       what);
            return;
        }
    }
    jws_refuse(why, "bad_base64", "the token's %s is not strict base64url", what);
}

int jws_compact_verify(const char *tok, size_t len, jws_key_fn select_key, void *cookie,
                       unsigned char **payload, size_t *payload_len, jws_failure *why)
{
    *payload = NULL;
    /* Exactly two dots and no empty segment. The alphabet is checked by
     * the strict decoder segment by segment; refusals say which rule broke. */
    const char *end = tok + len;
    const char *dot1 = memchr(tok, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
    if (dot2 != NULL && memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)) != NULL)
        return jws_refuse(why, "bad_structure", "the token has more than three segments");
    if (dot2 == NULL || dot1 == tok || dot2 == dot1 + 1 || dot2 + 1 == end)
        return jws_refuse(why, "bad_structure",
                          "the token is not three non-empty segments (a compact JWS)");
    size_t hlen = (size_t)(dot1 - tok), plen = (size_t)(dot2 - dot1 - 1);
    size_t slen = len - (size_t)(dot2 + 1 - tok);

    /* Never on the stack: the size is the sender's. */
    unsigned char *buf = malloc(b64url_decoded_max(len) + 1);
    if (buf == NULL) {
        jws_refuse(why, "out_of_memory", "out of memory");
        why->code = FHIRPAM_ERROR;
        return -1;
    }
    int rc = -1;
    long n = b64url_decode(tok, hlen, buf);
    if (n < 0) {
        refuse_segment(why, tok, hlen, "header");
        goto done;
    }
    json_t *header = jws_parse_object(buf, (size_t)n, "token's header", why);
    if (header == NULL)
        goto done;
    const jwk_key *key = NULL;
    int chosen = select_key(cookie, header, b64url_decoded_len(slen), &key, why);
    json_decref(header);
    if (chosen != 0)
        goto done;

    long siglen = b64url_decode(dot2 + 1, slen, buf);
    if (siglen <= 0) {
        refuse_segment(why, dot2 + 1, slen, "signature");
        goto done;
    }
    if (!jws_verify_key(key, (const unsigned char *)tok, hlen + 1 + plen, buf, (size_t)siglen)) {
        jws_refuse(why, "bad_signature", "the token's signature is not valid");
        goto done;
    }
    /* Only an authenticated payload is decoded. */
    n = b64url_decode(dot1 + 1, plen, buf);
    if (n < 0) {
        refuse_segment(why, dot1 + 1, plen, "payload");
        goto done;
    }
    buf[n] = '\0';
    *payload = buf;
    *payload_len = (size_t)n;
    buf = NULL;
    rc = 0;
done:
    free(buf);
    return rc;
}
