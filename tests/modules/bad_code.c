/* Returns a value outside fhirpam_code: the core must take it as `error`. */
#include <fhirpam/module.h>

static fhirpam_code bad_code_authorize(void *instance, fhirpam_authz *az)
{
    return (fhirpam_code)99;
}

FHIRPAM_MODULE_DESCRIPTOR = {
    FHIRPAM_MODULE_HEADER,
    .name = "bad_code",
    .authorize = bad_code_authorize,
};
