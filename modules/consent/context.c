/*
 * context.c - see context.h. Whatever could name a patient, the requester,
 * a purpose or the data is read in the forms a FHIR server accepts
 * (reference.h), or the request is denied with a reason: a value the
 * module drops would let the token's patient, or nobody, decide instead.
 */
#include "context.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"

#define MAX_BODY_DEPTH 16

/* ---- the action ---- */

/*
 * Whether an operation only reads (OperationDefinition.affectsState
 * false). The operations table of the FHIR model is not in the SDK yet, so
 * no operation is known to: a POST operation's action is unknown, the
 * strictest reading (every action rule is a doubt: a deny by action
 * applies, a permit by action grants nothing). A GET operation only reads,
 * whatever the table says: FHIR allows GET only for operations that do not
 * affect state (R4 operations.html#executing).
 */
static bool operation_only_reads(fhirpam_authz *az)
{
    (void)az;
    return false;
}

/* The consentaction code, or NULL when it is not known. */
static const char *action_of(fhirpam_authz *az)
{
    switch (fhirpam_fhir_interaction(az)) {
    case FHIRPAM_IA_CREATE:
        return SYS_CONSENT_ACTION "|collect";
    case FHIRPAM_IA_UPDATE:
    case FHIRPAM_IA_PATCH:
    case FHIRPAM_IA_DELETE:
        return SYS_CONSENT_ACTION "|correct";
    case FHIRPAM_IA_OPERATION:
        return strcmp(fhirpam_request_method(az), "GET") == 0 ||
                       strcmp(fhirpam_request_method(az), "HEAD") == 0 || operation_only_reads(az)
                   ? SYS_CONSENT_ACTION "|access"
                   : NULL;
    default:
        return SYS_CONSENT_ACTION "|access";
    }
}

/* ---- the data ---- */

static bool has_param(fhirpam_authz *az, const char *name)
{
    size_t n = fhirpam_fhir_param_count(az);
    for (size_t i = 0; i < n; i++)
        if (strcmp(fhirpam_fhir_param_name(az, i), name) == 0)
            return true;
    return false;
}

/* Types whose instances hold other resources by design: a read of one can
 * return any class (the README's "Class"). */
static bool container_type(const char *type)
{
    return strcmp(type, "Bundle") == 0 || strcmp(type, "List") == 0 ||
           strcmp(type, "Parameters") == 0;
}

/* The type the response holds, and whether it can hold nothing else; none
 * for a system-level request, Patient/x/ *, an operation. */
static void class_of(request_view *v, fhirpam_authz *az)
{
    consent_query *q = &v->q;
    const char *type = fhirpam_fhir_type(az);
    switch (fhirpam_fhir_interaction(az)) {
    case FHIRPAM_IA_READ:
    case FHIRPAM_IA_VREAD:
    case FHIRPAM_IA_UPDATE:
    case FHIRPAM_IA_PATCH:
    case FHIRPAM_IA_DELETE:
        q->use_stored = true;
        break;
    case FHIRPAM_IA_HISTORY_INSTANCE:
    case FHIRPAM_IA_HISTORY_TYPE:
    case FHIRPAM_IA_CREATE:
    case FHIRPAM_IA_SEARCH_TYPE:
    case FHIRPAM_IA_SEARCH_COMPARTMENT:
        break;
    default:
        return;
    }
    static const char prefix[] = SYS_RESOURCE_TYPES "|";
    if (type == NULL || strcmp(type, "*") == 0 ||
        sizeof prefix + strlen(type) > sizeof v->type_class)
        return;
    memcpy(v->type_class, prefix, sizeof prefix - 1);
    memcpy(v->type_class + sizeof prefix - 1, type, strlen(type) + 1);
    q->type_class = v->type_class;
    /* _include and _revinclude add other types; so does _contained, whose
     * matches come back inside their containers (R4 search.html#contained:
     * _containedType defaults to container). */
    q->type_only = !container_type(type) && !has_param(az, "_include") &&
                   !has_param(az, "_revinclude") && !has_param(az, "_contained") &&
                   !has_param(az, "_containedType");
}

/* ---- patients ---- */

typedef struct reading {
    request_view *v;
    bool too_many;
    bool transient;  /* the values read now live in a JSON document about to go */
    const char *bad; /* the sentence of a value that cannot be read, or NULL */
    char bad_text[200];
} reading;

static void unreadable(reading *r, const char *what, const char *value)
{
    if (r->bad != NULL)
        return;
    snprintf(r->bad_text, sizeof r->bad_text,
             "%s \"%.80s\" does not name a patient in a form "
             "fhirpam reads",
             what, value);
    r->bad = r->bad_text;
}

/* An id of digits only with a leading zero: HAPI's JPA server takes an
 * all-digit id as the resource's database key (IdHelperService: Long
 * parseLong), so Patient/0123 is Patient/123 there, while the Consents
 * name "123". No one form of it can be trusted: refused. */
static bool numeric_alias(const char *id, size_t len)
{
    if (len < 2 || id[0] != '0')
        return false;
    for (size_t i = 1; i < len; i++)
        if (id[i] < '0' || id[i] > '9')
            return false;
    return true;
}

/* id (len bytes): borrowed from the request, or copied into the scratch
 * arena when it is not NUL-terminated there or comes from a document. */
static void add_patient(reading *r, const char *id, size_t len)
{
    request_view *v = r->v;
    if (numeric_alias(id, len)) {
        char text[80];
        snprintf(text, sizeof text, "%.*s", (int)(len < 64 ? len : 64), id);
        unreadable(r, "the patient id", text);
        return;
    }
    for (size_t i = 0; i < v->npatients; i++)
        if (strlen(v->patients[i]) == len && memcmp(v->patients[i], id, len) == 0)
            return;
    if (v->npatients == VIEW_MAX_PATIENTS) {
        r->too_many = true;
        return;
    }
    const char *kept = id[len] == '\0' && !r->transient ? id : NULL;
    if (kept == NULL && (v->scratch != NULL || (v->scratch = arena_new()) != NULL))
        kept = arena_strndup(v->scratch, id, len);
    if (kept == NULL) {
        r->bad = "out of memory reading the request's patients";
        return;
    }
    v->patients[v->npatients++] = kept;
}

/* A value naming a patient by reference: 1 read (and added), 0 a reference
 * to another type, and unreadable otherwise. bare: an untyped id is a
 * Patient's. */
static int patient_value(reading *r, const char *what, const char *value, bool bare)
{
    reference_parts ref;
    if (reference_read(value, fhirpam_fhir_base(r->v->az), bare ? REFERENCE_BARE_ID : 0, &ref) !=
        0) {
        unreadable(r, what, value);
        return -1;
    }
    if (ref.type != NULL && (ref.type_len != 7 || memcmp(ref.type, "Patient", 7) != 0))
        return 0;
    add_patient(r, ref.id, ref.id_len);
    return 1;
}

/* A resource type name as a modifier ("subject:Patient"). */
static bool type_modifier(const char *mod)
{
    return mod[0] >= 'A' && mod[0] <= 'Z';
}

/* Parameter i when it is not patient, subject or _id: every reference
 * parameter can name a Patient (Observation?performer=Patient/123 finds
 * resources in 123's compartment). A value that reads as a reference to a
 * Patient names it; with the :Patient modifier each value is a Patient's
 * id (R4 search.html#reference), and a chain after it names patients by
 * their content, which the module does not read. A value in no reference
 * form (a token, a date, a string) names nobody. */
static void other_param_patients(reading *r, fhirpam_authz *az, size_t i)
{
    const char *name = fhirpam_fhir_param_name(az, i), *mod = fhirpam_fhir_param_modifier(az, i);
    bool typed = mod != NULL && strcmp(mod, "Patient") == 0;
    if (typed && fhirpam_fhir_param_chain(az, i) != NULL) {
        if (r->bad == NULL) {
            snprintf(r->bad_text, sizeof r->bad_text,
                     "the %.40s parameter with :Patient.%.60s names patients in a way fhirpam "
                     "does not read",
                     name, fhirpam_fhir_param_chain(az, i));
            r->bad = r->bad_text;
        }
        return;
    }
    for (size_t j = 0; j < fhirpam_fhir_param_value_count(az, i); j++) {
        const char *value = fhirpam_fhir_param_value(az, i, j);
        reference_parts ref;
        if (typed) {
            if (patient_value(r, name, value, true) == 0)
                unreadable(r, name, value); /* performer:Patient=Group/1 */
        } else if (reference_read(value, fhirpam_fhir_base(az), 0, &ref) == 0 &&
                   ref.type_len == 7 && memcmp(ref.type, "Patient", 7) == 0)
            add_patient(r, ref.id, ref.id_len);
    }
}

/* The patients the request names: the compartment, Patient/<id>, and the
 * values of the patient and subject search parameters (and _id on
 * Patient), and a Patient any other parameter names. A parameter that
 * names patients in a way the module cannot read (a chain, a modifier
 * other than :Patient, a value of another form) refuses the request: the
 * server would read it as some set of patients fhirpam does not know. */
static void request_patients(reading *r, fhirpam_authz *az)
{
    const char *ctype, *cid;
    if (fhirpam_fhir_compartment(az, &ctype, &cid) && strcmp(ctype, "Patient") == 0)
        add_patient(r, cid, strlen(cid));
    const char *type = fhirpam_fhir_type(az);
    bool patient_type = type != NULL && strcmp(type, "Patient") == 0;
    if (patient_type && fhirpam_fhir_id(az) != NULL)
        add_patient(r, fhirpam_fhir_id(az), strlen(fhirpam_fhir_id(az)));
    size_t n = fhirpam_fhir_param_count(az);
    for (size_t i = 0; i < n; i++) {
        const char *name = fhirpam_fhir_param_name(az, i);
        bool patient = strcmp(name, "patient") == 0 || (patient_type && strcmp(name, "_id") == 0);
        bool subject = strcmp(name, "subject") == 0;
        if (!patient && !subject) {
            other_param_patients(r, az, i);
            continue;
        }
        const char *mod = fhirpam_fhir_param_modifier(az, i);
        if (fhirpam_fhir_param_chain(az, i) != NULL ||
            (mod != NULL && (!type_modifier(mod) || (patient && strcmp(mod, "Patient") != 0)))) {
            if (r->bad == NULL) {
                snprintf(r->bad_text, sizeof r->bad_text,
                         "the %s parameter with %s%.60s names patients in a way fhirpam does not "
                         "read",
                         name, mod != NULL ? ":" : ".",
                         mod != NULL ? mod : fhirpam_fhir_param_chain(az, i));
                r->bad = r->bad_text;
            }
            return;
        }
        if (mod != NULL && strcmp(mod, "Patient") != 0)
            continue; /* subject:Group=1: not a patient */
        for (size_t j = 0; j < fhirpam_fhir_param_value_count(az, i); j++) {
            const char *value = fhirpam_fhir_param_value(az, i, j);
            /* patient=123 and subject:Patient=123 are Patients; so is an
             * untyped subject=123, which may be one (evaluated). */
            if (patient_value(r, name, value, true) == 0 && patient)
                unreadable(r, name, value);
        }
    }
}

/* The patient a resource (a stored resource, a body) is about: the Patient
 * itself, or its `subject` / `patient` reference when it is a Patient. */
static void resource_patient(reading *r, const json_t *doc, const char *what)
{
    const char *type = json_string_value(json_object_get(doc, "resourceType"));
    if (type != NULL && strcmp(type, "Patient") == 0) {
        const char *id = json_string_value(json_object_get(doc, "id"));
        if (id != NULL && fhir_id_valid(id, strlen(id)))
            add_patient(r, id, strlen(id));
        else if (id != NULL)
            unreadable(r, what, id);
    }
    static const char *const refs[] = {"subject", "patient"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *element = json_object_get(doc, refs[i]);
        const json_t *ref = json_object_get(element, "reference");
        if (element == NULL || (ref == NULL && json_object_get(element, "identifier") == NULL))
            continue;
        if (!json_is_string(ref))
            unreadable(r, refs[i], "(a reference without a literal reference)");
        else
            patient_value(r, refs[i], json_string_value(ref), false);
    }
}

/* The patient of the stored resource the host passed. */
static void stored_patient(reading *r, fhirpam_authz *az)
{
    size_t len;
    const char *stored = fhirpam_request_current(az, &len);
    if (stored == NULL)
        return;
    json_t *doc = json_loadb(stored, len, JSON_REJECT_DUPLICATES, NULL);
    r->transient = true;
    if (json_is_object(doc))
        resource_patient(r, doc, "the stored resource");
    r->transient = false;
    json_decref(doc);
}

/* One parameter of a Parameters body, and its parts: `patient`, `subject`
 * (and `_id` on Patient) name patients by a reference, string, id or uri;
 * a resource parameter names its own patient. */
static void parameter_patients(reading *r, const json_t *param, bool patient_type, int depth)
{
    if (depth > MAX_BODY_DEPTH || !json_is_object(param)) {
        unreadable(r, "a parameter", "(nested too deep, or not an object)");
        return;
    }
    const char *name = json_string_value(json_object_get(param, "name"));
    const json_t *resource = json_object_get(param, "resource");
    if (json_is_object(resource))
        resource_patient(r, resource, "a resource parameter");
    bool named = name != NULL && (strcmp(name, "patient") == 0 || strcmp(name, "subject") == 0 ||
                                  (patient_type && strcmp(name, "_id") == 0));
    if (named) {
        static const char *const forms[] = {"valueString", "valueId", "valueUri", "valueCode"};
        const char *value = json_string_value(
            json_object_get(json_object_get(param, "valueReference"), "reference"));
        for (size_t i = 0; value == NULL && i < sizeof forms / sizeof forms[0]; i++)
            value = json_string_value(json_object_get(param, forms[i]));
        if (value == NULL)
            unreadable(r, name, "(a value that is not a reference, string, id or uri)");
        else if (patient_value(r, name, value, true) == 0 && strcmp(name, "subject") != 0)
            unreadable(r, name, value);
    }
    size_t i;
    const json_t *part;
    json_array_foreach(json_object_get(param, "part"), i, part)
    {
        parameter_patients(r, part, patient_type, depth + 1);
    }
}

/* A POST operation's body is its input (R4 operations.html#request): a
 * Parameters resource, or the single resource it takes. It is read for the
 * patients it names; a body that is not FHIR JSON is not read at all, so
 * the request is refused. */
static void operation_patients(reading *r, fhirpam_authz *az)
{
    if (fhirpam_fhir_interaction(az) != FHIRPAM_IA_OPERATION)
        return;
    size_t len;
    const char *body = fhirpam_request_body(az, &len);
    if (body == NULL || len == 0)
        return;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    const char *type = json_string_value(json_object_get(doc, "resourceType"));
    r->transient = true;
    if (type == NULL) {
        unreadable(r, "the operation's body", "(not a FHIR JSON resource)");
    } else if (strcmp(type, "Parameters") == 0) {
        const char *rtype = fhirpam_fhir_type(az);
        bool patient_type = rtype != NULL && strcmp(rtype, "Patient") == 0;
        size_t i;
        const json_t *param;
        json_array_foreach(json_object_get(doc, "parameter"), i, param)
        {
            parameter_patients(r, param, patient_type, 0);
        }
    } else {
        resource_patient(r, doc, "the operation's body");
    }
    r->transient = false;
    json_decref(doc);
}

/* Operations whose patients are named where the module does not look:
 * $graphql (a query language: its searches and the references it follows
 * reach any patient, R4 graphql.html), $export (every patient, or a
 * Group's members: Bulk Data Access), and Patient/$everything at type
 * level naming no patient (every patient's record, HAPI's type-level
 * $everything). Deciding them by the token's patient would let that
 * patient's Consent speak for the others: refused. */
static void operation_scope(reading *r, fhirpam_authz *az)
{
    fhirpam_operation_level level;
    const char *op = fhirpam_fhir_operation(az, &level);
    if (op == NULL)
        return;
    const char *type = fhirpam_fhir_type(az);
    bool everyone = strcmp(op, "everything") == 0 && level == FHIRPAM_OP_TYPE && type != NULL &&
                    strcmp(type, "Patient") == 0 && r->v->npatients == 0;
    if (r->bad != NULL || (strcmp(op, "graphql") != 0 && strcmp(op, "export") != 0 && !everyone))
        return;
    snprintf(r->bad_text, sizeof r->bad_text,
             "$%.40s names the patients it reaches in a way fhirpam does not read", op);
    r->bad = r->bad_text;
}

/* A create's or update's body is the resource the server will store
 * (R4 http.html#create, #update): the patient it is about is one of the
 * request's, whatever the token's patient is (a write into another
 * patient's record is that patient's Consent's to decide). A body that is
 * not FHIR JSON is not read, so the request is refused. */
static void written_patients(reading *r, fhirpam_authz *az)
{
    fhirpam_interaction ia = fhirpam_fhir_interaction(az);
    if (ia != FHIRPAM_IA_CREATE && ia != FHIRPAM_IA_UPDATE)
        return;
    size_t len;
    const char *body = fhirpam_request_body(az, &len);
    if (body == NULL || len == 0)
        return;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    r->transient = true;
    if (json_string_value(json_object_get(doc, "resourceType")) == NULL)
        unreadable(r, "the request's body", "(not a FHIR JSON resource)");
    else
        resource_patient(r, doc, "the request's body");
    r->transient = false;
    json_decref(doc);
}

/* The element a JSON Patch path (RFC 6901 pointer) names at the top of the
 * resource, when it is one that places the resource in a patient's record:
 * "subject" for "/subject" and "/subject/...", likewise "patient". */
static const char *record_element(const char *path)
{
    static const char *const names[] = {"subject", "patient"};
    for (size_t i = 0; path != NULL && path[0] == '/' && i < 2; i++) {
        size_t n = strlen(names[i]);
        if (strncmp(path + 1, names[i], n) == 0 && (path[1 + n] == '\0' || path[1 + n] == '/'))
            return names[i];
    }
    return NULL;
}

/* One JSON Patch operation (RFC 6902 §4) on subject or patient: an add or
 * replace of the reference (or of the whole element) names the patient it
 * moves the resource to; any other change there (a remove, a move or copy
 * into it, a value the module cannot read) is refused. */
static void json_patch_op(reading *r, const json_t *op)
{
    const char *path = json_string_value(json_object_get(op, "path"));
    const char *element = record_element(path);
    if (element == NULL)
        return;
    const char *kind = json_string_value(json_object_get(op, "op"));
    if (kind != NULL && strcmp(kind, "test") == 0)
        return;
    const char *below = path + 1 + strlen(element); /* "", "/reference", "/display", ... */
    if (*below != '\0' && strncmp(below, "/reference", 10) != 0 &&
        strncmp(below, "/identifier", 11) != 0)
        return; /* display, extension: who the resource is about stays */
    const json_t *value = json_object_get(op, "value");
    const json_t *ref = *below == '\0' ? json_object_get(value, "reference") : value;
    bool settable = kind != NULL && (strcmp(kind, "add") == 0 || strcmp(kind, "replace") == 0);
    if (settable && *below == '\0' && json_is_object(value) && ref == NULL &&
        json_object_get(value, "identifier") == NULL)
        return; /* a Reference with neither: names nobody */
    if (settable && json_is_string(ref) && (*below == '\0' || strcmp(below, "/reference") == 0))
        patient_value(r, element, json_string_value(ref), false);
    else
        unreadable(r, element, "(a patch that changes it in a way fhirpam does not read)");
}

/* A patch changes the stored resource in place (R4 http.html#patch): JSON
 * Patch (an array of operations) or FHIRPath Patch (a Parameters). A
 * change of subject or patient moves the resource into another patient's
 * record, which that patient's Consent decides: read (JSON Patch), or
 * refused (a FHIRPath Patch naming either, whose paths are FHIRPath, and
 * a body that is neither). */
static void patched_patients(reading *r, fhirpam_authz *az)
{
    if (fhirpam_fhir_interaction(az) != FHIRPAM_IA_PATCH)
        return;
    size_t len;
    const char *body = fhirpam_request_body(az, &len);
    if (body == NULL || len == 0)
        return;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    const char *type = json_string_value(json_object_get(doc, "resourceType"));
    r->transient = true;
    size_t i;
    const json_t *item;
    if (json_is_array(doc)) {
        json_array_foreach(doc, i, item)
        {
            json_patch_op(r, item);
        }
    } else if (type != NULL && strcmp(type, "Parameters") == 0) {
        char *text = json_dumps(doc, JSON_COMPACT);
        if (text == NULL || strstr(text, "subject") != NULL || strstr(text, "patient") != NULL)
            unreadable(r, "the FHIRPath Patch", "(it may change subject or patient)");
        free(text);
    } else {
        unreadable(r, "the patch", "(neither JSON Patch nor FHIRPath Patch in JSON)");
    }
    r->transient = false;
    json_decref(doc);
}

/* ---- the token ---- */

static void bad_claim(token_view *t, const char *word, const char *name, const char *what)
{
    t->bad_word = word;
    snprintf(t->bad_text, sizeof t->bad_text, "the %s claim %s", name, what);
}

/* A bare code (a v3-ActReason code: letters, digits, '_' and '-') or
 * "system|code" with a URI system. */
static bool purpose_code_valid(const char *p, size_t len)
{
    const char *bar = memchr(p, '|', len);
    if (bar == NULL) {
        for (size_t i = 0; i < len; i++)
            if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') ||
                  (p[i] >= '0' && p[i] <= '9') || p[i] == '_' || p[i] == '-'))
                return false;
        return len > 0;
    }
    size_t slen = (size_t)(bar - p);
    if (slen == 0 || memchr(p, ':', slen) == NULL || bar + 1 == p + len ||
        memchr(bar + 1, '|', len - slen - 1) != NULL)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f)
            return false;
    return true;
}

static bool add_purpose(token_view *t, const char *p, size_t len)
{
    if (t->npurposes == QUERY_MAX_PURPOSES || !purpose_code_valid(p, len))
        return false;
    char *text = t->purpose_text[t->npurposes];
    bool bare = memchr(p, '|', len) == NULL;
    int k = snprintf(text, sizeof t->purpose_text[0], "%s%.*s", bare ? SYS_ACT_REASON "|" : "",
                     (int)len, p);
    if (k < 0 || (size_t)k >= sizeof t->purpose_text[0])
        return false;
    t->purposes[t->npurposes++] = text;
    return true;
}

/*
 * Purposes of use. The claim's shapes: a string holding one code, or
 * several separated by single spaces (as OAuth writes `scope`, RFC 6749
 * §3.3: "TREAT HMARKT" is two purposes); an array of such codes (each one
 * code); absent (default_purpose). A code is a v3-ActReason code or
 * "system|code". Anything else (another JSON type, an empty string or
 * item, other whitespace, more than 16 codes) refuses every request of the
 * token: a purpose the module misread could dodge a rule against it.
 */
static void token_purposes(token_view *t, const view_settings *s, fhirpam_authz *az)
{
    static const char bad[] =
        "is not a code, a space-separated list of codes, or an array of at most 16 codes";
    fhirpam_claim_type type = fhirpam_claim_type_of(az, s->purpose_claim);
    if (type == FHIRPAM_CLAIM_ABSENT) {
        for (size_t i = 0; i < s->ndefault_purposes && i < QUERY_MAX_PURPOSES; i++)
            t->purposes[t->npurposes++] = s->default_purposes[i];
        return;
    }
    if (type == FHIRPAM_CLAIM_STRING) {
        const char *p = fhirpam_claim_string(az, s->purpose_claim);
        do {
            const char *space = strchr(p, ' ');
            size_t len = space ? (size_t)(space - p) : strlen(p);
            if (!add_purpose(t, p, len))
                return bad_claim(t, "bad_purpose_claim", s->purpose_claim, bad);
            p = space ? space + 1 : NULL;
        } while (p != NULL);
        return;
    }
    size_t n = fhirpam_claim_array_size(az, s->purpose_claim);
    if (type != FHIRPAM_CLAIM_ARRAY || n > QUERY_MAX_PURPOSES)
        return bad_claim(t, "bad_purpose_claim", s->purpose_claim, bad);
    for (size_t i = 0; i < n; i++) {
        const char *p = fhirpam_claim_array_string(az, s->purpose_claim, i);
        if (p == NULL || !add_purpose(t, p, strlen(p)))
            return bad_claim(t, "bad_purpose_claim", s->purpose_claim, bad);
    }
}

static bool copy_part(char *out, size_t size, const reference_parts *r)
{
    size_t len = r->type ? r->type_len + 1 + r->id_len : r->id_len;
    if (len >= size)
        return false;
    if (r->type != NULL)
        snprintf(out, size, "%.*s/%.*s", (int)r->type_len, r->type, (int)r->id_len, r->id);
    else
        snprintf(out, size, "%.*s", (int)r->id_len, r->id);
    return true;
}

static void read_token(token_view *t, const view_settings *s, fhirpam_authz *az)
{
    memset(t, 0, offsetof(token_view, purpose_text));
    t->bad_word = NULL;
    t->bad_text[0] = '\0';
    reference_parts ref;
    /* The patient claim: an id, or a reference to a Patient. */
    if (fhirpam_claim_type_of(az, s->patient_claim) != FHIRPAM_CLAIM_ABSENT) {
        const char *claim = fhirpam_claim_string(az, s->patient_claim);
        bool ok = claim != NULL &&
                  reference_read(claim, fhirpam_fhir_base(az), REFERENCE_BARE_ID, &ref) == 0 &&
                  (ref.type == NULL || (ref.type_len == 7 && memcmp(ref.type, "Patient", 7) == 0));
        ref.type = NULL; /* the id alone */
        if (!ok || !copy_part(t->patient, sizeof t->patient, &ref))
            return bad_claim(t, "bad_patient_claim", s->patient_claim, "does not name a patient");
    }
    t->client_id = fhirpam_claim_string(az, "client_id");
    /* fhirUser (SMART App Launch: the URL of the user's resource):
     * "Type/id" or an absolute URL ending in it, maybe versioned or with a
     * trailing slash. One that does not read so would silently stop
     * matching the Consents that name the user. */
    if (fhirpam_claim_type_of(az, "fhirUser") != FHIRPAM_CLAIM_ABSENT) {
        const char *user = fhirpam_claim_string(az, "fhirUser");
        if (user == NULL || reference_read(user, NULL, REFERENCE_ANY_BASE, &ref) != 0 ||
            !copy_part(t->fhir_user, sizeof t->fhir_user, &ref))
            return bad_claim(t, "bad_fhiruser_claim", "fhirUser",
                             "is not the URL of a FHIR resource (Type/id)");
    }
    token_purposes(t, s, az);
}

static void free_token_view(void *p)
{
    free(p);
}

/* The token's view, read once per cached token. */
static const token_view *token_of(request_view *v, const view_settings *s, fhirpam_authz *az)
{
    const token_view *kept = fhirpam_token_data(az, s->key);
    if (kept != NULL)
        return kept;
    token_view *fresh = malloc(sizeof *fresh);
    if (fresh != NULL) {
        read_token(fresh, s, az);
        kept = fhirpam_token_data_attach(az, s->key, fresh, free_token_view);
        if (kept != fresh)
            free(fresh);
        if (kept != NULL)
            return kept;
    }
    read_token(&v->unattached, s, az);
    return &v->unattached;
}

/* ---- the stored resource's content ---- */

/* Strings into the scratch arena; false out of memory (the content is then
 * unknown: fail closed). */
typedef struct collector {
    arena *a;
    const char **items;
    size_t n, cap;
} collector;

static bool collect_add(collector *c, const char *system, const char *code)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        const char **bigger = arena_alloc(c->a, cap * sizeof *bigger);
        if (bigger == NULL)
            return false;
        if (c->n > 0)
            memcpy(bigger, c->items, c->n * sizeof *bigger);
        c->items = bigger;
        c->cap = cap;
    }
    const char *key = arena_printf(c->a, "%s|%s", system ? system : "", code);
    if (key == NULL)
        return false;
    c->items[c->n++] = key;
    return true;
}

/* Every Coding anywhere (any object with a string `code`). */
static bool collect_codes(collector *c, const json_t *v, int depth)
{
    if (depth > 64)
        return false;
    size_t i;
    const char *key;
    const json_t *item;
    if (json_is_array(v)) {
        json_array_foreach(v, i, item)
        {
            if (!collect_codes(c, item, depth + 1))
                return false;
        }
        return true;
    }
    if (!json_is_object(v))
        return true;
    const char *code = json_string_value(json_object_get(v, "code"));
    if (code != NULL && !collect_add(c, json_string_value(json_object_get(v, "system")), code))
        return false;
    json_object_foreach((json_t *)v, key, item)
    {
        if (!collect_codes(c, item, depth + 1))
            return false;
    }
    return true;
}

typedef struct content_walk {
    collector labels, classes;
    size_t resources;
} content_walk;

static bool walk_resource(content_walk *w, const json_t *r, int depth);

static bool walk_each(content_walk *w, const json_t *list, const char *member, int depth)
{
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item)
    {
        const json_t *r = member ? json_object_get(item, member) : item;
        if (r != NULL && !walk_resource(w, r, depth + 1))
            return false;
    }
    return true;
}

static bool walk_parameters(content_walk *w, const json_t *params, int depth)
{
    size_t i;
    const json_t *p;
    if (depth > MAX_BODY_DEPTH)
        return false;
    json_array_foreach(params, i, p)
    {
        const json_t *r = json_object_get(p, "resource");
        if ((r != NULL && !walk_resource(w, r, depth + 1)) ||
            !walk_parameters(w, json_object_get(p, "part"), depth + 1))
            return false;
    }
    return true;
}

/* A resource and those inside it, at the places FHIR puts resources
 * (data/README.md: contained, Bundle.entry.resource and
 * .response.outcome, Bundle.issues, Parameters.parameter.resource and
 * part): their types, profiles and security labels. */
static bool walk_resource(content_walk *w, const json_t *r, int depth)
{
    const char *type = json_string_value(json_object_get(r, "resourceType"));
    if (depth > MAX_BODY_DEPTH || type == NULL)
        return false;
    w->resources++;
    const json_t *meta = json_object_get(r, "meta");
    size_t i;
    const json_t *item;
    if (!collect_add(&w->classes, SYS_RESOURCE_TYPES, type))
        return false;
    json_array_foreach(json_object_get(meta, "profile"), i, item)
    {
        if (json_is_string(item) && !collect_add(&w->classes, SYS_URI, json_string_value(item)))
            return false;
    }
    json_array_foreach(json_object_get(meta, "security"), i, item)
    {
        const char *code = json_string_value(json_object_get(item, "code"));
        if (code != NULL &&
            !collect_add(&w->labels, json_string_value(json_object_get(item, "system")), code))
            return false;
    }
    if (!walk_each(w, json_object_get(r, "contained"), NULL, depth))
        return false;
    if (strcmp(type, "Bundle") == 0) {
        json_array_foreach(json_object_get(r, "entry"), i, item)
        {
            const json_t *res = json_object_get(item, "resource");
            const json_t *result = json_object_get(json_object_get(item, "response"), "outcome");
            if ((res != NULL && !walk_resource(w, res, depth + 1)) ||
                (result != NULL && !walk_resource(w, result, depth + 1)))
                return false;
        }
        const json_t *issues = json_object_get(r, "issues");
        if (issues != NULL && !walk_resource(w, issues, depth + 1))
            return false;
    }
    if (strcmp(type, "Parameters") == 0)
        return walk_parameters(w, json_object_get(r, "parameter"), depth);
    return true;
}

static void load_content(consent_query *q)
{
    request_view *v = (request_view *)q;
    size_t len;
    const char *stored = fhirpam_request_current(v->az, &len);
    q->content.known = false;
    if (stored == NULL || (v->scratch == NULL && (v->scratch = arena_new()) == NULL))
        return;
    json_t *doc = json_loadb(stored, len, JSON_REJECT_DUPLICATES, NULL);
    content_walk w = {{v->scratch, NULL, 0, 0}, {v->scratch, NULL, 0, 0}, 0};
    collector codes = {v->scratch, NULL, 0, 0};
    bool ok = json_is_object(doc) && walk_resource(&w, doc, 0) && collect_codes(&codes, doc, 0);
    json_decref(doc);
    if (ok)
        q->content =
            (resource_content){true,        w.resources == 1, w.labels.items,  w.labels.n,
                               codes.items, codes.n,          w.classes.items, w.classes.n};
}

/* ---- the view ---- */

int request_view_init(request_view *v, const view_settings *s, fhirpam_authz *az, const char **word,
                      char *text, size_t len)
{
    memset(&v->q, 0, sizeof v->q);
    v->az = az;
    v->npatients = 0;
    v->scratch = NULL;
    const token_view *t = v->token = token_of(v, s, az);
    if (t->bad_word != NULL) {
        *word = t->bad_word;
        snprintf(text, len, "%s", t->bad_text);
        return -1;
    }
    consent_query *q = &v->q;
    q->now = fhirpam_now(az);
    q->load_content = load_content;
    q->action_key = action_of(az);
    q->purposes = t->purposes;
    q->npurposes = t->npurposes;
    q->fhir_user = t->fhir_user[0] != '\0' ? t->fhir_user : NULL;

    reading r; /* bad_text is written only when a value cannot be read */
    r.v = v;
    r.too_many = r.transient = false;
    r.bad = NULL;
    request_patients(&r, az);
    operation_patients(&r, az);
    written_patients(&r, az);
    patched_patients(&r, az);
    operation_scope(&r, az);
    /* The stored resource is the data the request reads or changes: its
     * patient's Consent decides, whoever the token's patient is. */
    if (r.bad == NULL)
        stored_patient(&r, az);
    if (v->npatients == 0 && r.bad == NULL && t->patient[0] != '\0')
        add_patient(&r, t->patient, strlen(t->patient));
    if (r.bad != NULL) {
        *word = "unreadable_patient";
        snprintf(text, len, "%s", r.bad);
        return -1;
    }
    if (r.too_many) {
        *word = "too_many_patients";
        snprintf(text, len, "the request names more than %d patients", VIEW_MAX_PATIENTS);
        return -1;
    }
    class_of(v, az);
    return 0;
}

void request_view_bind(request_view *v, const consent_index *ix)
{
    consent_query *q = &v->q;
    const char *client = v->token->client_id;
    q->client_ids = client != NULL ? strmap_get(&ix->clients, client, strlen(client)) : NULL;
    q->user_ids = NULL;
    if (q->fhir_user != NULL) {
        const stored_resource *r = strmap_get(&ix->resources, q->fhir_user, strlen(q->fhir_user));
        q->user_ids = r != NULL ? &r->ids : NULL;
    }
}

bool request_view_subsets_response(fhirpam_authz *az)
{
    size_t n = fhirpam_fhir_param_count(az);
    for (size_t i = 0; i < n; i++) {
        const char *name = fhirpam_fhir_param_name(az, i);
        if (strcmp(name, "_elements") == 0)
            return true;
        if (strcmp(name, "_summary") != 0)
            continue;
        for (size_t j = 0; j < fhirpam_fhir_param_value_count(az, i); j++) {
            const char *value = fhirpam_fhir_param_value(az, i, j);
            if (strcmp(value, "false") != 0 && strcmp(value, "count") != 0)
                return true;
        }
    }
    return false;
}

void request_view_clear(request_view *v)
{
    arena_free(v->scratch);
    v->scratch = NULL;
}
