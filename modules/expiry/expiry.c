/*
 * expiry - short-lived tokens really short-lived (issue 6, revocation.md §1).
 *
 * The core already refuses a token past its `exp`. This module adds what a
 * security team sets on top: a longest lifetime (`exp - iat`), a longest
 * age (`now - iat`), a longest time since the user authenticated
 * (`now - auth_time`, which a refresh token does not renew), and claims
 * that must be present. A rule that needs a claim the token lacks, or has
 * with the wrong type, denies: a rule is never skipped. A claim that is
 * null, "", [] or {} is not present.
 *
 * Times are compared with the configuration's token.leeway, fractional
 * values as they are. An `auth_time` that cannot be true denies whatever the
 * rules: after the token's iat, or after now, beyond the leeway (a clock or
 * an issuer that is wrong), or not a plausible time at all (milliseconds:
 * RFC 7519 §2 NumericDates are seconds). The same for an `iat` after now.
 */
#include <fhirpam/module.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const fhirpam_arg_spec expiry_args[] = {
    {"max_lifetime", FHIRPAM_ARG_INT, "0 (off)", "deny when exp - iat exceeds this (seconds)"},
    {"max_age", FHIRPAM_ARG_INT, "0 (off)", "deny when now - iat exceeds this (seconds)"},
    {"max_auth_age", FHIRPAM_ARG_INT, "0 (off)",
     "deny when now - auth_time exceeds this (seconds)"},
    {"require", FHIRPAM_ARG_LIST, NULL, "claims that must be present, e.g. [\"iat\", \"jti\"]"},
    {"leeway", FHIRPAM_ARG_INT, "token.leeway", "must equal token.leeway when given (0-300)"},
    {NULL, 0, NULL, NULL},
};

typedef struct expiry {
    int64_t max_lifetime, max_age, max_auth_age, leeway;
    char **require;
    size_t nrequire;
} expiry;

static void expiry_close(void *instance)
{
    expiry *e = instance;
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->nrequire; i++)
        free(e->require[i]);
    free(e->require);
    free(e);
}

static int read_seconds(const fhirpam_args *args, const char *name, int64_t max, int64_t fallback,
                        int64_t *out, fhirpam_error *err)
{
    *out = fhirpam_args_int(args, name, fallback);
    if (*out < 0 || *out > max) {
        fhirpam_error_set(err, "%s must be between 0 and %lld seconds", name, (long long)max);
        return -1;
    }
    return 0;
}

/* The configuration's token.leeway; the module's own may only repeat it (a
 * module test harness, without a token group, may set its own). */
static int read_leeway(const fhirpam_args *args, int64_t *out, fhirpam_error *err)
{
    int64_t leeway = 60, max_ttl = 0;
    bool from_token = fhirpam_token_limits(args, &leeway, &max_ttl);
    if (read_seconds(args, "leeway", 300, leeway, out, err) != 0)
        return -1;
    if (from_token && *out != leeway) {
        fhirpam_error_set(err,
                          "leeway = %lld differs from token.leeway = %lld: expiry uses the "
                          "configuration's; remove leeway",
                          (long long)*out, (long long)leeway);
        return -1;
    }
    return 0;
}

static int expiry_open(const fhirpam_args *args, void **instance, fhirpam_error *err)
{
    expiry *e = calloc(1, sizeof *e);
    if (e == NULL) {
        fhirpam_error_set(err, "out of memory");
        return -1;
    }
    const int64_t ten_years = 10LL * 366 * 86400;
    if (read_seconds(args, "max_lifetime", ten_years, 0, &e->max_lifetime, err) != 0 ||
        read_seconds(args, "max_age", ten_years, 0, &e->max_age, err) != 0 ||
        read_seconds(args, "max_auth_age", ten_years, 0, &e->max_auth_age, err) != 0 ||
        read_leeway(args, &e->leeway, err) != 0)
        goto fail;
    e->nrequire = fhirpam_args_list_size(args, "require");
    e->require = calloc(e->nrequire ? e->nrequire : 1, sizeof *e->require);
    if (e->require == NULL)
        goto oom;
    for (size_t i = 0; i < e->nrequire; i++) {
        const char *claim = fhirpam_args_list_item(args, "require", i);
        if (claim == NULL || claim[0] == '\0') {
            fhirpam_error_set(err, "require: item %zu is not a claim name", i);
            goto fail;
        }
        if ((e->require[i] = strdup(claim)) == NULL)
            goto oom;
    }
    *instance = e;
    return 0;
oom:
    fhirpam_error_set(err, "out of memory");
fail:
    expiry_close(e);
    return -1;
}

/* A NumericDate claim: 1 present, 0 absent, -1 present but not a number. */
static int date_claim(fhirpam_authz *az, const char *name, double *out)
{
    if (fhirpam_claim_type_of(az, name) == FHIRPAM_CLAIM_ABSENT)
        return 0;
    return fhirpam_claim_number(az, name, out) ? 1 : -1;
}

/* What the rules read from a token, read once per token and kept with it
 * (fhirpam_token_data): only `now` changes between requests. */
typedef struct token_facts {
    int has_exp, has_iat, has_auth_time; /* as date_claim() */
    double exp, iat, auth_time;
    const char *missing; /* the first required claim absent, or NULL */
} token_facts;

/* A claim with no value: absent, null, "", [] or {} (an empty jti names no
 * token). */
static bool claim_empty(fhirpam_authz *az, const char *name)
{
    switch (fhirpam_claim_type_of(az, name)) {
    case FHIRPAM_CLAIM_ABSENT:
    case FHIRPAM_CLAIM_NULL:
        return true;
    case FHIRPAM_CLAIM_STRING:
        return fhirpam_claim_string(az, name)[0] == '\0';
    case FHIRPAM_CLAIM_ARRAY:
        return fhirpam_claim_array_size(az, name) == 0;
    case FHIRPAM_CLAIM_OBJECT: {
        const char *json = fhirpam_claim_json(az, name);
        return json == NULL || strcmp(json, "{}") == 0;
    }
    default:
        return false;
    }
}

static void read_facts(const expiry *e, fhirpam_authz *az, token_facts *f)
{
    f->has_exp = date_claim(az, "exp", &f->exp);
    f->has_iat = date_claim(az, "iat", &f->iat);
    f->has_auth_time = date_claim(az, "auth_time", &f->auth_time);
    f->missing = NULL;
    for (size_t i = 0; i < e->nrequire && f->missing == NULL; i++) {
        if (claim_empty(az, e->require[i]))
            f->missing = e->require[i];
    }
}

/* 9999-12-31T23:59:59Z: a later NumericDate is no date (milliseconds, say). */
#define NUMERICDATE_MAX 253402300799.0

/* iat and auth_time that cannot be true deny, whatever the rules: a
 * max_age or max_auth_age rule would read a future time as "just now". */
static bool plausible_times(fhirpam_authz *az, const token_facts *f, double now, double leeway)
{
    if (f->has_iat == 1 && f->iat > now + leeway) {
        fhirpam_set_reason(az, "iat_in_future", "the token says it was issued %.0f s from now",
                           f->iat - now);
        return false;
    }
    if (f->has_auth_time == 1) {
        if (!(f->auth_time >= 0 && f->auth_time <= NUMERICDATE_MAX)) {
            fhirpam_set_reason(az, "auth_time_implausible",
                               "auth_time %.0f is not a time in seconds (milliseconds?)",
                               f->auth_time);
            return false;
        }
        if (f->auth_time > now + leeway) {
            fhirpam_set_reason(az, "auth_time_in_future",
                               "the token says the user authenticated %.0f s from now",
                               f->auth_time - now);
            return false;
        }
        if (f->has_iat == 1 && f->auth_time > f->iat + leeway) {
            fhirpam_set_reason(az, "auth_time_implausible",
                               "the user authenticated %.0f s after the token was issued",
                               f->auth_time - f->iat);
            return false;
        }
    }
    if (f->has_auth_time < 0) {
        fhirpam_set_reason(az, "bad_claim", "auth_time is not a NumericDate");
        return false;
    }
    return true;
}

static const token_facts *facts_of(const expiry *e, fhirpam_authz *az, token_facts *scratch)
{
    const token_facts *f = fhirpam_token_data(az, e);
    if (f != NULL)
        return f;
    token_facts *fresh = malloc(sizeof *fresh);
    token_facts *mine = fresh != NULL ? fresh : scratch;
    read_facts(e, az, mine);
    if (fresh == NULL)
        return scratch;
    const token_facts *kept = fhirpam_token_data_attach(az, e, fresh, free);
    if (kept != fresh)
        free(fresh);
    return kept != NULL ? kept : (read_facts(e, az, scratch), scratch);
}

/* The claim a rule needs, or a deny naming the rule. */
static bool need(fhirpam_authz *az, int has, const char *claim, const char *rule)
{
    if (has == 1)
        return true;
    fhirpam_set_reason(az, has == 0 ? "missing_claim" : "bad_claim",
                       "rule %s needs the %s claim as a NumericDate; the token %s", rule, claim,
                       has == 0 ? "has none" : "has another type");
    return false;
}

static fhirpam_code expiry_authorize(void *instance, fhirpam_authz *az)
{
    const expiry *e = instance;
    if (!fhirpam_has_token(az)) {
        fhirpam_set_reason(az, "no_token", "expiry needs a token; this stack runs without one");
        return FHIRPAM_DENY;
    }
    token_facts scratch;
    const token_facts *f = facts_of(e, az, &scratch);
    if (f->missing != NULL) {
        fhirpam_set_reason(az, "missing_claim", "rule require: the token has no %s claim",
                           f->missing);
        return FHIRPAM_EXPIRED;
    }
    double now = (double)fhirpam_now(az), leeway = (double)e->leeway;
    if (!need(az, f->has_exp, "exp", "exp"))
        return FHIRPAM_EXPIRED;
    if (!(now < f->exp + leeway)) {
        fhirpam_set_reason(az, "expired", "rule exp: the token expired %.0f s ago", now - f->exp);
        return FHIRPAM_EXPIRED;
    }
    if (!plausible_times(az, f, now, leeway))
        return FHIRPAM_EXPIRED;
    if (e->max_lifetime > 0) {
        if (!need(az, f->has_iat, "iat", "max_lifetime"))
            return FHIRPAM_EXPIRED;
        if (f->exp - f->iat > (double)e->max_lifetime) {
            fhirpam_set_reason(az, "lifetime_exceeded",
                               "rule max_lifetime: the token lives %.0f s (exp - iat), over %lld",
                               f->exp - f->iat, (long long)e->max_lifetime);
            return FHIRPAM_EXPIRED;
        }
    }
    if (e->max_age > 0) {
        if (!need(az, f->has_iat, "iat", "max_age"))
            return FHIRPAM_EXPIRED;
        if (now - f->iat > (double)e->max_age + leeway) {
            fhirpam_set_reason(az, "too_old",
                               "rule max_age: the token was issued %.0f s ago, over %lld",
                               now - f->iat, (long long)e->max_age);
            return FHIRPAM_EXPIRED;
        }
    }
    if (e->max_auth_age > 0) {
        if (!need(az, f->has_auth_time, "auth_time", "max_auth_age"))
            return FHIRPAM_EXPIRED;
        if (now - f->auth_time > (double)e->max_auth_age + leeway) {
            fhirpam_set_reason(az, "authentication_too_old",
                               "rule max_auth_age: the user authenticated %.0f s ago, over %lld",
                               now - f->auth_time, (long long)e->max_auth_age);
            return FHIRPAM_EXPIRED;
        }
    }
    return FHIRPAM_SUCCESS;
}

FHIRPAM_MODULE_DESCRIPTOR = {
    FHIRPAM_MODULE_HEADER,
    .name = "expiry",
    .version = "1.0",
    .description = "token lifetime, age and authentication age limits",
    .args = expiry_args,
    .open = expiry_open,
    .authorize = expiry_authorize,
    .close = expiry_close,
};
