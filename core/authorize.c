/*
 * authorize.c - fhirpam_authorize(): one request, end to end (design §1).
 *
 * Pin the configuration, verify the token (a request whose token fails is
 * denied before any module runs: modules only see verified claims), walk the
 * stack, build the decision, write the audit record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "audit.h"
#include "authz.h"
#include "binding.h"
#include "codes.h"
#include "context.h"
#include "decision.h"
#include "isolate.h"
#include "json_strict.h"
#include "token.h"

/* Steps for stacks up to this long live on the C stack; longer ones (rare,
 * bounded by the config) are allocated. */
#define INLINE_STEPS 64

typedef struct run_state {
    const flat_stack *fs;
    struct fhirpam_authz *az;
    struct fhirpam_decision *d;
    int bundle_entry; /* -1, or the entry being authorized */
    uint64_t clock;   /* when the previous module returned (or the walk began) */
} run_state;

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * A module answered after its stack's budget (limits.module_deadline_ms):
 * the answer is dropped, with what the call left (its reason, challenges,
 * attributes, obligations, the bindings it reported), and the call counts
 * as `unavailable`, which the line's control then judges. An in-process
 * module cannot be stopped while it runs; the request waits for it, but
 * never for its answer. A module run isolated is stopped at the budget
 * (isolate.c).
 */
static fhirpam_code discard_late_answer(struct fhirpam_authz *az, const config_line *l,
                                        const flat_stack *fs, uint64_t us, size_t obligations,
                                        unsigned bindings)
{
    az->binding_verified = bindings;
    size_t kept = 0;
    for (size_t i = 0; i < az->nattrs; i++) {
        if (az->attrs[i].set_by != az->call)
            az->attrs[kept++] = az->attrs[i];
    }
    az->nattrs = kept;
    while (az->obligations != NULL && json_array_size(az->obligations) > obligations)
        json_array_remove(az->obligations, json_array_size(az->obligations) - 1);
    az->challenge_scope[0] = '\0';
    az->challenge_scheme[0] = az->challenge_error[0] = az->dpop_nonce[0] = '\0';
    fhirpam_set_reason(az, "deadline_exceeded",
                       "module '%.64s' answered after %llu ms, past the %llu ms budget of stack "
                       "'%.64s'; its answer was discarded",
                       l->module_name, (unsigned long long)(us / 1000),
                       (unsigned long long)(fs->deadline_us / 1000), fs->name);
    return FHIRPAM_UNAVAILABLE;
}

static fhirpam_code call_module(void *cookie, size_t entry)
{
    run_state *rs = cookie;
    const config_line *l = rs->fs->lines[entry];
    struct fhirpam_authz *az = rs->az;
    az->reason_set = false;
    az->challenge_scope[0] = '\0';
    az->challenge_scheme[0] = az->challenge_error[0] = az->dpop_nonce[0] = '\0';
    az->module_flags = l->file->flags;
    az->call++;
    size_t obligations = az->obligations != NULL ? json_array_size(az->obligations) : 0;
    unsigned bindings = az->binding_verified;
    /* One clock read per module: its time runs from the previous module's
     * end (the engine's own work in between is a few nanoseconds). */
    bool stopped = false;
    fhirpam_code code = l->pool == NULL
                            ? l->file->desc->authorize(l->instance, az)
                            : isolated_call(l->pool, az, rs->clock + rs->fs->deadline_us,
                                            rs->fs->deadline_us, &stopped);
    uint64_t now = monotonic_us(), us = now - rs->clock;
    rs->clock = now;
    if (us > rs->fs->deadline_us && !stopped)
        code = discard_late_answer(az, l, rs->fs, us, obligations, bindings);

    struct fhirpam_decision *d = rs->d;
    trace_entry *t = decision_add_trace(d);
    if (t != NULL) {
        str_ref labels = decision_intern(d, l->labels, l->labels_len - 1);
        t->stack = labels;
        t->index = l->index;
        t->module = labels != 0 ? labels + (str_ref)l->module_at : 0;
        t->control = labels != 0 ? labels + (str_ref)l->control_at : 0;
        t->code = code_is_valid((int)code) ? code : FHIRPAM_ERROR;
        t->bundle_entry = rs->bundle_entry;
        t->us = us;
        if (az->reason_set) {
            t->reason = decision_intern_str(d, az->reason_word);
            t->reason_text = decision_intern_str(d, az->reason_text);
        }
        if (az->challenge_scope[0] != '\0')
            t->challenge_scope = decision_intern_str(d, az->challenge_scope);
        if (az->challenge_scheme[0] != '\0') {
            char value[80];
            snprintf(value, sizeof value, "%s error=\"%s\"", az->challenge_scheme,
                     az->challenge_error);
            t->challenge = decision_intern_str(d, value);
        }
        if (az->dpop_nonce[0] != '\0')
            t->dpop_nonce = decision_intern_str(d, az->dpop_nonce);
    }
    return code;
}

/* The token of `Authorization: Bearer <token>` or `Authorization: DPoP
 * <token>` (RFC 6750 §2.1, RFC 9449 §7.1: the scheme is case-insensitive).
 * Returns 1 with the token, 0 when there is none, -1 when the header is
 * ambiguous (several Authorization headers). */
static int extract_token(const struct fhirpam_request *req, const char **token, size_t *len,
                         const char **scheme)
{
    const char *v = request_header_get(req, "Authorization", 0);
    if (v == NULL)
        return 0;
    if (request_header_get(req, "Authorization", 1) != NULL)
        return -1;
    const char *rest;
    if (strncasecmp(v, "Bearer ", 7) == 0)
        rest = v + 7, *scheme = "Bearer";
    else if (strncasecmp(v, "DPoP ", 5) == 0)
        rest = v + 5, *scheme = "DPoP";
    else
        return 0;
    while (*rest == ' ')
        rest++;
    if (*rest == '\0')
        return 0;
    *token = rest;
    *len = strlen(rest);
    return 1;
}

static void record_identity(struct fhirpam_decision *d, const token_identity *id)
{
    /* One copy of the five (packed when the token was verified). */
    str_ref base = id->packed_len > 0 ? decision_intern(d, id->packed, id->packed_len - 1) : 0;
    str_ref *fields[5] = {&d->iss, &d->sub, &d->client_id, &d->jti, &d->patient};
    for (int i = 0; i < 5; i++)
        *fields[i] = base != 0 && id->at[i] >= 0 ? base + (str_ref)id->at[i] : 0;
}

/* The trace entry of the walk's step for stack entry `entry`; the walk's
 * steps are the trace entries from `base` on. */
static const trace_entry *trace_for_entry(const struct fhirpam_decision *d, size_t base,
                                          const stack_step *steps, size_t nsteps, long entry)
{
    for (size_t k = nsteps; k-- > 0;) {
        if ((long)steps[k].entry == entry && base + k < d->ntrace)
            return &d->trace[base + k];
    }
    return NULL;
}

/* Turn the walk's result into the decision's outcome and reason. */
static void conclude_walk(struct fhirpam_decision *d, const flat_stack *fs, size_t base,
                          const stack_step *steps, const stack_result *res, bool token_presented)
{
    char text[AUTHZ_REASON_TEXT_MAX];
    const trace_entry *t =
        res->decider >= 0 ? trace_for_entry(d, base, steps, res->nsteps, res->decider) : NULL;
    if (t != NULL) {
        /* The trace entry's strings are in the arena already. */
        str_ref module = t->module, reason = t->reason, reason_text = t->reason_text;
        if (reason == 0)
            reason = decision_intern_str(d, fhirpam_code_name(res->code));
        if (reason_text == 0) {
            /* "module 'NAME' returned CODE", without printf on this path. */
            const char *parts[] = {"module '", decision_str(d, module), "' returned ",
                                   fhirpam_code_name(res->code)};
            size_t used = 0;
            for (size_t i = 0; i < 4; i++) {
                size_t len = strlen(parts[i]);
                if (used + len >= sizeof text)
                    len = sizeof text - 1 - used;
                memcpy(text + used, parts[i], len);
                used += len;
            }
            text[used] = '\0';
            reason_text = decision_intern_str(d, text);
        }
        str_ref scope = t->challenge_scope;
        str_ref challenge = t->challenge, nonce = t->dpop_nonce;
        decision_conclude_refs(d, res->code, module, reason, reason_text, token_presented);
        if (!d->permitted && challenge != 0 && d->http_status == 401)
            d->www_authenticate = challenge;
        if (!d->permitted)
            d->dpop_nonce = nonce;
        if (scope != 0) {
            char copy[256]; /* out of the arena first: setting interns into it */
            snprintf(copy, sizeof copy, "%s", decision_str(d, scope));
            decision_set_challenge_scope(d, copy);
        }
        return;
    }
    if (res->bad_jump) {
        snprintf(text, sizeof text, "a jump in stack '%s' went past the end of its (sub)stack",
                 fs->name);
        decision_conclude(d, res->code, "", "bad_jump", text, token_presented);
    } else if (res->sanity_denied) {
        snprintf(text, sizeof text,
                 "stack '%s' ended with success recorded but no module permitted", fs->name);
        decision_conclude(d, res->code, "", "no_module_permitted", text, token_presented);
    } else {
        snprintf(text, sizeof text, "no module in stack '%s' decided; the default is deny",
                 fs->name);
        decision_conclude(d, res->code, "", "no_module_decided", text, token_presented);
    }
}

static void run_stack(const flat_stack *fs, struct fhirpam_authz *az, struct fhirpam_decision *d,
                      bool token_presented, int bundle_entry)
{
    stack_step inline_steps[INLINE_STEPS];
    stack_step *steps = inline_steps;
    if (fs->n > INLINE_STEPS) {
        steps = malloc(fs->n * sizeof *steps);
        if (steps == NULL) {
            decision_conclude(d, FHIRPAM_ERROR, "", "out_of_memory",
                              "out of memory while evaluating the stack", token_presented);
            return;
        }
    }
    az->binding_verified = 0; /* this run's reports only */
    run_state rs = {
        .fs = fs, .az = az, .d = d, .bundle_entry = bundle_entry, .clock = monotonic_us()};
    size_t base = d->ntrace;
    stack_result res;
    stack_run(fs->entries, fs->n, call_module, &rs, steps, &res);
    if (d->ntrace > base)
        d->walk_end_us = rs.clock;
    for (size_t k = 0; k < res.nsteps && base + k < d->ntrace; k++) {
        char action[16];
        d->trace[base + k].action = steps[k].action;
        const char *text = stack_action_text(steps[k].action, action, sizeof action);
        trace_entry *t = &d->trace[base + k];
        /* The words are static; only a jump's number is copied. */
        t->action_word = text != action ? text : NULL;
        t->action_text = text == action ? decision_intern_str(d, text) : 0;
    }
    conclude_walk(d, fs, base, steps, &res, token_presented);
    if (az->binding_needed != 0 && d->permitted)
        binding_enforce(az, d);
    if (steps != inline_steps)
        free(steps);
}

/* Entries a batch or transaction may hold before it is refused. */
#define BUNDLE_MAX_ENTRIES 1000

/* Notes the entry that decided in the decision's reason text. */
static void prefix_entry(struct fhirpam_decision *d, size_t entry, size_t count)
{
    char text[AUTHZ_REASON_TEXT_MAX + 64];
    if (d->permitted)
        snprintf(text, sizeof text, "all %zu entries of the bundle are permitted", count);
    else
        snprintf(text, sizeof text, "bundle entry %zu: %s", entry, decision_str(d, d->reason_text));
    d->reason_text = decision_intern_str(d, text);
}

/*
 * The state one bundle entry is judged from: what the entries share (the
 * bundle's transport, the verified token and the bindings it needs, the
 * time, the configured base), and nothing a module
 * left while another entry was judged (attributes, reasons, challenges,
 * obligations, temporaries). Every member not named here starts zeroed, so a
 * member added to fhirpam_authz later is per entry unless it is added here.
 */
static struct fhirpam_authz entry_authz(const struct fhirpam_authz *bundle,
                                        const struct fhirpam_request *sub, const fhir_request *fhir,
                                        const char *if_none_exist)
{
    struct fhirpam_authz az = {
        .req = sub,
        .stack_name = bundle->stack_name,
        .now = bundle->now,
        .claims = bundle->claims,
        .token = bundle->token,
        .fhir = fhir,
        .token_scheme = bundle->token_scheme,
        .access_token = bundle->access_token,
        .access_token_len = bundle->access_token_len,
        .fhir_base = bundle->fhir_base,
        .if_none_exist = if_none_exist,
        /* Needed by every entry; what was verified is each entry's own. */
        .binding_needed = bundle->binding_needed,
        .cert_thumbprint_done = bundle->cert_thumbprint_done,
    };
    memcpy(az.cert_thumbprint, bundle->cert_thumbprint, sizeof az.cert_thumbprint);
    return az;
}

/* After entry `entry` was judged on az: what the bundle keeps of it. */
static void finish_entry(struct fhirpam_authz *bundle, struct fhirpam_authz *az,
                         struct fhirpam_decision *d, size_t entry)
{
    decision_add_entry(d, entry);
    /* A permitted bundle carries every entry's obligations: the host checks
     * the whole response against all of them (stricter, never looser). */
    if (d->permitted && az->obligations != NULL) {
        if (bundle->obligations == NULL)
            bundle->obligations = json_array();
        if (bundle->obligations == NULL || json_array_extend(bundle->obligations, az->obligations))
            d->failed = true;
    }
    json_decref(az->obligations);
    authz_release_temps(az);
    if (az->cert_thumbprint_done && !bundle->cert_thumbprint_done) {
        memcpy(bundle->cert_thumbprint, az->cert_thumbprint, sizeof az->cert_thumbprint);
        bundle->cert_thumbprint_done = true;
    }
}

/* A bundle's work is bounded before it starts (entries x lines) and while it
 * runs (the decision's size): past either bound it is refused whole. */
static bool bundle_too_large(const config *c, const flat_stack *fs, size_t count,
                             struct fhirpam_decision *d, bool presented)
{
    char text[AUTHZ_REASON_TEXT_MAX];
    if (count > c->limits.bundle_max_calls / (fs->n ? fs->n : 1)) {
        snprintf(text, sizeof text,
                 "a bundle of %zu entries on stack '%.64s' (%zu lines) could make %zu module "
                 "calls; limits.bundle_max_calls is %zu",
                 count, fs->name, fs->n, count * fs->n, c->limits.bundle_max_calls);
    } else if (decision_bytes(d) > c->limits.bundle_max_decision_bytes) {
        snprintf(text, sizeof text,
                 "the decision for this bundle grew past limits.bundle_max_decision_bytes (%zu)",
                 c->limits.bundle_max_decision_bytes);
    } else {
        return false;
    }
    decision_conclude(d, FHIRPAM_INVALID_REQUEST, "", "bundle_too_large", text, presented);
    return true;
}

/*
 * A batch or transaction: each entry is authorized as its own request
 * through the same stack (SMART defines no scope for the bundle itself),
 * from a fresh state (entry_authz); the bundle is permitted only when every
 * entry is (A12), and the decision is the first refused entry's, named in
 * the reason and the trace.
 */
static void run_bundle(const config *c, const flat_stack *fs, struct fhirpam_authz *az,
                       struct fhirpam_decision *d, bool presented)
{
    const struct fhirpam_request *parent = az->req;
    char err[160];
    json_t *bundle = json_strict_parse(parent->body, parent->body_len, 256, err, sizeof err);
    const json_t *entries = json_object_get(bundle, "entry");
    size_t count = json_array_size(entries);
    if (!json_is_array(entries) || count == 0 || count > BUNDLE_MAX_ENTRIES) {
        decision_conclude(d, FHIRPAM_INVALID_REQUEST, "", "bad_bundle",
                          "a batch or transaction needs 1 to 1000 entries", presented);
        json_decref(bundle);
        return;
    }
    if (bundle_too_large(c, fs, count, d, presented)) {
        json_decref(bundle);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        const json_t *e = json_array_get(entries, i);
        const json_t *rq = json_object_get(e, "request");
        const char *method = json_string_value(json_object_get(rq, "method"));
        const char *url = json_string_value(json_object_get(rq, "url"));
        const char *if_none_exist = json_string_value(json_object_get(rq, "ifNoneExist"));
        const json_t *resource = json_object_get(e, "resource");
        char *body = resource ? json_dumps(resource, JSON_COMPACT) : NULL;
        /* The entry as a request of its own, with the bundle's headers. */
        struct fhirpam_request sub = *parent;
        sub.method = (char *)(method ? method : "");
        sub.url = (char *)(url ? url : "");
        sub.body = body;
        sub.body_len = body ? strlen(body) : 0;
        fhir_request fhir;
        int parsed = method && url && (!resource || body)
                         ? fhir_request_parse(method, url, c->fhir_base, body, sub.body_len,
                                              if_none_exist, &fhir, err, sizeof err)
                         : (snprintf(err, sizeof err, "an entry needs request.method and url"), -1);
        if (parsed == 0 &&
            (fhir.interaction == FHIRPAM_IA_BATCH || fhir.interaction == FHIRPAM_IA_TRANSACTION)) {
            snprintf(err, sizeof err, "a bundle inside a bundle entry");
            fhir_request_clear(&fhir);
            parsed = -1;
        }
        if (parsed != 0) {
            decision_conclude(d, FHIRPAM_INVALID_REQUEST, "", "bad_bundle_entry", err, presented);
            decision_add_entry(d, i);
        } else {
            struct fhirpam_authz entry = entry_authz(az, &sub, &fhir, if_none_exist);
            run_stack(fs, &entry, d, presented, (int)i);
            finish_entry(az, &entry, d, i);
            fhir_request_clear(&fhir);
        }
        free(body);
        if (d->permitted && bundle_too_large(c, fs, count, d, presented))
            break;
        if (!d->permitted || i + 1 == count) {
            prefix_entry(d, i, count);
            break;
        }
    }
    json_decref(bundle);
}

/* The state of the configuration's module data sources, one entry per kind
 * (stale when any source of the kind is): one atomic load each. */
static void note_sources(const config *c, struct fhirpam_decision *d)
{
    for (size_t i = 0; i < c->env.sources.n; i++) {
        struct fhirpam_source *s = c->env.sources.items[i];
        const char *kind = source_kind(s);
        size_t k = 0;
        while (k < d->nsources && strcmp(decision_str(d, d->sources[k].kind), kind) != 0)
            k++;
        if (k == d->nsources) {
            if (k == DECISION_MAX_SOURCES)
                continue;
            d->sources[k] = (struct decision_source){decision_intern_str(d, kind), 0, false};
            d->nsources++;
        }
        if (!d->sources[k].stale && source_is_stale(s)) {
            fhirpam_source_info info;
            source_info(s, &info);
            d->sources[k].stale = true;
            d->sources[k].error = decision_intern_str(d, info.error);
        }
    }
}

static void write_audit(const config *c, struct fhirpam_decision *d)
{
    if (!audit_sink_enabled(c->audit))
        return;
    note_sources(c, d);
    jsonw w;
    jw_init(&w);
    decision_write_audit(d, &w);
    jw_append(&w, "\n", 1);
    /* A record too long to go whole through the sink (a pipe) is written
     * brief rather than refused: one record for every decision. */
    size_t max = audit_sink_max_record(c->audit);
    for (size_t cut = 256; !w.failed && w.len > max && cut > 0; cut /= 4) {
        jw_free(&w);
        jw_init(&w);
        decision_write_audit_brief(d, &w, cut);
        jw_append(&w, "\n", 1);
    }
    int rc = w.failed ? -1 : audit_sink_write(c->audit, w.data, w.len);
    jw_free(&w);
    if (rc != 0 && audit_sink_required(c->audit)) {
        /* design §5: with required = true, an unrecorded decision is a deny. */
        decision_conclude(d, FHIRPAM_ERROR, "", "audit_write_failed",
                          "the audit record could not be written and audit.required is true",
                          false);
    }
}

/* Servers and frameworks that honour one of these headers (Express
 * method-override, Symfony, JAX-RS filters, ArangoDB) execute the method it
 * names, not the request line's. FHIR's RESTful API defines none of them
 * (it tunnels only search, as POST _search): a request carrying one is
 * refused, since what the server will execute cannot be read from it. */
static bool method_overridden(const struct fhirpam_request *req)
{
    static const char *const names[] = {"X-HTTP-Method-Override", "X-HTTP-Method",
                                        "X-Method-Override"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (request_header_count(req, names[i]) > 0)
            return true;
    }
    return false;
}

static void authorize_pinned(const config *c, const char *stack, const struct fhirpam_request *req,
                             struct fhirpam_decision *d)
{
    const flat_stack *fs = config_find_stack(c, stack);
    if (fs == NULL) {
        char text[256];
        snprintf(text, sizeof text, "no stack named '%.100s' in %.100s", stack ? stack : "(null)",
                 c->path);
        decision_conclude(d, FHIRPAM_ERROR, "", "unknown_stack", text, false);
        return;
    }
    /* What the request means, before any module runs: a request that cannot
     * be understood is refused, never guessed at. */
    if (method_overridden(req)) {
        decision_conclude(d, FHIRPAM_INVALID_REQUEST, "", "method_override",
                          "the request carries a method-override header (X-HTTP-Method-Override, "
                          "X-HTTP-Method or X-Method-Override): a server that honours it executes "
                          "another method than the one judged",
                          request_header_count(req, "Authorization") > 0);
        return;
    }
    fhir_request fhir;
    char parse_error[160];
    const char *if_none_exist = request_header_get(req, "If-None-Exist", 0);
    if (fhir_request_parse(req->method, req->url, c->fhir_base, req->body, req->body_len,
                           if_none_exist, &fhir, parse_error, sizeof parse_error) != 0) {
        decision_conclude(d, FHIRPAM_INVALID_REQUEST, "", "unparsable_request", parse_error,
                          request_header_count(req, "Authorization") > 0);
        return;
    }
    struct fhirpam_authz az = {.req = req,
                               .stack_name = fs->name,
                               .now = d->time,
                               .fhir = &fhir,
                               .fhir_base = c->fhir_base,
                               .if_none_exist = if_none_exist};
    const verified_token *vt = NULL;
    bool presented = false;
    if (fs->token_required) {
        const char *token = NULL;
        size_t len = 0;
        const char *scheme = NULL;
        int found = extract_token(req, &token, &len, &scheme);
        if (found < 0) {
            decision_conclude(d, FHIRPAM_INVALID_REQUEST, "", "several_authorization_headers",
                              "the request carries more than one Authorization header", true);
            fhir_request_clear(&fhir);
            return;
        }
        if (found == 0) {
            decision_conclude(d, FHIRPAM_INVALID_TOKEN, "", "missing_token",
                              "the request carries no Bearer or DPoP access token", false);
            fhir_request_clear(&fhir);
            return;
        }
        presented = true;
        az.access_token = token;
        az.access_token_len = len;
        az.token_scheme = scheme;
        token_failure why;
        vt = token_verify(c->verifier, token, len, d->time, &why);
        if (vt == NULL) {
            decision_conclude(d, why.code, "", why.reason, why.text, true);
            fhir_request_clear(&fhir);
            return;
        }
        az.claims = verified_token_claims(vt);
        az.token = vt;
        const token_identity *identity = verified_token_identity(vt);
        record_identity(d, identity);
        az.binding_needed = binding_needed(c->verifier, identity->binding, scheme);
    }
    if (fhir.interaction == FHIRPAM_IA_BATCH || fhir.interaction == FHIRPAM_IA_TRANSACTION)
        run_bundle(c, fs, &az, d, presented);
    else
        run_stack(fs, &az, d, presented, -1);
    if (d->permitted && az.obligations != NULL && json_array_size(az.obligations) > 0)
        d->obligations = az.obligations;
    else
        json_decref(az.obligations);
    authz_release_temps(&az);
    fhir_request_clear(&fhir);
    if (vt != NULL)
        verified_token_release(vt);
}

/*
 * A host that never sees the response (FHIRPAM_REQUEST_NO_RESPONSE_CHECK) cannot honour a
 * permit's obligations: the decision it acts on, and the record of it, is then a deny.
 */
static void refuse_unenforceable(struct fhirpam_decision *d, const struct fhirpam_request *req)
{
    size_t n = json_array_size(d->obligations);
    if (!d->permitted || n == 0 || (req->flags & FHIRPAM_REQUEST_NO_RESPONSE_CHECK) == 0)
        return;
    char text[AUTHZ_REASON_TEXT_MAX];
    int used = snprintf(text, sizeof text,
                        "the permit carries %zu obligation(s) on the response, which this host "
                        "never sees:",
                        n);
    for (size_t i = 0; i < n && used > 0 && (size_t)used < sizeof text; i++) {
        const char *type =
            json_string_value(json_object_get(json_array_get(d->obligations, i), "type"));
        used += snprintf(text + used, sizeof text - (size_t)used, " %s", type ? type : "?");
    }
    json_decref(d->obligations);
    d->obligations = NULL;
    decision_conclude(d, FHIRPAM_DENY, "", "obligations_unenforceable", text,
                      request_header_count(req, "Authorization") > 0);
}

FHIRPAM_API fhirpam_decision *fhirpam_authorize(fhirpam_context *ctx, const char *stack,
                                                const fhirpam_request *req)
{
    if (ctx == NULL || req == NULL)
        return NULL;
    uint64_t start = monotonic_us();
    reader_ticket ticket;
    const config *c = context_enter(ctx, &ticket);
    struct fhirpam_decision *d = decision_new(c->max_flat);
    if (d == NULL) {
        context_leave(ticket);
        return NULL;
    }
    d->time = req->has_time ? req->time : (int64_t)time(NULL);
    d->stack = decision_intern_str(d, stack);
    context_next_id(ctx, d->id, sizeof d->id);
    authorize_pinned(c, stack, req, d);
    refuse_unenforceable(d, req);
    if (d->failed) {
        /* Out of memory part-way: whatever was decided, it is not a permit. */
        d->permitted = false;
        d->code = FHIRPAM_ERROR;
        d->http_status = 500;
    }
    d->duration_us = (d->walk_end_us != 0 ? d->walk_end_us : monotonic_us()) - start;
    write_audit(c, d);
    context_leave(ticket);
    return d;
}

/* For the record of a refusal: who the request's token names, when it verifies. */
static void record_refused_identity(const config *c, const struct fhirpam_request *req,
                                    struct fhirpam_decision *d)
{
    const char *token = NULL, *scheme = NULL;
    size_t len = 0;
    if (c->verifier == NULL || extract_token(req, &token, &len, &scheme) != 1)
        return;
    token_failure why;
    const verified_token *vt = token_verify(c->verifier, token, len, d->time, &why);
    if (vt == NULL)
        return;
    record_identity(d, verified_token_identity(vt));
    verified_token_release(vt);
}

FHIRPAM_API fhirpam_decision *fhirpam_audit_host_refusal(fhirpam_context *ctx, const char *stack,
                                                         const fhirpam_request *req,
                                                         fhirpam_code code, int http_status,
                                                         const char *reason, const char *text)
{
    if (ctx == NULL)
        return NULL;
    if (!code_is_valid((int)code) || code == FHIRPAM_SUCCESS || code == FHIRPAM_IGNORE)
        code = FHIRPAM_ERROR;
    reader_ticket ticket;
    const config *c = context_enter(ctx, &ticket);
    struct fhirpam_decision *d = decision_new(0);
    if (d == NULL) {
        context_leave(ticket);
        return NULL;
    }
    d->time = req != NULL && req->has_time ? req->time : (int64_t)time(NULL);
    d->stack = decision_intern_str(d, stack);
    d->host_refused = true;
    context_next_id(ctx, d->id, sizeof d->id);
    if (req != NULL)
        record_refused_identity(c, req, d);
    decision_conclude(d, code, "", reason, text, false);
    d->www_authenticate = 0;
    if (http_status >= 400 && http_status <= 599)
        d->http_status = http_status;
    if (d->failed) {
        d->code = FHIRPAM_ERROR;
        d->http_status = 500;
    }
    write_audit(c, d);
    context_leave(ticket);
    return d;
}
