/*
 * test_bundle.c - batch and transaction Bundles through the core (issue 4):
 * every entry is authorized as its own request through the same stack; the
 * bundle is permitted only if every entry is, and the decision names the
 * entry that was refused.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mint.h"
#include "testutil.h"

#define NOW 1800000000LL

static fhirpam_context *ctx;
static char bearer[4096];

static void setup_context(const char *scopes)
{
    EVP_PKEY *key = mint_keygen("ES256", 0);
    json_t *set = json_pack("{s:[o]}", "keys", mint_public_jwk(key, "k1", "ES256"));
    char *jwks = json_dumps(set, 0);
    const char *jwks_path = tu_write("jwks.json", jwks);
    char conf[2048];
    snprintf(conf, sizeof conf,
             "token: { issuer = \"https://ehr.example.org\"; audience = \"https://fhir\"; jwks = "
             "\"%s\"; algorithms = [\"ES256\"]; };\n"
             "stacks: { s = ( { control = \"required\"; module = \"scope_check\"; } ); };",
             jwks_path);
    fhirpam_error err = {{0}};
    ctx = tu_open(conf, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    char payload[512];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"https://ehr.example.org\",\"aud\":\"https://fhir\",\"exp\":%lld,"
             "\"scope\":\"%s\"}",
             NOW + 600, scopes);
    char *token = mint_token(key, "ES256", "{\"alg\":\"ES256\",\"kid\":\"k1\"}", payload);
    snprintf(bearer, sizeof bearer, "Bearer %s", token);
    free(token);
    free(jwks);
    json_decref(set);
    EVP_PKEY_free(key);
}

static fhirpam_decision *post_bundle(const char *bundle)
{
    fhirpam_request *req = fhirpam_request_new("POST", "");
    fhirpam_request_add_header(req, "Authorization", bearer);
    fhirpam_request_set_body(req, bundle, strlen(bundle));
    fhirpam_request_set_time(req, NOW);
    fhirpam_decision *d = fhirpam_authorize(ctx, "s", req);
    fhirpam_request_free(req);
    ck_assert_ptr_nonnull(d);
    return d;
}

#define TRANSACTION(entries)                                                                       \
    "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[" entries "]}"
#define CREATE_OBS                                                                                 \
    "{\"request\":{\"method\":\"POST\",\"url\":\"Observation\"},\"resource\":{\"resourceType\":"   \
    "\"Observation\",\"status\":\"final\"}}"
#define READ_PATIENT "{\"request\":{\"method\":\"GET\",\"url\":\"Patient/1\"}}"

START_TEST(every_entry_permitted)
{
    setup_context("patient/Observation.c patient/Patient.r");
    fhirpam_decision *d = post_bundle(TRANSACTION(CREATE_OBS "," READ_PATIENT));
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    ck_assert_str_eq(fhirpam_decision_reason_text(d), "all 2 entries of the bundle are permitted");
    char *json = fhirpam_decision_json(d);
    json_t *v = json_loads(json, 0, NULL);
    const json_t *trace = json_object_get(v, "trace");
    ck_assert_uint_eq(json_array_size(trace), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(trace, 0), "entry")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(trace, 1), "entry")), 1);
    json_decref(v);
    free(json);
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
}
END_TEST

START_TEST(one_entry_refused)
{
    setup_context("patient/Observation.c");
    fhirpam_decision *d = post_bundle(TRANSACTION(CREATE_OBS "," READ_PATIENT));
    ck_assert(!fhirpam_decision_permitted(d));
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_INSUFFICIENT_SCOPE);
    ck_assert_msg(strncmp(fhirpam_decision_reason_text(d), "bundle entry 1: ", 16) == 0, "%s",
                  fhirpam_decision_reason_text(d));
    ck_assert_str_eq(fhirpam_decision_www_authenticate(d),
                     "Bearer error=\"insufficient_scope\", scope=\"patient/Patient.r\"");
    fhirpam_decision_free(d);
    /* The first entry refused stops the walk: entry 1 never runs. */
    d = post_bundle(TRANSACTION(READ_PATIENT "," CREATE_OBS));
    ck_assert_msg(strncmp(fhirpam_decision_reason_text(d), "bundle entry 0: ", 16) == 0, "%s",
                  fhirpam_decision_reason_text(d));
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
}
END_TEST

START_TEST(malformed_bundles)
{
    setup_context("patient/*.cruds");
    static const char *const bad[] = {
        TRANSACTION(""),
        TRANSACTION("{\"resource\":{\"resourceType\":\"Patient\"}}"),
        TRANSACTION("{\"request\":{\"method\":\"GET\"}}"),
        TRANSACTION("{\"request\":{\"method\":\"GET\",\"url\":\"Patient//1\"}}"),
        TRANSACTION(
            "{\"request\":{\"method\":\"POST\",\"url\":\"\"},\"resource\":{\"resourceType\":"
            "\"Bundle\",\"type\":\"batch\",\"entry\":[]}}"),
        "{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":{}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fhirpam_decision *d = post_bundle(bad[i]);
        ck_assert_msg(fhirpam_decision_code(d) == FHIRPAM_INVALID_REQUEST, "bundle %zu: %s (%s)", i,
                      fhirpam_code_name(fhirpam_decision_code(d)), fhirpam_decision_reason_text(d));
        ck_assert_int_eq(fhirpam_decision_http_status(d), 400);
        fhirpam_decision_free(d);
    }
    fhirpam_close(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bundle");
    TCase *t = tcase_create("bundle");
    tcase_add_test(t, every_entry_permitted);
    tcase_add_test(t, one_entry_refused);
    tcase_add_test(t, malformed_bundles);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
