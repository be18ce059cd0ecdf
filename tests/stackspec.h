/*
 * stackspec.h - a one-line notation for stacks, shared by the engine tables
 * and the Linux-PAM comparison.
 *
 *   required:success [success=1 default=bad]:invalid_token { sufficient:ignore }
 *
 * Each word is CONTROL:CODE (the control the line has, the code its module
 * returns); `{` and `}` open and close a substack. A code may also be a
 * number, returned as is (to test out-of-range codes). Modules are numbered
 * from 1 in the order they are written, markers not counted.
 */
#ifndef FHIRPAM_TEST_STACKSPEC_H
#define FHIRPAM_TEST_STACKSPEC_H

#include <stddef.h>

#include "stack.h"

#define SPEC_MAX 64

typedef struct stackspec {
    size_t n; /* entries, markers included */
    stack_entry entries[SPEC_MAX];
    int codes[SPEC_MAX];          /* what each entry's module returns */
    int module_no[SPEC_MAX];      /* 1-based module number, 0 for markers */
    char controls[SPEC_MAX][128]; /* the control text of each module */
} stackspec;

/* Parses text; returns 0, or -1 with a message in err. */
int spec_parse(const char *text, stackspec *s, char *err, size_t errlen);

/* Runs the engine over s; writes the called module numbers, space-separated,
 * into called, and the steps into steps when it is not NULL (room for
 * SPEC_MAX). */
void spec_run(const stackspec *s, stack_result *res, stack_step *steps, char *called,
              size_t calledlen);

#endif
