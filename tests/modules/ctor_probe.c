/*
 * ctor_probe - a module whose constructor leaves a mark: it creates the file
 * named by $FHIRPAM_TEST_CTOR_MARKER. Built three ways (tests/modules/
 * meson.build): a valid module (ctor_ok, the control that proves the mark
 * appears when the constructor runs), one built for another ABI major
 * (ctor_bad_abi) and one without a descriptor (ctor_no_descriptor). The
 * loader must refuse the last two before any of their code runs.
 */
#include <fcntl.h>
#include <fhirpam/module.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void leave_mark(void)
{
    const char *marker = getenv("FHIRPAM_TEST_CTOR_MARKER");
    if (marker != NULL) {
        int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
}

#ifndef PROBE_NO_DESCRIPTOR
static fhirpam_code probe_authorize(void *instance, fhirpam_authz *az)
{
    (void)instance;
    fhirpam_set_reason(az, "ctor_probe", "the constructor probe answers");
    return FHIRPAM_SUCCESS;
}

FHIRPAM_MODULE_DESCRIPTOR = {
    .abi_major = PROBE_ABI_MAJOR,
    .abi_minor = FHIRPAM_ABI_MINOR,
    .size = (uint32_t)sizeof(fhirpam_module),
    .name = "ctor_probe",
    .authorize = probe_authorize,
};
#else
FHIRPAM_API int fhirpam_test_ctor_probe(void);
FHIRPAM_API int fhirpam_test_ctor_probe(void)
{
    return 1;
}
#endif
