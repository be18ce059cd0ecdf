/*
 * host.c - the smallest complete host program: load a configuration, build
 * one request, authorize it, act on the decision.
 *
 *   cc host.c $(pkg-config --cflags --libs fhirpam) -o host
 *   ./host /etc/fhirpam/fhirpam.conf public GET metadata
 */
#include <fhirpam/fhirpam.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s CONFIG STACK METHOD URL [BEARER-TOKEN] [MODULES-DIR]\n",
                argv[0]);
        return 1;
    }
    fhirpam_error err;
    fhirpam_context *ctx = fhirpam_open(argv[1], argc > 6 ? argv[6] : NULL, &err);
    if (ctx == NULL) {
        fprintf(stderr, "%s\n", err.text);
        return 1;
    }

    fhirpam_request *req = fhirpam_request_new(argv[3], argv[4]);
    if (req == NULL) {
        fhirpam_close(ctx);
        return 1;
    }
    if (argc > 5 && argv[5][0] != '\0') {
        char header[8192];
        snprintf(header, sizeof header, "Bearer %s", argv[5]);
        fhirpam_request_add_header(req, "Authorization", header);
    }

    /* One call per request; the context may be shared by many threads. */
    fhirpam_decision *d = fhirpam_authorize(ctx, argv[2], req);
    int status;
    if (d != NULL && fhirpam_decision_permitted(d) && fhirpam_decision_obligation_count(d) == 0) {
        printf("permit\n");
        status = 0;
    } else if (d != NULL && fhirpam_decision_permitted(d)) {
        /* A server would pass its response body to fhirpam_check_response()
         * and send what it allows; this program has no response to check, so
         * a conditional permit is refused, as any host that cannot check. */
        printf("deny 403 (obligations on the response this program cannot check)\n");
        status = 2;
    } else {
        /* A NULL decision (out of memory) is a deny like any other. */
        const char *challenge = d ? fhirpam_decision_www_authenticate(d) : NULL;
        printf("deny %d %s (%s: %s)%s%s\n", d ? fhirpam_decision_http_status(d) : 500,
               d ? fhirpam_code_name(fhirpam_decision_code(d)) : "error",
               d ? fhirpam_decision_reason(d) : "out_of_memory",
               d ? fhirpam_decision_reason_text(d) : "", challenge ? " WWW-Authenticate: " : "",
               challenge ? challenge : "");
        status = 2;
    }
    fhirpam_decision_free(d);
    fhirpam_request_free(req);
    fhirpam_close(ctx);
    return status;
}
