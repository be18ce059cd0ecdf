/*
 * test_reload.c - reload under load: threads authorize in a loop while the
 * main thread swaps configurations. Every decision must come whole from one
 * configuration or the other (never a mix, never a crash or a leak), and the
 * old configuration must be freed only after its requests finished (ASan and
 * valgrind see a use-after-free otherwise).
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define THREADS 4
#define RELOADS 40

/* Config A: two lines, permits. Config B: three lines, denies with revoked. */
static const char *config_a =
    "stacks: { s = { token = \"none\"; lines = ( { control = \"required\"; module = \"debug\"; },"
    " { control = \"required\"; module = \"debug\"; } ); }; };";
static const char *config_b =
    "stacks: { s = { token = \"none\"; lines = ( { control = \"required\"; module = \"debug\"; },"
    " { control = \"optional\"; module = \"debug\"; args = { result = \"ignore\"; }; },"
    " { control = \"required\"; module = \"debug\"; args = { result = \"revoked\"; }; } ); }; };";

static fhirpam_context *ctx;
static atomic_bool stop;
static atomic_long seen_a, seen_b, torn;

static void *worker(void *arg)
{
    fhirpam_request *req = fhirpam_request_new("GET", "Patient/1");
    while (!atomic_load(&stop)) {
        fhirpam_decision *d = fhirpam_authorize(ctx, "s", req);
        size_t n = fhirpam_decision_trace_count(d);
        if (fhirpam_decision_permitted(d) && n == 2)
            atomic_fetch_add(&seen_a, 1);
        else if (fhirpam_decision_code(d) == FHIRPAM_REVOKED && n == 3)
            atomic_fetch_add(&seen_b, 1);
        else
            atomic_fetch_add(&torn, 1);
        fhirpam_decision_free(d);
    }
    fhirpam_request_free(req);
    return arg;
}

START_TEST(reload_under_load)
{
    const char *path = tu_write("swap.conf", config_a);
    fhirpam_error err = {{0}};
    ctx = fhirpam_open(path, tu_modules_dir(), &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int r = 0; r < RELOADS; r++) {
        tu_write("swap.conf", r % 2 ? config_a : config_b);
        ck_assert_msg(fhirpam_reload(ctx, &err) == 0, "%s", err.text);
        /* A failing reload in between must change nothing. */
        tu_write("swap.conf", "stacks: {");
        ck_assert_int_eq(fhirpam_reload(ctx, &err), -1);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    fprintf(stderr, "reload_under_load: %ld decisions under config A, %ld under B, %ld torn\n",
            atomic_load(&seen_a), atomic_load(&seen_b), atomic_load(&torn));
    ck_assert_int_eq(atomic_load(&torn), 0);
    ck_assert_int_gt(atomic_load(&seen_a), 0);
    ck_assert_int_gt(atomic_load(&seen_b), 0);
    fhirpam_close(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reload");
    TCase *tc = tcase_create("reload");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, reload_under_load);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
