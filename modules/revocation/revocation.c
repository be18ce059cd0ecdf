/*
 * revocation - tokens revoked before their `exp` (issue 6, revocation.md).
 *
 * Rules are scoped by issuer: one token (iss, jti); and cut-offs "issued at
 * or before T" by subject, client, subject in client, session, or issuer.
 * When several cut-offs apply the latest one decides (Keycloak got this
 * wrong in both orders: CVE-2026-8922, CVE-2026-18218). A cut-off at T
 * covers every token issued in the second T or before, and up to the
 * configuration's leeway later (the issuer's clock may run ahead of the one
 * that took T; fractional iat compared as is): its client authenticates
 * again. A rule that needs `jti` or `iat` on a token without them denies; an
 * empty `jti`, `sub`, `client_id` or `sid` is no value at all.
 *
 * The times are the configuration's: token.leeway and token.max_ttl (which
 * the core enforces on every token, exp - iat included), so that a rule is
 * kept exactly as long as a token it covers can be accepted. The module's
 * own `leeway` and `max_token_lifetime` remain only as assertions: a value
 * that differs from the configuration's refuses the configuration.
 */
#include <fhirpam/module.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

static const fhirpam_arg_spec revocation_args[] = {
    {"denylist", FHIRPAM_ARG_STRING, NULL, "the deny list file (see `fhirpam revoke --help`)"},
    {"check_interval_ms", FHIRPAM_ARG_INT, "1000", "how often the file is checked for changes"},
    {"max_token_lifetime", FHIRPAM_ARG_INT, "token.max_ttl",
     "must equal token.max_ttl when given (cut-offs are kept that long)"},
    {"leeway", FHIRPAM_ARG_INT, "token.leeway", "must equal token.leeway when given"},
    {NULL, 0, NULL, NULL},
};

/* One instance: the store and the leeway its cut-offs are compared with. */
typedef struct revocation {
    revocation_store store;
    int64_t leeway;
} revocation;

/* The module's own setting `name` may only repeat the configuration's. */
static int same_as_token(const fhirpam_args *args, const char *name, const char *token_key,
                         bool from_token, int64_t *value, fhirpam_error *err)
{
    int64_t own = fhirpam_args_int(args, name, *value);
    if (own == *value)
        return 0;
    if (from_token) {
        fhirpam_error_set(err,
                          "%s = %lld differs from %s = %lld: revocation uses the configuration's "
                          "(one setting, so that a rule lives exactly as long as the tokens it "
                          "covers are accepted); remove %s",
                          name, (long long)own, token_key, (long long)*value, name);
        return -1;
    }
    *value = own; /* no token group: nothing to differ from */
    return 0;
}

static int revocation_open(const fhirpam_args *args, void **instance, fhirpam_error *err)
{
    const char *path = fhirpam_args_string(args, "denylist", NULL);
    int64_t interval = fhirpam_args_int(args, "check_interval_ms", 1000);
    int64_t leeway = 60, max_ttl = 86400; /* the core's defaults */
    bool from_token = fhirpam_token_limits(args, &leeway, &max_ttl);
    if (same_as_token(args, "leeway", "token.leeway", from_token, &leeway, err) != 0 ||
        same_as_token(args, "max_token_lifetime", "token.max_ttl", from_token, &max_ttl, err) != 0)
        return -1;
    if (path == NULL || path[0] != '/') {
        fhirpam_error_set(err, "denylist must be an absolute path");
        return -1;
    }
    if (interval < 10 || interval > 600000 || leeway < 0 || leeway > 300 || max_ttl < 60 ||
        max_ttl > 10LL * 366 * 86400) {
        fhirpam_error_set(err, "check_interval_ms (10-600000), leeway (0-300) or "
                               "max_token_lifetime (60 s-10 years) out of range");
        return -1;
    }
    denylist_limits limits = {(int64_t)time(NULL), leeway, max_ttl};
    revocation *r = malloc(sizeof *r);
    char why[600];
    if (r == NULL ||
        file_store_open(args, path, interval, &limits, &r->store, why, sizeof why) != 0) {
        fhirpam_error_set(err, "%s", r ? why : "out of memory");
        free(r);
        return -1;
    }
    r->leeway = leeway;
    *instance = r;
    return 0;
}

/* A string claim, NULL when absent or empty (an empty jti names no token,
 * and must not escape "tokens are revoked by jti, and this one has none");
 * false when present with another type. */
static bool string_claim(fhirpam_authz *az, const char *name, const char **out)
{
    fhirpam_claim_type t = fhirpam_claim_type_of(az, name);
    *out = t == FHIRPAM_CLAIM_STRING ? fhirpam_claim_string(az, name) : NULL;
    if (*out != NULL && (*out)[0] == '\0')
        *out = NULL;
    return t == FHIRPAM_CLAIM_ABSENT || t == FHIRPAM_CLAIM_STRING;
}

/* What the rules read from a token, read once per token and kept with it
 * (fhirpam_token_data). The strings point into the token's claims, which
 * live as long as the token's data. */
typedef struct answer {
    revocation_hits hits;
    struct answer *older; /* superseded answers, freed with the token */
    int depth;
} answer;

/* At most this many answers are kept per token (one per rule set seen);
 * past that, a long-lived token under frequent reloads just asks again. */
#define MAX_ANSWERS 8

typedef struct token_keys {
    revocation_query q;
    bool well_typed, has_iat;
    double iat;
    /* The store's answer for this token and the rule set of its generation:
     * the same token asks the same question until the rules change. */
    _Atomic(answer *) answer;
} token_keys;

static void free_keys(void *p)
{
    token_keys *k = p;
    answer *a = atomic_load(&k->answer);
    while (a != NULL) {
        answer *older = a->older;
        free(a);
        a = older;
    }
    free(k);
}

/* The store's answer for k: the kept one if the rules have not changed. */
static store_answer ask(const revocation_store *store, token_keys *k, bool keep,
                        revocation_hits *hits)
{
    uint64_t generation = store->generation(store->self);
    const answer *a = keep ? atomic_load_explicit(&k->answer, memory_order_acquire) : NULL;
    if (generation != 0 && a != NULL && a->hits.generation == generation) {
        *hits = a->hits;
        return STORE_ANSWERED;
    }
    if (store->lookup(store->self, &k->q, hits) != STORE_ANSWERED)
        return STORE_UNAVAILABLE;
    answer *old = keep ? atomic_load(&k->answer) : NULL;
    if (keep && hits->generation != 0 && (old == NULL || old->depth < MAX_ANSWERS)) {
        answer *fresh = malloc(sizeof *fresh);
        if (fresh != NULL) {
            *fresh = (answer){*hits, old, old ? old->depth + 1 : 1};
            if (!atomic_compare_exchange_strong(&k->answer, &old, fresh))
                free(fresh); /* another thread kept its answer first */
        }
    }
    return STORE_ANSWERED;
}

static void read_keys(fhirpam_authz *az, token_keys *k)
{
    k->well_typed = string_claim(az, "iss", &k->q.iss) && k->q.iss != NULL &&
                    string_claim(az, "jti", &k->q.jti) && string_claim(az, "sub", &k->q.sub) &&
                    string_claim(az, "client_id", &k->q.client_id) &&
                    string_claim(az, "sid", &k->q.sid);
    k->has_iat = fhirpam_claim_number(az, "iat", &k->iat);
    atomic_init(&k->answer, NULL);
}

static token_keys *keys_of(const revocation_store *store, fhirpam_authz *az, token_keys *scratch)
{
    token_keys *k = fhirpam_token_data(az, store);
    if (k != NULL)
        return k;
    token_keys *fresh = malloc(sizeof *fresh);
    if (fresh == NULL) {
        read_keys(az, scratch);
        return scratch;
    }
    read_keys(az, fresh);
    token_keys *kept = fhirpam_token_data_attach(az, store, fresh, free_keys);
    if (kept != fresh)
        free_keys(fresh);
    if (kept == NULL) {
        read_keys(az, scratch);
        return scratch;
    }
    return kept;
}

static fhirpam_code revocation_authorize(void *instance, fhirpam_authz *az)
{
    const revocation *rv = instance;
    const revocation_store *store = &rv->store;
    if (!fhirpam_has_token(az)) {
        fhirpam_set_reason(az, "no_token", "revocation needs a token; this stack runs without one");
        return FHIRPAM_DENY;
    }
    token_keys scratch;
    token_keys *k = keys_of(store, az, &scratch);
    if (!k->well_typed) {
        fhirpam_set_reason(az, "bad_claim",
                           "iss, jti, sub, client_id and sid must be strings when present");
        return FHIRPAM_REVOKED;
    }
    revocation_hits hits;
    if (ask(store, k, k != &scratch, &hits) != STORE_ANSWERED) {
        fhirpam_set_reason(az, "store_unavailable", "the revocation store did not answer");
        return FHIRPAM_UNAVAILABLE;
    }
    if (k->q.jti == NULL && hits.kind_present[RULE_JTI]) {
        fhirpam_set_reason(az, "missing_jti",
                           "rule jti: tokens are revoked by jti, and this one has none");
        return FHIRPAM_REVOKED;
    }
    if (hits.hit[RULE_JTI]) {
        fhirpam_set_reason(az, "revoked_jti", "rule jti: this token (iss, jti) is revoked");
        return FHIRPAM_REVOKED;
    }
    /* The latest applicable cut-off decides. */
    int latest = -1;
    for (int r = RULE_SUB; r < RULE_KINDS; r++) {
        if (hits.hit[r] && (latest < 0 || hits.time[r] > hits.time[latest]))
            latest = r;
    }
    if (latest < 0)
        return FHIRPAM_SUCCESS;
    if (!k->has_iat) {
        fhirpam_set_reason(az, "missing_iat",
                           "rule %s: a cut-off applies, and the token has no iat to compare",
                           rule_kind_name((rule_kind)latest));
        return FHIRPAM_REVOKED;
    }
    if (cutoff_covers(hits.time[latest], k->iat, rv->leeway)) {
        fhirpam_set_reason(az, "revoked_before",
                           "rule %s: tokens issued at or before %lld (+ %lld s leeway) are "
                           "revoked (iat %.3f)",
                           rule_kind_name((rule_kind)latest), (long long)hits.time[latest],
                           (long long)rv->leeway, k->iat);
        return FHIRPAM_REVOKED;
    }
    return FHIRPAM_SUCCESS;
}

static void revocation_close(void *instance)
{
    revocation *rv = instance;
    if (rv == NULL)
        return;
    rv->store.close(rv->store.self);
    free(rv);
}

FHIRPAM_MODULE_DESCRIPTOR = {
    FHIRPAM_MODULE_HEADER,
    .name = "revocation",
    .version = "1.0",
    .description = "deny list of revoked tokens and issued-before cut-offs",
    .args = revocation_args,
    .open = revocation_open,
    .authorize = revocation_authorize,
    .close = revocation_close,
};
