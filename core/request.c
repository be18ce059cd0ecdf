/*
 * request.c - the request a host builds, and the module accessors for it.
 */
#include "request.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authz.h"

FHIRPAM_API fhirpam_request *fhirpam_request_new(const char *method, const char *url)
{
    if (method == NULL || url == NULL)
        return NULL;
    struct fhirpam_request *req = calloc(1, sizeof *req);
    if (req == NULL)
        return NULL;
    req->method = strdup(method);
    req->url = strdup(url);
    if (req->method == NULL || req->url == NULL) {
        fhirpam_request_free(req);
        return NULL;
    }
    return req;
}

FHIRPAM_API int fhirpam_request_add_header(fhirpam_request *req, const char *name,
                                           const char *value)
{
    if (req == NULL || name == NULL || value == NULL)
        return -1;
    if (req->nheaders == req->headers_cap) {
        size_t cap = req->headers_cap ? req->headers_cap * 2 : 8;
        request_header *h = realloc(req->headers, cap * sizeof *h);
        if (h == NULL)
            return -1;
        req->headers = h;
        req->headers_cap = cap;
    }
    request_header *h = &req->headers[req->nheaders];
    h->name = strdup(name);
    h->value = strdup(value);
    if (h->name == NULL || h->value == NULL) {
        free(h->name);
        free(h->value);
        return -1;
    }
    req->nheaders++;
    return 0;
}

static int copy_bytes(char **dst, size_t *dst_len, const void *src, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return -1;
    if (len > 0)
        memcpy(copy, src, len);
    copy[len] = '\0';
    free(*dst);
    *dst = copy;
    if (dst_len != NULL)
        *dst_len = len;
    return 0;
}

FHIRPAM_API int fhirpam_request_set_body(fhirpam_request *req, const void *body, size_t len)
{
    if (req == NULL || (body == NULL && len > 0))
        return -1;
    return copy_bytes(&req->body, &req->body_len, body, len);
}

FHIRPAM_API int fhirpam_request_set_current(fhirpam_request *req, const char *json, size_t len)
{
    if (req == NULL || json == NULL)
        return -1;
    return copy_bytes(&req->current, &req->current_len, json, len);
}

FHIRPAM_API int fhirpam_request_set_client_cert_pem(fhirpam_request *req, const char *pem,
                                                    size_t len)
{
    if (req == NULL || pem == NULL)
        return -1;
    return copy_bytes(&req->client_cert_pem, NULL, pem, len);
}

FHIRPAM_API void fhirpam_request_set_time(fhirpam_request *req, int64_t epoch_seconds)
{
    if (req == NULL)
        return;
    req->has_time = true;
    req->time = epoch_seconds;
}

FHIRPAM_API int fhirpam_request_set_flags(fhirpam_request *req, unsigned flags)
{
    if (req == NULL || (flags & ~FHIRPAM_REQUEST_NO_RESPONSE_CHECK) != 0)
        return -1;
    req->flags = flags;
    return 0;
}

FHIRPAM_API void fhirpam_request_free(fhirpam_request *req)
{
    if (req == NULL)
        return;
    for (size_t i = 0; i < req->nheaders; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->headers);
    free(req->method);
    free(req->url);
    free(req->body);
    free(req->current);
    free(req->client_cert_pem);
    free(req->client_cert_thumbprint);
    for (size_t i = 0; i < req->ndevice_attrs; i++) {
        free(req->device_attrs[i].name);
        free(req->device_attrs[i].value);
    }
    free(req);
}

const char *request_header_get(const struct fhirpam_request *req, const char *name, size_t i)
{
    for (size_t k = 0; k < req->nheaders; k++) {
        if (strcasecmp(req->headers[k].name, name) == 0 && i-- == 0)
            return req->headers[k].value;
    }
    return NULL;
}

size_t request_header_count(const struct fhirpam_request *req, const char *name)
{
    size_t n = 0;
    for (size_t k = 0; k < req->nheaders; k++)
        n += strcasecmp(req->headers[k].name, name) == 0;
    return n;
}

/* ---- module accessors ---- */

FHIRPAM_API const char *fhirpam_request_method(const fhirpam_authz *az)
{
    return az->req->method;
}

FHIRPAM_API const char *fhirpam_request_url(const fhirpam_authz *az)
{
    return az->req->url;
}

FHIRPAM_API const char *fhirpam_request_header(const fhirpam_authz *az, const char *name, size_t i)
{
    return name != NULL ? request_header_get(az->req, name, i) : NULL;
}

FHIRPAM_API size_t fhirpam_request_header_count(const fhirpam_authz *az, const char *name)
{
    return name != NULL ? request_header_count(az->req, name) : 0;
}

FHIRPAM_API const char *fhirpam_request_body(const fhirpam_authz *az, size_t *len)
{
    if (len != NULL)
        *len = az->req->body_len;
    return az->req->body;
}

FHIRPAM_API const char *fhirpam_request_current(const fhirpam_authz *az, size_t *len)
{
    if (len != NULL)
        *len = az->req->current_len;
    return az->req->current;
}

FHIRPAM_API const char *fhirpam_request_client_cert_pem(const fhirpam_authz *az)
{
    return az->req->client_cert_pem;
}

FHIRPAM_API const char *fhirpam_fhir_base(const fhirpam_authz *az)
{
    return az->fhir_base;
}

FHIRPAM_API int64_t fhirpam_now(const fhirpam_authz *az)
{
    return az->now;
}

FHIRPAM_API const char *fhirpam_stack_name(const fhirpam_authz *az)
{
    return az->stack_name;
}

FHIRPAM_API int fhirpam_request_set_client_cert_thumbprint(fhirpam_request *req,
                                                           const char *x5t_s256)
{
    if (req == NULL || x5t_s256 == NULL)
        return -1;
    char *copy = strdup(x5t_s256);
    if (copy == NULL)
        return -1;
    free(req->client_cert_thumbprint);
    req->client_cert_thumbprint = copy;
    return 0;
}

FHIRPAM_API int fhirpam_request_add_device_attr(fhirpam_request *req, const char *name,
                                                const char *value)
{
    if (req == NULL || name == NULL || value == NULL ||
        req->ndevice_attrs == sizeof req->device_attrs / sizeof req->device_attrs[0])
        return -1;
    request_header *a = &req->device_attrs[req->ndevice_attrs];
    a->name = strdup(name);
    a->value = strdup(value);
    if (a->name == NULL || a->value == NULL) {
        free(a->name);
        free(a->value);
        return -1;
    }
    req->ndevice_attrs++;
    return 0;
}

FHIRPAM_API const char *fhirpam_device_attr(const fhirpam_authz *az, const char *name)
{
    for (size_t i = 0; name != NULL && i < az->req->ndevice_attrs; i++) {
        if (strcmp(az->req->device_attrs[i].name, name) == 0)
            return az->req->device_attrs[i].value;
    }
    return NULL;
}
