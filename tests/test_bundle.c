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

/* ---- fresh state per entry, bounded work (issue 28 rows 7 and 8) ---- */

static char probe_path[600];

/* A context with stack s: attr_probe mark (for Observation) + require,
 * no token; `limits` is the text of a limits group, or "". */
static fhirpam_context *probe_context(const char *limits, bool oblige, const char *audit)
{
    snprintf(probe_path, sizeof probe_path, "%s/modules/attr_probe.so", tu_build_dir());
    char conf[2048];
    snprintf(conf, sizeof conf,
             "%s%s\nstacks: { s = { token = \"none\"; lines = (\n"
             " { control = \"required\"; module = \"%s\"; args = { mode = \"mark\"; oblige = %s; "
             "}; },\n"
             " { control = \"required\"; module = \"%s\"; args = { mode = \"require\"; }; } ); "
             "}; };\n",
             limits, audit, probe_path, oblige ? "true" : "false", probe_path);
    fhirpam_error err = {{0}};
    fhirpam_context *c = tu_open(conf, &err);
    ck_assert_msg(c != NULL, "%s", err.text);
    return c;
}

static fhirpam_decision *post_plain(fhirpam_context *c, const char *bundle)
{
    fhirpam_request *req = fhirpam_request_new("POST", "");
    fhirpam_request_set_body(req, bundle, strlen(bundle));
    fhirpam_decision *d = fhirpam_authorize(c, "s", req);
    fhirpam_request_free(req);
    ck_assert_ptr_nonnull(d);
    return d;
}

#define READ_OBS    "{\"request\":{\"method\":\"GET\",\"url\":\"Observation/1\"}}"
#define READ_PAT999 "{\"request\":{\"method\":\"GET\",\"url\":\"Patient/999\"}}"

START_TEST(attributes_do_not_carry_over_between_entries)
{
    fhirpam_context *c = probe_context("", false, "");
    /* Alone, each entry is what the stack says it is. */
    fhirpam_decision *d = tu_authorize(c, "s", "GET", "Observation/1");
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    fhirpam_decision_free(d);
    d = tu_authorize(c, "s", "GET", "Patient/999");
    ck_assert(!fhirpam_decision_permitted(d));
    fhirpam_decision_free(d);
    d = post_plain(c, TRANSACTION(READ_PAT999));
    ck_assert(!fhirpam_decision_permitted(d));
    fhirpam_decision_free(d);
    /* The attack of issue 28: the mark left while judging Observation/1
     * must not reach Patient/999. */
    d = post_plain(c, TRANSACTION(READ_OBS "," READ_PAT999));
    ck_assert_msg(!fhirpam_decision_permitted(d), "a mark carried over to the next entry");
    ck_assert_str_eq(fhirpam_decision_reason(d), "unmarked");
    ck_assert_msg(strncmp(fhirpam_decision_reason_text(d), "bundle entry 1: ", 16) == 0, "%s",
                  fhirpam_decision_reason_text(d));
    fhirpam_decision_free(d);
    d = post_plain(c, TRANSACTION(READ_OBS "," READ_OBS));
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    fhirpam_decision_free(d);
    fhirpam_close(c);
}
END_TEST

START_TEST(every_permitted_entry_keeps_its_obligations)
{
    fhirpam_context *c = probe_context("", true, "");
    fhirpam_decision *d = post_plain(c, TRANSACTION(READ_OBS "," READ_OBS));
    ck_assert(fhirpam_decision_permitted(d));
    ck_assert_uint_eq(fhirpam_decision_obligation_count(d), 2);
    fhirpam_decision_free(d);
    d = post_plain(c, TRANSACTION(READ_OBS "," READ_PAT999));
    ck_assert(!fhirpam_decision_permitted(d));
    ck_assert_uint_eq(fhirpam_decision_obligation_count(d), 0);
    fhirpam_decision_free(d);
    fhirpam_close(c);
}
END_TEST

/* A transaction of n copies of READ_OBS; caller frees. */
static char *obs_bundle(size_t n)
{
    size_t len = n * (sizeof READ_OBS) + 128;
    char *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    size_t used =
        (size_t)snprintf(b, len, "{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[");
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(b + used, len - used, "%s%s", i ? "," : "", READ_OBS);
    snprintf(b + used, len - used, "]}");
    return b;
}

START_TEST(bundle_calls_bounded_at_the_edge)
{
    /* 2 lines: 3 entries make 6 calls, at the bound; 4 make 8, past it. */
    fhirpam_context *c = probe_context("limits: { bundle_max_calls = 6; };", false, "");
    char *b = obs_bundle(3);
    fhirpam_decision *d = post_plain(c, b);
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    ck_assert_uint_eq(fhirpam_decision_trace_count(d), 6);
    fhirpam_decision_free(d);
    free(b);
    b = obs_bundle(4);
    d = post_plain(c, b);
    ck_assert(!fhirpam_decision_permitted(d));
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_INVALID_REQUEST);
    ck_assert_str_eq(fhirpam_decision_reason(d), "bundle_too_large");
    ck_assert_msg(strstr(fhirpam_decision_reason_text(d), "could make 8 module calls") != NULL,
                  "%s", fhirpam_decision_reason_text(d));
    /* Refused before any module ran. */
    ck_assert_uint_eq(fhirpam_decision_trace_count(d), 0);
    fhirpam_decision_free(d);
    free(b);
    fhirpam_close(c);
}
END_TEST

START_TEST(bundle_of_1000_on_a_1024_line_stack_is_refused_at_once)
{
    size_t cap = 1024 * 80 + 256, used = 0;
    char *conf = malloc(cap);
    ck_assert_ptr_nonnull(conf);
    used += (size_t)snprintf(conf, cap, "stacks: { s = { token = \"none\"; lines = (");
    for (int i = 0; i < 1024; i++)
        used += (size_t)snprintf(conf + used, cap - used,
                                 "%s{ control = \"required\"; module = \"debug\"; }", i ? "," : "");
    snprintf(conf + used, cap - used, "); }; };");
    fhirpam_error err = {{0}};
    fhirpam_context *c = tu_open(conf, &err);
    ck_assert_msg(c != NULL, "%s", err.text);
    free(conf);
    char *b = obs_bundle(1000);
    fhirpam_decision *d = post_plain(c, b);
    ck_assert_str_eq(fhirpam_decision_reason(d), "bundle_too_large");
    ck_assert_uint_eq(fhirpam_decision_trace_count(d), 0);
    char *json = fhirpam_decision_json(d);
    ck_assert_uint_lt(strlen(json), 2048);
    free(json);
    fhirpam_decision_free(d);
    free(b);
    fhirpam_close(c);
}
END_TEST

START_TEST(bundle_decision_size_bounded)
{
    char *b = obs_bundle(1000);
    /* 2,000 calls: within bundle_max_calls, but their trace alone is more
     * than 64 KiB. */
    fhirpam_context *c =
        probe_context("limits: { bundle_max_decision_bytes = 65536; };", false, "");
    fhirpam_decision *d = post_plain(c, b);
    ck_assert(!fhirpam_decision_permitted(d));
    ck_assert_str_eq(fhirpam_decision_reason(d), "bundle_too_large");
    ck_assert_msg(strstr(fhirpam_decision_reason_text(d), "bundle_max_decision_bytes (65536)"),
                  "%s", fhirpam_decision_reason_text(d));
    fhirpam_decision_free(d);
    fhirpam_close(c);
    /* With the default bound, the same bundle is permitted. */
    c = probe_context("", false, "");
    d = post_plain(c, b);
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    ck_assert_uint_eq(fhirpam_decision_trace_count(d), 2000);
    fhirpam_decision_free(d);
    fhirpam_close(c);
    free(b);
}
END_TEST

/* The last line of the file at path, parsed; caller decrefs. */
static json_t *last_audit_line(const char *path, size_t *line_len)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char *line = NULL, *last = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        free(last);
        last = strdup(line);
        *line_len = (size_t)n;
    }
    free(line);
    fclose(f);
    ck_assert_ptr_nonnull(last);
    json_t *v = json_loads(last, 0, NULL);
    free(last);
    ck_assert_ptr_nonnull(v);
    return v;
}

START_TEST(bundle_audit_line_is_a_per_entry_summary)
{
    char audit[700], group[800];
    snprintf(audit, sizeof audit, "%s/audit.jsonl", tu_tmpdir());
    snprintf(group, sizeof group, "audit: { sink = \"file\"; path = \"%s\"; required = true; };",
             audit);
    fhirpam_context *c = probe_context("", false, group);
    char *b = obs_bundle(1000);
    fhirpam_decision *d = post_plain(c, b);
    ck_assert(fhirpam_decision_permitted(d));
    fhirpam_decision_free(d);
    size_t len = 0;
    json_t *v = last_audit_line(audit, &len);
    const json_t *entries = json_object_get(v, "entries");
    ck_assert_uint_eq(json_array_size(entries), 1000);
    const json_t *e = json_array_get(entries, 999);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "entry")), 999);
    ck_assert_str_eq(json_string_value(json_object_get(e, "code")), "success");
    /* The trace of the entry that decided only (the last: 2 lines), not
     * 2,000 steps. */
    const json_t *trace = json_object_get(v, "trace");
    ck_assert_uint_eq(json_array_size(trace), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(trace, 0), "entry")), 999);
    /* Each summary names the module as the configuration wrote it. */
    ck_assert_uint_lt(len, 1000 * (64 + strlen(probe_path)) + 4096);
    json_decref(v);

    /* A refused bundle: the summary ends at the refused entry, whose trace
     * the line carries. */
    d = post_plain(c, TRANSACTION(READ_OBS "," READ_PAT999 "," READ_OBS));
    ck_assert(!fhirpam_decision_permitted(d));
    fhirpam_decision_free(d);
    v = last_audit_line(audit, &len);
    entries = json_object_get(v, "entries");
    ck_assert_uint_eq(json_array_size(entries), 2);
    e = json_array_get(entries, 1);
    ck_assert_str_eq(json_string_value(json_object_get(e, "code")), "deny");
    ck_assert_str_eq(json_string_value(json_object_get(e, "reason")), "unmarked");
    trace = json_object_get(v, "trace");
    ck_assert_uint_eq(json_array_size(trace), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(trace, 1), "entry")), 1);
    json_decref(v);
    free(b);
    fhirpam_close(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bundle");
    TCase *t = tcase_create("bundle");
    tcase_add_test(t, every_entry_permitted);
    tcase_add_test(t, one_entry_refused);
    tcase_add_test(t, malformed_bundles);
    tcase_add_test(t, attributes_do_not_carry_over_between_entries);
    tcase_add_test(t, every_permitted_entry_keeps_its_obligations);
    tcase_add_test(t, bundle_calls_bounded_at_the_edge);
    tcase_add_test(t, bundle_of_1000_on_a_1024_line_stack_is_refused_at_once);
    tcase_add_test(t, bundle_decision_size_bounded);
    tcase_add_test(t, bundle_audit_line_is_a_per_entry_summary);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
