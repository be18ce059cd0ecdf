/*
 * test_bundle_edit.c - cutting Bundle entries out of the JSON text
 * (tools/nginx/bundle_edit.c): the entries named go, the rest stays byte for
 * byte, and whatever the scanner could read differently from the library is
 * refused.
 */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "bundle_edit.h"

static int edit(const char *in, const size_t *remove, size_t n, char *out)
{
    size_t len = 0;
    int rc = bundle_edit_remove_entries(in, strlen(in), remove, n, out, &len);
    if (rc == 0)
        out[len] = '\0';
    return rc;
}

START_TEST(removes_the_entries_named_and_total)
{
    char out[512];
    const size_t rm[] = {1, 3};
    ck_assert_int_eq(
        edit("{ \"resourceType\" : \"Bundle\", \"total\": 4,\n \"entry\": [ {\"a\":1.50}, "
             "{\"b\":[1,{\"c\":\"]}\"}]}, {\"d\":\"\\\"x\"} ,{\"e\":null} ],"
             "\"link\":[]}",
             rm, 2, out),
        0);
    ck_assert_str_eq(out,
                     "{\"resourceType\" : \"Bundle\",\"entry\":[{\"a\":1.50},{\"d\":\"\\\"x\"}],"
                     "\"link\":[]}");
    json_t *doc = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "entry")), 2);
    json_decref(doc);
}
END_TEST

START_TEST(every_entry_removed)
{
    char out[256];
    const size_t rm[] = {0, 1};
    ck_assert_int_eq(edit("{\"entry\":[{},{}]}", rm, 2, out), 0);
    ck_assert_str_eq(out, "{\"entry\":[]}");
}
END_TEST

START_TEST(refused)
{
    char out[256];
    const size_t one[] = {0}, two[] = {1, 1}, far[] = {5};
    /* an escape in a top-level name could spell "entry" */
    ck_assert_int_eq(edit("{\"entr\\u0079\":[{}],\"entry\":[{}]}", one, 1, out), -1);
    ck_assert_int_eq(edit("{\"entry\":[{}],\"entry\":[{}]}", one, 1, out), -1); /* repeated */
    ck_assert_int_eq(edit("{\"entry\":{}}", one, 1, out), -1);                  /* not an array */
    ck_assert_int_eq(edit("{\"resourceType\":\"Bundle\"}", one, 1, out), -1);   /* missing */
    ck_assert_int_eq(edit("{\"entry\":[{},{}]}", far, 1, out), -1);             /* beyond */
    ck_assert_int_eq(edit("{\"entry\":[{},{}]}", two, 2, out), -1);             /* not ascending */
    ck_assert_int_eq(edit("[{\"entry\":[{}]}]", one, 1, out), -1);              /* not an object */
    ck_assert_int_eq(edit("{\"entry\":[{}]} x", one, 1, out), -1);              /* trailing */
    ck_assert_int_eq(edit("{\"entry\":[{\"a\":\"x}]}", one, 1, out), -1);       /* unterminated */
    ck_assert_int_eq(edit("{\"entry\":[[}]]}", one, 1, out), -1);               /* mismatched */
    /* nesting deeper than the scanner follows */
    size_t n = 3000;
    char *deep = malloc(2 * n + 64);
    char *p = deep + sprintf(deep, "{\"entry\":[");
    for (size_t i = 0; i < n; i++)
        *p++ = '[';
    for (size_t i = 0; i < n; i++)
        *p++ = ']';
    strcpy(p, "]}");
    char *big = malloc(strlen(deep) + 1);
    size_t len;
    ck_assert_int_eq(bundle_edit_remove_entries(deep, strlen(deep), one, 1, big, &len), -1);
    free(big);
    free(deep);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bundle_edit");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, removes_the_entries_named_and_total);
    tcase_add_test(tc, every_entry_removed);
    tcase_add_test(tc, refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
