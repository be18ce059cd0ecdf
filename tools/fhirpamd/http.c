/*
 * http.c - see http.h. Each exchange (one HTTP request) gets a small state:
 * its raw URI (libmicrohttpd hands the handler a decoded path, while a
 * decision needs the URI as the client sent it) and its body.
 */
#include "http.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "decide.h"
#include "metrics.h"

typedef struct exchange {
    char *uri;
    char *body;
    size_t len, cap;
    bool too_large;
    bool started;
} exchange;

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
    return x; /* NULL: the handler answers 500 */
}

static void exchange_end(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    server *s = cls;
    exchange *x = *con_cls;
    if (x != NULL) {
        free(x->uri);
        free(x->body);
        free(x);
    }
    *con_cls = NULL;
    metrics_in_flight(-1);
    atomic_fetch_sub(&s->in_flight, 1);
}

static void append_body(const server *s, exchange *x, const char *data, size_t n)
{
    if (x->too_large)
        return;
    if (x->len + n > s->opt->max_body_bytes) {
        x->too_large = true;
        return;
    }
    if (x->len + n > x->cap) {
        size_t cap = x->cap ? x->cap : 4096;
        while (cap < x->len + n)
            cap *= 2;
        char *bigger = realloc(x->body, cap);
        if (bigger == NULL) {
            x->too_large = true; /* refused, never half-read */
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
    char *text = metrics_render(hits, entries, &len);
    if (text == NULL)
        return send_text(s, conn, 500, "text/plain", "out of memory\n", 14);
    enum MHD_Result rc = send_text(s, conn, 200, "text/plain; version=0.0.4", text, len);
    free(text);
    return rc;
}

static bool peer_trusted(const server *s, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci != NULL && options_peer_trusted(s->opt, ci->client_addr);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    server *s = cls;
    exchange *x = *con_cls;
    if (x == NULL) {
        verdict v = {.status = 500, .code = "error", .reason = "out_of_memory"};
        metrics_refusal_add(REFUSE_INTERNAL);
        return send_verdict(s, conn, &v);
    }
    if (!x->started) {
        x->started = true; /* headers read; a body may follow */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        append_body(s, x, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    const char *envoy = s->opt->envoy_prefix;
    size_t elen = envoy ? strlen(envoy) : 0;
    if (strcmp(url, s->opt->auth_path) == 0 ||
        (envoy != NULL && strncmp(x->uri, envoy, elen) == 0 && x->uri[elen] == '/')) {
        front_kind kind = strcmp(url, s->opt->auth_path) == 0 ? FRONT_NGINX : FRONT_ENVOY;
        verdict v;
        decide(s->opt, s->ctx, conn, kind, method, x->uri, x->body, x->len, x->too_large, &v);
        enum MHD_Result rc = send_verdict(s, conn, &v);
        verdict_clear(&v);
        return rc;
    }
    if (strcmp(url, "/healthz") == 0) {
        if (atomic_load(&s->draining))
            return send_text(s, conn, 503, "text/plain", "draining\n", 9);
        return send_text(s, conn, 200, "text/plain", "ok\n", 3);
    }
    if (strcmp(url, "/metrics") == 0) {
        if (!peer_trusted(s, conn))
            return send_text(s, conn, 403, "text/plain", "forbidden\n", 10);
        return send_metrics(s, conn);
    }
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
     * the pending EOF is read, and the slot freed, at once.
     */
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (o->listen_addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *)&o->listen_addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->connection_limit, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)o->timeout_seconds, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_URI_LOG_CALLBACK, exchange_begin,
        s, MHD_OPTION_NOTIFY_COMPLETED, exchange_end, s, MHD_OPTION_END);
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
