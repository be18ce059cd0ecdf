/*
 * scopes.h - SMART scopes as grants (README.md, smart-scopes.md §1, §2).
 */
#ifndef FHIRPAM_SCOPE_CHECK_SCOPES_H
#define FHIRPAM_SCOPE_CHECK_SCOPES_H

#include <stdbool.h>
#include <stddef.h>

enum { LETTER_C = 1, LETTER_R = 2, LETTER_U = 4, LETTER_D = 8, LETTER_S = 16 };
typedef enum scope_context { CONTEXT_PATIENT, CONTEXT_USER, CONTEXT_SYSTEM } scope_context;

typedef struct constraint {
    char *name;
    char **values; /* the comma-separated alternatives */
    size_t nvalues;
} constraint;

typedef struct grant {
    scope_context context;
    char *type; /* a resource type or "*" */
    size_t type_len;
    unsigned letters;
    constraint *constraints; /* ANDed; none: the grant is not granular */
    size_t nconstraints;
} grant;

typedef enum scope_kind { SCOPE_GRANT, SCOPE_NO_DATA, SCOPE_MALFORMED } scope_kind;

typedef struct scope_set {
    grant *grants;
    size_t n;
    size_t malformed;    /* scopes that did not parse */
    bool v1, v2;         /* which syntaxes appeared */
    bool has_context[3]; /* contexts that appeared in a grant */
    int first_context;   /* of the first grant, -1 before one */
} scope_set;

/* Parses the space-separated scopes text into set (which the caller
 * zeroes first, then sets first_context to -1; scope_set_add may be called several times, e.g. for
 * an array claim). Returns 0, or -1 when out of memory. */
int scope_set_add(scope_set *set, const char *text);
void scope_set_free(scope_set *set);

/* What one scope is, for tests and the ceiling check. */
scope_kind scope_classify(const char *scope, size_t len);

const char *scope_context_name(scope_context c);

#endif
