/*
 * test_base64url.c - strict base64url: RFC 4648 §10's vectors in the URL
 * alphabet without padding, and every way a decoder can be lenient
 * (jwt-verification.md §3 item 8).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base64url.h"

static const struct {
    const char *plain, *encoded;
} rfc4648[] = {
    {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

START_TEST(rfc4648_vectors)
{
    const char *plain = rfc4648[_i].plain, *enc = rfc4648[_i].encoded;
    char out[32];
    ck_assert_uint_eq(b64url_encode((const unsigned char *)plain, strlen(plain), out), strlen(enc));
    ck_assert_str_eq(out, enc);
    ck_assert_uint_eq(b64url_encoded_len(strlen(plain)), strlen(enc));
    unsigned char back[32];
    long n = b64url_decode(enc, strlen(enc), back);
    ck_assert_int_eq(n, (long)strlen(plain));
    ck_assert(memcmp(back, plain, (size_t)n) == 0);
}
END_TEST

/* The URL alphabet: 62 is '-', 63 is '_' (RFC 4648 §5). */
START_TEST(url_alphabet)
{
    const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    char out[8];
    b64url_encode(bytes, 3, out);
    ck_assert_str_eq(out, "-_-_");
    unsigned char back[4];
    ck_assert_int_eq(b64url_decode("-_-_", 4, back), 3);
    ck_assert(memcmp(back, bytes, 3) == 0);
}
END_TEST

static const char *const refused[] = {
    "Zg==",    /* padding */
    "Zg=",     /* partial padding */
    "Zm9v+w",  /* standard alphabet */
    "Zm9v/w",  /* standard alphabet */
    "Zm 9v",   /* whitespace inside */
    " Zm9v",   /* leading whitespace */
    "Zm9v\n",  /* trailing newline */
    "Z",       /* length 1 mod 4 */
    "Zm9vY",   /* length 1 mod 4 */
    "Zh",      /* unused bits of 'h' set: "Zg" is the one spelling of "f" */
    "Zm9",     /* unused bits set: "Zm8" is "fo" */
    "Zm9vYmF", /* unused bits set */
    "Zm9v.",   /* a dot */
    "Zm\x80v", /* non-ASCII */
};

START_TEST(refuses_lenient_forms)
{
    unsigned char out[16];
    const char *in = refused[_i];
    ck_assert_msg(b64url_decode(in, strlen(in), out) < 0, "'%s' was accepted", in);
}
END_TEST

START_TEST(embedded_nul_refused)
{
    unsigned char out[8];
    ck_assert_int_lt(b64url_decode("Zm\0v", 4, out), 0);
}
END_TEST

/* Every byte string has exactly one encoding, and it decodes back. */
START_TEST(round_trip)
{
    unsigned char in[64], back[64];
    char enc[100];
    unsigned seed = 12345;
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(round % 64);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            in[i] = (unsigned char)(seed >> 16);
        }
        size_t n = b64url_encode(in, len, enc);
        ck_assert_uint_eq(n, b64url_encoded_len(len));
        ck_assert(b64url_decoded_max(n) >= len);
        ck_assert_int_eq(b64url_decode(enc, n, back), (long)len);
        ck_assert(memcmp(in, back, len) == 0);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("base64url");
    TCase *t = tcase_create("base64url");
    tcase_add_loop_test(t, rfc4648_vectors, 0, sizeof rfc4648 / sizeof rfc4648[0]);
    tcase_add_test(t, url_alphabet);
    tcase_add_loop_test(t, refuses_lenient_forms, 0, sizeof refused / sizeof refused[0]);
    tcase_add_test(t, embedded_nul_refused);
    tcase_add_test(t, round_trip);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
