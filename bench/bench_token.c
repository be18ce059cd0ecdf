/*
 * bench_token.c - token verification: a realistic SMART access token (about
 * 1 KB) on a one-line debug stack, uncached and cached, with the raw OpenSSL
 * verify rate for the same key and token measured in the same run.
 *
 * Raw means what any verifier must do per token and nothing else: a digest
 * context, EVP_DigestVerifyInit and EVP_DigestVerify over the signing input.
 */
#include <fhirpam/fhirpam.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64url.h"
#include "bench.h"
#include "mint.h"

#define ISS "https://ehr.example.org"
#define AUD "https://fhir.example.org/r4"
#define NOW 1800000000LL

/* What a SMART EHR launch token carries (RFC 9068 claims + SMART context). */
static char *claims_text(int serial)
{
    char *out = malloc(2048);
    snprintf(out, 2048,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"Practitioner/7c1f4a9e-2b3d-4e5f\","
             "\"client_id\":\"cardiology-dashboard-prod\",\"jti\":\"b7e2c1d0-9f8a-4b6c-%08d\","
             "\"iat\":1799999000,\"exp\":1800003600,\"auth_time\":1799998000,"
             "\"scope\":\"launch openid fhirUser patient/Patient.rs patient/Observation.rs "
             "patient/Condition.rs patient/MedicationRequest.rs patient/AllergyIntolerance.rs "
             "patient/Encounter.rs patient/DiagnosticReport.rs patient/DocumentReference.rs "
             "patient/Immunization.rs patient/Procedure.rs user/Practitioner.rs offline_access\","
             "\"patient\":\"Patient/123e4567-e89b-12d3-a456-426614174000\","
             "\"encounter\":\"Encounter/98765432-1abc-4def-8123-456789abcdef\","
             "\"fhirUser\":\"https://ehr.example.org/fhir/Practitioner/7c1f4a9e-2b3d-4e5f\","
             "\"need_patient_banner\":false,\"smart_style_url\":\"https://ehr.example.org/"
             "smart/style.json\",\"tenant\":\"hospital-north\",\"sid\":\"5f2b8c1e-77aa-4d1e\","
             "\"purpose_of_use\":[\"TREAT\"]}",
             serial);
    return out;
}

typedef struct token_case {
    fhirpam_context *ctx;
    fhirpam_request **reqs;
    size_t nreqs, next;
} token_case;

static void one_decision(void *arg)
{
    token_case *c = arg;
    fhirpam_request *req = c->reqs[c->next++ % c->nreqs];
    fhirpam_decision *d = fhirpam_authorize(c->ctx, "s", req);
    if (d == NULL || !fhirpam_decision_permitted(d)) {
        fprintf(stderr, "bench: unexpected deny: %s\n", d ? fhirpam_decision_reason_text(d) : "");
        exit(1);
    }
    fhirpam_decision_free(d);
}

static fhirpam_context *open_config(const char *jwks_path, const char *alg, long cache_entries)
{
    char text[1024];
    snprintf(text, sizeof text,
             "token: { issuer = \"" ISS "\"; audience = \"" AUD "\"; jwks = \"%s\"; "
             "algorithms = [\"%s\"]; cache_entries = %ld; };\n"
             "audit: { sink = \"none\"; };\n"
             "stacks: { s = ( { control = \"required\"; module = \"debug\"; } ); };",
             jwks_path, alg, cache_entries);
    return bench_open(text);
}

typedef struct raw_case {
    EVP_PKEY *key;
    const EVP_MD *md;
    const unsigned char *input;
    size_t inlen;
    unsigned char sig[512];
    size_t siglen;
} raw_case;

static void raw_verify(void *arg)
{
    raw_case *r = arg;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (EVP_DigestVerifyInit(ctx, NULL, r->md, NULL, r->key) != 1 ||
        EVP_DigestVerify(ctx, r->sig, r->siglen, r->input, r->inlen) != 1) {
        fprintf(stderr, "bench: raw verify failed\n");
        exit(1);
    }
    EVP_MD_CTX_free(ctx);
}

/* ES256 signatures are raw r||s in the token; the raw row verifies DER. */
static void raw_case_init(raw_case *r, EVP_PKEY *key, const char *alg, const char *token)
{
    r->key = key;
    r->md = EVP_sha256();
    r->input = (const unsigned char *)token;
    r->inlen = (size_t)(strrchr(token, '.') - token);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    r->siglen = sizeof r->sig;
    EVP_DigestSignInit(ctx, NULL, r->md, NULL, key);
    EVP_DigestSign(ctx, r->sig, &r->siglen, r->input, r->inlen);
    EVP_MD_CTX_free(ctx);
    (void)alg;
}

static void bench_alg(const char *alg)
{
    EVP_PKEY *key = mint_keygen(alg, 2048);
    json_t *jwk = mint_public_jwk(key, "bench", alg);
    json_t *set = json_pack("{s:[o]}", "keys", jwk);
    char *jwks_text = json_dumps(set, 0);
    char *jwks_path = bench_write_temp(jwks_text);
    char header[128];
    snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"at+jwt\",\"kid\":\"bench\"}", alg);

    /* Distinct tokens, for the uncached rows. */
    enum { POOL = 256 };
    fhirpam_request *pool[POOL];
    char *first = NULL;
    for (int i = 0; i < POOL; i++) {
        char *claims = claims_text(i);
        char *token = mint_token(key, alg, header, claims);
        if (i == 0)
            first = strdup(token);
        pool[i] = bench_bearer_request(token, NOW);
        free(token);
        free(claims);
    }

    /* Raw and uncached are measured in alternation, best of five rounds
     * each, so that a noisy neighbour on a shared machine does not skew the
     * ratio between them. */
    raw_case raw;
    raw_case_init(&raw, key, alg, first);
    token_case c = {open_config(jwks_path, alg, 0), pool, POOL, 0};
    double raw_rate = 0, rate = 0;
    for (int round = 0; round < 5; round++) {
        double r = bench_rate(raw_verify, &raw, 0.3);
        double u = bench_rate(one_decision, &c, 0.3);
        raw_rate = r > raw_rate ? r : raw_rate;
        rate = u > rate ? u : rate;
    }
    char name[96], note[128];
    snprintf(name, sizeof name, "openssl: raw EVP_DigestVerify, %s", alg);
    bench_row(name, raw_rate, 1.0, "same key, same signing input (best of 5)");
    snprintf(name, sizeof name, "token: %s, %zu-byte token, uncached (every token new)", alg,
             strlen(first));
    snprintf(note, sizeof note, "%.1f%% of raw OpenSSL verify (best of 5)",
             100.0 * rate / raw_rate);
    bench_row(name, rate, 1.0, note);
    fhirpam_close(c.ctx);

    fhirpam_request *same[1] = {pool[0]};
    c = (token_case){open_config(jwks_path, alg, 10000), same, 1, 0};
    rate = bench_best_rate(one_decision, &c);
    snprintf(name, sizeof name, "token: %s, same token again (cached)", alg);
    snprintf(note, sizeof note, "%.1fx raw OpenSSL verify (best of 5)", rate / raw_rate);
    bench_row(name, rate, 1.0, note);
    fhirpam_close(c.ctx);

    for (int i = 0; i < POOL; i++)
        fhirpam_request_free(pool[i]);
    free(first);
    unlink(jwks_path);
    free(jwks_path);
    free(jwks_text);
    json_decref(set);
    EVP_PKEY_free(key);
}

void bench_token(void)
{
    bench_alg("RS256");
    bench_alg("ES256");
}
