/*
 * bench_isolation.c - what running a module isolated costs (issue 28):
 * the same stacks in process and with isolation = "process", in the same
 * run. The difference is one round trip to the worker per isolated module
 * call (the request and, with a token, the claims kept per token, sent
 * over a socket pair; the answer read back).
 */
#include <fhirpam/fhirpam.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#define ISS "https://ehr.example.org"
#define AUD "https://fhir.example.org/r4"

static double rate_of(const char *config_text, fhirpam_request *req)
{
    bench_case c = {bench_open(config_text), req};
    double rate = bench_best_rate(bench_permit, &c);
    fhirpam_close(c.ctx);
    return rate;
}

void bench_isolation(void)
{
    char text[2048], note[160];
    fhirpam_request *plain =
        fhirpam_request_new("GET", "Patient/123/Observation?code=8867-4&_count=10");
#define DEBUG_STACK                                                                                \
    "audit: { sink = \"none\"; };\nworker = \"" BENCH_WORKER "\";\n"                               \
    "stacks: { s = { token = \"none\"; lines = ( { control = \"required\"; module = \"debug\";%s " \
    "} "                                                                                           \
    "); }; };"
    snprintf(text, sizeof text, DEBUG_STACK, "");
    double here = rate_of(text, plain);
    bench_row("isolation: 1-line debug stack, in process", here, 1.0, "same run, baseline");
    snprintf(text, sizeof text, DEBUG_STACK, " isolation = \"process\";");
    double there = rate_of(text, plain);
    snprintf(note, sizeof note, "+%.1f us a call: one round trip to the worker",
             1e6 / there - 1e6 / here);
    bench_row("isolation: the same, debug in a worker process", there, 1.0, note);
    fhirpam_request_free(plain);

    /* A cached token and scope_check: the claims cross too. */
    long long now = (long long)time(NULL);
    bench_issuer issuer = bench_issuer_open();
    char claims[1024];
    snprintf(claims, sizeof claims,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"Practitioner/7\",\"client_id\":"
             "\"dashboard\",\"jti\":\"j-1\",\"iat\":%lld,\"exp\":%lld,\"scope\":\"launch openid "
             "patient/Patient.rs patient/Observation.rs patient/Condition.rs\"}",
             now - 10, now + 3590);
    char *token = bench_issuer_token(&issuer, claims);
    fhirpam_request *req = bench_bearer_request(token, now);
#define SCOPE_STACK                                                                                \
    "token: { issuer = \"" ISS "\"; audience = \"" AUD "\"; jwks = \"%s\"; algorithms = "          \
    "[\"ES256\"]; };\naudit: { sink = \"none\"; };\nworker = \"" BENCH_WORKER "\";\n"              \
    "stacks: { s = ( { control = \"required\"; module = \"scope_check\";%s } ); };"
    snprintf(text, sizeof text, SCOPE_STACK, issuer.jwks_path, "");
    here = rate_of(text, req);
    bench_row("isolation: cached token, scope_check in process", here, 1.0, "same run, baseline");
    snprintf(text, sizeof text, SCOPE_STACK, issuer.jwks_path, " isolation = \"process\";");
    there = rate_of(text, req);
    snprintf(note, sizeof note, "+%.1f us a call, the claims sent with each",
             1e6 / there - 1e6 / here);
    bench_row("isolation: the same, scope_check in a worker process", there, 1.0, note);
    fhirpam_request_free(req);
    free(token);
    bench_issuer_close(&issuer);
}
