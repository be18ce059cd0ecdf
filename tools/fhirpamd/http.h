/*
 * http.h - the HTTP side of fhirpamd on libmicrohttpd: a thread pool whose
 * workers answer /healthz, /metrics, the nginx auth_request endpoint and the
 * Envoy ext_authz prefix.
 */
#ifndef FHIRPAMD_HTTP_H
#define FHIRPAMD_HTTP_H

#include <fhirpam/fhirpam.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "options.h"

struct MHD_Daemon;

typedef struct server {
    const options *opt;
    fhirpam_context *ctx;
    struct MHD_Daemon *daemon;
    int quiesced_fd; /* the listening socket after server_quiesce, or -1 */
    atomic_bool draining;
    atomic_long in_flight;
} server;

/* Start listening and serving; *port receives the bound port. Returns 0, or
 * -1 after logging why. */
int server_start(server *s, const options *o, fhirpam_context *ctx, uint16_t *port);

/* Stop accepting connections; requests in flight (and those on open
 * keep-alive connections) are still answered, with "Connection: close". */
void server_quiesce(server *s);

/* Requests being answered now. */
long server_in_flight(server *s);

/* Stop the workers and close every connection. */
void server_stop(server *s);

#endif
