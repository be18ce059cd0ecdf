/* A module built for a future ABI major: the loader must refuse it. */
#include <fhirpam/module.h>

static fhirpam_code bad_abi_authorize(void *instance, fhirpam_authz *az)
{
    return FHIRPAM_SUCCESS;
}

FHIRPAM_API const fhirpam_module fhirpam_module_descriptor = {
    .abi_major = FHIRPAM_ABI_MAJOR + 1,
    .abi_minor = 0,
    .size = sizeof(fhirpam_module),
    .name = "bad_abi",
    .authorize = bad_abi_authorize,
};
