/*
 * target.h - from the original request URI a front end reports to the FHIR
 * URL fhirpam evaluates and the stack its location maps to.
 */
#ifndef FHIRPAMD_TARGET_H
#define FHIRPAMD_TARGET_H

#include "options.h"

/*
 * Map `uri` (origin-form, as the client sent it: nginx $request_uri) to a URL
 * relative to the base (newly allocated into *rel, the caller frees it) and
 * its route. Returns 0, or -1 when the URI must be refused: not origin-form,
 * a fragment, a control or non-ASCII byte, a backslash, an empty, "." or
 * ".." path segment, a percent-encoded byte in the path other than %24 ('$',
 * decoded), a path outside the base (*no_route set), or no route matching
 * (*no_route set).
 *
 * Why so strict: the front end routes and serves on its own normalised path
 * (nginx merges slashes, resolves dot segments, decodes %XX) while fhirpam
 * sees the raw one, so any URI the two could read differently is refused
 * rather than guessed at (fail closed).
 */
int target_resolve(const options *o, const char *uri, char **rel, const route **r, int *no_route);

#endif
