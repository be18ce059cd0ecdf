/*
 * ngx_http_fhirpam_filter.c - the response of a permit with obligations
 * (patient_link's patient compartment on a read by id or an _include,
 * consent's redact): checked whole before a byte of it reaches the client.
 *
 * The header filter holds the headers back (nothing is sent yet) and asks
 * for the body in memory; the body filter takes every buffer of the
 * upstream's answer into one bounded buffer (fhirpam_max_response) and
 * marks it consumed. At the last buffer, fhirpam_check_response() says:
 *  - send it: the headers go on with Content-Length set to the body's;
 *  - send it without some Bundle entries: the entries are cut out of the
 *    text (bundle_edit.c), Bundle.total is dropped (it would count what was
 *    removed) and so is the ETag (the body is no longer the stored one);
 *  - do not send it (or the answer was not a 200, was encoded, too large,
 *    or not JSON): every upstream header is dropped and a 403
 *    OperationOutcome is sent instead.
 * Never a partial body: the client sees nothing until the check is done.
 */
#include "ngx_http_fhirpam.h"

#include "bundle_edit.h"

static ngx_http_output_header_filter_pt next_header_filter;
static ngx_http_output_body_filter_pt next_body_filter;

static void refuse_response(ngx_http_fhirpam_ctx_t *ctx, const char *reason, const char *text)
{
    if (ctx->refused)
        return;
    ctx->refused = 1;
    ctx->refuse_reason = reason;
    ctx->refuse_text = text;
    ngx_free(ctx->resp);
    ctx->resp = NULL;
    ctx->resp_len = ctx->resp_cap = 0;
}

static int append(ngx_http_fhirpam_ctx_t *ctx, const u_char *p, size_t n, size_t max,
                  ngx_log_t *log)
{
    if (n > max - ctx->resp_len)
        return -1;
    if (ctx->resp_len + n > ctx->resp_cap) {
        size_t cap = ctx->resp_cap ? ctx->resp_cap : 16384;
        while (cap < ctx->resp_len + n)
            cap *= 2;
        if (cap > max)
            cap = max;
        u_char *grown = ngx_alloc(cap, log);
        if (grown == NULL)
            return -2;
        if (ctx->resp_len)
            ngx_memcpy(grown, ctx->resp, ctx->resp_len);
        ngx_free(ctx->resp);
        ctx->resp = grown;
        ctx->resp_cap = cap;
    }
    ngx_memcpy(ctx->resp + ctx->resp_len, p, n);
    ctx->resp_len += n;
    return 0;
}

/* Nothing of the upstream's answer may go out with a refusal: not its
 * headers (Location, ETag, Content-Location, ...), not its status. */
static void drop_upstream_headers(ngx_http_request_t *r)
{
    for (ngx_list_part_t *part = &r->headers_out.headers.part; part; part = part->next) {
        ngx_table_elt_t *h = part->elts;
        for (ngx_uint_t i = 0; i < part->nelts; i++)
            h[i].hash = 0;
    }
    ngx_http_headers_out_t *o = &r->headers_out;
    o->server = o->date = o->content_length = o->content_encoding = NULL;
    o->location = o->refresh = o->last_modified = o->content_range = NULL;
    o->accept_ranges = o->www_authenticate = o->expires = o->etag = NULL;
    o->cache_control.nelts = 0;
    o->link.nelts = 0;
    o->trailers.part.nelts = 0;
    o->trailers.part.next = NULL;
    o->trailers.last = &o->trailers.part;
    o->last_modified_time = -1;
}

/* The check and what it lets out; b set to the body to send. */
static void judge(ngx_http_request_t *r, ngx_http_fhirpam_ctx_t *ctx, ngx_buf_t **b)
{
    size_t *remove = NULL, nremove = 0;
    int ok = fhirpam_check_response(ctx->decision, (const char *)ctx->resp, ctx->resp_len, &remove,
                                    &nremove);
    if (ok < 0) {
        refuse_response(ctx, "response_not_json",
                        "the permit needs the response checked, and it is not a FHIR JSON body");
        return;
    }
    if (ok == 0) {
        free(remove);
        refuse_response(ctx, "response_refused",
                        "the response holds what the permit does not allow (another patient's "
                        "data, or a redacted code)");
        return;
    }
    ngx_buf_t *out = ngx_calloc_buf(r->pool);
    if (out == NULL) {
        free(remove);
        refuse_response(ctx, "out_of_memory", "the response could not be checked");
        return;
    }
    if (nremove == 0) {
        out->pos = ctx->resp;
        out->last = ctx->resp + ctx->resp_len;
    } else {
        u_char *edited = ngx_pnalloc(r->pool, ctx->resp_len);
        size_t len = 0;
        int rc = edited ? bundle_edit_remove_entries((const char *)ctx->resp, ctx->resp_len, remove,
                                                     nremove, (char *)edited, &len)
                        : -1;
        free(remove);
        if (rc != 0) {
            refuse_response(ctx, "response_uneditable",
                            "entries must be removed from the Bundle, and its text could not be "
                            "edited safely");
            return;
        }
        out->pos = edited;
        out->last = edited + len;
        ngx_http_clear_etag(r);
    }
    out->memory = 1;
    *b = out;
}

/* Sends what the check allows, or the refusal; once. */
static ngx_int_t emit(ngx_http_request_t *r, ngx_http_fhirpam_ctx_t *ctx)
{
    ctx->emitted = 1;
    ngx_buf_t *b = NULL;
    if (!ctx->refused)
        judge(r, ctx, &b);
    if (ctx->refused) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "fhirpam: response refused: %s: %s",
                      ctx->refuse_reason, ctx->refuse_text);
        drop_upstream_headers(r);
        ngx_http_fhirpam_set_refusal(ctx, "deny", ctx->refuse_reason, ctx->refuse_text);
        b = ngx_http_fhirpam_outcome(r, NGX_HTTP_FORBIDDEN, ctx);
        if (b == NULL || ngx_http_fhirpam_refusal_headers(r, NGX_HTTP_FORBIDDEN, ctx, b) != NGX_OK)
            return NGX_ERROR;
    } else {
        ngx_http_clear_content_length(r);
        r->headers_out.content_length_n = b->last - b->pos;
    }
    b->last_buf = 1;
    b->last_in_chain = 1;
    ngx_int_t rc = next_header_filter(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only)
        return rc;
    ngx_chain_t out = {b, NULL};
    return next_body_filter(r, &out);
}

static ngx_int_t header_filter(ngx_http_request_t *r)
{
    if (r != r->main)
        return next_header_filter(r);
    ngx_http_fhirpam_ctx_t *ctx = ngx_http_fhirpam_get_ctx(r);
    if (ctx == NULL || !ctx->check || ctx->emitted)
        return next_header_filter(r);
    if (ctx->held)
        return NGX_OK;
    ctx->held = 1;
    ngx_http_fhirpam_loc_conf_t *lcf = ngx_http_get_module_loc_conf(r, ngx_http_fhirpam_module);
    r->filter_need_in_memory = 1;
    ngx_http_clear_accept_ranges(r);
    ngx_table_elt_t *ce = r->headers_out.content_encoding;
    if (r->headers_out.status != NGX_HTTP_OK && r->headers_out.status != NGX_HTTP_CREATED)
        /* A 204, 304, 404, 5xx... has no resource to check; passing its
         * status on would tell whether another patient's resource exists. */
        refuse_response(ctx, "response_unchecked",
                        "the permit needs a 200 or 201 answer with a body to check, and the "
                        "server sent another");
    else if (ce != NULL && ce->value.len > 0 &&
             !(ce->value.len == 8 && ngx_strncasecmp(ce->value.data, (u_char *)"identity", 8) == 0))
        refuse_response(ctx, "response_encoded",
                        "the permit needs the response checked, and it is content-encoded "
                        "(proxy_set_header Accept-Encoding \"\")");
    else if (r->headers_out.content_length_n > (off_t)lcf->max_response)
        refuse_response(ctx, "response_too_large",
                        "the response is larger than fhirpam_max_response, and it cannot be "
                        "checked in parts");
    if (r->header_only)
        return emit(r, ctx);
    return NGX_OK;
}

static ngx_int_t body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    if (r != r->main)
        return next_body_filter(r, in);
    ngx_http_fhirpam_ctx_t *ctx = ngx_http_fhirpam_get_ctx(r);
    if (ctx == NULL || !ctx->held)
        return next_body_filter(r, in);
    if (ctx->emitted)
        /* Only the module's own output (or nginx flushing it) after that. */
        return next_body_filter(r, in);
    ngx_http_fhirpam_loc_conf_t *lcf = ngx_http_get_module_loc_conf(r, ngx_http_fhirpam_module);
    int last = 0;
    for (ngx_chain_t *cl = in; cl != NULL; cl = cl->next) {
        ngx_buf_t *b = cl->buf;
        if (!ctx->refused) {
            if (b->in_file && !ngx_buf_in_memory(b))
                refuse_response(ctx, "response_unreadable",
                                "the response reached the filter in a file, not in memory");
            else if (ngx_buf_in_memory(b)) {
                int rc = append(ctx, b->pos, (size_t)(b->last - b->pos), lcf->max_response,
                                r->connection->log);
                if (rc == -1)
                    refuse_response(ctx, "response_too_large",
                                    "the response is larger than fhirpam_max_response, and it "
                                    "cannot be checked in parts");
                else if (rc != 0)
                    return NGX_ERROR;
            }
        }
        /* Consumed: the upstream may reuse its buffers. */
        b->pos = b->last;
        if (b->in_file)
            b->file_pos = b->file_last;
        if (b->last_buf)
            last = 1;
    }
    if (!last)
        return NGX_OK;
    return emit(r, ctx);
}

ngx_int_t ngx_http_fhirpam_filter_init(ngx_conf_t *cf)
{
    next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = header_filter;
    next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = body_filter;
    return NGX_OK;
}
