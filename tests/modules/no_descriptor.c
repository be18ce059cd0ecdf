/* A shared object that is not a fhirpam module: no descriptor symbol. */
#include <fhirpam/module.h>

FHIRPAM_API int fhirpam_test_not_a_module(void);

FHIRPAM_API int fhirpam_test_not_a_module(void)
{
    return 42;
}
