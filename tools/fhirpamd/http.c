/*
 * http.c - see http.h. Each exchange (one HTTP request) gets a small state:
 * its raw URI (libmicrohttpd hands the handler a decoded path, while a
 * decision needs the URI as the client sent it), its deadline, and, for the
 * Envoy endpoint only, its body.
 *
 * What a peer can make fhirpamd hold (issue 26): an address that is not a
 * trusted peer is closed at accept, before anything is read or allocated
 * for it; a trusted one has at most --peer-connection-limit connections; a
 * body is refused from its Content-Length before any of it is read when it
 * is larger than --max-body-bytes (a chunked one as soon as it grows past
 * it, its buffer freed at once); and a request must arrive whole within
 * --request-timeout of its first line, as idle connections within --timeout.
 */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "body.h"
#include "decide.h"
#include "metrics.h"

typedef enum endpoint {
    ENDPOINT_NGINX,   /* --auth-path: the original request is in headers, never a body */
    ENDPOINT_ENVOY,   /* --envoy-prefix: the request itself, maybe with its body */
    ENDPOINT_HEALTH,  /* /healthz */
    ENDPOINT_METRICS, /* /metrics */
    ENDPOINT_OTHER,   /* 404 */
} endpoint;

typedef struct exchange {
    char *uri;
    uint64_t deadline_us; /* the request must be whole by then (monotonic) */
    endpoint where;
    char *body; /* Envoy only, at most --max-body-bytes */
    size_t len, cap;
    bool started;   /* the headers were seen */
    bool has_body;  /* the request to fhirpamd has one (not the original's: body.h) */
    bool too_large; /* a chunked body grew past the limit: the rest is discarded */
    bool answered;  /* a verdict went out, or the refusal is recorded */
} exchange;

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A refusal with no answer to send (the connection is being closed):
 * recorded and counted like the others. */
static void record_refusal(server *s, unsigned status, fhirpam_code code, const char *reason,
                           const char *text, metrics_refusal why)
{
    verdict v;
    memset(&v, 0, sizeof v);
    verdict_refuse(s->ctx, NULL, NULL, status, code, reason, text, why, &v);
    verdict_clear(&v);
}

/* Called by libmicrohttpd for every accepted connection, before it reads a
 * byte or allocates anything for it (MHD_OPTION_APPLY_POLICY). */
static enum MHD_Result accept_peer(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addrlen;
    server *s = cls;
    if (options_peer_trusted(s->opt, addr))
        return MHD_YES;
    char text[INET6_ADDRSTRLEN], why[INET6_ADDRSTRLEN + 96];
    const void *raw = NULL;
    if (addr != NULL && addr->sa_family == AF_INET)
        raw = &((const struct sockaddr_in *)(const void *)addr)->sin_addr;
    else if (addr != NULL && addr->sa_family == AF_INET6)
        raw = &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr;
    if (raw == NULL || inet_ntop(addr->sa_family, raw, text, sizeof text) == NULL)
        snprintf(text, sizeof text, "an unknown address");
    snprintf(why, sizeof why, "connection from %s closed at accept: not a --trusted-peer", text);
    record_refusal(s, 403, FHIRPAM_DENY, "untrusted_peer", why, REFUSE_UNTRUSTED_PEER);
    return MHD_NO;
}

static void *exchange_begin(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)conn;
    server *s = cls;
    atomic_fetch_add(&s->in_flight, 1);
    metrics_in_flight(1);
    exchange *x = calloc(1, sizeof *x);
    if (x != NULL && (x->uri = strdup(uri)) == NULL) {
        free(x);
        x = NULL;
    }
    if (x != NULL)
        x->deadline_us = monotonic_us() + (uint64_t)s->opt->request_timeout_seconds * 1000000u;
    return x; /* NULL: the handler answers 500 */
}

static void drop_body(exchange *x)
{
    free(x->body);
    x->body = NULL;
    x->len = x->cap = 0;
}

static bool decision_endpoint(const exchange *x)
{
    return x->where == ENDPOINT_NGINX || x->where == ENDPOINT_ENVOY;
}

static void exchange_end(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    server *s = cls;
    exchange *x = *con_cls;
    if (x != NULL) {
        /* libmicrohttpd closed a request that was still arriving: the idle
         * timeout, shortened to the request's deadline while it arrives. */
        if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED && x->started && !x->answered &&
            decision_endpoint(x))
            record_refusal(s, 408, FHIRPAM_INVALID_REQUEST, "request_timeout",
                           "the request did not arrive whole within --request-timeout; the "
                           "connection was closed",
                           REFUSE_TIMEOUT);
        drop_body(x);
        free(x->uri);
        free(x);
    }
    *con_cls = NULL;
    metrics_in_flight(-1);
    atomic_fetch_sub(&s->in_flight, 1);
}

/* Keeps data, or, past the limit, frees what was kept and discards the
 * rest: a body too large is refused once it has ended (a response cannot be
 * queued while it arrives), holding no memory meanwhile. */
static void append_body(const server *s, exchange *x, const char *data, size_t n)
{
    if (x->too_large)
        return;
    if (x->len + n > s->opt->max_body_bytes) {
        x->too_large = true;
        drop_body(x);
        return;
    }
    if (x->len + n > x->cap) {
        size_t cap = x->cap ? x->cap : 4096;
        while (cap < x->len + n)
            cap *= 2;
        if (cap > s->opt->max_body_bytes)
            cap = s->opt->max_body_bytes;
        char *bigger = realloc(x->body, cap);
        if (bigger == NULL) {
            x->too_large = true; /* refused, never half-read */
            drop_body(x);
            return;
        }
        x->body = bigger;
        x->cap = cap;
    }
    memcpy(x->body + x->len, data, n);
    x->len += n;
}

static enum MHD_Result send_text(server *s, struct MHD_Connection *conn, unsigned status,
                                 const char *content_type, const char *text, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (atomic_load(&s->draining))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* The body of a deny: a FHIR OperationOutcome naming the code and reason
 * (machine words only: no claims, no token, nothing from the request). */
static enum MHD_Result send_verdict(server *s, struct MHD_Connection *conn, const verdict *v)
{
    char body[512];
    int n = 0;
    if (v->status != 200) {
        const char *issue = v->status == 401   ? "login"
                            : v->status == 403 ? "forbidden"
                            : v->status >= 500 ? "exception"
                                               : "invalid";
        n = snprintf(body, sizeof body,
                     "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\","
                     "\"code\":\"%s\",\"diagnostics\":\"%s: %s\"}]}",
                     issue, v->code, v->reason);
        if (n < 0 || (size_t)n >= sizeof body)
            n = 0;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    if (n > 0)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/fhir+json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (v->www_authenticate != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, v->www_authenticate);
    if (v->dpop_nonce != NULL)
        MHD_add_response_header(r, "DPoP-Nonce", v->dpop_nonce);
    if (v->id[0] != '\0')
        MHD_add_response_header(r, "X-Fhirpam-Decision", v->id);
    MHD_add_response_header(r, "X-Fhirpam-Code", v->code[0] ? v->code : "success");
    if (v->reason[0] != '\0')
        MHD_add_response_header(r, "X-Fhirpam-Reason", v->reason);
    if (atomic_load(&s->draining))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    metrics_response(v->status);
    enum MHD_Result rc = MHD_queue_response(conn, v->status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result send_metrics(server *s, struct MHD_Connection *conn)
{
    uint64_t hits;
    size_t entries, len;
    fhirpam_token_cache_stats(s->ctx, &hits, &entries);
    char *text = metrics_render(s->ctx, hits, entries, &len);
    if (text == NULL)
        return send_text(s, conn, 500, "text/plain", "out of memory\n", 14);
    enum MHD_Result rc = send_text(s, conn, 200, "text/plain; version=0.0.4", text, len);
    free(text);
    return rc;
}

static endpoint classify(const server *s, const char *url, const char *raw_uri)
{
    const char *envoy = s->opt->envoy_prefix;
    size_t elen = envoy ? strlen(envoy) : 0;
    if (strcmp(url, s->opt->auth_path) == 0)
        return ENDPOINT_NGINX;
    if (envoy != NULL && strncmp(raw_uri, envoy, elen) == 0 && raw_uri[elen] == '/')
        return ENDPOINT_ENVOY;
    if (strcmp(url, "/healthz") == 0)
        return ENDPOINT_HEALTH;
    if (strcmp(url, "/metrics") == 0)
        return ENDPOINT_METRICS;
    return ENDPOINT_OTHER;
}

static enum MHD_Result send_refusal(server *s, struct MHD_Connection *conn, exchange *x,
                                    unsigned status, fhirpam_code code, const char *reason,
                                    const char *text, metrics_refusal why)
{
    verdict v;
    memset(&v, 0, sizeof v);
    verdict_refuse(s->ctx, NULL, NULL, status, code, reason, text, why, &v);
    x->answered = true;
    enum MHD_Result rc = send_verdict(s, conn, &v);
    verdict_clear(&v);
    return rc;
}

/* Headers complete, nothing of a body read yet: refuse now what must not be
 * read (a response queued now makes libmicrohttpd close the connection
 * without reading the body). Sets *refused and returns the refusal's
 * result, or MHD_YES to go on. */
static enum MHD_Result headers_seen(server *s, struct MHD_Connection *conn, exchange *x,
                                    const char *url, bool *refused)
{
    x->started = true;
    x->where = classify(s, url, x->uri);
    *refused = true;
    if (monotonic_us() > x->deadline_us && decision_endpoint(x))
        return send_refusal(s, conn, x, 408, FHIRPAM_INVALID_REQUEST, "request_timeout",
                            "the request headers did not arrive within --request-timeout",
                            REFUSE_TIMEOUT);
    body_framing f = body_framing_of(
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH),
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING),
        true);
    x->has_body = f.presence != BODY_NONE;
    if (x->has_body && x->where == ENDPOINT_NGINX)
        return send_refusal(s, conn, x, 500, FHIRPAM_ERROR, "body_on_auth_request",
                            "the auth_request endpoint takes no body: the nginx site must set "
                            "proxy_pass_request_body off and Content-Length \"\" "
                            "(etc/nginx-fhirpam.conf)",
                            REFUSE_BAD_REQUEST);
    if (x->has_body && x->where == ENDPOINT_ENVOY && f.length_known &&
        f.length > s->opt->max_body_bytes) {
        char text[128];
        snprintf(text, sizeof text, "the body (%llu bytes) is larger than --max-body-bytes %zu",
                 (unsigned long long)f.length, s->opt->max_body_bytes);
        return send_refusal(s, conn, x, 413, FHIRPAM_INVALID_REQUEST, "body_too_large", text,
                            REFUSE_BODY_TOO_LARGE);
    }
    if (x->has_body && x->where == ENDPOINT_ENVOY) {
        /* While the body arrives, a silent peer is closed at the request
         * timeout, not the (longer) idle one. */
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                  s->opt->request_timeout_seconds);
    }
    *refused = false;
    return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    server *s = cls;
    exchange *x = *con_cls;
    if (x == NULL) {
        verdict v;
        memset(&v, 0, sizeof v);
        verdict_refuse(s->ctx, NULL, NULL, 500, FHIRPAM_ERROR, "out_of_memory",
                       "fhirpamd ran out of memory for a new request", REFUSE_INTERNAL, &v);
        enum MHD_Result rc = send_verdict(s, conn, &v);
        verdict_clear(&v);
        return rc;
    }
    if (!x->started) {
        bool refused;
        enum MHD_Result rc = headers_seen(s, conn, x, url, &refused);
        /* A decision is answered once the request is whole (so that the
         * connection stays open for the next one); the other endpoints do
         * not read a body, and answer one that has it at once. */
        if (refused || decision_endpoint(x) || !x->has_body)
            return rc;
    } else if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (x->where != ENDPOINT_ENVOY)
            return MHD_NO; /* only Envoy's endpoint reads a body: close */
        if (monotonic_us() > x->deadline_us) {
            /* A response cannot be queued while the body arrives: close. */
            drop_body(x);
            record_refusal(s, 408, FHIRPAM_INVALID_REQUEST, "request_timeout",
                           "the body did not arrive within --request-timeout; the connection "
                           "was closed",
                           REFUSE_TIMEOUT);
            x->answered = true;
            return MHD_NO;
        }
        append_body(s, x, upload_data, n);
        return MHD_YES;
    }
    if (x->has_body && x->where == ENDPOINT_ENVOY)
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, s->opt->timeout_seconds);
    if (decision_endpoint(x)) {
        if (x->too_large) {
            char text[96];
            snprintf(text, sizeof text, "the body is larger than --max-body-bytes %zu",
                     s->opt->max_body_bytes);
            return send_refusal(s, conn, x, 413, FHIRPAM_INVALID_REQUEST, "body_too_large", text,
                                REFUSE_BODY_TOO_LARGE);
        }
        front_kind kind = x->where == ENDPOINT_NGINX ? FRONT_NGINX : FRONT_ENVOY;
        verdict v;
        decide(s->opt, s->ctx, conn, kind, method, x->uri, x->body, x->len, &v);
        x->answered = true;
        drop_body(x);
        enum MHD_Result rc = send_verdict(s, conn, &v);
        verdict_clear(&v);
        return rc;
    }
    if (x->where == ENDPOINT_HEALTH) {
        if (atomic_load(&s->draining))
            return send_text(s, conn, 503, "text/plain", "draining\n", 9);
        return send_text(s, conn, 200, "text/plain", "ok\n", 3);
    }
    if (x->where == ENDPOINT_METRICS)
        return send_metrics(s, conn);
    return send_text(s, conn, 404, "text/plain", "not found\n", 10);
}

int server_start(server *s, const options *o, fhirpam_context *ctx, uint16_t *port)
{
    memset(s, 0, sizeof *s);
    s->opt = o;
    s->ctx = ctx;
    s->quiesced_fd = -1;
    atomic_init(&s->draining, false);
    atomic_init(&s->in_flight, 0);
    /*
     * A pool of threads, each polling its connections with poll(2), not
     * epoll. libmicrohttpd 0.9.75 (Debian 12) registers connections with
     * edge-triggered epoll and takes a short read as "drained": a connection
     * whose data and FIN were both queued before it was read (every one a
     * flood leaves in the accept queue when it hangs up) is never read again,
     * so its close is never seen and it holds a connection slot until the
     * idle timeout. With the slots full of them, the gateway got no answer
     * for a minute after the attack had ended. poll(2) is level-triggered:
     * the pending EOF is read, and the slot freed, at once (tests/nginx/
     * test_flood.sh, "dead connections").
     */
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (o->listen_addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, 0, accept_peer, s, handle, s, MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *)&o->listen_addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->connection_limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->peer_connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_seconds,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024), MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned)1024, MHD_OPTION_URI_LOG_CALLBACK, exchange_begin, s, MHD_OPTION_NOTIFY_COMPLETED,
        exchange_end, s, MHD_OPTION_END);
    if (s->daemon == NULL) {
        fprintf(stderr, "fhirpamd: cannot listen on %s\n", o->listen_text);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (di == NULL || getsockname(di->listen_fd, (struct sockaddr *)&bound, &blen) != 0) {
        fprintf(stderr, "fhirpamd: cannot read the bound port\n");
        MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
        return -1;
    }
    *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

void server_quiesce(server *s)
{
    atomic_store(&s->draining, true);
    if (s->daemon != NULL && s->quiesced_fd < 0)
        s->quiesced_fd = MHD_quiesce_daemon(s->daemon);
}

long server_in_flight(server *s)
{
    return atomic_load(&s->in_flight);
}

void server_stop(server *s)
{
    if (s->daemon != NULL)
        MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    if (s->quiesced_fd >= 0)
        close(s->quiesced_fd);
    s->quiesced_fd = -1;
}
