/*
 * fuzz_token.c - libFuzzer target for the access-token verifier (token_verify).
 *
 * What it checks, and why:
 *  - token_verify() survives any byte string as a token (ASan/UBSan watch the
 *    base64url decoding, the JSON parsing of header and payload, the key
 *    lookup, the signature check and the claim checks). The input is handed
 *    over in a buffer of exactly its length, so an over-read is caught.
 *  - The verified-token cache changes nothing but speed: a verifier with the
 *    cache off and one with it on (asked twice, so that an accepted token is
 *    then served from the cache) must agree on accept or refuse, on the
 *    failure code and reason word, and on the claims of an accepted token.
 *  - An accepted token's claims are a JSON object whose iss is the issuer.
 *
 * Tokens signed by any other key only reach the refusal paths, so the target
 * generates its own keys at start-up (RSA-2048 "fuzz-rs256", P-256
 * "fuzz-es256"), writes their public JWKS to a private temporary file, and
 * derives validly signed tokens from inputs that start with a mode byte:
 *   0x01 claims   the rest is the payload text, signed RS256 under a fixed
 *                 header, so the payload parser and claim checks run;
 *   0x02 header   the rest is the header text, signed RS256 over fixed valid
 *                 claims, so the header checks run with a good signature;
 *   0x03 claims   like 0x01 but signed ES256 with the P-256 key (r||s form);
 *   0x04 claims   like 0x03, and the token is also checked spelled with
 *                 (r, n - s): both spellings must get the same answer, and an
 *                 accepted token one and the same cache entry (token_cache.h:
 *                 one token, one entry, however its ECDSA signature is
 *                 spelled).
 * Any other input is the token itself.
 */
#include <jansson.h>
#include <libconfig.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64url.h"
#include "token.h"

/* 2027-01-15T08:00:00Z: the request time of every verification. */
#define FUZZ_NOW      1800000000
#define FUZZ_ISSUER   "https://ehr.example.org"
#define FUZZ_AUDIENCE "https://fhir.example.org/r4"
/* Larger derived tokens would only hit the size cap (16 KiB) after a costly
 * signature, so such inputs are skipped. */
#define MAX_DERIVED_TEXT 12288

enum { MODE_RS_CLAIMS = 0x01, MODE_RS_HEADER = 0x02, MODE_ES_CLAIMS = 0x03, MODE_ES_TWINS = 0x04 };

/* The order of P-256 (SEC 2), for the (r, n - s) spelling. */
static const char p256_order_hex[] =
    "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";

static const char rs_header[] = "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"fuzz-rs256\"}";
static const char es_header[] = "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"fuzz-es256\"}";
/* Valid at FUZZ_NOW: expires an hour later, within the default max_ttl. */
static const char valid_claims[] =
    "{\"iss\":\"" FUZZ_ISSUER "\",\"aud\":\"" FUZZ_AUDIENCE "\",\"exp\":1800003600,"
    "\"iat\":1799999990,\"scope\":\"patient/*.rs\",\"patient\":\"123\",\"sub\":\"u1\","
    "\"jti\":\"j1\"}";

static EVP_PKEY *rsa_key, *ec_key;
static token_verifier *uncached, *cached;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Set-up failures are not findings: say so and stop. */
static void setup_fail(const char *what)
{
    fprintf(stderr, "fuzz_token: set-up failed: %s\n", what);
    exit(1);
}

/* A finding: say what disagreed and abort so that libFuzzer keeps the input. */
static void finding(const char *what, const token_failure *a, const token_failure *b)
{
    fprintf(stderr, "fuzz_token: %s\n", what);
    if (a != NULL)
        fprintf(stderr, "  uncached: %s (%s): %s\n", fhirpam_code_name(a->code), a->reason,
                a->text);
    if (b != NULL)
        fprintf(stderr, "  cached:   %s (%s): %s\n", fhirpam_code_name(b->code), b->reason,
                b->text);
    abort();
}

/* ---- set-up: keys, JWKS file, verifiers ---- */

/* The base64url of a big number, big-endian in exactly width bytes (or in
 * its minimal length when width is 0), as a new JSON string. */
static json_t *bn_member(EVP_PKEY *key, const char *param, int width)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(key, param, &bn) != 1)
        setup_fail(param);
    int n = width ? width : BN_num_bytes(bn);
    unsigned char *bytes = malloc((size_t)n + 1);
    char *text = malloc(b64url_encoded_len((size_t)n) + 1);
    if (bytes == NULL || text == NULL || BN_bn2binpad(bn, bytes, n) != n)
        setup_fail("encoding a key parameter");
    b64url_encode(bytes, (size_t)n, text);
    json_t *s = json_string(text);
    free(bytes);
    free(text);
    BN_free(bn);
    return s;
}

static json_t *public_jwks(void)
{
    json_t *rsa =
        json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "kty", "RSA", "kid", "fuzz-rs256", "alg", "RS256",
                  "use", "sig", "n", bn_member(rsa_key, OSSL_PKEY_PARAM_RSA_N, 0), "e",
                  bn_member(rsa_key, OSSL_PKEY_PARAM_RSA_E, 0));
    json_t *ec = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o}", "kty", "EC", "kid", "fuzz-es256", "alg",
                           "ES256", "use", "sig", "crv", "P-256", "x",
                           bn_member(ec_key, OSSL_PKEY_PARAM_EC_PUB_X, 32), "y",
                           bn_member(ec_key, OSSL_PKEY_PARAM_EC_PUB_Y, 32));
    json_t *doc = json_pack("{s:[o,o]}", "keys", rsa, ec);
    if (rsa == NULL || ec == NULL || doc == NULL)
        setup_fail("building the JWKS");
    return doc;
}

static token_verifier *verifier(const char *dir, const char *jwks_path, int cache_entries)
{
    char text[2048], conf_path[1024];
    snprintf(conf_path, sizeof conf_path, "%s/fuzz.conf", dir);
    int n = snprintf(text, sizeof text,
                     "token: {\n"
                     "  issuer = \"" FUZZ_ISSUER "\";\n"
                     "  audience = \"" FUZZ_AUDIENCE "\";\n"
                     "  jwks = \"%s\";\n"
                     "  algorithms = [\"RS256\", \"ES256\", \"PS256\"];\n"
                     "  cache_entries = %d;\n"
                     "};\n",
                     jwks_path, cache_entries);
    if (n < 0 || (size_t)n >= sizeof text)
        setup_fail("the configuration does not fit");
    config_t cfg;
    config_init(&cfg);
    if (config_read_string(&cfg, text) != CONFIG_TRUE) {
        fprintf(stderr, "fuzz_token: line %d: %s\n", config_error_line(&cfg),
                config_error_text(&cfg));
        setup_fail("parsing the configuration");
    }
    fhirpam_error err = {{0}};
    token_verifier *v =
        token_verifier_new_from_config(config_lookup(&cfg, "token"), conf_path, &err);
    config_destroy(&cfg);
    if (v == NULL) {
        fprintf(stderr, "fuzz_token: %s\n", err.text);
        setup_fail("building the verifier");
    }
    return v;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    rsa_key = EVP_RSA_gen(2048);
    ec_key = EVP_EC_gen("P-256");
    if (rsa_key == NULL || ec_key == NULL)
        setup_fail("generating the keys");

    const char *tmp = getenv("TMPDIR");
    char dir[512], jwks_path[1024];
    snprintf(dir, sizeof dir, "%s/fuzz-token-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        setup_fail("creating the temporary directory");
    snprintf(jwks_path, sizeof jwks_path, "%s/jwks-XXXXXX", dir);
    int fd = mkstemp(jwks_path);
    if (fd < 0 || fchmod(fd, 0600) != 0)
        setup_fail("creating the JWKS file");
    json_t *doc = public_jwks();
    int rc = json_dumpfd(doc, fd, JSON_COMPACT);
    json_decref(doc);
    if (rc != 0 || close(fd) != 0)
        setup_fail("writing the JWKS file");

    uncached = verifier(dir, jwks_path, 0);
    cached = verifier(dir, jwks_path, 256); /* small, so that eviction runs too */

    /* The keys are loaded: leave nothing behind in the temporary directory. */
    unlink(jwks_path);
    rmdir(dir);
    return 0;
}

/* ---- derived tokens ---- */

/* Signs in[0..len) with SHA-256 under key; out gets the JWS signature (the
 * raw r||s form for ECDSA). Returns its length. */
static size_t sign(EVP_PKEY *key, const char *in, size_t len, unsigned char *out, size_t outlen)
{
    unsigned char der[512];
    size_t derlen = sizeof der;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(ctx, der, &derlen, (const unsigned char *)in, len) != 1)
        setup_fail("signing");
    EVP_MD_CTX_free(ctx);
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
        if (derlen > outlen)
            setup_fail("signature too long");
        memcpy(out, der, derlen);
        return derlen;
    }
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    const BIGNUM *r, *s;
    if (sig == NULL || outlen < 64)
        setup_fail("decoding the ECDSA signature");
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, out, 32) != 32 || BN_bn2binpad(s, out + 32, 32) != 32)
        setup_fail("encoding the ECDSA signature");
    ECDSA_SIG_free(sig);
    return 64;
}

/* The compact JWS b64(header).b64(payload).b64(sig), in a buffer of exactly
 * *len bytes (not NUL-terminated, so that an over-read is seen). */
static char *derive_token(EVP_PKEY *key, const unsigned char *header, size_t hlen,
                          const unsigned char *payload, size_t plen, size_t *len)
{
    unsigned char sig[512];
    size_t cap =
        b64url_encoded_len(hlen) + b64url_encoded_len(plen) + b64url_encoded_len(sizeof sig) + 3;
    char *buf = malloc(cap);
    if (buf == NULL)
        setup_fail("out of memory");
    size_t n = b64url_encode(header, hlen, buf);
    buf[n++] = '.';
    n += b64url_encode(payload, plen, buf + n);
    size_t siglen = sign(key, buf, n, sig, sizeof sig);
    buf[n++] = '.';
    n += b64url_encode(sig, siglen, buf + n);
    char *tok = malloc(n);
    if (tok == NULL)
        setup_fail("out of memory");
    memcpy(tok, buf, n);
    free(buf);
    *len = n;
    return tok;
}

/* ---- the checks ---- */

static void check_accepted(const verified_token *vt)
{
    const json_t *claims = verified_token_claims(vt);
    if (!json_is_object(claims))
        finding("an accepted token's claims are not a JSON object", NULL, NULL);
    const json_t *iss = json_object_get(claims, "iss");
    if (!json_is_string(iss) || strcmp(json_string_value(iss), FUZZ_ISSUER) != 0)
        finding("an accepted token's iss is not the configured issuer", NULL, NULL);
}

static bool same_refusal(const token_failure *a, const token_failure *b)
{
    return a->code == b->code && strcmp(a->reason, b->reason) == 0;
}

static void check_token(const char *tok, size_t len)
{
    token_failure why_u, why_c, why_h;
    memset(&why_u, 0, sizeof why_u);
    memset(&why_c, 0, sizeof why_c);
    memset(&why_h, 0, sizeof why_h);
    const verified_token *u = token_verify(uncached, tok, len, FUZZ_NOW, &why_u);
    const verified_token *c = token_verify(cached, tok, len, FUZZ_NOW, &why_c);
    /* Again: an accepted token now comes from the cache. */
    const verified_token *h = token_verify(cached, tok, len, FUZZ_NOW, &why_h);

    if ((u == NULL) != (c == NULL))
        finding("the cached and uncached verifiers disagree on accept/refuse", &why_u, &why_c);
    if ((c == NULL) != (h == NULL))
        finding("the cached verifier changed its mind on the same token", &why_c, &why_h);
    if (u == NULL) {
        if (!same_refusal(&why_u, &why_c) || !same_refusal(&why_c, &why_h))
            finding("the verifiers refuse the same token for different reasons", &why_u, &why_c);
    } else {
        check_accepted(u);
        check_accepted(c);
        check_accepted(h);
        if (!json_equal(verified_token_claims(u), verified_token_claims(c)) ||
            !json_equal(verified_token_claims(c), verified_token_claims(h)))
            finding("the verifiers return different claims for the same token", NULL, NULL);
        verified_token_release(u);
        verified_token_release(c);
        verified_token_release(h);
    }
}

/* The ES256 token tok[0..len) with its signature (r, s) spelled (r, n - s),
 * in a buffer of exactly len bytes. */
static char *ecdsa_twin(const char *tok, size_t len)
{
    const char *dot = memrchr(tok, '.', len);
    if (dot == NULL)
        setup_fail("the derived ES256 token");
    size_t at = (size_t)(dot + 1 - tok);
    unsigned char sig[66];
    if (b64url_decode(dot + 1, len - at, sig) != 64)
        setup_fail("the derived ES256 signature");
    BIGNUM *order = NULL, *s = BN_bin2bn(sig + 32, 32, NULL);
    if (s == NULL || BN_hex2bn(&order, p256_order_hex) == 0 || BN_sub(s, order, s) != 1 ||
        BN_bn2binpad(s, sig + 32, 32) != 32)
        setup_fail("respelling the ECDSA signature");
    BN_free(s);
    BN_free(order);
    char *twin = malloc(len + 1);
    if (twin == NULL || b64url_encoded_len(64) != len - at)
        setup_fail("out of memory");
    memcpy(twin, tok, at);
    b64url_encode(sig, 64, twin + at); /* writes a NUL at twin[len] */
    return twin;
}

/* Both spellings of an ES256 token: the same answer, and one cache entry. */
static void check_twins(const char *tok, size_t len)
{
    char *twin = ecdsa_twin(tok, len);
    check_token(tok, len);
    check_token(twin, len);
    token_failure why_a, why_b;
    const verified_token *a = token_verify(cached, tok, len, FUZZ_NOW, &why_a);
    const verified_token *b = token_verify(cached, twin, len, FUZZ_NOW, &why_b);
    if ((a == NULL) != (b == NULL))
        finding("the two spellings of an ES256 token get different answers", &why_a, &why_b);
    if (a != NULL && a != b)
        finding("the two spellings of an ES256 token have two cache entries", NULL, NULL);
    verified_token_release(a);
    verified_token_release(b);
    free(twin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || data[0] < MODE_RS_CLAIMS || data[0] > MODE_ES_TWINS) {
        check_token((const char *)data, size);
        return 0;
    }
    const unsigned char *text = data + 1;
    size_t tlen = size - 1, len;
    if (tlen > MAX_DERIVED_TEXT)
        return 0;
    char *tok;
    switch (data[0]) {
    case MODE_RS_CLAIMS:
        tok = derive_token(rsa_key, (const unsigned char *)rs_header, strlen(rs_header), text, tlen,
                           &len);
        break;
    case MODE_RS_HEADER:
        tok = derive_token(rsa_key, text, tlen, (const unsigned char *)valid_claims,
                           strlen(valid_claims), &len);
        break;
    default:
        tok = derive_token(ec_key, (const unsigned char *)es_header, strlen(es_header), text, tlen,
                           &len);
        break;
    }
    if (data[0] == MODE_ES_TWINS)
        check_twins(tok, len);
    else
        check_token(tok, len);
    free(tok);
    return 0;
}
