/*
 * compartment.h - the FHIR Patient compartment (CompartmentDefinition/patient,
 * R4 and R5), generated at build time (gen_table.py) from
 * data/compartment-expressions.tsv: for each resource type, the search
 * parameters that put it in a patient's compartment, and for each the
 * element path that holds the reference in a resource body.
 */
#ifndef FHIRPAM_PATIENT_LINK_COMPARTMENT_H
#define FHIRPAM_PATIENT_LINK_COMPARTMENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct compartment_link {
    const char *resource;
    const char *param;
    const char *path;  /* dot-separated element names after the type; "id" for Patient */
    bool patient_only; /* only a reference to a Patient counts */
} compartment_link;

typedef struct compartment_table {
    const compartment_link *links; /* sorted by resource, then param */
    size_t n;
    const unsigned short *first; /* [i]: first link of a type starting 'A' + i; [26] = n */
} compartment_table;

extern const compartment_table compartment_r4, compartment_r5;

/* The table of "R4" or "R5", or NULL. */
const compartment_table *compartment_table_of(const char *version);

/* The links of a resource type (a run of the sorted table), or NULL. */
const compartment_link *compartment_links(const compartment_table *t, const char *type, size_t *n);

/* The resource (parsed JSON) is in Patient/<patient_id>'s compartment: the
 * Patient itself, or a resource of a compartment type with a reference to
 * it through one of the type's compartment elements. */
bool compartment_contains(const compartment_table *t, const json_t *resource,
                          const char *patient_id);

#endif
