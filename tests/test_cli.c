/*
 * test_cli.c - the fhirpam command line, end to end, and the example host
 * program built against the shared library.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const char *config_text =
    "stacks: {\n"
    " open = { token = \"none\"; lines = ( { control = \"required\"; module = \"debug\"; } ); };\n"
    " closed = { token = \"none\"; lines = ( { control = \"required\"; module = \"debug\"; args "
    "= { result = \"consent_denied\"; }; } ); };\n"
    "};\n";

static const char *cli(void)
{
    return getenv("FHIRPAM_CLI");
}

START_TEST(check_ok_and_error)
{
    const char *path = tu_config(config_text);
    char *out, *err;
    char *argv[] = {(char *)cli(), "check",         "-c",
                    (char *)path,  "--modules-dir", (char *)tu_modules_dir(),
                    NULL};
    ck_assert_int_eq(tu_run(argv, NULL, &out, &err), 0);
    json_t *v = json_loads(out, 0, NULL);
    ck_assert_msg(v != NULL, "check output is not JSON: %s", out);
    ck_assert(json_is_true(json_object_get(v, "ok")));
    ck_assert_uint_eq(json_array_size(json_object_get(v, "stacks")), 2);
    json_decref(v);
    free(out);
    free(err);

    const char *bad = tu_config("stacks: {\n s = { token = \"none\"; lines = (\n"
                                " { control = \"requisit\"; module = \"debug\"; } ); }; };\n");
    char *argv2[] = {
        (char *)cli(), "check", "-c", (char *)bad, "--modules-dir", (char *)tu_modules_dir(), NULL};
    ck_assert_int_eq(tu_run(argv2, NULL, &out, &err), 1);
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s:3: control \"requisit\"", bad);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "stderr was: %s", err);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
}
END_TEST

START_TEST(check_prints_module_arguments)
{
    char *out, *err;
    char *argv[] = {(char *)cli(), "check",         "--module",
                    "debug",       "--modules-dir", (char *)tu_modules_dir(),
                    NULL};
    ck_assert_int_eq(tu_run(argv, NULL, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "result"));
    ck_assert_ptr_nonnull(strstr(out, "string"));
    free(out);
    free(err);
}
END_TEST

static json_t *eval(const char *stack, int want_status)
{
    const char *path = tu_config(config_text);
    char *out, *err;
    char *argv[] = {(char *)cli(),
                    "eval",
                    "-c",
                    (char *)path,
                    "-s",
                    (char *)stack,
                    "--request",
                    "GET Patient/123",
                    "--header",
                    "X-Trace: 1",
                    "--now",
                    "1790000000",
                    "--modules-dir",
                    (char *)tu_modules_dir(),
                    NULL};
    ck_assert_int_eq(tu_run(argv, NULL, &out, &err), want_status);
    json_t *v = json_loads(out, JSON_REJECT_DUPLICATES, NULL);
    ck_assert_msg(v != NULL, "eval output is not JSON: %s / %s", out, err);
    static const char *const keys[] = {"decision",    "code",        "module",
                                       "reason",      "http_status", "www_authenticate",
                                       "obligations", "trace",       "id"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        ck_assert_msg(json_object_get(v, keys[i]) != NULL, "missing key %s", keys[i]);
    free(out);
    free(err);
    return v;
}

START_TEST(eval_exit_status)
{
    json_t *v = eval("open", 0);
    ck_assert_str_eq(json_string_value(json_object_get(v, "decision")), "permit");
    json_decref(v);
    v = eval("closed", 2);
    ck_assert_str_eq(json_string_value(json_object_get(v, "decision")), "deny");
    ck_assert_str_eq(json_string_value(json_object_get(v, "code")), "consent_denied");
    json_decref(v);
}
END_TEST

START_TEST(eval_usage_errors)
{
    const char *path = tu_config(config_text);
    char *out, *err;
    char *no_stack[] = {(char *)cli(), "eval", "-c", (char *)path, "--request", "GET x", NULL};
    ck_assert_int_eq(tu_run(no_stack, NULL, &out, &err), 1);
    free(out);
    free(err);
    char *bad_request[] = {
        (char *)cli(), "eval",      "-c",  (char *)path,    "-s",
        "open",        "--request", "GET", "--modules-dir", (char *)tu_modules_dir(),
        NULL};
    ck_assert_int_eq(tu_run(bad_request, NULL, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "METHOD URL"));
    free(out);
    free(err);
    char *bad_now[] = {(char *)cli(),
                       "eval",
                       "-c",
                       (char *)path,
                       "-s",
                       "open",
                       "--request",
                       "GET x",
                       "--now",
                       "soon",
                       "--modules-dir",
                       (char *)tu_modules_dir(),
                       NULL};
    ck_assert_int_eq(tu_run(bad_now, NULL, &out, &err), 1);
    free(out);
    free(err);
}
END_TEST

START_TEST(batch_keeps_order_and_reports_bad_lines)
{
    const char *path = tu_config(config_text);
    const char *input =
        "{\"stack\":\"open\",\"method\":\"GET\",\"url\":\"Patient/1\"}\n"
        "{\"stack\":\"closed\",\"method\":\"GET\",\"url\":\"Patient/1\",\"now\":1790000000}\n"
        "not json\n"
        "\n"
        "{\"stack\":\"open\",\"method\":\"GET\"}\n"
        "{\"stack\":\"open\",\"method\":\"GET\",\"url\":\"x\",\"colour\":\"red\"}\n"
        "{\"stack\":\"open\",\"method\":\"POST\",\"url\":\"Observation\",\"body\":{"
        "\"resourceType\":"
        "\"Observation\"},\"headers\":{\"X-A\":[\"1\",\"2\"]},\"current\":{\"id\":\"1\"}}\n"
        "{\"stack\":\"nope\",\"method\":\"GET\",\"url\":\"x\"}\n";
    char *out, *err;
    char *argv[] = {(char *)cli(),
                    "eval",
                    "-c",
                    (char *)path,
                    "--batch",
                    "-",
                    "--modules-dir",
                    (char *)tu_modules_dir(),
                    NULL};
    ck_assert_int_eq(tu_run(argv, input, &out, &err), 0);
    /* One output line per non-blank input line, in order. */
    const char *want[] = {"permit", "deny", "error:3", "error:5", "error:6", "permit", "deny"};
    size_t i = 0;
    for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n"), i++) {
        ck_assert_uint_lt(i, sizeof want / sizeof want[0]);
        json_t *v = json_loads(line, 0, NULL);
        ck_assert_msg(v != NULL, "line %zu is not JSON: %s", i, line);
        if (strncmp(want[i], "error:", 6) == 0) {
            ck_assert_msg(json_is_string(json_object_get(v, "error")), "line %zu: %s", i, line);
            ck_assert_int_eq(json_integer_value(json_object_get(v, "line")), atoi(want[i] + 6));
        } else {
            ck_assert_str_eq(json_string_value(json_object_get(v, "decision")), want[i]);
        }
        json_decref(v);
    }
    ck_assert_uint_eq(i, sizeof want / sizeof want[0]);
    free(out);
    free(err);
}
END_TEST

/* `fhirpam token keygen` and `sign` make a key set and tokens that `eval`
 * verifies: the round trip the demo relies on, for RSA and P-256. */
START_TEST(token_keygen_sign_eval)
{
    static const char *const algs[] = {"RS256", "ES256"};
    for (size_t a = 0; a < 2; a++) {
        char key[512], jwks[512], conf[2048];
        snprintf(key, sizeof key, "%s/key-%zu.pem", tu_tmpdir(), a);
        snprintf(jwks, sizeof jwks, "%s/jwks-%zu.json", tu_tmpdir(), a);
        char *out, *err;
        char *keygen[] = {(char *)cli(),
                          "token",
                          "keygen",
                          "--alg",
                          (char *)algs[a],
                          "--kid",
                          "k1",
                          "--private-key-out",
                          key,
                          "--jwks-out",
                          jwks,
                          NULL};
        ck_assert_msg(tu_run(keygen, NULL, &out, &err) == 0, "keygen: %s", err);
        free(out);
        free(err);
        char *sign[] = {(char *)cli(), "token", "sign",     "--key", key,
                        "--kid",       "k1",    "--claims", "-",     NULL};
        ck_assert_int_eq(tu_run(sign,
                                "{\"iss\":\"https://ehr.example.org\",\"aud\":"
                                "\"https://fhir.example.org/r4\",\"exp\":1800000600}",
                                &out, &err),
                         0);
        char *token = out;
        token[strcspn(token, "\n")] = '\0';
        free(err);
        snprintf(conf, sizeof conf,
                 "token: { issuer = \"https://ehr.example.org\"; audience = "
                 "\"https://fhir.example.org/r4\"; jwks = \"%s\"; };\n"
                 "stacks: { s = ( { control = \"required\"; module = \"debug\"; } ); };",
                 jwks);
        const char *path = tu_config(conf);
        char *eval[] = {(char *)cli(),
                        "eval",
                        "-c",
                        (char *)path,
                        "--modules-dir",
                        (char *)tu_modules_dir(),
                        "-s",
                        "s",
                        "--request",
                        "GET Patient/1",
                        "--token",
                        token,
                        "--now",
                        "1800000000",
                        NULL};
        ck_assert_msg(tu_run(eval, NULL, &out, &err) == 0, "%s: %s %s", algs[a], out, err);
        free(out);
        free(err);
        /* One second after exp plus leeway: expired, exit 2, a 401. */
        char *late[] = {(char *)cli(),
                        "eval",
                        "-c",
                        (char *)path,
                        "--modules-dir",
                        (char *)tu_modules_dir(),
                        "-s",
                        "s",
                        "--request",
                        "GET Patient/1",
                        "--token",
                        token,
                        "--now",
                        "1800000660",
                        NULL};
        ck_assert_int_eq(tu_run(late, NULL, &out, &err), 2);
        json_t *d = json_loads(out, 0, NULL);
        ck_assert_str_eq(json_string_value(json_object_get(d, "code")), "expired");
        ck_assert_int_eq(json_integer_value(json_object_get(d, "http_status")), 401);
        json_decref(d);
        free(out);
        free(err);
        free(token);
    }
}
END_TEST

START_TEST(example_host_program)
{
    const char *path = tu_config(config_text);
    char *out, *err;
    char *permit[] = {getenv("FHIRPAM_EXAMPLE"), (char *)path, "open", "GET", "metadata", "",
                      (char *)tu_modules_dir(),  NULL};
    ck_assert_int_eq(tu_run(permit, NULL, &out, &err), 0);
    ck_assert_str_eq(out, "permit\n");
    free(out);
    free(err);
    char *deny[] = {getenv("FHIRPAM_EXAMPLE"), (char *)path, "closed", "GET", "metadata", "",
                    (char *)tu_modules_dir(),  NULL};
    ck_assert_int_eq(tu_run(deny, NULL, &out, &err), 2);
    ck_assert_ptr_nonnull(strstr(out, "deny 403 consent_denied"));
    free(out);
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, check_ok_and_error);
    tcase_add_test(tc, check_prints_module_arguments);
    tcase_add_test(tc, eval_exit_status);
    tcase_add_test(tc, eval_usage_errors);
    tcase_add_test(tc, batch_keeps_order_and_reports_bad_lines);
    tcase_add_test(tc, token_keygen_sign_eval);
    tcase_add_test(tc, example_host_program);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
