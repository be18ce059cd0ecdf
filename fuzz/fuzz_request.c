/*
 * fuzz_request.c - libFuzzer target for the FHIR REST request parser
 * (fhir_request.h).
 *
 * Input: byte 0 picks the method (GET, HEAD, POST, PUT, PATCH, DELETE,
 * OPTIONS, modulo 7); bit 0 of byte 1 picks the configured base (NULL or
 * "https://fhir.example.org/r4"); the rest is the URL, the body and the
 * If-None-Exist header, separated by NUL bytes (a missing part is NULL).
 * The body is handed over in a buffer of exactly its length, without a
 * terminator, so an over-read is caught (an empty body is a 1-byte buffer).
 *
 * What it checks, and why: modules trust what the parser hands them.
 *  - fhir_request_parse() survives any input (ASan/UBSan watch the percent
 *    decoding, the arena arithmetic and the Bundle JSON).
 *  - On success: the interaction is a value of the enum; the type is a
 *    resource type ([A-Z][A-Za-z]*, or "*" for a compartment search); ids,
 *    version ids and the compartment id are FHIR ids ([A-Za-z0-9.-]{1,64});
 *    an operation has a name and a level and nothing else does; at most 100
 *    parameters, each with a non-empty name, non-empty modifier and chain
 *    when present, and 1 to 100 values. fhir_request_clear() then frees
 *    everything (LeakSanitizer).
 *  - On failure: err holds a sentence and out is empty.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhir_request.h"

#define FUZZ_BASE "https://fhir.example.org/r4"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

static void finding(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_request: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static bool is_type(const char *s)
{
    if (s[0] < 'A' || s[0] > 'Z')
        return false;
    for (const char *c = s + 1; *c; c++) {
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z')))
            return false;
    }
    return true;
}

static bool is_id(const char *s)
{
    size_t n = 0;
    for (const char *c = s; *c; c++, n++) {
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '.'))
            return false;
    }
    return n >= 1 && n <= 64;
}

static bool is_operation(const char *s)
{
    if (s[0] == '\0')
        return false;
    for (const char *c = s; *c; c++) {
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '-'))
            return false;
    }
    return true;
}

static void check_success(const fhir_request *r)
{
    if (r->interaction < FHIRPAM_IA_CAPABILITIES || r->interaction > FHIRPAM_IA_OPERATION)
        finding("interaction outside the enum", NULL);
    if (r->arena == NULL)
        finding("success without an arena", NULL);
    if (r->type != NULL && !is_type(r->type) &&
        !(strcmp(r->type, "*") == 0 && r->interaction == FHIRPAM_IA_SEARCH_COMPARTMENT))
        finding("type is not a resource type", r->type);
    if (r->id != NULL && !is_id(r->id))
        finding("id is not a FHIR id", r->id);
    if (r->version_id != NULL && !is_id(r->version_id))
        finding("version_id is not a FHIR id", r->version_id);
    if (r->version_id != NULL && r->id == NULL)
        finding("version_id without an id", r->version_id);
    bool compartment = r->interaction == FHIRPAM_IA_SEARCH_COMPARTMENT;
    if (compartment != (r->compartment_type != NULL && r->compartment_id != NULL) ||
        (!compartment && (r->compartment_type != NULL || r->compartment_id != NULL)))
        finding("compartment fields do not match the interaction", NULL);
    if (compartment && (!is_type(r->compartment_type) || !is_id(r->compartment_id) ||
                        r->type == NULL || r->id != NULL))
        finding("bad compartment", r->compartment_type);
    bool operation = r->interaction == FHIRPAM_IA_OPERATION;
    if (operation != (r->operation != NULL) || operation != (r->operation_level != 0))
        finding("operation fields do not match the interaction", r->operation);
    if (operation && (!is_operation(r->operation) || r->operation_level < FHIRPAM_OP_SYSTEM ||
                      r->operation_level > FHIRPAM_OP_INSTANCE ||
                      (r->type != NULL) != (r->operation_level != FHIRPAM_OP_SYSTEM) ||
                      (r->id != NULL) != (r->operation_level == FHIRPAM_OP_INSTANCE)))
        finding("bad operation", r->operation);
    if (r->nparams > FHIR_MAX_PARAMS)
        finding("more than FHIR_MAX_PARAMS parameters", NULL);
    if (r->nparams > 0 && r->params == NULL)
        finding("parameters without an array", NULL);
    for (size_t i = 0; i < r->nparams; i++) {
        const fhir_param *p = &r->params[i];
        if (p->name == NULL || p->name[0] == '\0')
            finding("a parameter without a name", NULL);
        if (p->modifier != NULL && p->modifier[0] == '\0')
            finding("an empty modifier", p->name);
        if (p->chain != NULL && p->chain[0] == '\0')
            finding("an empty chain", p->name);
        if (p->nvalues < 1 || p->nvalues > FHIR_MAX_VALUES || p->values == NULL)
            finding("a parameter with no values or too many", p->name);
        for (size_t j = 0; j < p->nvalues; j++) {
            if (p->values[j] == NULL)
                finding("a NULL value", p->name);
            (void)strlen(p->values[j]); /* terminated inside the arena (ASan) */
        }
    }
}

static void check_failure(const fhir_request *r, const char *err)
{
    if (err[0] == '\0')
        finding("refused without a reason", NULL);
    if (r->arena != NULL || r->params != NULL || r->nparams != 0 || r->type != NULL ||
        r->id != NULL || r->version_id != NULL || r->compartment_type != NULL ||
        r->compartment_id != NULL || r->operation != NULL || r->interaction != 0 ||
        r->operation_level != 0 || r->conditional)
        finding("out is not empty after a failed parse", err);
}

/* The next NUL-separated part of data[*pos..size) as a new string, or NULL
 * when the input has ended. *len gets its length. */
static char *next_part(const uint8_t *data, size_t size, size_t *pos, size_t *len, bool terminate)
{
    if (*pos > size)
        return NULL;
    const uint8_t *start = data + *pos;
    const uint8_t *nul = memchr(start, 0, size - *pos);
    size_t n = nul ? (size_t)(nul - start) : size - *pos;
    *pos += n + 1;
    size_t cap = n + (terminate ? 1 : 0);
    char *s = malloc(cap ? cap : 1); /* unterminated: exactly n bytes, for ASan */
    if (s == NULL)
        finding("out of memory", NULL);
    memcpy(s, start, n);
    if (terminate)
        s[n] = '\0';
    *len = n;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const char *method = methods[data[0] % (sizeof methods / sizeof methods[0])];
    const char *base = (data[1] & 1) ? FUZZ_BASE : NULL;
    size_t pos = 2, url_len = 0, body_len = 0, ine_len = 0;
    char *url = next_part(data, size, &pos, &url_len, true);
    char *body = next_part(data, size, &pos, &body_len, false);
    char *ine = next_part(data, size, &pos, &ine_len, true);

    fhir_request r;
    char err[256];
    memset(&r, 0xa5, sizeof r);
    memset(err, 0, sizeof err);
    int rc = fhir_request_parse(method, url, base, body, body_len, ine, &r, err, sizeof err);
    if (rc == 0) {
        check_success(&r);
        fhir_request_clear(&r);
    } else if (rc == -1) {
        check_failure(&r, err);
    } else {
        finding("fhir_request_parse returned neither 0 nor -1", NULL);
    }
    free(ine);
    free(body);
    free(url);
    return 0;
}
