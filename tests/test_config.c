/*
 * test_config.c - configuration loading: every refusal names file and line,
 * module arguments are typed and declared, reload is atomic and keeps the old
 * configuration when the new one fails.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* A stack line that needs no token, for configs that only test structure. */
#define OPEN(lines) "stacks: { s = { token = \"none\"; lines = ( " lines " ); }; };\n"

START_TEST(loads_minimal_config)
{
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(OPEN("{ control = \"required\"; module = \"debug\"; }"), &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "metadata");
    ck_assert_int_eq(fhirpam_decision_permitted(d), 1);
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
}
END_TEST

/* Each row: a config, the line the error must name, and a phrase it must
 * contain. */
static const struct {
    const char *text;
    int line;
    const char *needle;
} bad_configs[] = {
    {"stacks: { s = ( { control = ; } ); };\n", 1, "syntax error"},
    {"colour = \"blue\";\n" OPEN(""), 1, "unknown key 'colour'"},
    {"\n\n@include \"other.conf\"\n", 3, "@include is not supported"},
    {"modules_dir = \"/x\";\n", 0, "no 'stacks' group"},
    {"stacks: { s = { token = \"none\"; lines = ( \n{ control = \"required\"; modul = \"debug\"; } "
     "); "
     "}; };",
     2, "unknown key 'modul'"},
    {"stacks: {\n s = { token = \"none\"; lines = (\n { control = \"required\"; } ); }; };", 3,
     "without 'module'"},
    {"stacks: {\n s = { token = \"none\"; lines = (\n { module = \"debug\"; } ); }; };", 3,
     "without 'control'"},
    {"stacks: {\n s = { token = \"none\"; lines = (\n { control = \"required\"; module = "
     "\"no_such_module\"; } ); }; };",
     3, "module 'no_such_module'"},
    {"stacks: {\n s = { token = \"none\"; lines = (\n { control = \"required\"; module = "
     "\"../debug\"; } ); }; };",
     3, "must be absolute"},
    {"stacks: {\n s = { token = \"none\"; lines = (\n { control = \"required\"; module = "
     "\"de.bug\"; } ); }; };",
     3, "may only contain"},
    /* Controls: exact words only. */
    {"stacks: {\n s = { token = \"none\"; lines = (\n { control = \"Required\"; module = "
     "\"debug\"; } ); }; };",
     3, "control \"Required\""},
    {"stacks: {\n s = { token = \"none\"; lines = (\n { control = \"[success=okay]\"; module = "
     "\"debug\"; } ); }; };",
     3, "control \"[success=okay]\""},
    {"stacks: {\n s = { token = \"none\"; lines = (\n { control = \"[succ=ok]\"; module = "
     "\"debug\"; } ); }; };",
     3, "control \"[succ=ok]\""},
    {"stacks: {\n s = { token = \"none\"; lines = (\n { control = \"[success=0]\"; module = "
     "\"debug\"; } ); }; };",
     3, "control \"[success=0]\""},
    {"stacks: {\n s = { token = \"none\"; lines = (\n { control = \"[]\"; module = \"debug\"; } "
     "); }; };",
     3, "control \"[]\""},
    /* Module arguments: declared names and types only. */
    {"stacks: {\n s = { token = \"none\"; lines = (\n { control = \"required\"; module = "
     "\"debug\";\n args = { reslt = \"deny\"; }; } ); }; };",
     4, "has no argument 'reslt' (it takes: result)"},
    {"stacks: {\n s = { token = \"none\"; lines = (\n { control = \"required\"; module = "
     "\"debug\";\n args = { result = 3; }; } ); }; };",
     4, "must be a string"},
    {"stacks: {\n s = { token = \"none\"; lines = (\n { control = \"required\"; module = "
     "\"debug\";\n args = { result = \"maybe\"; }; } ); }; };",
     3, "result \"maybe\" is not a fhirpam code"},
    {"stacks: {\n s = { token = \"none\"; lines = (\n { control = \"required\"; module = "
     "\"debug\";\n args = \"result=deny\"; } ); }; };",
     4, "'args' must be a group"},
    /* include / substack. */
    {"stacks: {\n s = { token = \"none\"; lines = (\n { control = \"include\"; stack = "
     "\"nowhere\"; } ); }; };",
     3, "unknown stack 'nowhere'"},
    {"stacks: {\n s = { token = \"none\"; lines = (\n { control = \"include\"; } ); }; };", 3,
     "needs 'stack"},
    {"stacks: {\n s = { token = \"none\"; lines = (\n { control = \"substack\"; stack = \"s\"; "
     "module = \"debug\"; } ); }; };",
     3, "takes only 'stack'"},
    {"stacks: {\n s = { token = \"none\"; lines = (\n { control = \"required\"; stack = \"s\"; "
     "module = \"debug\"; } ); }; };",
     3, "'stack' goes only with"},
    {"stacks: {\n a = { token = \"none\"; lines = ( { control = \"include\"; stack = \"b\"; } ); "
     "};\n b = { token = \"none\"; lines = (\n { control = \"substack\"; stack = \"a\"; } ); }; };",
     4, "include cycle"},
    {"stacks: {\n a = { token = \"none\"; lines = (\n { control = \"include\"; stack = \"a\"; } ); "
     "}; };",
     3, "include cycle"},
    {"stacks: {\n s = { token = \"maybe\"; lines = (); }; };", 2, "token must be"},
    {"stacks: {\n s = { token = \"none\"; }; };", 2, "has no 'lines'"},
    {"stacks: {\n s = 3; };", 2, "must be a list"},
    {"stacks: {\n s = ( \"debug\" ); };", 2, "must be a group"},
    /* Audit. */
    {"audit: { sink = \"carrier-pigeon\"; };\n" OPEN(""), 1, "unknown audit sink"},
    {"audit: { sink = \"file\"; path = \"relative.log\"; };\n" OPEN(""), 1, "absolute 'path'"},
    {"audit: { sink = \"file\"; path = \"/nonexistent-dir/x.log\"; };\n" OPEN(""), 1,
     "cannot open the audit file"},
    {"audit: { sink = \"syslog\"; facility = \"kern0\"; };\n" OPEN(""), 1,
     "unknown syslog facility"},
    {"audit: { sink = \"none\"; rotate = true; };\n" OPEN(""), 1, "unknown key 'rotate' in audit"},
    {"audit: { required = true; };\n" OPEN(""), 1, "audit needs 'sink'"},
};

START_TEST(refuses_bad_config)
{
    tu_expect_load_error(bad_configs[_i].text, bad_configs[_i].line, bad_configs[_i].needle);
}
END_TEST

/* Nesting: 15 levels of substacks load, 16 do not. */
static char *nested_config(int depth)
{
    size_t cap = 4096 + (size_t)depth * 256;
    char *text = malloc(cap);
    int n = snprintf(text, cap, "stacks: {\n");
    for (int i = 0; i < depth; i++)
        n += snprintf(text + n, cap - (size_t)n,
                      " s%d = { token = \"none\"; lines = ( { control = \"substack\"; stack = "
                      "\"s%d\"; } ); };\n",
                      i, i + 1);
    snprintf(text + n, cap - (size_t)n,
             " s%d = { token = \"none\"; lines = ( { control = \"required\"; module = \"debug\"; "
             "} ); };\n};\n",
             depth);
    return text;
}

START_TEST(nesting_limit)
{
    char *ok = nested_config(15);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(ok, &err);
    ck_assert_msg(ctx != NULL, "15 levels should load: %s", err.text);
    fhirpam_decision *d = tu_authorize(ctx, "s0", "GET", "Patient/1");
    ck_assert_int_eq(fhirpam_decision_permitted(d), 1);
    ck_assert_uint_eq(fhirpam_decision_trace_count(d), 1);
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
    free(ok);

    char *deep = nested_config(16);
    tu_expect_load_error(deep, 0, "nest deeper than 16");
    free(deep);
}
END_TEST

START_TEST(include_fanout_is_bounded)
{
    /* Each level includes the next twice: 2^12 lines must be refused. */
    char text[8192];
    int n = snprintf(text, sizeof text, "stacks: {\n");
    for (int i = 0; i < 12; i++)
        n += snprintf(text + n, sizeof text - (size_t)n,
                      " s%d = { token = \"none\"; lines = ( { control = \"include\"; stack = "
                      "\"s%d\"; }, { control = \"include\"; stack = \"s%d\"; } ); };\n",
                      i, i + 1, i + 1);
    snprintf(text + n, sizeof text - (size_t)n,
             " s12 = { token = \"none\"; lines = ( { control = \"optional\"; module = "
             "\"debug\"; } ); };\n};\n");
    tu_expect_load_error(text, 0, "expands to more than 1024 lines");
}
END_TEST

START_TEST(stack_requires_token_by_default)
{
    /* A stack in the short list form requires a token, so a config that has
     * no `token` group cannot have one: it would deny everything. */
    tu_expect_load_error("stacks: {\n s = ( { control = \"required\"; module = \"debug\"; } ); };",
                         2, "requires a token");
}
END_TEST

START_TEST(module_args_are_typed)
{
    char text[2048];
    snprintf(text, sizeof text,
             OPEN("{ control = \"required\"; module = \"%s/modules/echo_args.so\";"
                  " args = { name = \"x y\"; count = 42; flag = true; items = [\"a\", \"b\"];"
                  " nested = { k = \"v\"; j = \"w\"; }; }; }"),
             tu_build_dir());
    /* echo_args lives in the tests' build dir, named by absolute path. */
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(text, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_str_eq(fhirpam_decision_reason_text(d),
                     "name=x y count=42 flag=1 items=a,b nested=k:v,j:w");
    fhirpam_decision_free(d);
    fhirpam_close(ctx);

    snprintf(text, sizeof text,
             "stacks: {\n s = { token = \"none\"; lines = (\n { control = \"required\"; module = "
             "\"%s/modules/echo_args.so\";\n args = { items = [ 1, 2 ]; }; } ); }; };",
             tu_build_dir());
    tu_expect_load_error(text, 4, "argument 'items' of module");
    snprintf(text, sizeof text,
             "stacks: {\n s = { token = \"none\"; lines = (\n { control = \"required\"; module = "
             "\"%s/modules/echo_args.so\";\n args = { flag = \"yes\"; }; } ); }; };",
             tu_build_dir());
    tu_expect_load_error(text, 4, "must be a boolean");
}
END_TEST

static const char *config_a = OPEN("{ control = \"required\"; module = \"debug\"; args = { result "
                                   "= \"success\"; }; }");
static const char *config_b = OPEN("{ control = \"required\"; module = \"debug\"; args = { result "
                                   "= \"consent_denied\"; }; }");

START_TEST(reload_swaps_and_keeps_old_on_failure)
{
    const char *path = tu_write("reload.conf", config_a);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = fhirpam_open(path, tu_modules_dir(), &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_int_eq(fhirpam_decision_permitted(d), 1);
    fhirpam_decision_free(d);

    tu_write("reload.conf", config_b);
    ck_assert_int_eq(fhirpam_reload(ctx, &err), 0);
    d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_CONSENT_DENIED);
    fhirpam_decision_free(d);

    tu_write("reload.conf", "stacks: { s = ( { control = \"requird\"; } ); };");
    ck_assert_int_eq(fhirpam_reload(ctx, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.text, "reload.conf:1:"));
    d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_CONSENT_DENIED);
    fhirpam_decision_free(d);

    unlink(path);
    ck_assert_int_eq(fhirpam_reload(ctx, &err), -1);
    d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_CONSENT_DENIED);
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
}
END_TEST

START_TEST(config_file_checks)
{
    const char *path = tu_write("perm.conf", config_a);
    fhirpam_error err = {{0}};
    chmod(path, 0666);
    ck_assert_ptr_null(fhirpam_open(path, tu_modules_dir(), &err));
    ck_assert_ptr_nonnull(strstr(err.text, "world-writable"));
    chmod(path, 0620);
    ck_assert_ptr_null(fhirpam_open(path, tu_modules_dir(), &err));
    ck_assert_ptr_nonnull(strstr(err.text, "group-writable"));
    chmod(path, 0600);

    char link[600];
    snprintf(link, sizeof link, "%s/link.conf", tu_tmpdir());
    unlink(link);
    ck_assert_int_eq(symlink(path, link), 0);
    ck_assert_ptr_null(fhirpam_open(link, tu_modules_dir(), &err));
    ck_assert_ptr_nonnull(strstr(err.text, "symbolic link"));

    ck_assert_ptr_null(fhirpam_open(tu_tmpdir(), tu_modules_dir(), &err));
    ck_assert_ptr_nonnull(strstr(err.text, "not a regular file"));

    if (geteuid() == 0) {
        ck_assert_int_eq(chown(path, 65534, 65534), 0);
        ck_assert_ptr_null(fhirpam_open(path, tu_modules_dir(), &err));
        ck_assert_ptr_nonnull(strstr(err.text, "owned by uid 65534"));
    } else {
        fprintf(stderr, "config_file_checks: not root, the foreign-owner case is not tested\n");
    }
}
END_TEST

START_TEST(limits_are_checked)
{
    tu_expect_load_error("limits: { bundle_max_calls = 0; };\nstacks: { s = ( ); };", 1,
                         "'bundle_max_calls' must be between 1 and");
    tu_expect_load_error("limits: { bundle_max_decision_bytes = 100; };\nstacks: { s = ( ); };", 1,
                         "'bundle_max_decision_bytes' must be between 65536 and");
    tu_expect_load_error("limits: { bundle_calls = 5; };\nstacks: { s = ( ); };", 1,
                         "unknown key 'bundle_calls' in limits");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, loads_minimal_config);
    tcase_add_loop_test(tc, refuses_bad_config, 0,
                        (int)(sizeof bad_configs / sizeof bad_configs[0]));
    tcase_add_test(tc, nesting_limit);
    tcase_add_test(tc, include_fanout_is_bounded);
    tcase_add_test(tc, stack_requires_token_by_default);
    tcase_add_test(tc, module_args_are_typed);
    tcase_add_test(tc, reload_swaps_and_keeps_old_on_failure);
    tcase_add_test(tc, config_file_checks);
    tcase_add_test(tc, limits_are_checked);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
