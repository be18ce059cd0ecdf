/*
 * fuzz_consent.c - the consent module's reader: any JSON text, read as a
 * FHIR Consent (R4 or R5) or as a resource with identifiers, parses or is
 * refused with a sentence, without a crash or a leak; an enforceable
 * Consent always names its patient. The same bytes, as text, go through the
 * reference reader (patient values, fhirUser): a reading always lies inside
 * the input and names a valid id.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "parse.h"
#include "reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const categories[] = {
        "http://terminology.hl7.org/CodeSystem/consentscope|patient-privacy"};
    if (size > 64 * 1024)
        return 0;
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    static const unsigned flags[] = {0, REFERENCE_BARE_ID, REFERENCE_ANY_BASE};
    for (size_t i = 0; i < 3; i++) {
        reference_parts r;
        if (reference_read(text, "https://fhir.example.org/r4", flags[i], &r) != 0)
            continue;
        if (r.id < text || r.id + r.id_len > text + size || !fhir_id_valid(r.id, r.id_len) ||
            (r.type != NULL && (r.type < text || r.type + r.type_len > text + size)))
            abort();
    }
    free(text);
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    arena *a = arena_new();
    if (doc == NULL || a == NULL)
        goto out;
    for (int order = 0; order < 2; order++) {
        parse_options o = {categories, 1, order == 1, order == 1};
        consent *c = NULL;
        char err[256] = "";
        int rc = consent_parse(a, doc, "fuzz.json", &o, &c, err, sizeof err);
        if ((rc < 0 && err[0] == '\0') ||
            (rc > 0 && (c == NULL || c->patient == NULL || c->patient[0] == '\0')))
            abort();
    }
    identifier_set ids;
    char err[256];
    identifiers_parse(a, doc, &ids, err, sizeof err);
out:
    arena_free(a);
    json_decref(doc);
    return 0;
}
