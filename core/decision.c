/*
 * decision.c - the decision object, its accessors and its JSON forms.
 */
#include "decision.h"

#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codes.h"

struct fhirpam_decision *decision_new(size_t trace_cap)
{
    /* Not calloc: the inline buffers need no zeroing. */
    struct fhirpam_decision *d = malloc(sizeof *d);
    if (d == NULL)
        return NULL;
    memset(d, 0, offsetof(struct fhirpam_decision, inline_trace));
    d->arena_cap = sizeof d->inline_arena;
    d->arena = d->inline_arena;
    d->trace_cap = trace_cap > DECISION_INLINE_TRACE ? trace_cap : DECISION_INLINE_TRACE;
    d->trace = trace_cap > DECISION_INLINE_TRACE ? malloc(d->trace_cap * sizeof *d->trace)
                                                 : d->inline_trace;
    if (d->trace == NULL) {
        free(d);
        return NULL;
    }
    d->arena[0] = '\0';
    d->arena_len = 1;
    d->code = FHIRPAM_DENY;
    d->decided_entry = -1;
    return d;
}

str_ref decision_intern(struct fhirpam_decision *d, const char *s, size_t len)
{
    if (s == NULL || len == 0 || d->failed)
        return 0;
    if (d->arena_len + len + 1 > d->arena_cap) {
        size_t cap = d->arena_cap;
        while (cap < d->arena_len + len + 1)
            cap *= 2;
        if (cap > UINT32_MAX) {
            d->failed = true;
            return 0;
        }
        char *a = d->arena == d->inline_arena ? malloc(cap) : realloc(d->arena, cap);
        if (a == NULL) {
            d->failed = true;
            return 0;
        }
        if (d->arena == d->inline_arena)
            memcpy(a, d->inline_arena, d->arena_len);
        d->arena = a;
        d->arena_cap = cap;
    }
    str_ref ref = (str_ref)d->arena_len;
    memcpy(d->arena + d->arena_len, s, len);
    d->arena[d->arena_len + len] = '\0';
    d->arena_len += len + 1;
    return ref;
}

str_ref decision_intern_str(struct fhirpam_decision *d, const char *s)
{
    return s ? decision_intern(d, s, strlen(s)) : 0;
}

const char *decision_str(const struct fhirpam_decision *d, str_ref ref)
{
    return d->arena + ref;
}

trace_entry *decision_add_trace(struct fhirpam_decision *d)
{
    if (d->ntrace == d->trace_cap) {
        size_t cap = d->trace_cap * 2;
        trace_entry *t = d->trace == d->inline_trace ? malloc(cap * sizeof *t)
                                                     : realloc(d->trace, cap * sizeof *t);
        if (t == NULL) {
            d->failed = true;
            return NULL;
        }
        if (d->trace == d->inline_trace)
            memcpy(t, d->inline_trace, d->ntrace * sizeof *t);
        d->trace = t;
        d->trace_cap = cap;
    }
    trace_entry *e = &d->trace[d->ntrace++];
    memset(e, 0, sizeof *e);
    return e;
}

void decision_add_entry(struct fhirpam_decision *d, size_t entry)
{
    if (d->nentries == d->entries_cap) {
        size_t cap = d->entries_cap ? d->entries_cap * 2 : 16;
        entry_summary *e = realloc(d->entries, cap * sizeof *e);
        if (e == NULL) {
            d->failed = true;
            return;
        }
        d->entries = e;
        d->entries_cap = cap;
    }
    d->entries[d->nentries++] =
        (entry_summary){.entry = entry, .code = d->code, .module = d->module, .reason = d->reason};
    d->decided_entry = (long)entry;
}

size_t decision_bytes(const struct fhirpam_decision *d)
{
    return d->arena_len + d->ntrace * sizeof *d->trace + d->nentries * sizeof *d->entries;
}

void decision_conclude(struct fhirpam_decision *d, fhirpam_code code, const char *module,
                       const char *reason, const char *reason_text, bool token_presented)
{
    str_ref m = decision_intern_str(d, module);
    str_ref r = decision_intern_str(d, reason);
    str_ref t = decision_intern_str(d, reason_text);
    decision_conclude_refs(d, code, m, r, t, token_presented);
}

void decision_conclude_refs(struct fhirpam_decision *d, fhirpam_code code, str_ref module,
                            str_ref reason, str_ref reason_text, bool token_presented)
{
    d->code = code;
    d->permitted = code == FHIRPAM_SUCCESS;
    d->http_status = code_http_status(code);
    d->module = module;
    d->reason = reason;
    d->reason_text = reason_text;
    d->www_authenticate = 0;
    if (d->permitted)
        return;
    /* RFC 6750 §3: a 401 always carries a challenge; §3.1: without a token
     * in the request it carries no error code. A 403 carries one only for
     * insufficient_scope, a 400 for invalid_request. */
    const char *error = code_bearer_error(code);
    char value[128];
    if (d->http_status == 401 && !token_presented)
        d->www_authenticate = decision_intern_str(d, "Bearer");
    else if (error != NULL) {
        snprintf(value, sizeof value, "Bearer error=\"%s\"", error);
        d->www_authenticate = decision_intern_str(d, value);
    }
}

/* The trace; with only_decided, of the bundle entry that decided only. */
static void write_trace(const struct fhirpam_decision *d, jsonw *w, bool only_decided)
{
    jw_key(w, "trace");
    jw_begin_array(w);
    for (size_t i = 0; i < d->ntrace; i++) {
        const trace_entry *t = &d->trace[i];
        if (only_decided && d->nentries > 0 && t->bundle_entry != d->decided_entry)
            continue;
        jw_begin_object(w);
        jw_key(w, "stack");
        jw_string(w, decision_str(d, t->stack));
        jw_key(w, "index");
        jw_uint(w, t->index);
        if (t->bundle_entry >= 0) {
            jw_key(w, "entry");
            jw_uint(w, (uint64_t)t->bundle_entry);
        }
        jw_key(w, "module");
        jw_string(w, decision_str(d, t->module));
        jw_key(w, "control");
        jw_string(w, decision_str(d, t->control));
        jw_key(w, "code");
        jw_string(w, fhirpam_code_name(t->code));
        jw_key(w, "action");
        jw_string(w, t->action_word ? t->action_word : decision_str(d, t->action_text));
        if (t->reason) {
            jw_key(w, "reason");
            jw_string(w, decision_str(d, t->reason));
        }
        jw_key(w, "us");
        jw_uint(w, t->us);
        jw_end_object(w);
    }
    jw_end_array(w);
}

static void write_entries(const struct fhirpam_decision *d, jsonw *w)
{
    if (d->nentries == 0)
        return;
    jw_key(w, "entries");
    jw_begin_array(w);
    for (size_t i = 0; i < d->nentries; i++) {
        const entry_summary *e = &d->entries[i];
        jw_begin_object(w);
        jw_key(w, "entry");
        jw_uint(w, e->entry);
        jw_key(w, "code");
        jw_string(w, fhirpam_code_name(e->code));
        jw_key(w, "module");
        jw_string(w, decision_str(d, e->module));
        jw_key(w, "reason");
        jw_string(w, decision_str(d, e->reason));
        jw_end_object(w);
    }
    jw_end_array(w);
}

static void write_outcome(const struct fhirpam_decision *d, jsonw *w)
{
    jw_key(w, "decision");
    jw_string(w, d->permitted ? "permit" : "deny");
    jw_key(w, "code");
    jw_string(w, fhirpam_code_name(d->code));
    jw_key(w, "module");
    jw_string(w, decision_str(d, d->module));
    jw_key(w, "reason");
    jw_string(w, decision_str(d, d->reason));
    jw_key(w, "reason_text");
    jw_string(w, decision_str(d, d->reason_text));
    jw_key(w, "http_status");
    jw_int(w, d->http_status);
    jw_key(w, "www_authenticate");
    if (d->www_authenticate)
        jw_string(w, decision_str(d, d->www_authenticate));
    else
        jw_null(w);
    if (d->dpop_nonce) {
        jw_key(w, "dpop_nonce");
        jw_string(w, decision_str(d, d->dpop_nonce));
    }
    jw_key(w, "obligations");
    jw_begin_array(w);
    size_t i;
    const json_t *o;
    json_array_foreach(d->obligations, i, o)
    {
        jw_begin_object(w);
        const char *key;
        const json_t *value;
        json_object_foreach((json_t *)o, key, value)
        {
            if (!json_is_string(value))
                continue; /* fhirpam_add_obligation keeps strings only */
            jw_key(w, key);
            jw_string(w, json_string_value(value));
        }
        jw_end_object(w);
    }
    jw_end_array(w);
}

void decision_write_json(const struct fhirpam_decision *d, jsonw *w)
{
    jw_begin_object(w);
    write_outcome(d, w);
    write_entries(d, w);
    write_trace(d, w, false);
    jw_key(w, "id");
    jw_string(w, d->id);
    jw_end_object(w);
}

static void write_optional(const struct fhirpam_decision *d, jsonw *w, const char *key, str_ref ref)
{
    jw_key(w, key);
    if (ref)
        jw_string(w, decision_str(d, ref));
    else
        jw_null(w);
}

/* "revocation_stale": false, or true with "revocation_error": the reason
 * the rules in force are not the file's (a line that did not parse). */
static void write_sources(const struct fhirpam_decision *d, jsonw *w)
{
    for (size_t i = 0; i < d->nsources; i++) {
        char key[48];
        const char *kind = decision_str(d, d->sources[i].kind);
        snprintf(key, sizeof key, "%s_stale", kind);
        jw_key(w, key);
        jw_bool(w, d->sources[i].stale);
        if (d->sources[i].stale) {
            snprintf(key, sizeof key, "%s_error", kind);
            jw_key(w, key);
            jw_string(w, decision_str(d, d->sources[i].error));
        }
    }
}

static void write_time(const struct fhirpam_decision *d, jsonw *w)
{
    char when[32];
    struct tm tm;
    time_t t = (time_t)d->time;
    if (gmtime_r(&t, &tm) == NULL || strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(when, sizeof when, "%lld", (long long)d->time);
    jw_key(w, "time");
    jw_string(w, when);
}

void decision_write_audit(const struct fhirpam_decision *d, jsonw *w)
{
    jw_begin_object(w);
    write_time(d, w);
    jw_key(w, "id");
    jw_string(w, d->id);
    jw_key(w, "stack");
    jw_string(w, decision_str(d, d->stack));
    if (d->host_refused) {
        jw_key(w, "refused_by");
        jw_string(w, "host");
    }
    write_outcome(d, w);
    write_optional(d, w, "iss", d->iss);
    write_optional(d, w, "sub", d->sub);
    write_optional(d, w, "client_id", d->client_id);
    write_optional(d, w, "jti", d->jti);
    write_optional(d, w, "patient", d->patient);
    write_entries(d, w);
    write_sources(d, w);
    write_trace(d, w, true);
    jw_key(w, "duration_us");
    jw_uint(w, d->duration_us);
    jw_end_object(w);
}

/* key: s cut to at most cut bytes, at a UTF-8 character boundary; null
 * when ref is 0. */
static void write_cut(const struct fhirpam_decision *d, jsonw *w, const char *key, str_ref ref,
                      size_t cut)
{
    jw_key(w, key);
    if (ref == 0) {
        jw_null(w);
        return;
    }
    const char *s = decision_str(d, ref);
    size_t n = strlen(s);
    if (n > cut) {
        n = cut;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    jw_string_n(w, s, n);
}

void decision_write_audit_brief(const struct fhirpam_decision *d, jsonw *w, size_t cut)
{
    jw_begin_object(w);
    write_time(d, w);
    jw_key(w, "id");
    jw_string(w, d->id);
    write_cut(d, w, "stack", d->stack, cut);
    jw_key(w, "decision");
    jw_string(w, d->permitted ? "permit" : "deny");
    jw_key(w, "code");
    jw_string(w, fhirpam_code_name(d->code));
    write_cut(d, w, "module", d->module, cut);
    write_cut(d, w, "reason", d->reason, cut);
    write_cut(d, w, "reason_text", d->reason_text, cut);
    jw_key(w, "http_status");
    jw_int(w, d->http_status);
    jw_key(w, "obligation_count");
    jw_uint(w, json_array_size(d->obligations));
    write_cut(d, w, "iss", d->iss, cut);
    write_cut(d, w, "sub", d->sub, cut);
    write_cut(d, w, "client_id", d->client_id, cut);
    write_cut(d, w, "jti", d->jti, cut);
    write_cut(d, w, "patient", d->patient, cut);
    for (size_t i = 0; i < d->nsources; i++) {
        char key[48];
        const char *kind = decision_str(d, d->sources[i].kind);
        snprintf(key, sizeof key, "%s_stale", kind);
        jw_key(w, key);
        jw_bool(w, d->sources[i].stale);
        if (d->sources[i].stale) {
            snprintf(key, sizeof key, "%s_error", kind);
            write_cut(d, w, key, d->sources[i].error, cut);
        }
    }
    jw_key(w, "trace_entries");
    jw_uint(w, d->ntrace);
    jw_key(w, "truncated");
    jw_bool(w, true);
    jw_key(w, "duration_us");
    jw_uint(w, d->duration_us);
    jw_end_object(w);
}

/* ---- public accessors ---- */

FHIRPAM_API int fhirpam_decision_permitted(const fhirpam_decision *d)
{
    return d != NULL && d->permitted;
}

FHIRPAM_API fhirpam_code fhirpam_decision_code(const fhirpam_decision *d)
{
    return d != NULL ? d->code : FHIRPAM_ERROR;
}

FHIRPAM_API const char *fhirpam_decision_module(const fhirpam_decision *d)
{
    return d != NULL ? decision_str(d, d->module) : "";
}

FHIRPAM_API const char *fhirpam_decision_reason(const fhirpam_decision *d)
{
    return d != NULL ? decision_str(d, d->reason) : "";
}

FHIRPAM_API const char *fhirpam_decision_reason_text(const fhirpam_decision *d)
{
    return d != NULL ? decision_str(d, d->reason_text) : "";
}

FHIRPAM_API int fhirpam_decision_http_status(const fhirpam_decision *d)
{
    return d != NULL ? d->http_status : 500;
}

FHIRPAM_API const char *fhirpam_decision_www_authenticate(const fhirpam_decision *d)
{
    return d != NULL && d->www_authenticate ? decision_str(d, d->www_authenticate) : NULL;
}

FHIRPAM_API const char *fhirpam_decision_id(const fhirpam_decision *d)
{
    return d != NULL ? d->id : "";
}

FHIRPAM_API size_t fhirpam_decision_trace_count(const fhirpam_decision *d)
{
    return d != NULL ? d->ntrace : 0;
}

FHIRPAM_API int fhirpam_decision_trace_entry(const fhirpam_decision *d, size_t i,
                                             const char **stack, size_t *index, const char **module,
                                             const char **control, fhirpam_code *code,
                                             const char **action, uint64_t *microseconds)
{
    if (d == NULL || i >= d->ntrace)
        return -1;
    const trace_entry *t = &d->trace[i];
    if (stack)
        *stack = decision_str(d, t->stack);
    if (index)
        *index = t->index;
    if (module)
        *module = decision_str(d, t->module);
    if (control)
        *control = decision_str(d, t->control);
    if (code)
        *code = t->code;
    if (action)
        *action = t->action_word ? t->action_word : decision_str(d, t->action_text);
    if (microseconds)
        *microseconds = t->us;
    return 0;
}

FHIRPAM_API char *fhirpam_decision_json(const fhirpam_decision *d)
{
    if (d == NULL)
        return NULL;
    jsonw w;
    jw_init(&w);
    decision_write_json(d, &w);
    return jw_take(&w);
}

FHIRPAM_API void fhirpam_decision_free(fhirpam_decision *d)
{
    if (d == NULL)
        return;
    json_decref(d->obligations);
    free(d->entries);
    if (d->trace != d->inline_trace)
        free(d->trace);
    if (d->arena != d->inline_arena)
        free(d->arena);
    free(d);
}

void decision_set_challenge_scope(struct fhirpam_decision *d, const char *scope)
{
    if (d->code != FHIRPAM_INSUFFICIENT_SCOPE || scope == NULL || scope[0] == '\0')
        return;
    char value[400];
    snprintf(value, sizeof value, "Bearer error=\"insufficient_scope\", scope=\"%s\"", scope);
    d->www_authenticate = decision_intern_str(d, value);
}

FHIRPAM_API size_t fhirpam_decision_obligation_count(const fhirpam_decision *d)
{
    return d != NULL && d->permitted ? json_array_size(d->obligations) : 0;
}

FHIRPAM_API const char *fhirpam_decision_dpop_nonce(const fhirpam_decision *d)
{
    return d != NULL && d->dpop_nonce ? decision_str(d, d->dpop_nonce) : NULL;
}
