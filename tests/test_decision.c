/*
 * test_decision.c - the decision object and its JSON (design §5), and the
 * audit sink: one JSON line per decision, a failed write under
 * `required = true` is a deny.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static fhirpam_context *open_debug_stack(const char *control, const char *result, const char *audit)
{
    char text[1024];
    snprintf(text, sizeof text,
             "%s\nstacks: { s = { token = \"none\"; lines = ( { control = \"%s\"; module = "
             "\"debug\"; args = { result = \"%s\"; }; } ); }; };",
             audit ? audit : "", control, result);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(text, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    return ctx;
}

/* Design §2: each code's HTTP status and RFC 6750 challenge. No token was
 * presented here, so 401s carry a bare `Bearer` (RFC 6750 §3.1). */
static const struct {
    const char *code;
    int http;
    const char *www_authenticate;
} code_table[] = {
    {"success", 200, NULL},
    {"ignore", 403, NULL},
    {"deny", 403, NULL},
    {"invalid_token", 401, "Bearer"},
    {"expired", 401, "Bearer"},
    {"revoked", 401, "Bearer"},
    {"insufficient_scope", 403, "Bearer error=\"insufficient_scope\""},
    {"patient_mismatch", 403, NULL},
    {"consent_denied", 403, NULL},
    {"untrusted_device", 401, "Bearer"},
    {"invalid_request", 400, "Bearer error=\"invalid_request\""},
    {"unavailable", 503, NULL},
    {"error", 500, NULL},
};

START_TEST(code_meaning)
{
    const char *code = code_table[_i].code;
    /* [default=ok] lets every code, ignore included, become the final one. */
    fhirpam_context *ctx = open_debug_stack("[default=ok]", code, NULL);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_str_eq(fhirpam_code_name(fhirpam_decision_code(d)), code);
    ck_assert_int_eq(fhirpam_decision_permitted(d), strcmp(code, "success") == 0);
    ck_assert_int_eq(fhirpam_decision_http_status(d), code_table[_i].http);
    const char *www = fhirpam_decision_www_authenticate(d);
    if (code_table[_i].www_authenticate == NULL)
        ck_assert_ptr_null(www);
    else
        ck_assert_str_eq(www, code_table[_i].www_authenticate);
    ck_assert_str_eq(fhirpam_decision_module(d), "debug");
    ck_assert_str_eq(fhirpam_decision_reason(d), "debug_result");
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
}
END_TEST

START_TEST(decision_json_shape)
{
    fhirpam_context *ctx = open_debug_stack("required", "patient_mismatch", NULL);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    char *text = fhirpam_decision_json(d);
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(v != NULL, "not JSON: %s (%s)", text, jerr.text);
    ck_assert_str_eq(json_string_value(json_object_get(v, "decision")), "deny");
    ck_assert_str_eq(json_string_value(json_object_get(v, "code")), "patient_mismatch");
    ck_assert_str_eq(json_string_value(json_object_get(v, "module")), "debug");
    ck_assert_str_eq(json_string_value(json_object_get(v, "reason")), "debug_result");
    ck_assert_int_eq(json_integer_value(json_object_get(v, "http_status")), 403);
    ck_assert(json_is_null(json_object_get(v, "www_authenticate")));
    ck_assert(json_is_array(json_object_get(v, "obligations")));
    ck_assert_uint_eq(json_array_size(json_object_get(v, "obligations")), 0);
    ck_assert_str_eq(json_string_value(json_object_get(v, "id")), fhirpam_decision_id(d));
    json_t *trace = json_object_get(v, "trace");
    ck_assert_uint_eq(json_array_size(trace), 1);
    json_t *t0 = json_array_get(trace, 0);
    ck_assert_str_eq(json_string_value(json_object_get(t0, "stack")), "s");
    ck_assert_int_eq(json_integer_value(json_object_get(t0, "index")), 0);
    ck_assert_str_eq(json_string_value(json_object_get(t0, "module")), "debug");
    ck_assert_str_eq(json_string_value(json_object_get(t0, "control")), "required");
    ck_assert_str_eq(json_string_value(json_object_get(t0, "code")), "patient_mismatch");
    ck_assert_str_eq(json_string_value(json_object_get(t0, "action")), "bad");
    ck_assert(json_is_integer(json_object_get(t0, "us")));
    json_decref(v);
    free(text);
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
}
END_TEST

START_TEST(trace_names_stack_and_index)
{
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(
        "stacks: {\n"
        " inner = { token = \"none\"; lines = ( { control = \"optional\"; module = \"debug\"; args "
        "= { result = \"ignore\"; }; },\n"
        "   { control = \"required\"; module = \"debug\"; } ); };\n"
        " outer = { token = \"none\"; lines = ( { control = \"[success=1 default=bad]\"; module = "
        "\"debug\"; },\n"
        "   { control = \"required\"; module = \"debug\"; args = { result = \"deny\"; }; },\n"
        "   { control = \"substack\"; stack = \"inner\"; } ); }; };",
        &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    fhirpam_decision *d = tu_authorize(ctx, "outer", "GET", "Patient/1");
    ck_assert_int_eq(fhirpam_decision_permitted(d), 1);
    ck_assert_uint_eq(fhirpam_decision_trace_count(d), 3);
    static const struct {
        const char *stack;
        size_t index;
        const char *action;
    } want[] = {{"outer", 0, "1"}, {"inner", 0, "ignore"}, {"inner", 1, "ok"}};
    for (size_t i = 0; i < 3; i++) {
        const char *stack, *action;
        size_t index;
        ck_assert_int_eq(
            fhirpam_decision_trace_entry(d, i, &stack, &index, NULL, NULL, NULL, &action, NULL), 0);
        ck_assert_str_eq(stack, want[i].stack);
        ck_assert_uint_eq(index, want[i].index);
        ck_assert_str_eq(action, want[i].action);
    }
    ck_assert_int_eq(fhirpam_decision_trace_entry(d, 3, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                     -1);
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
}
END_TEST

START_TEST(core_reasons)
{
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(
        "stacks: {\n"
        " empty = { token = \"none\"; lines = (); };\n"
        " jump = { token = \"none\"; lines = ( { control = \"[success=3]\"; module = \"debug\"; } "
        "); };\n"
        " sanity = { token = \"none\"; lines = ( { control = \"[success=bad]\"; module = "
        "\"debug\"; } ); }; };",
        &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    static const struct {
        const char *stack, *reason;
        fhirpam_code code;
    } rows[] = {
        {"empty", "no_module_decided", FHIRPAM_DENY},
        {"jump", "bad_jump", FHIRPAM_DENY},
        {"sanity", "no_module_permitted", FHIRPAM_DENY},
        {"nonexistent", "unknown_stack", FHIRPAM_ERROR},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fhirpam_decision *d = tu_authorize(ctx, rows[i].stack, "GET", "Patient/1");
        ck_assert_int_eq(fhirpam_decision_permitted(d), 0);
        ck_assert_int_eq(fhirpam_decision_code(d), rows[i].code);
        ck_assert_str_eq(fhirpam_decision_module(d), "");
        ck_assert_str_eq(fhirpam_decision_reason(d), rows[i].reason);
        ck_assert(strlen(fhirpam_decision_reason_text(d)) > 10);
        fhirpam_decision_free(d);
    }
    fhirpam_close(ctx);
}
END_TEST

START_TEST(decision_ids_unique)
{
    fhirpam_context *ctx = open_debug_stack("required", "success", NULL);
    char seen[200][40];
    for (int i = 0; i < 200; i++) {
        fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
        snprintf(seen[i], sizeof seen[i], "%s", fhirpam_decision_id(d));
        ck_assert(strlen(seen[i]) > 16);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(seen[i], seen[j]);
        fhirpam_decision_free(d);
    }
    fhirpam_close(ctx);
}
END_TEST

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

START_TEST(audit_file_one_line_per_decision)
{
    char audit[700], log[600];
    snprintf(log, sizeof log, "%s/decisions.jsonl", tu_tmpdir());
    unlink(log);
    snprintf(audit, sizeof audit, "audit: { sink = \"file\"; path = \"%s\"; required = true; };",
             log);
    fhirpam_context *ctx = open_debug_stack("required", "revoked", audit);
    for (int i = 0; i < 3; i++) {
        fhirpam_request *req = fhirpam_request_new("GET", "Observation?code=%22x%22");
        fhirpam_request_set_time(req, 1790000000 + i);
        fhirpam_decision *d = fhirpam_authorize(ctx, "s", req);
        ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_REVOKED);
        fhirpam_decision_free(d);
        fhirpam_request_free(req);
    }
    fhirpam_close(ctx);

    char *text = slurp(log);
    int lines = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n"), lines++) {
        json_error_t jerr;
        json_t *v = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
        ck_assert_msg(v != NULL, "audit line is not JSON: %s", line);
        ck_assert_str_eq(json_string_value(json_object_get(v, "decision")), "deny");
        ck_assert_str_eq(json_string_value(json_object_get(v, "code")), "revoked");
        ck_assert_str_eq(json_string_value(json_object_get(v, "stack")), "s");
        ck_assert_str_eq(json_string_value(json_object_get(v, "module")), "debug");
        ck_assert(json_is_string(json_object_get(v, "id")));
        ck_assert(json_is_integer(json_object_get(v, "duration_us")));
        ck_assert_uint_eq(json_array_size(json_object_get(v, "trace")), 1);
        ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(v, "time")), "2026-09-"));
        json_decref(v);
    }
    ck_assert_int_eq(lines, 3);
}
END_TEST

START_TEST(audit_required_failure_denies)
{
    /* /dev/full accepts the open and fails every write with ENOSPC. */
    fhirpam_context *ctx =
        open_debug_stack("required", "success",
                         "audit: { sink = \"file\"; path = \"/dev/full\"; required = true; };");
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_int_eq(fhirpam_decision_permitted(d), 0);
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_ERROR);
    ck_assert_str_eq(fhirpam_decision_reason(d), "audit_write_failed");
    ck_assert_int_eq(fhirpam_decision_http_status(d), 500);
    fhirpam_decision_free(d);
    fhirpam_close(ctx);

    /* Not required: the decision stands. */
    ctx = open_debug_stack("required", "success",
                           "audit: { sink = \"file\"; path = \"/dev/full\"; required = false; };");
    d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_int_eq(fhirpam_decision_permitted(d), 1);
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
}
END_TEST

START_TEST(audit_syslog_and_none_load)
{
    fhirpam_context *ctx = open_debug_stack(
        "required", "success", "audit: { sink = \"syslog\"; facility = \"local3\"; };");
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_int_eq(fhirpam_decision_permitted(d), 1);
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
    ctx = open_debug_stack("required", "success", "audit: { sink = \"none\"; };");
    d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_int_eq(fhirpam_decision_permitted(d), 1);
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("decision");
    TCase *tc = tcase_create("decision");
    tcase_add_loop_test(tc, code_meaning, 0, (int)(sizeof code_table / sizeof code_table[0]));
    tcase_add_test(tc, decision_json_shape);
    tcase_add_test(tc, trace_names_stack_and_index);
    tcase_add_test(tc, core_reasons);
    tcase_add_test(tc, decision_ids_unique);
    tcase_add_test(tc, audit_file_one_line_per_decision);
    tcase_add_test(tc, audit_required_failure_denies);
    tcase_add_test(tc, audit_syslog_and_none_load);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
