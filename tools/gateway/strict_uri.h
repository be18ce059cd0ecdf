/*
 * strict_uri.h - the request path a gateway may judge, read exactly as the
 * client sent it. Shared by fhirpamd (tools/fhirpamd/target.c) and the nginx
 * module (tools/nginx/): both see the raw request target while the gateway
 * in front routes and serves on its own normalised path (nginx merges
 * slashes, resolves dot segments, decodes %XX), so any path the two could
 * read differently is refused rather than guessed at (fail closed).
 */
#ifndef FHIRPAM_GATEWAY_STRICT_URI_H
#define FHIRPAM_GATEWAY_STRICT_URI_H

#include <stddef.h>

/*
 * Checks path[0..len) (origin-form: it starts with '/', no query) and copies
 * it to out (room for len bytes) with %24 decoded to '$' (FHIR operations).
 * Returns 0 and sets *outlen, or -1 when the path must be refused: a control,
 * space or non-ASCII byte, a backslash, an empty (`//`), "." or ".." segment,
 * or a percent-encoded byte other than %24. A trailing slash is kept.
 */
int strict_uri_path_copy(const char *path, size_t len, char *out, size_t *outlen);

/* 0 when query[0..len) holds only printable ASCII (no space), else -1. */
int strict_uri_query_check(const char *query, size_t len);

#endif
