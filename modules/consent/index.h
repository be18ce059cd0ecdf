/*
 * index.h - reading a consent store directory into a consent_index: every
 * `*.json` (a resource or a Bundle) and `*.ndjson` file (one resource a
 * line), names starting with '.' skipped; Consents parsed (parse.c), other
 * resources kept by "Type/id" with their identifiers (actors, fhirUser),
 * actor references resolved, Consents grouped by patient, newest first.
 */
#ifndef FHIRPAM_CONSENT_INDEX_H
#define FHIRPAM_CONSENT_INDEX_H

#include <stddef.h>

#include "model.h"
#include "parse.h"

/* Files larger than this are refused (a store is many small files). */
#define CONSENT_MAX_FILE_BYTES (256u * 1024 * 1024)

typedef struct index_options {
    const char *dir;
    const char *client_registry; /* a JSON file, or NULL */
    parse_options parse;
} index_options;

/* The index, or NULL with err naming the file (and the Consent and element)
 * at fault. Any error refuses the whole directory. previous (or NULL) is
 * the index in force, against which a truncated ndjson file is told. */
consent_index *consent_index_load(const index_options *o, const consent_index *previous, char *err,
                                  size_t errlen);

/* Whether name is a file the store reads. */
int consent_store_file_name(const char *name);

#endif
