/*
 * strmap.h - a string-keyed hash table built once at load and then only
 * read (concurrently, without locks): patient id -> consents, "Type/id" ->
 * identifiers, client_id -> identifiers. Keys and values are borrowed (they
 * live in the index's arena).
 */
#ifndef FHIRPAM_CONSENT_STRMAP_H
#define FHIRPAM_CONSENT_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct strmap {
    struct strmap_slot *slots;
    size_t mask; /* capacity - 1, a power of two; slots NULL when empty */
    size_t count;
} strmap;

void strmap_free(strmap *m);
/* Inserts key -> value; an existing key keeps its value and *existing (if
 * not NULL) receives it. 0, or -1 when out of memory. */
int strmap_put(strmap *m, const char *key, void *value, void **existing);
/* The value of key (len bytes, not necessarily NUL-terminated), or NULL. */
void *strmap_get(const strmap *m, const char *key, size_t len);

#endif
