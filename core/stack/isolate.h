/*
 * isolate.h - running a module in worker processes (`isolation = "process"`
 * on its stack line), for modules a deployment does not trust to be fast or
 * correct: a vendor's .so.
 *
 * What it buys: a module that faults takes down its worker, not the host
 * (the call is `error`, reason module_crashed, and a new worker starts on
 * the next call); a module that overruns its budget is stopped at it (the
 * worker is killed; the call is `unavailable`, reason deadline_exceeded),
 * so the request is answered on time. What it costs: one round trip over a
 * socket pair per call, the request sent and the answer read back (the
 * `isolation:` row of ./dev bench). It is fault isolation, not a sandbox:
 * the worker runs as the host's user, with the host's environment.
 *
 * The worker is the program tools/fhirpam-worker.c (the configuration's
 * `worker`, a trusted file like a module), started with posix_spawn from
 * its checked descriptor. It opens the module from the host's sealed copy
 * (inherited as a descriptor), reads the line's arguments from the
 * configuration text the host read, checks them and calls open(); then it
 * answers calls, one at a time, through the same SDK functions: the
 * request, the verified claims, and the attributes earlier modules left
 * travel with each call, and what the module set (code, reason,
 * challenges, attributes, obligations) comes back and is applied through
 * the SDK's own checks. Per-token data does not survive between calls.
 */
#ifndef FHIRPAM_CORE_ISOLATE_H
#define FHIRPAM_CORE_ISOLATE_H

#include <fhirpam/module.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct isolated_pool;

typedef struct isolate_spec {
    int worker_fd; /* the worker program, opened with trusted_open */
    int image_fd;  /* the module's sealed copy */
    const char *config_path;
    const char *config_text; /* what the host read from config_path */
    size_t config_len;
    const char *stack; /* the line: stack name and 0-based index */
    size_t index;
    const char *module;    /* as the configuration names it */
    const char *fhir_base; /* may be NULL */
    unsigned workers;      /* at most this many processes */
} isolate_spec;

/* A pool for one stack line, with one worker started and its open() done.
 * NULL with a "file:line: message" in why when the worker could not start
 * or the module refused to load or open (the worker's own message). The
 * descriptors in spec are duplicated; the strings copied. */
struct isolated_pool *isolated_pool_new(const isolate_spec *spec, char *why, size_t whylen);

/* Run the module on az in a free worker (starting one when none is free
 * and fewer than `workers` run), answering by deadline_us (monotonic
 * microseconds): the module's code with what it set applied to az, or
 * `unavailable` (*stopped set: the budget passed, its worker was killed)
 * or `error` (the worker died or answered nonsense), with a reason.
 * Thread-safe. */
fhirpam_code isolated_call(struct isolated_pool *pool, struct fhirpam_authz *az,
                           uint64_t deadline_us, uint64_t budget_us, bool *stopped);

/* Stop every worker (each closes its instance first when it can, within a
 * second) and free the pool. No call may be in flight. */
void isolated_pool_free(struct isolated_pool *pool);

/* The worker's side: serve the host on socket `sock` with the module image
 * on `image_fd`, until the host closes the socket. Returns the exit status
 * (tools/fhirpam-worker.c). */
int isolate_serve(int sock, int image_fd);

#endif
