/*
 * consent - FHIR privacy Consent enforced at request time (issue 7,
 * consent.md). The module's arguments, the open and close of an instance,
 * and authorize(): read the request (context.c), pin the index in force
 * (store.c), decide each patient's Consents (decide.c), and turn the
 * outcome into a code, a reason and redact obligations.
 */
#include <fhirpam/module.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "store.h"

#define DEFAULT_CATEGORY SYS_CONSENT_SCOPE "|patient-privacy"

static const fhirpam_arg_spec consent_args[] = {
    {"store", FHIRPAM_ARG_STRING, NULL,
     "directory of FHIR JSON files (resources, Bundles, .ndjson): Consents and their actors"},
    {"client_registry", FHIRPAM_ARG_STRING, NULL,
     "JSON file: client_id -> [\"system|value\", ...] identifiers of the requesting party"},
    {"category", FHIRPAM_ARG_LIST, "[\"" DEFAULT_CATEGORY "\"]",
     "Consent categories honoured (\"system|code\", in category or R4 scope); [] means any"},
    {"combine", FHIRPAM_ARG_STRING, "latest",
     "several Consents of a patient: \"latest\" (ties deny) or \"deny_overrides\""},
    {"redact", FHIRPAM_ARG_STRING, "obligation",
     "a deny rule by security label, class or code under a permit: \"obligation\" or \"deny\""},
    {"purpose_claim", FHIRPAM_ARG_STRING, "purpose_of_use",
     "the claim with the purpose of use (a v3-ActReason code or a list)"},
    {"default_purpose", FHIRPAM_ARG_LIST, "[]", "purposes of use when the token has no claim"},
    {"patient_claim", FHIRPAM_ARG_STRING, "patient",
     "the claim naming the patient when the request names none"},
    {"confidentiality_order", FHIRPAM_ARG_BOOL, "false",
     "a v3-Confidentiality securityLabel rule covers the lower levels too (U<L<M<N<R<V)"},
    {"check_interval_ms", FHIRPAM_ARG_INT, "1000", "how often the store is checked for changes"},
    {"max_stale", FHIRPAM_ARG_INT, "0",
     "seconds the last good index may be used while the store fails to load (0: no limit); "
     "past that, unavailable"},
    {NULL, 0, NULL, NULL},
};

typedef struct consent_module {
    char *dir, *registry, *purpose_claim, *patient_claim;
    char **categories;
    size_t ncategories;
    char **purposes;
    size_t npurposes;
    view_settings view;
    decide_options decide;
    int64_t max_stale;
    consent_store *store;
} consent_module;

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        free(list[i]);
    free(list);
}

static void consent_close(void *instance)
{
    consent_module *m = instance;
    if (m == NULL)
        return;
    consent_store_close(m->store);
    free(m->dir);
    free(m->registry);
    free(m->purpose_claim);
    free(m->patient_claim);
    free_list(m->categories, m->ncategories);
    free_list(m->purposes, m->npurposes);
    free(m);
}

static bool arg_given(const fhirpam_args *args, const char *name)
{
    const char *member;
    for (size_t i = 0; (member = fhirpam_args_member_name(args, i)) != NULL; i++)
        if (strcmp(member, name) == 0)
            return true;
    return false;
}

/* A list argument of "system|code" (bare codes take bare_system, or are
 * refused when it is NULL). */
static int code_list(const fhirpam_args *args, const char *name, const char *fallback,
                     const char *bare_system, char ***out, size_t *n, fhirpam_error *err)
{
    size_t count = fhirpam_args_list_size(args, name);
    bool use_fallback = count == 0 && !arg_given(args, name) && fallback != NULL;
    size_t total = use_fallback ? 1 : count;
    *out = calloc(total + 1, sizeof **out);
    *n = 0;
    if (*out == NULL) {
        fhirpam_error_set(err, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < total; i++) {
        const char *item = use_fallback ? fallback : fhirpam_args_list_item(args, name, i);
        const char *bar = strchr(item, '|');
        if (item[0] == '\0' || (bar == NULL && bare_system == NULL) ||
            (bar != NULL && bar[1] == '\0')) {
            fhirpam_error_set(err, "%s: \"%s\" is not \"system|code\"", name, item);
            return -1;
        }
        char *text = NULL;
        if (bar == NULL) {
            size_t len = strlen(bare_system) + strlen(item) + 2;
            if ((text = malloc(len)) != NULL)
                snprintf(text, len, "%s|%s", bare_system, item);
        } else {
            text = strdup(item);
        }
        if (text == NULL) {
            fhirpam_error_set(err, "out of memory");
            return -1;
        }
        (*out)[(*n)++] = text;
    }
    return 0;
}

static int consent_open(const fhirpam_args *args, void **instance, fhirpam_error *err)
{
    consent_module *m = calloc(1, sizeof *m);
    if (m == NULL) {
        fhirpam_error_set(err, "out of memory");
        return -1;
    }
    const char *dir = fhirpam_args_string(args, "store", NULL);
    const char *registry = fhirpam_args_string(args, "client_registry", NULL);
    const char *combine = fhirpam_args_string(args, "combine", "latest");
    const char *redact = fhirpam_args_string(args, "redact", "obligation");
    int64_t interval = fhirpam_args_int(args, "check_interval_ms", 1000);
    if (dir == NULL || dir[0] != '/') {
        fhirpam_error_set(err, "store must be an absolute directory path");
        goto fail;
    }
    if (registry != NULL && registry[0] != '/') {
        fhirpam_error_set(err, "client_registry must be an absolute path");
        goto fail;
    }
    if (strcmp(combine, "latest") == 0) {
        m->decide.combine = COMBINE_LATEST;
    } else if (strcmp(combine, "deny_overrides") == 0) {
        m->decide.combine = COMBINE_DENY_OVERRIDES;
    } else {
        fhirpam_error_set(err, "combine must be \"latest\" or \"deny_overrides\"");
        goto fail;
    }
    if (strcmp(redact, "obligation") != 0 && strcmp(redact, "deny") != 0) {
        fhirpam_error_set(err, "redact must be \"obligation\" or \"deny\"");
        goto fail;
    }
    m->decide.redact_deny = strcmp(redact, "deny") == 0;
    m->max_stale = fhirpam_args_int(args, "max_stale", 0);
    if (m->max_stale < 0 || m->max_stale > 366LL * 86400) {
        fhirpam_error_set(err, "max_stale must be 0-31622400 seconds");
        goto fail;
    }
    if (interval < 10 || interval > 600000) {
        fhirpam_error_set(err, "check_interval_ms must be 10-600000");
        goto fail;
    }
    if ((m->dir = strdup(dir)) == NULL || (registry && (m->registry = strdup(registry)) == NULL) ||
        (m->purpose_claim = strdup(fhirpam_args_string(args, "purpose_claim", "purpose_of_use"))) ==
            NULL ||
        (m->patient_claim = strdup(fhirpam_args_string(args, "patient_claim", "patient"))) ==
            NULL) {
        fhirpam_error_set(err, "out of memory");
        goto fail;
    }
    if (code_list(args, "category", DEFAULT_CATEGORY, NULL, &m->categories, &m->ncategories, err) !=
            0 ||
        code_list(args, "default_purpose", NULL, SYS_ACT_REASON, &m->purposes, &m->npurposes,
                  err) != 0)
        goto fail;
    m->view = (view_settings){m, m->patient_claim, m->purpose_claim,
                              (const char *const *)m->purposes, m->npurposes};
    index_options o = {
        .dir = m->dir,
        .client_registry = m->registry,
        .parse = {(const char *const *)m->categories, m->ncategories, m->ncategories == 0,
                  fhirpam_args_bool(args, "confidentiality_order", false)},
    };
    char why[900];
    if ((m->store = consent_store_open(&o, interval, why, sizeof why)) == NULL) {
        fhirpam_error_set(err, "consent store: %s", why);
        goto fail;
    }
    *instance = m;
    return 0;
fail:
    consent_close(m);
    return -1;
}

/* {"codes":"a b c"}: the redact texts joined, JSON-escaped (they hold no
 * control characters: parse.c percent-encodes them). NULL when out of
 * memory. */
static char *redact_params(const outcome *o)
{
    size_t len = 16;
    for (size_t i = 0; i < o->nredact; i++)
        len += 2 * strlen(o->redact[i]) + 1;
    char *out = malloc(len), *p = out;
    if (out == NULL)
        return NULL;
    p += sprintf(p, "{\"codes\":\"");
    for (size_t i = 0; i < o->nredact; i++) {
        if (i > 0)
            *p++ = ' ';
        for (const char *s = o->redact[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                *p++ = '\\';
            *p++ = *s;
        }
    }
    strcpy(p, "\"}");
    return out;
}

static fhirpam_code conclude(fhirpam_authz *az, const outcome *o, const char *patient)
{
    const char *cid = o->consent ? o->consent->id : "",
               *path = o->provision ? o->provision->path : "";
    switch (o->kind) {
    case OUTCOME_NONE:
        fhirpam_set_reason(az, "no_consent", "no active Consent of Patient/%s applies", patient);
        return FHIRPAM_IGNORE;
    case OUTCOME_DENY:
        fhirpam_set_reason(az, o->reason ? o->reason : "consent_deny",
                           "%s %s denies this request for Patient/%s%s%s", cid, path, patient,
                           o->why ? ": " : "", o->why ? o->why : "");
        return FHIRPAM_CONSENT_DENIED;
    case OUTCOME_PERMIT:
    case OUTCOME_FILTER:
        break;
    }
    if (o->nredact > 0) {
        char *params = redact_params(o);
        int rc = params ? fhirpam_add_obligation(az, "redact", params) : -1;
        free(params);
        if (rc != 0) {
            fhirpam_set_reason(az, "obligation_failed",
                               "%s requires redaction, and the obligation could not be added", cid);
            return FHIRPAM_CONSENT_DENIED;
        }
    }
    if (o->kind == OUTCOME_FILTER && o->consent == NULL) {
        fhirpam_set_reason(az, "no_consent",
                           "no active Consent of Patient/%s permits this request (resources "
                           "other Consents restrict must be removed)",
                           patient);
        return FHIRPAM_IGNORE;
    }
    if (o->kind == OUTCOME_FILTER) {
        fhirpam_set_reason(az, "consent_redact",
                           "%s %s decides nothing here but requires resources it restricts "
                           "(label, class or code) to be removed from the response",
                           cid, path);
        return FHIRPAM_IGNORE;
    }
    fhirpam_set_reason(
        az, "consent_permit", "%s %s permits this request for Patient/%s%s", cid, path, patient,
        o->nredact ? ", without the resources it restricts (redact obligation)" : "");
    return FHIRPAM_SUCCESS;
}

static fhirpam_code consent_authorize(void *instance, fhirpam_authz *az)
{
    const consent_module *m = instance;
    request_view v;
    const char *word = NULL;
    char text[256];
    fhirpam_code code;
    if (request_view_init(&v, &m->view, az, &word, text, sizeof text) != 0) {
        fhirpam_set_reason(az, word, "%s", text);
        code = FHIRPAM_CONSENT_DENIED;
        goto out;
    }
    if (v.npatients == 0) {
        fhirpam_set_reason(az, "no_patient",
                           "neither the request, nor the %s claim, nor the stored resource names "
                           "a patient",
                           m->patient_claim);
        code = FHIRPAM_IGNORE;
        goto out;
    }
    /* consent.md §3 rule 12: a withdrawn Consent must stop applying within
     * a bounded time, so an index that cannot be refreshed expires. */
    int64_t failing = m->max_stale > 0 ? consent_store_failing_since(m->store) : 0;
    if (failing != 0 && fhirpam_now(az) - failing > m->max_stale) {
        fhirpam_set_reason(az, "store_stale",
                           "the consent store has failed to load for more than %lld s (see "
                           "syslog); the last good Consents are too old to use",
                           (long long)m->max_stale);
        code = FHIRPAM_UNAVAILABLE;
        goto out;
    }
    fhirpam_swap_ticket ticket;
    const consent_index *ix = consent_store_enter(m->store, &ticket);
    request_view_bind(&v, ix);
    outcome acc, one;
    outcome_reset(&acc);
    const char *patient = v.patients[0], *abstaining = NULL;
    for (size_t i = 0; i < v.npatients && acc.kind != OUTCOME_DENY; i++) {
        const patient_consents *pc =
            strmap_get(&ix->by_patient, v.patients[i], strlen(v.patients[i]));
        outcome_reset(&one);
        if (pc != NULL)
            decide_patient(&m->decide, pc, &v.q, &one);
        if (one.kind == OUTCOME_NONE || one.kind == OUTCOME_FILTER)
            abstaining = abstaining ? abstaining : v.patients[i];
        if (one.kind > acc.kind)
            patient = v.patients[i];
        outcome_merge(&acc, &one);
    }
    /* A request about several patients is permitted only when each one's
     * Consents permit it: one without (or abstaining) leaves the decision
     * to the stack, redactions kept. */
    if (acc.kind == OUTCOME_PERMIT && abstaining != NULL && v.npatients > 1) {
        acc.kind = acc.nredact > 0 ? OUTCOME_FILTER : OUTCOME_NONE;
        acc.consent = NULL;
        acc.provision = NULL;
        patient = abstaining;
    }
    /* A redaction is checked on the response: one that shows only part of
     * each resource may hide what the check looks for. */
    if (acc.nredact > 0 && acc.kind != OUTCOME_DENY && request_view_subsets_response(az)) {
        acc.kind = OUTCOME_DENY;
        acc.reason = "consent_redact_deny";
        acc.why = "it restricts resources by security label, class or code, and _elements or "
                  "_summary would hide them from the response check";
        acc.nredact = 0;
    }
    /* The outcome's strings live in the index: conclude before letting go. */
    code = conclude(az, &acc, patient);
    consent_store_leave(ticket);
out:
    request_view_clear(&v);
    return code;
}

FHIRPAM_MODULE_DESCRIPTOR = {
    FHIRPAM_MODULE_HEADER,
    .name = "consent",
    .version = "1.0.0",
    .description = "FHIR privacy Consent (R4, R5) enforced at request time",
    .args = consent_args,
    .open = consent_open,
    .authorize = consent_authorize,
    .close = consent_close,
};
