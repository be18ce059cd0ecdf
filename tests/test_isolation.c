/*
 * test_isolation.c - modules run in isolation workers (isolation =
 * "process", core/stack/isolate.h): they answer as they would in process,
 * with the claims, attributes, obligations and binding reports crossing
 * the boundary; a
 * module that faults costs only its call; one that never returns is stopped
 * at its budget; a worker that cannot open its module refuses the
 * configuration with the file and line.
 */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mint.h"
#include "testutil.h"

static const char *test_module(const char *name)
{
    static char paths[8][600];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/modules/%s.so", tu_build_dir(), name);
    return p;
}

static const char *worker(void)
{
    const char *w = getenv("FHIRPAM_TEST_WORKER");
    ck_assert_ptr_nonnull(w);
    return w;
}

/* A configuration with `worker` set and stack s = lines (a list's text). */
static const char *conf(const char *head, const char *lines)
{
    static char text[4096];
    snprintf(text, sizeof text,
             "worker = \"%s\";\n%s\nstacks: { s = { token = \"none\"; lines = ( %s ); }; };\n",
             worker(), head, lines);
    return text;
}

static fhirpam_context *open_conf(const char *head, const char *lines)
{
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(conf(head, lines), &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    return ctx;
}

/* After fhirpam_close: every worker was reaped (none left as a zombie or
 * still running). */
static void expect_no_children(void)
{
    errno = 0;
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
}

START_TEST(isolated_module_answers_as_in_process)
{
    char lines[1024];
    snprintf(lines, sizeof lines,
             "{ control = \"required\"; module = \"debug\"; isolation = \"process\"; args = { "
             "result = \"consent_denied\"; }; }");
    fhirpam_context *ctx = open_conf("", lines);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_CONSENT_DENIED);
    ck_assert_str_eq(fhirpam_decision_reason(d), "debug_result");
    ck_assert_str_eq(fhirpam_decision_reason_text(d),
                     "the debug module is configured to return consent_denied");
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
    expect_no_children();
}
END_TEST

START_TEST(attributes_and_obligations_cross_the_boundary)
{
    char lines[2048];
    /* Isolated mark (with an obligation), in-process require ... */
    snprintf(lines, sizeof lines,
             "{ control = \"required\"; module = \"%s\"; isolation = \"process\"; args = { mode = "
             "\"mark\"; oblige = true; }; },"
             "{ control = \"required\"; module = \"%s\"; args = { mode = \"require\"; }; }",
             test_module("attr_probe"), test_module("attr_probe"));
    fhirpam_context *ctx = open_conf("", lines);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Observation/1");
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    ck_assert_uint_eq(fhirpam_decision_obligation_count(d), 1);
    fhirpam_decision_free(d);
    d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert(!fhirpam_decision_permitted(d));
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
    /* ... and the other way round. */
    snprintf(lines, sizeof lines,
             "{ control = \"required\"; module = \"%s\"; args = { mode = \"mark\"; }; },"
             "{ control = \"required\"; module = \"%s\"; isolation = \"process\"; args = { mode = "
             "\"require\"; }; }",
             test_module("attr_probe"), test_module("attr_probe"));
    ctx = open_conf("", lines);
    d = tu_authorize(ctx, "s", "GET", "Observation/1");
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    fhirpam_decision_free(d);
    d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_str_eq(fhirpam_decision_reason(d), "unmarked");
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
    expect_no_children();
}
END_TEST

START_TEST(claims_cross_the_boundary)
{
    EVP_PKEY *key = mint_keygen("ES256", 0);
    json_t *set = json_pack("{s:[o]}", "keys", mint_public_jwk(key, "k1", "ES256"));
    char *jwks = json_dumps(set, 0);
    const char *jwks_path = tu_write("jwks.json", jwks);
    char text[4096];
#define PROBE_LINE "{ control = \"required\"; module = \"%s\"%s; }"
    char in_process[700], isolated[700];
    snprintf(in_process, sizeof in_process, PROBE_LINE, test_module("claims_probe"), "");
    snprintf(isolated, sizeof isolated, PROBE_LINE, test_module("claims_probe"),
             "; isolation = \"process\"");
    snprintf(text, sizeof text,
             "worker = \"%s\";\n"
             "token: { issuer = \"https://ehr\"; audience = \"https://fhir\"; jwks = \"%s\"; "
             "algorithms = [\"ES256\"]; unverified_binding = \"allow\"; };\n"
             "stacks: { here = ( %s ); there = ( %s ); };",
             worker(), jwks_path, in_process, isolated);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(text, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    char *token = mint_token(
        key, "ES256", "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
        "{\"iss\":\"https://ehr\",\"aud\":[\"https://fhir\",\"x\"],\"exp\":1800000600,\"iat\":"
        "1799999999.5,\"sub\":\"u1\",\"scope\":\"patient/*.rs\",\"flag\":true,\"cnf\":{\"jkt\":"
        "\"abc\"},\"ctx\":{\"a\":[1,2]}}");
    char bearer[4096];
    snprintf(bearer, sizeof bearer, "Bearer %s", token);
    const char *reasons[2];
    fhirpam_decision *ds[2];
    const char *stacks[2] = {"here", "there"};
    for (int i = 0; i < 2; i++) {
        fhirpam_request *req = fhirpam_request_new("GET", "Patient/1");
        fhirpam_request_add_header(req, "Authorization", bearer);
        fhirpam_request_set_time(req, 1800000000);
        /* Twice: the second call finds the claims kept with the token. */
        for (int k = 0; k < 2; k++) {
            ds[i] = fhirpam_authorize(ctx, stacks[i], req);
            ck_assert_msg(fhirpam_decision_permitted(ds[i]), "%s",
                          fhirpam_decision_reason_text(ds[i]));
            reasons[i] = fhirpam_decision_reason_text(ds[i]);
            if (k == 0)
                fhirpam_decision_free(ds[i]);
        }
        fhirpam_request_free(req);
    }
    ck_assert_str_eq(reasons[1], reasons[0]);
    fhirpam_decision_free(ds[0]);
    fhirpam_decision_free(ds[1]);
    free(token);
    free(jwks);
    json_decref(set);
    EVP_PKEY_free(key);
    fhirpam_close(ctx);
}
END_TEST

/* A module that verifies bindings does so across the boundary: the worker
 * reads its descriptor's flags, the host knows them from the ELF before any
 * worker starts (so `fhirpam check` counts the line), and the report comes
 * back through fhirpam_binding_verified() on the host, for each bundle entry
 * on its own. A module without the flag, or with it where the core must not
 * read it (ABI 1.0), reports nothing, isolated or not. */
START_TEST(bindings_cross_the_boundary)
{
    EVP_PKEY *key = mint_keygen("ES256", 0);
    json_t *set = json_pack("{s:[o]}", "keys", mint_public_jwk(key, "k1", "ES256"));
    char *jwks = json_dumps(set, 0);
    const char *jwks_path = tu_write("jwks.json", jwks);
#define BINDING_LINE                                                                               \
    "( { control = \"required\"; module = \"%s\"; isolation = \"process\"; args = { kind = "       \
    "\"mtls\"; }; } )"
    char flagged[700], unflagged[700], minor0[700], text[4096];
    snprintf(flagged, sizeof flagged, BINDING_LINE, test_module("binding_probe"));
    snprintf(unflagged, sizeof unflagged, BINDING_LINE, test_module("binding_unflagged"));
    snprintf(minor0, sizeof minor0, BINDING_LINE, test_module("binding_minor0"));
    snprintf(text, sizeof text,
             "worker = \"%s\";\n"
             "token: { issuer = \"https://ehr\"; audience = \"https://fhir\"; jwks = \"%s\"; "
             "algorithms = [\"ES256\"]; };\n"
             "stacks: { flagged = %s; unflagged = %s; minor0 = %s; };",
             worker(), jwks_path, flagged, unflagged, minor0);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(text, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);

    char **warnings = NULL;
    size_t n = fhirpam_config_warnings(ctx, &warnings);
    char all[2048] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s\n", warnings[i]);
    fhirpam_free_strings(warnings, n);
    ck_assert_msg(strstr(all, "stack flagged:") == NULL, "%s", all);
    ck_assert_msg(strstr(all, "stack unflagged:") != NULL, "%s", all);
    ck_assert_msg(strstr(all, "stack minor0:") != NULL, "%s", all);

    char *token = mint_token(key, "ES256", "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
                             "{\"iss\":\"https://ehr\",\"aud\":\"https://fhir\",\"exp\":"
                             "1800000600,\"sub\":\"u1\",\"scope\":\"patient/*.rs\",\"cnf\":{"
                             "\"x5t#S256\":\"abc\"}}");
    char bearer[4096];
    snprintf(bearer, sizeof bearer, "Bearer %s", token);
    static const char bundle[] = "{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":["
                                 "{\"request\":{\"method\":\"GET\",\"url\":\"Observation/1\"}},"
                                 "{\"request\":{\"method\":\"GET\",\"url\":\"Patient/1\"}}]}";
    static const struct {
        const char *stack;
        bool permitted;
    } cases[] = {{"flagged", true}, {"unflagged", false}, {"minor0", false}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int as_bundle = 0; as_bundle < 2; as_bundle++) {
            fhirpam_request *req =
                fhirpam_request_new(as_bundle ? "POST" : "GET", as_bundle ? "" : "Patient/1");
            fhirpam_request_add_header(req, "Authorization", bearer);
            if (as_bundle)
                fhirpam_request_set_body(req, bundle, strlen(bundle));
            fhirpam_request_set_time(req, 1800000000);
            fhirpam_decision *d = fhirpam_authorize(ctx, cases[c].stack, req);
            ck_assert_msg(fhirpam_decision_permitted(d) == cases[c].permitted, "%s%s: %s",
                          cases[c].stack, as_bundle ? " (bundle)" : "",
                          fhirpam_decision_reason_text(d));
            if (!cases[c].permitted)
                ck_assert_str_eq(fhirpam_decision_reason(d), "unverified_binding");
            fhirpam_decision_free(d);
            fhirpam_request_free(req);
        }
    }
    free(token);
    free(jwks);
    json_decref(set);
    EVP_PKEY_free(key);
    fhirpam_close(ctx);
    expect_no_children();
}
END_TEST

START_TEST(a_fault_costs_only_its_call)
{
    char lines[1024];
    snprintf(lines, sizeof lines,
             "{ control = \"required\"; module = \"%s\"; isolation = \"process\"; args = { on = "
             "\"666\"; }; }",
             test_module("crash"));
    fhirpam_context *ctx = open_conf("", lines);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/666");
    ck_assert(!fhirpam_decision_permitted(d));
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_ERROR);
    ck_assert_str_eq(fhirpam_decision_reason(d), "module_crashed");
#ifndef __SANITIZE_ADDRESS__
    /* (Under the sanitizers, they catch the fault and exit instead.) */
    ck_assert_msg(strstr(fhirpam_decision_reason_text(d), "signal 11") != NULL, "%s",
                  fhirpam_decision_reason_text(d));
#endif
    fhirpam_decision_free(d);
    /* The host lives on, and a new worker answers the next call. */
    for (int i = 0; i < 3; i++) {
        d = tu_authorize(ctx, "s", "GET", "Patient/1");
        ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
        fhirpam_decision_free(d);
    }
    fhirpam_close(ctx);
    expect_no_children();
}
END_TEST

START_TEST(a_module_that_never_returns_is_stopped_at_its_budget)
{
    /* The gate is a FIFO nobody ever writes: the module blocks for good. A
     * request that waited for it would never come back (the suite's
     * timeout); the budget must answer it. */
    char gate[600], lines[1024];
    snprintf(gate, sizeof gate, "%s/never", tu_tmpdir());
    ck_assert_int_eq(mkfifo(gate, 0600), 0);
    snprintf(lines, sizeof lines,
             "{ control = \"[success=ok unavailable=ignore default=bad]\"; module = \"%s\"; "
             "isolation = \"process\"; args = { gate = \"%s\"; only_url = \"Observation\"; }; },"
             "{ control = \"required\"; module = \"debug\"; }",
             test_module("slow"), gate);
    fhirpam_context *ctx = open_conf("limits: { module_deadline_ms = 200; };", lines);
    for (int i = 0; i < 2; i++) {
        fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Observation/1");
        /* unavailable=ignore: the control decides, and permits. */
        ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
        const char *module = NULL;
        fhirpam_code code;
        ck_assert_int_eq(
            fhirpam_decision_trace_entry(d, 0, NULL, NULL, &module, NULL, &code, NULL, NULL), 0);
        ck_assert_int_eq(code, FHIRPAM_UNAVAILABLE);
        fhirpam_decision_free(d);
    }
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
    expect_no_children();
}
END_TEST

START_TEST(the_stopped_worker_says_why)
{
    char gate[600], lines[1024];
    snprintf(gate, sizeof gate, "%s/never", tu_tmpdir());
    ck_assert_int_eq(mkfifo(gate, 0600), 0);
    snprintf(lines, sizeof lines,
             "{ control = \"required\"; module = \"%s\"; isolation = \"process\"; args = { gate = "
             "\"%s\"; }; }",
             test_module("slow"), gate);
    fhirpam_context *ctx = open_conf("limits: { module_deadline_ms = 100; };", lines);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_UNAVAILABLE);
    ck_assert_str_eq(fhirpam_decision_reason(d), "deadline_exceeded");
    ck_assert_msg(strstr(fhirpam_decision_reason_text(d), "its isolation worker was stopped"), "%s",
                  fhirpam_decision_reason_text(d));
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
    expect_no_children();
}
END_TEST

static fhirpam_context *shared_ctx;

static void *hammer(void *arg)
{
    long permits = 0;
    for (int i = 0; i < 200; i++) {
        fhirpam_decision *d = tu_authorize(shared_ctx, "s", "GET", "Patient/1");
        permits += fhirpam_decision_permitted(d);
        fhirpam_decision_free(d);
    }
    return (void *)permits;
}

START_TEST(concurrent_calls_share_the_pool)
{
    shared_ctx = open_conf("", "{ control = \"required\"; module = \"debug\"; isolation = "
                               "\"process\"; workers = 2; }");
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    for (int i = 0; i < 4; i++) {
        void *permits;
        pthread_join(t[i], &permits);
        ck_assert_int_eq((long)permits, 200);
    }
    fhirpam_error err = {{0}};
    ck_assert_msg(fhirpam_reload(shared_ctx, &err) == 0, "%s", err.text);
    fhirpam_decision *d = tu_authorize(shared_ctx, "s", "GET", "Patient/1");
    ck_assert(fhirpam_decision_permitted(d));
    fhirpam_decision_free(d);
    fhirpam_close(shared_ctx);
    expect_no_children();
}
END_TEST

START_TEST(a_worker_that_cannot_open_refuses_the_configuration)
{
    /* The worker's own checks, with the configuration's file and line. */
    tu_expect_load_error(conf("", "{ control = \"required\"; module = \"debug\"; isolation = "
                                  "\"process\"; args = { reslt = \"deny\"; }; }"),
                         3, "module 'debug' has no argument 'reslt'");
    tu_expect_load_error(conf("", "{ control = \"required\"; module = \"debug\"; isolation = "
                                  "\"process\"; args = { result = \"bogus\"; }; }"),
                         3, "module 'debug': result \"bogus\" is not a fhirpam code");
    /* A wrong ABI is refused here, from the ELF, before any worker. */
    char lines[1024];
    snprintf(lines, sizeof lines,
             "{ control = \"required\"; module = \"%s\"; isolation = \"process\"; }",
             test_module("bad_abi"));
    tu_expect_load_error(conf("", lines), 3, "was built for module ABI 2.0");
    expect_no_children();
    /* The settings. */
    tu_expect_load_error(conf("", "{ control = \"required\"; module = \"debug\"; isolation = "
                                  "\"thread\"; }"),
                         3, "isolation must be \"none\" or \"process\", not \"thread\"");
    tu_expect_load_error(conf("", "{ control = \"required\"; module = \"debug\"; workers = 2; }"),
                         3, "'workers' goes only with isolation = \"process\"");
    tu_expect_load_error("worker = \"/nonexistent/fhirpam-worker\";\n"
                         "stacks: { s = { token = \"none\"; lines = ( { control = \"required\"; "
                         "module = \"debug\"; isolation = \"process\"; } ); }; };",
                         2, "the isolation worker /nonexistent/fhirpam-worker cannot be opened");
}
END_TEST

START_TEST(the_worker_is_not_a_command)
{
    char *argv[] = {(char *)worker(), NULL};
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(tu_run(argv, NULL, &out, &err), 2);
    ck_assert_msg(strstr(err, "not a command") != NULL, "%s", err);
    free(out);
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("isolation");
    TCase *tc = tcase_create("isolation");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, isolated_module_answers_as_in_process);
    tcase_add_test(tc, attributes_and_obligations_cross_the_boundary);
    tcase_add_test(tc, claims_cross_the_boundary);
    tcase_add_test(tc, bindings_cross_the_boundary);
    tcase_add_test(tc, a_fault_costs_only_its_call);
    tcase_add_test(tc, a_module_that_never_returns_is_stopped_at_its_budget);
    tcase_add_test(tc, the_stopped_worker_says_why);
    tcase_add_test(tc, concurrent_calls_share_the_pool);
    tcase_add_test(tc, a_worker_that_cannot_open_refuses_the_configuration);
    tcase_add_test(tc, the_worker_is_not_a_command);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
