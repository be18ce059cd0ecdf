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
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patch.h"

static const fhirpam_arg_spec patient_link_args[] = {
    {"fhir_version", FHIRPAM_ARG_STRING, "R4", "R4 | R5: the compartment definition to use"},
    {"patient_claim", FHIRPAM_ARG_STRING, "patient", "the claim naming the launch patient"},
    {"non_compartment_reads", FHIRPAM_ARG_STRING, "permit",
     "permit | deny reads of types outside the compartment (Medication, Practitioner...)"},
    {"unresolved", FHIRPAM_ARG_STRING, "deny",
     "deny | check_response: a read whose result the request cannot show (by id without the "
     "stored resource, _include) is denied, or permitted with an obligation on the response"},
    {"links", FHIRPAM_ARG_STRING, "deny",
     "deny | permit: Patient.link (A18): writing it, and searching Patient?link=, are refused "
     "unless permitted"},
    {NULL, 0, NULL, NULL},
};

typedef struct patient_link {
    char version[4]; /* "R4" or "R5" */
    char *claim;
    bool deny_outside_reads;
    bool check_response; /* unresolved reads: permit with an obligation */
    bool permit_links;   /* A18: Patient.link may be written and searched */
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
    const char *links = fhirpam_args_string(args, "links", "deny");
    if (strcmp(links, "deny") != 0 && strcmp(links, "permit") != 0) {
        fhirpam_error_set(err, "links must be \"deny\" or \"permit\"");
        return -1;
    }
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
    pl->permit_links = strcmp(links, "permit") == 0;
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

/* The compartment search parameters of the request's type, looked up once
 * per request. */
typedef struct type_params {
    const char *names[16];
    size_t n;
} type_params;

/* The type's parameters, remembered per thread for the last type asked:
 * requests come in runs of one type, and the tables never change, so the
 * memo needs no lock and is never stale. */
static const type_params *type_params_of(const char *version, const char *type)
{
    static _Thread_local struct {
        char version[4], type[64];
        type_params tp;
    } memo;
    static const type_params none = {.n = 0};
    if (type == NULL)
        return &none;
    if (strcmp(memo.type, type) == 0 && strcmp(memo.version, version) == 0)
        return &memo.tp;
    size_t len = strlen(type);
    memo.tp.n = fhirpam_compartment_params(version, type, memo.tp.names, 16);
    if (len >= sizeof memo.type) {
        memo.type[0] = '\0'; /* no type is that long: not remembered */
        return &memo.tp;
    }
    memcpy(memo.type, type, len + 1);
    snprintf(memo.version, sizeof memo.version, "%s", version);
    return &memo.tp;
}

static bool is_compartment_param(const type_params *tp, const char *name)
{
    for (size_t i = 0; i < tp->n && i < 16; i++)
        if (strcmp(tp->names[i], name) == 0)
            return true;
    return false;
}

/* A search constrained to the patient (A14-A16): some compartment parameter
 * of the type with exactly one value, a typed reference to the patient
 * (`subject=Patient/123`, `subject:Patient=123`; for Patient, `_id=123`).
 * Other parameters only narrow the search (an AND), except that naming any
 * other patient, or an untyped id, in a compartment parameter is refused. */
static bool search_constrained(const patient_link *pl, fhirpam_authz *az, const type_params *tp,
                               const char *type, const char *patient_id, const char **fault)
{
    bool constrained = false, patient_type = strcmp(type, "Patient") == 0;
    *fault = "no compartment parameter";
    for (size_t i = 0; i < fhirpam_fhir_param_count(az); i++) {
        const char *name = fhirpam_fhir_param_name(az, i);
        bool is_id = patient_type && strcmp(name, "_id") == 0;
        /* `patient` is, for every type that has it, the subject (or patient
         * element) restricted to Patients: as narrow as the compartment
         * parameter it restricts, so it counts as one (R4's Observation
         * lists only subject and performer). */
        bool compartment_param =
            is_id || strcmp(name, "patient") == 0 || is_compartment_param(tp, name);
        /* Patient?link= finds the Patients that link to this one: other
         * patients, unless links are followed (A18). */
        if (!pl->permit_links && patient_type && strcmp(name, "link") == 0) {
            *fault = "link (Patient.link is not followed, A18)";
            continue;
        }
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

/* The elements that decide where a resource of `type` belongs: the first
 * step of each of its compartment paths, and its id. */
typedef struct guarded {
    char names[24][64];
    const char *list[25]; /* NULL-terminated */
} guarded;

static bool guarded_init(guarded *g, const char *version, const char *type)
{
    size_t n = 0;
    g->list[n] = strcpy(g->names[n], "id");
    for (size_t i = 0;; i++) {
        const char *path = fhirpam_compartment_path(version, type, i);
        if (path == NULL)
            break;
        if (++n == 24)
            return false;
        snprintf(g->names[n], sizeof g->names[n], "%.*s", (int)strcspn(path, "."), path);
        g->list[n] = g->names[n];
    }
    g->list[n + 1] = NULL;
    return true;
}

/* The stored resource as the patch in the request body leaves it: a JSON
 * Patch (an array) applied whole, a FHIRPath Patch (Parameters) where it
 * can be evaluated. NULL, with why, when it cannot be known. */
static json_t *patched(const patient_link *pl, fhirpam_authz *az, const char *type,
                       const char *stored, size_t stored_len, char *why, size_t whylen)
{
    size_t len;
    const char *body = fhirpam_request_body(az, &len);
    json_t *patch = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *doc = json_loadb(stored, stored_len, JSON_REJECT_DUPLICATES, NULL);
    json_t *out = NULL;
    guarded g;
    if (patch == NULL || doc == NULL)
        snprintf(why, whylen, "the patch is neither a JSON Patch nor a FHIRPath Patch");
    else if (json_is_array(patch))
        out = json_patch_apply(doc, patch, why, whylen);
    else if (!guarded_init(&g, pl->version, type))
        snprintf(why, whylen, "%s has too many compartment elements to patch", type);
    else
        out = fhirpath_patch_apply(doc, patch, g.list, why, whylen);
    json_decref(patch);
    json_decref(doc);
    return out;
}

/* What a patch of the patient's own Patient touches (A18): its links, its
 * id, or elements it names in a way this module cannot read. */
typedef struct patient_touch {
    bool link, id, unknown;
} patient_touch;

static void note_touch(const char *name, void *arg)
{
    patient_touch *t = arg;
    t->link |= strcmp(name, "link") == 0;
    t->id |= strcmp(name, "id") == 0;
    t->unknown |= name[0] == '\0';
}

/* The Patient resource text `links` to Patient/<patient_id> (Patient.link.other). */
static bool patient_links_to(const char *text, size_t len, const char *id, const char *patient_id)
{
    char want[200];
    snprintf(want, sizeof want, "Patient/%s", patient_id);
    json_t *doc = text ? json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    const char *rt = json_string_value(json_object_get(doc, "resourceType"));
    const char *rid = json_string_value(json_object_get(doc, "id"));
    bool found = false;
    if (rt != NULL && strcmp(rt, "Patient") == 0 && rid != NULL && strcmp(rid, id) == 0) {
        size_t i;
        json_t *link;
        json_array_foreach(json_object_get(doc, "link"), i, link)
        {
            const char *ref =
                json_string_value(json_object_get(json_object_get(link, "other"), "reference"));
            found |= ref != NULL && strcmp(ref, want) == 0;
        }
    }
    json_decref(doc);
    return found;
}

/* The Patient.link of two Patient texts are the same (either may be NULL:
 * no resource, no links). */
static bool same_links(const char *a, size_t alen, const char *b, size_t blen)
{
    json_t *da = a ? json_loadb(a, alen, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *db = b ? json_loadb(b, blen, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *la = json_object_get(da, "link"), *lb = json_object_get(db, "link");
    bool same = (la == NULL && lb == NULL) || (la != NULL && lb != NULL && json_equal(la, lb));
    json_decref(da);
    json_decref(db);
    return same;
}

/* Reads, updates, patches and deletes of the patient's own Patient, and
 * (links = "permit") reads of a Patient that links to it. */
static fhirpam_code own_patient(const patient_link *pl, fhirpam_authz *az, fhirpam_interaction ia,
                                const char *id, const char *patient_id)
{
    size_t slen, blen;
    const char *stored = fhirpam_request_current(az, &slen);
    const char *body = fhirpam_request_body(az, &blen);
    bool read =
        ia == FHIRPAM_IA_READ || ia == FHIRPAM_IA_VREAD || ia == FHIRPAM_IA_HISTORY_INSTANCE;
    if (id == NULL || strcmp(id, patient_id) != 0) {
        if (pl->permit_links && read && id != NULL &&
            patient_links_to(stored, slen, id, patient_id))
            return FHIRPAM_SUCCESS;
        return mismatch(az, "other_patient",
                        "the request addresses a Patient other than Patient/%s", patient_id);
    }
    if (ia == FHIRPAM_IA_UPDATE) {
        if (!fhirpam_compartment_contains(pl->version, "Patient", body, blen, patient_id))
            return mismatch(az, "body_outside", "the new Patient is not Patient/%s", patient_id);
        if (!pl->permit_links && !same_links(stored, slen, body, blen))
            return mismatch(
                az, "link_change", "%s",
                "the update changes Patient.link, which links = \"deny\" refuses (A18)");
    }
    if (ia == FHIRPAM_IA_PATCH) {
        patient_touch t = {0};
        json_t *patch = body ? json_loadb(body, blen, JSON_REJECT_DUPLICATES, NULL) : NULL;
        bool readable = patch != NULL && patch_touched(patch, "Patient", note_touch, &t);
        json_decref(patch);
        if (!readable || t.unknown)
            return mismatch(az, "unresolved_patch", "%s",
                            "the patch names elements of the Patient this module cannot evaluate");
        if (t.id)
            return mismatch(az, "patch_outside", "%s", "the patch changes Patient.id");
        if (t.link && !pl->permit_links)
            return mismatch(az, "link_change", "%s",
                            "the patch changes Patient.link, which links = \"deny\" refuses (A18)");
    }
    return FHIRPAM_SUCCESS;
}

/* The search names _include or _revinclude: resources it returns beyond
 * those it matches. */
static bool has_join(fhirpam_authz *az)
{
    for (size_t i = 0; i < fhirpam_fhir_param_count(az); i++) {
        const char *name = fhirpam_fhir_param_name(az, i);
        if (name[0] == '_' && (strcmp(name, "_include") == 0 || strcmp(name, "_revinclude") == 0))
            return true;
    }
    return false;
}

/* The launch patient, read from the token's claim once per token (A17: a
 * bare id or Patient/<id>) and kept with it. */
enum { FAULT_NONE, FAULT_NO_PATIENT, FAULT_BAD_CLAIM };
typedef struct launch_patient {
    int fault;
    char id[72]; /* FHIR ids are at most 64 characters */
} launch_patient;

static void read_launch_patient(const patient_link *pl, fhirpam_authz *az, launch_patient *lp)
{
    const char *claim = fhirpam_claim_string(az, pl->claim);
    lp->fault = FAULT_NONE;
    lp->id[0] = '\0';
    if (claim == NULL || claim[0] == '\0') {
        lp->fault = FAULT_NO_PATIENT;
        return;
    }
    const char *id = strncmp(claim, "Patient/", 8) == 0 ? claim + 8 : claim;
    size_t len = strlen(id);
    if (len == 0 || len >= sizeof lp->id || strchr(id, '/') != NULL) {
        lp->fault = FAULT_BAD_CLAIM;
        return;
    }
    memcpy(lp->id, id, len + 1);
}

static const launch_patient *launch_patient_of(const patient_link *pl, fhirpam_authz *az,
                                               launch_patient *scratch)
{
    const launch_patient *kept = fhirpam_token_data(az, pl);
    if (kept != NULL)
        return kept;
    read_launch_patient(pl, az, scratch);
    launch_patient *fresh = malloc(sizeof *fresh);
    if (fresh == NULL)
        return scratch;
    *fresh = *scratch;
    kept = fhirpam_token_data_attach(az, pl, fresh, free);
    if (kept != fresh)
        free(fresh); /* another thread's copy won, or no token to keep it with */
    return kept != NULL ? kept : scratch;
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
    launch_patient scratch;
    const launch_patient *lp = launch_patient_of(pl, az, &scratch);
    if (lp->fault == FAULT_NO_PATIENT)
        return mismatch(az, "no_patient", "the token has no %s claim to bind patient/ scopes to",
                        pl->claim);
    if (lp->fault == FAULT_BAD_CLAIM)
        return mismatch(az, "bad_patient_claim", "the %s claim is not a patient id", pl->claim);
    const char *patient_id = lp->id;

    fhirpam_interaction ia = fhirpam_fhir_interaction(az);
    const char *type = fhirpam_fhir_type(az), *id = fhirpam_fhir_id(az);
    const type_params *tp = type_params_of(pl->version, type);
    bool compartment_type = type != NULL && (tp->n > 0 || strcmp(type, "Patient") == 0);
    const char *fault;
    bool includes = has_join(az);
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
        return mismatch(az, "other_compartment", "the compartment searched is not Patient/%s",
                        patient_id);
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
            return own_patient(pl, az, ia, id, patient_id);
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
            if (!fhirpam_compartment_contains(pl->version, type, stored, len, patient_id))
                return mismatch(az, "stored_outside",
                                "the stored resource references no Patient/%s through a "
                                "compartment element",
                                patient_id);
            if (ia == FHIRPAM_IA_UPDATE) { /* A21: and where it ends up */
                const char *body = fhirpam_request_body(az, &len);
                if (!fhirpam_compartment_contains(pl->version, type, body, len, patient_id))
                    return mismatch(az, "body_outside",
                                    "the new resource references no Patient/%s through a "
                                    "compartment element",
                                    patient_id);
            }
            if (ia == FHIRPAM_IA_PATCH) { /* and where the patch takes it */
                char why[200];
                json_t *result = patched(pl, az, type, stored, len, why, sizeof why);
                char *text = result ? json_dumps(result, JSON_COMPACT) : NULL;
                bool inside =
                    text != NULL &&
                    fhirpam_compartment_contains(pl->version, type, text, strlen(text), patient_id);
                free(text);
                json_decref(result);
                if (result == NULL)
                    return mismatch(az, "unresolved_patch", "%s", why);
                if (!inside)
                    return mismatch(az, "patch_outside",
                                    "the patched resource references no Patient/%s through a "
                                    "compartment element",
                                    patient_id);
            }
            return FHIRPAM_SUCCESS;
        }
    case FHIRPAM_IA_SEARCH_TYPE:
        if (!compartment_type)
            return pl->deny_outside_reads ? mismatch(az, "outside_compartment",
                                                     "%s is not in any patient's compartment", type)
                                          : FHIRPAM_SUCCESS;
        if (search_constrained(pl, az, tp, type, patient_id, &fault))
            return includes ? unresolved(pl, az, patient_id, "unresolved_include", include_why)
                            : FHIRPAM_SUCCESS;
        return mismatch(az, "unconstrained_search",
                        "the search is not limited to the patient (parameter: %s)", fault);
    case FHIRPAM_IA_CREATE: {
        if (!compartment_type || strcmp(type, "Patient") == 0) /* A13, A19 */
            return mismatch(az, "create_outside", "a patient/ grant does not create %s", type);
        size_t len;
        const char *body = fhirpam_request_body(az, &len);
        if (!fhirpam_compartment_contains(pl->version, type, body, len, patient_id))
            return mismatch(
                az, "body_outside",
                "the new resource references no Patient/%s through a compartment element",
                patient_id);
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
