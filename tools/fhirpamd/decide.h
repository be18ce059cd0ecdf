/*
 * decide.h - one authorization request from a front end (nginx auth_request
 * or Envoy ext_authz) turned into a fhirpam request, decided, and turned into
 * the answer the front end acts on.
 */
#ifndef FHIRPAMD_DECIDE_H
#define FHIRPAMD_DECIDE_H

#include <fhirpam/fhirpam.h>
#include <microhttpd.h>
#include <stdbool.h>

#include "metrics.h"
#include "options.h"

typedef enum front_kind {
    FRONT_NGINX, /* X-Original-Method and X-Original-URI name the request */
    FRONT_ENVOY, /* the request itself, under the Envoy path prefix */
} front_kind;

/* What to answer. Strings are owned by the verdict (verdict_clear). */
typedef struct verdict {
    unsigned status;        /* 200 only for a permit fhirpamd can stand by */
    char *www_authenticate; /* or NULL */
    char *dpop_nonce;       /* or NULL */
    char code[32];          /* the final code, or fhirpamd's refusal word */
    char reason[64];        /* the reason word */
    char id[64];            /* the decision id, "" when fhirpam did not decide */
} verdict;

/* The inputs: the connection (for headers), which kind of front end, the
 * method and raw URI of the request fhirpamd received, and its body (the
 * whole of it: http.c refuses larger ones). Never fails: every error is a
 * deny verdict, and every deny is in the audit trail. Thread-safe. */
void decide(const options *o, fhirpam_context *ctx, struct MHD_Connection *conn, front_kind kind,
            const char *method, const char *raw_uri, const char *body, size_t body_len,
            verdict *out);

/* A refusal of fhirpamd's own, made without running a stack: recorded by
 * fhirpam like any decision (fhirpam_audit_host_refusal: the audit record
 * says the status answered) and counted in /metrics under `why`. stack and
 * req may be NULL; text is a sentence for the operator. *out is what to
 * answer: the recorded decision's status (500 if audit.required could not
 * record it). Thread-safe. */
void verdict_refuse(fhirpam_context *ctx, const char *stack, const fhirpam_request *req,
                    unsigned status, fhirpam_code code, const char *reason, const char *text,
                    metrics_refusal why, verdict *out);

void verdict_clear(verdict *v);

#endif
