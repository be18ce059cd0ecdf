/*
 * jsonw.h - a small streaming JSON writer into a growable buffer.
 *
 * Used for decisions and audit records, which are written on every request:
 * no jansson object tree, one buffer, and strings escaped so that the output is
 * always valid JSON even when the input (a URL, a header) is not valid UTF-8.
 */
#ifndef FHIRPAM_CORE_JSONW_H
#define FHIRPAM_CORE_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSONW_MAX_DEPTH 16

typedef struct jsonw {
    char *data;
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed or nesting went too deep: output unusable */
    int depth;
    bool need_comma[JSONW_MAX_DEPTH];
    bool after_key;
} jsonw;

void jw_init(jsonw *w);
void jw_free(jsonw *w);
/* Hand the NUL-terminated text to the caller (who frees it), or NULL when the
 * writer failed. The writer is left empty. */
char *jw_take(jsonw *w);

void jw_begin_object(jsonw *w);
void jw_end_object(jsonw *w);
void jw_begin_array(jsonw *w);
void jw_end_array(jsonw *w);
void jw_key(jsonw *w, const char *key);
/* A string value; NULL writes null. */
void jw_string(jsonw *w, const char *s);
void jw_string_n(jsonw *w, const char *s, size_t len);
void jw_int(jsonw *w, int64_t v);
void jw_uint(jsonw *w, uint64_t v);
void jw_bool(jsonw *w, bool v);
void jw_null(jsonw *w);
/* Already-serialised JSON, copied as is. */
void jw_raw(jsonw *w, const char *json, size_t len);
/* Raw bytes outside any JSON structure (e.g. the final newline). */
void jw_append(jsonw *w, const char *bytes, size_t len);

#endif
