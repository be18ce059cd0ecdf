/*
 * compartment.c - membership of the FHIR Patient compartment, for modules
 * (patient_link) and for checking responses against obligations
 * (fhirpam_check_response): the same tables, generated at build time.
 */
#include "compartment.h"

#include <fhirpam/module.h>
#include <stdio.h>
#include <string.h>

const compartment_table *compartment_table_of(const char *version)
{
    if (version != NULL && strcmp(version, "R4") == 0)
        return &compartment_r4;
    if (version != NULL && strcmp(version, "R5") == 0)
        return &compartment_r5;
    return NULL;
}

const compartment_link *compartment_links(const compartment_table *t, const char *type, size_t *n)
{
    *n = 0;
    /* Every FHIR resource type starts with an upper-case letter. */
    if (type == NULL || type[0] < 'A' || type[0] > 'Z')
        return NULL;
    size_t lo = t->first[type[0] - 'A'], hi = t->first[type[0] - 'A' + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(t->links[mid].resource, type) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == t->first[type[0] - 'A' + 1] || strcmp(t->links[lo].resource, type) != 0)
        return NULL;
    /* The generated table names each type with one string. */
    const char *name = t->links[lo].resource;
    size_t end = lo + 1;
    while (end < t->n &&
           (t->links[end].resource == name || strcmp(t->links[end].resource, type) == 0))
        end++;
    *n = end - lo;
    return *n > 0 ? &t->links[lo] : NULL;
}

/* Some element at path (under node) holds a reference equal to want;
 * arrays anywhere along the path are searched. */
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

bool compartment_contains(const compartment_table *t, const json_t *resource,
                          const char *patient_id)
{
    const char *type = json_string_value(json_object_get(resource, "resourceType"));
    if (type == NULL || patient_id == NULL)
        return false;
    if (strcmp(type, "Patient") == 0) {
        const char *id = json_string_value(json_object_get(resource, "id"));
        return id != NULL && strcmp(id, patient_id) == 0;
    }
    char want[200];
    snprintf(want, sizeof want, "Patient/%s", patient_id);
    size_t n;
    const compartment_link *links = compartment_links(t, type, &n);
    for (size_t i = 0; i < n; i++)
        if (path_references(resource, links[i].path, want))
            return true;
    return false;
}

FHIRPAM_API int fhirpam_compartment_type(const char *version, const char *type)
{
    const compartment_table *t = compartment_table_of(version);
    size_t n;
    if (t == NULL)
        return -1;
    return type != NULL && (strcmp(type, "Patient") == 0 || compartment_links(t, type, &n));
}

FHIRPAM_API bool fhirpam_compartment_param(const char *version, const char *type, const char *param)
{
    const compartment_table *t = compartment_table_of(version);
    size_t n;
    const compartment_link *links = t ? compartment_links(t, type, &n) : NULL;
    for (size_t i = 0; links != NULL && i < n; i++)
        if (strcmp(links[i].param, param) == 0)
            return true;
    return false;
}

FHIRPAM_API size_t fhirpam_compartment_params(const char *version, const char *type,
                                              const char **names, size_t max)
{
    const compartment_table *t = compartment_table_of(version);
    size_t n;
    const compartment_link *links = t ? compartment_links(t, type, &n) : NULL;
    if (links == NULL)
        return 0;
    for (size_t i = 0; i < n && i < max; i++)
        names[i] = links[i].param;
    return n;
}

FHIRPAM_API const char *fhirpam_compartment_path(const char *version, const char *type, size_t i)
{
    const compartment_table *t = compartment_table_of(version);
    size_t n;
    const compartment_link *links = t ? compartment_links(t, type, &n) : NULL;
    return links != NULL && i < n ? links[i].path : NULL;
}

FHIRPAM_API bool fhirpam_compartment_contains(const char *version, const char *type,
                                              const char *resource, size_t len,
                                              const char *patient_id)
{
    const compartment_table *t = compartment_table_of(version);
    json_t *doc = t && resource ? json_loadb(resource, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    const char *rt = json_string_value(json_object_get(doc, "resourceType"));
    bool in = rt != NULL && (type == NULL || strcmp(rt, type) == 0) &&
              compartment_contains(t, doc, patient_id);
    json_decref(doc);
    return in;
}
