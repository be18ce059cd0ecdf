/*
 * modtest.h - drive one module directly, without a configuration or a token:
 * load it, open an instance from libconfig argument text, and call authorize
 * with given claims and request. For module unit tests; the end-to-end path
 * (config, token, stack) is tested separately.
 */
#ifndef FHIRPAM_MODTEST_H
#define FHIRPAM_MODTEST_H

#include <fhirpam/module.h>

typedef struct modtest modtest;

/* Load `module` (a name in FHIRPAM_TEST_MODULES_DIR, or an absolute path) and
 * open an instance with `args`, the text of a libconfig group such as
 * "{ max_lifetime = 3600; }" (NULL: no args). Returns NULL with err filled
 * (argument validation included, exactly as the config loader does it). */
modtest *modtest_open(const char *module, const char *args, fhirpam_error *err);
void modtest_close(modtest *m);

typedef struct modtest_request {
    const char *method;      /* default "GET" */
    const char *url;         /* default "Patient/1" */
    const char *claims;      /* JSON object text; NULL: no token */
    int64_t now;             /* evaluation time */
    const char *body;        /* NULL: none */
    const char *current;     /* stored resource JSON, NULL: none */
    const char *headers[16]; /* "Name: value", NULL-terminated */
    const char *fhir_base;   /* the configuration's fhir_base; NULL: none */
} modtest_request;

typedef struct modtest_result {
    fhirpam_code code;
    char reason[48];
    char reason_text[320];
    char challenge_scope[256]; /* fhirpam_set_challenge_scope(), or "" */
    size_t obligations;        /* fhirpam_add_obligation() calls that took */
} modtest_result;

/* Call authorize once. The request is parsed first, as the core does (with
 * req->fhir_base, or relative URLs only); one that does not parse returns
 * invalid_request without calling the module. Aborts the test on malformed
 * claims JSON. */
modtest_result modtest_run(modtest *m, const modtest_request *req);

#endif
