/*
 * fhirpam.h - the host API of fhirpam.
 *
 * A host program (a FHIR server, a gateway, fhirpamd) loads a context from a
 * configuration file once, then calls fhirpam_authorize() for every request and
 * reads the decision it returns.
 *
 * Conventions, for every function below:
 *  - Errors are values: a function that can fail returns NULL or -1 and, when
 *    given a fhirpam_error, fills it with one line of text. The library never
 *    calls exit() and never writes to stdout.
 *  - Strings returned by accessors are borrowed: they live as long as the object
 *    they were read from and must not be freed.
 *  - "Thread-safe" means the call may run concurrently with any other call on
 *    the same object that is also marked thread-safe.
 */
#ifndef FHIRPAM_FHIRPAM_H
#define FHIRPAM_FHIRPAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FHIRPAM_API __attribute__((visibility("default")))

#define FHIRPAM_VERSION "0.1.0"

/*
 * Module return codes and decision codes (design §2). The numeric values are
 * part of the module ABI: they never change, new codes are only appended.
 */
typedef enum fhirpam_code {
    FHIRPAM_SUCCESS = 0,            /* permit (200) */
    FHIRPAM_IGNORE = 1,             /* does not apply */
    FHIRPAM_DENY = 2,               /* generic denial (403) */
    FHIRPAM_INVALID_TOKEN = 3,      /* 401 invalid_token */
    FHIRPAM_EXPIRED = 4,            /* 401 invalid_token */
    FHIRPAM_REVOKED = 5,            /* 401 invalid_token */
    FHIRPAM_INSUFFICIENT_SCOPE = 6, /* 403 insufficient_scope */
    FHIRPAM_PATIENT_MISMATCH = 7,   /* 403 */
    FHIRPAM_CONSENT_DENIED = 8,     /* 403 */
    FHIRPAM_UNTRUSTED_DEVICE = 9,   /* 401 invalid_token */
    FHIRPAM_INVALID_REQUEST = 10,   /* 400 invalid_request */
    FHIRPAM_UNAVAILABLE = 11,       /* 503 */
    FHIRPAM_ERROR = 12,             /* 500 */
} fhirpam_code;

#define FHIRPAM_CODE_COUNT 13

/* The code's word as used in config files and decisions ("insufficient_scope"),
 * or NULL for a value outside the enum. Thread-safe. */
FHIRPAM_API const char *fhirpam_code_name(fhirpam_code code);

/* Parse a code word exactly (no prefixes, no case folding). Returns 0 and sets
 * *code, or -1 for an unknown word. Thread-safe. */
FHIRPAM_API int fhirpam_code_from_name(const char *name, fhirpam_code *code);

/* One line of error text, "file:line: message" for configuration errors. */
typedef struct fhirpam_error {
    char text[1024];
} fhirpam_error;

/* Fill err (if not NULL) with a formatted message. Thread-safe. */
FHIRPAM_API void fhirpam_error_set(fhirpam_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------ */
/* Context: a loaded configuration.                                          */

typedef struct fhirpam_context fhirpam_context;

/*
 * Load the configuration at config_path: parse it, load every module it names,
 * open every module instance. Any error refuses the whole file: the result is
 * NULL and err says "file:line: message".
 *
 * modules_dir, when not NULL, is where module names without a slash are looked
 * up, overriding the config's `modules_dir` and the compiled-in default.
 * Either path may be relative: it is made absolute here, once, against the
 * working directory, and reloads use that. Every file the configuration
 * trusts is refused unless it and every directory above it are owned by
 * root or the effective user and not writable by group or others.
 *
 * The caller owns the context and frees it with fhirpam_close().
 */
FHIRPAM_API fhirpam_context *fhirpam_open(const char *config_path, const char *modules_dir,
                                          fhirpam_error *err);

/*
 * Load the configuration file again and swap it in atomically. Requests in
 * flight finish on the configuration they started with. On any error the
 * previous configuration stays in force, -1 is returned and err is filled.
 * Thread-safe, also against fhirpam_authorize(); concurrent reloads are
 * serialised. Never waits for a request without a bound: after the new
 * configuration's limits.reload_wait_ms, one still in flight keeps the old
 * configuration alive, and a thread of the context frees it when the
 * request ends.
 */
FHIRPAM_API int fhirpam_reload(fhirpam_context *ctx, fhirpam_error *err);

/*
 * Counters of the verified-token cache of the configuration in force, for
 * monitoring: cache hits since it was loaded, and tokens cached now (both 0
 * when the configuration verifies no tokens). Thread-safe, also against
 * fhirpam_reload().
 */
FHIRPAM_API void fhirpam_token_cache_stats(fhirpam_context *ctx, uint64_t *hits, size_t *entries);

/*
 * The data modules keep outside the configuration (the revocation deny list),
 * as the configuration in force reports it, for monitoring: a source whose
 * latest change could not be loaded keeps its previous data in force and is
 * stale until a load succeeds. Fills up to max entries of out and returns how
 * many sources there are. Thread-safe, also against fhirpam_reload().
 */
typedef struct fhirpam_source_info {
    char kind[32];       /* "revocation" */
    char name[512];      /* the file, e.g. /var/lib/fhirpam/revoked */
    int64_t fresh_at;    /* last time the data in force was known to match the source */
    int64_t stale_since; /* when a change first failed to load; 0 while fresh */
    uint64_t failures;   /* refused loads since the module was opened */
    char error[512];     /* the latest refusal while stale, else "" */
} fhirpam_source_info;

FHIRPAM_API size_t fhirpam_sources(fhirpam_context *ctx, fhirpam_source_info *out, size_t max);

/* Close the context. No other call on it may be running or follow (this
 * waits for a configuration a request still held after a reload). */
FHIRPAM_API void fhirpam_close(fhirpam_context *ctx);

/*
 * The names of the stacks in the current configuration, for tools. Returns
 * the number of stacks; *names (if not NULL) receives a newly allocated array
 * of newly allocated strings that the caller frees with fhirpam_free_strings().
 */
FHIRPAM_API size_t fhirpam_stack_names(fhirpam_context *ctx, char ***names);
FHIRPAM_API void fhirpam_free_strings(char **strings, size_t count);

/*
 * Warnings about the current configuration: what loads but will not do what
 * a deployer probably wants, one sentence each (e.g. "stack fhir: bound
 * tokens will be denied ..." for a stack that takes tokens and cannot
 * verify a binding, see module.h). `fhirpam check` prints them; a host may
 * log them after fhirpam_open() and fhirpam_reload(). Returns how many;
 * *warnings receives them as fhirpam_stack_names() gives names. Thread-safe.
 */
FHIRPAM_API size_t fhirpam_config_warnings(fhirpam_context *ctx, char ***warnings);

/* ------------------------------------------------------------------------ */
/* Request: what the host saw on the wire.                                   */

typedef struct fhirpam_request fhirpam_request;

/*
 * A new request for `method` (e.g. "GET") and `url` (relative to the FHIR base,
 * or absolute). Both are copied. Returns NULL only when out of memory or when
 * method or url is NULL. The caller frees it with fhirpam_request_free().
 * A request is not thread-safe while being built; once built it may be passed
 * to fhirpam_authorize() from several threads at once.
 */
FHIRPAM_API fhirpam_request *fhirpam_request_new(const char *method, const char *url);

/* Add a header as received (name and value copied; names compare without case;
 * repeated headers are kept in order, never joined). Returns 0, or -1 when out
 * of memory. */
FHIRPAM_API int fhirpam_request_add_header(fhirpam_request *req, const char *name,
                                           const char *value);

/* Set the request body (copied, may contain NUL bytes). Returns 0 or -1. */
FHIRPAM_API int fhirpam_request_set_body(fhirpam_request *req, const void *body, size_t len);

/* The stored version of the resource the request addresses (a FHIR JSON
 * resource, copied), when the host has already read it. Returns 0 or -1. */
FHIRPAM_API int fhirpam_request_set_current(fhirpam_request *req, const char *json, size_t len);

/* The client certificate the TLS layer saw, as PEM (copied). Returns 0 or -1. */
FHIRPAM_API int fhirpam_request_set_client_cert_pem(fhirpam_request *req, const char *pem,
                                                    size_t len);

/* Evaluate at this time (seconds since the epoch) instead of the clock: for
 * tests and replays. */
/* The SHA-256 thumbprint (base64url, RFC 8705 x5t#S256) of the client
 * certificate, when the host has it rather than the certificate. Copied. */
FHIRPAM_API int fhirpam_request_set_client_cert_thumbprint(fhirpam_request *req,
                                                           const char *x5t_s256);
/* A device attribute the host vouches for (from its MDM, or a header a
 * trusted proxy sets): e.g. "managed" = "true". Copied; at most 16. */
FHIRPAM_API int fhirpam_request_add_device_attr(fhirpam_request *req, const char *name,
                                                const char *value);
FHIRPAM_API void fhirpam_request_set_time(fhirpam_request *req, int64_t epoch_seconds);

/*
 * What the host cannot do with the answer, as flags (none by default).
 *
 * FHIRPAM_REQUEST_NO_RESPONSE_CHECK: the host never sees the response body (a gateway's
 * auth_request or ext_authz check), so it cannot honour obligations. The core then turns a
 * permit that carries any into a deny (code `deny`, reason `obligations_unenforceable`, HTTP
 * 403, the obligations dropped) before it writes the audit record, so that the record says
 * what the host answers.
 *
 * Replaces the request's flags. Returns 0, or -1 for a flag this version does not know
 * (nothing changed). Not thread-safe while the request is built, like the calls above.
 */
#define FHIRPAM_REQUEST_NO_RESPONSE_CHECK 0x1u
FHIRPAM_API int fhirpam_request_set_flags(fhirpam_request *req, unsigned flags);

FHIRPAM_API void fhirpam_request_free(fhirpam_request *req);

/* ------------------------------------------------------------------------ */
/* Authorization and the decision.                                           */

typedef struct fhirpam_decision fhirpam_decision;

/*
 * Decide whether `req` may proceed under the stack named `stack`, and write the
 * audit record. Always returns a decision (an unknown stack, for instance, is a
 * deny with code `error`), except when out of memory: then NULL, which the host
 * must treat as a deny. The caller frees the decision with
 * fhirpam_decision_free(). Thread-safe.
 */
FHIRPAM_API fhirpam_decision *fhirpam_authorize(fhirpam_context *ctx, const char *stack,
                                                const fhirpam_request *req);

/*
 * Record a refusal the host made itself, without running a stack: a peer it does not trust, a
 * request it cannot map to a stack, a URI it will not pass on, a body it did not see whole.
 * The refusal is a decision like the others, written to the configuration's audit sink (its
 * record says "refused_by": "host") and returned, so that the host can send its id (fhirpamd
 * sends X-Fhirpam-Decision): a deny with `code`, module "", `reason` (a stable machine word)
 * and `text` (a sentence), the HTTP status the host answers, no WWW-Authenticate (the refusal
 * is not about the token) and an empty trace.
 *
 * stack is the stack the request would have been authorized on, and req the request as far
 * as the host built it; either may be NULL (a connection refused at accept has neither), and
 * neither is kept. From req come the evaluation time (fhirpam_request_set_time) and, when its
 * access token verifies under the configuration's `token` settings, the token's iss, sub,
 * client_id, jti and patient (never claims of a token that does not verify).
 * http_status is the status the host answers (400-599), or 0 for the code's own (design §2).
 * code is a deny code: FHIRPAM_SUCCESS, FHIRPAM_IGNORE or a value outside the enum is
 * recorded as FHIRPAM_ERROR. reason and text are copied; NULL is "".
 *
 * With audit.required, a record that cannot be written turns the decision into code `error`,
 * reason `audit_write_failed`, HTTP 500, as in fhirpam_authorize(): the host answers what the
 * decision says. Returns NULL only when out of memory (then nothing was recorded). The caller
 * frees the decision with fhirpam_decision_free(). Thread-safe, also against fhirpam_reload().
 */
FHIRPAM_API fhirpam_decision *fhirpam_audit_host_refusal(fhirpam_context *ctx, const char *stack,
                                                         const fhirpam_request *req,
                                                         fhirpam_code code, int http_status,
                                                         const char *reason, const char *text);

/* 1 when the request is permitted (the final code is `success`), else 0. */
FHIRPAM_API int fhirpam_decision_permitted(const fhirpam_decision *d);
/* The final code of the stack (also `ignore` when that is what PAM's walk
 * produced: it is reported, and it is a deny). */
FHIRPAM_API fhirpam_code fhirpam_decision_code(const fhirpam_decision *d);
/* The module whose code decided, or "" when the core decided (no module
 * decided, a bad jump, an invalid token, an audit failure). Never NULL. */
FHIRPAM_API const char *fhirpam_decision_module(const fhirpam_decision *d);
/* Stable machine word for the reason ("expired", "no_module_permitted"). */
FHIRPAM_API const char *fhirpam_decision_reason(const fhirpam_decision *d);
/* A sentence a security engineer can act on. Never NULL. */
FHIRPAM_API const char *fhirpam_decision_reason_text(const fhirpam_decision *d);
/* The HTTP status a server should answer with when denying (200 on permit). */
/* A `DPoP-Nonce` value the response must carry (RFC 9449 §8, §9), or NULL. */
FHIRPAM_API const char *fhirpam_decision_dpop_nonce(const fhirpam_decision *d);
/* How many obligations the permit carries (0 for a deny): a host that cannot
 * check responses (a gateway that never sees the body) must refuse a permit
 * with any. */
FHIRPAM_API size_t fhirpam_decision_obligation_count(const fhirpam_decision *d);
/*
 * Checks a response body (a resource, or a Bundle of search results) against
 * the decision's obligations before the host sends it. Returns 1 when it may
 * be sent (after removing, from a Bundle, the entries listed in *remove:
 * 0-based indexes into Bundle.entry, ascending, *nremove of them, an array
 * the caller frees), 0 when it must not be sent, -1 when the body is not
 * JSON or the decision is not a permit. A decision without obligations
 * allows any body.
 *
 * Every resource the body holds is checked, at any depth (up to 16 levels):
 * the body itself, its `contained` resources, a Bundle's entry resources and
 * entry.response.outcome (and R5 Bundle.issues), and a Parameters
 * resource's parameter[].resource and part[]. A nested resource that fails
 * removes the top-level Bundle entry that holds it (a searchset inside a
 * batch-response entry goes whole); when the body is not a Bundle, or the
 * top-level Bundle itself fails (its own meta.security, its contained, its
 * issues), the body is not sent (0). A top-level entry without a resource
 * is removed; an OperationOutcome entry stays.
 *
 * A resource fails a "patient_compartment" obligation when it is outside
 * that patient's compartment (a type outside the compartment, an envelope
 * Bundle, passes); a contained resource, part of the one that holds it,
 * fails only when a compartment element of it names another patient. A
 * resource fails a "redact" one when it carries a listed code: in its own
 * meta.security or any Coding of its own, its resource type for
 * http://hl7.org/fhir/resource-types (not for a searchset, history,
 * batch-response or transaction-response Bundle, which only carries the
 * answer), a meta.profile for urn:ietf:rfc:3986. Thread-safe; the decision
 * is not changed.
 */
FHIRPAM_API int fhirpam_check_response(const fhirpam_decision *d, const char *body, size_t len,
                                       size_t **remove, size_t *nremove);
FHIRPAM_API int fhirpam_decision_http_status(const fhirpam_decision *d);
/* The WWW-Authenticate value to send, or NULL when none applies. */
FHIRPAM_API const char *fhirpam_decision_www_authenticate(const fhirpam_decision *d);
/* Unique id of this decision, also written in the audit record. */
FHIRPAM_API const char *fhirpam_decision_id(const fhirpam_decision *d);

/* The trace: one entry per module that ran, in the order they ran. */
FHIRPAM_API size_t fhirpam_decision_trace_count(const fhirpam_decision *d);
/* Returns 0 and fills the out-parameters (any may be NULL) for entry i, or -1
 * when i is out of range. `action` is the control action taken, as written in
 * the config syntax ("ok", "done", "bad", "die", "reset", "ignore", or a jump
 * count such as "2"). */
FHIRPAM_API int fhirpam_decision_trace_entry(const fhirpam_decision *d, size_t i,
                                             const char **stack, size_t *index, const char **module,
                                             const char **control, fhirpam_code *code,
                                             const char **action, uint64_t *microseconds);

/* The decision as one JSON object (the keys of `fhirpam eval`), newly
 * allocated; free it with free(). NULL when out of memory. */
FHIRPAM_API char *fhirpam_decision_json(const fhirpam_decision *d);

FHIRPAM_API void fhirpam_decision_free(fhirpam_decision *d);

#ifdef __cplusplus
}
#endif

#endif
