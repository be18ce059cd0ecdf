/*
 * options.c - fhirpamd's command line: where to listen, which front ends to
 * trust, and which fhirpam stack each location of the FHIR server uses.
 */
#include "options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fhirpam/fhirpam.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void options_usage(FILE *out)
{
    fputs(
        "usage: fhirpamd -c FILE --route PREFIX=STACK... [options]\n"
        "\n"
        "An HTTP decision service for nginx auth_request and Envoy ext_authz (HTTP):\n"
        "every request is authorized with fhirpam against the stack its location maps to.\n"
        "Answers 200 (permit), or 401/403 (or the decision's 400/500/503) with\n"
        "WWW-Authenticate and DPoP-Nonce for the front end to return.\n"
        "\n"
        "  -c, --config FILE          the fhirpam configuration (required)\n"
        "      --modules-dir DIR      where module names without a slash are found\n"
        "                             (default: the config's modules_dir, or the built-in one)\n"
        "  -l, --listen ADDR:PORT     where to listen (default 127.0.0.1:9180; [::1]:9180 for\n"
        "                             IPv6; port 0 picks a free port, see --ready-file)\n"
        "  -t, --threads N            worker threads (default: the number of CPUs; 1-256)\n"
        "  -b, --base PATH            the FHIR base path on the front end (default /); an\n"
        "                             original URI outside it is denied (403)\n"
        "  -r, --route PREFIX=STACK   a request whose path under the base starts with PREFIX\n"
        "                             is authorized on STACK; repeatable, longest PREFIX wins,\n"
        "                             matched at a '/' or '?' boundary; \"=fhir\" is every path.\n"
        "                             A path no route matches is denied (403). At least one.\n"
        "  -p, --trusted-peer ADDR[/BITS]\n"
        "                             a front end whose requests are answered; repeatable\n"
        "                             (default 127.0.0.0/8 and ::1). A connection from any\n"
        "                             other address is closed at accept, before anything is\n"
        "                             read from it (and the refusal audited)\n"
        "      --client-cert-header NAME\n"
        "                             the header carrying the TLS client certificate as\n"
        "                             URL-escaped PEM (nginx $ssl_client_escaped_cert), or\n"
        "                             Envoy's x-forwarded-client-cert (its Cert= field)\n"
        "      --device-header NAME=ATTR\n"
        "                             a header the front end sets, passed as device attribute\n"
        "                             ATTR (e.g. X-Device-Managed=managed); repeatable, at most\n"
        "                             16\n"
        "      --auth-path PATH       the nginx auth_request endpoint (default /auth); the\n"
        "                             original request is X-Original-Method + X-Original-URI\n"
        "      --envoy-prefix PATH    the Envoy ext_authz path_prefix (default /ext_authz):\n"
        "                             METHOD PATH/original/uri is the original request;\n"
        "                             \"none\" turns the endpoint off\n"
        "      --max-body-bytes N     request bodies passed to fhirpam (Envoy\n"
        "                             with_request_body) up to N bytes; larger: 413, from\n"
        "                             Content-Length before any of it is read (default 1048576)\n"
        "      --connection-limit N   concurrent connections (default 4096)\n"
        "      --peer-connection-limit N\n"
        "                             concurrent connections from one address (default 1024)\n"
        "      --timeout SECONDS      idle connection timeout (default 60)\n"
        "      --request-timeout SECONDS\n"
        "                             a request's headers and body must arrive within this\n"
        "                             time of its first line, or the connection is closed\n"
        "                             (default 10)\n"
        "      --drain-seconds N      on SIGTERM, wait up to N s for requests in flight\n"
        "                             (default 10)\n"
        "      --ready-file FILE      write the listening port to FILE once ready\n"
        "      --check                load the configuration, check the routes, exit\n"
        "  -h, --help                 this text\n"
        "  -V, --version              the version\n"
        "\n"
        "Endpoints: /healthz (200 \"ok\"), /metrics (Prometheus text), the auth path, the\n"
        "Envoy prefix. Signals: SIGHUP reloads the configuration atomically (a bad one is\n"
        "logged and the old one stays); SIGTERM or SIGINT stop accepting, drain and exit 0.\n",
        out);
}

static int parse_uint(const char *text, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_listen(options *o, const char *text)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon;
    const char *h = text;
    size_t hlen;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        h = text + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL)
            return -1;
        hlen = (size_t)(colon - text);
    }
    if (hlen == 0 || hlen >= sizeof host)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    unsigned long port;
    if (parse_uint(colon + 1, 0, 65535, &port) != 0)
        return -1;
    memset(&o->listen_addr, 0, sizeof o->listen_addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&o->listen_addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&o->listen_addr;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        o->listen_len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        o->listen_len = sizeof *v6;
    } else {
        return -1;
    }
    o->listen_text = text;
    return 0;
}

static int add_peer(options *o, const char *text)
{
    if (o->npeers == FHIRPAMD_MAX_PEERS)
        return -1;
    char addr[INET6_ADDRSTRLEN];
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    if (alen == 0 || alen >= sizeof addr)
        return -1;
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    peer_range *p = &o->peers[o->npeers];
    memset(p, 0, sizeof *p);
    unsigned long max;
    if (inet_pton(AF_INET, addr, p->addr) == 1) {
        p->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, addr, p->addr) == 1) {
        p->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    unsigned long bits = max;
    if (slash != NULL && parse_uint(slash + 1, 0, max, &bits) != 0)
        return -1;
    p->bits = (unsigned)bits;
    o->npeers++;
    return 0;
}

static bool header_name_ok(const char *name)
{
    if (name[0] == '\0')
        return false;
    for (const char *c = name; *c != '\0'; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_'))
            return false;
    }
    return true;
}

static int add_route(options *o, const char *text)
{
    const char *eq = strrchr(text, '=');
    if (eq == NULL || eq[1] == '\0' || o->nroutes == FHIRPAMD_MAX_ROUTES)
        return -1;
    /* A prefix is relative to the base: no leading '/', no '?'. */
    if (text[0] == '/' || memchr(text, '?', (size_t)(eq - text)) != NULL)
        return -1;
    char *prefix = strndup(text, (size_t)(eq - text));
    if (prefix == NULL)
        return -1;
    for (size_t i = 0; i < o->nroutes; i++) {
        if (strcmp(o->routes[i].prefix, prefix) == 0) {
            free(prefix);
            return -1;
        }
    }
    o->routes[o->nroutes++] = (route){prefix, strlen(prefix), eq + 1};
    return 0;
}

static int add_device_header(options *o, const char *text)
{
    const char *eq = strchr(text, '=');
    if (eq == NULL || eq[1] == '\0' || o->ndevice_headers == FHIRPAMD_MAX_DEVICE_HEADERS)
        return -1;
    char *name = strndup(text, (size_t)(eq - text));
    if (name == NULL || !header_name_ok(name)) {
        free(name);
        return -1;
    }
    o->device_headers[o->ndevice_headers++] = (device_header){name, eq + 1};
    return 0;
}

static int set_base(options *o, const char *text)
{
    size_t n = strlen(text);
    if (text[0] != '/' || strchr(text, '?') != NULL || strchr(text, '%') != NULL)
        return -1;
    char *base = malloc(n + 2);
    if (base == NULL)
        return -1;
    memcpy(base, text, n + 1);
    if (base[n - 1] != '/') {
        base[n] = '/';
        base[n + 1] = '\0';
    }
    free(o->base);
    o->base = base;
    return 0;
}

static int bad(const char *opt, const char *value)
{
    fprintf(stderr, "fhirpamd: bad value for %s: \"%s\" (see --help)\n", opt, value);
    return -1;
}

int options_parse(options *o, int argc, char **argv)
{
    enum {
        OPT_MODULES_DIR = 256,
        OPT_CERT_HEADER,
        OPT_DEVICE_HEADER,
        OPT_AUTH_PATH,
        OPT_ENVOY_PREFIX,
        OPT_MAX_BODY,
        OPT_CONN_LIMIT,
        OPT_PEER_CONN_LIMIT,
        OPT_TIMEOUT,
        OPT_REQUEST_TIMEOUT,
        OPT_DRAIN,
        OPT_READY_FILE,
        OPT_CHECK,
    };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"modules-dir", required_argument, NULL, OPT_MODULES_DIR},
        {"listen", required_argument, NULL, 'l'},
        {"threads", required_argument, NULL, 't'},
        {"base", required_argument, NULL, 'b'},
        {"route", required_argument, NULL, 'r'},
        {"trusted-peer", required_argument, NULL, 'p'},
        {"client-cert-header", required_argument, NULL, OPT_CERT_HEADER},
        {"device-header", required_argument, NULL, OPT_DEVICE_HEADER},
        {"auth-path", required_argument, NULL, OPT_AUTH_PATH},
        {"envoy-prefix", required_argument, NULL, OPT_ENVOY_PREFIX},
        {"max-body-bytes", required_argument, NULL, OPT_MAX_BODY},
        {"connection-limit", required_argument, NULL, OPT_CONN_LIMIT},
        {"peer-connection-limit", required_argument, NULL, OPT_PEER_CONN_LIMIT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT},
        {"drain-seconds", required_argument, NULL, OPT_DRAIN},
        {"ready-file", required_argument, NULL, OPT_READY_FILE},
        {"check", no_argument, NULL, OPT_CHECK},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o->threads = ncpu < 1 ? 1 : ncpu > 256 ? 256 : (unsigned)ncpu;
    o->auth_path = "/auth";
    o->envoy_prefix = "/ext_authz";
    o->max_body_bytes = 1024 * 1024;
    o->drain_seconds = 10;
    o->connection_limit = 4096;
    o->peer_connection_limit = 1024;
    o->timeout_seconds = 60;
    o->request_timeout_seconds = 10;
    if (set_base(o, "/") != 0 || parse_listen(o, "127.0.0.1:9180") != 0)
        return -1;
    bool peers_given = false;
    unsigned long v;
    int c;
    while ((c = getopt_long(argc, argv, "c:l:t:b:r:p:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config_path = optarg;
            break;
        case OPT_MODULES_DIR:
            o->modules_dir = optarg;
            break;
        case 'l':
            if (parse_listen(o, optarg) != 0)
                return bad("--listen", optarg);
            break;
        case 't':
            if (parse_uint(optarg, 1, 256, &v) != 0)
                return bad("--threads", optarg);
            o->threads = (unsigned)v;
            break;
        case 'b':
            if (set_base(o, optarg) != 0)
                return bad("--base", optarg);
            break;
        case 'r':
            if (add_route(o, optarg) != 0)
                return bad("--route (PREFIX=STACK, PREFIX relative to --base, each once)", optarg);
            break;
        case 'p':
            if (!peers_given) {
                o->npeers = 0;
                peers_given = true;
            }
            if (add_peer(o, optarg) != 0)
                return bad("--trusted-peer", optarg);
            break;
        case OPT_CERT_HEADER:
            if (!header_name_ok(optarg))
                return bad("--client-cert-header", optarg);
            o->client_cert_header = optarg;
            break;
        case OPT_DEVICE_HEADER:
            if (add_device_header(o, optarg) != 0)
                return bad("--device-header", optarg);
            break;
        case OPT_AUTH_PATH:
            if (optarg[0] != '/')
                return bad("--auth-path", optarg);
            o->auth_path = optarg;
            break;
        case OPT_ENVOY_PREFIX:
            if (strcmp(optarg, "none") == 0)
                o->envoy_prefix = NULL;
            else if (optarg[0] != '/' || optarg[1] == '\0' || optarg[strlen(optarg) - 1] == '/')
                return bad("--envoy-prefix (a path like /ext_authz, no trailing /)", optarg);
            else
                o->envoy_prefix = optarg;
            break;
        case OPT_MAX_BODY:
            if (parse_uint(optarg, 0, 64UL * 1024 * 1024, &v) != 0)
                return bad("--max-body-bytes", optarg);
            o->max_body_bytes = v;
            break;
        case OPT_CONN_LIMIT:
            if (parse_uint(optarg, 1, 1000000, &v) != 0)
                return bad("--connection-limit", optarg);
            o->connection_limit = (unsigned)v;
            break;
        case OPT_PEER_CONN_LIMIT:
            if (parse_uint(optarg, 1, 1000000, &v) != 0)
                return bad("--peer-connection-limit", optarg);
            o->peer_connection_limit = (unsigned)v;
            break;
        case OPT_TIMEOUT:
            if (parse_uint(optarg, 1, 86400, &v) != 0)
                return bad("--timeout", optarg);
            o->timeout_seconds = (unsigned)v;
            break;
        case OPT_REQUEST_TIMEOUT:
            if (parse_uint(optarg, 1, 3600, &v) != 0)
                return bad("--request-timeout", optarg);
            o->request_timeout_seconds = (unsigned)v;
            break;
        case OPT_DRAIN:
            if (parse_uint(optarg, 0, 3600, &v) != 0)
                return bad("--drain-seconds", optarg);
            o->drain_seconds = (unsigned)v;
            break;
        case OPT_READY_FILE:
            o->ready_file = optarg;
            break;
        case OPT_CHECK:
            o->check_only = true;
            break;
        case 'h':
            options_usage(stdout);
            return 1;
        case 'V':
            printf("fhirpamd %s\n", FHIRPAM_VERSION);
            return 1;
        default:
            options_usage(stderr);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "fhirpamd: unexpected argument \"%s\" (see --help)\n", argv[optind]);
        return -1;
    }
    if (o->config_path == NULL || o->nroutes == 0) {
        fprintf(stderr, "fhirpamd: -c FILE and at least one --route PREFIX=STACK are required "
                        "(see --help)\n");
        return -1;
    }
    if (!peers_given && (add_peer(o, "127.0.0.0/8") != 0 || add_peer(o, "::1") != 0))
        return -1;
    if (o->peer_connection_limit > o->connection_limit)
        o->peer_connection_limit = o->connection_limit;
    if (o->envoy_prefix != NULL &&
        strncmp(o->auth_path, o->envoy_prefix, strlen(o->envoy_prefix)) == 0) {
        fprintf(stderr, "fhirpamd: --auth-path must not be under --envoy-prefix\n");
        return -1;
    }
    return 0;
}

void options_free(options *o)
{
    for (size_t i = 0; i < o->nroutes; i++)
        free((char *)o->routes[i].prefix);
    for (size_t i = 0; i < o->ndevice_headers; i++)
        free((char *)o->device_headers[i].header);
    free(o->base);
    memset(o, 0, sizeof *o);
}

const route *options_route(const options *o, const char *rel)
{
    const route *best = NULL;
    for (size_t i = 0; i < o->nroutes; i++) {
        const route *r = &o->routes[i];
        if (strncmp(rel, r->prefix, r->prefix_len) != 0)
            continue;
        char next = rel[r->prefix_len];
        bool boundary = r->prefix_len == 0 || r->prefix[r->prefix_len - 1] == '/' || next == '\0' ||
                        next == '/' || next == '?';
        if (boundary && (best == NULL || r->prefix_len > best->prefix_len))
            best = r;
    }
    return best;
}

static bool prefix_matches(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xffu << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool options_peer_trusted(const options *o, const struct sockaddr *addr)
{
    if (addr == NULL)
        return false;
    unsigned char bytes[16];
    int family = addr->sa_family;
    if (family == AF_INET) {
        memcpy(bytes, &((const struct sockaddr_in *)(const void *)addr)->sin_addr, 4);
    } else if (family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            family = AF_INET;
            memcpy(bytes, &a6->s6_addr[12], 4);
        } else {
            memcpy(bytes, a6->s6_addr, 16);
        }
    } else {
        return false;
    }
    for (size_t i = 0; i < o->npeers; i++) {
        if (o->peers[i].family == family &&
            prefix_matches(bytes, o->peers[i].addr, o->peers[i].bits))
            return true;
    }
    return false;
}
