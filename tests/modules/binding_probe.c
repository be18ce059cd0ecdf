/*
 * binding_probe - a stand-in for a vendor's module that verifies a sender
 * constraint the way the SDK says (module.h, fhirpam_binding_verified): it
 * reports the binding its `kind` argument names ("dpop", "mtls", "other", or
 * "dpop+mtls", which is not one kind and must be refused) without checking
 * anything, and returns success. Its reason word says what the core
 * answered: binding_reported (0) or binding_refused (-1).
 *
 * Built four times (tests/modules/meson.build): binding_probe declares
 * FHIRPAM_MODULE_VERIFIES_BINDING; binding_unflagged does not; binding_minor0
 * and binding_short set the flag where the core must not read it, in a
 * descriptor of ABI minor 0, and in one whose size ends before the member.
 */
#include <fhirpam/module.h>
#include <stddef.h>
#include <string.h>

static const fhirpam_arg_spec probe_args[] = {
    {"kind", FHIRPAM_ARG_STRING, "dpop", "dpop | mtls | other | dpop+mtls"},
    {NULL, 0, NULL, NULL},
};

static const fhirpam_binding kind_dpop = FHIRPAM_BINDING_DPOP, kind_mtls = FHIRPAM_BINDING_MTLS,
                             kind_other = FHIRPAM_BINDING_OTHER,
                             kind_both =
                                 (fhirpam_binding)(FHIRPAM_BINDING_DPOP | FHIRPAM_BINDING_MTLS);

static int probe_open(const fhirpam_args *args, void **instance, fhirpam_error *err)
{
    const char *kind = fhirpam_args_string(args, "kind", "dpop");
    const fhirpam_binding *k = strcmp(kind, "dpop") == 0        ? &kind_dpop
                               : strcmp(kind, "mtls") == 0      ? &kind_mtls
                               : strcmp(kind, "other") == 0     ? &kind_other
                               : strcmp(kind, "dpop+mtls") == 0 ? &kind_both
                                                                : NULL;
    if (k == NULL) {
        fhirpam_error_set(err, "kind must be dpop, mtls, other or dpop+mtls");
        return -1;
    }
    *instance = (void *)k;
    return 0;
}

static fhirpam_code probe_authorize(void *instance, fhirpam_authz *az)
{
    const fhirpam_binding *kind = instance;
    if (fhirpam_binding_verified(az, *kind) == 0)
        fhirpam_set_reason(az, "binding_reported", "the core took the report");
    else
        fhirpam_set_reason(az, "binding_refused", "the core refused the report");
    return FHIRPAM_SUCCESS;
}

#ifndef PROBE_NAME
#define PROBE_NAME "binding_probe"
#endif

FHIRPAM_MODULE_DESCRIPTOR = {
#if defined(PROBE_MINOR0)
    .abi_major = FHIRPAM_ABI_MAJOR,
    .abi_minor = 0,
    .size = (uint32_t)sizeof(fhirpam_module),
#elif defined(PROBE_SHORT)
    .abi_major = FHIRPAM_ABI_MAJOR,
    .abi_minor = FHIRPAM_ABI_MINOR,
    .size = (uint32_t)offsetof(fhirpam_module, flags),
#else
    FHIRPAM_MODULE_HEADER,
#endif
    .name = PROBE_NAME,
    .args = probe_args,
    .open = probe_open,
    .authorize = probe_authorize,
#ifndef PROBE_UNFLAGGED
    .flags = FHIRPAM_MODULE_VERIFIES_BINDING,
#endif
};
