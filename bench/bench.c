/*
 * bench.c - ./dev bench: decisions per second, one core, printed as a table.
 * No pass/fail here: targets are read off the table (tests never assert
 * timings; the machines are shared and noisy).
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

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
    /* --- further parts register here --- */
    return 0;
}
