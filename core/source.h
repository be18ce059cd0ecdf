/*
 * source.h - module data kept outside the configuration (a deny list file)
 * and whether the copy in force is current: module.h's fhirpam_source_*,
 * read by the audit trail (every record says whether a revocation source is
 * stale) and by hosts (fhirpam_sources(), fhirpamd's /metrics).
 *
 * A source belongs to the module that registered it; the configuration keeps
 * a list of the sources its modules registered, which is only changed while
 * the configuration loads or is freed (one thread), and read by requests.
 */
#ifndef FHIRPAM_CORE_SOURCE_H
#define FHIRPAM_CORE_SOURCE_H

#include <fhirpam/fhirpam.h>
#include <stdbool.h>
#include <stddef.h>

struct fhirpam_source;

/* The distinct kinds one configuration's sources may have: each is a pair of
 * fields in every audit record, which has room for this many. */
#define SOURCE_MAX_KINDS 4

typedef struct source_list {
    struct fhirpam_source **items;
    size_t n, cap;
} source_list;

void source_list_free(source_list *list);

/* The kind a source was registered under ("revocation"). */
const char *source_kind(const struct fhirpam_source *s);
/* True while the source's latest change could not be loaded. Lock-free. */
bool source_is_stale(const struct fhirpam_source *s);
/* Copies the source's state into out. */
void source_info(struct fhirpam_source *s, fhirpam_source_info *out);

#endif
