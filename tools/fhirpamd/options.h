/*
 * options.h - fhirpamd's own settings, all from the command line (the fhirpam
 * configuration file stays the library's: fhirpamd adds nothing to it).
 */
#ifndef FHIRPAMD_OPTIONS_H
#define FHIRPAMD_OPTIONS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#define FHIRPAMD_MAX_ROUTES         64
#define FHIRPAMD_MAX_PEERS          64
#define FHIRPAMD_MAX_DEVICE_HEADERS 16

/* Requests whose path under the base starts with `prefix` use `stack`. */
typedef struct route {
    const char *prefix; /* relative to the base, e.g. "" or "metadata" */
    size_t prefix_len;
    const char *stack;
} route;

/* A trusted front-end address range. */
typedef struct peer_range {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned bits;
} peer_range;

/* A header a trusted front end sets, carried into the request as a device
 * attribute (fhirpam_request_add_device_attr). */
typedef struct device_header {
    const char *header;
    const char *attr;
} device_header;

typedef struct options {
    const char *config_path;
    const char *modules_dir;
    struct sockaddr_storage listen_addr;
    socklen_t listen_len;
    const char *listen_text;
    unsigned threads;
    char *base; /* always ends with '/' */
    route routes[FHIRPAMD_MAX_ROUTES];
    size_t nroutes;
    peer_range peers[FHIRPAMD_MAX_PEERS];
    size_t npeers;
    const char *client_cert_header;
    device_header device_headers[FHIRPAMD_MAX_DEVICE_HEADERS];
    size_t ndevice_headers;
    const char *auth_path;
    const char *envoy_prefix; /* NULL: the Envoy endpoint is off */
    size_t max_body_bytes;
    unsigned drain_seconds;
    unsigned connection_limit;
    unsigned peer_connection_limit;   /* per trusted address */
    unsigned timeout_seconds;         /* idle connection */
    unsigned request_timeout_seconds; /* a request's first line to its last body byte */
    const char *ready_file;
    bool check_only;
} options;

/* Parse argv into o. Returns 0, 1 when --help or --version was printed (exit
 * 0), or -1 after printing the error to stderr. Strings point into argv or
 * are allocated; options_free() releases them. */
int options_parse(options *o, int argc, char **argv);
void options_free(options *o);
void options_usage(FILE *out);

/* The route for a path relative to the base, or NULL. Longest prefix wins; a
 * prefix matches at a segment boundary only (it is empty, ends with '/', or
 * the path goes on with '/', '?' or ends there). */
const route *options_route(const options *o, const char *rel);

/* Whether addr is one of the trusted peers. */
bool options_peer_trusted(const options *o, const struct sockaddr *addr);

#endif
