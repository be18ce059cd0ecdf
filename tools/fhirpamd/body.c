/*
 * body.c - see body.h.
 */
#include "body.h"

#include <string.h>

body_framing body_framing_of(const char *content_length, const char *transfer_encoding,
                             bool neither_means_none)
{
    body_framing f = {BODY_PRESENT, false, 0};
    if (transfer_encoding != NULL && transfer_encoding[0] != '\0')
        return f; /* RFC 9112 §6.3: Transfer-Encoding overrides Content-Length */
    if (content_length == NULL || content_length[0] == '\0') {
        f.presence = neither_means_none ? BODY_NONE : BODY_UNKNOWN;
        return f;
    }
    uint64_t n = 0;
    for (const char *c = content_length; *c != '\0'; c++) {
        if (*c < '0' || *c > '9' || n > (UINT64_MAX - 9) / 10)
            return f; /* not 1*DIGIT, or absurd: a body of unknown length */
        n = n * 10 + (uint64_t)(*c - '0');
    }
    f.presence = n > 0 ? BODY_PRESENT : BODY_NONE;
    f.length_known = true;
    f.length = n;
    return f;
}

/* RFC 9110 §9.3: the methods whose content has no defined semantics. */
static bool method_ignores_body(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
           strcmp(method, "DELETE") == 0;
}

static const body_refusal not_allowed = {
    403, FHIRPAM_INVALID_REQUEST, "body_not_allowed",
    "a GET, HEAD or DELETE with a body: it has no defined meaning (RFC 9110 section 9.3), and a "
    "server that reads it anyway would act on what was not judged"};

static const body_refusal nginx_not_seen = {
    403, FHIRPAM_DENY, "body_not_seen",
    "the request has a body that its meaning depends on, and nginx auth_request never passes "
    "request bodies: judge it through Envoy ext_authz with with_request_body, or with the fhirpam "
    "nginx module"};

static const body_refusal nginx_unknown = {
    403, FHIRPAM_DENY, "body_unknown",
    "the gateway did not say whether the request has a body (X-Original-Content-Length, "
    "X-Original-Transfer-Encoding: see etc/nginx-fhirpam.conf), so it is taken to have one, which "
    "auth_request never passes: judge it through Envoy ext_authz with with_request_body, or with "
    "the fhirpam nginx module"};

static const body_refusal envoy_partial = {
    403, FHIRPAM_DENY, "body_partial",
    "Envoy passed only the start of the body (x-envoy-auth-partial-body: true): raise "
    "with_request_body.max_request_bytes to fhirpamd's --max-body-bytes and set "
    "allow_partial_message: false"};

static const body_refusal envoy_unknown = {
    403, FHIRPAM_DENY, "body_unknown",
    "Envoy passed no body and did not say that the request has none, so it is taken to have "
    "one: configure ext_authz with with_request_body (Envoy then marks every body it passes "
    "with x-envoy-auth-partial-body)"};

const body_refusal *body_judge(const char *method, body_presence presence, body_view view,
                               bool envoy)
{
    if (method_ignores_body(method))
        return presence == BODY_PRESENT ? &not_allowed : NULL;
    if (presence == BODY_NONE || view == BODY_VIEW_WHOLE)
        return NULL;
    if (view == BODY_VIEW_PARTIAL)
        return &envoy_partial;
    if (presence == BODY_UNKNOWN)
        return envoy ? &envoy_unknown : &nginx_unknown;
    return envoy ? &envoy_unknown : &nginx_not_seen;
}
