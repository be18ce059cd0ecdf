/* A descriptor that claims to be smaller than ABI 1.0 requires. */
#include <fhirpam/module.h>

static fhirpam_code small_authorize(void *instance, fhirpam_authz *az)
{
    return FHIRPAM_SUCCESS;
}

FHIRPAM_API const fhirpam_module fhirpam_module_descriptor = {
    .abi_major = FHIRPAM_ABI_MAJOR,
    .abi_minor = 0,
    .size = 8,
    .name = "small",
    .authorize = small_authorize,
};
