/*
 * bench_scope.c - scope_check on the request path: a cached token with a
 * realistic SMART scope string, a search with three parameters.
 */
#include <fhirpam/fhirpam.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "mint.h"

#define ISS "https://ehr.example.org"
#define AUD "https://fhir.example.org/r4"

void bench_scope(void)
{
    long long now = (long long)time(NULL);
    bench_issuer issuer = bench_issuer_open();
    const char *jwks_path = issuer.jwks_path;
    char claims[1024];
    snprintf(claims, sizeof claims,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"Practitioner/7\",\"client_id\":"
             "\"dashboard\",\"jti\":\"j-1\",\"iat\":%lld,\"exp\":%lld,\"patient\":\"123e4567-e89b-"
             "12d3-a456-426614174000\","
             "\"scope\":\"launch openid fhirUser patient/Patient.rs patient/Condition.rs "
             "patient/MedicationRequest.rs patient/AllergyIntolerance.rs patient/Encounter.rs "
             "patient/Observation.rs patient/DiagnosticReport.rs patient/Immunization.rs "
             "user/Practitioner.rs offline_access\"}",
             now - 10, now + 3590);
    char *token = bench_issuer_token(&issuer, claims);
    char text[1024];
    snprintf(text, sizeof text,
             "token: { issuer = \"" ISS "\"; audience = \"" AUD "\"; jwks = \"%s\"; "
             "algorithms = [\"ES256\"]; };\naudit: { sink = \"none\"; };\n"
             "stacks: { s = ( { control = \"required\"; module = \"scope_check\"; } ); };",
             jwks_path);
    bench_case c = {bench_open(text), fhirpam_request_new("GET", "Observation?patient=Patient/"
                                                                 "123&category=laboratory&date="
                                                                 "ge2024-01-01")};
    size_t n = strlen(token) + 8;
    char *header = malloc(n);
    snprintf(header, n, "Bearer %s", token);
    fhirpam_request_add_header(c.req, "Authorization", header);
    fhirpam_request_set_time(c.req, now);
    double rate = bench_best_rate(bench_permit, &c);
    bench_row("scope_check: cached token, search with 3 parameters", rate, 1.0,
              "12 scopes, required scope_check alone");
    fhirpam_request_free(c.req);
    fhirpam_close(c.ctx);

    /* The same search through scope_check and patient_link. */
    snprintf(text, sizeof text,
             "token: { issuer = \"" ISS "\"; audience = \"" AUD "\"; jwks = \"%s\"; "
             "algorithms = [\"ES256\"]; };\naudit: { sink = \"none\"; };\n"
             "stacks: { s = ( { control = \"requisite\"; module = \"scope_check\"; },\n"
             "  { control = \"required\"; module = \"patient_link\"; } ); };",
             jwks_path);
    c = (bench_case){bench_open(text),
                     fhirpam_request_new("GET", "Observation?patient=Patient/"
                                                "123e4567-e89b-12d3-a456-426614174000&category="
                                                "laboratory&date=ge2024-01-01")};
    fhirpam_request_add_header(c.req, "Authorization", header);
    fhirpam_request_set_time(c.req, now);
    rate = bench_best_rate(bench_permit, &c);
    bench_row("scope_check + patient_link: cached token, 3-parameter search", rate, 1.0,
              "patient claim (a UUID) = the patient searched");
    fhirpam_request_free(c.req);
    fhirpam_close(c.ctx);
    free(header);
    free(token);
    bench_issuer_close(&issuer);
}
