/* mint.c - see mint.h. */
#include "mint.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64url.h"
#include "jws.h"

char *mint_b64url(const void *data, size_t len)
{
    char *out = malloc(b64url_encoded_len(len) + 1);
    if (out != NULL)
        b64url_encode(data, len, out);
    return out;
}

EVP_PKEY *mint_keygen(const char *alg, unsigned rsa_bits)
{
    jws_alg a = jws_alg_from_name(alg, strlen(alg));
    if (a == JWS_ES256)
        return EVP_EC_gen("P-256");
    if (a == JWS_ES384)
        return EVP_EC_gen("P-384");
    if (a != JWS_ALG_INVALID)
        return EVP_RSA_gen(rsa_bits);
    return NULL;
}

static char *bn_member(EVP_PKEY *key, const char *param)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(key, param, &bn) != 1)
        return NULL;
    size_t n = (size_t)BN_num_bytes(bn);
    unsigned char *buf = malloc(n ? n : 1);
    char *out = NULL;
    if (buf != NULL) {
        BN_bn2bin(bn, buf);
        out = mint_b64url(buf, n);
    }
    free(buf);
    BN_free(bn);
    return out;
}

json_t *mint_public_jwk(EVP_PKEY *key, const char *kid, const char *alg)
{
    json_t *jwk = json_object();
    if (jwk == NULL)
        return NULL;
    if (EVP_PKEY_is_a(key, "RSA")) {
        char *n = bn_member(key, OSSL_PKEY_PARAM_RSA_N), *e = bn_member(key, OSSL_PKEY_PARAM_RSA_E);
        json_object_set_new(jwk, "kty", json_string("RSA"));
        if (n)
            json_object_set_new(jwk, "n", json_string(n));
        if (e)
            json_object_set_new(jwk, "e", json_string(e));
        free(n);
        free(e);
    } else {
        unsigned char point[1 + 2 * 66];
        size_t len = 0;
        if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                            sizeof point, &len) != 1 ||
            len < 3 || point[0] != 0x04) {
            json_decref(jwk);
            return NULL;
        }
        size_t c = (len - 1) / 2;
        char *x = mint_b64url(point + 1, c), *y = mint_b64url(point + 1 + c, c);
        json_object_set_new(jwk, "kty", json_string("EC"));
        json_object_set_new(jwk, "crv", json_string(c == 32 ? "P-256" : "P-384"));
        json_object_set_new(jwk, "x", json_string(x));
        json_object_set_new(jwk, "y", json_string(y));
        free(x);
        free(y);
    }
    json_object_set_new(jwk, "use", json_string("sig"));
    if (alg != NULL)
        json_object_set_new(jwk, "alg", json_string(alg));
    json_object_set_new(jwk, "kid", json_string(kid));
    return jwk;
}

/* DER ECDSA-Sig-Value to the JWS's fixed-size r||s. */
static int der_to_raw(const unsigned char *der, size_t derlen, size_t coord, unsigned char *raw)
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (sig == NULL)
        return -1;
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(sig, &r, &s);
    int ok = BN_bn2binpad(r, raw, (int)coord) == (int)coord &&
             BN_bn2binpad(s, raw + coord, (int)coord) == (int)coord;
    ECDSA_SIG_free(sig);
    return ok ? 0 : -1;
}

char *mint_signature(EVP_PKEY *key, const char *alg, const char *input, size_t len)
{
    jws_alg a = jws_alg_from_name(alg, strlen(alg));
    const EVP_MD *md = jws_alg_md(a);
    if (md == NULL)
        return NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char sig[1024], raw[96];
    size_t siglen = sizeof sig;
    char *out = NULL;
    if (ctx == NULL || EVP_DigestSignInit(ctx, &pctx, md, NULL, key) != 1)
        goto done;
    if (a >= JWS_PS256 && a <= JWS_PS512 &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        goto done;
    if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, len) != 1)
        goto done;
    if (a == JWS_ES256 || a == JWS_ES384) {
        size_t coord = a == JWS_ES256 ? 32 : 48;
        if (der_to_raw(sig, siglen, coord, raw) != 0)
            goto done;
        out = mint_b64url(raw, 2 * coord);
    } else {
        out = mint_b64url(sig, siglen);
    }
done:
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return out;
}

char *mint_token(EVP_PKEY *key, const char *alg, const char *header_json, const char *payload_json)
{
    char *h = mint_b64url(header_json, strlen(header_json));
    char *p = mint_b64url(payload_json, strlen(payload_json));
    char *out = NULL;
    if (h != NULL && p != NULL) {
        size_t n = strlen(h) + strlen(p) + 2;
        char *input = malloc(n);
        if (input != NULL) {
            snprintf(input, n, "%s.%s", h, p);
            char *sig = mint_signature(key, alg, input, n - 1);
            if (sig != NULL) {
                size_t total = n + strlen(sig) + 1;
                out = malloc(total);
                if (out != NULL)
                    snprintf(out, total, "%s.%s", input, sig);
            }
            free(sig);
            free(input);
        }
    }
    free(h);
    free(p);
    return out;
}
