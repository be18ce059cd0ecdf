/*
 * test_jsonw.c - the JSON writer behind decisions and audit records: the
 * output is valid JSON whatever bytes a request carried.
 */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

static char *write_string(const char *s, size_t len)
{
    jsonw w;
    jw_init(&w);
    jw_begin_object(&w);
    jw_key(&w, "v");
    jw_string_n(&w, s, len);
    jw_end_object(&w);
    return jw_take(&w);
}

static const struct {
    const char *in;
    size_t len;
    const char *json;
} rows[] = {
    {"plain", 5, "{\"v\":\"plain\"}"},
    {"q\"b\\", 4, "{\"v\":\"q\\\"b\\\\\"}"},
    {"a\nb\rc\td", 7, "{\"v\":\"a\\nb\\rc\\td\"}"},
    {"\x01\x1f", 2, "{\"v\":\"\\u0001\\u001f\"}"},
    {"nul\0x", 5, "{\"v\":\"nul\\u0000x\"}"},
    {"caf\xc3\xa9", 5, "{\"v\":\"caf\xc3\xa9\"}"},
    {"\xf0\x9f\x94\x92", 4, "{\"v\":\"\xf0\x9f\x94\x92\"}"},
    /* Characters that break lines for some readers, escaped so that one
     * record stays one line: U+2028, U+2029, U+0085 (NEL) and the other C1
     * controls. Their neighbours stay raw. */
    {"a\xe2\x80\xa8"
     "b",
     5, "{\"v\":\"a\\u2028b\"}"},
    {"\xe2\x80\xa9", 3, "{\"v\":\"\\u2029\"}"},
    {"x\xc2\x85y", 4, "{\"v\":\"x\\u0085y\"}"},
    {"\xc2\x80\xc2\x9f", 4, "{\"v\":\"\\u0080\\u009f\"}"},
    {"\xc2\xa0\xe2\x80\xa7\xe2\x80\xaa", 8, "{\"v\":\"\xc2\xa0\xe2\x80\xa7\xe2\x80\xaa\"}"},
    /* Invalid UTF-8 becomes U+FFFD, byte by byte. */
    {"\xff", 1, "{\"v\":\"\\ufffd\"}"},
    {"\xc3", 1, "{\"v\":\"\\ufffd\"}"},
    {"\xc0\xaf", 2, "{\"v\":\"\\ufffd\\ufffd\"}"},                       /* overlong '/' */
    {"\xed\xa0\x80", 3, "{\"v\":\"\\ufffd\\ufffd\\ufffd\"}"},            /* surrogate */
    {"\xf4\x90\x80\x80", 4, "{\"v\":\"\\ufffd\\ufffd\\ufffd\\ufffd\"}"}, /* > U+10FFFF */
};

START_TEST(escapes_strings)
{
    char *out = write_string(rows[_i].in, rows[_i].len);
    ck_assert_str_eq(out, rows[_i].json);
    /* RFC 8259 allows \u0000; jansson wants to be told. */
    json_t *v = json_loads(out, JSON_ALLOW_NUL, NULL);
    ck_assert_msg(v != NULL, "not valid JSON: %s", out);
    json_decref(v);
    free(out);
}
END_TEST

START_TEST(structure_and_commas)
{
    jsonw w;
    jw_init(&w);
    jw_begin_object(&w);
    jw_key(&w, "a");
    jw_int(&w, -3);
    jw_key(&w, "b");
    jw_begin_array(&w);
    jw_bool(&w, true);
    jw_null(&w);
    jw_begin_object(&w);
    jw_end_object(&w);
    jw_string(&w, NULL);
    jw_end_array(&w);
    jw_key(&w, "c");
    jw_raw(&w, "{\"x\":1}", 7);
    jw_key(&w, "d");
    jw_uint(&w, 18446744073709551615u);
    jw_end_object(&w);
    char *out = jw_take(&w);
    ck_assert_str_eq(
        out, "{\"a\":-3,\"b\":[true,null,{},null],\"c\":{\"x\":1},\"d\":18446744073709551615}");
    free(out);
}
END_TEST

START_TEST(too_deep_fails_cleanly)
{
    jsonw w;
    jw_init(&w);
    for (int i = 0; i < JSONW_MAX_DEPTH + 1; i++)
        jw_begin_array(&w);
    ck_assert(w.failed);
    ck_assert_ptr_null(jw_take(&w));
    jw_init(&w);
    jw_end_object(&w);
    ck_assert(w.failed);
    jw_free(&w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jsonw");
    TCase *tc = tcase_create("jsonw");
    tcase_add_loop_test(tc, escapes_strings, 0, (int)(sizeof rows / sizeof rows[0]));
    tcase_add_test(tc, structure_and_commas);
    tcase_add_test(tc, too_deep_fails_cleanly);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
