/*
 * module.h - the fhirpam module SDK.
 *
 * A module is a shared object that exports exactly one symbol, the descriptor
 * `fhirpam_module_descriptor` (use FHIRPAM_MODULE_DESCRIPTOR below). The core
 * refuses a module whose ABI major differs from its own, and only touches a
 * descriptor member added in a later minor after checking abi_minor and size.
 *
 * Everything a module reads about a request (claims, the request, transport
 * facts) goes through the fhirpam_ accessor functions below, on an opaque
 * handle: never through struct layouts shared with the core. The bundled
 * modules use this header and nothing else.
 *
 * Threads: open() and close() are called from one thread at a time, at load and
 * unload. authorize() is called concurrently from many threads on the same
 * instance: instance state must be read-only after open(), or the module must
 * lock what it mutates.
 *
 * Loading: the file and every directory above it must be owned by root or
 * the host's user and not writable by group or others. The core loads a
 * sealed private copy of the file, and reads the descriptor's first three
 * members (abi_major, abi_minor, size) from that copy's ELF dynamic symbol
 * table before it loads it: they must be the constants
 * FHIRPAM_MODULE_HEADER writes, in an initialised const object. A module
 * built for another ABI, without the descriptor, or with an RPATH or RUNPATH
 * is refused before any of its code (constructors included) runs.
 *
 * Time: authorize() answers within its stack's budget (limits.
 * module_deadline_ms, default 1 s); a later answer is discarded, with the
 * attributes and obligations the call added, and counts as
 * FHIRPAM_UNAVAILABLE. Block on nothing without a bound of your own.
 *
 * Isolation: a stack line may run the module in worker processes
 * (isolation = "process"): open(), authorize() and close() then run there,
 * one call at a time per process, several processes per line. The SDK is
 * the same, except that fhirpam_token_data() finds nothing (data attached
 * to a token does not outlive the call) and the request, claims and
 * attributes are copies.
 */
#ifndef FHIRPAM_MODULE_H
#define FHIRPAM_MODULE_H

#include <fhirpam/fhirpam.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FHIRPAM_ABI_MAJOR 1
/* 1.1: the descriptor's `flags`, fhirpam_binding_verified(). */
#define FHIRPAM_ABI_MINOR 1

/* ------------------------------------------------------------------------ */
/* Module arguments.                                                         */

/* The typed `args = { ... }` group of one stack line. Borrowed, read-only,
 * valid until the instance is closed. */
typedef struct fhirpam_args fhirpam_args;

typedef enum fhirpam_arg_type {
    FHIRPAM_ARG_STRING = 1,
    FHIRPAM_ARG_INT = 2, /* a libconfig integer, read as int64_t */
    FHIRPAM_ARG_BOOL = 3,
    FHIRPAM_ARG_LIST = 4,  /* a list or array of strings */
    FHIRPAM_ARG_GROUP = 5, /* a nested group; its members are the module's to check */
} fhirpam_arg_type;

/* One declared argument. The core rejects, at load, any argument a line gives
 * that the table does not declare, or of another type, naming the file and
 * line and listing what is declared. `fhirpam check --module NAME` prints it. */
typedef struct fhirpam_arg_spec {
    const char *name;
    fhirpam_arg_type type;
    const char *default_text; /* the default, as text for the help; NULL: none */
    const char *help;         /* one line */
} fhirpam_arg_spec;

/* Accessors for declared arguments. Each returns the value given on the stack
 * line, or `fallback` when the line does not set it. Thread-safe. */
FHIRPAM_API const char *fhirpam_args_string(const fhirpam_args *args, const char *name,
                                            const char *fallback);
FHIRPAM_API int64_t fhirpam_args_int(const fhirpam_args *args, const char *name, int64_t fallback);
FHIRPAM_API bool fhirpam_args_bool(const fhirpam_args *args, const char *name, bool fallback);
/* A list argument: its length (0 when not set), and element i (NULL past the
 * end). */
FHIRPAM_API size_t fhirpam_args_list_size(const fhirpam_args *args, const char *name);
FHIRPAM_API const char *fhirpam_args_list_item(const fhirpam_args *args, const char *name,
                                               size_t i);
/* A group argument as args of its own, or NULL when not set. Its members were
 * not checked by the core. */
FHIRPAM_API const fhirpam_args *fhirpam_args_group(const fhirpam_args *args, const char *name);
/* Member i of a group, in file order, for modules that check their own
 * members: its name, or NULL past the end. */
FHIRPAM_API const char *fhirpam_args_member_name(const fhirpam_args *args, size_t i);
/* "file:line" of the stack line (or group) these args belong to, for messages. */
FHIRPAM_API const char *fhirpam_args_where(const fhirpam_args *args);

/* ------------------------------------------------------------------------ */
/* One authorization in progress.                                            */

/* The handle a module's authorize() receives. Borrowed; valid during the call. */
typedef struct fhirpam_authz fhirpam_authz;

/* The request as the host gave it. */
FHIRPAM_API const char *fhirpam_request_method(const fhirpam_authz *az);
FHIRPAM_API const char *fhirpam_request_url(const fhirpam_authz *az);
/* Header `name` (compared without case), occurrence i (0 first), or NULL. */
FHIRPAM_API const char *fhirpam_request_header(const fhirpam_authz *az, const char *name, size_t i);
FHIRPAM_API size_t fhirpam_request_header_count(const fhirpam_authz *az, const char *name);
/* The body and its length, or NULL and 0. */
FHIRPAM_API const char *fhirpam_request_body(const fhirpam_authz *az, size_t *len);
/* The stored resource the host passed, and its length, or NULL and 0. */
FHIRPAM_API const char *fhirpam_request_current(const fhirpam_authz *az, size_t *len);
/* The client certificate as PEM, or NULL. */
FHIRPAM_API const char *fhirpam_request_client_cert_pem(const fhirpam_authz *az);
/* The x5t#S256 of the client certificate (RFC 8705 §3.1: base64url of the
 * SHA-256 of the leaf's DER), computed from the PEM the host gave, or the
 * thumbprint it gave; NULL when there is neither, or the PEM does not
 * parse. Valid during the call. */
FHIRPAM_API const char *fhirpam_request_client_cert_thumbprint(fhirpam_authz *az);
/* A device attribute the host attached, or NULL. */
FHIRPAM_API const char *fhirpam_device_attr(const fhirpam_authz *az, const char *name);
/* The scheme the token came with ("Bearer" or "DPoP", as the core reads
 * them, case-insensitively) and the token itself (for RFC 9449 `ath`);
 * NULL when the stack runs without a token. */
FHIRPAM_API const char *fhirpam_token_scheme(const fhirpam_authz *az);
FHIRPAM_API const char *fhirpam_access_token(const fhirpam_authz *az, size_t *len);

/*
 * Sender-constrained tokens (RFC 7800 `cnf`, RFC 8705, RFC 9449). The core
 * permits a request whose verified token carries `cnf` (with any members,
 * only unknown ones, or not an object at all), or that came with the DPoP
 * scheme, only when a module verified the binding on this very request:
 * after the stack has permitted, on whatever path it took (sufficient, done,
 * jumps, substacks, includes), every binding the request needs must have
 * been reported here, or the decision becomes a deny, code
 * untrusted_device, reason `unverified_binding`, HTTP 401 with
 * `DPoP error="invalid_token"` (DPoP-bound token or DPoP scheme) or
 * `Bearer error="invalid_token"`. For a batch or transaction, each entry
 * needs its own report. RFC 9449 §7.2: a DPoP-bound token is never a bearer
 * token; RFC 8705 §3: the resource server MUST verify the certificate.
 *
 * What a request needs: FHIRPAM_BINDING_DPOP for `cnf.jkt` or the DPoP
 * scheme, FHIRPAM_BINDING_MTLS for `cnf["x5t#S256"]` (both when both apply;
 * unknown members beside a known one are ignored, as RFC 7800 §3.1 says),
 * FHIRPAM_BINDING_OTHER when every member of `cnf` is one the core does not
 * know. A `cnf` that is not an object with at least one member binds to
 * nothing that can be checked: such a token is never permitted.
 *
 * A module that checks bindings (device_trust does) declares
 * FHIRPAM_MODULE_VERIFIES_BINDING in its descriptor and calls
 * fhirpam_binding_verified() for each kind, once that binding held on this
 * request with every check done (for DPoP: proof, key thumbprint, `ath`,
 * replay). Returns 0; -1, recording nothing, when the running module's
 * descriptor does not declare the flag or kind is not one of the three.
 * The report stands whatever code the module then returns.
 */
typedef enum fhirpam_binding {
    FHIRPAM_BINDING_DPOP = 1,  /* a DPoP proof of this request by the key of cnf.jkt */
    FHIRPAM_BINDING_MTLS = 2,  /* this request's client certificate is cnf.x5t#S256 */
    FHIRPAM_BINDING_OTHER = 4, /* a cnf member the core does not know, checked by the module */
} fhirpam_binding;

FHIRPAM_API int fhirpam_binding_verified(fhirpam_authz *az, fhirpam_binding kind);

/* The configured `fhir_base` (the absolute base URL of this FHIR server, as
 * written in the configuration), or NULL when none is configured: what an
 * absolute reference on this server starts with. */
FHIRPAM_API const char *fhirpam_fhir_base(const fhirpam_authz *az);

/* The evaluation time, seconds since the epoch. */
FHIRPAM_API int64_t fhirpam_now(const fhirpam_authz *az);
/* The stack being evaluated (the top-level name the host asked for). */
FHIRPAM_API const char *fhirpam_stack_name(const fhirpam_authz *az);

/* The FHIR request, as the core understood it (method, URL with the
 * configured fhir_base stripped, and the form body of POST _search). A
 * request the core cannot understand is refused with invalid_request before
 * any module runs, so modules always see a parsed request. */
typedef enum fhirpam_interaction {
    FHIRPAM_IA_CAPABILITIES = 1,   /* GET metadata */
    FHIRPAM_IA_READ,               /* GET T/id */
    FHIRPAM_IA_VREAD,              /* GET T/id/_history/vid */
    FHIRPAM_IA_UPDATE,             /* PUT T/id, PUT T?params (conditional) */
    FHIRPAM_IA_PATCH,              /* PATCH T/id, PATCH T?params */
    FHIRPAM_IA_DELETE,             /* DELETE T/id, DELETE T?params, DELETE T/id/_history/vid */
    FHIRPAM_IA_HISTORY_INSTANCE,   /* GET T/id/_history */
    FHIRPAM_IA_HISTORY_TYPE,       /* GET T/_history */
    FHIRPAM_IA_HISTORY_SYSTEM,     /* GET _history */
    FHIRPAM_IA_CREATE,             /* POST T (conditional with If-None-Exist) */
    FHIRPAM_IA_SEARCH_TYPE,        /* GET T?params, POST T/_search */
    FHIRPAM_IA_SEARCH_SYSTEM,      /* GET ?params, POST _search */
    FHIRPAM_IA_SEARCH_COMPARTMENT, /* GET Patient/id/T, GET Patient/id/ * */
    FHIRPAM_IA_BATCH,              /* POST / with a batch Bundle */
    FHIRPAM_IA_TRANSACTION,        /* POST / with a transaction Bundle */
    FHIRPAM_IA_OPERATION,          /* $name at system, type or instance level */
} fhirpam_interaction;

typedef enum fhirpam_operation_level {
    FHIRPAM_OP_SYSTEM = 1, /* [base]/$op */
    FHIRPAM_OP_TYPE,       /* [base]/T/$op */
    FHIRPAM_OP_INSTANCE,   /* [base]/T/id/$op */
} fhirpam_operation_level;

/* "read", "search-type", ... (the names of R4 http.html). */
FHIRPAM_API const char *fhirpam_interaction_name(fhirpam_interaction ia);
FHIRPAM_API fhirpam_interaction fhirpam_fhir_interaction(const fhirpam_authz *az);
/* The resource type the request addresses (the compartment's target type
 * for a compartment search, "*" for Patient/id/ *), or NULL (system level). */
FHIRPAM_API const char *fhirpam_fhir_type(const fhirpam_authz *az);
/* The resource id and version id, or NULL. */
FHIRPAM_API const char *fhirpam_fhir_id(const fhirpam_authz *az);
FHIRPAM_API const char *fhirpam_fhir_version_id(const fhirpam_authz *az);
/* For a compartment search (Patient/123/Observation): true, with the
 * compartment's type ("Patient") and id ("123"). */
FHIRPAM_API bool fhirpam_fhir_compartment(const fhirpam_authz *az, const char **type,
                                          const char **id);
/* For an operation: its name without the '$' and its level; NULL otherwise. */
FHIRPAM_API const char *fhirpam_fhir_operation(const fhirpam_authz *az,
                                               fhirpam_operation_level *level);
/* A conditional create (If-None-Exist), update, patch or delete. */
FHIRPAM_API bool fhirpam_fhir_conditional(const fhirpam_authz *az);

/*
 * Search parameters, in request order (the query, the form body of POST
 * _search, or If-None-Exist for a conditional create), percent-decoded.
 * For `subject:Patient.name=a,b` the name is "subject", the modifier
 * "Patient", the chain "name" and the values "a" and "b" (a comma is an OR;
 * `\,` is a literal comma). For `_has:Observation:patient:code=x` the name
 * is "_has" and the modifier "Observation:patient:code". A parameter given
 * twice appears twice (an AND). Modifier and chain are NULL when absent.
 */
FHIRPAM_API size_t fhirpam_fhir_param_count(const fhirpam_authz *az);
FHIRPAM_API const char *fhirpam_fhir_param_name(const fhirpam_authz *az, size_t i);
FHIRPAM_API const char *fhirpam_fhir_param_modifier(const fhirpam_authz *az, size_t i);
FHIRPAM_API const char *fhirpam_fhir_param_chain(const fhirpam_authz *az, size_t i);
FHIRPAM_API size_t fhirpam_fhir_param_value_count(const fhirpam_authz *az, size_t i);
FHIRPAM_API const char *fhirpam_fhir_param_value(const fhirpam_authz *az, size_t i, size_t j);

/* The verified access token's claims. Modules only ever see verified claims:
 * when the stack runs without a token, fhirpam_has_token() is false and every
 * claim is absent. */
typedef enum fhirpam_claim_type {
    FHIRPAM_CLAIM_ABSENT = 0,
    FHIRPAM_CLAIM_STRING,
    FHIRPAM_CLAIM_NUMBER,
    FHIRPAM_CLAIM_BOOL,
    FHIRPAM_CLAIM_NULL,
    FHIRPAM_CLAIM_ARRAY,
    FHIRPAM_CLAIM_OBJECT,
} fhirpam_claim_type;

FHIRPAM_API bool fhirpam_has_token(const fhirpam_authz *az);
FHIRPAM_API fhirpam_claim_type fhirpam_claim_type_of(const fhirpam_authz *az, const char *name);
/* The string value, or NULL when absent or not a string. */
FHIRPAM_API const char *fhirpam_claim_string(const fhirpam_authz *az, const char *name);
/* true and *out set when the claim is a JSON number (integer or real). */
FHIRPAM_API bool fhirpam_claim_number(const fhirpam_authz *az, const char *name, double *out);
/* true and *out set when the claim is a JSON integer. */
FHIRPAM_API bool fhirpam_claim_int(const fhirpam_authz *az, const char *name, int64_t *out);
/* true and *out set when the claim is a JSON boolean. */
FHIRPAM_API bool fhirpam_claim_bool(const fhirpam_authz *az, const char *name, bool *out);
/* Array claims: the size (0 when absent or not an array) and element i when it
 * is a string (else NULL). */
FHIRPAM_API size_t fhirpam_claim_array_size(const fhirpam_authz *az, const char *name);
FHIRPAM_API const char *fhirpam_claim_array_string(const fhirpam_authz *az, const char *name,
                                                   size_t i);
/* Member `member` of object claim `name` when it is a string, else NULL
 * (e.g. cnf / jkt). */
FHIRPAM_API const char *fhirpam_claim_member_string(const fhirpam_authz *az, const char *name,
                                                    const char *member);
/* The claim as compact JSON text, for modules that parse it themselves, or
 * NULL when absent. Valid during the call. */
FHIRPAM_API const char *fhirpam_claim_json(const fhirpam_authz *az, const char *name);

/*
 * Per-token data: work a module does once per verified token (parsing the
 * `scope` claim, say) can be attached to the token, under a key the module
 * owns (its instance pointer), and found again on the next request with the
 * same token while the token stays in the verified-token cache.
 *
 * fhirpam_token_data() returns what is attached under key, or NULL.
 * fhirpam_token_data_attach() attaches data and returns it; the core then
 * owns it and calls free_fn(data) when the token leaves the cache. When
 * another thread attached a value first, that value is returned and data is
 * still the caller's; when there is no token to attach to, NULL is returned
 * and data is still the caller's. Thread-safe.
 */
FHIRPAM_API void *fhirpam_token_data(const fhirpam_authz *az, const void *key);
FHIRPAM_API void *fhirpam_token_data_attach(fhirpam_authz *az, const void *key, void *data,
                                            void (*free_fn)(void *));

/*
 * The reason for the code this module is about to return: a stable machine
 * word (lower-case letters, digits and '_') and a sentence. Only the reason of the module
 * whose code decides appears in the decision; every reason is in the trace.
 */
FHIRPAM_API void fhirpam_set_reason(fhirpam_authz *az, const char *word, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * With insufficient_scope: the scope that would have allowed the request,
 * for the decision's `WWW-Authenticate: Bearer error="insufficient_scope",
 * scope="..."` (RFC 6750 §3). Space-separated scope tokens; characters
 * outside RFC 6750's scope syntax (quotes, backslashes, controls) make the
 * call a no-op. Only the deciding module's value is used.
 */
FHIRPAM_API void fhirpam_set_challenge_scope(fhirpam_authz *az, const char *scope);

/*
 * Attributes one module leaves for the modules after it in the same
 * authorization (scope_check says which context granted the request, and
 * patient_link reads it). Names up to 31 bytes, values up to 63, at most 8;
 * setting a name again replaces its value. fhirpam_attr_set returns 0, or -1
 * when the value does not fit. fhirpam_attr_get returns NULL when unset.
 * Each entry of a batch or transaction is its own authorization: what was
 * set while judging one entry is not there for the next. The attributes a
 * call set are dropped when its answer comes too late.
 */
FHIRPAM_API int fhirpam_attr_set(fhirpam_authz *az, const char *name, const char *value);
FHIRPAM_API const char *fhirpam_attr_get(const fhirpam_authz *az, const char *name);

/*
 * The challenge for a 401 this module decides: `WWW-Authenticate: <scheme>
 * error="<error>"` (e.g. "DPoP", "invalid_dpop_proof", RFC 9449 §7.1),
 * instead of the default Bearer one; and a `DPoP-Nonce` the response must
 * carry (RFC 9449 §9). Words of letters, digits, '_', '-', '.', '~', '+', '/'
 * only; anything else makes the call a no-op. Only the deciding module's
 * values are used.
 */
FHIRPAM_API void fhirpam_set_challenge(fhirpam_authz *az, const char *scheme, const char *error);
FHIRPAM_API void fhirpam_set_dpop_nonce(fhirpam_authz *az, const char *nonce);

/*
 * RSA key sizes, in bits, that fhirpam imports from a JWKS (token.min_rsa_bits,
 * token.max_rsa_bits) or a DPoP proof (device_trust's dpop_min_rsa_bits,
 * dpop_max_rsa_bits): never under FHIRPAM_RSA_MIN_BITS (RFC 8725 §3.2, NIST
 * SP 800-131A), never over FHIRPAM_RSA_MAX_BITS, at most
 * FHIRPAM_RSA_DEFAULT_MAX_BITS unless configured. The upper bound is what
 * bounds the cost of a hostile key: a verification costs about the square of
 * the modulus size.
 */
#define FHIRPAM_RSA_MIN_BITS         2048
#define FHIRPAM_RSA_MAX_BITS         8192
#define FHIRPAM_RSA_DEFAULT_MAX_BITS 4096

/*
 * A JWS signed by the public JWK in its own header (a DPoP proof, RFC 9449
 * §4.3): the core's strict compact-JWS parsing and signature check, with the
 * key imported from the header's `jwk` under the same rules as JWKS keys
 * (no private members; RSA of min_rsa_bits to max_rsa_bits with an odd
 * exponent of 3 to 33 bits; EC points on the curve) and the header's `alg`,
 * which must be one of `algs` (names such as "ES256") and suit the key.
 *
 * Nothing the sender chose costs more than the cheap checks before them,
 * in this order: the header's members; the signature's length against the
 * jwk (both read from the text); the jwk's thumbprint against rules->jkt,
 * when set (the key a token is bound to, RFC 9449 §6.1: a proof by any other
 * key is refused before its key is imported or its signature decoded); the
 * RSA size and exponent bounds on the encoded numbers; only then the import
 * (no primality test: a key that is not a real RSA key fails the signature)
 * and the signature. A key is kept in the core's proof-key cache only once a
 * signature by it has verified.
 *
 * fhirpam_jws_verify_proof returns 0 with the proof filled (the payload
 * NUL-terminated, owned by the proof, freed by fhirpam_jws_proof_free);
 * FHIRPAM_PROOF_WRONG_KEY when the jwk is not rules->jkt (proof->jkt holds
 * its thumbprint); -1 on any other failure. Failures put a sentence in err.
 * RSA bounds outside FHIRPAM_RSA_MIN_BITS .. FHIRPAM_RSA_MAX_BITS, or min
 * over max, refuse every proof. fhirpam_jws_verify_embedded is the same with
 * FHIRPAM_RSA_MIN_BITS, FHIRPAM_RSA_DEFAULT_MAX_BITS and no jkt. Thread-safe.
 */
typedef struct fhirpam_jws_proof {
    char alg[8];
    char typ[32];  /* the header's typ, "" when absent */
    char jkt[48];  /* RFC 7638 SHA-256 thumbprint of the jwk, base64url */
    char *payload; /* the verified payload (JSON text) */
    size_t payload_len;
} fhirpam_jws_proof;

typedef struct fhirpam_proof_rules {
    const char *const *algs; /* the `alg` names accepted */
    size_t nalgs;
    unsigned min_rsa_bits, max_rsa_bits; /* RSA proof key sizes, in bits */
    const char *jkt;                     /* the thumbprint the jwk must have, or NULL for any key */
} fhirpam_proof_rules;

#define FHIRPAM_PROOF_WRONG_KEY (-2)

FHIRPAM_API int fhirpam_jws_verify_proof(const char *jws, size_t len,
                                         const fhirpam_proof_rules *rules, fhirpam_jws_proof *proof,
                                         char *err, size_t errlen);
FHIRPAM_API int fhirpam_jws_verify_embedded(const char *jws, size_t len, const char *const *algs,
                                            size_t nalgs, fhirpam_jws_proof *proof, char *err,
                                            size_t errlen);
FHIRPAM_API void fhirpam_jws_proof_free(fhirpam_jws_proof *proof);

/*
 * The FHIR Patient compartment (CompartmentDefinition/patient of "R4" or
 * "R5", built into the core). fhirpam_compartment_type: 1 when resources of
 * `type` can be in a patient's compartment (Patient included), 0 when not,
 * -1 for an unknown version. fhirpam_compartment_param: `param` is one of
 * the type's compartment search parameters. fhirpam_compartment_params:
 * all of them in one lookup (up to max names stored; returns how many the
 * type has, 0 when it has none). fhirpam_compartment_path: the
 * i-th element path of the type's compartment parameters, dot-separated
 * after the type ("subject", "participant.actor"), NULL past the last.
 * fhirpam_compartment_contains:
 * the resource (JSON text, of resourceType `type` unless type is NULL) is
 * Patient/<patient_id> or references it through one of its type's
 * compartment elements. Thread-safe.
 */
FHIRPAM_API int fhirpam_compartment_type(const char *version, const char *type);
FHIRPAM_API bool fhirpam_compartment_param(const char *version, const char *type,
                                           const char *param);
FHIRPAM_API size_t fhirpam_compartment_params(const char *version, const char *type,
                                              const char **names, size_t max);
FHIRPAM_API const char *fhirpam_compartment_path(const char *version, const char *type, size_t i);
FHIRPAM_API bool fhirpam_compartment_contains(const char *version, const char *type,
                                              const char *resource, size_t len,
                                              const char *patient_id);

/*
 * An obligation on a permit: a condition the response must meet, which the
 * host checks with fhirpam_check_response() (fhirpam.h) before sending it.
 * `type` names it; `params` is a JSON object text of its parameters. The ones
 * the core can check: "patient_compartment" with {"patient": "<id>",
 * "fhir_version": "R4"|"R5"}; "redact" with {"codes": "sys|code sys|code"}
 * (tokens separated by one space, each part percent-encoded where it holds
 * a space, '%', '|' or a control character; an empty system is "|code"):
 * no resource carrying one of the codes may be sent. Returns 0, or -1
 * (unknown type, bad params): a module must then not permit.
 */
FHIRPAM_API int fhirpam_add_obligation(fhirpam_authz *az, const char *type, const char *params);

/* ------------------------------------------------------------------------ */
/* Values replaced while requests read them.                                 */

/*
 * A module whose data changes at run time (a deny list re-read from disk, a
 * consent index) keeps it in a fhirpam_swap: authorize() pins the current
 * value with fhirpam_swap_enter() and lets go with fhirpam_swap_leave();
 * a background thread installs a new value with fhirpam_swap_publish(),
 * which returns once no request can still be using the old one and then
 * frees it. Readers never block and take no lock (two atomic operations on
 * a per-thread slot).
 */
typedef struct fhirpam_swap fhirpam_swap;
typedef struct fhirpam_swap_ticket {
    void *slot;
    unsigned parity;
} fhirpam_swap_ticket;

/* A swap holding value, freed with free_fn (may be NULL) when replaced or at
 * fhirpam_swap_free(). NULL when out of memory. */
FHIRPAM_API fhirpam_swap *fhirpam_swap_new(void *value, void (*free_fn)(void *));
/* The current value, pinned until fhirpam_swap_leave(ticket). Thread-safe. */
FHIRPAM_API void *fhirpam_swap_enter(fhirpam_swap *swap, fhirpam_swap_ticket *ticket);
FHIRPAM_API void fhirpam_swap_leave(fhirpam_swap_ticket ticket);
/* Installs value, waits until no reader holds the old one, frees it. One
 * publisher at a time; never from inside authorize(). */
FHIRPAM_API void fhirpam_swap_publish(fhirpam_swap *swap, void *value);
/* Frees the swap and its value. No reader may remain. */
FHIRPAM_API void fhirpam_swap_free(fhirpam_swap *swap);

/* ------------------------------------------------------------------------ */
/* The configuration's times, background threads, and data kept on disk.    */

/*
 * The configuration's `token.leeway` and `token.max_ttl` (seconds): the one
 * clock-skew allowance and the longest token life (exp - iat, exp - now)
 * that every time comparison shares. A module that compares times uses these
 * rather than settings of its own, so that, say, a revocation is kept exactly
 * as long as the core accepts the tokens it covers. Returns true with both
 * set; false when the line's configuration verifies no tokens (no `token`
 * group, or a module test harness), with both left as they were. Only for
 * the args open() received.
 */
FHIRPAM_API bool fhirpam_token_limits(const fhirpam_args *args, int64_t *leeway, int64_t *max_ttl);

/*
 * A background thread that calls check(arg) every interval_ms until stopped:
 * the "re-read the file when it changes" loop of a module whose data lives
 * on disk (or in a store it polls).
 *
 * Ownership. The caller owns the watcher: fhirpam_watcher_stop frees it,
 * exactly once, and a module stops its watchers in its close() (before it
 * frees what arg points to). arg is borrowed: the core never frees it, and
 * it must stay valid until fhirpam_watcher_stop has returned.
 *
 * Threading. check runs only on the watcher's own thread, one call at a
 * time, first interval_ms after the start (or at a poke), then interval_ms
 * after the previous call returned; it may take as long as it needs (the
 * thread holds no lock a request takes). What check shares with requests it
 * publishes through fhirpam_swap (readers never wait for it). The thread
 * blocks every signal: a host's signals (SIGHUP, SIGTERM, SIGPIPE) stay with
 * the host's threads. fhirpam_watcher_poke asks for a check now (pokes made
 * during a check give one more check); it and fhirpam_watcher_stop may be
 * called from any thread but the watcher's own (check must not stop its own
 * watcher, nor fork). After fhirpam_watcher_stop returns, check is not
 * running and never runs again; poke must not follow it.
 *
 * fork(). fork() copies only the calling thread, so the core keeps every
 * watcher of the process in one list and registers pthread_atfork handlers
 * (once, at the first start). Before the fork it waits for every check in
 * progress to return and holds each watcher until the fork is done, so the
 * child's copy of every module's data is one no check was writing; the
 * parent's watchers then go on unchanged. In the child, each watcher is the
 * same object (the module stops it as in the parent) and runs on a new thread,
 * started by the child's first call into a context or fhirpam_swap_enter
 * (a fork handler may not start threads), with a fresh schedule (its
 * first check interval_ms after that). When that thread cannot be started
 * (the child's thread limit), the watcher does not run in that child: what
 * shows it is the age of its source's fresh_at (below). A host that forks after
 * fhirpam_open() (a pre-forking server's master; the nginx module opens in each worker instead)
 * must fork while no thread of its own is inside a fhirpam call: a lock such a call holds (an audit
 * write, a cache update) would stay held in the child.
 *
 * fhirpam_watcher_start returns NULL (and starts nothing) when interval_ms is
 * not positive, out of memory, or the thread cannot be started.
 */
typedef struct fhirpam_watcher fhirpam_watcher;
FHIRPAM_API fhirpam_watcher *fhirpam_watcher_start(int64_t interval_ms, void (*check)(void *arg),
                                                   void *arg);
FHIRPAM_API void fhirpam_watcher_poke(fhirpam_watcher *w);
FHIRPAM_API void fhirpam_watcher_stop(fhirpam_watcher *w);

/*
 * A module's data source (a deny list file; a shared store), whose state the
 * host sees (fhirpam_sources() in fhirpam.h, fhirpamd's /metrics) and every
 * audit record carries: `"<kind>_stale": false`, or true with
 * `"<kind>_error"` ("revocation_stale" for kind "revocation"; sources of one
 * kind share the pair, stale when any of them is).
 *
 * Ownership. fhirpam_source_new is called from open(), with the args open()
 * received: kind (lower-case letters, digits, '_', 1 to 31 bytes) and name
 * (the path or address, cut at 511 bytes) are copied, and the source joins
 * that configuration's list. The module owns the source and frees it with
 * fhirpam_source_free in close() (or when open() fails after creating it),
 * after stopping any watcher that reports on it; it must not outlive the
 * args. A configuration holds sources of at most four distinct kinds (each is
 * a pair of fields in every record): NULL for a fifth kind, for a kind that is
 * not a word, or when out of memory; open() then fails.
 *
 * State. A new source is fresh (fresh_at: now). After each check the module
 * says whether the data in force matches the source: fhirpam_source_fresh (it
 * loaded, or nothing changed: fresh_at moves to now, and a stale source is
 * fresh again, logged LOG_NOTICE) or fhirpam_source_stale (it changed and
 * could not be loaded, or could not be read; the previous data stays in
 * force: stale_since is set at the first such call, failures counts every
 * call, and the sentence is logged LOG_ERR once per distinct sentence, so a
 * watcher meeting the same bad file every second does not flood syslog). The
 * age of fresh_at is what a host alarms on when a watcher has stopped calling.
 *
 * Threading. fresh and stale may be called from any thread (usually the
 * watcher's); requests read the stale flag with one atomic load, and
 * fhirpam_sources() reads the sentence under a mutex no request takes. No
 * call may race with fhirpam_source_free. fork(): a source is plain memory,
 * copied into the child with the rest of the module's data; in a child it
 * reports what the child's own watcher finds.
 */
typedef struct fhirpam_source fhirpam_source;
FHIRPAM_API fhirpam_source *fhirpam_source_new(const fhirpam_args *args, const char *kind,
                                               const char *name);
FHIRPAM_API void fhirpam_source_fresh(fhirpam_source *source);
FHIRPAM_API void fhirpam_source_stale(fhirpam_source *source, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
FHIRPAM_API void fhirpam_source_free(fhirpam_source *source);

/* ------------------------------------------------------------------------ */
/* The descriptor.                                                           */

typedef struct fhirpam_module {
    /* ABI 1.0: never reordered, never changed. */
    uint16_t abi_major;           /* FHIRPAM_ABI_MAJOR when the module was built */
    uint16_t abi_minor;           /* FHIRPAM_ABI_MINOR when the module was built */
    uint32_t size;                /* sizeof(fhirpam_module) when the module was built */
    const char *name;             /* e.g. "scope_check" */
    const char *version;          /* the module's own version */
    const char *description;      /* one line */
    const fhirpam_arg_spec *args; /* declared arguments, ended by {NULL}; may be NULL */

    /* Open one instance for one stack line. Return 0 and set *instance (may be
     * NULL for a stateless module), or -1 with err filled: the configuration
     * then fails to load, and the core prefixes the message with file:line. */
    int (*open)(const fhirpam_args *args, void **instance, fhirpam_error *err);
    /* Decide. Must return a fhirpam_code; anything else is taken as `error`
     * with action `bad`. Called concurrently (see above). */
    fhirpam_code (*authorize)(void *instance, fhirpam_authz *az);
    /* Free the instance. May be NULL. */
    void (*close)(void *instance);

    /* ABI 1.1. The core reads it only from a descriptor whose abi_minor is
     * at least 1 and whose size covers it; older modules have no flags. */
    uint32_t flags; /* FHIRPAM_MODULE_* below, or 0 */

    /* Members added in later minors go here, and only here. */
} fhirpam_module;

/* The module verifies sender constraints and reports them with
 * fhirpam_binding_verified() (the core ignores reports from modules without
 * it); `fhirpam check` counts its lines as able to verify bindings. */
#define FHIRPAM_MODULE_VERIFIES_BINDING (1u << 0)

#define FHIRPAM_MODULE_SYMBOL "fhirpam_module_descriptor"

/* Define the descriptor: FHIRPAM_MODULE_DESCRIPTOR = { FHIRPAM_MODULE_HEADER, ... };
 * (a const object with its ABI words in the file: see "Loading" above). */
#define FHIRPAM_MODULE_DESCRIPTOR FHIRPAM_API const fhirpam_module fhirpam_module_descriptor
#define FHIRPAM_MODULE_HEADER                                                                      \
    .abi_major = FHIRPAM_ABI_MAJOR, .abi_minor = FHIRPAM_ABI_MINOR,                                \
    .size = (uint32_t)sizeof(fhirpam_module)

#ifdef __cplusplus
}
#endif

#endif
