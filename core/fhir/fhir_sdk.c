/* fhir_sdk.c - the module accessors for the parsed FHIR request (module.h). */
#include <fhirpam/module.h>

#include "authz.h"

FHIRPAM_API fhirpam_interaction fhirpam_fhir_interaction(const fhirpam_authz *az)
{
    return az->fhir->interaction;
}

FHIRPAM_API const char *fhirpam_fhir_type(const fhirpam_authz *az)
{
    return az->fhir->type;
}

FHIRPAM_API const char *fhirpam_fhir_id(const fhirpam_authz *az)
{
    return az->fhir->id;
}

FHIRPAM_API const char *fhirpam_fhir_version_id(const fhirpam_authz *az)
{
    return az->fhir->version_id;
}

FHIRPAM_API bool fhirpam_fhir_compartment(const fhirpam_authz *az, const char **type,
                                          const char **id)
{
    if (az->fhir->compartment_type == NULL)
        return false;
    *type = az->fhir->compartment_type;
    *id = az->fhir->compartment_id;
    return true;
}

FHIRPAM_API const char *fhirpam_fhir_operation(const fhirpam_authz *az,
                                               fhirpam_operation_level *level)
{
    if (level != NULL)
        *level = az->fhir->operation_level;
    return az->fhir->operation;
}

FHIRPAM_API bool fhirpam_fhir_conditional(const fhirpam_authz *az)
{
    return az->fhir->conditional;
}

FHIRPAM_API size_t fhirpam_fhir_param_count(const fhirpam_authz *az)
{
    return az->fhir->nparams;
}

static const fhir_param *param(const fhirpam_authz *az, size_t i)
{
    return i < az->fhir->nparams ? &az->fhir->params[i] : NULL;
}

FHIRPAM_API const char *fhirpam_fhir_param_name(const fhirpam_authz *az, size_t i)
{
    const fhir_param *p = param(az, i);
    return p ? p->name : NULL;
}

FHIRPAM_API const char *fhirpam_fhir_param_modifier(const fhirpam_authz *az, size_t i)
{
    const fhir_param *p = param(az, i);
    return p ? p->modifier : NULL;
}

FHIRPAM_API const char *fhirpam_fhir_param_chain(const fhirpam_authz *az, size_t i)
{
    const fhir_param *p = param(az, i);
    return p ? p->chain : NULL;
}

FHIRPAM_API size_t fhirpam_fhir_param_value_count(const fhirpam_authz *az, size_t i)
{
    const fhir_param *p = param(az, i);
    return p ? p->nvalues : 0;
}

FHIRPAM_API const char *fhirpam_fhir_param_value(const fhirpam_authz *az, size_t i, size_t j)
{
    const fhir_param *p = param(az, i);
    return p && j < p->nvalues ? p->values[j] : NULL;
}
