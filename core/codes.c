/*
 * codes.c - names and HTTP meaning of the module return codes.
 */
#include "codes.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int http_status;
    const char *bearer_error; /* RFC 6750 §3.1 error code, when one applies */
} code_table[FHIRPAM_CODE_COUNT] = {
    [FHIRPAM_SUCCESS] = {"success", 200, NULL},
    /* A final `ignore` is a deny (pam-semantics §4, consequence 1). */
    [FHIRPAM_IGNORE] = {"ignore", 403, NULL},
    [FHIRPAM_DENY] = {"deny", 403, NULL},
    [FHIRPAM_INVALID_TOKEN] = {"invalid_token", 401, "invalid_token"},
    [FHIRPAM_EXPIRED] = {"expired", 401, "invalid_token"},
    [FHIRPAM_REVOKED] = {"revoked", 401, "invalid_token"},
    [FHIRPAM_INSUFFICIENT_SCOPE] = {"insufficient_scope", 403, "insufficient_scope"},
    [FHIRPAM_PATIENT_MISMATCH] = {"patient_mismatch", 403, NULL},
    [FHIRPAM_CONSENT_DENIED] = {"consent_denied", 403, NULL},
    /* RFC 8705 §3 and RFC 9449 §7.1: a failed binding is a 401 invalid_token. */
    [FHIRPAM_UNTRUSTED_DEVICE] = {"untrusted_device", 401, "invalid_token"},
    [FHIRPAM_INVALID_REQUEST] = {"invalid_request", 400, "invalid_request"},
    [FHIRPAM_UNAVAILABLE] = {"unavailable", 503, NULL},
    [FHIRPAM_ERROR] = {"error", 500, NULL},
};

bool code_is_valid(int code)
{
    return code >= 0 && code < FHIRPAM_CODE_COUNT;
}

int code_http_status(fhirpam_code code)
{
    return code_is_valid((int)code) ? code_table[code].http_status : 500;
}

const char *code_bearer_error(fhirpam_code code)
{
    return code_is_valid((int)code) ? code_table[code].bearer_error : NULL;
}

FHIRPAM_API const char *fhirpam_code_name(fhirpam_code code)
{
    return code_is_valid((int)code) ? code_table[code].name : NULL;
}

FHIRPAM_API int fhirpam_code_from_name(const char *name, fhirpam_code *code)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < FHIRPAM_CODE_COUNT; i++) {
        if (strcmp(name, code_table[i].name) == 0) {
            *code = (fhirpam_code)i;
            return 0;
        }
    }
    return -1;
}

FHIRPAM_API void fhirpam_error_set(fhirpam_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
}
