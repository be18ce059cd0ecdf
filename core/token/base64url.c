/* base64url.c - see base64url.h. */
#include "base64url.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Filled from the alphabet once; B64URL_INVALID everywhere else. */
#define X     B64URL_INVALID
#define ROW16 X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X
const unsigned char b64url_values[256] = {
    ROW16,
    ROW16,
    /* ' ' .. '/': only '-' (45) */
    X,
    X,
    X,
    X,
    X,
    X,
    X,
    X,
    X,
    X,
    X,
    X,
    X,
    62,
    X,
    X,
    /* '0' .. '?' */
    52,
    53,
    54,
    55,
    56,
    57,
    58,
    59,
    60,
    61,
    X,
    X,
    X,
    X,
    X,
    X,
    /* '@' .. 'O' */
    X,
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    /* 'P' .. '_': '_' (95) is 63 */
    15,
    16,
    17,
    18,
    19,
    20,
    21,
    22,
    23,
    24,
    25,
    X,
    X,
    X,
    X,
    63,
    /* '`' .. 'o' */
    X,
    26,
    27,
    28,
    29,
    30,
    31,
    32,
    33,
    34,
    35,
    36,
    37,
    38,
    39,
    40,
    /* 'p' .. DEL */
    41,
    42,
    43,
    44,
    45,
    46,
    47,
    48,
    49,
    50,
    51,
    X,
    X,
    X,
    X,
    X,
    ROW16,
    ROW16,
    ROW16,
    ROW16,
    ROW16,
    ROW16,
    ROW16,
    ROW16,
};
#undef ROW16
#undef X

long b64url_decode(const char *in, size_t len, unsigned char *out)
{
    if (len % 4 == 1)
        return -1;
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0, i = 0;
    /* Four characters, three bytes, at a time. */
    for (; i + 4 <= len; i += 4) {
        unsigned a = b64url_values[p[i]], b = b64url_values[p[i + 1]];
        unsigned c = b64url_values[p[i + 2]], d = b64url_values[p[i + 3]];
        if ((a | b | c | d) & B64URL_INVALID)
            return -1;
        unsigned long v = (unsigned long)a << 18 | b << 12 | c << 6 | d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    /* Two or three characters left carry one or two bytes; the bits they
     * leave over must be zero, or two strings would decode the same. */
    if (len - i >= 2) {
        unsigned a = b64url_values[p[i]], b = b64url_values[p[i + 1]];
        unsigned c = len - i == 3 ? b64url_values[p[i + 2]] : 0;
        if ((a | b | c) & B64URL_INVALID)
            return -1;
        out[o++] = (unsigned char)(a << 2 | b >> 4);
        if (len - i == 3) {
            out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
            if (c & 3)
                return -1;
        } else if (b & 15) {
            return -1;
        }
    }
    return (long)o;
}

size_t b64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (len - i == 1) {
        unsigned long v = (unsigned long)in[i] << 16;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
    } else if (len - i == 2) {
        unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}
