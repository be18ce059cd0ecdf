/*
 * fhirdate.h - FHIR date and dateTime values as the instants they cover.
 *
 * A value covers the whole of its precision (consent.md §3 rule 10, the
 * R4 Period.end comment): "2029" is the year, "2029-01-01" the whole day,
 * "2029-01-01T10:00:00Z" that second. A date without a time is read in UTC
 * (FHIR gives it no zone; see the module README). A time without a zone is
 * refused, as the FHIR dateTime type requires one.
 */
#ifndef FHIRPAM_CONSENT_FHIRDATE_H
#define FHIRPAM_CONSENT_FHIRDATE_H

#include <stdbool.h>
#include <stdint.h>

/* Parses text; on success sets [*first, *after) in seconds since the epoch
 * (the first second covered and the first second after) and returns true. */
bool fhirdate_parse(const char *text, int64_t *first, int64_t *after);

#endif
