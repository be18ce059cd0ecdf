/*
 * decide.h - the decision of one patient's Consents for one request
 * (consent.md §3; the rules are in the module's README). Reads the index
 * and the query, allocates nothing and makes no system call itself; the
 * stored resource's content is read, once, through the query's callback.
 */
#ifndef FHIRPAM_CONSENT_DECIDE_H
#define FHIRPAM_CONSENT_DECIDE_H

#include "model.h"

#define QUERY_MAX_PURPOSES 16
#define OUTCOME_MAX_REDACT 32

/* What the stored resource the host passed holds (read lazily, only when a
 * rule asks about labels, codes or classes), every resource inside it
 * (contained, Bundle entries at any depth, Parameters resources) included:
 * the same places fhirpam_check_response() looks. */
typedef struct resource_content {
    bool known;          /* false: no stored resource, or it does not parse */
    bool single;         /* it holds no other resource */
    const char **labels; /* meta.security of each resource, "system|code" */
    size_t nlabels;
    const char **codes; /* every Coding anywhere */
    size_t ncodes;
    const char **classes; /* resource-types|Type and urn:ietf:rfc:3986|profile of each */
    size_t nclasses;
} resource_content;

typedef struct consent_query {
    int64_t now;
    /* Who asks: the fhirUser reference ("Practitioner/7") and the
     * identifiers of the client (registry) and of the fhirUser resource. */
    const char *fhir_user;
    const identifier_set *client_ids, *user_ids;
    /* Why: purposes of use, "system|code". */
    const char *const *purposes;
    size_t npurposes;
    /* What, from the request: "resource-types|Type" when the response holds
     * resources of that type (NULL when it names none); type_only when it
     * can hold nothing else (no _include, not a Bundle, List or
     * Parameters). The consentaction code, or NULL when the action is not
     * known (an operation that may change data): every action rule is then
     * a doubt. */
    const char *type_class;
    bool type_only;
    const char *action_key;
    /* The stored resource is the data the request touches (read, vread,
     * update, patch, delete): its content decides labels, codes and
     * classes. content_loaded says whether `content` was filled yet
     * (load_content does it once). */
    bool use_stored;
    bool content_loaded;
    resource_content content;
    void (*load_content)(struct consent_query *q);
} consent_query;

typedef enum outcome_kind {
    OUTCOME_NONE = 0, /* no Consent applies */
    OUTCOME_FILTER,   /* no decision, but these resources must not be sent */
    OUTCOME_PERMIT,
    OUTCOME_DENY,
} outcome_kind;

typedef struct outcome {
    outcome_kind kind;
    const consent *consent;     /* the deciding Consent */
    const provision *provision; /* its deciding provision */
    const char *why;            /* for a deny: "redact", "tie", a doubt; NULL: the rule's own */
    const char *reason;         /* the reason word */
    /* Redact obligations (provision redact_text), for PERMIT and FILTER. */
    const char *redact[OUTCOME_MAX_REDACT];
    size_t nredact;
} outcome;

typedef enum combine_mode { COMBINE_LATEST, COMBINE_DENY_OVERRIDES } combine_mode;

typedef struct decide_options {
    combine_mode combine;
    bool redact_deny; /* redact = "deny" */
} decide_options;

/* The outcome of a patient's Consents (newest first, as the index keeps
 * them). */
void decide_patient(const decide_options *o, const patient_consents *pc, consent_query *q,
                    outcome *out);

/* Empties an outcome (cheaply: the redact array is left as it is). */
void outcome_reset(outcome *o);

/* Folds a second outcome (another patient named by the same request) into
 * *acc: any deny wins, redactions add up. */
void outcome_merge(outcome *acc, const outcome *next);

#endif
