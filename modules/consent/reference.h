/*
 * reference.h - FHIR references as a server reads them (R4 references.html,
 * search.html#reference; HAPI's IdType takes "[base/]Type/id[/_history/v]"
 * and reads the id before `/_history/`): the forms the consent module
 * normalises, so that a value naming a patient or a user is either read
 * the way the server will read it, or refused. Pure functions, no
 * allocation.
 */
#ifndef FHIRPAM_CONSENT_REFERENCE_H
#define FHIRPAM_CONSENT_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>

enum {
    REFERENCE_BARE_ID = 1,  /* "id" and "id/_history/v" too (a search value, a claim) */
    REFERENCE_ANY_BASE = 2, /* an absolute URL on any http(s) base (fhirUser) */
};

typedef struct reference_parts {
    const char *type; /* NULL for a bare id */
    size_t type_len;
    const char *id;
    size_t id_len;
} reference_parts;

/*
 * Reads value as one of: "Type/id", "Type/id/_history/v" (the version is
 * dropped), either with one trailing '/', or the same after
 * "<base>/" where base is the configured fhir_base (any http(s) base with
 * REFERENCE_ANY_BASE), or with REFERENCE_BARE_ID "id" and "id/_history/v".
 * Type is a resource type name ([A-Z][A-Za-z]*), id and v FHIR ids
 * ([A-Za-z0-9.-]{1,64}). 0 and *out set, or -1 for anything else (another
 * base, "#contained", "urn:", empty segments, extra segments).
 */
int reference_read(const char *value, const char *base, unsigned flags, reference_parts *out);

/* A FHIR id: [A-Za-z0-9.-]{1,64} (R4 datatypes.html#id). */
bool fhir_id_valid(const char *s, size_t len);

#endif
