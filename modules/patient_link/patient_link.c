/*
 * patient_link - under patient/ scopes, every request stays inside the
 * token's patient's compartment (issue 5; smart-scopes.md §5, §9 A13-A21).
 *
 * The module permits only what it can prove from the request, its body and
 * the stored resource the host passes: a read of Patient/<id>, a compartment
 * search of that patient, a search constrained by a compartment parameter
 * with exactly that typed reference, a write whose body (and, for an update,
 * stored resource) references that patient through a compartment element,
 * and $everything on that patient. Everything else under a patient/ grant is
 * patient_mismatch, with the element or parameter at fault.
 */
#include <fhirpam/module.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const fhirpam_arg_spec patient_link_args[] = {
    {"fhir_version", FHIRPAM_ARG_STRING, "R4", "R4 | R5: the compartment definition to use"},
    {"patient_claim", FHIRPAM_ARG_STRING, "patient", "the claim naming the launch patient"},
    {"non_compartment_reads", FHIRPAM_ARG_STRING, "permit",
     "permit | deny reads of types outside the compartment (Medication, Practitioner...)"},
    {"unresolved", FHIRPAM_ARG_STRING, "deny",
     "deny | check_response: a read whose result the request cannot show (by id without the "
     "stored resource, _include) is denied, or permitted with an obligation on the response"},
    {NULL, 0, NULL, NULL},
};

typedef struct patient_link {
    char version[4]; /* "R4" or "R5" */
    char *claim;
    bool deny_outside_reads;
    bool check_response; /* unresolved reads: permit with an obligation */
} patient_link;

static void patient_link_close(void *instance)
{
    patient_link *pl = instance;
    if (pl != NULL)
        free(pl->claim);
    free(pl);
}

static int patient_link_open(const fhirpam_args *args, void **instance, fhirpam_error *err)
{
    const char *version = fhirpam_args_string(args, "fhir_version", "R4");
    const char *reads = fhirpam_args_string(args, "non_compartment_reads", "permit");
    const char *unresolved = fhirpam_args_string(args, "unresolved", "deny");
    if (strcmp(unresolved, "deny") != 0 && strcmp(unresolved, "check_response") != 0) {
        fhirpam_error_set(err, "unresolved must be \"deny\" or \"check_response\"");
        return -1;
    }
    if (strcmp(version, "R4") != 0 && strcmp(version, "R5") != 0) {
        fhirpam_error_set(err, "fhir_version must be \"R4\" or \"R5\"");
        return -1;
    }
    if (strcmp(reads, "permit") != 0 && strcmp(reads, "deny") != 0) {
        fhirpam_error_set(err, "non_compartment_reads must be \"permit\" or \"deny\"");
        return -1;
    }
    patient_link *pl = calloc(1, sizeof *pl);
    if (pl == NULL ||
        (pl->claim = strdup(fhirpam_args_string(args, "patient_claim", "patient"))) == NULL) {
        free(pl);
        fhirpam_error_set(err, "out of memory");
        return -1;
    }
    memcpy(pl->version, version, 3);
    pl->deny_outside_reads = strcmp(reads, "deny") == 0;
    pl->check_response = strcmp(unresolved, "check_response") == 0;
    *instance = pl;
    return 0;
}

static fhirpam_code mismatch(fhirpam_authz *az, const char *word, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* patient_mismatch, with a reason naming the element or parameter at fault. */
static fhirpam_code mismatch(fhirpam_authz *az, const char *word, const char *fmt, ...)
{
    char text[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fhirpam_set_reason(az, word, "%s", text);
    return FHIRPAM_PATIENT_MISMATCH;
}

/* The resource text (a body or a stored version) is of `type` and in the
 * patient's compartment (fhirpam_compartment_contains). */
static bool resource_in_compartment(const patient_link *pl, const char *text, size_t len,
                                    const char *type, const char *patient_id)
{
    json_t *doc = text ? json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    const char *rt = json_string_value(json_object_get(doc, "resourceType"));
    bool same_type = rt != NULL && strcmp(rt, type) == 0;
    json_decref(doc);
    return same_type && fhirpam_compartment_contains(pl->version, text, len, patient_id);
}

/* Permitted on condition that the response lies in the patient's
 * compartment (unresolved = "check_response"), or refused. */
static fhirpam_code unresolved(const patient_link *pl, fhirpam_authz *az, const char *patient_id,
                               const char *word, const char *why)
{
    if (pl->check_response) {
        char params[200];
        snprintf(params, sizeof params, "{\"patient\":\"%s\",\"fhir_version\":\"%s\"}", patient_id,
                 pl->version);
        if (fhirpam_add_obligation(az, "patient_compartment", params) == 0) {
            fhirpam_set_reason(az, "check_response",
                               "permitted if the response lies in Patient/%s's compartment",
                               patient_id);
            return FHIRPAM_SUCCESS;
        }
    }
    return mismatch(az, word, "%s", why);
}

/* A search constrained to the patient (A14-A16): some compartment parameter
 * of the type with exactly one value, a typed reference to the patient
 * (`subject=Patient/123`, `subject:Patient=123`; for Patient, `_id=123`).
 * Other parameters only narrow the search (an AND), except that naming any
 * other patient, or an untyped id, in a compartment parameter is refused. */
static bool search_constrained(const patient_link *pl, fhirpam_authz *az, const char *type,
                               const char *patient_id, const char **fault)
{
    bool constrained = false;
    *fault = "no compartment parameter";
    for (size_t i = 0; i < fhirpam_fhir_param_count(az); i++) {
        const char *name = fhirpam_fhir_param_name(az, i);
        bool is_id = strcmp(type, "Patient") == 0 && strcmp(name, "_id") == 0;
        /* `patient` is, for every type that has it, the subject (or patient
         * element) restricted to Patients: as narrow as the compartment
         * parameter it restricts, so it counts as one (R4's Observation
         * lists only subject and performer). */
        bool compartment_param = is_id || strcmp(name, "patient") == 0 ||
                                 fhirpam_compartment_param(pl->version, type, name);
        if (!compartment_param || fhirpam_fhir_param_chain(az, i) != NULL)
            continue;
        const char *mod = fhirpam_fhir_param_modifier(az, i);
        size_t nv = fhirpam_fhir_param_value_count(az, i);
        bool mine = nv == 1;
        for (size_t j = 0; j < nv; j++) {
            const char *v = fhirpam_fhir_param_value(az, i, j);
            bool patient_ref = is_id || (mod != NULL && strcmp(mod, "Patient") == 0) ||
                               strncmp(v, "Patient/", 8) == 0;
            bool untyped = !is_id && mod == NULL && strchr(v, '/') == NULL;
            const char *pid = is_id || mod != NULL ? v : v + 8;
            if (untyped || (patient_ref && strcmp(pid, patient_id) != 0)) {
                *fault = name; /* an untyped id, or another patient (A16) */
                return false;
            }
            mine = mine && patient_ref;
        }
        if (mine)
            constrained = true;
        else if (nv > 1)
            *fault = name; /* the patient among several (A16) */
    }
    return constrained;
}

static bool has_param(fhirpam_authz *az, const char *name)
{
    for (size_t i = 0; i < fhirpam_fhir_param_count(az); i++)
        if (strcmp(fhirpam_fhir_param_name(az, i), name) == 0)
            return true;
    return false;
}

static fhirpam_code patient_link_authorize(void *instance, fhirpam_authz *az)
{
    const patient_link *pl = instance;
    if (!fhirpam_has_token(az)) {
        fhirpam_set_reason(az, "no_token", "patient_link needs a token");
        return FHIRPAM_DENY;
    }
    /* Only a patient/ grant binds the request to the patient (A2). */
    const char *context = fhirpam_attr_get(az, "scope_check.context");
    if (context != NULL && strcmp(context, "patient") != 0)
        return FHIRPAM_IGNORE;
    const char *claim = fhirpam_claim_string(az, pl->claim);
    if (claim == NULL || claim[0] == '\0')
        return mismatch(az, "no_patient", "the token has no %s claim to bind patient/ scopes to",
                        pl->claim);
    /* A17: a bare id, or Patient/<id>. */
    const char *patient_id = strncmp(claim, "Patient/", 8) == 0 ? claim + 8 : claim;
    if (*patient_id == '\0' || strchr(patient_id, '/') != NULL)
        return mismatch(az, "bad_patient_claim", "the %s claim is not a patient id", pl->claim);
    char want[160];
    snprintf(want, sizeof want, "Patient/%s", patient_id);

    fhirpam_interaction ia = fhirpam_fhir_interaction(az);
    const char *type = fhirpam_fhir_type(az), *id = fhirpam_fhir_id(az);
    bool compartment_type = type != NULL && fhirpam_compartment_type(pl->version, type) == 1;
    const char *fault;
    bool includes = has_param(az, "_include") || has_param(az, "_revinclude");
    static const char include_why[] =
        "under patient/ scopes, an _include or _revinclude may return another patient's data";
    if (includes && !pl->check_response)
        return mismatch(az, "unresolved_include", "%s", include_why);
    switch (ia) {
    case FHIRPAM_IA_CAPABILITIES:
        return FHIRPAM_SUCCESS;
    case FHIRPAM_IA_SEARCH_COMPARTMENT: {
        const char *ctype, *cid;
        fhirpam_fhir_compartment(az, &ctype, &cid);
        if (strcmp(ctype, "Patient") == 0 && strcmp(cid, patient_id) == 0)
            return includes ? unresolved(pl, az, patient_id, "unresolved_include", include_why)
                            : FHIRPAM_SUCCESS;
        return mismatch(az, "other_compartment", "the compartment searched is not %s", want);
    }
    case FHIRPAM_IA_READ:
    case FHIRPAM_IA_VREAD:
    case FHIRPAM_IA_HISTORY_INSTANCE:
    case FHIRPAM_IA_DELETE:
    case FHIRPAM_IA_PATCH:
    case FHIRPAM_IA_UPDATE:
        if (!compartment_type) {
            bool read = ia == FHIRPAM_IA_READ || ia == FHIRPAM_IA_VREAD ||
                        ia == FHIRPAM_IA_HISTORY_INSTANCE;
            if (read && !pl->deny_outside_reads)
                return FHIRPAM_SUCCESS; /* A13 */
            return mismatch(az, "outside_compartment", "%s is not in any patient's compartment",
                            type);
        }
        if (fhirpam_fhir_conditional(az))
            return mismatch(az, "conditional_write", "%s",
                            "a conditional write may touch another patient's records");
        if (strcmp(type, "Patient") == 0) {
            if (id == NULL || strcmp(id, patient_id) != 0)
                return mismatch(az, "other_patient",
                                "the request addresses a Patient other than %s", want);
            if (ia == FHIRPAM_IA_UPDATE) {
                size_t len;
                const char *body = fhirpam_request_body(az, &len);
                if (!resource_in_compartment(pl, body, len, "Patient", patient_id))
                    return mismatch(az, "body_outside", "the new Patient is not %s", want);
            }
            return FHIRPAM_SUCCESS;
        } else {
            /* By id: only the stored resource can show where it belongs. */
            size_t len;
            const char *stored = fhirpam_request_current(az, &len);
            bool read = ia == FHIRPAM_IA_READ || ia == FHIRPAM_IA_VREAD ||
                        ia == FHIRPAM_IA_HISTORY_INSTANCE;
            if (stored == NULL && read)
                return unresolved(pl, az, patient_id, "unresolved_resource",
                                  "a read by id needs the stored resource to show it is the "
                                  "patient's");
            if (stored == NULL)
                return mismatch(az, "unresolved_resource",
                                "%s/<id> needs the stored resource to show it is the patient's",
                                type);
            if (!resource_in_compartment(pl, stored, len, type, patient_id))
                return mismatch(az, "stored_outside",
                                "the stored resource references no %s through a compartment "
                                "element",
                                want);
            if (ia == FHIRPAM_IA_UPDATE) { /* A21: and where it ends up */
                const char *body = fhirpam_request_body(az, &len);
                if (!resource_in_compartment(pl, body, len, type, patient_id))
                    return mismatch(az, "body_outside",
                                    "the new resource references no %s through a compartment "
                                    "element",
                                    want);
            }
            if (ia == FHIRPAM_IA_PATCH)
                return mismatch(az, "unresolved_patch", "%s",
                                "a patch's result is not computed yet: it is refused");
            return FHIRPAM_SUCCESS;
        }
    case FHIRPAM_IA_SEARCH_TYPE:
        if (!compartment_type)
            return pl->deny_outside_reads ? mismatch(az, "outside_compartment",
                                                     "%s is not in any patient's compartment", type)
                                          : FHIRPAM_SUCCESS;
        if (search_constrained(pl, az, type, patient_id, &fault))
            return includes ? unresolved(pl, az, patient_id, "unresolved_include", include_why)
                            : FHIRPAM_SUCCESS;
        return mismatch(az, "unconstrained_search",
                        "the search is not limited to the patient (parameter: %s)", fault);
    case FHIRPAM_IA_CREATE: {
        if (!compartment_type || strcmp(type, "Patient") == 0) /* A13, A19 */
            return mismatch(az, "create_outside", "a patient/ grant does not create %s", type);
        size_t len;
        const char *body = fhirpam_request_body(az, &len);
        if (!resource_in_compartment(pl, body, len, type, patient_id))
            return mismatch(az, "body_outside",
                            "the new resource references no %s through a compartment element",
                            want);
        return FHIRPAM_SUCCESS;
    }
    case FHIRPAM_IA_OPERATION: {
        fhirpam_operation_level level;
        const char *op = fhirpam_fhir_operation(az, &level);
        if (strcmp(op, "everything") == 0 && level == FHIRPAM_OP_INSTANCE && type != NULL &&
            strcmp(type, "Patient") == 0 && id != NULL && strcmp(id, patient_id) == 0)
            return FHIRPAM_SUCCESS;
        return mismatch(az, "operation_outside", "$%s is not limited to the patient", op);
    }
    default:
        /* System and type history, system search (A14), bundles seen whole. */
        return mismatch(az, "unconstrained_search", "%s is not limited to the patient",
                        fhirpam_interaction_name(ia));
    }
}

FHIRPAM_MODULE_DESCRIPTOR = {
    FHIRPAM_MODULE_HEADER,
    .name = "patient_link",
    .version = "0.9",
    .description = "patient/ scopes stay inside the launch patient's compartment",
    .args = patient_link_args,
    .open = patient_link_open,
    .authorize = patient_link_authorize,
    .close = patient_link_close,
};
