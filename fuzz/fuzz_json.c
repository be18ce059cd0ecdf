/*
 * fuzz_json.c - the strict JSON reader against jansson's, differentially.
 *
 * Whatever the strict reader accepts, jansson (with duplicates refused)
 * must accept and read as the same value; the strict reader may refuse more
 * (nesting deeper than 32, numbers longer than JSON_STRICT_MAX_NUMBER, and
 * any text with a raw NUL byte, where jansson stops reading and ignores the
 * rest: `null\0garbage`), but anything else jansson accepts it must accept.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_strict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char err[128];
    json_t *ours = json_strict_parse((const char *)data, size, 32, err, sizeof err);
    json_t *theirs =
        json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (ours != NULL) {
        if (theirs == NULL || !json_equal(ours, theirs))
            abort();
    } else if (theirs != NULL && strstr(err, "nesting too deep") == NULL &&
               strstr(err, "number too long") == NULL && memchr(data, 0, size) == NULL) {
        abort();
    }
    json_decref(ours);
    json_decref(theirs);
    return 0;
}
