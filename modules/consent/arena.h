/*
 * arena.h - one allocation pool per consent index: everything the index
 * holds is allocated here at load and freed at once when the index is
 * replaced, so the per-request structures are plain pointers.
 */
#ifndef FHIRPAM_CONSENT_ARENA_H
#define FHIRPAM_CONSENT_ARENA_H

#include <stddef.h>

typedef struct arena arena;

arena *arena_new(void);
void arena_free(arena *a);
/* n zeroed bytes aligned for any object, or NULL when out of memory. */
void *arena_alloc(arena *a, size_t n);
/* A copy of s (len bytes, NUL added), or NULL. */
char *arena_strndup(arena *a, const char *s, size_t len);
char *arena_strdup(arena *a, const char *s);
/* printf into the arena, or NULL. */
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
