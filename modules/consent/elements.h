/*
 * elements.h - the JSON members a Consent may hold, per FHIR version,
 * generated at build time (gen_elements.py) from the Consent
 * StructureDefinitions of R4 4.0.1 and R5 5.0.0 kept in data/. The parser
 * tells the version by them and refuses a Consent with a member its version
 * does not define, of the wrong JSON shape, or a modifier it does not
 * understand: what it cannot read, it does not half-enforce.
 */
#ifndef FHIRPAM_CONSENT_ELEMENTS_H
#define FHIRPAM_CONSENT_ELEMENTS_H

#include <jansson.h>
#include <stddef.h>

enum {
    ELEMENT_MANY = 1,      /* max > 1: a JSON array */
    ELEMENT_PRIMITIVE = 2, /* a JSON string, number or boolean (and `_name`) */
    ELEMENT_BACKBONE = 4,  /* an object whose members are rows of this table */
    ELEMENT_RESOURCE = 8,  /* a contained resource */
    ELEMENT_MODIFIER = 16, /* isModifier: changes the meaning of the rest */
};

typedef struct consent_element {
    const char *name; /* the JSON member name */
    short parent;     /* the backbone row it belongs to; -1: the Consent */
    short members;    /* a backbone: the row whose members it holds (itself,
                         or a contentReference's target); else -1 */
    unsigned flags;
} consent_element;

typedef struct consent_element_table {
    const char *version; /* "R4", "R5" */
    const consent_element *rows;
    size_t n;
} consent_element_table;

extern const consent_element_table consent_elements_r4, consent_elements_r5;

/* The row of member `name` in the backbone `parent` (-1: the Consent), or
 * NULL when the version does not define it. */
const consent_element *consent_element_find(const consent_element_table *t, int parent,
                                            const char *name);

/* Checks every member of the Consent, recursively through its backbone
 * elements, against the table: defined, of its JSON shape, and no modifier
 * but `status`, R4 `scope` and R5 `decision` (which the parser reads);
 * `modifierExtension` is refused anywhere in the resource, contained
 * resources and data types included. 0, or -1 with a sentence naming the
 * element in err. */
int consent_elements_check(const consent_element_table *t, const json_t *resource, char *err,
                           size_t errlen);

#endif
