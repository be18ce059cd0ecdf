/*
 * decide.c - see decide.h. Every path that is not a clean permit of fhirpam
 * ends in a deny: fail closed.
 */
#include "decide.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "body.h"
#include "hex.h"
#include "metrics.h"
#include "target.h"

#define MAX_METHOD 16

/* Headers fhirpamd consumes itself or that describe its own connection;
 * every other header of the request reaches fhirpam as it came. */
static const char *const own_headers[] = {"X-Original-Method",
                                          "X-Original-URI",
                                          "X-Original-Content-Length",
                                          "X-Original-Transfer-Encoding",
                                          "X-Envoy-Auth-Partial-Body",
                                          "Connection",
                                          "Content-Length",
                                          "Transfer-Encoding",
                                          NULL};

void verdict_refuse(fhirpam_context *ctx, const char *stack, const fhirpam_request *req,
                    unsigned status, fhirpam_code code, const char *reason, const char *text,
                    metrics_refusal why, verdict *v)
{
    metrics_refusal_add(why);
    fhirpam_decision *d =
        fhirpam_audit_host_refusal(ctx, stack, req, code, (int)status, reason, text);
    if (d == NULL) {
        /* Out of memory: nothing could be recorded; still a deny. */
        v->status = 500;
        snprintf(v->code, sizeof v->code, "error");
        snprintf(v->reason, sizeof v->reason, "out_of_memory");
        return;
    }
    const char *name = fhirpam_code_name(fhirpam_decision_code(d));
    int recorded = fhirpam_decision_http_status(d);
    v->status = recorded >= 400 && recorded <= 599 ? (unsigned)recorded : 500;
    snprintf(v->code, sizeof v->code, "%s", name ? name : "error");
    snprintf(v->reason, sizeof v->reason, "%s", fhirpam_decision_reason(d));
    snprintf(v->id, sizeof v->id, "%s", fhirpam_decision_id(d));
    fhirpam_decision_free(d);
}

/* The values of one header, counted; the first kept. A value with a NUL
 * byte counts as a repetition, so that it is refused. */
typedef struct header_probe {
    const char *name;
    const char *first;
    size_t count;
} header_probe;

static enum MHD_Result probe_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    (void)key_size;
    header_probe *p = cls;
    if (strcasecmp(key, p->name) != 0)
        return MHD_YES;
    if (p->count == 0)
        p->first = value;
    p->count++;
    if (value == NULL || strlen(value) != value_size)
        p->count = 2; /* a NUL inside: refused like a repetition */
    return MHD_YES;
}

/* Exactly one value of a trusted header: 1 and *value set; absent or empty:
 * 0; repeated (or with a NUL byte): -1. */
static int trusted_header(struct MHD_Connection *conn, const char *name, const char **value)
{
    header_probe p = {name, NULL, 0};
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, probe_header, &p);
    if (p.count > 1)
        return -1;
    if (p.count == 0 || p.first[0] == '\0')
        return 0;
    *value = p.first;
    return 1;
}

typedef struct copy_state {
    const options *o;
    fhirpam_request *req;
    int failed;
} copy_state;

static bool is_own_header(const options *o, const char *key)
{
    for (const char *const *h = own_headers; *h != NULL; h++) {
        if (strcasecmp(key, *h) == 0)
            return true;
    }
    if (o->client_cert_header != NULL && strcasecmp(key, o->client_cert_header) == 0)
        return true;
    for (size_t i = 0; i < o->ndevice_headers; i++) {
        if (strcasecmp(key, o->device_headers[i].header) == 0)
            return true;
    }
    return false;
}

static enum MHD_Result copy_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    copy_state *s = cls;
    if (is_own_header(s->o, key))
        return MHD_YES;
    if (value == NULL || strlen(key) != key_size || strlen(value) != value_size ||
        fhirpam_request_add_header(s->req, key, value) != 0) {
        s->failed = 1;
        return MHD_NO;
    }
    return MHD_YES;
}

/* %XX-decode text[0..len) into a new string; NULL on a bad escape or NUL. */
static char *url_decode(const char *text, size_t len, size_t *outlen)
{
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '%') {
            out[o++] = text[i];
            continue;
        }
        int hi = i + 2 < len ? hex_digit((unsigned char)text[i + 1]) : -1;
        int lo = i + 2 < len ? hex_digit((unsigned char)text[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* The client certificate from the trusted header: URL-escaped PEM (nginx
 * $ssl_client_escaped_cert), or Envoy's x-forwarded-client-cert, whose one
 * element's Cert="..." field is URL-escaped PEM. Returns 0 (set or absent)
 * or -1 (malformed: refused). */
static int add_client_cert(fhirpam_request *req, const char *value)
{
    const char *pem = value;
    size_t len = strlen(value);
    if (strncmp(value, "-----BEGIN", 10) != 0 && strncmp(value, "%2D", 3) != 0 &&
        strncmp(value, "%2d", 3) != 0) {
        /* XFCC (Envoy): exactly one element with exactly one Cert field. */
        if (strchr(value, ',') != NULL)
            return -1;
        const char *field = NULL;
        for (const char *p = value; (p = strstr(p, "Cert=\"")) != NULL; p++) {
            if (p != value && p[-1] != ';')
                continue;
            if (field != NULL)
                return -1;
            field = p + 6;
        }
        const char *end = field ? strchr(field, '"') : NULL;
        if (end == NULL)
            return -1;
        pem = field;
        len = (size_t)(end - field);
    }
    size_t n;
    char *decoded = url_decode(pem, len, &n);
    if (decoded == NULL)
        return -1;
    int rc = strncmp(decoded, "-----BEGIN CERTIFICATE-----", 27) == 0
                 ? fhirpam_request_set_client_cert_pem(req, decoded, n)
                 : -1;
    free(decoded);
    return rc;
}

static bool method_ok(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n > MAX_METHOD)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (m[i] < 'A' || m[i] > 'Z')
            return false;
    }
    return true;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void refuse_bad_header(fhirpam_context *ctx, const char *stack, const char *reason,
                              const char *header, verdict *v)
{
    char text[160];
    snprintf(text, sizeof text, "%s is repeated, malformed or holds a NUL byte", header);
    verdict_refuse(ctx, stack, NULL, 400, FHIRPAM_INVALID_REQUEST, reason, text, REFUSE_BAD_REQUEST,
                   v);
}

static void refuse_out_of_memory(fhirpam_context *ctx, const char *stack, verdict *v)
{
    verdict_refuse(ctx, stack, NULL, 500, FHIRPAM_ERROR, "out_of_memory",
                   "fhirpamd ran out of memory building the request", REFUSE_INTERNAL, v);
}

/* The fhirpam request with the trusted front end's facts; NULL with v set. */
static fhirpam_request *build_request(const options *o, fhirpam_context *ctx,
                                      struct MHD_Connection *conn, const char *stack,
                                      const char *method, const char *rel, const char *body,
                                      size_t body_len, verdict *v)
{
    fhirpam_request *req = fhirpam_request_new(method, rel);
    if (req == NULL) {
        refuse_out_of_memory(ctx, stack, v);
        return NULL;
    }
    copy_state cs = {o, req, 0};
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, copy_header, &cs);
    if (cs.failed) {
        refuse_bad_header(ctx, stack, "bad_header", "a header", v);
        goto fail;
    }
    const char *value = NULL;
    if (o->client_cert_header != NULL) {
        int n = trusted_header(conn, o->client_cert_header, &value);
        if (n < 0 || (n == 1 && add_client_cert(req, value) != 0)) {
            refuse_bad_header(ctx, stack, "bad_client_cert_header", o->client_cert_header, v);
            goto fail;
        }
    }
    for (size_t i = 0; i < o->ndevice_headers; i++) {
        int n = trusted_header(conn, o->device_headers[i].header, &value);
        if (n < 0 || (n == 1 && fhirpam_request_add_device_attr(req, o->device_headers[i].attr,
                                                                value) != 0)) {
            refuse_bad_header(ctx, stack, "bad_device_header", o->device_headers[i].header, v);
            goto fail;
        }
    }
    if (body_len > 0 && fhirpam_request_set_body(req, body, body_len) != 0) {
        refuse_out_of_memory(ctx, stack, v);
        goto fail;
    }
    /* A gateway check never sees the response: a permit with obligations
     * is a deny, decided and audited as one by the core. */
    fhirpam_request_set_flags(req, FHIRPAM_REQUEST_NO_RESPONSE_CHECK);
    return req;
fail:
    fhirpam_request_free(req);
    return NULL;
}

/* What the front end says of the original request's body, and how much of
 * it came with the check. Returns 0, or -1 with v set (a malformed or
 * repeated header). */
static int read_body_facts(fhirpam_context *ctx, struct MHD_Connection *conn, front_kind kind,
                           const char *stack, size_t body_len, body_presence *presence,
                           body_view *view, verdict *v)
{
    const char *a = NULL, *b = NULL;
    if (kind == FRONT_NGINX) {
        /* auth_request never passes the body: what the site reports of
         * the client's framing is all there is (etc/nginx-fhirpam.conf). */
        if (trusted_header(conn, "X-Original-Content-Length", &a) < 0 ||
            trusted_header(conn, "X-Original-Transfer-Encoding", &b) < 0) {
            refuse_bad_header(ctx, stack, "bad_header", "X-Original-Content-Length or -Encoding",
                              v);
            return -1;
        }
        *presence = body_framing_of(a, b, false).presence;
        *view = BODY_VIEW_NONE;
        return 0;
    }
    /* Envoy marks every body it buffered (with_request_body) with
     * x-envoy-auth-partial-body, "true" when it cut it (allow_partial_message),
     * and drops a client's own header of that name. Without the header a
     * body that came is whole; no body and no header says nothing. */
    int n = trusted_header(conn, "X-Envoy-Auth-Partial-Body", &a);
    if (n < 0 || (n == 1 && strcmp(a, "true") != 0 && strcmp(a, "false") != 0)) {
        refuse_bad_header(ctx, stack, "bad_header", "x-envoy-auth-partial-body", v);
        return -1;
    }
    if (n == 1 && strcmp(a, "true") == 0) {
        *presence = BODY_PRESENT;
        *view = BODY_VIEW_PARTIAL;
    } else if (n == 1 || body_len > 0) {
        *presence = body_len > 0 ? BODY_PRESENT : BODY_NONE;
        *view = BODY_VIEW_WHOLE;
    } else {
        *presence = BODY_UNKNOWN;
        *view = BODY_VIEW_NONE;
    }
    return 0;
}

static void take_decision(const fhirpam_decision *d, verdict *v)
{
    const char *code = fhirpam_code_name(fhirpam_decision_code(d));
    snprintf(v->code, sizeof v->code, "%s", code ? code : "error");
    snprintf(v->reason, sizeof v->reason, "%s", fhirpam_decision_reason(d));
    snprintf(v->id, sizeof v->id, "%s", fhirpam_decision_id(d));
    const char *nonce = fhirpam_decision_dpop_nonce(d);
    if (nonce != NULL)
        v->dpop_nonce = strdup(nonce);
    if (fhirpam_decision_permitted(d)) {
        /* FHIRPAM_REQUEST_NO_RESPONSE_CHECK makes the core deny a permit
         * with obligations, so this one has none; should a library ever
         * return one, it is not stood by. */
        v->status = fhirpam_decision_obligation_count(d) == 0 ? 200 : 500;
        return;
    }
    if (strcmp(v->reason, "obligations_unenforceable") == 0)
        metrics_refusal_add(REFUSE_OBLIGATIONS);
    int status = fhirpam_decision_http_status(d);
    v->status = status >= 400 && status <= 599 ? (unsigned)status : 403;
    const char *www = fhirpam_decision_www_authenticate(d);
    if (www != NULL)
        v->www_authenticate = strdup(www);
}

void decide(const options *o, fhirpam_context *ctx, struct MHD_Connection *conn, front_kind kind,
            const char *method, const char *raw_uri, const char *body, size_t body_len, verdict *v)
{
    memset(v, 0, sizeof *v);
    const char *orig_method = method, *orig_uri = raw_uri;
    if (kind == FRONT_NGINX) {
        /* The front end's own request to us says nothing: the original one
         * is in two headers it must set exactly once. A missing header is a
         * front-end configuration error: 500. */
        if (trusted_header(conn, "X-Original-Method", &orig_method) != 1 ||
            trusted_header(conn, "X-Original-URI", &orig_uri) != 1) {
            verdict_refuse(ctx, NULL, NULL, 500, FHIRPAM_ERROR, "missing_original_request",
                           "the nginx endpoint needs X-Original-Method and X-Original-URI, "
                           "each exactly once (etc/nginx-fhirpam.conf)",
                           REFUSE_BAD_REQUEST, v);
            return;
        }
    } else {
        orig_uri = raw_uri + strlen(o->envoy_prefix);
    }
    if (!method_ok(orig_method)) {
        verdict_refuse(ctx, NULL, NULL, 403, FHIRPAM_INVALID_REQUEST, "bad_method",
                       "the original method is not 1 to 16 upper-case letters", REFUSE_BAD_REQUEST,
                       v);
        return;
    }
    char *rel = NULL;
    const route *r = NULL;
    int no_route = 0;
    if (target_resolve(o, orig_uri, &rel, &r, &no_route) != 0) {
        if (no_route)
            verdict_refuse(ctx, NULL, NULL, 403, FHIRPAM_DENY, "no_route",
                           "the path is outside --base or under no --route", REFUSE_NO_ROUTE, v);
        else
            verdict_refuse(ctx, NULL, NULL, 403, FHIRPAM_INVALID_REQUEST, "uri_refused",
                           "the gateway and fhirpam could read this URI differently (a dot or "
                           "empty segment, percent-encoding in the path, a backslash, a control "
                           "or non-ASCII byte, a fragment)",
                           REFUSE_BAD_REQUEST, v);
        return;
    }
    body_presence presence;
    body_view view;
    if (read_body_facts(ctx, conn, kind, r->stack, body_len, &presence, &view, v) != 0) {
        free(rel);
        return;
    }
    fhirpam_request *req = build_request(o, ctx, conn, r->stack, orig_method, rel, body,
                                         view == BODY_VIEW_WHOLE ? body_len : 0, v);
    free(rel);
    if (req == NULL)
        return;
    const body_refusal *unjudged = body_judge(orig_method, presence, view, kind == FRONT_ENVOY);
    if (unjudged != NULL) {
        verdict_refuse(ctx, r->stack, req, unjudged->status, unjudged->code, unjudged->reason,
                       unjudged->text, REFUSE_BODY, v);
        fhirpam_request_free(req);
        return;
    }
    uint64_t t0 = now_us();
    fhirpam_decision *d = fhirpam_authorize(ctx, r->stack, req);
    uint64_t took = now_us() - t0;
    fhirpam_request_free(req);
    if (d == NULL) {
        refuse_out_of_memory(ctx, r->stack, v);
        return;
    }
    const char *code = fhirpam_code_name(fhirpam_decision_code(d));
    metrics_decision(r->stack, code ? code : "error", fhirpam_decision_module(d), took);
    take_decision(d, v);
    fhirpam_decision_free(d);
}

void verdict_clear(verdict *v)
{
    free(v->www_authenticate);
    free(v->dpop_nonce);
    v->www_authenticate = NULL;
    v->dpop_nonce = NULL;
}
