/*
 * model.h - Consent resources as the request path evaluates them: parsed,
 * validated and resolved at load (parse.c, index.c), never touched by a
 * request except to read.
 *
 * A code is the text "system|code" (system may be empty), compared
 * byte for byte (consent.md §3 rule 11: no case folding, no fixing).
 */
#ifndef FHIRPAM_CONSENT_MODEL_H
#define FHIRPAM_CONSENT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "strmap.h"

#define CONSENT_MAX_DEPTH 16

/* The systems the module itself reads or writes. */
#define SYS_RESOURCE_TYPES "http://hl7.org/fhir/resource-types"
#define SYS_ACT_REASON     "http://terminology.hl7.org/CodeSystem/v3-ActReason"
#define SYS_ACT_CODE       "http://terminology.hl7.org/CodeSystem/v3-ActCode"
#define SYS_CONSENT_ACTION "http://terminology.hl7.org/CodeSystem/consentaction"
#define SYS_CONSENT_SCOPE  "http://terminology.hl7.org/CodeSystem/consentscope"
#define SYS_URI            "urn:ietf:rfc:3986"
#define CONF_SYSTEM        "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"

typedef enum rule_type { RULE_NONE = 0, RULE_PERMIT, RULE_DENY } rule_type;

typedef struct code_set {
    const char **codes; /* "system|code" */
    uint32_t n;
} code_set;

typedef struct identifier_set {
    const char **ids; /* "system|value" */
    uint32_t n;
} identifier_set;

/* provision.actor: the reference as written and what it resolved to. */
typedef struct actor {
    const char *reference; /* "Organization/1", or NULL (identifier only) */
    identifier_set ids;    /* the stored resource's identifiers and the
                              reference's own identifier */
    bool resolved;         /* the store holds the resource, or the reference
                              carries an identifier */
} actor;

typedef struct provision {
    rule_type type;
    const char *path; /* "provision", "provision.provision[1]", R5 "provision[0]" */
    bool has_period;
    int64_t period_first, period_after; /* [first, after) */
    actor *actors;
    uint32_t nactors;
    code_set purpose, action;
    /* Content restrictions: which resources the rule is about. */
    code_set security_label, class_, code;
    /* Obligation text for the content restrictions: "sys|code sys|code"
     * percent-encoded (core/obligation.c), NULL when there are none. */
    const char *redact_text;
    /* An element the module cannot check from the request (data,
     * dataPeriod, expression): why, as a sentence; NULL when none. */
    const char *uncheckable;
    struct provision *children;
    uint32_t nchildren;
} provision;

typedef struct consent {
    const char *id;      /* "Consent/abc" */
    const char *file;    /* where it was read, for messages */
    const char *patient; /* the patient id */
    const char *version; /* "R4" or "R5" */
    bool has_date;
    int64_t date;    /* R4 dateTime / R5 date, for combine = latest */
    rule_type base;  /* RULE_NONE: not computable */
    bool has_period; /* R4 root provision.period / R5 Consent.period */
    int64_t period_first, period_after;
    provision root; /* R4: the root provision; R5: the Consent's own
                       decision, no conditions, provisions as children */
} consent;

/* A file the index was read from, and its size then. */
typedef struct store_file {
    const char *path;
    uint64_t size;
} store_file;

/* What the store holds, swapped in as one. */
typedef struct consent_index {
    arena *arena;
    consent **consents; /* grouped by patient, newest first in each group */
    size_t nconsents;
    strmap by_patient; /* patient id -> patient_consents */
    strmap resources;  /* "Type/id" -> stored_resource (actors, fhirUser) */
    strmap clients;    /* client_id -> identifier_set (client registry) */
    store_file *files; /* files read */
    size_t nfiles;
    uint64_t generation;
} consent_index;

/* A resource of the store by "Type/id" (resources): its identifiers. */
typedef struct stored_resource {
    identifier_set ids;
    const char *file;
} stored_resource;

typedef struct patient_consents {
    consent **list;
    uint32_t n;
} patient_consents;

void consent_index_free(consent_index *ix);

#endif
