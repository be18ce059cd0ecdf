/* uri.h - RFC 3986 §6.2.2/§6.2.3 normalisation for comparing DPoP `htu`. */
#ifndef FHIRPAM_DEVICE_TRUST_URI_H
#define FHIRPAM_DEVICE_TRUST_URI_H

#include <stddef.h>

/*
 * Normalises an absolute http(s) URI for comparison, dropping its query and
 * fragment: scheme and host lower-cased, the default port removed, an empty
 * path made "/", percent-escapes upper-cased and those of unreserved
 * characters decoded, dot segments removed. Path case and trailing slashes
 * are kept. Returns 0, or -1 when uri is not an absolute http(s) URI or the
 * result does not fit.
 */
int uri_normalize(const char *uri, char *out, size_t outlen);

#endif
