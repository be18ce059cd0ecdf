/*
 * parse.h - one FHIR Consent (R4 or R5 JSON, told apart by their elements)
 * into the model, at load. Actor references are left unresolved: the
 * index resolves them once every file has been read.
 */
#ifndef FHIRPAM_CONSENT_PARSE_H
#define FHIRPAM_CONSENT_PARSE_H

#include <jansson.h>

#include "model.h"

typedef struct parse_options {
    const char *const *categories; /* "system|code"; a Consent applies when
                                      its category or scope has one */
    size_t ncategories;
    bool any_category;          /* `category = []`: every category */
    bool confidentiality_order; /* a Confidentiality label covers the lower ones */
} parse_options;

/* 1 and *out set: an enforceable Consent (active, in a category honoured);
 * 0: a valid Consent that never applies (another status or category);
 * -1: not a Consent this module can read, with a sentence in err naming
 * the Consent and the element. */
int consent_parse(arena *a, const json_t *resource, const char *file, const parse_options *o,
                  consent **out, char *err, size_t errlen);

/* "system|value" of each identifier of a resource (any type) into *out. 0,
 * or -1 with err filled for an identifier without a value. */
int identifiers_parse(arena *a, const json_t *resource, identifier_set *out, char *err,
                      size_t errlen);

#endif
