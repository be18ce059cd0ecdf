/*
 * attr_probe - relies on the SDK's attribute contract (fhirpam_attr_set /
 * fhirpam_attr_get: attributes one module leaves for the next in the same
 * authorization), as scope_check and patient_link do.
 *
 *   mode = "mark":    on a request for resources of `type`, set the
 *                     attribute probe.ok (and, with oblige = true, add a
 *                     patient_compartment obligation); always success.
 *   mode = "require": success when probe.ok is set, deny otherwise.
 *
 * A stack mark + require permits exactly the requests for `type`; a bundle
 * entry that is not must be denied whatever entry came before it.
 */
#include <fhirpam/module.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const fhirpam_arg_spec probe_args[] = {
    {"mode", FHIRPAM_ARG_STRING, NULL, "mark or require"},
    {"type", FHIRPAM_ARG_STRING, "Observation", "the resource type that earns the mark"},
    {"oblige", FHIRPAM_ARG_BOOL, "false", "also add an obligation when marking"},
    {NULL, 0, NULL, NULL},
};

typedef struct probe {
    bool mark;
    bool oblige;
    char type[64];
} probe;

static int probe_open(const fhirpam_args *args, void **instance, fhirpam_error *err)
{
    const char *mode = fhirpam_args_string(args, "mode", "");
    const char *type = fhirpam_args_string(args, "type", "Observation");
    if ((strcmp(mode, "mark") != 0 && strcmp(mode, "require") != 0) || strlen(type) >= 64) {
        fhirpam_error_set(err, "mode must be \"mark\" or \"require\"");
        return -1;
    }
    probe *p = calloc(1, sizeof *p);
    if (p == NULL)
        return -1;
    p->mark = mode[0] == 'm';
    p->oblige = fhirpam_args_bool(args, "oblige", false);
    strcpy(p->type, type);
    *instance = p;
    return 0;
}

static fhirpam_code probe_authorize(void *instance, fhirpam_authz *az)
{
    const probe *p = instance;
    if (!p->mark) {
        if (fhirpam_attr_get(az, "probe.ok") != NULL) {
            fhirpam_set_reason(az, "marked", "an earlier module marked this request");
            return FHIRPAM_SUCCESS;
        }
        fhirpam_set_reason(az, "unmarked", "no earlier module marked this request");
        return FHIRPAM_DENY;
    }
    const char *type = fhirpam_fhir_type(az);
    if (type != NULL && strcmp(type, p->type) == 0) {
        if (fhirpam_attr_set(az, "probe.ok", type) != 0)
            return FHIRPAM_ERROR;
        if (p->oblige &&
            fhirpam_add_obligation(az, "patient_compartment",
                                   "{\"patient\":\"123\",\"fhir_version\":\"R4\"}") != 0)
            return FHIRPAM_ERROR;
    }
    return FHIRPAM_SUCCESS;
}

static void probe_close(void *instance)
{
    free(instance);
}

FHIRPAM_MODULE_DESCRIPTOR = {
    FHIRPAM_MODULE_HEADER,
    .name = "attr_probe",
    .description = "marks requests of one type; requires the mark (for tests)",
    .args = probe_args,
    .open = probe_open,
    .authorize = probe_authorize,
    .close = probe_close,
};
