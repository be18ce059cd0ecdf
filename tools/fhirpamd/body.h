/*
 * body.h - what fhirpamd knows of the original request's body, and whether
 * fhirpam can judge the request with it (issue 26).
 *
 * A gateway check never carries more than the gateway passed: nginx's
 * auth_request passes no body at all, Envoy's ext_authz the first
 * max_request_bytes of it (with_request_body). fhirpam judges a request on
 * what it is given, so a request whose meaning depends on a body fhirpamd
 * did not see whole must be refused, never judged on its URL alone.
 */
#ifndef FHIRPAMD_BODY_H
#define FHIRPAMD_BODY_H

#include <fhirpam/fhirpam.h>
#include <stdbool.h>
#include <stdint.h>

/* Whether a request has a body. */
typedef enum body_presence {
    BODY_NONE,    /* it has none */
    BODY_PRESENT, /* it has one (its length may be unknown: chunked) */
    BODY_UNKNOWN, /* nothing says: treated as having one */
} body_presence;

/* How much of the body the front end passed to fhirpamd. */
typedef enum body_view {
    BODY_VIEW_NONE,    /* none of it (auth_request; ext_authz without with_request_body) */
    BODY_VIEW_WHOLE,   /* all of it */
    BODY_VIEW_PARTIAL, /* the first part (Envoy: x-envoy-auth-partial-body: true) */
} body_view;

typedef struct body_framing {
    body_presence presence;
    bool length_known;
    uint64_t length; /* when length_known */
} body_framing;

/*
 * The body of a request from its Content-Length and Transfer-Encoding values
 * (NULL or "" when absent; RFC 9112 §6.3). Any Transfer-Encoding is a body of
 * unknown length; a Content-Length that is not 1*DIGIT (RFC 9110 §8.6: a
 * list, a sign, spaces) is a body of unknown length too (fail closed).
 * With neither, an HTTP/1.1 request has no body (§6.3, last rule): pass
 * neither_means_none. A gateway's report of the original request, which may
 * have come over HTTP/2 or HTTP/3 (where the body is framed outside the
 * headers), or from a gateway that does not report at all, says nothing:
 * BODY_UNKNOWN.
 */
body_framing body_framing_of(const char *content_length, const char *transfer_encoding,
                             bool neither_means_none);

/* What a refusal answers and records. */
typedef struct body_refusal {
    unsigned status;
    fhirpam_code code;
    const char *reason; /* the machine word */
    const char *text;   /* what to change, for the operator */
} body_refusal;

/*
 * NULL when fhirpam can judge a request of `method` whose body is `presence`
 * and of which the front end passed `view`; else the refusal. `envoy` says
 * which front end asked (the refusal names the set-up that can judge it).
 *
 * GET, HEAD and DELETE: a body has no defined meaning (RFC 9110 §9.3.1,
 * §9.3.2, §9.3.5) and HAPI reads none, but a servlet container set to parse
 * form bodies for other methods would hand one to HAPI as parameters: a body
 * the front end reports is refused (body_not_allowed); one it cannot report
 * cannot change what the request means, and the request is judged on its URL.
 * Every other method (POST _search forms, creates, updates, patches, bundles,
 * operations with a body; and any method fhirpam does not know) reads its
 * body: it is judged only when it has none or the whole body was passed.
 */
const body_refusal *body_judge(const char *method, body_presence presence, body_view view,
                               bool envoy);

#endif
