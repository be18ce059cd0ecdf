/*
 * isolate_serve.c - the isolation worker's side (isolate.h): open one stack
 * line's module the way config.c would, then answer the host's calls.
 *
 * The worker trusts its host (the same program's core, which checked the
 * configuration, the module and this worker) and reads its frames strictly
 * all the same. A thread watches the socket: if the host goes away while
 * the module is inside a call (a module that never returns), the worker
 * exits rather than outlive it; otherwise the main loop sees the end of the
 * stream and closes the instance first.
 */
#include "isolate.h"

#include <errno.h>
#include <jansson.h>
#include <libconfig.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authz.h"
#include "config.h"
#include "isolate_wire.h"
#include "loader.h"

typedef struct served {
    config_t cfg;
    char *config_path, *stack, *module, *fhir_base;
    long long index;
    module_file file;
    struct fhirpam_args args;
    void *instance;
    bool opened;
} served;

static atomic_bool in_call;

static void *watch_host(void *arg)
{
    struct pollfd p = {*(int *)arg, POLLRDHUP, 0};
    for (;;) {
        int n = poll(&p, 1, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR))) {
            if (atomic_load(&in_call))
                _exit(0);
            return NULL;
        }
    }
}

static int reply_status(int sock, const char *error)
{
    wire_out w;
    wire_begin(&w);
    wire_put_str(&w, W_STATUS, error ? "error" : "ok");
    wire_put_str(&w, W_TEXT, error);
    int rc = wire_send(sock, &w, 0) == WIRE_OK ? 0 : -1;
    wire_free(&w);
    return rc;
}

/* The line `index` of stack `stack`, in either form of a stack. */
static const config_setting_t *find_line(config_t *cfg, const char *stack, long long index)
{
    const config_setting_t *stacks = config_lookup(cfg, "stacks");
    const config_setting_t *s = stacks ? config_setting_get_member(stacks, stack) : NULL;
    if (s != NULL && config_setting_type(s) == CONFIG_TYPE_GROUP)
        s = config_setting_get_member(s, "lines");
    if (s == NULL || config_setting_type(s) != CONFIG_TYPE_LIST || index < 0 ||
        index >= config_setting_length(s))
        return NULL;
    return config_setting_get_elem(s, (unsigned)index);
}

/* Read the start-up frame and open the module: NULL, or the error. */
static const char *open_line(served *sv, const char *frame, size_t len, char *buf, size_t buflen)
{
    wire_in in = {frame, frame + len, false};
    wire_field f;
    char *text = NULL;
    while (wire_next(&in, &f)) {
        char *s = wire_string(&f);
        switch (f.tag) {
        case W_CONFIG_PATH:
            sv->config_path = s, s = NULL;
            break;
        case W_CONFIG_TEXT:
            text = s, s = NULL;
            break;
        case W_STACK:
            sv->stack = s, s = NULL;
            break;
        case W_MODULE:
            sv->module = s, s = NULL;
            break;
        case W_FHIR_BASE:
            sv->fhir_base = s, s = NULL;
            break;
        case W_INDEX:
            if (!wire_int(&f, &sv->index))
                in.bad = true;
            break;
        default:
            in.bad = true;
        }
        free(s);
    }
    int ok = !in.bad && text != NULL && sv->config_path && sv->stack && sv->module &&
             config_read_string(&sv->cfg, text);
    free(text);
    if (!ok)
        return "the isolation worker got a malformed start-up frame";
    const config_setting_t *line = find_line(&sv->cfg, sv->stack, sv->index);
    if (line == NULL)
        return "the isolation worker cannot find its stack line";
    int at = config_setting_source_line(line);
    const config_setting_t *args = config_setting_get_member(line, "args");
    char why[512];
    if (module_from_image(4, &sv->file, why, sizeof why) != 0 ||
        module_dlopen(&sv->file, why, sizeof why) != 0) {
        snprintf(buf, buflen, "%.400s:%d: module '%.64s' %.400s", sv->config_path, at, sv->module,
                 why);
        return buf;
    }
    const fhirpam_module *desc = sv->file.desc;
    fhirpam_error err = {{0}};
    if (args_check(desc->args, sv->module, args, sv->config_path, &err) != 0) {
        snprintf(buf, buflen, "%s", err.text);
        return buf;
    }
    int args_at = args ? (int)config_setting_source_line(args) : at;
    if (args_build(&sv->args, args, sv->config_path, args_at) != 0)
        return "out of memory";
    if (desc->open != NULL && desc->open(&sv->args, &sv->instance, &err) != 0) {
        snprintf(buf, buflen, "%.400s:%d: module '%.64s': %.400s", sv->config_path, at, sv->module,
                 err.text[0] ? err.text : "refused its arguments");
        return buf;
    }
    sv->opened = true;
    return NULL;
}

/* One call: the request rebuilt, the module run, the answer encoded. */
typedef struct call {
    fhirpam_request *req;
    char *method, *stack_name, *scheme, *if_none_exist, *name;
    char *token;
    size_t token_len;
    json_t *claims;
    int64_t now;
    bool bad;
} call;

static void decode_field(call *c, struct fhirpam_authz *az, const wire_field *f)
{
    char *s = wire_string(f);
    long long v;
    switch (f->tag) {
    case W_METHOD:
        free(c->method), c->method = s, s = NULL;
        break;
    case W_URL:
        if (c->req == NULL && c->method != NULL && s != NULL)
            c->req = fhirpam_request_new(c->method, s);
        else
            c->bad = true;
        break;
    case W_HEADER_NAME:
    case W_DEVICE_NAME:
    case W_ATTR_NAME:
        free(c->name), c->name = s, s = NULL;
        break;
    case W_HEADER_VALUE:
        c->bad |= c->name == NULL || s == NULL || fhirpam_request_add_header(c->req, c->name, s);
        break;
    case W_DEVICE_VALUE:
        c->bad |=
            c->name == NULL || s == NULL || fhirpam_request_add_device_attr(c->req, c->name, s);
        break;
    case W_ATTR_VALUE:
        c->bad |= c->name == NULL || s == NULL || fhirpam_attr_set(az, c->name, s) != 0;
        break;
    case W_BODY:
        c->bad |= fhirpam_request_set_body(c->req, f->data, f->len) != 0;
        break;
    case W_CURRENT:
        c->bad |= fhirpam_request_set_current(c->req, f->data, f->len) != 0;
        break;
    case W_CERT_PEM:
        c->bad |= fhirpam_request_set_client_cert_pem(c->req, f->data, f->len) != 0;
        break;
    case W_CERT_THUMBPRINT:
        c->bad |= s == NULL || fhirpam_request_set_client_cert_thumbprint(c->req, s) != 0;
        break;
    case W_NOW:
        c->bad |= !wire_int(f, &v);
        c->now = v;
        break;
    case W_STACK_NAME:
        free(c->stack_name), c->stack_name = s, s = NULL;
        break;
    case W_CLAIMS:
        json_decref(c->claims);
        c->claims = json_loadb(f->data, f->len, JSON_REJECT_DUPLICATES, NULL);
        c->bad |= c->claims == NULL;
        break;
    case W_TOKEN_SCHEME:
        free(c->scheme), c->scheme = s, s = NULL;
        break;
    case W_ACCESS_TOKEN:
        free(c->token), c->token = s, s = NULL;
        c->token_len = f->len;
        break;
    case W_IF_NONE_EXIST:
        free(c->if_none_exist), c->if_none_exist = s, s = NULL;
        break;
    default:
        c->bad = true;
    }
    free(s);
}

static void encode_answer(wire_out *w, const struct fhirpam_authz *az, fhirpam_code code)
{
    wire_begin(w);
    wire_put_int(w, W_CODE, (long long)code);
    if (az->reason_set) {
        wire_put_str(w, W_REASON_WORD, az->reason_word);
        wire_put_str(w, W_REASON_TEXT, az->reason_text);
    }
    if (az->challenge_scope[0] != '\0')
        wire_put_str(w, W_CHALLENGE_SCOPE, az->challenge_scope);
    if (az->challenge_scheme[0] != '\0') {
        wire_put_str(w, W_CHALLENGE_SCHEME, az->challenge_scheme);
        wire_put_str(w, W_CHALLENGE_ERROR, az->challenge_error);
    }
    if (az->dpop_nonce[0] != '\0')
        wire_put_str(w, W_DPOP_NONCE, az->dpop_nonce);
    if (az->binding_verified != 0)
        wire_put_int(w, W_BINDING, (long long)az->binding_verified);
    for (size_t i = 0; i < az->nattrs; i++) {
        wire_put_str(w, W_ATTR_NAME, az->attrs[i].name);
        wire_put_str(w, W_ATTR_VALUE, az->attrs[i].value);
    }
    size_t i;
    const json_t *o;
    json_array_foreach(az->obligations, i, o)
    {
        /* {type, ...params} back into fhirpam_add_obligation's arguments. */
        json_t *params = json_deep_copy(o);
        const char *type = json_string_value(json_object_get(o, "type"));
        json_object_del(params, "type");
        char *text = params ? json_dumps(params, JSON_COMPACT) : NULL;
        if (type == NULL || text == NULL)
            w->failed = true;
        wire_put_str(w, W_OBLIGATION_TYPE, type);
        wire_put_str(w, W_OBLIGATION_PARAMS, text);
        free(text);
        json_decref(params);
    }
}

static void serve_call(served *sv, const char *frame, size_t len, wire_out *out)
{
    call c = {0};
    struct fhirpam_authz az = {0};
    wire_in in = {frame, frame + len, false};
    wire_field f;
    while (!c.bad && wire_next(&in, &f))
        decode_field(&c, &az, &f);
    fhir_request fhir;
    char err[160];
    fhirpam_code code = FHIRPAM_ERROR;
    bool parsed = false;
    if (c.bad || in.bad || c.req == NULL) {
        fhirpam_set_reason(&az, "bad_worker_call", "the isolation worker got a malformed call");
    } else if (fhir_request_parse(c.req->method, c.req->url, sv->fhir_base, c.req->body,
                                  c.req->body_len, c.if_none_exist, &fhir, err, sizeof err) != 0) {
        fhirpam_set_reason(&az, "bad_worker_call",
                           "the isolation worker cannot read the "
                           "request the host read: %s",
                           err);
    } else {
        parsed = true;
        az.req = c.req;
        az.fhir = &fhir;
        az.stack_name = c.stack_name;
        az.now = c.now;
        az.claims = c.claims;
        az.token_scheme = c.scheme;
        az.access_token = c.token;
        az.access_token_len = c.token_len;
        az.if_none_exist = c.if_none_exist;
        az.fhir_base = sv->fhir_base;
        /* fhirpam_binding_verified() here checks what the host checks
         * again when it applies the answer (isolate.c). */
        az.module_flags = sv->file.flags;
        az.reason_set = false;
        atomic_store(&in_call, true);
        code = sv->file.desc->authorize(sv->instance, &az);
        atomic_store(&in_call, false);
    }
    encode_answer(out, &az, code);
    if (parsed)
        fhir_request_clear(&fhir);
    json_decref(az.obligations);
    authz_release_temps(&az);
    fhirpam_request_free(c.req);
    json_decref(c.claims);
    free(c.method);
    free(c.stack_name);
    free(c.scheme);
    free(c.if_none_exist);
    free(c.name);
    free(c.token);
}

static void served_free(served *sv)
{
    if (sv->opened && sv->file.desc->close != NULL)
        sv->file.desc->close(sv->instance);
    args_free(&sv->args);
    config_destroy(&sv->cfg);
    free(sv->config_path);
    free(sv->stack);
    free(sv->module);
    free(sv->fhir_base);
}

int isolate_serve(int sock, int image_fd)
{
    struct stat st;
    if (fstat(sock, &st) != 0 || !S_ISSOCK(st.st_mode) || fstat(image_fd, &st) != 0) {
        fprintf(stderr, "fhirpam-worker: started by fhirpam for modules run with "
                        "isolation = \"process\"; not a command\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    served sv = {0};
    config_init(&sv.cfg);
    char *frame = NULL;
    size_t len = 0;
    if (wire_receive(sock, &frame, &len, 0) != WIRE_OK)
        return 1;
    char buf[1024];
    const char *error = open_line(&sv, frame, len, buf, sizeof buf);
    free(frame);
    if (reply_status(sock, error) != 0 || error != NULL) {
        served_free(&sv);
        return 1;
    }
    pthread_t watcher;
    if (pthread_create(&watcher, NULL, watch_host, &sock) == 0)
        pthread_detach(watcher);
    for (;;) {
        enum wire_status s = wire_receive(sock, &frame, &len, 0);
        if (s != WIRE_OK)
            break;
        wire_out out;
        serve_call(&sv, frame, len, &out);
        free(frame);
        s = wire_send(sock, &out, 0);
        wire_free(&out);
        if (s != WIRE_OK)
            break;
    }
    served_free(&sv);
    return 0;
}
