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

/* Whether the resource carries one of the codes: a Coding (any object with
 * `code`, and `system` equal, an absent system being "") anywhere in it,
 * meta.security included; its type (resource-types); a meta.profile
 * (urn:ietf:rfc:3986). Deeper than 64 levels counts as carrying. */
static bool carries_coding(const json_t *v, const redact_code *codes, size_t n, int depth)
{
    if (depth > 64)
        return true;
    size_t i;
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
    const char *code = json_string_value(json_object_get(v, "code"));
    if (code != NULL) {
        const json_t *sys = json_object_get(v, "system");
        const char *system = sys ? json_string_value(sys) : "";
        for (size_t k = 0; system != NULL && k < n; k++)
            if (strcmp(codes[k].code, code) == 0 && strcmp(codes[k].system, system) == 0)
                return true;
    }
    const char *key;
    json_object_foreach((json_t *)v, key, item)
    {
        if (carries_coding(item, codes, n, depth + 1))
            return true;
    }
    return false;
}

static bool carries(const json_t *resource, const char *type, const char *text)
{
    size_t n;
    redact_code *codes = redact_codes_parse(text, &n);
    if (codes == NULL)
        return true;
    bool hit = false;
    const json_t *profiles = json_object_get(json_object_get(resource, "meta"), "profile");
    for (size_t k = 0; k < n && !hit; k++) {
        if (strcmp(codes[k].system, "http://hl7.org/fhir/resource-types") == 0)
            hit = strcmp(codes[k].code, type) == 0;
        else if (strcmp(codes[k].system, "urn:ietf:rfc:3986") == 0) {
            size_t i;
            const json_t *profile;
            json_array_foreach(profiles, i, profile)
            {
                const char *s = json_string_value(profile);
                hit = hit || (s != NULL && strcmp(s, codes[k].code) == 0);
            }
        }
    }
    hit = hit || carries_coding(resource, codes, n, 0);
    free(codes);
    return hit;
}

/* One resource meets every obligation: it is in the compartments they name
 * (a resource of a type outside the compartment, Medication or
 * Practitioner, passes, as reads of such types do, A13), and it carries no
 * code they redact. An obligation of an unknown type fails it. */
static bool resource_allowed(const json_t *obligations, const json_t *resource)
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
            if (carries(resource, type, json_string_value(json_object_get(o, "codes"))))
                return false;
            continue;
        }
        if (otype == NULL || strcmp(otype, "patient_compartment") != 0)
            return false;
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
        /* A Bundle of results: the entries outside the compartment, or
         * carrying a redacted code, go. An OperationOutcome (search
         * warnings) carries no patient data. */
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
