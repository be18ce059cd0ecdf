/* context.c - see context.h. */
#include "context.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        return strcmp(fhirpam_request_method(az), "GET") == 0 ? SYS_CONSENT_ACTION "|access"
                                                              : SYS_CONSENT_ACTION "|use";
    default:
        return SYS_CONSENT_ACTION "|access";
    }
}

static bool has_param(fhirpam_authz *az, const char *name)
{
    size_t n = fhirpam_fhir_param_count(az);
    for (size_t i = 0; i < n; i++)
        if (strcmp(fhirpam_fhir_param_name(az, i), name) == 0)
            return true;
    return false;
}

/* The one resource type the response can hold, or false (several: a
 * system-level request, Patient/x/ *, an operation, _include). */
static bool class_of(fhirpam_authz *az, char *out, size_t len)
{
    const char *type = fhirpam_fhir_type(az);
    switch (fhirpam_fhir_interaction(az)) {
    case FHIRPAM_IA_READ:
    case FHIRPAM_IA_VREAD:
    case FHIRPAM_IA_UPDATE:
    case FHIRPAM_IA_PATCH:
    case FHIRPAM_IA_DELETE:
    case FHIRPAM_IA_HISTORY_INSTANCE:
    case FHIRPAM_IA_HISTORY_TYPE:
    case FHIRPAM_IA_CREATE:
    case FHIRPAM_IA_SEARCH_TYPE:
    case FHIRPAM_IA_SEARCH_COMPARTMENT:
        break;
    default:
        return false;
    }
    if (type == NULL || strcmp(type, "*") == 0 || has_param(az, "_include") ||
        has_param(az, "_revinclude"))
        return false;
    static const char prefix[] = SYS_RESOURCE_TYPES "|";
    size_t tlen = strlen(type);
    if (sizeof prefix + tlen > len)
        return false;
    memcpy(out, prefix, sizeof prefix - 1);
    memcpy(out + sizeof prefix - 1, type, tlen + 1);
    return true;
}

static void add_patient(request_view *v, const char *id, bool *too_many)
{
    if (id == NULL || id[0] == '\0' || strchr(id, '/') != NULL)
        return;
    for (size_t i = 0; i < v->npatients; i++)
        if (strcmp(v->patients[i], id) == 0)
            return;
    if (v->npatients == VIEW_MAX_PATIENTS)
        *too_many = true;
    else
        v->patients[v->npatients++] = id;
}

/* The patient id in a reference value: "Patient/1", ".../Patient/1". */
static const char *patient_in(const char *value)
{
    if (strncmp(value, "Patient/", 8) == 0)
        return value + 8;
    const char *p = strstr(value, "/Patient/");
    return p ? p + 9 : NULL;
}

/* The patients the request names: the compartment, Patient/<id>, and the
 * values of patient, subject (and _id on Patient) search parameters. */
static void request_patients(request_view *v, fhirpam_authz *az, bool *too_many)
{
    const char *ctype, *cid;
    if (fhirpam_fhir_compartment(az, &ctype, &cid) && strcmp(ctype, "Patient") == 0)
        add_patient(v, cid, too_many);
    const char *type = fhirpam_fhir_type(az);
    bool patient_type = type != NULL && strcmp(type, "Patient") == 0;
    if (patient_type && fhirpam_fhir_id(az) != NULL)
        add_patient(v, fhirpam_fhir_id(az), too_many);
    size_t n = fhirpam_fhir_param_count(az);
    for (size_t i = 0; i < n; i++) {
        const char *name = fhirpam_fhir_param_name(az, i);
        const char *mod = fhirpam_fhir_param_modifier(az, i);
        bool bare = strcmp(name, "patient") == 0 || (patient_type && strcmp(name, "_id") == 0);
        if ((!bare && strcmp(name, "subject") != 0) || fhirpam_fhir_param_chain(az, i) != NULL)
            continue;
        for (size_t j = 0; j < fhirpam_fhir_param_value_count(az, i); j++) {
            const char *value = fhirpam_fhir_param_value(az, i, j);
            const char *id = patient_in(value);
            if (id == NULL && ((mod != NULL && strcmp(mod, "Patient") == 0) || bare ||
                               strchr(value, '/') == NULL))
                id = value; /* subject=123 may be a Patient: evaluated */
            add_patient(v, id, too_many);
        }
    }
}

/* A purpose claim the module cannot read: every request with the token
 * denies. */
static void bad_purpose(token_view *t, const char *name)
{
    t->bad_word = "bad_purpose_claim";
    snprintf(t->bad_text, sizeof t->bad_text,
             "the %s claim is not a code or a list of at most %d codes", name, QUERY_MAX_PURPOSES);
}

/* Purposes of use: the claim (a code or a list; a bare code is a
 * v3-ActReason code), or the configured default. */
static void token_purposes(token_view *t, const view_settings *s, fhirpam_authz *az)
{
    fhirpam_claim_type type = fhirpam_claim_type_of(az, s->purpose_claim);
    if (type == FHIRPAM_CLAIM_ABSENT) {
        for (size_t i = 0; i < s->ndefault_purposes && i < QUERY_MAX_PURPOSES; i++)
            t->purposes[t->npurposes++] = s->default_purposes[i];
        return;
    }
    size_t n = type == FHIRPAM_CLAIM_STRING  ? 1
               : type == FHIRPAM_CLAIM_ARRAY ? fhirpam_claim_array_size(az, s->purpose_claim)
                                             : 0;
    if ((type != FHIRPAM_CLAIM_STRING && type != FHIRPAM_CLAIM_ARRAY) || n > QUERY_MAX_PURPOSES)
        return bad_purpose(t, s->purpose_claim);
    for (size_t i = 0; i < n; i++) {
        const char *p = type == FHIRPAM_CLAIM_STRING
                            ? fhirpam_claim_string(az, s->purpose_claim)
                            : fhirpam_claim_array_string(az, s->purpose_claim, i);
        if (p == NULL || p[0] == '\0')
            return bad_purpose(t, s->purpose_claim);
        if (strchr(p, '|') == NULL) {
            int k =
                snprintf(t->purpose_text[i], sizeof t->purpose_text[i], SYS_ACT_REASON "|%s", p);
            if (k < 0 || (size_t)k >= sizeof t->purpose_text[i])
                return bad_purpose(t, s->purpose_claim);
            p = t->purpose_text[i];
        }
        t->purposes[t->npurposes++] = p;
    }
}

static void read_token(token_view *t, const view_settings *s, fhirpam_authz *az)
{
    memset(t, 0, offsetof(token_view, purpose_text));
    t->fhir_user[0] = '\0';
    t->bad_word = NULL;
    const char *claim = fhirpam_claim_string(az, s->patient_claim);
    if (claim != NULL)
        t->patient = strncmp(claim, "Patient/", 8) == 0 ? claim + 8 : claim;
    t->client_id = fhirpam_claim_string(az, "client_id");
    /* fhirUser: "Practitioner/7" or an absolute URL ending in it. */
    const char *user = fhirpam_claim_string(az, "fhirUser");
    if (user != NULL) {
        const char *end = user + strlen(user), *slash = strrchr(user, '/'), *p = slash;
        while (p != NULL && p > user && p[-1] != '/')
            p--;
        if (slash != NULL && p < slash && slash + 1 < end &&
            (size_t)(end - p) < sizeof t->fhir_user) {
            memcpy(t->fhir_user, p, (size_t)(end - p));
            t->fhir_user[end - p] = '\0';
        }
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

/* Every Coding in a resource into the scratch arena; false past the depth
 * cap or out of memory (the content is then unknown: fail closed). */
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

static bool collect_codes(collector *c, const json_t *v, int depth)
{
    if (depth > 64)
        return false;
    if (json_is_array(v)) {
        size_t i;
        const json_t *item;
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
    const char *key;
    const json_t *member;
    json_object_foreach((json_t *)v, key, member)
    {
        if (!collect_codes(c, member, depth + 1))
            return false;
    }
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
    collector labels = {v->scratch, NULL, 0, 0}, codes = {v->scratch, NULL, 0, 0};
    bool ok = json_is_object(doc);
    size_t i;
    const json_t *label;
    json_array_foreach(json_object_get(json_object_get(doc, "meta"), "security"), i, label)
    {
        const char *code = json_string_value(json_object_get(label, "code"));
        if (ok && code != NULL)
            ok = collect_add(&labels, json_string_value(json_object_get(label, "system")), code);
    }
    ok = ok && collect_codes(&codes, doc, 0);
    json_decref(doc);
    if (!ok)
        return;
    q->content = (resource_codes){true, labels.items, labels.n, codes.items, codes.n};
}

/* The data subject of the stored resource the host passed, when neither the
 * request nor the token names a patient: the Patient itself, or its
 * `subject` / `patient` reference to a Patient. */
static void stored_patient(request_view *v, fhirpam_authz *az, bool *too_many)
{
    size_t len;
    const char *stored = fhirpam_request_current(az, &len);
    if (stored == NULL || (v->scratch == NULL && (v->scratch = arena_new()) == NULL))
        return;
    json_t *doc = json_loadb(stored, len, JSON_REJECT_DUPLICATES, NULL);
    const char *type = json_string_value(json_object_get(doc, "resourceType"));
    const char *ids[3] = {NULL, NULL, NULL};
    if (type != NULL && strcmp(type, "Patient") == 0)
        ids[0] = json_string_value(json_object_get(doc, "id"));
    static const char *const refs[] = {"subject", "patient"};
    for (size_t i = 0; i < 2; i++) {
        const char *ref =
            json_string_value(json_object_get(json_object_get(doc, refs[i]), "reference"));
        if (ref != NULL)
            ids[1 + i] = patient_in(ref);
    }
    for (size_t i = 0; i < 3; i++)
        if (ids[i] != NULL)
            add_patient(v, arena_strdup(v->scratch, ids[i]), too_many);
    json_decref(doc);
}

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

    bool too_many = false;
    request_patients(v, az, &too_many);
    if (v->npatients == 0 && t->patient != NULL)
        add_patient(v, t->patient, &too_many);
    if (v->npatients == 0)
        stored_patient(v, az, &too_many);
    if (too_many) {
        *word = "too_many_patients";
        snprintf(text, len, "the request names more than %d patients", VIEW_MAX_PATIENTS);
        return -1;
    }
    if (class_of(az, v->class_text, sizeof v->class_text))
        q->class_key = v->class_text;
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

void request_view_clear(request_view *v)
{
    arena_free(v->scratch);
    v->scratch = NULL;
}
