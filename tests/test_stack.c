/*
 * test_stack.c - the stack engine against tables derived by hand from
 * Linux-PAM's rules (../shared/ref/pam-semantics.md §0, §2-§4, §7).
 *
 * PAM's codes are written as fhirpam codes: auth_err as invalid_token,
 * user_unknown as expired, abort as unavailable, perm_denied as deny.
 * Each row: the stack, the final code, the modules called (1-based), and the
 * module whose code is final (0: none, the deny comes from the walk itself).
 * While the impression is positive each success is recorded again, so the
 * decider of a permit is the last module that granted.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "stack.h"
#include "stackspec.h"

typedef struct row {
    const char *stack;
    const char *code;
    const char *called;
    int decider;
} row;

static const row rows[] = {
    /* §0.8: nothing decided is a deny. */
    {"", "deny", "", 0},
    {"required:ignore", "deny", "1", 0},
    {"required:ignore optional:ignore sufficient:ignore requisite:ignore", "deny", "1 2 3 4", 0},
    {"optional:invalid_token", "deny", "1", 0},
    {"optional:expired", "deny", "1", 0},
    {"sufficient:invalid_token", "deny", "1", 0},
    {"required:success", "success", "1", 1},
    {"required:success required:success required:success", "success", "1 2 3", 3},

    /* §4: a required failure, then a sufficient success: the failure wins and
     * every module runs. */
    {"required:invalid_token sufficient:success required:success", "invalid_token", "1 2 3", 1},
    {"required:invalid_token sufficient:success", "invalid_token", "1 2", 1},
    /* First failure wins. */
    {"required:invalid_token required:expired", "invalid_token", "1 2", 1},
    {"required:success required:expired required:invalid_token", "expired", "1 2 3", 2},
    /* A requisite failure stops at once with the first failure's code. */
    {"requisite:expired", "expired", "1", 1},
    {"requisite:expired required:success", "expired", "1", 1},
    {"required:invalid_token requisite:expired required:success", "invalid_token", "1 2", 1},
    {"requisite:success requisite:ignore required:success", "success", "1 2 3", 3},
    /* A sufficient success with nothing failed before it ends the stack. */
    {"sufficient:success required:invalid_token", "success", "1", 1},
    {"required:success sufficient:success required:invalid_token", "success", "1 2", 2},
    {"sufficient:ignore sufficient:deny required:success", "success", "1 2 3", 3},
    /* One optional success is enough when everything else ignores. */
    {"optional:success required:ignore", "success", "1 2", 1},
    {"optional:success optional:invalid_token", "success", "1 2", 1},
    {"optional:invalid_token required:success", "success", "1 2", 2},
    {"optional:expired requisite:invalid_token", "invalid_token", "1 2", 2},

    /* §2: a bracket code left unset is bad, ignore included. */
    {"[success=ok]:ignore", "deny", "1", 1},
    {"[success=ok]:success", "success", "1", 1},
    {"[success=ok]:expired", "expired", "1", 1},

    /* §4 consequences 1: ok/done record ignore, which can escape. */
    {"[default=ok]:ignore", "ignore", "1", 1},
    {"[ignore=ok]:ignore required:success", "ignore", "1 2", 1},
    {"[ignore=done]:ignore required:invalid_token", "ignore", "1", 1},
    {"[ignore=ok]:ignore required:expired", "expired", "1 2", 2},
    /* 2: ok on a failure code makes the stack fail; a later bad replaces it. */
    {"required:success [default=ok]:invalid_token", "invalid_token", "1 2", 2},
    {"[default=done]:invalid_token required:success", "invalid_token", "1", 1},
    {"[default=ok]:deny required:invalid_token", "invalid_token", "1 2", 2},
    {"[default=ok]:deny required:success", "deny", "1 2", 1},
    /* ok cannot clear a failure. */
    {"required:expired [default=ok]:success", "expired", "1 2", 1},
    /* 3: bad or die on success: the sanity check denies. */
    {"[success=bad]:success [success=ok]:success", "deny", "1 2", 0},
    {"{ [default=die]:success } required:invalid_token", "deny", "1 2", 0},
    {"[default=bad]:success required:success", "deny", "1 2", 0},
    /* 4: jumps are not successes. */
    {"[success=1 default=bad]:success required:success", "deny", "1", 0},
    /* 5: a jump past the end denies, overwriting an earlier failure. */
    {"required:success [success=1]:success", "deny", "1 2", 0},
    {"required:expired [success=5]:success required:invalid_token", "deny", "1 2", 0},
    {"[success=2]:success { required:invalid_token } required:invalid_token", "deny", "1", 0},
    /* 6: a jump can skip a required failure. */
    {"[success=1 default=bad]:success required:invalid_token required:success", "success", "1 3",
     3},
    {"[success=2]:success required:invalid_token required:invalid_token required:success",
     "success", "1 4", 4},
    /* 7: reset erases history, at top level back to the start. */
    {"required:invalid_token [default=reset]:success required:success", "success", "1 2 3", 3},
    {"required:invalid_token [default=reset]:invalid_token", "deny", "1 2", 0},
    {"required:success [default=reset]:expired", "deny", "1 2", 0},
    {"required:invalid_token { [default=reset]:success } required:success", "invalid_token",
     "1 2 3", 1},
    {"required:success { [default=reset]:invalid_token }", "success", "1 2", 1},
    {"required:success { required:invalid_token [default=reset]:success }", "success", "1 2 3", 1},
    /* The state saved for a second, adjacent substack is taken on entry to it. */
    {"required:invalid_token { required:success } { [default=reset]:success }", "invalid_token",
     "1 2 3", 1},
    {"{ required:invalid_token } { [default=reset]:success } required:success", "invalid_token",
     "1 2 3", 1},
    /* Reset two levels down restores the state on entry to that level. */
    {"required:success { required:invalid_token { [default=reset]:success } }", "invalid_token",
     "1 2 3", 2},
    /* 8: die works for ignore too. */
    {"[ignore=die]:ignore required:success", "deny", "1", 1},
    {"[ignore=bad]:ignore required:success", "deny", "1 2", 1},
    /* There is no "abort stops everything": unavailable is an ordinary code. */
    {"required:unavailable required:success", "unavailable", "1 2", 1},

    /* §7: done and die end only their substack. */
    {"{ sufficient:success } required:invalid_token", "invalid_token", "1 2", 2},
    {"sufficient:success required:invalid_token", "success", "1", 1},
    {"{ requisite:invalid_token } required:success", "invalid_token", "1 2", 1},
    {"{ required:invalid_token } sufficient:success", "invalid_token", "1 2", 1},
    {"{ requisite:expired required:success } required:success", "expired", "1 3", 1},
    {"{ { sufficient:success } required:invalid_token } required:success", "invalid_token", "1 2 3",
     2},
    {"{ { requisite:expired required:success } required:success } required:success", "expired",
     "1 3 4", 1},
    {"{ sufficient:success required:invalid_token } required:success", "success", "1 3", 3},
    /* Jumps cannot leave a substack; in the parent a substack is one entry. */
    {"{ [success=1]:success }", "deny", "1", 0},
    {"{ [success=1]:success } required:success", "deny", "1 2", 0},
    {"[success=1]:success { required:invalid_token } required:success", "success", "1 3", 3},
    {"[success=1]:success { { required:invalid_token } required:deny } required:success", "success",
     "1 4", 4},
    {"{ [success=1]:success required:invalid_token required:success }", "success", "1 3", 3},
    {"{ [success=1]:success required:invalid_token } required:expired", "expired", "1 3", 3},
    {"[success=1]:success { } required:invalid_token", "invalid_token", "1 2", 2},
    /* Empty substacks contribute nothing. */
    {"{ }", "deny", "", 0},
    {"{ } required:success", "success", "1", 1},
    {"{ { } } required:expired", "expired", "1", 1},

    /* Every action word once more, alone. */
    {"[default=ignore]:success", "deny", "1", 0},
    {"[default=ok]:expired required:success", "expired", "1 2", 1},
    {"[default=done]:success required:invalid_token", "success", "1", 1},
    {"[default=bad]:expired required:invalid_token", "expired", "1 2", 1},
    {"[default=die]:expired required:invalid_token", "expired", "1", 1},
    {"[default=reset]:expired", "deny", "1", 0},
    {"[default=1]:expired required:invalid_token required:success", "success", "1 3", 3},
    /* The first default wins; a later value= overrides an earlier one. */
    {"[default=ok default=bad]:invalid_token", "invalid_token", "1", 1},
    {"[success=ok success=bad]:success", "deny", "1", 0},
    {"[default=bad success=ok]:success", "success", "1", 1},
    /* A code outside the table is error, through bad. */
    {"optional:99 required:success", "error", "1 2", 1},
    {"sufficient:-1", "error", "1", 1},
};

static fhirpam_code code_of(const char *name)
{
    fhirpam_code c;
    ck_assert_msg(fhirpam_code_from_name(name, &c) == 0, "no code %s", name);
    return c;
}

START_TEST(walk_matches_table)
{
    const row *r = &rows[_i];
    stackspec s;
    char err[256], called[256];
    ck_assert_msg(spec_parse(r->stack, &s, err, sizeof err) == 0, "%s: %s", r->stack, err);
    stack_result res;
    spec_run(&s, &res, NULL, called, sizeof called);
    ck_assert_msg(res.code == code_of(r->code), "%s: got %s, want %s", r->stack,
                  fhirpam_code_name(res.code), r->code);
    ck_assert_msg(strcmp(called, r->called) == 0, "%s: called [%s], want [%s]", r->stack, called,
                  r->called);
    int decider = res.decider < 0 ? 0 : s.module_no[res.decider];
    ck_assert_msg(decider == r->decider, "%s: decider %d, want %d", r->stack, decider, r->decider);
}
END_TEST

/* Single lines: every keyword against every code, from the table of §2. */
START_TEST(keyword_by_code)
{
    static const char *const keywords[] = {"required", "requisite", "sufficient", "optional"};
    const char *kw = keywords[_i];
    bool fails_with_own_code = _i < 2; /* required, requisite */
    for (int c = 0; c < FHIRPAM_CODE_COUNT; c++) {
        char text[64], err[128], called[32];
        snprintf(text, sizeof text, "%s:%s", kw, fhirpam_code_name((fhirpam_code)c));
        stackspec s;
        ck_assert_msg(spec_parse(text, &s, err, sizeof err) == 0, "%s", err);
        stack_result res;
        spec_run(&s, &res, NULL, called, sizeof called);
        fhirpam_code want = c == FHIRPAM_SUCCESS  ? FHIRPAM_SUCCESS
                            : c == FHIRPAM_IGNORE ? FHIRPAM_DENY
                            : fails_with_own_code ? (fhirpam_code)c
                                                  : FHIRPAM_DENY;
        ck_assert_msg(res.code == want, "%s: got %s", text, fhirpam_code_name(res.code));
        ck_assert_str_eq(called, "1");
    }
}
END_TEST

/* The requisite/required difference is whether the walk stops. */
START_TEST(requisite_stops_required_goes_on)
{
    for (int c = 2; c < FHIRPAM_CODE_COUNT; c++) {
        char text[96], err[128], called[32];
        stackspec s;
        stack_result res;
        snprintf(text, sizeof text, "requisite:%s required:success",
                 fhirpam_code_name((fhirpam_code)c));
        ck_assert(spec_parse(text, &s, err, sizeof err) == 0);
        spec_run(&s, &res, NULL, called, sizeof called);
        ck_assert_str_eq(called, "1");
        ck_assert_int_eq(res.code, c);
        snprintf(text, sizeof text, "required:%s required:success",
                 fhirpam_code_name((fhirpam_code)c));
        ck_assert(spec_parse(text, &s, err, sizeof err) == 0);
        spec_run(&s, &res, NULL, called, sizeof called);
        ck_assert_str_eq(called, "1 2");
        ck_assert_int_eq(res.code, c);
    }
}
END_TEST

START_TEST(result_flags)
{
    stackspec s;
    char err[128], called[32];
    stack_result res;
    ck_assert(spec_parse("required:success [success=1]:success", &s, err, sizeof err) == 0);
    spec_run(&s, &res, NULL, called, sizeof called);
    ck_assert(res.bad_jump);
    ck_assert(!res.sanity_denied);

    ck_assert(spec_parse("[success=bad]:success", &s, err, sizeof err) == 0);
    spec_run(&s, &res, NULL, called, sizeof called);
    ck_assert(!res.bad_jump);
    ck_assert(res.sanity_denied);

    /* A reset after a bad jump forgets it. */
    ck_assert(spec_parse("{ [success=1]:success } [default=reset]:success required:success", &s,
                         err, sizeof err) == 0);
    spec_run(&s, &res, NULL, called, sizeof called);
    ck_assert(!res.bad_jump);
    ck_assert_int_eq(res.code, FHIRPAM_SUCCESS);
}
END_TEST

START_TEST(steps_record_actions)
{
    stackspec s;
    char err[128];
    ck_assert(spec_parse("required:ignore [success=1]:success required:deny sufficient:success "
                         "requisite:expired",
                         &s, err, sizeof err) == 0);
    stack_step steps[SPEC_MAX];
    stack_result res;
    char called[64];
    spec_run(&s, &res, steps, called, sizeof called);
    ck_assert_str_eq(called, "1 2 4");
    ck_assert_uint_eq(res.nsteps, 3);
    ck_assert_int_eq(steps[0].code, FHIRPAM_IGNORE);
    ck_assert_int_eq(steps[0].action, STACK_ACTION_IGNORE);
    ck_assert_int_eq(steps[1].action, 1);
    ck_assert_uint_eq(steps[2].entry, 3);
    ck_assert_int_eq(steps[2].action, STACK_ACTION_DONE);
    ck_assert_int_eq(res.code, FHIRPAM_SUCCESS);
    ck_assert_int_eq(res.decider, 3);
}
END_TEST

/* ---- control strings ---- */

typedef struct control_row {
    const char *text;
    int success, ignore, other; /* expected actions; other = for deny */
} control_row;

static const control_row good_controls[] = {
    {"required", STACK_ACTION_OK, STACK_ACTION_IGNORE, STACK_ACTION_BAD},
    {"requisite", STACK_ACTION_OK, STACK_ACTION_IGNORE, STACK_ACTION_DIE},
    {"sufficient", STACK_ACTION_DONE, STACK_ACTION_IGNORE, STACK_ACTION_IGNORE},
    {"optional", STACK_ACTION_OK, STACK_ACTION_IGNORE, STACK_ACTION_IGNORE},
    {"[success=ok]", STACK_ACTION_OK, STACK_ACTION_BAD, STACK_ACTION_BAD},
    {"[success=done default=ignore]", STACK_ACTION_DONE, STACK_ACTION_IGNORE, STACK_ACTION_IGNORE},
    {"[default=die success=ok]", STACK_ACTION_OK, STACK_ACTION_DIE, STACK_ACTION_DIE},
    {"[ success=2  ignore=reset\tdeny=1024 ]", 2, STACK_ACTION_RESET, 1024},
    {"[default=ok default=bad]", STACK_ACTION_OK, STACK_ACTION_OK, STACK_ACTION_OK},
    {"[success=ok success=bad]", STACK_ACTION_BAD, STACK_ACTION_BAD, STACK_ACTION_BAD},
};

START_TEST(control_parses)
{
    const control_row *r = &good_controls[_i];
    stack_control ctl;
    char err[256] = "";
    ck_assert_msg(stack_control_parse(r->text, &ctl, err, sizeof err) == 0, "%s: %s", r->text, err);
    ck_assert_int_eq(ctl.actions[FHIRPAM_SUCCESS], r->success);
    ck_assert_int_eq(ctl.actions[FHIRPAM_IGNORE], r->ignore);
    ck_assert_int_eq(ctl.actions[FHIRPAM_DENY], r->other);
}
END_TEST

/* Linux-PAM turns each of these into "every code is bad" (or, for the
 * prefix matches, into something else); fhirpam refuses them. */
static const char *const bad_controls[] = {
    "Required",
    "REQUISITE",
    "require",
    "requiredx",
    "include",
    "substack",
    "",
    "[]",
    "[ ]",
    "[success=ok",
    "success=ok]",
    "[success=okay]",
    "[success=okdefault=ignore]",
    "[SUCCESS=ok]",
    "[succ=ok]",
    "[auth_err=ok]",
    "[success=0]",
    "[success=01]",
    "[success=1025]",
    "[success=-1]",
    "[success=]",
    "[=ok]",
    "[success]",
    "[success = ok]",
    "[success=ok,default=bad]",
};

START_TEST(control_refused)
{
    stack_control ctl;
    char err[256] = "";
    ck_assert_msg(stack_control_parse(bad_controls[_i], &ctl, err, sizeof err) != 0,
                  "'%s' was accepted", bad_controls[_i]);
    ck_assert_msg(err[0] != '\0', "'%s': no message", bad_controls[_i]);
}
END_TEST

START_TEST(action_text)
{
    char buf[16];
    ck_assert_str_eq(stack_action_text(STACK_ACTION_OK, buf, sizeof buf), "ok");
    ck_assert_str_eq(stack_action_text(STACK_ACTION_RESET, buf, sizeof buf), "reset");
    ck_assert_str_eq(stack_action_text(STACK_ACTION_IGNORE, buf, sizeof buf), "ignore");
    ck_assert_str_eq(stack_action_text(3, buf, sizeof buf), "3");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stack");
    TCase *t = tcase_create("walk");
    tcase_add_loop_test(t, walk_matches_table, 0, sizeof rows / sizeof rows[0]);
    tcase_add_loop_test(t, keyword_by_code, 0, 4);
    tcase_add_test(t, requisite_stops_required_goes_on);
    tcase_add_test(t, result_flags);
    tcase_add_test(t, steps_record_actions);
    suite_add_tcase(s, t);
    t = tcase_create("control");
    tcase_add_loop_test(t, control_parses, 0, sizeof good_controls / sizeof good_controls[0]);
    tcase_add_loop_test(t, control_refused, 0, sizeof bad_controls / sizeof bad_controls[0]);
    tcase_add_test(t, action_text);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
