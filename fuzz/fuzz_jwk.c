/*
 * fuzz_jwk.c - jwk_import, the one function every key goes through (key set
 * files, DPoP proofs), on arbitrary JSON: its bounds are checked on the
 * encoded numbers before anything is decoded (issue 24). No crash, leak or
 * read out of bounds; a key that imports is within the bounds it was given
 * (an RSA modulus of min_rsa_bits to max_rsa_bits, an exponent of at most
 * JWK_RSA_MAX_E_BITS bits), passes jwk_check_members, and makes signatures
 * of exactly the length jwk_signature_size reads from its text.
 *
 * The first byte picks the RSA bounds (so that the edges move), the rest is
 * the JWK.
 */
#include <fhirpam/module.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>

#include "jws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 8192)
        return 0;
    static const jwk_limits limits[] = {
        {FHIRPAM_RSA_MIN_BITS, FHIRPAM_RSA_DEFAULT_MAX_BITS},
        {FHIRPAM_RSA_MIN_BITS, FHIRPAM_RSA_MAX_BITS},
        {3072, 3072},
        {FHIRPAM_RSA_MAX_BITS, FHIRPAM_RSA_MAX_BITS},
    };
    const jwk_limits *lim = &limits[data[0] % (sizeof limits / sizeof limits[0])];
    json_t *jwk = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
    if (jwk == NULL)
        return 0;
    jwk_key key;
    char why[256];
    why[0] = '\0';
    if (jwk_import(jwk, lim, JWS_PS256, &key, why, sizeof why) == 0) {
        if (key.pkey == NULL || jwk_check_members(jwk, why, sizeof why) != 0)
            abort();
        int bits = EVP_PKEY_get_bits(key.pkey);
        size_t sig_size = (size_t)EVP_PKEY_get_size(key.pkey); /* RSA: the modulus length */
        if (EVP_PKEY_get_base_id(key.pkey) == EVP_PKEY_RSA) {
            BIGNUM *e = NULL;
            if (bits < (int)lim->min_rsa_bits || bits > (int)lim->max_rsa_bits ||
                EVP_PKEY_get_bn_param(key.pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1 ||
                BN_num_bits(e) > JWK_RSA_MAX_E_BITS || !BN_is_odd(e))
                abort();
            BN_free(e);
        } else {
            sig_size = 2 * (((size_t)bits + 7) / 8); /* ECDSA r || s (RFC 7518 §3.4) */
        }
        if (jwk_signature_size(jwk, key.alg) != sig_size)
            abort();
        jwk_key_clear(&key);
    } else if (why[0] == '\0' || key.pkey != NULL) {
        abort();
    }
    json_decref(jwk);
    return 0;
}
