/*
 * bench_consent.c - the consent module on the request path: a cached
 * token, a store of 10,000 patients' Consents generated in a temporary
 * directory (opt-in with exceptions by actor and purpose, every tenth an
 * opt-out with an exception for the requesting organisation).
 */
#include <fhirpam/fhirpam.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "mint.h"

#define ISS      "https://ehr.example.org"
#define AUD      "https://fhir.example.org/r4"
#define PATIENTS 10000
#define FILES    10

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 || chmod(path, 0600) != 0) {
        perror(path);
        exit(1);
    }
}

/* One Consent a line; patient i's is an opt-out when i % 10 == 0. */
static void write_store(const char *dir)
{
    char path[512];
    for (int file = 0; file < FILES; file++) {
        snprintf(path, sizeof path, "%s/consents-%02d.ndjson", dir, file);
        FILE *f = fopen(path, "w");
        if (f == NULL) {
            perror(path);
            exit(1);
        }
        for (int i = file; i < PATIENTS; i += FILES) {
            bool opt_out = i % 10 == 0;
            fprintf(f,
                    "{\"resourceType\":\"Consent\",\"id\":\"c%d\",\"status\":\"active\","
                    "\"scope\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"
                    "consentscope\",\"code\":\"patient-privacy\"}]},\"category\":[{\"coding\":[{"
                    "\"system\":\"http://loinc.org\",\"code\":\"59284-0\"}]}],\"patient\":{"
                    "\"reference\":\"Patient/p%d\"},\"dateTime\":\"2025-0%d-01\",\"provision\":{"
                    "\"type\":\"%s\",\"period\":{\"start\":\"2025-01-01\",\"end\":\"2099\"},"
                    "\"provision\":[%s]}}\n",
                    i, i, 1 + i % 9, opt_out ? "deny" : "permit",
                    opt_out ? "{\"type\":\"permit\",\"actor\":[{\"reference\":{\"reference\":"
                              "\"Organization/org1\"}}],\"purpose\":[{\"system\":\"http://"
                              "terminology.hl7.org/CodeSystem/v3-ActReason\",\"code\":\"TREAT\"}]}"
                            : "{\"type\":\"deny\",\"actor\":[{\"reference\":{\"reference\":"
                              "\"Organization/org2\"}}]},{\"type\":\"deny\",\"purpose\":[{"
                              "\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActReason\","
                              "\"code\":\"HMARKT\"}]}");
        }
        if (fclose(f) != 0 || chmod(path, 0600) != 0) {
            perror(path);
            exit(1);
        }
    }
    snprintf(path, sizeof path, "%s/actors.json", dir);
    write_text(path, "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":["
                     "{\"resource\":{\"resourceType\":\"Organization\",\"id\":\"org1\","
                     "\"identifier\":[{\"system\":\"urn:oid:1.2.3\",\"value\":\"ORG-1\"}]}},"
                     "{\"resource\":{\"resourceType\":\"Organization\",\"id\":\"org2\","
                     "\"identifier\":[{\"system\":\"urn:oid:1.2.3\",\"value\":\"ORG-2\"}]}}]}");
}

static void remove_store(const char *dir)
{
    char path[512];
    for (int file = 0; file < FILES; file++) {
        snprintf(path, sizeof path, "%s/consents-%02d.ndjson", dir, file);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/actors.json", dir);
    unlink(path);
    rmdir(dir);
}

void bench_consent(void)
{
    long long now = (long long)time(NULL);
    char dir[256];
    bench_temp_dir(dir, sizeof dir, "consent");
    write_store(dir);
    char *registry = bench_write_temp("{\"dashboard\":[\"urn:oid:1.2.3|ORG-1\"]}");
    bench_issuer issuer = bench_issuer_open();
    const char *jwks_path = issuer.jwks_path;
    char claims[1024];
    snprintf(claims, sizeof claims,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"Practitioner/7\",\"client_id\":"
             "\"dashboard\",\"jti\":\"j-1\",\"iat\":%lld,\"exp\":%lld,\"patient\":\"p5000\","
             "\"purpose_of_use\":\"TREAT\",\"scope\":\"launch openid fhirUser "
             "patient/Observation.rs patient/Condition.rs\"}",
             now - 10, now + 3590);
    char *token = bench_issuer_token(&issuer, claims);
    char text[2048];
    snprintf(text, sizeof text,
             "token: { issuer = \"" ISS "\"; audience = \"" AUD "\"; jwks = \"%s\"; "
             "algorithms = [\"ES256\"]; };\naudit: { sink = \"none\"; };\n"
             "stacks: { s = ( { control = \"required\"; module = \"consent\"; args = { "
             "store = \"%s\"; client_registry = \"%s\"; }; } ); };",
             jwks_path, dir, registry);
    double t0 = bench_now();
    fhirpam_context *ctx = bench_open(text);
    double load = bench_now() - t0;
    /* Patient p5000 has opted out with an exception for org1 (the
     * dashboard's organisation) for treatment: a permit that walks the
     * provision tree and matches an actor and a purpose. */
    bench_case c = {ctx, fhirpam_request_new("GET", "Patient/p5000/Observation?code=8867-4")};
    size_t n = strlen(token) + 8;
    char *header = malloc(n);
    if (c.req == NULL || header == NULL) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    snprintf(header, n, "Bearer %s", token);
    fhirpam_request_add_header(c.req, "Authorization", header);
    fhirpam_request_set_time(c.req, now);
    double rate = bench_best_rate(bench_permit, &c);
    char note[128];
    snprintf(note, sizeof note, "opt-out + actor/purpose exception; store loaded in %.2f s", load);
    bench_row("consent: cached token, 10,000 patients' consents", rate, 1.0, note);
    fhirpam_request_free(c.req);
    fhirpam_close(c.ctx);
    free(header);
    remove_store(dir);
    unlink(registry);
    free(registry);
    free(token);
    bench_issuer_close(&issuer);
}
