/*
 * request.h - the request a host builds (fhirpam_request), as the core sees it.
 */
#ifndef FHIRPAM_CORE_REQUEST_H
#define FHIRPAM_CORE_REQUEST_H

#include <fhirpam/fhirpam.h>
#include <stdbool.h>

typedef struct request_header {
    char *name;
    char *value;
} request_header;

struct fhirpam_request {
    char *method;
    char *url;
    request_header *headers;
    size_t nheaders;
    size_t headers_cap;
    char *body; /* NUL-terminated copy; body_len excludes the NUL */
    size_t body_len;
    char *current; /* the stored resource, when the host has it */
    size_t current_len;
    char *client_cert_pem;
    char *client_cert_thumbprint; /* given by the host */
    request_header device_attrs[16];
    size_t ndevice_attrs;
    bool has_time;
    int64_t time;
    unsigned flags; /* FHIRPAM_REQUEST_* */
};

/* Occurrence i of header `name` (ASCII case-insensitive), or NULL. */
const char *request_header_get(const struct fhirpam_request *req, const char *name, size_t i);
size_t request_header_count(const struct fhirpam_request *req, const char *name);

#endif
