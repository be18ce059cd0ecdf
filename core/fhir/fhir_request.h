/*
 * fhir_request.h - what a FHIR REST request means: the interaction, the
 * resource type, id and version, the compartment, the operation, and the
 * search parameters (issue 4; R4 http.html and search.html).
 *
 * Parsed once per request, before any module runs, from the method, the URL
 * (an absolute URL must start with the configured fhir_base, which is
 * stripped) and, for POST _search, the form body. Anything it cannot
 * understand is an error: the request is then refused as invalid_request,
 * never guessed at.
 */
#ifndef FHIRPAM_CORE_FHIR_REQUEST_H
#define FHIRPAM_CORE_FHIR_REQUEST_H

#include <fhirpam/module.h>
#include <stdbool.h>
#include <stddef.h>

#define FHIR_MAX_URL      8192
#define FHIR_MAX_PARAMS   100
#define FHIR_MAX_VALUES   100
#define FHIR_MAX_BODY     (16 * 1024 * 1024)
#define FHIR_INLINE_ARENA 2048

typedef struct fhir_param {
    char *name, *modifier, *chain; /* modifier, chain may be NULL */
    char **values;
    size_t nvalues;
} fhir_param;

typedef struct fhir_request {
    fhirpam_interaction interaction;
    char *type, *id, *version_id;
    char *compartment_type, *compartment_id; /* compartment searches */
    char *operation;                         /* without '$' */
    fhirpam_operation_level operation_level;
    bool conditional;
    fhir_param *params;
    size_t nparams;
    /* Every string above lives in the arena: inline_buf for most requests
     * (the struct sits on the caller's stack), else one allocation. */
    char *arena;
    _Alignas(16) char inline_buf[FHIR_INLINE_ARENA];
} fhir_request;

/*
 * Parses method and url (with base, the configured fhir_base, or NULL) and
 * body (POST _search form; a Bundle for batch/transaction; may be NULL)
 * into out. if_none_exist is the If-None-Exist header or NULL. Returns 0, or
 * -1 with a sentence in err (out is then empty).
 */
int fhir_request_parse(const char *method, const char *url, const char *base, const char *body,
                       size_t body_len, const char *if_none_exist, fhir_request *out, char *err,
                       size_t errlen);
void fhir_request_clear(fhir_request *r);

#endif
