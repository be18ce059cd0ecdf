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

/* Each part's benchmarks; defined in bench_<part>.c. */
void bench_core(void);
void bench_token(void);

#endif
