/*
 * crash - a module that faults (issue 28 row 3): a write through a null
 * pointer, a real SIGSEGV, on every request whose URL contains `on`;
 * permits the others.
 */
#include <fhirpam/module.h>
#include <stdlib.h>
#include <string.h>

static const fhirpam_arg_spec crash_args[] = {
    {"on", FHIRPAM_ARG_STRING, "crash", "fault when the URL contains this"},
    {NULL, 0, NULL, NULL},
};

static int crash_open(const fhirpam_args *args, void **instance, fhirpam_error *err)
{
    *instance = strdup(fhirpam_args_string(args, "on", "crash"));
    return *instance != NULL ? 0 : -1;
}

static fhirpam_code crash_authorize(void *instance, fhirpam_authz *az)
{
    if (strstr(fhirpam_request_url(az), instance) != NULL) {
        volatile int *nowhere = NULL;
        *nowhere = 1;
    }
    return FHIRPAM_SUCCESS;
}

static void crash_close(void *instance)
{
    free(instance);
}

FHIRPAM_MODULE_DESCRIPTOR = {
    FHIRPAM_MODULE_HEADER,
    .name = "crash",
    .description = "faults on URLs containing its argument (for tests)",
    .args = crash_args,
    .open = crash_open,
    .authorize = crash_authorize,
    .close = crash_close,
};
