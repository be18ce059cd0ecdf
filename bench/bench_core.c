/*
 * bench_core.c - the core alone: a request without a token through a
 * one-line debug stack (the floor every other row builds on).
 */
#include <fhirpam/fhirpam.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

void bench_core(void)
{
    bench_case c;
    c.ctx = bench_open("stacks: { s = { token = \"none\"; lines = ( { control = \"required\"; "
                       "module = \"debug\"; } ); }; };");
    c.req = fhirpam_request_new("GET", "Patient/123/Observation?code=8867-4&_count=10");
    double rate = bench_best_rate(bench_permit, &c);
    bench_row("core: no token, 1-line debug stack", rate, 1.0, "audit none");
    fhirpam_request_free(c.req);
    fhirpam_close(c.ctx);

    c.ctx = bench_open(
        "stacks: { s = { token = \"none\"; lines = ( "
        "{ control = \"requisite\"; module = \"debug\"; },"
        "{ control = \"required\"; module = \"debug\"; },"
        "{ control = \"optional\"; module = \"debug\"; args = { result = \"ignore\"; }; },"
        "{ control = \"[success=ok unavailable=ignore default=bad]\"; module = \"debug\"; },"
        "{ control = \"required\"; module = \"debug\"; },"
        "{ control = \"sufficient\"; module = \"debug\"; } ); }; };");
    c.req = fhirpam_request_new("GET", "Patient/123/Observation?code=8867-4&_count=10");
    rate = bench_best_rate(bench_permit, &c);
    bench_row("core: no token, 6-line debug stack", rate, 1.0, "audit none");
    fhirpam_request_free(c.req);
    fhirpam_close(c.ctx);
}
