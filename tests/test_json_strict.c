/*
 * test_json_strict.c - the strict JSON reader behind token headers and
 * payloads: RFC 8259's grammar, the refusals a security decision needs, and
 * agreement with jansson's own reader on everything both accept.
 */
#include <check.h>
#include <locale.h>
#include <string.h>

#include "json_strict.h"

static const struct {
    const char *text;
    size_t len; /* 0: strlen */
} accepted[] = {
    {"{}", 0},
    {"[]", 0},
    {" \t\r\n{ \"a\" : 1 , \"b\" : [ true , false , null ] }\n", 0},
    {"\"plain\"", 0},
    {"0", 0},
    {"-0", 0},
    {"-12.5e+3", 0},
    {"1E-400", 0}, /* underflow is zero, not an error */
    {"9223372036854775807", 0},
    {"-9223372036854775808", 0},
    {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", 0},
    {"\"\\u00e9\\u20ac\\ud83d\\udd12\"", 0},
    {"\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92\"", 0},
    {"{\"a\":{\"a\":{\"a\":1}}}", 0}, /* the same name at different levels */
    {"{\"\\u0061\":1,\"b\":2}", 0},
};

static const struct {
    const char *text;
    size_t len;
    const char *message;
} refused[] = {
    {"", 0, "unexpected end"},
    {"{", 0, "expected a member name"},
    {"{\"a\":1,}", 0, "expected a member name"},
    {"[1,]", 0, "invalid number"},
    {"{\"a\" 1}", 0, "expected ':'"},
    {"{\"a\":1}{}", 0, "data after the value"},
    {"{\"a\":1} x", 0, "data after the value"},
    {"{\"a\":1}\0{}", 10, "data after the value"},
    {"\xef\xbb\xbf{}", 0, "invalid number"},
    {"{\"a\":1,\"a\":2}", 0, "duplicate"},
    {"{\"exp\":1,\"\\u0065xp\":2}", 0, "duplicate"},
    {"\"\\u0000\"", 0, "\\u0000"},
    {"\"a\0b\"", 5, "control character"},
    {"\"\x01\"", 0, "control character"},
    {"\"\\ud800\"", 0, "lone high surrogate"},
    {"\"\\udc00\"", 0, "lone low surrogate"},
    {"\"\\ud800\\u0041\"", 0, "lone high surrogate"},
    {"\"\\x41\"", 0, "invalid escape"},
    {"\"\\u12g4\"", 0, "invalid escape"},
    {"\"\xc3\x28\"", 0, "invalid UTF-8"},
    {"\"\xc0\xaf\"", 0, "invalid UTF-8"},
    {"\"\xe0\x80\xaf\"", 0, "invalid UTF-8"},
    {"\"\xed\xa0\x80\"", 0, "invalid UTF-8"},
    {"\"\xf4\x90\x80\x80\"", 0, "invalid UTF-8"},
    {"\"\xff\"", 0, "invalid UTF-8"},
    {"\"abc", 0, "unterminated string"},
    {"01", 0, "data after the value"},
    {"+1", 0, "invalid number"},
    {"1.", 0, "invalid number"},
    {".5", 0, "invalid number"},
    {"1e", 0, "invalid number"},
    {"NaN", 0, "invalid number"},
    {"Infinity", 0, "invalid number"},
    {"1e400", 0, "overflow"},
    {"9223372036854775808", 0, "integer out of range"},
    {"-9223372036854775809", 0, "integer out of range"},
    {"12345678901234567890123456789012345678901", 0, "number too long"},
    {"tru", 0, "invalid literal"},
    {"nul", 0, "invalid literal"},
    {"True", 0, "invalid number"},
};

START_TEST(accepts_and_agrees_with_jansson)
{
    const char *text = accepted[_i].text;
    size_t len = accepted[_i].len ? accepted[_i].len : strlen(text);
    char err[128];
    json_t *ours = json_strict_parse(text, len, 32, err, sizeof err);
    ck_assert_msg(ours != NULL, "'%s' refused: %s", text, err);
    json_t *theirs = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    ck_assert_msg(theirs != NULL, "jansson refuses '%s'", text);
    ck_assert_msg(json_equal(ours, theirs), "'%s' reads differently from jansson", text);
    json_decref(ours);
    json_decref(theirs);
}
END_TEST

START_TEST(refuses)
{
    const char *text = refused[_i].text;
    size_t len = refused[_i].len ? refused[_i].len : strlen(text);
    char err[128];
    json_t *v = json_strict_parse(text, len, 32, err, sizeof err);
    ck_assert_msg(v == NULL, "'%s' accepted", text);
    ck_assert_msg(strstr(err, refused[_i].message) != NULL, "'%s': message '%s' lacks '%s'", text,
                  err, refused[_i].message);
}
END_TEST

START_TEST(depth_limit)
{
    char text[256] = "";
    for (int i = 0; i < 33; i++)
        strcat(text, "[");
    for (int i = 0; i < 33; i++)
        strcat(text, "]");
    char err[128];
    ck_assert_ptr_null(json_strict_parse(text, strlen(text), 32, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "nesting too deep"));
    json_t *v = json_strict_parse(text + 1, strlen(text) - 2, 32, err, sizeof err);
    ck_assert_msg(v != NULL, "%s", err);
    json_decref(v);
}
END_TEST

START_TEST(values)
{
    char err[128];
    const char *text = "{\"i\":-42,\"r\":0.5,\"s\":\"\\u00e9\",\"t\":true}";
    json_t *v = json_strict_parse(text, strlen(text), 32, err, sizeof err);
    ck_assert_msg(v != NULL, "%s", err);
    ck_assert(json_is_integer(json_object_get(v, "i")));
    ck_assert_int_eq(json_integer_value(json_object_get(v, "i")), -42);
    ck_assert(json_is_real(json_object_get(v, "r")));
    ck_assert(json_real_value(json_object_get(v, "r")) == 0.5);
    ck_assert_str_eq(json_string_value(json_object_get(v, "s")), "\xc3\xa9");
    ck_assert(json_is_true(json_object_get(v, "t")));
    json_decref(v);
}
END_TEST

/* A host program's LC_NUMERIC must not change what a token says. */
START_TEST(locale_independent)
{
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") == NULL &&
        setlocale(LC_NUMERIC, "fr_FR.UTF-8") == NULL)
        return; /* no such locale installed: nothing to show */
    char err[128];
    json_t *v = json_strict_parse("1800000600.5", 12, 32, err, sizeof err);
    ck_assert_ptr_nonnull(v);
    ck_assert(json_real_value(v) == 1800000600.5);
    json_decref(v);
    setlocale(LC_NUMERIC, "C");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json_strict");
    TCase *t = tcase_create("json_strict");
    tcase_add_loop_test(t, accepts_and_agrees_with_jansson, 0,
                        sizeof accepted / sizeof accepted[0]);
    tcase_add_loop_test(t, refuses, 0, sizeof refused / sizeof refused[0]);
    tcase_add_test(t, depth_limit);
    tcase_add_test(t, values);
    tcase_add_test(t, locale_independent);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
