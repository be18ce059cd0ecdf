/*
 * metrics.h - counters for /metrics, in the Prometheus text format (0.0.4).
 * Every function is thread-safe.
 */
#ifndef FHIRPAMD_METRICS_H
#define FHIRPAMD_METRICS_H

#include <fhirpam/fhirpam.h>
#include <stddef.h>
#include <stdint.h>

/* Why fhirpamd answered without (or despite) a fhirpam decision. */
typedef enum metrics_refusal {
    REFUSE_UNTRUSTED_PEER, /* the peer is not a trusted front end */
    REFUSE_BAD_REQUEST,    /* missing/repeated trusted headers, a URI it cannot map */
    REFUSE_NO_ROUTE,       /* the path is outside the base or matches no route */
    REFUSE_BODY_TOO_LARGE, /* over --max-body-bytes */
    REFUSE_OBLIGATIONS,    /* a permit with obligations a gateway cannot enforce */
    REFUSE_INTERNAL,       /* out of memory: fhirpam returned NULL */
    REFUSE_BODY,           /* a body fhirpamd did not see whole, or one with no meaning */
    REFUSE_TIMEOUT,        /* the request did not arrive within --request-timeout */
    REFUSE_COUNT
} metrics_refusal;

int metrics_init(void);
void metrics_free(void);

/* One decision of fhirpam on `stack` with its final code, deciding module and
 * the time fhirpam_authorize took. */
void metrics_decision(const char *stack, const char *code, const char *module,
                      uint64_t microseconds);
void metrics_refusal_add(metrics_refusal why);
/* One HTTP answer of a decision endpoint. */
void metrics_response(unsigned status);
void metrics_reload(int ok);
void metrics_in_flight(int delta);

/* The whole exposition, newly allocated (free()), or NULL when out of
 * memory. cache_hits/cache_entries are the current configuration's
 * verified-token cache (reset by a reload); the modules' data sources (the
 * deny list) are read from ctx. */
char *metrics_render(fhirpam_context *ctx, uint64_t cache_hits, size_t cache_entries, size_t *len);

#endif
