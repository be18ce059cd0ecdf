/*
 * compartment.h - the FHIR Patient compartment (CompartmentDefinition/patient,
 * R4 and R5), generated at build time (gen_table.py) from
 * data/compartment-expressions.tsv: for each resource type, the search
 * parameters that put it in a patient's compartment, and for each the
 * element path that holds the reference in a resource body.
 */
#ifndef FHIRPAM_PATIENT_LINK_COMPARTMENT_H
#define FHIRPAM_PATIENT_LINK_COMPARTMENT_H

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
} compartment_table;

extern const compartment_table compartment_r4, compartment_r5;

#endif
