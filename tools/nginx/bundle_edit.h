/*
 * bundle_edit.h - cutting entries out of a FHIR Bundle's JSON text, for a
 * response fhirpam_check_response() allowed "without entries i, j, ...".
 *
 * The text is edited, not parsed and printed again: a FHIR decimal such as
 * 1.50 must reach the client as the server wrote it, which a round trip
 * through a JSON library's doubles would not keep. Plain C, no nginx types:
 * unit-tested (tests/test_bundle_edit.c) and fuzzed against jansson
 * (fuzz/fuzz_bundle_edit.c).
 */
#ifndef FHIRPAM_NGINX_BUNDLE_EDIT_H
#define FHIRPAM_NGINX_BUNDLE_EDIT_H

#include <stddef.h>

/*
 * json[0..len) is a JSON object (the library has parsed it already). Writes
 * it to out (room for len bytes) without the elements of its top-level
 * "entry" array at the 0-based indexes remove[0..nremove) (strictly
 * ascending), and without its top-level "total" member (a count of matches
 * would tell how many were removed). Whitespace between top-level members
 * and between entries is dropped; everything else is copied byte for byte.
 *
 * Returns 0 and sets *outlen, or -1, and then nothing may be sent: the text
 * is not one object (per this scanner: nesting deeper than 2048, a bad
 * token, trailing bytes), a top-level member name holds an escape (it could
 * spell "entry" in a way this scanner does not decode), "entry" is missing,
 * repeated or not an array, an index is beyond its end, or the indexes are
 * not strictly ascending.
 */
int bundle_edit_remove_entries(const char *json, size_t len, const size_t *remove, size_t nremove,
                               char *out, size_t *outlen);

#endif
