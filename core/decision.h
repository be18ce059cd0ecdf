/*
 * decision.h - building a decision (design §5) and writing it as JSON.
 *
 * A decision owns copies of every string it shows (in one arena), so it
 * outlives the configuration it was made under: a reload may free that.
 */
#ifndef FHIRPAM_CORE_DECISION_H
#define FHIRPAM_CORE_DECISION_H

#include <fhirpam/fhirpam.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "jsonw.h"
#include "source.h"

typedef uint32_t str_ref; /* offset into the arena; 0 is the empty string */

typedef struct trace_entry {
    str_ref stack;
    size_t index;
    str_ref module;
    str_ref control;
    fhirpam_code code;
    int action;
    const char *action_word; /* "ok", "bad"...: a static string, or NULL for */
    str_ref action_text;     /* a jump, kept as its config text ("2") */
    str_ref reason;
    str_ref reason_text;
    str_ref challenge_scope; /* 0: none */
    str_ref challenge;       /* a module's own WWW-Authenticate value; 0: none */
    str_ref dpop_nonce;      /* 0: none */
    int bundle_entry;        /* the batch/transaction entry it ran for, or -1 */
    uint64_t us;
} trace_entry;

/* How one entry of a batch or transaction ended (the audit record keeps
 * these, not every entry's trace). */
typedef struct entry_summary {
    size_t entry;
    fhirpam_code code;
    str_ref module;
    str_ref reason;
} entry_summary;

#define DECISION_INLINE_TRACE 8
#define DECISION_INLINE_ARENA 1536
#define DECISION_MAX_SOURCES  SOURCE_MAX_KINDS

struct fhirpam_decision {
    bool permitted;
    fhirpam_code code;
    int http_status;
    str_ref module;
    str_ref reason;
    str_ref reason_text;
    str_ref www_authenticate; /* 0: none */
    str_ref dpop_nonce;       /* 0: none */
    str_ref stack;
    char id[40];
    int64_t time; /* evaluation time, epoch seconds */
    /* From fhirpam_authorize's start to the last module's return (the clock
     * read the module timings already take); where no module ran, to the
     * end of the call. The bookkeeping after the walk, well under a
     * microsecond, is not counted, nor is the audit write. */
    uint64_t duration_us;
    uint64_t walk_end_us; /* monotonic, when the last module returned; 0: none ran */

    json_t *obligations; /* array of objects {type, ...params}, or NULL */

    /* What the audit record says about the token (never the token itself). */
    str_ref iss, sub, client_id, jti, patient;

    /* The module data sources of the configuration (the deny list), one per
     * kind: the audit record's "<kind>_stale" and, when stale, "<kind>_error". */
    struct decision_source {
        str_ref kind, error; /* error: 0 unless stale */
        bool stale;
    } sources[DECISION_MAX_SOURCES];
    size_t nsources;

    trace_entry *trace;
    size_t ntrace;
    size_t trace_cap;

    /* A batch or transaction: one summary per entry judged, and the entry
     * whose walk decided (-1 for any other request). */
    entry_summary *entries;
    size_t nentries;
    size_t entries_cap;
    long decided_entry;

    char *arena;
    size_t arena_len;
    size_t arena_cap;
    bool failed;       /* an allocation failed: the decision is a deny */
    bool host_refused; /* fhirpam_audit_host_refusal: no stack ran */

    /* Most decisions fit here: one allocation per decision. */
    trace_entry inline_trace[DECISION_INLINE_TRACE];
    char inline_arena[DECISION_INLINE_ARENA];
};

struct fhirpam_decision *decision_new(size_t trace_cap);
/* Copy s (len bytes) into the arena; 0 for NULL/empty or on failure. */
str_ref decision_intern(struct fhirpam_decision *d, const char *s, size_t len);
str_ref decision_intern_str(struct fhirpam_decision *d, const char *s);
const char *decision_str(const struct fhirpam_decision *d, str_ref ref);
trace_entry *decision_add_trace(struct fhirpam_decision *d);
/* Record how bundle entry `entry` ended: the decision's current code,
 * module and reason. */
void decision_add_entry(struct fhirpam_decision *d, size_t entry);
/* What the decision holds, in bytes: its strings, trace and summaries. */
size_t decision_bytes(const struct fhirpam_decision *d);

/* Set the final outcome: code, deciding module, reason, HTTP status and the
 * WWW-Authenticate value derived from the code (design §2). token_presented
 * says whether a token came with the request (RFC 6750 §3.1: no error code
 * when there was none). */
/* The same, from strings already in the arena (a trace entry's). */
void decision_conclude_refs(struct fhirpam_decision *d, fhirpam_code code, str_ref module,
                            str_ref reason, str_ref reason_text, bool token_presented);

/* For insufficient_scope: add `scope="..."` to the challenge (RFC 6750 §3). */
void decision_set_challenge_scope(struct fhirpam_decision *d, const char *scope);
void decision_conclude(struct fhirpam_decision *d, fhirpam_code code, const char *module,
                       const char *reason, const char *reason_text, bool token_presented);

/* The decision as the JSON object of `fhirpam eval`. */
void decision_write_json(const struct fhirpam_decision *d, jsonw *w);
/* The audit record: the decision plus time, stack, token identity, duration.
 * For a batch or transaction, a summary of every entry and the trace of the
 * entry that decided only, so the line stays bounded by the entries, not by
 * entries times lines. */
void decision_write_audit(const struct fhirpam_decision *d, jsonw *w);
/* The same record for a sink that carries only short records whole (a
 * pipe): no trace (its length in "trace_entries") and no obligations (their
 * number), each string cut to cut bytes, and "truncated": true. */
void decision_write_audit_brief(const struct fhirpam_decision *d, jsonw *w, size_t cut);

#endif
