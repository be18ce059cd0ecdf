/*
 * modtest.c - see modtest.h. Uses the core's own loader and argument checks,
 * so a module is opened here exactly as a configuration would open it.
 */
#include "modtest.h"

#include <check.h>
#include <jansson.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "config.h"
#include "request.h"

struct modtest {
    module_file *files;
    const fhirpam_module *desc;
    config_t cfg;
    struct fhirpam_args args;
    void *instance;
};

modtest *modtest_open(const char *module, const char *args, fhirpam_error *err)
{
    modtest *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    config_init(&m->cfg);
    char path[1024];
    if (module[0] == '/')
        snprintf(path, sizeof path, "%s", module);
    else
        snprintf(path, sizeof path, "%s/%s.so", getenv("FHIRPAM_TEST_MODULES_DIR"), module);
    char why[512];
    module_file *f = module_load(&m->files, path, why, sizeof why);
    if (f == NULL) {
        fhirpam_error_set(err, "%s %s", path, why);
        goto fail;
    }
    m->desc = f->desc;
    const config_setting_t *group = NULL;
    if (args != NULL) {
        char *text = malloc(strlen(args) + 16);
        sprintf(text, "args = %s;", args);
        int ok = config_read_string(&m->cfg, text);
        free(text);
        if (!ok) {
            fhirpam_error_set(err, "args:%d: %s", config_error_line(&m->cfg),
                              config_error_text(&m->cfg));
            goto fail;
        }
        group = config_lookup(&m->cfg, "args");
        /* The same declared-argument check the loader does. */
        for (int i = 0; i < config_setting_length(group); i++) {
            const char *name = config_setting_name(config_setting_get_elem(group, (unsigned)i));
            bool known = false;
            for (const fhirpam_arg_spec *a = m->desc->args; a && a->name; a++)
                known = known || strcmp(a->name, name) == 0;
            if (!known) {
                fhirpam_error_set(err, "module '%s' has no argument '%s'", m->desc->name, name);
                goto fail;
            }
        }
    }
    args_build(&m->args, group, "args", 1);
    if (m->desc->open != NULL && m->desc->open(&m->args, &m->instance, err) != 0)
        goto fail;
    return m;
fail:
    args_free(&m->args);
    config_destroy(&m->cfg);
    module_unload_all(m->files);
    free(m);
    return NULL;
}

void modtest_close(modtest *m)
{
    if (m == NULL)
        return;
    if (m->desc->close != NULL)
        m->desc->close(m->instance);
    args_free(&m->args);
    config_destroy(&m->cfg);
    module_unload_all(m->files);
    free(m);
}

modtest_result modtest_run(modtest *m, const modtest_request *r)
{
    fhirpam_request *req =
        fhirpam_request_new(r->method ? r->method : "GET", r->url ? r->url : "Patient/1");
    ck_assert_ptr_nonnull(req);
    for (size_t i = 0; i < 16 && r->headers[i] != NULL; i++) {
        char name[128];
        const char *colon = strchr(r->headers[i], ':');
        ck_assert_ptr_nonnull(colon);
        snprintf(name, sizeof name, "%.*s", (int)(colon - r->headers[i]), r->headers[i]);
        const char *value = colon + 1;
        while (*value == ' ')
            value++;
        fhirpam_request_add_header(req, name, value);
    }
    if (r->body != NULL)
        fhirpam_request_set_body(req, r->body, strlen(r->body));
    if (r->current != NULL)
        fhirpam_request_set_current(req, r->current, strlen(r->current));
    json_t *claims = NULL;
    if (r->claims != NULL) {
        json_error_t jerr;
        claims = json_loads(r->claims, JSON_REJECT_DUPLICATES, &jerr);
        ck_assert_msg(json_is_object(claims), "bad claims JSON in test: %s (%s)", r->claims,
                      jerr.text);
    }
    /* As the core does: a request it cannot understand never reaches a module. */
    modtest_result res = {0};
    fhir_request fhir;
    char why[160];
    if (fhir_request_parse(req->method, req->url, r->fhir_base, req->body, req->body_len,
                           request_header_get(req, "If-None-Exist", 0), &fhir, why,
                           sizeof why) != 0) {
        res.code = FHIRPAM_INVALID_REQUEST;
        snprintf(res.reason, sizeof res.reason, "unparsable_request");
        snprintf(res.reason_text, sizeof res.reason_text, "%s", why);
        json_decref(claims);
        fhirpam_request_free(req);
        return res;
    }
    struct fhirpam_authz az = {.req = req,
                               .stack_name = "modtest",
                               .now = r->now,
                               .claims = claims,
                               .fhir = &fhir,
                               .fhir_base = r->fhir_base};
    res.code = m->desc->authorize(m->instance, &az);
    if (az.reason_set) {
        snprintf(res.reason, sizeof res.reason, "%s", az.reason_word);
        snprintf(res.reason_text, sizeof res.reason_text, "%s", az.reason_text);
    }
    if (az.challenge_scope[0] != '\0')
        snprintf(res.challenge_scope, sizeof res.challenge_scope, "%s", az.challenge_scope);
    res.obligations = json_array_size(az.obligations);
    json_decref(az.obligations);
    authz_release_temps(&az);
    fhir_request_clear(&fhir);
    json_decref(claims);
    fhirpam_request_free(req);
    return res;
}
