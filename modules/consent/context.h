/*
 * context.h - what a request asks, read for the decision (decide.h): the
 * patients it is about, who asks and why (token claims, client registry,
 * fhirUser through the store), the data class and the consent action, and
 * lazily the stored resource's labels and codes.
 */
#ifndef FHIRPAM_CONSENT_CONTEXT_H
#define FHIRPAM_CONSENT_CONTEXT_H

#include <fhirpam/module.h>

#include "decide.h"

#define VIEW_MAX_PATIENTS 8

typedef struct view_settings {
    const void *key; /* the instance: owner of the per-token data */
    const char *patient_claim;
    const char *purpose_claim;
    const char *const *default_purposes; /* "system|code" */
    size_t ndefault_purposes;
} view_settings;

/* What the module reads from a token, once per token while it stays in
 * the verified-token cache (fhirpam_token_data). Strings point into the
 * token's claims, or into this, which live as long as it. */
typedef struct token_view {
    char patient[72];      /* the patient claim's id, "" when none */
    const char *client_id; /* or NULL */
    char fhir_user[160];   /* "Type/id", "" when none */
    const char *purposes[QUERY_MAX_PURPOSES];
    size_t npurposes;
    char purpose_text[QUERY_MAX_PURPOSES][160];
    const char *bad_word; /* a claim the module cannot read: every request denies */
    char bad_text[200];
} token_view;

typedef struct request_view {
    consent_query q; /* first: load_content finds the view from it */
    fhirpam_authz *az;
    const token_view *token;
    const char *patients[VIEW_MAX_PATIENTS]; /* patient ids */
    size_t npatients;
    char type_class[160];
    arena *scratch;        /* the stored resource's content, ids read from bodies */
    token_view unattached; /* when there is no token cache to keep it in */
} request_view;

/* Reads the request and claims. 0, or -1 with a reason word and sentence
 * for a request the module must deny: a claim it cannot read (purpose of
 * use, fhirUser, patient), a patient named in a form it cannot read, more
 * patients than it evaluates. */
int request_view_init(request_view *v, const view_settings *s, fhirpam_authz *az, const char **word,
                      char *text, size_t len);

/* Resolves the requester's identifiers in the index in force. */
void request_view_bind(request_view *v, const consent_index *ix);

/* Whether the request asks the server for part of each resource
 * (_elements, _summary other than false or count: R4 search.html#elements,
 * #summary): the response then need not show the codes a redact
 * obligation looks for (HAPI keeps meta, so labels stay, but drops
 * Observation.code under _elements and Condition.code under
 * _summary=text). */
bool request_view_subsets_response(fhirpam_authz *az);

void request_view_clear(request_view *v);

#endif
