/*
 * Declares one argument of every type and reports what the accessors read,
 * in its reason text, so that tests can check the args API end to end.
 */
#include <fhirpam/module.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const fhirpam_arg_spec echo_args[] = {
    {"name", FHIRPAM_ARG_STRING, "none", "a string"},
    {"count", FHIRPAM_ARG_INT, "7", "an integer"},
    {"flag", FHIRPAM_ARG_BOOL, "false", "a boolean"},
    {"items", FHIRPAM_ARG_LIST, NULL, "a list of strings"},
    {"nested", FHIRPAM_ARG_GROUP, NULL, "a group"},
    {NULL, 0, NULL, NULL},
};

static int echo_open(const fhirpam_args *args, void **instance, fhirpam_error *err)
{
    char *text = malloc(512);
    if (text == NULL)
        return -1;
    int n = snprintf(text, 512, "name=%s count=%" PRId64 " flag=%d items=",
                     fhirpam_args_string(args, "name", "none"), fhirpam_args_int(args, "count", 7),
                     fhirpam_args_bool(args, "flag", false));
    for (size_t i = 0; i < fhirpam_args_list_size(args, "items") && n < 400; i++)
        n += snprintf(text + n, (size_t)(512 - n), "%s%s", i ? "," : "",
                      fhirpam_args_list_item(args, "items", i));
    const fhirpam_args *nested = fhirpam_args_group(args, "nested");
    n += snprintf(text + n, (size_t)(512 - n), " nested=");
    for (size_t i = 0; nested != NULL && fhirpam_args_member_name(nested, i) != NULL && n < 480;
         i++) {
        const char *m = fhirpam_args_member_name(nested, i);
        n += snprintf(text + n, (size_t)(512 - n), "%s%s:%s", i ? "," : "", m,
                      fhirpam_args_string(nested, m, "?"));
    }
    *instance = text;
    return 0;
}

static fhirpam_code echo_authorize(void *instance, fhirpam_authz *az)
{
    fhirpam_set_reason(az, "echo", "%s", (const char *)instance);
    return FHIRPAM_SUCCESS;
}

static void echo_close(void *instance)
{
    free(instance);
}

FHIRPAM_MODULE_DESCRIPTOR = {
    FHIRPAM_MODULE_HEADER, .name = "echo_args",         .args = echo_args,
    .open = echo_open,     .authorize = echo_authorize, .close = echo_close,
};
