/*
 * bench_revocation.c - the token lifecycle modules on the request path: a
 * cached token through `expiry` and `revocation` with 100,000 deny list
 * entries; and how long a 1,000,000-entry deny list takes to load.
 */
#include <fhirpam/fhirpam.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "denylist.h"
#include "mint.h"

#define ISS "https://ehr.example.org"
#define AUD "https://fhir.example.org/r4"

/* n rules: 90 % jti, the rest subject and client cut-offs in the past. */
static char *write_denylist(size_t n, long long now)
{
    char *path = bench_write_temp("");
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        if (i % 10 == 9)
            fprintf(f, "sub %s patient-%zu %lld\n", ISS, i, now - 600);
        else if (i % 10 == 8)
            fprintf(f, "client %s app-%zu %lld\n", ISS, i, now - 600);
        else
            fprintf(f, "jti %s 6f1c2a9e-%08zx-4b7d-9a3e-%012zx %lld\n", ISS, i, i * 7919,
                    now + 3600);
    }
    fclose(f);
    return path;
}

void bench_revocation(void)
{
    long long now = (long long)time(NULL);
    bench_issuer issuer = bench_issuer_open();
    const char *jwks_path = issuer.jwks_path;
    char *list = write_denylist(100000, now);

    char claims[512];
    snprintf(claims, sizeof claims,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"Practitioner/7\",\"client_id\":"
             "\"dashboard\",\"jti\":\"b7e2c1d0-9f8a-4b6c-8d2e-1f3a5c7e9b0d\",\"sid\":\"s-1\","
             "\"iat\":%lld,\"auth_time\":%lld,\"exp\":%lld}",
             now - 10, now - 100, now + 3590);
    char *token = bench_issuer_token(&issuer, claims);
    /* The baseline, in the same run: the same token and stack with a debug
     * line (a module that does nothing: the core's cost of one more line)
     * where the revocation line goes; then with revocation. */
    static const char expiry_line[] =
        "  { control = \"requisite\"; module = \"expiry\"; args = { max_lifetime = 3600; "
        "max_age = 3600; max_auth_age = 43200; require = [\"jti\", \"iat\"]; }; }";
    char text[2048];
    snprintf(text, sizeof text,
             "token: { issuer = \"" ISS "\"; audience = \"" AUD "\"; jwks = \"%s\"; "
             "algorithms = [\"ES256\"]; };\naudit: { sink = \"none\"; };\n"
             "stacks: { s = (\n%s,\n"
             "  { control = \"requisite\"; module = \"debug\"; }\n); };",
             jwks_path, expiry_line);
    bench_case base = {bench_open(text), bench_bearer_request(token, now)};
    snprintf(
        text, sizeof text,
        "token: { issuer = \"" ISS "\"; audience = \"" AUD "\"; jwks = \"%s\"; "
        "algorithms = [\"ES256\"]; };\naudit: { sink = \"none\"; };\n"
        "stacks: { s = (\n%s,\n"
        "  { control = \"requisite\"; module = \"revocation\"; args = { denylist = \"%s\"; }; }"
        "\n); };",
        jwks_path, expiry_line, list);
    bench_case c = {bench_open(text), bench_bearer_request(token, now)};
    /* Alternate the two, keeping each one's best round. */
    double best_base = 0, rate = 0;
    for (int round = 0; round < 5; round++) {
        double b = bench_rate(bench_permit, &base, 0.3), r = bench_rate(bench_permit, &c, 0.3);
        best_base = b > best_base ? b : best_base;
        rate = r > rate ? r : rate;
    }
    bench_row("lifecycle: cached ES256 token, expiry + a no-op line", best_base, 1.0,
              "baseline: requisite expiry, requisite debug (best of 5)");
    char note_rate[96];
    snprintf(note_rate, sizeof note_rate, "+ requisite revocation: %.1f%% of the baseline",
             100.0 * rate / best_base);
    bench_row("lifecycle: cached ES256 token, expiry + revocation (100k rules)", rate, 1.0,
              note_rate);
    fhirpam_request_free(base.req);
    fhirpam_close(base.ctx);
    fhirpam_request_free(c.req);
    fhirpam_close(c.ctx);
    unlink(list);
    free(list);

    list = write_denylist(1000000, now);
    denylist_limits limits = {now, 60, 86400};
    char err[512];
    double start = bench_now();
    denylist *l = denylist_load(list, &limits, err, sizeof err);
    double seconds = bench_now() - start;
    if (l == NULL) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    char note[96];
    snprintf(note, sizeof note, "%.2f s to load 1,000,000 rules (%zu kept)", seconds,
             denylist_size(l));
    bench_row("revocation: deny list load, rules per second", 1e6, seconds, note);
    denylist_free(l);
    unlink(list);
    free(list);

    free(token);
    bench_issuer_close(&issuer);
}
