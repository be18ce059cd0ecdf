/*
 * fuzz_base64url.c - libFuzzer target for strict base64url (base64url.h).
 *
 * What it checks, and why: the verifier's cache and any denylist are keyed on
 * token bytes, so strictness must mean exactly one string per byte sequence.
 *  - Decoding arbitrary input stays inside b64url_decoded_max() (the buffers
 *    are exactly that size, so ASan sees any overflow), and whatever decodes
 *    re-encodes to the input byte for byte: an accepted string is the one
 *    canonical spelling of its bytes (no padding, no stray low bits).
 *  - Encoding the raw input gives b64url_encoded_len() characters, all in the
 *    alphabet and NUL-terminated, which decode back to the input: the
 *    decoder accepts every canonical string.
 *  - b64url_is_alpha() agrees with the RFC 4648 §5 alphabet.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void finding(const char *what)
{
    fprintf(stderr, "fuzz_base64url: %s\n", what);
    abort();
}

/* The alphabet of RFC 4648 §5, written out independently of base64url.c. */
static bool in_alphabet(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        finding("out of memory");
    return p;
}

/* decode, then encode again: must give back the input exactly. */
static void check_decode(const char *in, size_t len)
{
    size_t max = b64url_decoded_max(len);
    unsigned char *dec = xmalloc(max);
    long n = b64url_decode(in, len, dec);
    if (n >= 0) {
        if ((size_t)n > max)
            finding("decode wrote more than b64url_decoded_max()");
        size_t elen = b64url_encoded_len((size_t)n);
        char *enc = xmalloc(elen + 1);
        size_t m = b64url_encode(dec, (size_t)n, enc);
        if (m != elen || enc[m] != '\0')
            finding("encode's length is not b64url_encoded_len()");
        if (m != len || memcmp(enc, in, len) != 0)
            finding("an accepted string is not the canonical encoding of its bytes");
        free(enc);
    }
    free(dec);
}

/* encode, then decode again: must give back the input exactly. */
static void check_encode(const unsigned char *in, size_t len)
{
    size_t elen = b64url_encoded_len(len);
    char *enc = xmalloc(elen + 1);
    size_t m = b64url_encode(in, len, enc);
    if (m != elen || enc[m] != '\0')
        finding("encode's length is not b64url_encoded_len()");
    for (size_t i = 0; i < m; i++) {
        if (!in_alphabet((unsigned char)enc[i]))
            finding("encode produced a character outside the alphabet");
    }
    size_t max = b64url_decoded_max(m);
    unsigned char *dec = xmalloc(max);
    long n = b64url_decode(enc, m, dec);
    if (n < 0)
        finding("decode refused what encode produced");
    if ((size_t)n != len || memcmp(dec, in, len) != 0)
        finding("decode(encode(x)) is not x");
    free(dec);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (b64url_is_alpha(data[i]) != in_alphabet(data[i]))
            finding("b64url_is_alpha() disagrees with the alphabet");
    }
    check_decode((const char *)data, size);
    check_encode(data, size);
    return 0;
}
