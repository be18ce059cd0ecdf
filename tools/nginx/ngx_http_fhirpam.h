/*
 * ngx_http_fhirpam.h - ngx_http_fhirpam_module: fhirpam deciding inside
 * nginx's workers (README.md beside this file).
 *
 *   ngx_http_fhirpam_module.c  directives, configuration, variables, the
 *                              per-worker fhirpam context
 *   ngx_http_fhirpam_check.c   the whole configuration checked once nginx has
 *                              read it (nginx -t, reload), in a child process
 *                              running as the workers will
 *   ngx_http_fhirpam_access.c  the access phase: body, stored resource,
 *                              decision, the deny response
 *   ngx_http_fhirpam_filter.c  the response check of a permit with
 *                              obligations (headers held, body buffered)
 *   ngx_http_fhirpam_replay.c  DPoP proofs seen by any worker (a shared
 *                              memory zone)
 *
 * Threads: nginx's workers are single-threaded; the fhirpam context of a
 * worker is used only from its event loop (its watcher threads are the
 * library's own).
 */
#ifndef NGX_HTTP_FHIRPAM_H
#define NGX_HTTP_FHIRPAM_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <fhirpam/fhirpam.h>

/* A `fhirpam_stack NAME` as written, so that a stack the fhirpam
 * configuration lacks is reported at its own line. */
typedef struct {
    ngx_str_t name;
    ngx_str_t file;
    ngx_uint_t line;
} ngx_http_fhirpam_stack_ref_t;

typedef struct {
    ngx_str_t config; /* fhirpam_config, a full path; empty: none */
    ngx_str_t config_file;
    ngx_uint_t config_line;
    ngx_array_t stack_refs;      /* of ngx_http_fhirpam_stack_ref_t */
    fhirpam_context *ctx;        /* this worker's, opened in init_process */
    u_char open_error[1024];     /* why this worker has none */
    size_t replay_size;          /* fhirpam_dpop_replay_zone */
    time_t replay_ttl;           /* fhirpam_dpop_replay_ttl */
    ngx_shm_zone_t *replay_zone; /* DPoP proofs seen by every worker */
} ngx_http_fhirpam_main_conf_t;

typedef struct {
    ngx_str_t name; /* NUL-terminated */
    ngx_http_complex_value_t value;
} ngx_http_fhirpam_device_attr_t;

typedef struct {
    ngx_str_t stack; /* NUL-terminated; data NULL: unset; len 0: off */
    ngx_str_t stack_file;
    ngx_uint_t stack_line;
    ngx_str_t base;          /* starts and ends with '/' */
    ngx_str_t public_origin; /* "https://host[:port]" or empty */
    size_t max_body;
    size_t max_response;
    ngx_flag_t check_response;
    ngx_array_t *device_attrs; /* of ngx_http_fhirpam_device_attr_t */
} ngx_http_fhirpam_loc_conf_t;

/* What the module knows about one client request. It lives in the request
 * pool and is found again after an internal redirect (the pool cleanup that
 * frees the decision points at it), so that a request is decided once and
 * its obligations hold for whatever response is finally sent. */
typedef struct {
    unsigned fetch : 1;         /* this is the module's own subrequest */
    unsigned reading_body : 1;  /* ngx_http_read_client_request_body running */
    unsigned body_read : 1;     /* r->request_body complete */
    unsigned fetching : 1;      /* the stored resource is being read */
    unsigned fetched : 1;       /* ... and the answer is in current* */
    unsigned decided : 1;       /* decision (or a refusal) taken */
    unsigned check : 1;         /* the response must pass fhirpam_check_response */
    unsigned held : 1;          /* the response headers are held back */
    unsigned refused : 1;       /* the response will be replaced by a 403 */
    unsigned emitted : 1;       /* the module's own output went down the chain */
    fhirpam_decision *decision; /* owned; freed with the request pool */
    ngx_str_t code, module, reason, reason_text, decision_id; /* the variables */
    ngx_str_t body; /* the request body, copied out of nginx's buffers */
    ngx_str_t dpop; /* the DPoP header's value (RFC 9449 §4.1), or empty */
    ngx_http_request_t *fetch_sr;
    ngx_uint_t current_status; /* the stored resource: the upstream's status */
    ngx_str_t current;         /* ... and body */
    u_char *resp;              /* the buffered response (malloc) */
    size_t resp_len, resp_cap;
    const char *refuse_reason; /* why the response is replaced */
    const char *refuse_text;
} ngx_http_fhirpam_ctx_t;

extern ngx_module_t ngx_http_fhirpam_module;

/* The request's context (also after an internal redirect), or NULL. */
ngx_http_fhirpam_ctx_t *ngx_http_fhirpam_get_ctx(ngx_http_request_t *r);

/* A new context for r, registered so that the decision and the buffered
 * response are freed with the request pool. NULL when out of memory. */
ngx_http_fhirpam_ctx_t *ngx_http_fhirpam_create_ctx(ngx_http_request_t *r);

/* Record a refusal the module makes itself (code, reason: static words;
 * text: a static sentence) for the variables. */
void ngx_http_fhirpam_set_refusal(ngx_http_fhirpam_ctx_t *ctx, const char *code, const char *reason,
                                  const char *text);

/* A FHIR OperationOutcome for a refusal, as a last buffer; NULL when out of
 * memory. */
ngx_buf_t *ngx_http_fhirpam_outcome(ngx_http_request_t *r, ngx_uint_t status,
                                    ngx_http_fhirpam_ctx_t *ctx);

/* Sets the response headers of a refusal: status, application/fhir+json,
 * the length of `body`, and the challenge and DPoP nonce of the decision. */
ngx_int_t ngx_http_fhirpam_refusal_headers(ngx_http_request_t *r, ngx_uint_t status,
                                           ngx_http_fhirpam_ctx_t *ctx, ngx_buf_t *body);

/* Adds a response header (name: a static string; value copied). */
ngx_int_t ngx_http_fhirpam_add_header(ngx_http_request_t *r, const char *name, const char *value,
                                      ngx_table_elt_t **out);

/* Adds the shared zone of DPoP proofs (mcf->replay_size) to the cycle. */
ngx_int_t ngx_http_fhirpam_replay_zone(ngx_conf_t *cf, ngx_http_fhirpam_main_conf_t *mcf);

/* Remembers a permitted request's DPoP proof for every worker: NGX_OK (not
 * seen before), NGX_DECLINED (a replay: some worker let it through
 * already), NGX_ABORT (not a compact JWS), NGX_BUSY (the zone is full), or
 * NGX_ERROR. */
ngx_int_t ngx_http_fhirpam_replay_remember(ngx_http_request_t *r, ngx_http_fhirpam_main_conf_t *mcf,
                                           const ngx_str_t *proof);

ngx_int_t ngx_http_fhirpam_access_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_fhirpam_filter_init(ngx_conf_t *cf);
char *ngx_http_fhirpam_check_configuration(ngx_cycle_t *cycle);

#endif
