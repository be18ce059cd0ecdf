/*
 * codes.h - what each fhirpam_code means on the wire (design §2).
 */
#ifndef FHIRPAM_CORE_CODES_H
#define FHIRPAM_CORE_CODES_H

#include <fhirpam/fhirpam.h>
#include <stdbool.h>

/* The HTTP status a server answers a deny with this code (200 for success). */
int code_http_status(fhirpam_code code);

/* The RFC 6750 error attribute for the Bearer challenge, or NULL when the code
 * takes none (e.g. a 403 without insufficient_scope). */
const char *code_bearer_error(fhirpam_code code);

/* True when `code` is a value of the enum. */
bool code_is_valid(int code);

#endif
