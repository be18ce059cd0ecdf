/*
 * test_deadline.c - modules run under a deadline, and requests in flight
 * never hold up a reload (issue 28 row 2).
 *
 * A module answering after its stack's budget (limits.module_deadline_ms)
 * is taken as `unavailable`, whatever it answered, and the line's control
 * decides; what the late call left (attributes, obligations) goes with it.
 * fhirpam_reload() puts the new configuration in force without waiting for
 * a request a slow module holds; the old one is freed when that request
 * ends. The slow module is tests/modules/slow.c; the tests decide when it
 * returns through a FIFO, so nothing here depends on timing but the
 * deadline itself (a 50 ms budget against a 300 ms sleep).
 */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mint.h"
#include "testutil.h"

static const char *test_module(const char *name)
{
    static char paths[4][600];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/modules/%s.so", tu_build_dir(), name);
    return p;
}

static fhirpam_context *open_text(const char *text)
{
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(text, &err);
    ck_assert_msg(ctx != NULL, "%s\n%s", err.text, text);
    return ctx;
}

START_TEST(late_answer_is_unavailable)
{
    char text[1024];
    snprintf(text, sizeof text,
             "limits: { module_deadline_ms = 50; };\n"
             "stacks: { s = { token = \"none\"; lines = (\n"
             " { control = \"required\"; module = \"%s\"; args = { ms = 300; }; } ); }; };",
             test_module("slow"));
    fhirpam_context *ctx = open_text(text);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert(!fhirpam_decision_permitted(d));
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_UNAVAILABLE);
    ck_assert_int_eq(fhirpam_decision_http_status(d), 503);
    ck_assert_str_eq(fhirpam_decision_reason(d), "deadline_exceeded");
    ck_assert_msg(strstr(fhirpam_decision_reason_text(d), "past the 50 ms budget of stack 's'"),
                  "%s", fhirpam_decision_reason_text(d));
    fhirpam_code code;
    ck_assert_int_eq(fhirpam_decision_trace_entry(d, 0, NULL, NULL, NULL, NULL, &code, NULL, NULL),
                     0);
    ck_assert_int_eq(code, FHIRPAM_UNAVAILABLE);
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
}
END_TEST

START_TEST(the_control_decides_on_a_late_answer)
{
    char text[1024];
    snprintf(text, sizeof text,
             "limits: { module_deadline_ms = 50; };\n"
             "stacks: { s = { token = \"none\"; lines = (\n"
             " { control = \"[success=ok unavailable=ignore default=bad]\"; module = \"%s\";"
             " args = { ms = 300; }; },\n"
             " { control = \"required\"; module = \"debug\"; } ); }; };",
             test_module("slow"));
    fhirpam_context *ctx = open_text(text);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
}
END_TEST

/* slow (mark = true, ms) under unavailable=ignore, then attr_probe require:
 * permitted only when slow's mark counts. */
static fhirpam_decision *marked(long ms, const char *stack_extra)
{
    char text[2048];
    snprintf(text, sizeof text,
             "limits: { module_deadline_ms = 50; };\n"
             "stacks: { s = { token = \"none\"; %s lines = (\n"
             " { control = \"[success=ok unavailable=ignore default=bad]\"; module = \"%s\";"
             " args = { ms = %ld; mark = true; }; },\n"
             " { control = \"required\"; module = \"%s\"; args = { mode = \"require\"; }; } ); "
             "}; };",
             stack_extra, test_module("slow"), ms, test_module("attr_probe"));
    fhirpam_context *ctx = open_text(text);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    fhirpam_close(ctx);
    return d;
}

START_TEST(a_late_answer_leaves_nothing_behind)
{
    /* In time: the mark and the obligation count. */
    fhirpam_decision *d = marked(0, "");
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    ck_assert_uint_eq(fhirpam_decision_obligation_count(d), 1);
    fhirpam_decision_free(d);
    /* Late: neither does. */
    d = marked(300, "");
    ck_assert(!fhirpam_decision_permitted(d));
    ck_assert_str_eq(fhirpam_decision_reason(d), "unmarked");
    fhirpam_decision_free(d);
    /* A stack's own budget overrides the default. */
    d = marked(300, "module_deadline_ms = 5000;");
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    fhirpam_decision_free(d);
}
END_TEST

/* A binding reported by a module that answers late is not counted: a
 * certificate-bound token needs a report made in time. */
START_TEST(a_late_binding_report_does_not_count)
{
    EVP_PKEY *key = mint_keygen("ES256", 0);
    json_t *set = json_pack("{s:[o]}", "keys", mint_public_jwk(key, "k1", "ES256"));
    char *jwks = json_dumps(set, 0);
    const char *jwks_path = tu_write("jwks.json", jwks);
    char *token = mint_token(key, "ES256", "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
                             "{\"iss\":\"https://ehr\",\"aud\":\"https://fhir\",\"exp\":"
                             "1800000600,\"sub\":\"u1\",\"cnf\":{\"x5t#S256\":\"abc\"}}");
    char bearer[2048];
    snprintf(bearer, sizeof bearer, "Bearer %s", token);
    for (int late = 0; late < 2; late++) {
        char text[2048];
        snprintf(text, sizeof text,
                 "limits: { module_deadline_ms = 50; };\n"
                 "token: { issuer = \"https://ehr\"; audience = \"https://fhir\"; jwks = \"%s\"; "
                 "algorithms = [\"ES256\"]; };\n"
                 "stacks: { s = (\n"
                 " { control = \"[success=ok unavailable=ignore default=bad]\"; module = \"%s\";"
                 " args = { ms = %d; mark = true; }; },\n"
                 " { control = \"required\"; module = \"debug\"; } ); };",
                 jwks_path, test_module("slow"), late ? 300 : 0);
        fhirpam_context *ctx = open_text(text);
        fhirpam_request *req = fhirpam_request_new("GET", "Patient/1");
        fhirpam_request_add_header(req, "Authorization", bearer);
        fhirpam_request_set_time(req, 1800000000);
        fhirpam_decision *d = fhirpam_authorize(ctx, "s", req);
        if (late)
            ck_assert_str_eq(fhirpam_decision_reason(d), "unverified_binding");
        else
            ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
        fhirpam_decision_free(d);
        fhirpam_request_free(req);
        fhirpam_close(ctx);
    }
    free(token);
    free(jwks);
    json_decref(set);
    EVP_PKEY_free(key);
}
END_TEST

/* ---- reload and a request in flight ---- */

typedef struct inflight {
    fhirpam_context *ctx;
    fhirpam_decision *decision;
    atomic_bool done;
} inflight;

static void *authorize_in_thread(void *arg)
{
    inflight *f = arg;
    f->decision = tu_authorize(f->ctx, "s", "GET", "Patient/1");
    atomic_store(&f->done, true);
    return NULL;
}

typedef struct reloading {
    fhirpam_context *ctx;
    int rc;
    atomic_bool done;
} reloading;

static void *reload_in_thread(void *arg)
{
    reloading *r = arg;
    fhirpam_error err = {{0}};
    r->rc = fhirpam_reload(r->ctx, &err);
    atomic_store(&r->done, true);
    return NULL;
}

/* Wait up to `seconds` for *flag (a liveness bound: failing it means the
 * thing waited for never happens, not that it was slow). */
static bool wait_for(atomic_bool *flag, int seconds)
{
    for (int i = 0; i < seconds * 100 && !atomic_load(flag); i++) {
        struct timespec tick = {0, 10000000};
        nanosleep(&tick, NULL);
    }
    return atomic_load(flag);
}

static bool wait_for_file(const char *path, int seconds)
{
    for (int i = 0; i < seconds * 100; i++) {
        if (access(path, F_OK) == 0)
            return true;
        struct timespec tick = {0, 10000000};
        nanosleep(&tick, NULL);
    }
    return false;
}

START_TEST(reload_is_not_held_by_a_request_in_flight)
{
    char gate[600], closed[600], text[2048];
    snprintf(gate, sizeof gate, "%s/gate", tu_tmpdir());
    snprintf(closed, sizeof closed, "%s/old-closed", tu_tmpdir());
    ck_assert_int_eq(mkfifo(gate, 0600), 0);
    snprintf(text, sizeof text,
             "limits: { module_deadline_ms = 600000; reload_wait_ms = 100; };\n"
             "stacks: { s = { token = \"none\"; lines = (\n"
             " { control = \"required\"; module = \"%s\"; args = { gate = \"%s\"; on_close = "
             "\"%s\"; }; } ); }; };",
             test_module("slow"), gate, closed);
    const char *path = tu_write("inflight.conf", text);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = fhirpam_open(path, tu_modules_dir(), &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);

    inflight f = {.ctx = ctx};
    pthread_t request;
    ck_assert_int_eq(pthread_create(&request, NULL, authorize_in_thread, &f), 0);
    /* Opening the FIFO for writing returns once the module has opened it
     * for reading: from here the request is inside the module, and stays
     * there until the byte below. */
    int gate_fd = open(gate, O_WRONLY | O_CLOEXEC);
    ck_assert_int_ge(gate_fd, 0);

    /* The next configuration denies with revoked. */
    tu_write("inflight.conf",
             "limits: { reload_wait_ms = 100; };\n"
             "stacks: { s = { token = \"none\"; lines = ( { control = \"required\"; module = "
             "\"debug\"; args = { result = \"revoked\"; }; } ); }; };");
    reloading r = {.ctx = ctx};
    pthread_t reloader;
    ck_assert_int_eq(pthread_create(&reloader, NULL, reload_in_thread, &r), 0);
    ck_assert_msg(wait_for(&r.done, 30), "fhirpam_reload waits for the request in flight");
    pthread_join(reloader, NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert(!atomic_load(&f.done));
    /* The new configuration is in force while the old request runs on... */
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_REVOKED);
    fhirpam_decision_free(d);
    /* ... which still holds the old one, so it is not freed yet. */
    ck_assert_msg(access(closed, F_OK) != 0, "the old configuration was freed under a request");

    ck_assert_int_eq(write(gate_fd, "x", 1), 1);
    close(gate_fd);
    pthread_join(request, NULL);
    ck_assert_msg(fhirpam_decision_permitted(f.decision), "%s",
                  fhirpam_decision_reason_text(f.decision));
    ck_assert_str_eq(fhirpam_decision_reason(f.decision), "slow");
    fhirpam_decision_free(f.decision);
    /* The request has left: the reaper frees the old configuration. */
    ck_assert_msg(wait_for_file(closed, 30), "the old configuration was never freed");
    fhirpam_close(ctx);
}
END_TEST

START_TEST(reload_frees_the_old_configuration_when_nothing_holds_it)
{
    char closed[600], text[1024];
    snprintf(closed, sizeof closed, "%s/closed", tu_tmpdir());
    snprintf(text, sizeof text,
             "stacks: { s = { token = \"none\"; lines = ( { control = \"required\"; module = "
             "\"%s\"; args = { on_close = \"%s\"; }; } ); }; };",
             test_module("slow"), closed);
    const char *path = tu_write("idle.conf", text);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = fhirpam_open(path, tu_modules_dir(), &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    fhirpam_decision_free(d);
    ck_assert_msg(fhirpam_reload(ctx, &err) == 0, "%s", err.text);
    ck_assert_msg(access(closed, F_OK) == 0, "reload returned with the idle old config unfreed");
    fhirpam_close(ctx);
}
END_TEST

START_TEST(deadline_settings_are_checked)
{
    tu_expect_load_error("limits: { module_deadline_ms = 0; };\nstacks: { s = ( ); };", 1,
                         "'module_deadline_ms' must be between 1 and 600000");
    tu_expect_load_error(
        "stacks: { s = { token = \"none\"; module_deadline_ms = -5; lines = ( ); }; };", 1,
        "'module_deadline_ms' must be between 1 and 600000");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("deadline");
    TCase *tc = tcase_create("deadline");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, late_answer_is_unavailable);
    tcase_add_test(tc, the_control_decides_on_a_late_answer);
    tcase_add_test(tc, a_late_answer_leaves_nothing_behind);
    tcase_add_test(tc, a_late_binding_report_does_not_count);
    tcase_add_test(tc, reload_is_not_held_by_a_request_in_flight);
    tcase_add_test(tc, reload_frees_the_old_configuration_when_nothing_holds_it);
    tcase_add_test(tc, deadline_settings_are_checked);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
