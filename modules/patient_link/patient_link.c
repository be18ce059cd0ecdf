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

#include "compartment.h"

static const fhirpam_arg_spec patient_link_args[] = {
    {"fhir_version", FHIRPAM_ARG_STRING, "R4", "R4 | R5: the compartment definition to use"},
    {"patient_claim", FHIRPAM_ARG_STRING, "patient", "the claim naming the launch patient"},
    {"non_compartment_reads", FHIRPAM_ARG_STRING, "permit",
     "permit | deny reads of types outside the compartment (Medication, Practitioner...)"},
    {NULL, 0, NULL, NULL},
};

typedef struct patient_link {
    const compartment_table *table;
    char *claim;
    bool deny_outside_reads;
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
    pl->table = strcmp(version, "R5") == 0 ? &compartment_r5 : &compartment_r4;
    pl->deny_outside_reads = strcmp(reads, "deny") == 0;
    *instance = pl;
    return 0;
}

/* The links of a resource type (a run of the table, sorted by resource),
 * or none: a binary search for the run's first row. */
static const compartment_link *links_of(const compartment_table *t, const char *type, size_t *n)
{
    *n = 0;
    if (type == NULL)
        return NULL;
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(t->links[mid].resource, type) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < t->n && strcmp(t->links[end].resource, type) == 0)
        end++;
    *n = end - lo;
    return *n > 0 ? &t->links[lo] : NULL;
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

/* True when some element at path (under node) holds a reference to want
 * ("Patient/123"). Arrays anywhere along the path are searched. */
static bool path_references(const json_t *node, const char *path, const char *want)
{
    if (json_is_array(node)) {
        size_t i;
        const json_t *item;
        json_array_foreach(node, i, item) if (path_references(item, path, want)) return true;
        return false;
    }
    if (*path == '\0') {
        const char *ref = json_string_value(json_object_get(node, "reference"));
        return ref != NULL && strcmp(ref, want) == 0;
    }
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    char name[64];
    if (len >= sizeof name)
        return false;
    memcpy(name, path, len);
    name[len] = '\0';
    const json_t *child = json_object_get(node, name);
    return child != NULL && path_references(child, dot ? dot + 1 : "", want);
}

/* The resource text (a body or a stored version) is of `type` and in the
 * patient's compartment through one of its compartment elements. */
static bool resource_in_compartment(const patient_link *pl, const char *text, size_t len,
                                    const char *type, const char *patient_id, const char *want)
{
    json_t *doc = text ? json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    const char *rt = json_string_value(json_object_get(doc, "resourceType"));
    bool in = false;
    if (rt != NULL && strcmp(rt, type) == 0) {
        if (strcmp(type, "Patient") == 0) {
            const char *id = json_string_value(json_object_get(doc, "id"));
            in = id != NULL && strcmp(id, patient_id) == 0;
        } else {
            size_t n;
            const compartment_link *links = links_of(pl->table, type, &n);
            for (size_t i = 0; i < n && !in; i++)
                in = path_references(doc, links[i].path, want);
        }
    }
    json_decref(doc);
    return in;
}

/* A search constrained to the patient (A14-A16): some compartment parameter
 * of the type with exactly one value, a typed reference to the patient
 * (`subject=Patient/123`, `subject:Patient=123`; for Patient, `_id=123`).
 * Other parameters only narrow the search (an AND), except that naming any
 * other patient, or an untyped id, in a compartment parameter is refused. */
static bool search_constrained(const patient_link *pl, fhirpam_authz *az, const char *type,
                               const char *patient_id, const char *want, const char **fault)
{
    size_t n;
    const compartment_link *links = links_of(pl->table, type, &n);
    bool constrained = false;
    *fault = "no compartment parameter";
    for (size_t i = 0; i < fhirpam_fhir_param_count(az); i++) {
        const char *name = fhirpam_fhir_param_name(az, i);
        bool is_id = strcmp(type, "Patient") == 0 && strcmp(name, "_id") == 0;
        /* `patient` is, for every type that has it, the subject (or patient
         * element) restricted to Patients: as narrow as the compartment
         * parameter it restricts, so it counts as one (R4's Observation
         * lists only subject and performer). */
        bool compartment_param = is_id || strcmp(name, "patient") == 0;
        for (size_t k = 0; k < n && !compartment_param; k++)
            compartment_param = strcmp(links[k].param, name) == 0;
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
    (void)want;
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
    size_t nlinks;
    bool compartment_type = type != NULL && (strcmp(type, "Patient") == 0 ||
                                             links_of(pl->table, type, &nlinks) != NULL);
    const char *fault;
    if (has_param(az, "_include") || has_param(az, "_revinclude"))
        return mismatch(az, "unresolved_include",
                        "%s an _include or _revinclude may return another patient's data",
                        "under patient/ scopes,");
    switch (ia) {
    case FHIRPAM_IA_CAPABILITIES:
        return FHIRPAM_SUCCESS;
    case FHIRPAM_IA_SEARCH_COMPARTMENT: {
        const char *ctype, *cid;
        fhirpam_fhir_compartment(az, &ctype, &cid);
        if (strcmp(ctype, "Patient") == 0 && strcmp(cid, patient_id) == 0)
            return FHIRPAM_SUCCESS;
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
                if (!resource_in_compartment(pl, body, len, "Patient", patient_id, want))
                    return mismatch(az, "body_outside", "the new Patient is not %s", want);
            }
            return FHIRPAM_SUCCESS;
        } else {
            /* By id: only the stored resource can show where it belongs. */
            size_t len;
            const char *stored = fhirpam_request_current(az, &len);
            if (stored == NULL)
                return mismatch(az, "unresolved_resource",
                                "%s/<id> needs the stored resource to show it is the patient's",
                                type);
            if (!resource_in_compartment(pl, stored, len, type, patient_id, want))
                return mismatch(az, "stored_outside",
                                "the stored resource references no %s through a compartment "
                                "element",
                                want);
            if (ia == FHIRPAM_IA_UPDATE) { /* A21: and where it ends up */
                const char *body = fhirpam_request_body(az, &len);
                if (!resource_in_compartment(pl, body, len, type, patient_id, want))
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
        if (search_constrained(pl, az, type, patient_id, want, &fault))
            return FHIRPAM_SUCCESS;
        return mismatch(az, "unconstrained_search",
                        "the search is not limited to the patient (parameter: %s)", fault);
    case FHIRPAM_IA_CREATE: {
        if (!compartment_type || strcmp(type, "Patient") == 0) /* A13, A19 */
            return mismatch(az, "create_outside", "a patient/ grant does not create %s", type);
        size_t len;
        const char *body = fhirpam_request_body(az, &len);
        if (!resource_in_compartment(pl, body, len, type, patient_id, want))
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
