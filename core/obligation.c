/*
 * obligation.c - conditions a permit puts on the response, and checking a
 * response against them before the host sends it (issue 5 §4). A module
 * adds an obligation when the request alone cannot show that the answer is
 * allowed (a read by id without the stored resource, an _include); the host
 * then passes the response body to fhirpam_check_response().
 *
 * Types: "patient_compartment" (patient_link: every resource in the
 * patient's compartment) and "redact" (consent: no resource carrying one of
 * the listed codes, as a security label, a Coding anywhere in it, its type
 * or its profile; consent.md §2, LEAP's REDACT obligation).
 */
#include <fhirpam/module.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "compartment.h"
#include "decision.h"
#include "hex.h"

/* The codes of a redact obligation: "system|code" tokens separated by one
 * space, each part percent-encoded ("%XX") where it holds a space, '%', '|'
 * or a control character. Decoded into pairs (one allocation, freed by the
 * caller); NULL when the text is not that. */
typedef struct redact_code {
    const char *system, *code;
} redact_code;

/* Decodes s[0..len) into out (NUL-terminated); false on a bad escape or a
 * raw byte that must have been encoded. */
static bool redact_decode(const char *s, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f || c == '|')
            return false;
        if (c != '%') {
            out[n++] = (char)c;
            continue;
        }
        int hi = i + 2 < len ? hex_digit((unsigned char)s[i + 1]) : -1;
        int lo = hi >= 0 ? hex_digit((unsigned char)s[i + 2]) : -1;
        if (lo < 0 || (hi == 0 && lo == 0))
            return false; /* a bad escape, or a NUL that would cut the code short */
        out[n++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[n] = '\0';
    return true;
}

static redact_code *redact_codes_parse(const char *text, size_t *count)
{
    size_t len = text ? strlen(text) : 0, n = 1;
    if (len == 0 || len > 65536)
        return NULL;
    for (size_t i = 0; i < len; i++)
        n += text[i] == ' ';
    /* The pairs, then room for every decoded part (never longer). */
    redact_code *codes = malloc(n * sizeof *codes + len + 2 * n);
    if (codes == NULL)
        return NULL;
    char *buf = (char *)(codes + n);
    size_t k = 0;
    for (const char *p = text; k < n; k++) {
        const char *end = strchr(p, ' ');
        size_t tlen = end ? (size_t)(end - p) : strlen(p);
        const char *bar = memchr(p, '|', tlen);
        if (bar == NULL || bar + 1 == p + tlen ||
            memchr(bar + 1, '|', tlen - (size_t)(bar - p) - 1))
            goto bad;
        size_t slen = (size_t)(bar - p);
        if (!redact_decode(p, slen, buf))
            goto bad;
        codes[k].system = buf;
        buf += slen + 1;
        if (!redact_decode(bar + 1, tlen - slen - 1, buf))
            goto bad;
        codes[k].code = buf;
        buf += tlen - slen;
        p += tlen + 1;
    }
    *count = n;
    return codes;
bad:
    free(codes);
    return NULL;
}

static json_t *compartment_obligation(const json_t *p)
{
    const char *patient = json_string_value(json_object_get(p, "patient"));
    const char *version = json_string_value(json_object_get(p, "fhir_version"));
    if (!json_is_object(p) || json_object_size(p) != 2 || patient == NULL || patient[0] == '\0' ||
        compartment_table_of(version) == NULL)
        return NULL;
    return json_pack("{s:s,s:s,s:s}", "type", "patient_compartment", "patient", patient,
                     "fhir_version", version);
}

static json_t *redact_obligation(const json_t *p)
{
    const char *codes = json_string_value(json_object_get(p, "codes"));
    size_t n;
    redact_code *parsed =
        json_is_object(p) && json_object_size(p) == 1 ? redact_codes_parse(codes, &n) : NULL;
    if (parsed == NULL)
        return NULL;
    free(parsed);
    return json_pack("{s:s,s:s}", "type", "redact", "codes", codes);
}

FHIRPAM_API int fhirpam_add_obligation(fhirpam_authz *az, const char *type, const char *params)
{
    if (az == NULL || type == NULL)
        return -1;
    bool compartment = strcmp(type, "patient_compartment") == 0;
    if (!compartment && strcmp(type, "redact") != 0)
        return -1;
    json_t *p = params ? json_loads(params, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *o = compartment ? compartment_obligation(p) : redact_obligation(p);
    int rc = -1;
    if (o != NULL && az->obligations == NULL)
        az->obligations = json_array();
    if (o != NULL && az->obligations == NULL)
        json_decref(o);
    else if (o != NULL && json_array_append_new(az->obligations, o) == 0)
        rc = 0; /* json_array_append_new took o either way */
    json_decref(p);
    return rc;
}

/* How deep resources may nest inside a response (a Bundle in a Bundle
 * entry, a resource in a Parameters part): deeper fails the check. */
#define RESPONSE_MAX_DEPTH 16

static bool coding_listed(const json_t *v, const redact_code *codes, size_t n)
{
    const char *code = json_string_value(json_object_get(v, "code"));
    if (code == NULL)
        return false;
    const json_t *sys = json_object_get(v, "system");
    const char *system = sys ? json_string_value(sys) : "";
    for (size_t k = 0; system != NULL && k < n; k++)
        if (strcmp(codes[k].code, code) == 0 && strcmp(codes[k].system, system) == 0)
            return true;
    return false;
}

/* Whether v carries one of the codes as a Coding (any object with `code`,
 * and `system` equal, an absent system being "") anywhere in it, meta.security
 * included. Deeper than 64 levels counts as carrying. */
static bool carries_coding(const json_t *v, const redact_code *codes, size_t n, int depth)
{
    if (depth > 64)
        return true;
    size_t i;
    const char *key;
    const json_t *item;
    if (json_is_array(v)) {
        json_array_foreach(v, i, item)
        {
            if (carries_coding(item, codes, n, depth + 1))
                return true;
        }
        return false;
    }
    if (!json_is_object(v))
        return false;
    if (coding_listed(v, codes, n))
        return true;
    json_object_foreach((json_t *)v, key, item)
    {
        if (carries_coding(item, codes, n, depth + 1))
            return true;
    }
    return false;
}

/* Bundles that carry the answer rather than being data (R4 bundle.html):
 * their own type is not a class of the response. */
static bool envelope_bundle(const json_t *bundle)
{
    static const char *const envelopes[] = {"searchset", "history", "batch-response",
                                            "transaction-response"};
    const char *type = json_string_value(json_object_get(bundle, "type"));
    for (size_t i = 0; type != NULL && i < sizeof envelopes / sizeof envelopes[0]; i++)
        if (strcmp(type, envelopes[i]) == 0)
            return true;
    return false;
}

/* The Codings of a Parameters resource's own parameters, not of the
 * resources they hold. */
static bool parameters_carry(const json_t *params, const redact_code *codes, size_t n, int depth)
{
    if (depth > RESPONSE_MAX_DEPTH)
        return true;
    size_t i;
    const char *key;
    const json_t *p, *item;
    json_array_foreach(params, i, p)
    {
        json_object_foreach((json_t *)p, key, item)
        {
            if (strcmp(key, "resource") == 0)
                continue;
            if (strcmp(key, "part") == 0 ? parameters_carry(item, codes, n, depth + 1)
                                         : carries_coding(item, codes, n, depth + 1))
                return true;
        }
    }
    return false;
}

/* Whether the resource itself (not the resources inside it: they are
 * checked on their own) carries one of the codes: a Coding of its own,
 * meta.security included; its type (resource-types; not for an envelope
 * Bundle); a meta.profile (urn:ietf:rfc:3986). */
static bool carries(const json_t *resource, const char *type, const redact_code *codes, size_t n)
{
    bool bundle = strcmp(type, "Bundle") == 0, parameters = strcmp(type, "Parameters") == 0;
    const json_t *profiles = json_object_get(json_object_get(resource, "meta"), "profile");
    for (size_t k = 0; k < n; k++) {
        if (strcmp(codes[k].system, "http://hl7.org/fhir/resource-types") == 0) {
            if (strcmp(codes[k].code, type) == 0 && !(bundle && envelope_bundle(resource)))
                return true;
        } else if (strcmp(codes[k].system, "urn:ietf:rfc:3986") == 0) {
            size_t i;
            const json_t *profile;
            json_array_foreach(profiles, i, profile)
            {
                const char *s = json_string_value(profile);
                if (s != NULL && strcmp(s, codes[k].code) == 0)
                    return true;
            }
        }
    }
    const char *key;
    const json_t *item;
    json_object_foreach((json_t *)resource, key, item)
    {
        if (strcmp(key, "contained") == 0 ||
            (bundle && (strcmp(key, "entry") == 0 || strcmp(key, "issues") == 0)))
            continue;
        if (parameters && strcmp(key, "parameter") == 0) {
            if (parameters_carry(item, codes, n, 0))
                return true;
            continue;
        }
        if (carries_coding(item, codes, n, 1))
            return true;
    }
    return false;
}

/* Some element at path (under node) holds a reference to a Patient other
 * than `want` ("Patient/<id>"); arrays anywhere along the path searched. */
static bool path_names_other_patient(const json_t *node, const char *path, const char *want)
{
    if (json_is_array(node)) {
        size_t i;
        const json_t *item;
        json_array_foreach(node, i, item)
        {
            if (path_names_other_patient(item, path, want))
                return true;
        }
        return false;
    }
    if (*path == '\0') {
        const char *ref = json_string_value(json_object_get(node, "reference"));
        return ref != NULL && strncmp(ref, "Patient/", 8) == 0 && strcmp(ref, want) != 0;
    }
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    char name[64];
    if (len >= sizeof name)
        return true;
    memcpy(name, path, len);
    name[len] = '\0';
    const json_t *child = json_object_get(node, name);
    return child != NULL && path_names_other_patient(child, dot ? dot + 1 : "", want);
}

/* One resource meets the obligations on its own. At the top of the
 * response or in a Bundle entry or Parameters resource (`contained` false):
 * it is in the compartments they name (a resource of a type outside the
 * compartment, Medication or Practitioner, a searchset Bundle, passes, as
 * reads of such types do, A13). A contained resource is part of the one
 * that holds it and fails only when it names another patient through a
 * compartment element. No resource may carry a code a redact obligation
 * lists. An obligation of an unknown type fails it. */
static bool resource_allowed(const json_t *obligations, const json_t *resource, bool contained)
{
    const char *type = json_string_value(json_object_get(resource, "resourceType"));
    if (type == NULL)
        return false;
    size_t i;
    const json_t *o;
    json_array_foreach(obligations, i, o)
    {
        const char *otype = json_string_value(json_object_get(o, "type"));
        if (otype != NULL && strcmp(otype, "redact") == 0) {
            size_t n;
            redact_code *codes =
                redact_codes_parse(json_string_value(json_object_get(o, "codes")), &n);
            bool hit = codes == NULL || carries(resource, type, codes, n);
            free(codes);
            if (hit)
                return false;
            continue;
        }
        if (otype == NULL || strcmp(otype, "patient_compartment") != 0)
            return false;
        const compartment_table *t =
            compartment_table_of(json_string_value(json_object_get(o, "fhir_version")));
        const char *patient = json_string_value(json_object_get(o, "patient"));
        size_t n;
        if (t == NULL || patient == NULL)
            return false;
        const compartment_link *links = compartment_links(t, type, &n);
        if (contained) {
            char want[200];
            snprintf(want, sizeof want, "Patient/%s", patient);
            for (size_t k = 0; k < n; k++)
                if (path_names_other_patient(resource, links[k].path, want))
                    return false;
            continue;
        }
        if (strcmp(type, "Patient") != 0 && links == NULL)
            continue;
        if (!compartment_contains(t, resource, patient))
            return false;
    }
    return true;
}

static bool tree_allowed(const json_t *obligations, const json_t *resource, bool contained,
                         int depth);

static bool each_allowed(const json_t *obligations, const json_t *list, bool contained, int depth)
{
    size_t i;
    const json_t *r;
    json_array_foreach(list, i, r)
    {
        if (!tree_allowed(obligations, r, contained, depth + 1))
            return false;
    }
    return true;
}

/* A Bundle entry: its resource, and the OperationOutcome of its response. */
static bool entry_allowed(const json_t *obligations, const json_t *entry, int depth)
{
    const json_t *r = json_object_get(entry, "resource");
    const json_t *outcome = json_object_get(json_object_get(entry, "response"), "outcome");
    return (r == NULL || tree_allowed(obligations, r, false, depth + 1)) &&
           (outcome == NULL || tree_allowed(obligations, outcome, false, depth + 1));
}

static bool parameters_allowed(const json_t *obligations, const json_t *params, int depth)
{
    if (depth > RESPONSE_MAX_DEPTH)
        return false;
    size_t i;
    const json_t *p;
    json_array_foreach(params, i, p)
    {
        const json_t *r = json_object_get(p, "resource");
        if ((r != NULL && !tree_allowed(obligations, r, false, depth + 1)) ||
            !parameters_allowed(obligations, json_object_get(p, "part"), depth + 1))
            return false;
    }
    return true;
}

/* The resources inside one, where FHIR puts them (the Resource-typed
 * elements of R4 and R5, modules/consent/data/README.md): contained,
 * Bundle.entry.resource and .response.outcome, R5 Bundle.issues,
 * Parameters.parameter.resource and part. */
static bool inner_allowed(const json_t *obligations, const json_t *resource, const char *type,
                          int depth)
{
    if (!each_allowed(obligations, json_object_get(resource, "contained"), true, depth))
        return false;
    if (strcmp(type, "Parameters") == 0)
        return parameters_allowed(obligations, json_object_get(resource, "parameter"), depth);
    if (strcmp(type, "Bundle") != 0)
        return true;
    const json_t *issues = json_object_get(resource, "issues");
    if (issues != NULL && !tree_allowed(obligations, issues, false, depth + 1))
        return false;
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(resource, "entry"), i, e)
    {
        if (!entry_allowed(obligations, e, depth))
            return false;
    }
    return true;
}

/* The resource and every resource inside it. */
static bool tree_allowed(const json_t *obligations, const json_t *resource, bool contained,
                         int depth)
{
    const char *type = json_string_value(json_object_get(resource, "resourceType"));
    return depth <= RESPONSE_MAX_DEPTH && json_is_object(resource) && type != NULL &&
           resource_allowed(obligations, resource, contained) &&
           inner_allowed(obligations, resource, type, depth);
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
    const char *type = json_string_value(json_object_get(doc, "resourceType"));
    if (type == NULL || strcmp(type, "Bundle") != 0) {
        int rc = tree_allowed(d->obligations, doc, false, 0) ? 1 : 0;
        json_decref(doc);
        return rc;
    }
    /* A Bundle: its own labels, profile and issues decide whether it may be
     * sent at all; then each top-level entry goes when anything in it fails,
     * at any depth (a searchset in a batch-response entry, a resource in
     * its contained or in a Parameters). An OperationOutcome entry (search
     * warnings) carries no patient data and stays. */
    const json_t *issues = json_object_get(doc, "issues");
    if (!resource_allowed(d->obligations, doc, false) ||
        !each_allowed(d->obligations, json_object_get(doc, "contained"), true, 0) ||
        (issues != NULL && !tree_allowed(d->obligations, issues, false, 1))) {
        json_decref(doc);
        return 0;
    }
    const json_t *entries = json_object_get(doc, "entry");
    size_t n = json_array_size(entries), k = 0;
    size_t *out = n ? malloc(n * sizeof *out) : NULL;
    if (n > 0 && out == NULL) {
        json_decref(doc);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(entries, i);
        const json_t *r = json_object_get(e, "resource");
        const char *rt = json_string_value(json_object_get(r, "resourceType"));
        if (rt != NULL && strcmp(rt, "OperationOutcome") == 0)
            continue;
        if (r == NULL || !entry_allowed(d->obligations, e, 0))
            out[k++] = i;
    }
    *remove = out;
    *nremove = k;
    if (k == 0) {
        free(out);
        *remove = NULL;
    }
    json_decref(doc);
    return 1;
}
