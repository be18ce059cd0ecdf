/*
 * hex.h - the value of one hexadecimal digit, for the percent-decoders of
 * the request model, the redact obligation and fhirpamd.
 */
#ifndef FHIRPAM_HEX_H
#define FHIRPAM_HEX_H

/* 0-15, or -1 when c is not a hexadecimal digit. */
static inline int hex_digit(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

#endif
