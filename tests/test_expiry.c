/*
 * test_expiry.c - the expiry module's rules (issue 6): lifetime, age,
 * authentication age, required claims; a rule never skips a missing or
 * ill-typed claim.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "modtest.h"

#define NOW 1800000000LL

typedef struct row {
    const char *args;   /* NULL: none */
    const char *claims; /* NULL: no token */
    fhirpam_code code;
    const char *reason; /* NULL: not checked (success) */
} row;

static const row rows[] = {
    /* With no arguments, exp is still required, as the core requires it. */
    {NULL, "{\"exp\":1800000100}", FHIRPAM_SUCCESS, NULL},
    {NULL, "{\"exp\":1799999900}", FHIRPAM_EXPIRED, "expired"},
    {NULL, "{\"exp\":1799999941}", FHIRPAM_SUCCESS, NULL}, /* within the 60 s leeway */
    {"{ leeway = 0; }", "{\"exp\":1800000000}", FHIRPAM_EXPIRED, "expired"},
    {NULL, "{}", FHIRPAM_EXPIRED, "missing_claim"},
    {NULL, "{\"exp\":\"1800000100\"}", FHIRPAM_EXPIRED, "bad_claim"},
    {NULL, NULL, FHIRPAM_DENY, "no_token"},
    /* max_lifetime: exp - iat. A 30-day token is refused while valid. */
    {"{ max_lifetime = 3600; }", "{\"iat\":1799999990,\"exp\":1800003590}", FHIRPAM_SUCCESS, NULL},
    {"{ max_lifetime = 3600; }", "{\"iat\":1799999990,\"exp\":1800003591}", FHIRPAM_EXPIRED,
     "lifetime_exceeded"},
    {"{ max_lifetime = 3600; }", "{\"iat\":1799999990,\"exp\":1802591990}", FHIRPAM_EXPIRED,
     "lifetime_exceeded"},
    {"{ max_lifetime = 3600; }", "{\"exp\":1800000100}", FHIRPAM_EXPIRED, "missing_claim"},
    {"{ max_lifetime = 3600; }", "{\"iat\":\"yesterday\",\"exp\":1800000100}", FHIRPAM_EXPIRED,
     "bad_claim"},
    /* max_age: now - iat, with leeway. */
    {"{ max_age = 600; }", "{\"iat\":1799999340,\"exp\":1800000100}", FHIRPAM_SUCCESS, NULL},
    {"{ max_age = 600; }", "{\"iat\":1799999339,\"exp\":1800000100}", FHIRPAM_EXPIRED, "too_old"},
    {"{ max_age = 600; leeway = 0; }", "{\"iat\":1799999399,\"exp\":1800000100}", FHIRPAM_EXPIRED,
     "too_old"},
    {"{ max_age = 600; }", "{\"exp\":1800000100}", FHIRPAM_EXPIRED, "missing_claim"},
    /* max_auth_age: a refreshed token keeps the original auth_time. */
    {"{ max_auth_age = 3600; }", "{\"iat\":1799999990,\"auth_time\":1799996400,\"exp\":1800000100}",
     FHIRPAM_SUCCESS, NULL},
    {"{ max_auth_age = 3600; }", "{\"iat\":1799999990,\"auth_time\":1798790400,\"exp\":1800000100}",
     FHIRPAM_EXPIRED, "authentication_too_old"},
    {"{ max_auth_age = 3600; }", "{\"iat\":1799999990,\"exp\":1800000100}", FHIRPAM_EXPIRED,
     "missing_claim"},
    {"{ max_auth_age = 3600; }", "{\"auth_time\":true,\"exp\":1800000100}", FHIRPAM_EXPIRED,
     "bad_claim"},
    /* require */
    {"{ require = [\"jti\", \"iat\"]; }", "{\"jti\":\"a\",\"iat\":1,\"exp\":1800000100}",
     FHIRPAM_SUCCESS, NULL},
    {"{ require = [\"jti\", \"iat\"]; }", "{\"iat\":1,\"exp\":1800000100}", FHIRPAM_EXPIRED,
     "missing_claim"},
    {"{ require = [\"jti\"]; }", "{\"jti\":null,\"exp\":1800000100}", FHIRPAM_EXPIRED,
     "missing_claim"},
    /* An auth_time that cannot be true denies (issue 29 row 9): ten years
     * ahead, in milliseconds, after iat, in the future beyond leeway;
     * within the leeway it stands. With or without a max_auth_age rule. */
    {"{ max_auth_age = 300; }", "{\"iat\":1799999990,\"auth_time\":2115360000,\"exp\":1800000100}",
     FHIRPAM_EXPIRED, "auth_time_in_future"},
    {"{ max_auth_age = 300; }",
     "{\"iat\":1799999990,\"auth_time\":1799999990123,\"exp\":1800000100}", FHIRPAM_EXPIRED,
     "auth_time_implausible"},
    {NULL, "{\"auth_time\":1800000000000,\"exp\":1800000100}", FHIRPAM_EXPIRED,
     "auth_time_implausible"},
    {NULL, "{\"auth_time\":-1,\"exp\":1800000100}", FHIRPAM_EXPIRED, "auth_time_implausible"},
    {"{ max_auth_age = 300; }", "{\"iat\":1799999000,\"auth_time\":1799999100,\"exp\":1800000100}",
     FHIRPAM_EXPIRED, "auth_time_implausible"},
    {"{ max_auth_age = 300; }", "{\"auth_time\":1800000061,\"exp\":1800000100}", FHIRPAM_EXPIRED,
     "auth_time_in_future"},
    {"{ max_auth_age = 300; }", "{\"auth_time\":1800000059.5,\"exp\":1800000100}", FHIRPAM_SUCCESS,
     NULL},
    {"{ max_auth_age = 300; }",
     "{\"iat\":1799999990,\"auth_time\":1800000049.9,\"exp\":1800000100}", FHIRPAM_SUCCESS, NULL},
    {"{ max_auth_age = 300; leeway = 0; }", "{\"auth_time\":1800000000.5,\"exp\":1800000100}",
     FHIRPAM_EXPIRED, "auth_time_in_future"},
    /* The age rules read fractional times as they are, with the leeway. */
    {"{ max_auth_age = 300; }", "{\"auth_time\":1799999639.5,\"exp\":1800000100}", FHIRPAM_EXPIRED,
     "authentication_too_old"},
    {"{ max_auth_age = 300; }", "{\"auth_time\":1799999640.5,\"exp\":1800000100}", FHIRPAM_SUCCESS,
     NULL},
    {"{ max_age = 600; leeway = 0; }", "{\"iat\":1799999399.9,\"exp\":1800000100}", FHIRPAM_EXPIRED,
     "too_old"},
    {"{ max_age = 600; }", "{\"iat\":1800000061,\"exp\":1800000100}", FHIRPAM_EXPIRED,
     "iat_in_future"},
    /* Empty values are missing values (row 9: jti "" met require). */
    {"{ require = [\"jti\"]; }", "{\"jti\":\"\",\"exp\":1800000100}", FHIRPAM_EXPIRED,
     "missing_claim"},
    {"{ require = [\"sub\", \"sid\"]; }", "{\"sub\":\"u\",\"sid\":\"\",\"exp\":1800000100}",
     FHIRPAM_EXPIRED, "missing_claim"},
    {"{ require = [\"aud\"]; }", "{\"aud\":[],\"exp\":1800000100}", FHIRPAM_EXPIRED,
     "missing_claim"},
    {"{ require = [\"cnf\"]; }", "{\"cnf\":{},\"exp\":1800000100}", FHIRPAM_EXPIRED,
     "missing_claim"},
    {"{ require = [\"jti\", \"cnf\", \"n\", \"f\"]; }",
     "{\"jti\":\" \",\"cnf\":{\"jkt\":\"x\"},\"n\":0,\"f\":false,\"exp\":1800000100}",
     FHIRPAM_SUCCESS, NULL},
    /* All rules together: the first that fails names itself. */
    {"{ max_lifetime = 3600; max_age = 600; max_auth_age = 86400; require = [\"jti\"]; }",
     "{\"jti\":\"a\",\"iat\":1799999000,\"auth_time\":1799990000,\"exp\":1800002000}",
     FHIRPAM_EXPIRED, "too_old"},
};

START_TEST(rules)
{
    const row *r = &rows[_i];
    fhirpam_error err = {{0}};
    modtest *m = modtest_open("expiry", r->args, &err);
    ck_assert_msg(m != NULL, "%s", err.text);
    modtest_request req = {.claims = r->claims, .now = NOW};
    modtest_result res = modtest_run(m, &req);
    ck_assert_msg(res.code == r->code, "row %d: got %s (%s), want %s", _i,
                  fhirpam_code_name(res.code), res.reason_text, fhirpam_code_name(r->code));
    if (r->reason != NULL)
        ck_assert_str_eq(res.reason, r->reason);
    if (r->reason != NULL && strcmp(r->reason, "missing_claim") == 0 && r->args != NULL)
        ck_assert_msg(strstr(res.reason_text, "rule ") != NULL, "reason names no rule: %s",
                      res.reason_text);
    modtest_close(m);
}
END_TEST

START_TEST(bad_arguments)
{
    static const char *const bad[] = {
        "{ max_age = -1; }",     "{ leeway = 301; }",
        "{ require = [\"\"]; }", "{ max_auth_age = 400000000; }",
        "{ maxage = 600; }",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fhirpam_error err = {{0}};
        modtest *m = modtest_open("expiry", bad[i], &err);
        ck_assert_msg(m == NULL, "accepted: %s", bad[i]);
        ck_assert_msg(err.text[0] != '\0', "no message for %s", bad[i]);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("expiry");
    TCase *t = tcase_create("expiry");
    tcase_add_loop_test(t, rules, 0, sizeof rows / sizeof rows[0]);
    tcase_add_test(t, bad_arguments);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
