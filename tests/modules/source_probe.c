/*
 * Registers one data source (module.h's fhirpam_source_*) of the kind its
 * args name, stale with the sentence `stale` when given, so that tests can
 * check what the core does with sources of any kind: the audit record's
 * "<kind>_stale" pair, fhirpam_sources(), the limit on kinds.
 */
#include <fhirpam/module.h>

static const fhirpam_arg_spec probe_args[] = {
    {"kind", FHIRPAM_ARG_STRING, "probe", "the source's kind"},
    {"stale", FHIRPAM_ARG_STRING, NULL, "when given, the source is stale with this sentence"},
    {NULL, 0, NULL, NULL},
};

static int probe_open(const fhirpam_args *args, void **instance, fhirpam_error *err)
{
    const char *kind = fhirpam_args_string(args, "kind", "probe");
    const char *stale = fhirpam_args_string(args, "stale", NULL);
    fhirpam_source *source = fhirpam_source_new(args, kind, "probe");
    if (source == NULL) {
        fhirpam_error_set(err, "cannot register a source of kind %s", kind);
        return -1;
    }
    if (stale != NULL)
        fhirpam_source_stale(source, "%s", stale);
    *instance = source;
    return 0;
}

static fhirpam_code probe_authorize(void *instance, fhirpam_authz *az)
{
    (void)instance;
    (void)az;
    return FHIRPAM_SUCCESS;
}

static void probe_close(void *instance)
{
    fhirpam_source_free(instance);
}

FHIRPAM_MODULE_DESCRIPTOR = {
    FHIRPAM_MODULE_HEADER, .name = "source_probe",       .args = probe_args,
    .open = probe_open,    .authorize = probe_authorize, .close = probe_close,
};
