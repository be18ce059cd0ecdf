/*
 * obligation.c - conditions a permit puts on the response, and checking a
 * response against them before the host sends it (issue 5 §4). A module
 * adds an obligation when the request alone cannot show that the answer is
 * allowed (a read by id without the stored resource, an _include); the host
 * then passes the response body to fhirpam_check_response().
 */
#include <fhirpam/module.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "compartment.h"
#include "decision.h"

FHIRPAM_API int fhirpam_add_obligation(fhirpam_authz *az, const char *type, const char *params)
{
    if (az == NULL || type == NULL || strcmp(type, "patient_compartment") != 0)
        return -1;
    json_t *p = params ? json_loads(params, JSON_REJECT_DUPLICATES, NULL) : NULL;
    const char *patient = json_string_value(json_object_get(p, "patient"));
    const char *version = json_string_value(json_object_get(p, "fhir_version"));
    int rc = -1;
    if (json_is_object(p) && json_object_size(p) == 2 && patient != NULL && patient[0] != '\0' &&
        compartment_table_of(version) != NULL) {
        json_t *o =
            json_pack("{s:s,s:s,s:s}", "type", type, "patient", patient, "fhir_version", version);
        if (az->obligations == NULL)
            az->obligations = json_array();
        if (o != NULL && az->obligations != NULL && json_array_append_new(az->obligations, o) == 0)
            rc = 0;
    }
    json_decref(p);
    return rc;
}

/* One resource in the compartments every obligation names; a resource of a
 * type outside the compartment (Medication, Practitioner) passes, as reads
 * of such types do (A13). */
static bool resource_allowed(const json_t *obligations, const json_t *resource)
{
    const char *type = json_string_value(json_object_get(resource, "resourceType"));
    if (type == NULL)
        return false;
    size_t i;
    const json_t *o;
    json_array_foreach(obligations, i, o)
    {
        const compartment_table *t =
            compartment_table_of(json_string_value(json_object_get(o, "fhir_version")));
        size_t n;
        if (t == NULL)
            return false;
        if (strcmp(type, "Patient") != 0 && compartment_links(t, type, &n) == NULL)
            continue;
        if (!compartment_contains(t, resource, json_string_value(json_object_get(o, "patient"))))
            return false;
    }
    return true;
}

FHIRPAM_API int fhirpam_check_response(const fhirpam_decision *d, const char *body, size_t len,
                                       size_t **remove, size_t *nremove)
{
    *remove = NULL;
    *nremove = 0;
    if (d == NULL || !d->permitted)
        return -1;
    if (d->obligations == NULL || json_array_size(d->obligations) == 0)
        return 1;
    json_t *doc = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        return -1;
    }
    int rc;
    const char *type = json_string_value(json_object_get(doc, "resourceType"));
    const json_t *entries = json_object_get(doc, "entry");
    if (type != NULL && strcmp(type, "Bundle") == 0) {
        /* A Bundle of results: the entries outside the compartment go. An
         * OperationOutcome (search warnings) carries no patient data. */
        size_t n = json_array_size(entries), k = 0;
        size_t *out = n ? malloc(n * sizeof *out) : NULL;
        if (n > 0 && out == NULL) {
            json_decref(doc);
            return 0;
        }
        for (size_t i = 0; i < n; i++) {
            const json_t *r = json_object_get(json_array_get(entries, i), "resource");
            const char *rt = json_string_value(json_object_get(r, "resourceType"));
            if (rt != NULL && strcmp(rt, "OperationOutcome") == 0)
                continue;
            if (r == NULL || !resource_allowed(d->obligations, r))
                out[k++] = i;
        }
        *remove = out;
        *nremove = k;
        if (k == 0) {
            free(out);
            *remove = NULL;
        }
        rc = 1;
    } else {
        rc = resource_allowed(d->obligations, doc) ? 1 : 0;
    }
    json_decref(doc);
    return rc;
}
