/*
 * bench.h - the benchmark table of ./dev bench. Each bench_*.c file measures
 * one part and prints rows; bench.c runs them all.
 */
#ifndef FHIRPAM_BENCH_H
#define FHIRPAM_BENCH_H

#include <stddef.h>

/* Seconds on the monotonic clock. */
double bench_now(void);

/* Print one row: what was measured, how many operations in how many seconds,
 * and a note (e.g. the ratio to raw OpenSSL measured in the same run). */
void bench_row(const char *name, double ops, double seconds, const char *note);

/* Run fn(arg) in a loop for about `seconds` (after a short warm-up) and
 * return operations per second. */
double bench_rate(void (*fn)(void *arg), void *arg, double seconds);

/* The best of five 0.3 s rounds of bench_rate: on a shared machine the
 * best round is the one least disturbed by neighbours. */
double bench_best_rate(void (*fn)(void *arg), void *arg);

/* A temporary file holding text (mode 0600); the caller unlinks and frees
 * the returned path. Exits on failure. */
char *bench_write_temp(const char *text);
/* A new directory, $TMPDIR/fhirpam-bench-NAME-XXXXXX, into dir; exits on failure. */
void bench_temp_dir(char *dir, size_t len, const char *name);

/* A context for the config text, modules from the build tree. Exits on
 * failure. */
struct fhirpam_context;
struct fhirpam_context *bench_open(const char *config_text);

/* GET Patient/123/Observation?code=8867-4 with `Authorization: Bearer
 * token`, evaluated at time now. */
struct fhirpam_request;
struct fhirpam_request *bench_bearer_request(const char *token, long long now);

/* A request authorized again and again on stack "s" (bench_permit exits
 * the benchmark if it is ever denied: a row must measure permits). */
typedef struct bench_case {
    struct fhirpam_context *ctx;
    struct fhirpam_request *req;
} bench_case;
void bench_permit(void *bench_case_arg);

/* The token issuer of a benchmark: an ES256 key with kid "bench" whose key
 * set is in a temporary file (jwks_path, for the config's token.jwks). */
typedef struct bench_issuer {
    struct evp_pkey_st *key;
    char *jwks_path;
} bench_issuer;
bench_issuer bench_issuer_open(void);
/* A token with these claims, typ at+jwt; the caller frees it. */
char *bench_issuer_token(const bench_issuer *is, const char *claims);
/* Removes the key set file and frees the key. */
void bench_issuer_close(bench_issuer *is);

/* Each part's benchmarks; defined in bench_<part>.c. */
void bench_core(void);
void bench_isolation(void);
void bench_token(void);
void bench_revocation(void);
void bench_scope(void);
void bench_dpop(void);
void bench_consent(void);
void bench_audit(void);

#endif
