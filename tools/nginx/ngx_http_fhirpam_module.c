/*
 * ngx_http_fhirpam_module.c - the module's directives, its configuration,
 * the $fhirpam_* variables and one fhirpam context per worker.
 *
 * Why one context per worker, opened in init_process: nginx reads its
 * configuration in the master and forks the workers from it, and a thread
 * does not survive fork(). fhirpam's watchers (deny list, consents) are
 * threads, so each worker opens the configuration itself, after it has
 * become the `user` it runs as. The master never opens it for use; it only
 * checks it (ngx_http_fhirpam_check.c), so that `nginx -t` and a reload
 * refuse what a worker could not open, and a bad reload keeps the old
 * workers running.
 */
#include "ngx_http_fhirpam.h"

static char *fhirpam_config(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *fhirpam_stack(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *fhirpam_base(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *fhirpam_public_origin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *fhirpam_device_attr(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* Checked where they are written, so that nginx -t names file and line. */
static char *check_replay_size(ngx_conf_t *cf, void *post, void *data)
{
    return *(size_t *)data < 8 * ngx_pagesize ? "must be at least 8 memory pages" : NGX_CONF_OK;
}

static char *check_replay_ttl(ngx_conf_t *cf, void *post, void *data)
{
    return *(time_t *)data < 1 ? "must be at least 1s" : NGX_CONF_OK;
}

static ngx_conf_post_handler_pt replay_size_post = check_replay_size;
static ngx_conf_post_handler_pt replay_ttl_post = check_replay_ttl;

static ngx_command_t ngx_http_fhirpam_commands[] = {
    {ngx_string("fhirpam_config"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, fhirpam_config,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, NULL},
    {ngx_string("fhirpam_stack"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1, fhirpam_stack,
     NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("fhirpam_base"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1, fhirpam_base,
     NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("fhirpam_public_origin"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     fhirpam_public_origin, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("fhirpam_max_body"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_size_slot, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(ngx_http_fhirpam_loc_conf_t, max_body), NULL},
    {ngx_string("fhirpam_max_response"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_size_slot, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(ngx_http_fhirpam_loc_conf_t, max_response), NULL},
    {ngx_string("fhirpam_check_response"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_FLAG,
     ngx_conf_set_flag_slot, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(ngx_http_fhirpam_loc_conf_t, check_response), NULL},
    {ngx_string("fhirpam_device_attr"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE2,
     fhirpam_device_attr, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("fhirpam_dpop_replay_zone"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_size_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_http_fhirpam_main_conf_t, replay_size), &replay_size_post},
    {ngx_string("fhirpam_dpop_replay_ttl"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_sec_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_http_fhirpam_main_conf_t, replay_ttl), &replay_ttl_post},
    ngx_null_command,
};

/* ---- configuration ---- */

static void *create_main_conf(ngx_conf_t *cf)
{
    ngx_http_fhirpam_main_conf_t *mcf = ngx_pcalloc(cf->pool, sizeof *mcf);
    if (mcf == NULL)
        return NULL;
    if (ngx_array_init(&mcf->stack_refs, cf->pool, 8, sizeof(ngx_http_fhirpam_stack_ref_t)) !=
        NGX_OK)
        return NULL;
    mcf->replay_size = NGX_CONF_UNSET_SIZE;
    mcf->replay_ttl = NGX_CONF_UNSET;
    return mcf;
}

static char *init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_fhirpam_main_conf_t *mcf = conf;
    ngx_conf_init_size_value(mcf->replay_size, 8 * 1024 * 1024);
    /* device_trust's largest dpop_window (3600) and dpop_skew (300). */
    ngx_conf_init_value(mcf->replay_ttl, 3900);
    /* Every nginx with fhirpam has the zone: a DPoP proof is accepted once
     * whichever worker it reaches (ngx_http_fhirpam_replay.c). */
    if (mcf->config.len > 0 && ngx_http_fhirpam_replay_zone(cf, mcf) != NGX_OK)
        return NGX_CONF_ERROR;
    return NGX_CONF_OK;
}

static void *create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_fhirpam_loc_conf_t *lcf = ngx_pcalloc(cf->pool, sizeof *lcf);
    if (lcf == NULL)
        return NULL;
    /* ngx_pcalloc: stack, base, public_origin unset (data NULL). */
    lcf->max_body = NGX_CONF_UNSET_SIZE;
    lcf->max_response = NGX_CONF_UNSET_SIZE;
    lcf->check_response = NGX_CONF_UNSET;
    lcf->device_attrs = NGX_CONF_UNSET_PTR;
    return lcf;
}

static char *merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_fhirpam_loc_conf_t *prev = parent, *conf = child;
    if (conf->stack.data == NULL) {
        conf->stack = prev->stack;
        conf->stack_file = prev->stack_file;
        conf->stack_line = prev->stack_line;
    }
    if (conf->stack.data == NULL) {
        /* ngx_str_set() is two statements: braces. */
        ngx_str_set(&conf->stack, "");
    }
    ngx_conf_merge_str_value(conf->base, prev->base, "/");
    ngx_conf_merge_str_value(conf->public_origin, prev->public_origin, "");
    ngx_conf_merge_size_value(conf->max_body, prev->max_body, 1024 * 1024);
    ngx_conf_merge_size_value(conf->max_response, prev->max_response, 8 * 1024 * 1024);
    ngx_conf_merge_value(conf->check_response, prev->check_response, 1);
    ngx_conf_merge_ptr_value(conf->device_attrs, prev->device_attrs, NULL);

    /* Under `satisfy any` another access module's permit ends the access
     * phase before fhirpam runs, and a fhirpam deny is overruled by any
     * other module's permit: the decision would not be fhirpam's. */
    ngx_http_core_loc_conf_t *clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    if (conf->stack.len > 0 && clcf->satisfy == NGX_HTTP_SATISFY_ANY) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "fhirpam_stack \"%V\" in %V:%ui: a location decided by fhirpam cannot "
                      "use \"satisfy any\" (another access module would decide instead)",
                      &conf->stack, &conf->stack_file, conf->stack_line);
        return NGX_CONF_ERROR;
    }
    return NGX_CONF_OK;
}

static char *fhirpam_config(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fhirpam_main_conf_t *mcf = conf;
    ngx_str_t *value = cf->args->elts;
    if (mcf->config.data != NULL)
        return "is duplicate";
    mcf->config = value[1];
    if (mcf->config.len == 0)
        return "needs a file";
    /* Relative to nginx's configuration prefix, like ssl_certificate. */
    if (ngx_conf_full_name(cf->cycle, &mcf->config, 1) != NGX_OK)
        return NGX_CONF_ERROR;
    mcf->config_file = cf->conf_file->file.name;
    mcf->config_line = cf->conf_file->line;
    return NGX_CONF_OK;
}

static ngx_str_t *copy_nul(ngx_pool_t *pool, ngx_str_t *dst, const ngx_str_t *src)
{
    dst->data = ngx_pnalloc(pool, src->len + 1);
    if (dst->data == NULL)
        return NULL;
    ngx_memcpy(dst->data, src->data, src->len);
    dst->data[src->len] = '\0';
    dst->len = src->len;
    return dst;
}

static char *fhirpam_stack(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fhirpam_loc_conf_t *lcf = conf;
    ngx_str_t *value = cf->args->elts;
    if (lcf->stack.data != NULL)
        return "is duplicate";
    lcf->stack_file = cf->conf_file->file.name;
    lcf->stack_line = cf->conf_file->line;
    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        ngx_str_set(&lcf->stack, "");
        return NGX_CONF_OK;
    }
    if (value[1].len == 0)
        return "needs a stack name or \"off\"";
    if (copy_nul(cf->pool, &lcf->stack, &value[1]) == NULL)
        return NGX_CONF_ERROR;
    /* Checked against the fhirpam configuration once all of nginx's is read
     * (ngx_http_fhirpam_check.c). */
    ngx_http_fhirpam_main_conf_t *mcf =
        ngx_http_conf_get_module_main_conf(cf, ngx_http_fhirpam_module);
    ngx_http_fhirpam_stack_ref_t *ref = ngx_array_push(&mcf->stack_refs);
    if (ref == NULL)
        return NGX_CONF_ERROR;
    ref->name = lcf->stack;
    ref->file = lcf->stack_file;
    ref->line = lcf->stack_line;
    return NGX_CONF_OK;
}

static char *fhirpam_base(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fhirpam_loc_conf_t *lcf = conf;
    ngx_str_t *value = cf->args->elts;
    if (lcf->base.data != NULL)
        return "is duplicate";
    ngx_str_t *v = &value[1];
    /* The base is compared with the raw request path: it must be a path
     * nginx and fhirpam read the same way. */
    for (size_t i = 0; i < v->len; i++) {
        u_char c = v->data[i];
        if (c <= 0x20 || c >= 0x7f || c == '%' || c == '?' || c == '#' || c == '\\')
            return "must be a plain path (no escapes, query or fragment)";
        if (c == '/' && i + 1 < v->len && v->data[i + 1] == '/')
            return "must not hold \"//\"";
    }
    if (v->len == 0 || v->data[0] != '/')
        return "must start with \"/\"";
    size_t slash = v->data[v->len - 1] == '/' ? 0 : 1;
    lcf->base.data = ngx_pnalloc(cf->pool, v->len + slash + 1);
    if (lcf->base.data == NULL)
        return NGX_CONF_ERROR;
    ngx_memcpy(lcf->base.data, v->data, v->len);
    if (slash)
        lcf->base.data[v->len] = '/';
    lcf->base.len = v->len + slash;
    lcf->base.data[lcf->base.len] = '\0';
    return NGX_CONF_OK;
}

static char *fhirpam_public_origin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fhirpam_loc_conf_t *lcf = conf;
    ngx_str_t *value = cf->args->elts;
    if (lcf->public_origin.data != NULL)
        return "is duplicate";
    ngx_str_t v = value[1];
    while (v.len > 0 && v.data[v.len - 1] == '/')
        v.len--;
    size_t skip;
    if (v.len > 8 && ngx_strncmp(v.data, "https://", 8) == 0)
        skip = 8;
    else if (v.len > 7 && ngx_strncmp(v.data, "http://", 7) == 0)
        skip = 7;
    else
        return "must be an http:// or https:// origin";
    /* An origin: scheme, host, port; the path is fhirpam_base's. */
    for (size_t i = skip; i < v.len; i++) {
        u_char c = v.data[i];
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '@' || c == '\\')
            return "must be an origin: scheme://host[:port], without a path";
    }
    if (copy_nul(cf->pool, &lcf->public_origin, &v) == NULL)
        return NGX_CONF_ERROR;
    return NGX_CONF_OK;
}

static char *fhirpam_device_attr(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fhirpam_loc_conf_t *lcf = conf;
    ngx_str_t *value = cf->args->elts;
    if (lcf->device_attrs == NGX_CONF_UNSET_PTR) {
        lcf->device_attrs = ngx_array_create(cf->pool, 4, sizeof(ngx_http_fhirpam_device_attr_t));
        if (lcf->device_attrs == NULL)
            return NGX_CONF_ERROR;
    }
    if (lcf->device_attrs->nelts == 16)
        return ": at most 16 device attributes (fhirpam's limit)";
    ngx_http_fhirpam_device_attr_t *a = ngx_array_push(lcf->device_attrs);
    if (a == NULL || copy_nul(cf->pool, &a->name, &value[1]) == NULL)
        return NGX_CONF_ERROR;
    if (a->name.len == 0)
        return "needs an attribute name";
    ngx_http_compile_complex_value_t ccv;
    ngx_memzero(&ccv, sizeof ccv);
    ccv.cf = cf;
    ccv.value = &value[2];
    ccv.complex_value = &a->value;
    if (ngx_http_compile_complex_value(&ccv) != NGX_OK)
        return NGX_CONF_ERROR;
    return NGX_CONF_OK;
}

/* ---- the request context ---- */

static void ctx_cleanup(void *data)
{
    ngx_http_fhirpam_ctx_t *ctx = data;
    fhirpam_decision_free(ctx->decision);
    ctx->decision = NULL;
    ngx_free(ctx->resp);
    ctx->resp = NULL;
}

ngx_http_fhirpam_ctx_t *ngx_http_fhirpam_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL)
        return NULL;
    ngx_http_fhirpam_ctx_t *ctx = ngx_pcalloc(r->pool, sizeof *ctx);
    if (ctx == NULL)
        return NULL;
    cln->handler = ctx_cleanup;
    cln->data = ctx;
    ngx_http_set_ctx(r, ctx, ngx_http_fhirpam_module);
    return ctx;
}

ngx_http_fhirpam_ctx_t *ngx_http_fhirpam_get_ctx(ngx_http_request_t *r)
{
    ngx_http_fhirpam_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_fhirpam_module);
    if (ctx != NULL || r != r->main || !(r->internal || r->filter_finalize))
        return ctx;
    /* An internal redirect cleared the module contexts; the request's pool
     * still has the cleanup that owns ours (ngx_http_realip_module does the
     * same). Subrequests share the pool: only the main request looks. */
    for (ngx_pool_cleanup_t *cln = r->pool->cleanup; cln != NULL; cln = cln->next) {
        if (cln->handler == ctx_cleanup) {
            ctx = cln->data;
            if (!ctx->fetch) {
                ngx_http_set_ctx(r, ctx, ngx_http_fhirpam_module);
                return ctx;
            }
        }
    }
    return NULL;
}

void ngx_http_fhirpam_set_refusal(ngx_http_fhirpam_ctx_t *ctx, const char *code, const char *reason,
                                  const char *text)
{
    ctx->code.data = (u_char *)code;
    ctx->code.len = ngx_strlen(code);
    ctx->reason.data = (u_char *)reason;
    ctx->reason.len = ngx_strlen(reason);
    ctx->reason_text.data = (u_char *)text;
    ctx->reason_text.len = ngx_strlen(text);
    ngx_str_set(&ctx->module, "");
}

/* ---- the refusal a client receives ---- */

/* Appends s[0..len) as the inside of a JSON string (RFC 8259 §7). */
static u_char *json_escape(u_char *out, const u_char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        u_char c = s[i];
        if (c == '"' || c == '\\') {
            *out++ = '\\';
            *out++ = c;
        } else if (c < 0x20 || c == 0x7f) {
            out = ngx_cpymem(out, "\\u00", 4);
            *out++ = (u_char)hex[c >> 4];
            *out++ = (u_char)hex[c & 15];
        } else {
            *out++ = c;
        }
    }
    return out;
}

/* The IssueType (FHIR R4 valueset issue-type) of a refusal's status. */
static const char *issue_type(ngx_uint_t status)
{
    switch (status) {
    case NGX_HTTP_UNAUTHORIZED:
        return "login";
    case NGX_HTTP_FORBIDDEN:
        return "forbidden";
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        return "too-costly";
    case NGX_HTTP_BAD_REQUEST:
        return "invalid";
    default:
        return status >= 500 ? "exception" : "forbidden";
    }
}

ngx_buf_t *ngx_http_fhirpam_outcome(ngx_http_request_t *r, ngx_uint_t status,
                                    ngx_http_fhirpam_ctx_t *ctx)
{
    static const char head[] = "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":"
                               "\"error\",\"code\":\"";
    const char *type = issue_type(status);
    /* Every escaped byte takes at most six. */
    size_t n = sizeof head + 64 +
               6 * (ctx->code.len + ctx->reason.len + ctx->reason_text.len + ctx->decision_id.len) +
               128;
    ngx_buf_t *b = ngx_create_temp_buf(r->pool, n);
    if (b == NULL)
        return NULL;
    u_char *p = ngx_cpymem(b->last, head, sizeof head - 1);
    p = ngx_cpymem(p, type, ngx_strlen(type));
    p = ngx_cpymem(p, "\",\"details\":{\"text\":\"", 21);
    p = json_escape(p, ctx->code.data, ctx->code.len);
    p = ngx_cpymem(p, ": ", 2);
    p = json_escape(p, ctx->reason.data, ctx->reason.len);
    p = ngx_cpymem(p, "\"},\"diagnostics\":\"", 18);
    p = json_escape(p, ctx->reason_text.data, ctx->reason_text.len);
    if (ctx->decision_id.len > 0) {
        p = ngx_cpymem(p, " (decision ", 11);
        p = json_escape(p, ctx->decision_id.data, ctx->decision_id.len);
        *p++ = ')';
    }
    p = ngx_cpymem(p, "\"}]}\n", 5);
    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    return b;
}

ngx_int_t ngx_http_fhirpam_add_header(ngx_http_request_t *r, const char *name, const char *value,
                                      ngx_table_elt_t **out)
{
    ngx_table_elt_t *h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL)
        return NGX_ERROR;
    h->hash = 1;
    h->key.data = (u_char *)name;
    h->key.len = ngx_strlen(name);
    h->value.len = ngx_strlen(value);
    h->value.data = ngx_pnalloc(r->pool, h->value.len);
    if (h->value.data == NULL)
        return NGX_ERROR;
    ngx_memcpy(h->value.data, value, h->value.len);
    if (out != NULL)
        *out = h;
    return NGX_OK;
}

ngx_int_t ngx_http_fhirpam_refusal_headers(ngx_http_request_t *r, ngx_uint_t status,
                                           ngx_http_fhirpam_ctx_t *ctx, ngx_buf_t *body)
{
    r->headers_out.status = status;
    r->headers_out.status_line.len = 0;
    ngx_str_set(&r->headers_out.content_type, "application/fhir+json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;
    r->headers_out.content_length_n = body->last - body->pos;
    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }
    const char *www = ctx->decision ? fhirpam_decision_www_authenticate(ctx->decision) : NULL;
    if (www != NULL && (status == NGX_HTTP_UNAUTHORIZED || status == NGX_HTTP_FORBIDDEN) &&
        ngx_http_fhirpam_add_header(r, "WWW-Authenticate", www, &r->headers_out.www_authenticate) !=
            NGX_OK)
        return NGX_ERROR;
    const char *nonce = ctx->decision ? fhirpam_decision_dpop_nonce(ctx->decision) : NULL;
    if (nonce != NULL && ngx_http_fhirpam_add_header(r, "DPoP-Nonce", nonce, NULL) != NGX_OK)
        return NGX_ERROR;
    return NGX_OK;
}

/* ---- variables: $fhirpam_decision_id, $fhirpam_code, $fhirpam_module, $fhirpam_reason ---- */

static ngx_int_t variable(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_fhirpam_ctx_t *ctx = ngx_http_fhirpam_get_ctx(r->main);
    ngx_str_t *s = ctx ? (ngx_str_t *)((char *)ctx + data) : NULL;
    if (s == NULL || s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }
    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    return NGX_OK;
}

static ngx_http_variable_t ngx_http_fhirpam_vars[] = {
    {ngx_string("fhirpam_decision_id"), NULL, variable,
     offsetof(ngx_http_fhirpam_ctx_t, decision_id), NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("fhirpam_code"), NULL, variable, offsetof(ngx_http_fhirpam_ctx_t, code),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("fhirpam_module"), NULL, variable, offsetof(ngx_http_fhirpam_ctx_t, module),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("fhirpam_reason"), NULL, variable, offsetof(ngx_http_fhirpam_ctx_t, reason),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    ngx_http_null_variable,
};

static ngx_int_t preconfiguration(ngx_conf_t *cf)
{
    for (ngx_http_variable_t *v = ngx_http_fhirpam_vars; v->name.len; v++) {
        ngx_http_variable_t *var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL)
            return NGX_ERROR;
        var->get_handler = v->get_handler;
        var->data = v->data;
    }
    return NGX_OK;
}

static ngx_int_t postconfiguration(ngx_conf_t *cf)
{
    ngx_http_core_main_conf_t *cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    ngx_http_handler_pt *h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL)
        return NGX_ERROR;
    *h = ngx_http_fhirpam_access_handler;
    return ngx_http_fhirpam_filter_init(cf);
}

/* ---- the worker's context ---- */

static ngx_int_t init_process(ngx_cycle_t *cycle)
{
    /* Workers only: the cache manager and loader never decide. */
    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE)
        return NGX_OK;
    ngx_http_fhirpam_main_conf_t *mcf =
        ngx_http_cycle_get_module_main_conf(cycle, ngx_http_fhirpam_module);
    if (mcf == NULL || mcf->config.len == 0)
        return NGX_OK;
    fhirpam_error err = {{0}};
    mcf->ctx = fhirpam_open((const char *)mcf->config.data, NULL, &err);
    if (mcf->ctx == NULL) {
        /* Checked in the master a moment ago, so the file changed since or
         * the worker's environment differs. The worker keeps serving what
         * fhirpam does not guard, and refuses (500) what it does. */
        ngx_cpystrn(mcf->open_error, (u_char *)err.text, sizeof mcf->open_error);
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "fhirpam: this worker cannot open %V, every request it would decide is "
                      "refused: %s",
                      &mcf->config, err.text);
    }
    return NGX_OK;
}

static void exit_process(ngx_cycle_t *cycle)
{
    ngx_http_fhirpam_main_conf_t *mcf =
        ngx_http_cycle_get_module_main_conf(cycle, ngx_http_fhirpam_module);
    if (mcf != NULL && mcf->ctx != NULL) {
        fhirpam_close(mcf->ctx);
        mcf->ctx = NULL;
    }
}

static ngx_http_module_t ngx_http_fhirpam_module_ctx = {
    preconfiguration, postconfiguration, create_main_conf, init_main_conf, NULL, NULL,
    create_loc_conf,  merge_loc_conf,
};

ngx_module_t ngx_http_fhirpam_module = {
    NGX_MODULE_V1,
    &ngx_http_fhirpam_module_ctx,
    ngx_http_fhirpam_commands,
    NGX_HTTP_MODULE,
    NULL,         /* init master */
    NULL,         /* init module */
    init_process, /* init process */
    NULL,         /* init thread */
    NULL,         /* exit thread */
    exit_process, /* exit process */
    NULL,         /* exit master */
    NGX_MODULE_V1_PADDING,
};

/* ---- the configuration check, once nginx has read all of its own ---- */

static char *check_init_conf(ngx_cycle_t *cycle, void *conf)
{
    return ngx_http_fhirpam_check_configuration(cycle);
}

static ngx_core_module_t ngx_fhirpam_check_module_ctx = {
    ngx_string("fhirpam_check"),
    NULL,
    check_init_conf,
};

ngx_module_t ngx_fhirpam_check_module = {
    NGX_MODULE_V1, &ngx_fhirpam_check_module_ctx,
    NULL,          NGX_CORE_MODULE,
    NULL,          NULL,
    NULL,          NULL,
    NULL,          NULL,
    NULL,          NGX_MODULE_V1_PADDING,
};
