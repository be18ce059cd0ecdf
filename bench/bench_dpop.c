/*
 * bench_dpop.c - device_trust with DPoP: a cached access token and a fresh
 * ES256 proof on every request (each proof is used once: the replay cache
 * refuses a second use), with the raw ES256 verify rate measured in the
 * same run.
 */
#include <fhirpam/fhirpam.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "mint.h"

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

typedef struct raw_case {
    EVP_PKEY *key;
    const char *input;
    unsigned char sig[128];
    size_t siglen;
} raw_case;

static void raw_verify(void *arg)
{
    raw_case *r = arg;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, r->key) != 1 ||
        EVP_DigestVerify(ctx, r->sig, r->siglen, (const unsigned char *)r->input,
                         strlen(r->input)) != 1) {
        fprintf(stderr, "bench: raw verify failed\n");
        exit(1);
    }
    EVP_MD_CTX_free(ctx);
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
    char **proofs = calloc(PROOFS, sizeof *proofs);
    for (int i = 0; i < PROOFS; i++) {
        char payload[512];
        snprintf(payload, sizeof payload,
                 "{\"jti\":\"bench-%d-%lld\",\"htm\":\"GET\",\"htu\":\"" AUD
                 "/Patient/123\",\"iat\":%lld,\"ath\":\"%s\"}",
                 i, now, now, ath);
        proofs[i] = mint_token(device, "ES256", header_text, payload);
    }
    raw_case raw = {device, "eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJ4In0", {0}, 0};
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
}
