/*
 * bench_dpop.c - device_trust with DPoP: a cached access token and a fresh
 * ES256 proof on every request (each proof is used once: the replay cache
 * refuses a second use), with the raw ES256 verify rate measured in the
 * same run; then what one proof may cost (issue 24): a legitimate fresh
 * RSA-2048 key against OpenSSL's verify and public-key check, and hostile
 * proof keys, in the same run.
 */
#include <fhirpam/fhirpam.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base64url.h"
#include "bench.h"
#include "jws.h"
#include "mint.h"
#include "proof.h"

#define ISS    "https://ehr.example.org"
#define AUD    "https://fhir.example.org/r4"
#define PROOFS 6000

static void sha256_b64url(const char *s, char out[48])
{
    unsigned char d[32];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), d, &n, EVP_sha256(), NULL);
    char *b = mint_b64url(d, 32);
    snprintf(out, 48, "%s", b);
    free(b);
}

/* count good proofs for GET Patient/123 at now, each with its own jti,
 * signed by key under alg with the header text given. */
static char **mint_proofs(EVP_PKEY *key, const char *alg, const char *header_text, int count,
                          const char *ath, long long now)
{
    static int serial;
    char **proofs = calloc((size_t)count, sizeof *proofs);
    for (int i = 0; proofs != NULL && i < count; i++) {
        char payload[512];
        snprintf(payload, sizeof payload,
                 "{\"jti\":\"bench-%d-%lld\",\"htm\":\"GET\",\"htu\":\"" AUD
                 "/Patient/123\",\"iat\":%lld,\"ath\":\"%s\"}",
                 serial++, now, now, ath);
        proofs[i] = mint_token(key, alg, header_text, payload);
    }
    if (proofs == NULL) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    return proofs;
}

typedef struct raw_case {
    EVP_PKEY *key;
    const char *input;
    unsigned char sig[512];
    size_t siglen;
    bool pss; /* PS256: PSS padding, salt of the digest's length */
} raw_case;

static void raw_verify(void *arg)
{
    raw_case *r = arg;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    if (EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, r->key) != 1 ||
        (r->pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) ||
        EVP_DigestVerify(ctx, r->sig, r->siglen, (const unsigned char *)r->input,
                         strlen(r->input)) != 1) {
        fprintf(stderr, "bench: raw verify failed\n");
        exit(1);
    }
    EVP_MD_CTX_free(ctx);
}

/* ---- what one proof may cost (issue 24) ---- */

/* A hostile or fresh-key proof, sent again and again with one access
 * token. Hostile proofs are refused before the replay check, so the same
 * one can be sent each time; a good proof is used once, so those come from
 * a pool minted before the clock starts. */
typedef struct proof_case {
    fhirpam_context *ctx;
    const char *authorization;
    char **proofs;
    size_t nproofs, next;
    bool permit;
    long long now;
    const char *refused_at; /* a refusal's sentence holds this (NULL: any) */
} proof_case;

static void one_proof(void *arg)
{
    proof_case *c = arg;
    fhirpam_request *req = fhirpam_request_new("GET", "Patient/123");
    fhirpam_request_add_header(req, "Authorization", c->authorization);
    fhirpam_request_add_header(req, "DPoP", c->proofs[c->next++ % c->nproofs]);
    fhirpam_request_set_time(req, c->now);
    fhirpam_decision *d = fhirpam_authorize(c->ctx, "s", req);
    if (d == NULL || fhirpam_decision_permitted(d) != c->permit) {
        fprintf(stderr, "bench: unexpected %s: %s\n", c->permit ? "deny" : "permit",
                d ? fhirpam_decision_reason_text(d) : "");
        exit(1);
    }
    const char *text = fhirpam_decision_reason_text(d);
    if (c->refused_at != NULL && (text == NULL || strstr(text, c->refused_at) == NULL)) {
        fprintf(stderr, "bench: refused at '%s', not '%s'\n", text ? text : "", c->refused_at);
        exit(1);
    }
    fhirpam_decision_free(d);
    fhirpam_request_free(req);
}

/* The base64url of a big number, minimal. */
static char *bn_text(const BIGNUM *bn)
{
    unsigned char buf[1100];
    int n = BN_bn2bin(bn, buf);
    return mint_b64url(buf, (size_t)n);
}

/* A proof for GET Patient/123 at now under PS256 whose jwk has modulus n and
 * exponent e and whose signature is random (below n, so that it reaches the
 * arithmetic), and the "DPoP <token>" it is sent with: a token bound to the
 * proof's own key when bound_to_it (the worst case: an attacker whose
 * authorization server bound a token to a key of their making), else
 * other_auth (a token unbound or bound to another key, whose ath is
 * other_ath). Both malloc'd into *proof and *auth. */
static void hostile_proof(const bench_issuer *is, const BIGNUM *n, const BIGNUM *e,
                          bool bound_to_it, const char *other_auth, const char *other_ath,
                          long long now, char **proof, char **auth)
{
    char *nb = bn_text(n), *eb = bn_text(e);
    json_t *jwk = json_pack("{s:s,s:s,s:s}", "e", eb, "kty", "RSA", "n", nb);
    char *canon = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS); /* RFC 7638 */
    char ath[48];
    if (bound_to_it) {
        char jkt[48], claims[512];
        sha256_b64url(canon, jkt);
        snprintf(claims, sizeof claims,
                 "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"iat\":%lld,"
                 "\"exp\":%lld,\"cnf\":{\"jkt\":\"%s\"}}",
                 now - 10, now + 3590, jkt);
        char *token = bench_issuer_token(is, claims);
        size_t alen = strlen(token) + 6;
        *auth = malloc(alen);
        snprintf(*auth, alen, "DPoP %s", token);
        sha256_b64url(token, ath);
        free(token);
    } else {
        *auth = strdup(other_auth);
        snprintf(ath, sizeof ath, "%s", other_ath);
    }
    json_t *header = json_pack("{s:s,s:s,s:O}", "typ", "dpop+jwt", "alg", "PS256", "jwk", jwk);
    char *htext = json_dumps(header, JSON_COMPACT);
    char payload[512];
    snprintf(payload, sizeof payload,
             "{\"jti\":\"hostile-%lld\",\"htm\":\"GET\",\"htu\":\"" AUD
             "/Patient/123\",\"iat\":%lld,\"ath\":\"%s\"}",
             now, now, ath);
    char *hb = mint_b64url(htext, strlen(htext)), *pb = mint_b64url(payload, strlen(payload));
    unsigned char sig[1100];
    size_t siglen = (size_t)BN_num_bytes(n);
    RAND_bytes(sig, (int)siglen);
    sig[0] = 0;
    char *sb = mint_b64url(sig, siglen);
    size_t len = strlen(hb) + strlen(pb) + strlen(sb) + 3;
    *proof = malloc(len);
    snprintf(*proof, len, "%s.%s.%s", hb, pb, sb);
    free(sb);
    free(pb);
    free(hb);
    free(htext);
    json_decref(header);
    free(canon);
    json_decref(jwk);
    free(eb);
    free(nb);
}

static BIGNUM *random_modulus(int bits)
{
    BIGNUM *n = BN_new();
    BN_rand(n, bits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD);
    return n;
}

typedef struct check_case {
    EVP_PKEY *key;
} check_case;

/* What every new client key cost before: OpenSSL's full public-key check. */
static void public_check(void *arg)
{
    check_case *c = arg;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, c->key, NULL);
    if (ctx == NULL || EVP_PKEY_public_check(ctx) != 1) {
        fprintf(stderr, "bench: public check failed\n");
        exit(1);
    }
    EVP_PKEY_CTX_free(ctx);
}

/* The floor for a key seen for the first time: a new key object from its
 * numbers (what a JWK import must do), then the verification. */
typedef struct fresh_raw_case {
    raw_case raw;
    OSSL_PARAM *params; /* n and e of the key */
} fresh_raw_case;

static void ps256_verify_fresh_key(void *arg)
{
    fresh_raw_case *f = arg;
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, f->params) != 1) {
        fprintf(stderr, "bench: cannot import the key\n");
        exit(1);
    }
    EVP_PKEY_CTX_free(ctx);
    raw_case r = f->raw;
    r.key = key;
    raw_verify(&r);
    EVP_PKEY_free(key);
}

/* Rows that show what one proof costs before it is refused or permitted:
 * a legitimate fresh RSA-2048 key against OpenSSL's own verify and public
 * check, and the hostile keys of issue 24, those the default bounds let
 * through to the signature check and those they refuse first. */
static void bench_proof_cost(void)
{
    enum { FRESH_PROOFS = 600, ROUNDS = 5 };
    long long now = (long long)time(NULL);
    bench_issuer is = bench_issuer_open();
    EVP_PKEY *rsa = mint_keygen("PS256", 2048);

    /* The fresh key's jwk carries "alg": a key pinned by its own alg is never
     * cached (proof.c), so every request imports it, as every request of a
     * new client would. */
    json_t *jwk = mint_public_jwk(rsa, "x", "PS256");
    json_object_del(jwk, "kid");
    json_object_del(jwk, "use");
    json_t *thumb_in = json_pack("{s:O,s:O,s:O}", "e", json_object_get(jwk, "e"), "kty",
                                 json_object_get(jwk, "kty"), "n", json_object_get(jwk, "n"));
    char *canon = json_dumps(thumb_in, JSON_COMPACT | JSON_SORT_KEYS);
    char jkt[48], claims[512];
    sha256_b64url(canon, jkt);
    snprintf(claims, sizeof claims,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"iat\":%lld,\"exp\":%lld,"
             "\"cnf\":{\"jkt\":\"%s\"}}",
             now - 10, now + 3590, jkt);
    char *bound = bench_issuer_token(&is, claims);
    snprintf(claims, sizeof claims,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"iat\":%lld,\"exp\":%lld}",
             now - 10, now + 3590);
    char *unbound = bench_issuer_token(&is, claims);
    char bound_ath[48], unbound_ath[48], bound_auth[2048], unbound_auth[2048];
    sha256_b64url(bound, bound_ath);
    sha256_b64url(unbound, unbound_ath);
    snprintf(bound_auth, sizeof bound_auth, "DPoP %s", bound);
    snprintf(unbound_auth, sizeof unbound_auth, "DPoP %s", unbound);

    char text[1024];
#define PROOF_COST_CONF                                                                            \
    "token: { issuer = \"" ISS "\"; audience = \"" AUD "\"; jwks = \"%s\"; "                       \
    "algorithms = [\"ES256\"]; };\naudit: { sink = \"none\"; };\n"                                 \
    "stacks: { s = ( { control = \"required\"; module = \"device_trust\"; "                        \
    "args = { public_base = \"" AUD "\"; %s }; } ); };"
    snprintf(text, sizeof text, PROOF_COST_CONF, is.jwks_path, "");
    fhirpam_context *ctx = bench_open(text);
    snprintf(text, sizeof text, PROOF_COST_CONF, is.jwks_path, "dpop_max_rsa_bits = 8192;");
    fhirpam_context *ceiling = bench_open(text);
#undef PROOF_COST_CONF

    /* The legitimate proofs, minted before the clock starts. */
    json_t *header = json_pack("{s:s,s:s,s:O}", "typ", "dpop+jwt", "alg", "PS256", "jwk", jwk);
    char *header_text = json_dumps(header, JSON_COMPACT);
    char **fresh = mint_proofs(rsa, "PS256", header_text, ROUNDS * FRESH_PROOFS, bound_ath, now);

    /* OpenSSL alone, for the same key. */
    raw_case raw = {rsa, "eyJhbGciOiJQUzI1NiJ9.eyJqdGkiOiJ4In0", {0}, 0, true};
    char *raw_sig = mint_signature(rsa, "PS256", raw.input, strlen(raw.input));
    unsigned char decoded[300];
    raw.siglen = (size_t)b64url_decode(raw_sig, strlen(raw_sig), decoded);
    memcpy(raw.sig, decoded, raw.siglen < sizeof raw.sig ? raw.siglen : sizeof raw.sig);
    free(raw_sig);
    double raw_rate = bench_best_rate(raw_verify, &raw);
    fresh_raw_case fresh_raw = {raw, NULL};
    OSSL_PARAM *pub = NULL;
    if (EVP_PKEY_todata(rsa, EVP_PKEY_PUBLIC_KEY, &pub) != 1) {
        fprintf(stderr, "bench: cannot export the key\n");
        exit(1);
    }
    fresh_raw.params = pub;
    double fresh_raw_rate = bench_best_rate(ps256_verify_fresh_key, &fresh_raw);
    OSSL_PARAM_free(pub);
    check_case check = {rsa};
    double check_rate = bench_best_rate(public_check, &check);

    /* The fresh-key proofs: best of five rounds of FRESH_PROOFS each. */
    proof_key_stats before, after;
    proof_key_cache_stats(&before);
    double fresh_rate = 0;
    for (int round = 0; round < ROUNDS; round++) {
        proof_case c = {ctx, bound_auth, fresh + round * FRESH_PROOFS, FRESH_PROOFS, 0, true,
                        now, NULL};
        double start = bench_now();
        for (int i = 0; i < FRESH_PROOFS; i++)
            one_proof(&c);
        double r = FRESH_PROOFS / (bench_now() - start);
        fresh_rate = r > fresh_rate ? r : fresh_rate;
    }
    proof_key_cache_stats(&after);
    if (after.imported - before.imported != ROUNDS * FRESH_PROOFS) {
        fprintf(stderr, "bench: the fresh-key proofs did not each import their key\n");
        exit(1);
    }

    char note[160];
    bench_row("openssl: raw EVP_DigestVerify, PS256 RSA-2048", raw_rate, 1.0,
              "best of 5, same run");
    bench_row("openssl: EVP_PKEY_fromdata + verify, PS256, key new each", fresh_raw_rate, 1.0,
              "the least a key seen for the first time costs");
    snprintf(note, sizeof note, "what each new client key cost before issue 24 (%.0fx a verify)",
             raw_rate / check_rate);
    bench_row("openssl: EVP_PKEY_public_check, RSA-2048 (no longer run)", check_rate, 1.0, note);
    snprintf(note, sizeof note,
             "%.0f%% of raw verify, %.0f%% of import + verify; the old check alone: %.0fx this",
             100.0 * fresh_rate / raw_rate, 100.0 * fresh_rate / fresh_raw_rate,
             fresh_rate / check_rate);
    bench_row("device_trust: fresh RSA-2048 key, valid PS256 proof", fresh_rate, 1.0, note);

    /* The hostile keys, each with a random signature of its modulus' size:
     * each row checks where its proof was refused. */
#define SIGNATURE_FAILED "signature is not valid"
    BIGNUM *prime = BN_new(), *f4 = BN_new(), *e33 = BN_new();
    BN_generate_prime_ex(prime, 4096, 0, NULL, NULL, NULL);
    BN_set_word(f4, 65537);
    BN_set_word(e33, 1);
    BN_lshift(e33, e33, JWK_RSA_MAX_E_BITS);
    BN_sub_word(e33, 1); /* 2^33 - 1: the costliest exponent allowed */
    BIGNUM *c4096 = random_modulus(4096), *c8176 = random_modulus(8176);
    BIGNUM *c8192 = random_modulus(8192);
    BIGNUM *e_huge = random_modulus(64);
    /* Each hostile key is sent with a token bound to it, the worst case: a
     * proof by any other key (the request: any valid token, an
     * unbound one sent as DPoP) is refused on its thumbprint, the last two
     * rows. */
    struct {
        const char *name;
        fhirpam_context *ctx;
        const BIGNUM *n, *e;
        const char *auth; /* NULL: a token bound to the hostile key */
        const char *stop, *sentence;
    } hostile[] = {
        {"device_trust: hostile 4096-bit prime modulus, e 65537", ctx, prime, f4, NULL, "signature",
         SIGNATURE_FAILED},
        {"device_trust: hostile 4096-bit composite, e 2^33-1", ctx, c4096, e33, NULL, "signature",
         SIGNATURE_FAILED},
        {"device_trust: hostile 8176-bit composite, e 65537", ctx, c8176, f4, NULL, "its size",
         "RSA key of 8176 bits"},
        {"device_trust: hostile 4096-bit composite, 64-bit e", ctx, c4096, e_huge, NULL, "its e",
         "'e' is empty or longer"},
        {"device_trust: hostile 8192-bit composite, e 2^33-1, max 8192", ceiling, c8192, e33, NULL,
         "signature", SIGNATURE_FAILED},
        {"device_trust: hostile 8192-bit composite, unbound token, max 8192", ceiling, c8192, e33,
         unbound_auth, "the binding", "no cnf.jkt"},
        {"device_trust: hostile 8192-bit composite, other key's token, max 8192", ceiling, c8192,
         e33, bound_auth, "the binding", "not the key the token is bound to"},
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        char *p, *auth;
        hostile_proof(&is, hostile[i].n, hostile[i].e, hostile[i].auth == NULL, hostile[i].auth,
                      hostile[i].auth == bound_auth ? bound_ath : unbound_ath, now, &p, &auth);
        proof_case c = {hostile[i].ctx, auth, &p, 1, 0, false, now, hostile[i].sentence};
        double rate = bench_best_rate(one_proof, &c);
        snprintf(note, sizeof note, "%.2fx the fresh RSA-2048 proof; refused at %s",
                 fresh_rate / rate, hostile[i].stop);
        bench_row(hostile[i].name, rate, 1.0, note);
        free(auth);
        free(p);
    }

#undef SIGNATURE_FAILED
    BN_free(e_huge);
    BN_free(c8192);
    BN_free(c8176);
    BN_free(c4096);
    BN_free(e33);
    BN_free(f4);
    BN_free(prime);
    for (int i = 0; i < ROUNDS * FRESH_PROOFS; i++)
        free(fresh[i]);
    free(fresh);
    free(header_text);
    json_decref(header);
    fhirpam_close(ceiling);
    fhirpam_close(ctx);
    free(unbound);
    free(bound);
    free(canon);
    json_decref(thumb_in);
    json_decref(jwk);
    EVP_PKEY_free(rsa);
    bench_issuer_close(&is);
}

void bench_dpop(void)
{
    long long now = (long long)time(NULL);
    EVP_PKEY *as_key = mint_keygen("ES256", 0), *device = mint_keygen("ES256", 0);
    json_t *set = json_pack("{s:[o]}", "keys", mint_public_jwk(as_key, "as", "ES256"));
    char *jwks_text = json_dumps(set, 0);
    char *jwks_path = bench_write_temp(jwks_text);

    /* The device key as a proof header, and its thumbprint for cnf.jkt. */
    json_t *jwk = mint_public_jwk(device, "x", NULL);
    json_object_del(jwk, "kid");
    json_object_del(jwk, "use");
    json_t *thumb_in = json_pack("{s:O,s:O,s:O,s:O}", "crv", json_object_get(jwk, "crv"), "kty",
                                 json_object_get(jwk, "kty"), "x", json_object_get(jwk, "x"), "y",
                                 json_object_get(jwk, "y"));
    char *canon = json_dumps(thumb_in, JSON_COMPACT | JSON_SORT_KEYS);
    char jkt[48];
    sha256_b64url(canon, jkt);
    char claims[512];
    snprintf(claims, sizeof claims,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"iat\":%lld,\"exp\":%lld,"
             "\"cnf\":{\"jkt\":\"%s\"}}",
             now - 10, now + 3590, jkt);
    char *token = mint_token(as_key, "ES256", "{\"alg\":\"ES256\",\"kid\":\"as\"}", claims);
    char ath[48];
    sha256_b64url(token, ath);
    json_t *header = json_pack("{s:s,s:s,s:O}", "typ", "dpop+jwt", "alg", "ES256", "jwk", jwk);
    char *header_text = json_dumps(header, JSON_COMPACT);

    char text[1024];
    snprintf(text, sizeof text,
             "token: { issuer = \"" ISS "\"; audience = \"" AUD "\"; jwks = \"%s\"; "
             "algorithms = [\"ES256\"]; };\naudit: { sink = \"none\"; };\n"
             "stacks: { s = ( { control = \"required\"; module = \"device_trust\"; args = { "
             "public_base = \"" AUD "\"; bind = \"dpop\"; }; } ); };",
             jwks_path);
    fhirpam_context *ctx = bench_open(text);
    size_t n = strlen(token) + 8;
    char *authorization = malloc(n);
    snprintf(authorization, n, "DPoP %s", token);

    /* Fresh proofs, minted before the clock starts. */
    char **proofs = mint_proofs(device, "ES256", header_text, PROOFS, ath, now);
    raw_case raw = {device, "eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJ4In0", {0}, 0, false};
    EVP_MD_CTX *sctx = EVP_MD_CTX_new();
    raw.siglen = sizeof raw.sig;
    EVP_DigestSignInit(sctx, NULL, EVP_sha256(), NULL, device);
    EVP_DigestSign(sctx, raw.sig, &raw.siglen, (const unsigned char *)raw.input, strlen(raw.input));
    EVP_MD_CTX_free(sctx);
    double raw_rate = bench_best_rate(raw_verify, &raw);

    double start = bench_now();
    for (int i = 0; i < PROOFS; i++) {
        fhirpam_request *req = fhirpam_request_new("GET", "Patient/123");
        fhirpam_request_add_header(req, "Authorization", authorization);
        fhirpam_request_add_header(req, "DPoP", proofs[i]);
        fhirpam_request_set_time(req, now);
        fhirpam_decision *d = fhirpam_authorize(ctx, "s", req);
        if (d == NULL || !fhirpam_decision_permitted(d)) {
            fprintf(stderr, "bench: unexpected deny: %s\n",
                    d ? fhirpam_decision_reason_text(d) : "");
            exit(1);
        }
        fhirpam_decision_free(d);
        fhirpam_request_free(req);
    }
    double seconds = bench_now() - start;
    char note[128];
    bench_row("openssl: raw EVP_DigestVerify, ES256 (proof key)", raw_rate, 1.0,
              "best of 5, same run");
    snprintf(note, sizeof note, "%.1f%% of raw ES256 verify (the proof's signature dominates)",
             100.0 * PROOFS / seconds / raw_rate);
    bench_row("device_trust: cached token, fresh ES256 DPoP proof each", PROOFS, seconds, note);

    for (int i = 0; i < PROOFS; i++)
        free(proofs[i]);
    free(proofs);
    free(authorization);
    fhirpam_close(ctx);
    free(header_text);
    json_decref(header);
    free(canon);
    json_decref(thumb_in);
    json_decref(jwk);
    free(token);
    unlink(jwks_path);
    free(jwks_path);
    free(jwks_text);
    json_decref(set);
    EVP_PKEY_free(as_key);
    EVP_PKEY_free(device);
    bench_proof_cost();
}
