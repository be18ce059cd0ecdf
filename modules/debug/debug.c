/*
 * debug - returns the code named by its `result` argument, and nothing else.
 *
 * The test double of the whole project (every stack-engine test is a stack of
 * debug modules) and the smallest complete example of a fhirpam module.
 */
#include <fhirpam/module.h>
#include <stdlib.h>

static const fhirpam_arg_spec debug_args[] = {
    {"result", FHIRPAM_ARG_STRING, "success", "the code to return (any code of design §2)"},
    {NULL, 0, NULL, NULL},
};

static int debug_open(const fhirpam_args *args, void **instance, fhirpam_error *err)
{
    const char *name = fhirpam_args_string(args, "result", "success");
    fhirpam_code code;
    if (fhirpam_code_from_name(name, &code) != 0) {
        fhirpam_error_set(err, "result \"%s\" is not a fhirpam code", name);
        return -1;
    }
    fhirpam_code *state = malloc(sizeof *state);
    if (state == NULL) {
        fhirpam_error_set(err, "out of memory");
        return -1;
    }
    *state = code;
    *instance = state;
    return 0;
}

static fhirpam_code debug_authorize(void *instance, fhirpam_authz *az)
{
    fhirpam_code code = *(const fhirpam_code *)instance;
    fhirpam_set_reason(az, "debug_result", "the debug module is configured to return %s",
                       fhirpam_code_name(code));
    return code;
}

static void debug_close(void *instance)
{
    free(instance);
}

FHIRPAM_MODULE_DESCRIPTOR = {
    FHIRPAM_MODULE_HEADER,
    .name = "debug",
    .version = "1.0",
    .description = "returns the code named by its result argument (for tests)",
    .args = debug_args,
    .open = debug_open,
    .authorize = debug_authorize,
    .close = debug_close,
};
