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
#include <sys/types.h>
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
    expect_module_refused(path, "is not an ELF file");
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

/* ---- the whole path (issue 28 row 1) ---- */

/* A directory under the test's tmpdir with `mode`, holding copies of the
 * debug and scope_check modules. */
static const char *module_dir(const char *name, unsigned mode)
{
    static char dirs[4][600];
    static int next;
    char *dir = dirs[next++ % 4];
    snprintf(dir, sizeof dirs[0], "%s/%s", tu_tmpdir(), name);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    static const char *const names[] = {"debug", "scope_check"};
    for (size_t i = 0; i < 2; i++) {
        char from[600], to[700];
        snprintf(from, sizeof from, "%s/%s.so", tu_modules_dir(), names[i]);
        snprintf(to, sizeof to, "%s/%s.so", dir, names[i]);
        tu_copy(from, to, 0644);
    }
    ck_assert_int_eq(chmod(dir, (mode_t)mode), 0);
    return dir;
}

/* A config whose one stack runs scope_check from modules_dir `dir`, with
 * token = "none": no scopes at all, so scope_check denies every request. */
static const char *scope_config(const char *dir)
{
    static char text[1024];
    snprintf(text, sizeof text,
             "modules_dir = \"%s\";\n"
             "stacks: { s = { token = \"none\"; lines = ( { control = \"required\"; module = "
             "\"scope_check\"; } ); }; };\n",
             dir);
    return text;
}

/* Like tu_expect_load_error, but the configuration's own modules_dir
 * decides (no --modules-dir override). */
static void expect_scope_config_refused(const char *dir, const char *needle)
{
    fhirpam_error err = {{0}};
    const char *path = tu_config(scope_config(dir));
    fhirpam_context *ctx = fhirpam_open(path, NULL, &err);
    ck_assert_msg(ctx == NULL, "modules_dir %s loaded but should fail with '%s'", dir, needle);
    ck_assert_msg(strstr(err.text, needle) != NULL, "error '%s' does not mention '%s'", err.text,
                  needle);
}

static void expect_open_fails(const char *config_path, const char *modules_dir, const char *needle)
{
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = fhirpam_open(config_path, modules_dir, &err);
    ck_assert_msg(ctx == NULL, "%s loaded, but should fail with '%s'", config_path, needle);
    ck_assert_msg(strstr(err.text, needle) != NULL, "error '%s' does not mention '%s'", err.text,
                  needle);
}

static int rename_debug_over_scope_check(void *dir)
{
    char from[700], to[700];
    snprintf(from, sizeof from, "%s/debug.so", (const char *)dir);
    snprintf(to, sizeof to, "%s/scope_check.so", (const char *)dir);
    return rename(from, to) == 0 ? 0 : 1;
}

START_TEST(refuses_group_writable_modules_dir)
{
    const char *dir = module_dir("mods-g", 0775);
    char needle[700];
    snprintf(needle, sizeof needle, "lies under %s, which is group-writable (mode 0775)", dir);
    expect_scope_config_refused(dir, needle);
    if (tu_root_or_skip("refuses_group_writable_modules_dir: the rename as uid 4242")) {
        /* The attack of issue 28: uid 4242, in the directory's group,
         * renames the root-owned debug.so (which permits) over
         * scope_check.so. It can; the loader must refuse the directory. */
        ck_assert_int_eq(chmod(tu_tmpdir(), 0711), 0);
        ck_assert_int_eq(chown(dir, 0, TU_OTHER_UID), 0);
        ck_assert_int_eq(tu_as_other_user(rename_debug_over_scope_check, (void *)dir), 0);
        expect_scope_config_refused(dir, needle);
    }
    /* Safe again (0755): loads. */
    ck_assert_int_eq(chmod(dir, 0755), 0);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = fhirpam_open(tu_config(scope_config(dir)), NULL, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    fhirpam_close(ctx);
}
END_TEST

START_TEST(refuses_world_writable_and_sticky_dirs)
{
    const char *dir = module_dir("mods-w", 0777);
    expect_scope_config_refused(dir, "which is world-writable (mode 0777)");
    ck_assert_int_eq(chmod(dir, 01777), 0);
    expect_scope_config_refused(dir, "which is world-writable (mode 1777, sticky)");
    /* The same for the configuration file itself, and for /tmp. */
    char conf[700];
    snprintf(conf, sizeof conf, "%s/c.conf", dir);
    tu_copy(tu_config("stacks: { s = { token = \"none\"; lines = ( ); }; };"), conf, 0600);
    expect_open_fails(conf, tu_modules_dir(), "(mode 1777, sticky)");
    char tmp[] = "/tmp/fhirpam-loader-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    char in_tmp[64];
    snprintf(in_tmp, sizeof in_tmp, "%s/c.conf", tmp);
    tu_copy(conf, in_tmp, 0600);
    struct stat st;
    if (stat("/tmp", &st) == 0 && (st.st_mode & S_IWOTH))
        expect_open_fails(in_tmp, tu_modules_dir(), "lies under /tmp, which is world-writable");
    unlink(in_tmp);
    rmdir(tmp);
}
END_TEST

START_TEST(refuses_foreign_owned_directory)
{
    if (!tu_root_or_skip("refuses_foreign_owned_directory"))
        return;
    const char *dir = module_dir("mods-4242", 0755);
    ck_assert_int_eq(chown(dir, TU_OTHER_UID, TU_OTHER_UID), 0);
    char needle[700];
    snprintf(needle, sizeof needle, "lies under %s, which is owned by uid 4242", dir);
    expect_scope_config_refused(dir, needle);
    /* A module path through it fails the same way. */
    char path[700];
    snprintf(path, sizeof path, "%s/debug.so", dir);
    expect_module_refused(path, needle);
}
END_TEST

static int swap_dir_for_symlink(void *dir)
{
    /* uid 4242 owns the parent: it may rename the directory away and put a
     * symbolic link to a directory of its own in its place. */
    char parent[700], away[700], own[700];
    snprintf(parent, sizeof parent, "%s", (const char *)dir);
    snprintf(away, sizeof away, "%s.old", parent);
    snprintf(own, sizeof own, "%s.own", parent);
    if (rename(parent, away) != 0 || mkdir(own, 0755) != 0 || symlink(own, parent) != 0)
        return 1;
    return 0;
}

START_TEST(refuses_symbolic_links_on_the_path)
{
    char real[600], link[600], path[700];
    snprintf(real, sizeof real, "%s/real", tu_tmpdir());
    snprintf(link, sizeof link, "%s/link", tu_tmpdir());
    ck_assert_int_eq(mkdir(real, 0755), 0);
    ck_assert_int_eq(symlink(real, link), 0);
    char from[600];
    snprintf(from, sizeof from, "%s/debug.so", tu_modules_dir());
    snprintf(path, sizeof path, "%s/debug.so", real);
    tu_copy(from, path, 0644);
    snprintf(path, sizeof path, "%s/debug.so", link);
    char needle[700];
    snprintf(needle, sizeof needle, "is reached through %s, which is a symbolic link", link);
    expect_module_refused(path, needle);
    expect_scope_config_refused(link, needle);

    if (tu_root_or_skip("refuses_symbolic_links_on_the_path: the swap as uid 4242")) {
        /* Issue 28: a parent directory owned by another user, swapped for
         * a symbolic link. The owner check refuses it before the swap, the
         * symbolic link after it. */
        char base[600], dir[700];
        snprintf(base, sizeof base, "%s/theirs", tu_tmpdir());
        ck_assert_int_eq(mkdir(base, 0755), 0);
        snprintf(dir, sizeof dir, "%s/mods", base);
        ck_assert_int_eq(mkdir(dir, 0755), 0);
        ck_assert_int_eq(chmod(tu_tmpdir(), 0711), 0);
        ck_assert_int_eq(chown(base, TU_OTHER_UID, TU_OTHER_UID), 0);
        ck_assert_int_eq(tu_as_other_user(swap_dir_for_symlink, dir), 0);
        ck_assert_int_eq(chown(base, 0, 0), 0);
        snprintf(needle, sizeof needle, "is reached through %s, which is a symbolic link", dir);
        expect_scope_config_refused(dir, needle);
    }
}
END_TEST

START_TEST(refuses_relative_module_locations)
{
    tu_expect_load_error("modules_dir = \"build/modules\";\n"
                         "stacks: { s = { token = \"none\"; lines = ( ); }; };",
                         1, "modules_dir 'build/modules' must be an absolute path");
    expect_module_refused("modules/debug.so", "must be absolute");
    /* "." and ".." are resolved by name; nothing is followed. */
    char path[700];
    snprintf(path, sizeof path, "%s/./x/../debug.so", tu_modules_dir());
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

static int replace_config(void *path)
{
    /* Whoever can write to the directory replaces the file by rename. */
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.new", (const char *)path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return 1;
    fputs("stacks: { s = { token = \"none\"; lines = ( { control = \"required\"; module = "
          "\"debug\"; } ); }; };\n",
          f);
    fclose(f);
    return rename(tmp, path) == 0 ? 0 : 1;
}

START_TEST(refuses_config_and_key_set_in_writable_dirs)
{
    char dir[600], conf[700];
    snprintf(dir, sizeof dir, "%s/etc", tu_tmpdir());
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(conf, sizeof conf, "%s/fhirpam.conf", dir);
    tu_copy(tu_config("stacks: { s = { token = \"none\"; lines = ( ); }; };"), conf, 0600);
    ck_assert_int_eq(chmod(dir, 0775), 0);
    char needle[700];
    snprintf(needle, sizeof needle, "lies under %s, which is group-writable", dir);
    expect_open_fails(conf, tu_modules_dir(), needle);
    if (tu_root_or_skip("refuses_config_and_key_set_in_writable_dirs: the rename as uid 4242")) {
        ck_assert_int_eq(chmod(tu_tmpdir(), 0711), 0);
        ck_assert_int_eq(chown(dir, 0, TU_OTHER_UID), 0);
        ck_assert_int_eq(tu_as_other_user(replace_config, conf), 0);
        expect_open_fails(conf, tu_modules_dir(), needle);
    }

    /* A key set the configuration names, in such a directory. */
    char keys[600], jwks[700], text[1024];
    snprintf(keys, sizeof keys, "%s/keys", tu_tmpdir());
    ck_assert_int_eq(mkdir(keys, 0775), 0);
    ck_assert_int_eq(chmod(keys, 0775), 0);
    snprintf(jwks, sizeof jwks, "%s/jwks.json", keys);
    tu_copy(tu_write("jwks.json", "{\"keys\":[]}"), jwks, 0644);
    snprintf(text, sizeof text,
             "token: { issuer = \"https://ehr\"; audience = \"https://fhir\"; jwks = \"%s\"; };\n"
             "stacks: { s = ( ); };",
             jwks);
    snprintf(needle, sizeof needle, "lies under %s, which is group-writable", keys);
    tu_expect_load_error(text, 1, needle);
}
END_TEST

START_TEST(relative_config_path_is_fixed_at_open)
{
    const char *conf = tu_config("stacks: { s = { token = \"none\"; lines = ( { control = "
                                 "\"required\"; module = \"debug\"; } ); }; };");
    char cwd[600];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(tu_tmpdir()), 0);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = fhirpam_open(strrchr(conf, '/') + 1, tu_modules_dir(), &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    /* The host moves: a reload still reads the same file. */
    ck_assert_int_eq(chdir("/"), 0);
    ck_assert_msg(fhirpam_reload(ctx, &err) == 0, "%s", err.text);
    fhirpam_close(ctx);
    ck_assert_int_eq(chdir(cwd), 0);
}
END_TEST

/* ---- the private copy (issue 28 rows 4 and 5) ---- */

static void write_over(const char *from, const char *to)
{
    /* `cp from to`: the same inode, rewritten in place. */
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_TRUNC | O_CLOEXEC);
    ck_assert_int_ge(in, 0);
    ck_assert_int_ge(out, 0);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        ck_assert_int_eq(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
}

START_TEST(rewriting_a_loaded_module_changes_nothing)
{
    char from[600];
    snprintf(from, sizeof from, "%s/debug.so", tu_modules_dir());
    const char *path = copy_module(from, "policy.so");
    struct stat before, after;
    ck_assert_int_eq(stat(path, &before), 0);
    char text[1024];
    snprintf(text, sizeof text,
             "stacks: { s = { token = \"none\"; lines = ( { control = \"required\"; module = "
             "\"%s\"; } ); }; };",
             path);
    const char *conf = tu_config(text);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = fhirpam_open(conf, tu_modules_dir(), &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_str_eq(fhirpam_decision_reason(d), "debug_result");
    fhirpam_decision_free(d);

    write_over(test_module("ctor_ok"), path);
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert(before.st_ino == after.st_ino);
    /* The code that runs is the copy loaded: the same answer, no crash. */
    for (int i = 0; i < 3; i++) {
        d = tu_authorize(ctx, "s", "GET", "Patient/1");
        ck_assert_str_eq(fhirpam_decision_reason(d), "debug_result");
        fhirpam_decision_free(d);
    }
    /* A reload loads what the file holds now. */
    ck_assert_msg(fhirpam_reload(ctx, &err) == 0, "%s", err.text);
    d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_str_eq(fhirpam_decision_reason(d), "ctor_probe");
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
}
END_TEST

START_TEST(refused_modules_run_no_code)
{
    char marker[600];
    snprintf(marker, sizeof marker, "%s/ctor-ran", tu_tmpdir());
    setenv("FHIRPAM_TEST_CTOR_MARKER", marker, 1);
    unlink(marker);
    expect_module_refused(test_module("ctor_bad_abi"), "was built for module ABI 2.");
    ck_assert_msg(access(marker, F_OK) != 0, "the wrong-ABI module's constructor ran");
    expect_module_refused(test_module("ctor_no_descriptor"),
                          "exports no fhirpam_module_descriptor");
    ck_assert_msg(access(marker, F_OK) != 0, "the descriptor-less module's constructor ran");
    expect_module_refused(test_module("runpath"), "carries an RPATH or RUNPATH");
    /* The control: a valid module's constructor does leave the mark. */
    char text[1024];
    snprintf(text, sizeof text,
             "stacks: { s = { token = \"none\"; lines = ( { control = \"required\"; module = "
             "\"%s\"; } ); }; };",
             test_module("ctor_ok"));
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(text, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    ck_assert_msg(access(marker, F_OK) == 0, "the valid module's constructor left no mark");
    fhirpam_close(ctx);
    unsetenv("FHIRPAM_TEST_CTOR_MARKER");
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
    tcase_add_test(tc, refuses_group_writable_modules_dir);
    tcase_add_test(tc, refuses_world_writable_and_sticky_dirs);
    tcase_add_test(tc, refuses_foreign_owned_directory);
    tcase_add_test(tc, refuses_symbolic_links_on_the_path);
    tcase_add_test(tc, refuses_relative_module_locations);
    tcase_add_test(tc, refuses_config_and_key_set_in_writable_dirs);
    tcase_add_test(tc, relative_config_path_is_fixed_at_open);
    tcase_add_test(tc, rewriting_a_loaded_module_changes_nothing);
    tcase_add_test(tc, refused_modules_run_no_code);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
