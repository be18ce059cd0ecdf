/*
 * fhirpam - the command-line tool: check a configuration, evaluate requests,
 * mint test tokens. Decisions go to stdout as JSON; diagnostics to stderr.
 */
#include <errno.h>
#include <fhirpam/fhirpam.h>
#include <fhirpam/module.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "loader.h"
#include "revoke_cmd.h"
#include "token_cmd.h"

#define EXIT_PERMIT 0
#define EXIT_ERROR  1
#define EXIT_DENY   2

/* Files the CLI reads for a request (bodies, tokens, certificates). */
#define CLI_MAX_FILE (16 * 1024 * 1024)
/* One line of --batch input. */
#define CLI_MAX_LINE (16 * 1024 * 1024)

static void usage(FILE *out)
{
    fputs(
        "usage:\n"
        "  fhirpam check -c FILE [--modules-dir DIR]\n"
        "  fhirpam check --module NAME|PATH [--modules-dir DIR]   (print its arguments)\n"
        "  fhirpam eval -c FILE -s STACK --request 'METHOD URL' [--token TOKEN | --token-file F]\n"
        "               [--header 'Name: value']... [--body-file F] [--current-file F]\n"
        "               [--client-cert-file PEM] [--device-attr NAME=VALUE]... [--now EPOCH]\n"
        "               [--response-file F] [--modules-dir DIR] [--pretty]\n"
        "  fhirpam eval -c FILE --batch FILE|- [--modules-dir DIR]\n"
        "  fhirpam token keygen|sign ...   (fhirpam token --help)\n"
        "  fhirpam revoke --denylist FILE RULE|list|check|compact ...   (fhirpam revoke --help)\n"
        "exit status of eval: 0 permit, 2 deny, 1 error\n",
        out);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "fhirpam: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (used + 1 == cap) {
            if (cap > CLI_MAX_FILE) {
                fprintf(stderr, "fhirpam: %s: larger than %d bytes\n", path, CLI_MAX_FILE);
                free(buf);
                buf = NULL;
                break;
            }
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t n = fread(buf + used, 1, cap - 1 - used, f);
        used += n;
        if (n == 0) {
            if (ferror(f)) {
                fprintf(stderr, "fhirpam: %s: read error\n", path);
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    if (buf != NULL) {
        buf[used] = '\0';
        if (len != NULL)
            *len = used;
    }
    return buf;
}

static int parse_epoch(const char *text, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

static void print_json(const char *json, bool pretty)
{
    if (pretty) {
        json_t *v = json_loads(json, 0, NULL);
        char *indented =
            v ? json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII) : NULL;
        json_decref(v);
        if (indented != NULL) {
            puts(indented);
            free(indented);
            return;
        }
    }
    puts(json);
}

/* ---- check ---- */

static int print_module_args(const char *name, const char *modules_dir)
{
    char path[PATH_MAX];
    if (strchr(name, '/') != NULL)
        snprintf(path, sizeof path, "%s", name);
    else
        snprintf(path, sizeof path, "%s/%s.so", modules_dir ? modules_dir : FHIRPAM_MODULES_DIR,
                 name);
    module_file *files = NULL;
    char why[512];
    char *absolute = path_absolute(path);
    module_file *f = absolute ? module_load(&files, absolute, why, sizeof why) : NULL;
    if (absolute == NULL)
        snprintf(why, sizeof why, "cannot be made absolute: %s", strerror(errno));
    free(absolute);
    if (f == NULL) {
        fprintf(stderr, "fhirpam: module %s (%s) %s\n", name, path, why);
        return EXIT_ERROR;
    }
    printf("%s %s: %s\n", f->desc->name, f->desc->version ? f->desc->version : "",
           f->desc->description ? f->desc->description : "");
    if (f->flags & FHIRPAM_MODULE_VERIFIES_BINDING)
        printf("  verifies bindings (FHIRPAM_MODULE_VERIFIES_BINDING): a stack with it can take "
               "bound tokens\n");
    static const char *const types[] = {"?", "string", "integer", "boolean", "list", "group"};
    for (const fhirpam_arg_spec *a = f->desc->args; a != NULL && a->name != NULL; a++) {
        printf("  %-20s %-8s default %-12s %s\n", a->name,
               a->type >= 1 && a->type <= 5 ? types[a->type] : "?",
               a->default_text ? a->default_text : "(none)", a->help ? a->help : "");
    }
    module_unload_all(files);
    return 0;
}

static int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"modules-dir", required_argument, NULL, 'm'},
        {"module", required_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *modules_dir = NULL, *module = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "c:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'm':
            modules_dir = optarg;
            break;
        case 'M':
            module = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_ERROR;
        }
    }
    if (module != NULL)
        return print_module_args(module, modules_dir);
    if (config == NULL || optind != argc) {
        usage(stderr);
        return EXIT_ERROR;
    }
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = fhirpam_open(config, modules_dir, &err);
    if (ctx == NULL) {
        fprintf(stderr, "%s\n", err.text);
        return EXIT_ERROR;
    }
    char **names = NULL, **warnings = NULL;
    size_t n = fhirpam_stack_names(ctx, &names);
    size_t nwarnings = fhirpam_config_warnings(ctx, &warnings);
    json_t *out =
        json_pack("{s:s, s:b, s:[], s:[]}", "config", config, "ok", 1, "stacks", "warnings");
    for (size_t i = 0; i < n; i++)
        json_array_append_new(json_object_get(out, "stacks"), json_string(names[i]));
    /* A warning does not fail the check: the configuration loads and
     * decides as it says; it may just not be what was meant. */
    for (size_t i = 0; i < nwarnings; i++) {
        fprintf(stderr, "fhirpam: %s: warning: %s\n", config, warnings[i]);
        json_array_append_new(json_object_get(out, "warnings"), json_string(warnings[i]));
    }
    /* The modules' data (the deny list) as it loaded: a file that does not
     * load has already refused the configuration, with its line. */
    fhirpam_source_info sources[32];
    size_t nsources = fhirpam_sources(ctx, sources, 32);
    json_t *list = json_array();
    for (size_t i = 0; i < nsources && i < 32; i++)
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:b, s:s?}", "kind", sources[i].kind, "name",
                                        sources[i].name, "stale", sources[i].stale_since != 0,
                                        "error", sources[i].error[0] ? sources[i].error : NULL));
    json_object_set_new(out, "sources", list);
    char *text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    puts(text);
    free(text);
    json_decref(out);
    fhirpam_free_strings(names, n);
    fhirpam_free_strings(warnings, nwarnings);
    fhirpam_close(ctx);
    return 0;
}

/* The decision JSON with a "response" member: what fhirpam_check_response
 * says of the response body in `path` ({"send": bool, "remove_entries": [..]}). */
static char *with_response_check(const fhirpam_decision *d, const char *decision_json,
                                 const char *path)
{
    size_t len;
    char *body = read_file(path, &len);
    json_t *v = json_loads(decision_json, 0, NULL);
    if (body == NULL || v == NULL) {
        free(body);
        json_decref(v);
        return NULL;
    }
    size_t *remove = NULL, nremove = 0;
    int rc = fhirpam_check_response(d, body, len, &remove, &nremove);
    json_t *entries = json_array();
    for (size_t i = 0; i < nremove; i++)
        json_array_append_new(entries, json_integer((json_int_t)remove[i]));
    json_object_set_new(v, "response",
                        json_pack("{s:b,s:o}", "send", rc == 1, "remove_entries", entries));
    char *out = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    free(remove);
    free(body);
    json_decref(v);
    return out;
}

/* ---- eval ---- */

typedef struct eval_options {
    const char *config;
    const char *stack;
    const char *request;
    const char *token;
    const char *token_file;
    const char *body_file;
    const char *current_file;
    const char *cert_file;
    const char *now;
    const char *modules_dir;
    const char *batch;
    char **headers;
    size_t nheaders;
    char **device_attrs; /* "name=value" */
    size_t ndevice_attrs;
    const char *response_file;
    bool pretty;
} eval_options;

static int add_bearer(fhirpam_request *req, const char *token)
{
    size_t n = strlen(token) + 8;
    char *value = malloc(n);
    if (value == NULL)
        return -1;
    snprintf(value, n, "Bearer %s", token);
    int rc = fhirpam_request_add_header(req, "Authorization", value);
    free(value);
    return rc;
}

/* Strip one trailing newline, as files written by editors and `echo` have. */
static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

static fhirpam_request *request_from_options(const eval_options *o)
{
    const char *space = strchr(o->request, ' ');
    if (space == NULL || space == o->request || space[1] == '\0') {
        fprintf(stderr, "fhirpam: --request must be 'METHOD URL'\n");
        return NULL;
    }
    char method[32];
    size_t mlen = (size_t)(space - o->request);
    if (mlen >= sizeof method) {
        fprintf(stderr, "fhirpam: --request: method too long\n");
        return NULL;
    }
    memcpy(method, o->request, mlen);
    method[mlen] = '\0';
    fhirpam_request *req = fhirpam_request_new(method, space + 1);
    if (req == NULL)
        return NULL;
    for (size_t i = 0; i < o->nheaders; i++) {
        char *colon = strchr(o->headers[i], ':');
        if (colon == NULL) {
            fprintf(stderr, "fhirpam: --header must be 'Name: value'\n");
            goto fail;
        }
        *colon = '\0';
        const char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        if (fhirpam_request_add_header(req, o->headers[i], value) != 0)
            goto fail;
    }
    for (size_t i = 0; i < o->ndevice_attrs; i++) {
        char *eq = strchr(o->device_attrs[i], '=');
        if (eq == NULL) {
            fprintf(stderr, "fhirpam: --device-attr must be 'name=value'\n");
            goto fail;
        }
        *eq = '\0';
        if (fhirpam_request_add_device_attr(req, o->device_attrs[i], eq + 1) != 0)
            goto fail;
    }
    if (o->token != NULL && add_bearer(req, o->token) != 0)
        goto fail;
    if (o->token_file != NULL) {
        char *t = read_file(o->token_file, NULL);
        if (t == NULL)
            goto fail;
        chomp(t);
        int rc = add_bearer(req, t);
        free(t);
        if (rc != 0)
            goto fail;
    }
    const char *files[3] = {o->body_file, o->current_file, o->cert_file};
    for (int k = 0; k < 3; k++) {
        if (files[k] == NULL)
            continue;
        size_t len;
        char *data = read_file(files[k], &len);
        if (data == NULL)
            goto fail;
        int rc = k == 0   ? fhirpam_request_set_body(req, data, len)
                 : k == 1 ? fhirpam_request_set_current(req, data, len)
                          : fhirpam_request_set_client_cert_pem(req, data, len);
        free(data);
        if (rc != 0)
            goto fail;
    }
    if (o->now != NULL) {
        int64_t now;
        if (parse_epoch(o->now, &now) != 0) {
            fprintf(stderr, "fhirpam: --now must be seconds since the epoch\n");
            goto fail;
        }
        fhirpam_request_set_time(req, now);
    }
    return req;
fail:
    fhirpam_request_free(req);
    return NULL;
}

/* Build a request from one batch line. Returns NULL with err filled. */
static fhirpam_request *request_from_json(const json_t *line, const char **stack, char *err,
                                          size_t errlen)
{
    static const char *const keys[] = {"stack", "method",  "url", "headers",         "token",
                                       "body",  "current", "now", "client_cert_pem", NULL};
    if (!json_is_object(line)) {
        snprintf(err, errlen, "a line must be a JSON object");
        return NULL;
    }
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)line, key, value)
    {
        bool known = false;
        for (const char *const *k = keys; *k != NULL; k++)
            known = known || strcmp(*k, key) == 0;
        if (!known) {
            snprintf(err, errlen, "unknown key \"%.64s\"", key);
            return NULL;
        }
    }
    *stack = json_string_value(json_object_get(line, "stack"));
    const char *method = json_string_value(json_object_get(line, "method"));
    const char *url = json_string_value(json_object_get(line, "url"));
    if (*stack == NULL || method == NULL || url == NULL) {
        snprintf(err, errlen, "\"stack\", \"method\" and \"url\" are required strings");
        return NULL;
    }
    fhirpam_request *req = fhirpam_request_new(method, url);
    if (req == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const json_t *headers = json_object_get(line, "headers");
    if (headers != NULL && !json_is_object(headers)) {
        snprintf(err, errlen, "\"headers\" must be an object");
        goto fail;
    }
    json_object_foreach((json_t *)headers, key, value)
    {
        /* A repeated header is an array of values, kept apart (never joined). */
        size_t n = json_is_array(value) ? json_array_size(value) : 1;
        for (size_t i = 0; i < n; i++) {
            const json_t *v = json_is_array(value) ? json_array_get(value, i) : value;
            if (!json_is_string(v)) {
                snprintf(err, errlen, "header \"%.64s\" must be a string or strings", key);
                goto fail;
            }
            fhirpam_request_add_header(req, key, json_string_value(v));
        }
    }
    const json_t *token = json_object_get(line, "token");
    if (token != NULL) {
        if (!json_is_string(token)) {
            snprintf(err, errlen, "\"token\" must be a string");
            goto fail;
        }
        bool has_authorization = false;
        json_object_foreach((json_t *)headers, key, value)
        {
            has_authorization = has_authorization || strcasecmp(key, "Authorization") == 0;
        }
        if (has_authorization) {
            snprintf(err, errlen, "\"token\" and an Authorization header both given");
            goto fail;
        }
        add_bearer(req, json_string_value(token));
    }
    const json_t *body = json_object_get(line, "body");
    if (body != NULL) {
        if (json_is_string(body)) {
            fhirpam_request_set_body(req, json_string_value(body), json_string_length(body));
        } else {
            char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
            if (text == NULL) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            fhirpam_request_set_body(req, text, strlen(text));
            free(text);
        }
    }
    const json_t *current = json_object_get(line, "current");
    if (current != NULL) {
        if (!json_is_object(current)) {
            snprintf(err, errlen, "\"current\" must be a FHIR resource (an object)");
            goto fail;
        }
        char *text = json_dumps(current, JSON_COMPACT);
        if (text == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        fhirpam_request_set_current(req, text, strlen(text));
        free(text);
    }
    const json_t *cert = json_object_get(line, "client_cert_pem");
    if (cert != NULL) {
        if (!json_is_string(cert)) {
            snprintf(err, errlen, "\"client_cert_pem\" must be a string");
            goto fail;
        }
        fhirpam_request_set_client_cert_pem(req, json_string_value(cert), json_string_length(cert));
    }
    const json_t *now = json_object_get(line, "now");
    if (now != NULL) {
        if (!json_is_integer(now)) {
            snprintf(err, errlen, "\"now\" must be an integer (seconds since the epoch)");
            goto fail;
        }
        fhirpam_request_set_time(req, (int64_t)json_integer_value(now));
    }
    return req;
fail:
    fhirpam_request_free(req);
    return NULL;
}

static void print_batch_error(size_t lineno, const char *message)
{
    json_t *e = json_pack("{s:s, s:I}", "error", message, "line", (json_int_t)lineno);
    char *text = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    puts(text ? text : "{\"error\":\"out of memory\"}");
    free(text);
    json_decref(e);
}

static int run_batch(fhirpam_context *ctx, const char *path)
{
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (in == NULL) {
        fprintf(stderr, "fhirpam: %s: %s\n", path, strerror(errno));
        return EXIT_ERROR;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if (n == 0 || line[strspn(line, " \t\r\n")] == '\0')
            continue;
        if ((size_t)n > CLI_MAX_LINE) {
            print_batch_error(lineno, "line too long");
            continue;
        }
        json_error_t jerr;
        json_t *v = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
        if (v == NULL) {
            char msg[300];
            snprintf(msg, sizeof msg, "invalid JSON: %s", jerr.text);
            print_batch_error(lineno, msg);
            continue;
        }
        char err[256];
        const char *stack = NULL;
        fhirpam_request *req = request_from_json(v, &stack, err, sizeof err);
        if (req == NULL) {
            print_batch_error(lineno, err);
            json_decref(v);
            continue;
        }
        fhirpam_decision *d = fhirpam_authorize(ctx, stack, req);
        char *text = fhirpam_decision_json(d);
        if (text != NULL)
            puts(text);
        else
            print_batch_error(lineno, "out of memory");
        free(text);
        fhirpam_decision_free(d);
        fhirpam_request_free(req);
        json_decref(v);
        if (ferror(stdout))
            break; /* nobody reads the decisions any more */
    }
    free(line);
    bool read_error = ferror(in) != 0;
    if (in != stdin)
        fclose(in);
    if (fflush(stdout) != 0 || ferror(stdout) || read_error) {
        fprintf(stderr, "fhirpam: batch: %s\n",
                read_error ? "cannot read the requests" : "cannot write the decisions");
        return EXIT_ERROR;
    }
    return 0;
}

static int cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"stack", required_argument, NULL, 's'},
        {"request", required_argument, NULL, 'r'},
        {"token", required_argument, NULL, 't'},
        {"token-file", required_argument, NULL, 'T'},
        {"header", required_argument, NULL, 'H'},
        {"body-file", required_argument, NULL, 'b'},
        {"current-file", required_argument, NULL, 'C'},
        {"client-cert-file", required_argument, NULL, 'x'},
        {"device-attr", required_argument, NULL, 'D'},
        {"response-file", required_argument, NULL, 'R'},
        {"now", required_argument, NULL, 'n'},
        {"modules-dir", required_argument, NULL, 'm'},
        {"batch", required_argument, NULL, 'B'},
        {"pretty", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    eval_options o = {0};
    o.headers = calloc((size_t)argc, sizeof *o.headers);
    o.device_attrs = calloc((size_t)argc, sizeof *o.device_attrs);
    if (o.headers == NULL || o.device_attrs == NULL) {
        free(o.headers);
        free(o.device_attrs);
        return EXIT_ERROR;
    }
    int c, rc = EXIT_ERROR;
    while ((c = getopt_long(argc, argv, "c:s:r:t:H:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.config = optarg;
            break;
        case 's':
            o.stack = optarg;
            break;
        case 'r':
            o.request = optarg;
            break;
        case 't':
            o.token = optarg;
            break;
        case 'T':
            o.token_file = optarg;
            break;
        case 'H':
            o.headers[o.nheaders++] = optarg;
            break;
        case 'b':
            o.body_file = optarg;
            break;
        case 'C':
            o.current_file = optarg;
            break;
        case 'x':
            o.cert_file = optarg;
            break;
        case 'D':
            o.device_attrs[o.ndevice_attrs++] = optarg;
            break;
        case 'R':
            o.response_file = optarg;
            break;
        case 'n':
            o.now = optarg;
            break;
        case 'm':
            o.modules_dir = optarg;
            break;
        case 'B':
            o.batch = optarg;
            break;
        case 'p':
            o.pretty = true;
            break;
        case 'h':
            usage(stdout);
            free(o.headers);
            free(o.device_attrs);
            return 0;
        default:
            usage(stderr);
            free(o.headers);
            free(o.device_attrs);
            return EXIT_ERROR;
        }
    }
    bool single = o.batch == NULL;
    if (o.config == NULL || optind != argc || (single && (o.stack == NULL || o.request == NULL)) ||
        (o.token != NULL && o.token_file != NULL)) {
        usage(stderr);
        free(o.headers);
        free(o.device_attrs);
        return EXIT_ERROR;
    }
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = fhirpam_open(o.config, o.modules_dir, &err);
    if (ctx == NULL) {
        fprintf(stderr, "%s\n", err.text);
        free(o.headers);
        free(o.device_attrs);
        return EXIT_ERROR;
    }
    if (!single) {
        rc = run_batch(ctx, o.batch);
    } else {
        fhirpam_request *req = request_from_options(&o);
        if (req != NULL) {
            fhirpam_decision *d = fhirpam_authorize(ctx, o.stack, req);
            char *text = fhirpam_decision_json(d);
            if (text != NULL && o.response_file != NULL && fhirpam_decision_permitted(d)) {
                char *with = with_response_check(d, text, o.response_file);
                free(text);
                text = with;
            }
            if (text != NULL) {
                print_json(text, o.pretty);
                rc = fhirpam_decision_permitted(d) ? EXIT_PERMIT : EXIT_DENY;
            }
            free(text);
            fhirpam_decision_free(d);
            fhirpam_request_free(req);
            if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "fhirpam: cannot write the decision: %s\n", strerror(errno));
                rc = EXIT_ERROR;
            }
        }
    }
    fhirpam_close(ctx);
    free(o.headers);
    free(o.device_attrs);
    return rc;
}

int main(int argc, char **argv)
{
    /* A reader gone (`fhirpam eval ... | head -c0`) is an error to report,
     * not a signal to die of. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return EXIT_ERROR;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    if (strcmp(cmd, "eval") == 0)
        return cmd_eval(argc - 1, argv + 1);
    if (strcmp(cmd, "token") == 0)
        return token_cmd_main(argc - 1, argv + 1);
    if (strcmp(cmd, "revoke") == 0)
        return revoke_cmd_main(argc - 1, argv + 1);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("fhirpam %s\n", FHIRPAM_VERSION);
        return 0;
    }
    fprintf(stderr, "fhirpam: unknown command '%s'\n", cmd);
    usage(stderr);
    return EXIT_ERROR;
}
