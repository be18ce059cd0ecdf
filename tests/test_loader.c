/*
 * test_loader.c - the module loader refuses what it must, and a refused
 * module refuses the whole configuration (design §3), with file and line.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* Copy a built module into the temporary directory (mode 0755). */
static const char *copy_module(const char *from, const char *name)
{
    static char to[8][600];
    static int next;
    char *dst = to[next++ % 8];
    snprintf(dst, sizeof to[0], "%s/%s", tu_tmpdir(), name);
    FILE *in = fopen(from, "rb");
    ck_assert_msg(in != NULL, "cannot read %s", from);
    unlink(dst);
    int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    ck_assert_int_ge(fd, 0);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
    fclose(in);
    fchmod(fd, 0755);
    close(fd);
    return dst;
}

static const char *test_module(const char *name)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/modules/%s.so", tu_build_dir(), name);
    return path;
}

static void expect_module_refused(const char *module_path, const char *needle)
{
    char text[2048];
    snprintf(text, sizeof text,
             "stacks: {\n s = { token = \"none\"; lines = (\n"
             " { control = \"required\"; module = \"debug\"; },\n"
             " { control = \"required\"; module = \"%s\"; } ); }; };\n",
             module_path);
    tu_expect_load_error(text, 4, needle);
}

START_TEST(refuses_wrong_abi_major)
{
    expect_module_refused(test_module("bad_abi"), "was built for module ABI 2.0");
}
END_TEST

START_TEST(refuses_missing_descriptor)
{
    expect_module_refused(test_module("no_descriptor"), "exports no fhirpam_module_descriptor");
}
END_TEST

START_TEST(refuses_short_descriptor)
{
    expect_module_refused(test_module("small_descriptor"), "smaller than ABI 1.0 requires");
}
END_TEST

START_TEST(refuses_non_elf)
{
    const char *path = tu_write("garbage.so", "this is not a shared object\n");
    expect_module_refused(path, "cannot be loaded");
}
END_TEST

START_TEST(refuses_world_writable_module)
{
    char from[600];
    snprintf(from, sizeof from, "%s/debug.so", tu_modules_dir());
    const char *path = copy_module(from, "debug-ww.so");
    chmod(path, 0757);
    expect_module_refused(path, "is world-writable");
    chmod(path, 0775);
    expect_module_refused(path, "is group-writable");
    chmod(path, 0755);
    /* The same file, safe again, loads. */
    char text[1024];
    snprintf(text, sizeof text,
             "stacks: { s = { token = \"none\"; lines = ( { control = \"required\"; module = "
             "\"%s\"; } ); }; };",
             path);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(text, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    fhirpam_close(ctx);
}
END_TEST

START_TEST(refuses_symlinked_module)
{
    char from[600], link[600];
    snprintf(from, sizeof from, "%s/debug.so", tu_modules_dir());
    snprintf(link, sizeof link, "%s/debug-link.so", tu_tmpdir());
    unlink(link);
    ck_assert_int_eq(symlink(from, link), 0);
    expect_module_refused(link, "is a symbolic link");
}
END_TEST

START_TEST(refuses_foreign_owned_module)
{
    if (geteuid() != 0) {
        fprintf(stderr, "refuses_foreign_owned_module: needs root to chown; not tested\n");
        return;
    }
    char from[600];
    snprintf(from, sizeof from, "%s/debug.so", tu_modules_dir());
    const char *path = copy_module(from, "debug-nobody.so");
    ck_assert_int_eq(chown(path, 65534, 65534), 0);
    expect_module_refused(path, "owned by uid 65534");
}
END_TEST

START_TEST(refuses_missing_module_file)
{
    expect_module_refused("/nonexistent/module.so", "cannot be opened");
}
END_TEST

START_TEST(out_of_range_code_is_error)
{
    char text[1024];
    snprintf(text, sizeof text,
             "stacks: { s = { token = \"none\"; lines = ( { control = \"optional\"; module = "
             "\"%s\"; }, { control = \"required\"; module = \"debug\"; } ); }; };",
             test_module("bad_code"));
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(text, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    /* Even under `optional`, a code outside the enum is error with action
     * bad: a broken module never helps a request through. */
    ck_assert_int_eq(fhirpam_decision_permitted(d), 0);
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_ERROR);
    const char *action = NULL;
    fhirpam_code code;
    ck_assert_int_eq(
        fhirpam_decision_trace_entry(d, 0, NULL, NULL, NULL, NULL, &code, &action, NULL), 0);
    ck_assert_int_eq(code, FHIRPAM_ERROR);
    ck_assert_str_eq(action, "bad");
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
}
END_TEST

/* glibc's dlopen() finds loaded objects by path string, and every module is
 * loaded as /proc/self/fd/N: a second module opened on a reused N must not be
 * taken for the first. */
START_TEST(reused_descriptor_numbers_load_distinct_modules)
{
    fhirpam_error err = {{0}};
    fhirpam_context *a =
        tu_open("stacks: { s = { token = \"none\"; lines = ( { control = \"required\"; module = "
                "\"debug\"; } ); }; };",
                &err);
    ck_assert_msg(a != NULL, "%s", err.text);
    char text[1024];
    snprintf(text, sizeof text,
             "stacks: { s = { token = \"none\"; lines = ( { control = \"required\"; module = "
             "\"%s\"; } ); }; };",
             test_module("echo_args"));
    fhirpam_context *b = tu_open(text, &err);
    ck_assert_msg(b != NULL, "%s", err.text);
    fhirpam_decision *d = tu_authorize(b, "s", "GET", "Patient/1");
    ck_assert_str_eq(fhirpam_decision_reason(d), "echo");
    fhirpam_decision_free(d);
    d = tu_authorize(a, "s", "GET", "Patient/1");
    ck_assert_str_eq(fhirpam_decision_reason(d), "debug_result");
    fhirpam_decision_free(d);
    fhirpam_close(b);
    fhirpam_close(a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("loader");
    tcase_add_test(tc, refuses_wrong_abi_major);
    tcase_add_test(tc, refuses_missing_descriptor);
    tcase_add_test(tc, refuses_short_descriptor);
    tcase_add_test(tc, refuses_non_elf);
    tcase_add_test(tc, refuses_world_writable_module);
    tcase_add_test(tc, refuses_symlinked_module);
    tcase_add_test(tc, refuses_foreign_owned_module);
    tcase_add_test(tc, refuses_missing_module_file);
    tcase_add_test(tc, out_of_range_code_is_error);
    tcase_add_test(tc, reused_descriptor_numbers_load_distinct_modules);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
