/*
 * ngx_http_fhirpam_access.c - the access phase handler: every request of a
 * location with `fhirpam_stack NAME` is decided by fhirpam in the worker,
 * with no subrequest and no connection to anything for the decision itself.
 *
 * One request goes through these steps, the handler being called again
 * after each one that waits (nginx's phase engine re-runs it):
 *
 *   1. the request target, read strictly (../gateway/strict_uri.h) and
 *      mapped to a URL relative to fhirpam_base;
 *   2. the body, when there is one: read whole, bounded by fhirpam_max_body
 *      (413 above it), also from nginx's temp file, never skipped; a body
 *      on a method that carries none in FHIR is refused (400);
 *   3. for a write by id (PUT, PATCH, DELETE Type/id): the stored resource,
 *      read from the same location by an in-memory GET subrequest, so that
 *      the library knows whose it is; no answer, a missing resource or an
 *      upstream error is a deny with a reason;
 *   4. the decision: fhirpam_authorize() with the headers, the body, the
 *      stored resource, the client certificate of nginx's own TLS
 *      connection (verified by nginx, never from a header) and the device
 *      attributes; a deny is answered here with the decision's status,
 *      WWW-Authenticate, DPoP-Nonce and a FHIR OperationOutcome; a permit
 *      with obligations leaves the response to ngx_http_fhirpam_filter.c.
 */
#include "ngx_http_fhirpam.h"

#include "strict_uri.h"

#define MAX_METHOD 16

/* ---- refusals ---- */

/* Answers r with a refusal and ends it; the handler returns NGX_DONE. */
static ngx_int_t respond(ngx_http_request_t *r, ngx_http_fhirpam_ctx_t *ctx, ngx_uint_t status)
{
    ctx->decided = 1;
    if (!ctx->body_read) {
        /* A body never read is discarded (keep-alive stays possible); no
         * "100 Continue" invites it. */
        r->expect_tested = 1;
        ngx_int_t rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            ngx_http_finalize_request(r, rc);
            return NGX_DONE;
        }
    }
    ngx_buf_t *b = ngx_http_fhirpam_outcome(r, status, ctx);
    if (b == NULL || ngx_http_fhirpam_refusal_headers(r, status, ctx, b) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }
    ngx_int_t rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }
    ngx_chain_t out = {b, NULL};
    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));
    return NGX_DONE;
}

static ngx_int_t refuse(ngx_http_request_t *r, ngx_http_fhirpam_ctx_t *ctx, ngx_uint_t status,
                        const char *code, const char *reason, const char *text)
{
    ngx_http_fhirpam_set_refusal(ctx, code, reason, text);
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "fhirpam: refused %ui %s: %s", status,
                  reason, text);
    return respond(r, ctx, status);
}

/* ---- the request target ---- */

typedef struct {
    char *url;     /* what fhirpam evaluates (relative, or absolute with public_origin) */
    ngx_str_t rel; /* the path below fhirpam_base, without the query */
} target;

/* 0, or -1 with the refusal already sent (*rc set). */
static int resolve_target(ngx_http_request_t *r, ngx_http_fhirpam_loc_conf_t *lcf,
                          ngx_http_fhirpam_ctx_t *ctx, target *t, ngx_int_t *rc)
{
    u_char *raw = r->unparsed_uri.data;
    size_t len = r->unparsed_uri.len;
    u_char *q = ngx_strlchr(raw, raw + len, '?');
    size_t path_len = q ? (size_t)(q - raw) : len;
    size_t query_len = len - path_len; /* with the '?' */
    char *path = ngx_pnalloc(r->pool, path_len + 1);
    size_t plen = 0;
    if (path == NULL) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return -1;
    }
    if (strict_uri_path_copy((const char *)raw, path_len, path, &plen) != 0 ||
        (q != NULL && strict_uri_query_check((const char *)q, query_len) != 0)) {
        *rc = refuse(r, ctx, NGX_HTTP_BAD_REQUEST, "invalid_request", "uri_refused",
                     "the request URI could be read differently by nginx and fhirpam (dot or "
                     "empty segments, percent-encoding in the path, control bytes)");
        return -1;
    }
    const ngx_str_t *base = &lcf->base;
    const char *rel;
    if (plen >= base->len && ngx_strncmp(path, base->data, base->len) == 0)
        rel = path + base->len;
    else if (plen + 1 == base->len && ngx_strncmp(path, base->data, plen) == 0)
        rel = path + plen; /* the base itself, without its slash */
    else {
        *rc = refuse(r, ctx, NGX_HTTP_FORBIDDEN, "deny", "outside_base",
                     "the request path is not under fhirpam_base");
        return -1;
    }
    t->rel.data = (u_char *)rel;
    t->rel.len = plen - (size_t)(rel - path);
    const ngx_str_t *origin = &lcf->public_origin;
    /* With a public origin, the URL clients used, as DPoP's htu names it
     * (RFC 9449 §4.3): the origin they see and the path they sent. */
    size_t n = origin->len + (origin->len ? plen : t->rel.len) + query_len + 1;
    t->url = ngx_pnalloc(r->pool, n);
    if (t->url == NULL) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return -1;
    }
    u_char *p = (u_char *)t->url;
    if (origin->len) {
        p = ngx_cpymem(p, origin->data, origin->len);
        p = ngx_cpymem(p, path, plen);
    } else {
        p = ngx_cpymem(p, t->rel.data, t->rel.len);
    }
    p = ngx_cpymem(p, q ? q : (u_char *)"", query_len);
    *p = '\0';
    return 0;
}

/* PUT, PATCH or DELETE of Type/id: the library needs the stored resource to
 * know whose it is (patient_link), and a response check would come after
 * the write. Type as FHIR names resource types, id as FHIR ids (R4
 * datatypes §2.24.0.1: [A-Za-z0-9\-\.]{1,64}). */
static int write_by_id(ngx_http_request_t *r, const ngx_str_t *rel)
{
    if (!(r->method & (NGX_HTTP_PUT | NGX_HTTP_PATCH | NGX_HTTP_DELETE)))
        return 0;
    u_char *slash = ngx_strlchr(rel->data, rel->data + rel->len, '/');
    if (slash == NULL || slash == rel->data || rel->data[0] < 'A' || rel->data[0] > 'Z')
        return 0;
    for (u_char *p = rel->data; p < slash; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
            return 0;
    }
    size_t idlen = (size_t)(rel->data + rel->len - slash - 1);
    if (idlen == 0 || idlen > 64)
        return 0;
    for (u_char *p = slash + 1; p < rel->data + rel->len; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.'))
            return 0;
    }
    return 1;
}

/* ---- the body ---- */

static void body_read(ngx_http_request_t *r)
{
    ngx_http_fhirpam_ctx_t *ctx = ngx_http_fhirpam_get_ctx(r);
    if (ctx != NULL) {
        ctx->reading_body = 0;
        ctx->body_read = 1;
    }
    /* The upstream sends the same body on (a retry included). */
    r->preserve_body = 1;
    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}

/* The whole body in one buffer, from memory and from nginx's temp file.
 * NGX_OK, NGX_DECLINED when it is larger than max, or NGX_ERROR. */
static ngx_int_t collect_body(ngx_http_request_t *r, size_t max, ngx_str_t *out)
{
    ngx_http_request_body_t *rb = r->request_body;
    size_t len = 0;
    out->len = 0;
    out->data = NULL;
    if (rb == NULL)
        return NGX_OK;
    for (ngx_chain_t *cl = rb->bufs; cl != NULL; cl = cl->next) {
        ngx_buf_t *b = cl->buf;
        off_t n = b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
        if (n < 0 || (size_t)n > max - len)
            return NGX_DECLINED;
        len += (size_t)n;
    }
    if (len == 0)
        return NGX_OK;
    u_char *p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL)
        return NGX_ERROR;
    out->data = p;
    for (ngx_chain_t *cl = rb->bufs; cl != NULL; cl = cl->next) {
        ngx_buf_t *b = cl->buf;
        if (b->in_file) {
            /* client_body_buffer_size was smaller than the body: read it
             * back from the temp file (a disk read, for large bodies only). */
            size_t n = (size_t)(b->file_last - b->file_pos);
            ssize_t got = ngx_read_file(b->file, p, n, b->file_pos);
            if (got != (ssize_t)n)
                return NGX_ERROR;
            p += n;
        } else {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }
    *p = '\0';
    out->len = len;
    return NGX_OK;
}

/* ---- the stored resource (writes by id) ---- */

static ngx_int_t fetch_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_fhirpam_ctx_t *ctx = data;
    ctx->fetching = 0;
    ctx->fetched = 1;
    /* rc: NGX_ERROR also for an answer larger than
     * subrequest_output_buffer_size (nginx stops it). */
    ctx->current_status = (rc == NGX_OK || rc == NGX_DONE) ? sr->headers_out.status : 0;
    if (ctx->current_status == NGX_HTTP_OK && sr->out != NULL && sr->out->buf != NULL) {
        ngx_buf_t *b = sr->out->buf;
        ctx->current.data = b->pos;
        ctx->current.len = (size_t)(b->last - b->pos);
    }
    return rc;
}

static ngx_int_t start_fetch(ngx_http_request_t *r, ngx_http_fhirpam_ctx_t *ctx)
{
    ngx_http_post_subrequest_t *ps = ngx_palloc(r->pool, sizeof *ps);
    if (ps == NULL)
        return NGX_ERROR;
    ps->handler = fetch_done;
    ps->data = ctx;
    ngx_http_request_t *sr;
    if (ngx_http_subrequest(r, &r->uri, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY | NGX_HTTP_SUBREQUEST_WAITED) != NGX_OK)
        return NGX_ERROR;
    /* A GET (ngx_http_subrequest's default) without the client's body:
     * an empty body read already, and no length or chunking announced. */
    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL)
        return NGX_ERROR;
    sr->headers_in.content_length_n = -1;
    sr->headers_in.chunked = 0;
    sr->header_only = 0;
    ngx_http_fhirpam_ctx_t *mark = ngx_pcalloc(r->pool, sizeof *mark);
    if (mark == NULL)
        return NGX_ERROR;
    mark->fetch = 1;
    ngx_http_set_ctx(sr, mark, ngx_http_fhirpam_module);
    ctx->fetching = 1;
    ctx->fetch_sr = sr;
    return NGX_OK;
}

/* ---- the decision ---- */

/* The RFC 8705 x5t#S256 of the client certificate nginx verified on this
 * connection, or "" when there is none (or it did not verify). */
static void client_cert_thumbprint(ngx_http_request_t *r, u_char out[48])
{
    out[0] = '\0';
#if (NGX_HTTP_SSL)
    if (r->connection->ssl == NULL)
        return;
    SSL *ssl = r->connection->ssl->connection;
    X509 *cert = SSL_get0_peer_certificate(ssl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    /* X509_digest hashes the certificate's DER encoding. */
    if (cert == NULL || SSL_get_verify_result(ssl) != X509_V_OK ||
        X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32)
        return;
    ngx_str_t src = {mdlen, md}, dst = {0, out};
    ngx_encode_base64url(&dst, &src);
    out[dst.len] = '\0';
#endif
}

static fhirpam_request *build_request(ngx_http_request_t *r, ngx_http_fhirpam_loc_conf_t *lcf,
                                      ngx_http_fhirpam_ctx_t *ctx, const char *url)
{
    char method[MAX_METHOD + 1];
    if (r->method_name.len == 0 || r->method_name.len > MAX_METHOD)
        return NULL;
    ngx_memcpy(method, r->method_name.data, r->method_name.len);
    method[r->method_name.len] = '\0';
    fhirpam_request *req = fhirpam_request_new(method, url);
    if (req == NULL)
        return NULL;
    /* Every header as received; nginx's parser ends each key and value
     * with a NUL, and refuses NUL bytes inside. */
    for (ngx_list_part_t *part = &r->headers_in.headers.part; part != NULL; part = part->next) {
        ngx_table_elt_t *h = part->elts;
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (h[i].hash == 0)
                continue;
            if (h[i].key.len == 4 && ngx_strncasecmp(h[i].key.data, (u_char *)"dpop", 4) == 0)
                ctx->dpop = h[i].value; /* more than one: the library refuses */
            if (fhirpam_request_add_header(req, (const char *)h[i].key.data,
                                           (const char *)h[i].value.data) != 0)
                goto fail;
        }
    }
    if (ctx->body.len > 0 && fhirpam_request_set_body(req, ctx->body.data, ctx->body.len) != 0)
        goto fail;
    if (ctx->current.len > 0 &&
        fhirpam_request_set_current(req, (const char *)ctx->current.data, ctx->current.len) != 0)
        goto fail;
    u_char x5t[48];
    client_cert_thumbprint(r, x5t);
    if (x5t[0] != '\0' && fhirpam_request_set_client_cert_thumbprint(req, (char *)x5t) != 0)
        goto fail;
    if (lcf->device_attrs != NULL) {
        ngx_http_fhirpam_device_attr_t *a = lcf->device_attrs->elts;
        for (ngx_uint_t i = 0; i < lcf->device_attrs->nelts; i++) {
            ngx_str_t v;
            if (ngx_http_complex_value(r, &a[i].value, &v) != NGX_OK)
                goto fail;
            if (v.len == 0)
                continue; /* not known for this request: not vouched for */
            u_char *s = ngx_pnalloc(r->pool, v.len + 1);
            if (s == NULL)
                goto fail;
            ngx_memcpy(s, v.data, v.len);
            s[v.len] = '\0';
            if (fhirpam_request_add_device_attr(req, (char *)a[i].name.data, (char *)s) != 0)
                goto fail;
        }
    }
    return req;
fail:
    fhirpam_request_free(req);
    return NULL;
}

static void str_from(ngx_str_t *s, const char *text)
{
    s->data = (u_char *)(text ? text : "");
    s->len = ngx_strlen(s->data);
}

/* A refusal of a DPoP proof, with the challenge device_trust sends for one
 * (RFC 9449 §7.1). */
static ngx_int_t refuse_dpop(ngx_http_request_t *r, ngx_http_fhirpam_ctx_t *ctx, ngx_uint_t status,
                             const char *code, const char *reason, const char *text)
{
    if (ngx_http_fhirpam_add_header(r, "WWW-Authenticate", "DPoP error=\"invalid_dpop_proof\"",
                                    &r->headers_out.www_authenticate) != NGX_OK)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    return refuse(r, ctx, status, code, reason, text);
}

static ngx_int_t decide(ngx_http_request_t *r, ngx_http_fhirpam_loc_conf_t *lcf,
                        ngx_http_fhirpam_main_conf_t *mcf, ngx_http_fhirpam_ctx_t *ctx,
                        const char *url)
{
    fhirpam_context *fctx = mcf->ctx;
    fhirpam_request *req = build_request(r, lcf, ctx, url);
    if (req == NULL)
        return refuse(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, "error", "request_unbuildable",
                      "the request could not be handed to fhirpam (out of memory, or a method "
                      "longer than 16 bytes)");
    fhirpam_decision *d = fhirpam_authorize(fctx, (const char *)lcf->stack.data, req);
    fhirpam_request_free(req);
    ctx->decided = 1;
    if (d == NULL)
        return refuse(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, "error", "out_of_memory",
                      "fhirpam could not decide (out of memory)");
    ctx->decision = d; /* freed with the request pool: the variables borrow from it */
    str_from(&ctx->code, fhirpam_code_name(fhirpam_decision_code(d)));
    str_from(&ctx->module, fhirpam_decision_module(d));
    str_from(&ctx->reason, fhirpam_decision_reason(d));
    str_from(&ctx->reason_text, fhirpam_decision_reason_text(d));
    str_from(&ctx->decision_id, fhirpam_decision_id(d));

    if (!fhirpam_decision_permitted(d)) {
        int status = fhirpam_decision_http_status(d);
        return respond(r, ctx, status >= 400 && status <= 599 ? (ngx_uint_t)status : 403);
    }
    /* A DPoP proof is accepted once by this nginx, not once per worker
     * (RFC 9449 §11.1; ngx_http_fhirpam_replay.c). */
    if (ctx->dpop.len > 0) {
        switch (ngx_http_fhirpam_replay_remember(r, mcf, &ctx->dpop)) {
        case NGX_OK:
            break;
        case NGX_DECLINED:
            return refuse_dpop(r, ctx, NGX_HTTP_UNAUTHORIZED, "untrusted_device", "dpop_replay",
                               "this proof (its jti) was used before, on another worker");
        case NGX_ABORT:
            return refuse_dpop(r, ctx, NGX_HTTP_UNAUTHORIZED, "untrusted_device", "dpop_malformed",
                               "the DPoP header is not a compact JWS");
        case NGX_BUSY:
            return refuse(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE, "unavailable", "dpop_replay_full",
                          "the DPoP replay zone is full");
        default:
            return refuse(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, "error", "dpop_replay_error",
                          "the DPoP proof could not be remembered");
        }
    }
    /* RFC 9449 §8: a server may send a fresh nonce with a success too. */
    const char *nonce = fhirpam_decision_dpop_nonce(d);
    if (nonce != NULL && ngx_http_fhirpam_add_header(r, "DPoP-Nonce", nonce, NULL) != NGX_OK)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    if (fhirpam_decision_obligation_count(d) == 0)
        return NGX_OK;
    /* A permit on a condition only the response can show. */
    if (!lcf->check_response)
        return refuse(r, ctx, NGX_HTTP_FORBIDDEN, "deny", "obligations_unenforceable",
                      "the permit needs the response checked, and fhirpam_check_response is off");
    if (r->header_only)
        return refuse(r, ctx, NGX_HTTP_FORBIDDEN, "deny", "response_uncheckable",
                      "the permit needs the response body checked, and a HEAD answer has none");
    ctx->check = 1;
    return NGX_OK;
}

/* ---- the handler ---- */

ngx_int_t ngx_http_fhirpam_access_handler(ngx_http_request_t *r)
{
    ngx_http_fhirpam_loc_conf_t *lcf = ngx_http_get_module_loc_conf(r, ngx_http_fhirpam_module);
    if (lcf->stack.len == 0)
        return NGX_DECLINED;
    if (r != r->main) {
        /* The module's own read of a stored resource passes; any other
         * subrequest (SSI, another module's) would serve what fhirpam guards
         * without a decision of its own. */
        ngx_http_fhirpam_ctx_t *mark = ngx_http_get_module_ctx(r, ngx_http_fhirpam_module);
        return mark != NULL && mark->fetch ? NGX_DECLINED : NGX_HTTP_FORBIDDEN;
    }
    ngx_http_fhirpam_ctx_t *ctx = ngx_http_fhirpam_get_ctx(r);
    if (ctx != NULL && ctx->decided)
        return NGX_OK; /* decided before an internal redirect; the filter still checks */
    if (ctx != NULL && (ctx->reading_body || ctx->fetching))
        return NGX_AGAIN;
    if (ctx == NULL) {
        ctx = ngx_http_fhirpam_create_ctx(r);
        if (ctx == NULL)
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        /* fhirpam judges the request as the client sent it
         * (r->unparsed_uri); what a rewrite or an internal redirect made of
         * it is not that. */
        if (r->internal || !r->valid_unparsed_uri)
            return refuse(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, "error", "rewritten_request",
                          "this location was reached by a rewrite or an internal redirect; "
                          "fhirpam decides only what the client sent");
    }
    ngx_http_fhirpam_main_conf_t *mcf = ngx_http_get_module_main_conf(r, ngx_http_fhirpam_module);
    if (mcf->ctx == NULL) {
        return refuse(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, "error", "fhirpam_unavailable",
                      (const char *)mcf->open_error);
    }

    target t;
    ngx_int_t rc = NGX_OK;
    if (resolve_target(r, lcf, ctx, &t, &rc) != 0)
        return rc == NGX_OK ? NGX_DONE : rc;

    if (!ctx->body_read) {
        ngx_int_t has_body = r->headers_in.content_length_n > 0 || r->headers_in.chunked;
        if (has_body) {
            if (!(r->method & (NGX_HTTP_POST | NGX_HTTP_PUT | NGX_HTTP_PATCH)))
                return refuse(r, ctx, NGX_HTTP_BAD_REQUEST, "invalid_request", "unexpected_body",
                              "a body on a method that carries none in FHIR is not judged, and "
                              "not forwarded");
            if (r->headers_in.content_length_n > (off_t)lcf->max_body)
                return refuse(r, ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "invalid_request",
                              "body_too_large", "the request body is larger than fhirpam_max_body");
            ctx->reading_body = 1;
            rc = ngx_http_read_client_request_body(r, body_read);
            if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
                ctx->reading_body = 0;
                ctx->decided = 1;
                ngx_http_fhirpam_set_refusal(ctx, "invalid_request", "body_unreadable",
                                             "the request body could not be read");
                return rc;
            }
            /* The body handler runs the phases again, now or when the body
             * is in (ngx_http_mirror_module's pattern). */
            ngx_http_finalize_request(r, NGX_DONE);
            return NGX_DONE;
        }
        ctx->body_read = 1;
    } else if (ctx->body.data == NULL && r->request_body != NULL) {
        rc = collect_body(r, lcf->max_body, &ctx->body);
        if (rc == NGX_DECLINED)
            return refuse(r, ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "invalid_request",
                          "body_too_large", "the request body is larger than fhirpam_max_body");
        if (rc != NGX_OK)
            return refuse(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, "error", "body_unreadable",
                          "the request body could not be read back from nginx's buffers");
        if (ctx->body.data == NULL)
            ctx->body.data = (u_char *)""; /* read, and empty */
    }

    if (!ctx->fetched && write_by_id(r, &t.rel)) {
        if (start_fetch(r, ctx) != NGX_OK)
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_AGAIN;
    }
    if (ctx->fetched && ctx->current_status != NGX_HTTP_OK) {
        if (ctx->current_status == NGX_HTTP_NOT_FOUND || ctx->current_status == 410)
            return refuse(r, ctx, NGX_HTTP_FORBIDDEN, "deny", "current_resource_missing",
                          "a write by id is judged on the stored resource, and the server has "
                          "none at this URL");
        return refuse(r, ctx, NGX_HTTP_FORBIDDEN, "deny", "current_resource_unavailable",
                      "a write by id is judged on the stored resource, and reading it failed "
                      "(an upstream error, or larger than subrequest_output_buffer_size)");
    }
    if (ctx->fetched && ctx->current.len == 0)
        return refuse(r, ctx, NGX_HTTP_FORBIDDEN, "deny", "current_resource_unavailable",
                      "a write by id is judged on the stored resource, and the server sent an "
                      "empty one");
    return decide(r, lcf, mcf, ctx, t.url);
}
