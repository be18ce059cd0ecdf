/*
 * bench.c - ./dev bench: decisions per second, one core, printed as a table.
 * No pass/fail here: targets are read off the table (tests never assert
 * timings; the machines are shared and noisy).
 */
#include "bench.h"
#include "mint.h"

#include <fhirpam/fhirpam.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_row(const char *name, double ops, double seconds, const char *note)
{
    double rate = ops / seconds;
    printf("| %-58s | %12.0f | %9.3f | %s |\n", name, rate, 1e6 / rate, note ? note : "");
    fflush(stdout);
}

double bench_rate(void (*fn)(void *arg), void *arg, double seconds)
{
    /* Warm up caches and lazy initialisation, then time batches until the
     * budget is spent. */
    for (int i = 0; i < 1000; i++)
        fn(arg);
    long ops = 0, batch = 256;
    double start = bench_now(), now = start;
    while (now - start < seconds) {
        for (long i = 0; i < batch; i++)
            fn(arg);
        ops += batch;
        now = bench_now();
    }
    return (double)ops / (now - start);
}

void bench_permit(void *arg)
{
    bench_case *c = arg;
    fhirpam_decision *d = fhirpam_authorize(c->ctx, "s", c->req);
    if (d == NULL || !fhirpam_decision_permitted(d)) {
        fprintf(stderr, "bench: unexpected deny: %s\n", d ? fhirpam_decision_reason_text(d) : "");
        exit(1);
    }
    fhirpam_decision_free(d);
}

double bench_best_rate(void (*fn)(void *arg), void *arg)
{
    double best = 0;
    for (int round = 0; round < 5; round++) {
        double r = bench_rate(fn, arg, 0.3);
        best = r > best ? r : best;
    }
    return best;
}

void bench_temp_dir(char *dir, size_t len, const char *name)
{
    /* Under $TMPDIR too: a module's files below /tmp are refused. */
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, len, "%s/fhirpam-bench-%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", name);
    if (mkdtemp(dir) == NULL) {
        perror("bench: mkdtemp");
        exit(1);
    }
}

char *bench_write_temp(const char *text)
{
    /* Under $TMPDIR (./dev bench points it into build-release/): fhirpam
     * refuses a configuration or key set below /tmp, which others may
     * write to. */
    const char *tmp = getenv("TMPDIR");
    size_t n = (tmp && tmp[0] ? strlen(tmp) : 4) + 32;
    char *path = malloc(n);
    if (path != NULL)
        snprintf(path, n, "%s/fhirpam-bench-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    int fd = path ? mkstemp(path) : -1;
    size_t len = strlen(text);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
        perror("bench: temporary file");
        exit(1);
    }
    close(fd);
    return path;
}

bench_issuer bench_issuer_open(void)
{
    bench_issuer is = {mint_keygen("ES256", 0), NULL};
    json_t *set = json_pack("{s:[o]}", "keys", mint_public_jwk(is.key, "bench", "ES256"));
    char *text = json_dumps(set, 0);
    if (text == NULL) {
        fprintf(stderr, "bench: cannot build the key set\n");
        exit(1);
    }
    is.jwks_path = bench_write_temp(text);
    free(text);
    json_decref(set);
    return is;
}

char *bench_issuer_token(const bench_issuer *is, const char *claims)
{
    return mint_token(is->key, "ES256", "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"bench\"}",
                      claims);
}

void bench_issuer_close(bench_issuer *is)
{
    unlink(is->jwks_path);
    free(is->jwks_path);
    EVP_PKEY_free(is->key);
}

fhirpam_context *bench_open(const char *config_text)
{
    char *path = bench_write_temp(config_text);
    fhirpam_error err;
    fhirpam_context *ctx = fhirpam_open(path, BENCH_MODULES_DIR, &err);
    unlink(path);
    free(path);
    if (ctx == NULL) {
        fprintf(stderr, "bench: %s\n", err.text);
        exit(1);
    }
    return ctx;
}

fhirpam_request *bench_bearer_request(const char *token, long long now)
{
    fhirpam_request *req = fhirpam_request_new("GET", "Patient/123/Observation?code=8867-4");
    size_t n = strlen(token) + 8;
    char *header = malloc(n);
    if (req == NULL || header == NULL) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    snprintf(header, n, "Bearer %s", token);
    fhirpam_request_add_header(req, "Authorization", header);
    fhirpam_request_set_time(req, now);
    free(header);
    return req;
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    printf("| %-58s | %12s | %9s | %s |\n", "benchmark (one thread)", "decisions/s", "us each",
           "note");
    printf("|%s|%s|%s|%s|\n", "------------------------------------------------------------",
           "--------------", "-----------", "------");
    if (only == NULL || strcmp(only, "core") == 0)
        bench_core();
    if (only == NULL || strcmp(only, "token") == 0)
        bench_token();
    if (only == NULL || strcmp(only, "revocation") == 0)
        bench_revocation();
    if (only == NULL || strcmp(only, "scope") == 0)
        bench_scope();
    if (only == NULL || strcmp(only, "dpop") == 0)
        bench_dpop();
    if (only == NULL || strcmp(only, "consent") == 0)
        bench_consent();
    if (only == NULL || strcmp(only, "isolation") == 0)
        bench_isolation();
    if (only == NULL || strcmp(only, "audit") == 0)
        bench_audit();
    /* --- further parts register here --- */
    return 0;
}
