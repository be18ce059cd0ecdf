/*
 * base64url.h - strict base64url (RFC 4648 §5) as JWS uses it (RFC 7515 §2).
 *
 * Strict means one string per byte sequence, so that a signature covers one
 * token and a cache or a denylist keyed on token bytes cannot be dodged:
 * only A-Z a-z 0-9 - _, no padding, no whitespace, a length that is not
 * 1 mod 4, and the unused low bits of the last character zero.
 */
#ifndef FHIRPAM_CORE_BASE64URL_H
#define FHIRPAM_CORE_BASE64URL_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes needed to decode len characters (an upper bound). */
static inline size_t b64url_decoded_max(size_t len)
{
    return len / 4 * 3 + 2;
}

/* Bytes that len characters of strict base64url decode to (exactly), or 0
 * for a length no strict encoding has (len % 4 == 1). */
static inline size_t b64url_decoded_len(size_t len)
{
    return len % 4 == 1 ? 0 : len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
}

/* Characters needed to encode len bytes, without the terminating NUL. */
static inline size_t b64url_encoded_len(size_t len)
{
    return len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
}

/* Each byte's 6-bit value, or B64URL_INVALID outside the alphabet. */
#define B64URL_INVALID 0x80
extern const unsigned char b64url_values[256];

/* True when c is in the base64url alphabet. */
static inline bool b64url_is_alpha(unsigned char c)
{
    return b64url_values[c] != B64URL_INVALID;
}

/* Decodes in[0..len) into out (room for b64url_decoded_max(len)); returns
 * the decoded length, or -1 when the input is not strict base64url. */
long b64url_decode(const char *in, size_t len, unsigned char *out);

/* Encodes in[0..len) into out (room for b64url_encoded_len(len) + 1) and
 * NUL-terminates it; returns the encoded length. */
size_t b64url_encode(const unsigned char *in, size_t len, char *out);

#endif
