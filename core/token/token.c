/*
 * token.c - the access-token verifier: jwt-verification.md §4.1, step by
 * step, then the verified-token cache.
 *
 * Nothing from the token is trusted before its signature checks out, and the
 * payload is parsed only then. The header must be parsed first (it names the
 * key), so it is bounded by the size cap and a nesting limit.
 */
#include "token.h"

#include <stdarg.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base64url.h"
#include "cfgread.h"
#include "jwks.h"
#include "jws.h"
#include "token_cache.h"

#define DEFAULT_MAX_TOKEN_BYTES 16384
#define DEFAULT_LEEWAY          60
#define DEFAULT_MAX_TTL         86400
#define DEFAULT_CACHE_ENTRIES   10000
#define DEFAULT_CACHE_BYTES     (64LL * 1024 * 1024)
#define JSON_MAX_DEPTH          32
/* 9999-12-31T23:59:59Z: NumericDates are clamped into 0..this. */
#define NUMERICDATE_MAX 253402300799.0

typedef struct issuer {
    char *issuer;
    char *audience;
} issuer;

struct token_verifier {
    issuer *issuers;
    size_t nissuers;
    jwks keys;
    bool allowed[JWS_ALG_COUNT];
    token_limits limits;
    long long max_token_bytes;
    bool require_at_jwt;
    bool allow_unverified_binding; /* unverified_binding = "allow" */
    token_cache *cache;
};

/* ---- configuration ---- */

int token_limits_read(const config_setting_t *group, const char *file, token_limits *out,
                      fhirpam_error *err)
{
    long long leeway = DEFAULT_LEEWAY, max_ttl = DEFAULT_MAX_TTL;
    if (cfg_int(group, "leeway", 0, 300, &leeway, file, err) != 0 ||
        cfg_int(group, "max_ttl", 60, 10LL * 366 * 86400, &max_ttl, file, err) != 0)
        return -1;
    *out = (token_limits){.leeway = leeway, .max_ttl = max_ttl};
    return 0;
}

token_limits token_limits_default(void)
{
    return (token_limits){.leeway = DEFAULT_LEEWAY, .max_ttl = DEFAULT_MAX_TTL};
}

token_limits token_verifier_limits(const token_verifier *v)
{
    return v->limits;
}

static char *path_beside(const char *config_path, const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char *copy = strdup(config_path);
    if (copy == NULL)
        return NULL;
    const char *dir = dirname(copy);
    size_t n = strlen(dir) + strlen(path) + 2;
    char *out = malloc(n);
    if (out != NULL)
        snprintf(out, n, "%s/%s", dir, path);
    free(copy);
    return out;
}

static int add_issuer(token_verifier *v, const config_setting_t *g, const char *file,
                      const jwks_policy *policy, fhirpam_error *err)
{
    const char *iss = NULL, *aud = NULL, *jwks_path = NULL;
    if (cfg_string(g, "issuer", &iss, file, err) != 0 ||
        cfg_string(g, "audience", &aud, file, err) != 0 ||
        cfg_string(g, "jwks", &jwks_path, file, err) != 0)
        return -1;
    if (iss == NULL || aud == NULL || jwks_path == NULL || iss[0] == '\0' || aud[0] == '\0')
        return cfg_fail(err, file, g, "an issuer needs 'issuer', 'audience' and 'jwks'");
    for (size_t i = 0; i < v->nissuers; i++) {
        if (strcmp(v->issuers[i].issuer, iss) == 0)
            return cfg_fail(err, file, g, "issuer '%s' is configured twice", iss);
    }
    issuer *grown = realloc(v->issuers, (v->nissuers + 1) * sizeof *grown);
    if (grown == NULL)
        return cfg_fail(err, file, g, "out of memory");
    v->issuers = grown;
    issuer *is = &v->issuers[v->nissuers];
    is->issuer = strdup(iss);
    is->audience = strdup(aud);
    char *path = path_beside(file, jwks_path);
    v->nissuers++;
    if (is->issuer == NULL || is->audience == NULL || path == NULL) {
        free(path);
        return cfg_fail(err, file, g, "out of memory");
    }
    char why[512];
    int rc = jwks_add_file(&v->keys, path, v->nissuers - 1, policy, why, sizeof why);
    free(path);
    if (rc != 0)
        return cfg_fail(err, file, config_setting_get_member(g, "jwks"), "%s", why);
    return 0;
}

static int read_algorithms(token_verifier *v, const config_setting_t *group, const char *file,
                           fhirpam_error *err)
{
    const config_setting_t *list = config_setting_get_member(group, "algorithms");
    if (list == NULL) {
        v->allowed[JWS_RS256] = v->allowed[JWS_PS256] = v->allowed[JWS_ES256] = true;
        return 0;
    }
    if (!config_setting_is_aggregate(list) || config_setting_length(list) == 0)
        return cfg_fail(err, file, list, "'algorithms' must be a non-empty list of names");
    for (int i = 0; i < config_setting_length(list); i++) {
        const char *name = config_setting_get_string_elem(list, i);
        jws_alg alg = name ? jws_alg_from_name(name, strlen(name)) : JWS_ALG_INVALID;
        if (alg == JWS_ALG_INVALID)
            return cfg_fail(err, file, list,
                            "algorithm '%s' is not supported (RS256, RS384, RS512, PS256, PS384, "
                            "PS512, ES256, ES384)",
                            name ? name : "(not a string)");
        v->allowed[alg] = true;
    }
    return 0;
}

token_verifier *token_verifier_new_from_config(const config_setting_t *group, const char *file,
                                               fhirpam_error *err)
{
    static const char *const keys[] = {"issuer",
                                       "audience",
                                       "jwks",
                                       "issuers",
                                       "algorithms",
                                       "leeway",
                                       "max_ttl",
                                       "max_token_bytes",
                                       "require_at_jwt",
                                       "rsa_default_alg",
                                       "min_rsa_bits",
                                       "max_rsa_bits",
                                       "cache_entries",
                                       "cache_bytes",
                                       "unverified_binding",
                                       NULL};
    if (config_setting_type(group) != CONFIG_TYPE_GROUP) {
        cfg_fail(err, file, group, "'token' must be a group");
        return NULL;
    }
    if (jws_init() != 0) {
        cfg_fail(err, file, group, "OpenSSL lacks a digest fhirpam needs");
        return NULL;
    }
    token_verifier *v = calloc(1, sizeof *v);
    if (v == NULL) {
        cfg_fail(err, file, group, "out of memory");
        return NULL;
    }
    v->max_token_bytes = DEFAULT_MAX_TOKEN_BYTES;
    long long min_rsa_bits = FHIRPAM_RSA_MIN_BITS, max_rsa_bits = FHIRPAM_RSA_DEFAULT_MAX_BITS;
    long long cache_entries = DEFAULT_CACHE_ENTRIES;
    long long cache_bytes = DEFAULT_CACHE_BYTES;
    const char *rsa_default = "RS256", *unverified_binding = "deny";
    if (cfg_check_keys(group, "token", keys, file, err) != 0 ||
        read_algorithms(v, group, file, err) != 0 ||
        token_limits_read(group, file, &v->limits, err) != 0 ||
        cfg_int(group, "max_token_bytes", 1024, 65536, &v->max_token_bytes, file, err) != 0 ||
        cfg_bool(group, "require_at_jwt", &v->require_at_jwt, file, err) != 0 ||
        cfg_int(group, "min_rsa_bits", FHIRPAM_RSA_MIN_BITS, FHIRPAM_RSA_MAX_BITS, &min_rsa_bits,
                file, err) != 0 ||
        cfg_int(group, "max_rsa_bits", FHIRPAM_RSA_MIN_BITS, FHIRPAM_RSA_MAX_BITS, &max_rsa_bits,
                file, err) != 0 ||
        cfg_int(group, "cache_entries", 0, 10000000, &cache_entries, file, err) != 0 ||
        cfg_int(group, "cache_bytes", 0, 1LL << 40, &cache_bytes, file, err) != 0 ||
        cfg_string(group, "rsa_default_alg", &rsa_default, file, err) != 0 ||
        cfg_string(group, "unverified_binding", &unverified_binding, file, err) != 0)
        goto fail;
    /* A bound token whose binding no module verified (binding.h): "deny"
     * (RFC 9449 §7.2, RFC 8705 §3), or "allow" for a deployment that must
     * keep the old behaviour for a while, which `fhirpam check` warns of. */
    v->allow_unverified_binding = strcmp(unverified_binding, "allow") == 0;
    if (!v->allow_unverified_binding && strcmp(unverified_binding, "deny") != 0) {
        cfg_fail(err, file, config_setting_get_member(group, "unverified_binding"),
                 "'unverified_binding' must be \"deny\" or \"allow\"");
        goto fail;
    }

    if (min_rsa_bits > max_rsa_bits) {
        cfg_fail(err, file, config_setting_get_member(group, "min_rsa_bits"),
                 "'min_rsa_bits' (%lld) is over 'max_rsa_bits' (%lld)", min_rsa_bits, max_rsa_bits);
        goto fail;
    }
    jwks_policy policy = {.limits = {(unsigned)min_rsa_bits, (unsigned)max_rsa_bits}};
    memcpy(policy.allowed, v->allowed, sizeof policy.allowed);
    policy.rsa_fallback = jws_alg_from_name(rsa_default, strlen(rsa_default));
    if (policy.rsa_fallback < JWS_RS256 || policy.rsa_fallback > JWS_PS512) {
        cfg_fail(err, file, config_setting_get_member(group, "rsa_default_alg"),
                 "'rsa_default_alg' must be an RS* or PS* algorithm");
        goto fail;
    }

    const config_setting_t *list = config_setting_get_member(group, "issuers");
    bool single = config_setting_get_member(group, "issuer") != NULL ||
                  config_setting_get_member(group, "audience") != NULL ||
                  config_setting_get_member(group, "jwks") != NULL;
    if (list != NULL && single) {
        cfg_fail(err, file, list, "give either 'issuers' or issuer/audience/jwks, not both");
        goto fail;
    }
    if (list != NULL) {
        static const char *const issuer_keys[] = {"issuer", "audience", "jwks", NULL};
        if (config_setting_type(list) != CONFIG_TYPE_LIST || config_setting_length(list) == 0) {
            cfg_fail(err, file, list, "'issuers' must be a non-empty list of groups");
            goto fail;
        }
        for (int i = 0; i < config_setting_length(list); i++) {
            const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
            if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
                cfg_fail(err, file, g, "each issuer is a group { issuer; audience; jwks; }");
                goto fail;
            }
            if (cfg_check_keys(g, "an issuer", issuer_keys, file, err) != 0 ||
                add_issuer(v, g, file, &policy, err) != 0)
                goto fail;
        }
    } else if (add_issuer(v, group, file, &policy, err) != 0) {
        goto fail;
    }
    jwks_finish(&v->keys);
    v->cache = token_cache_new((size_t)cache_entries, (size_t)cache_bytes);
    if (v->cache == NULL) {
        cfg_fail(err, file, group, "out of memory");
        goto fail;
    }
    return v;
fail:
    token_verifier_free(v);
    return NULL;
}

bool token_verifier_enforces_binding(const token_verifier *v)
{
    return !v->allow_unverified_binding;
}

void token_verifier_free(token_verifier *v)
{
    if (v == NULL)
        return;
    token_cache_free(v->cache);
    jwks_free(&v->keys);
    for (size_t i = 0; i < v->nissuers; i++) {
        free(v->issuers[i].issuer);
        free(v->issuers[i].audience);
    }
    free(v->issuers);
    free(v);
}

/* ---- verification ---- */

/* Fills why; returns false so that checks can `return refuse(...)`. */
static bool refuse(token_failure *why, fhirpam_code code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool refuse(token_failure *why, fhirpam_code code, const char *reason, const char *fmt, ...)
{
    char text[sizeof why->text];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    jws_refuse(why, reason, "%s", text);
    why->code = code;
    return false;
}

/* typ: absent, or JWT / at+jwt with an optional application/ prefix, case-
 * insensitively (RFC 7515 §4.1.9); only at+jwt under require_at_jwt. */
static bool typ_ok(const json_t *typ, bool require_at_jwt)
{
    if (typ == NULL)
        return !require_at_jwt;
    if (!json_is_string(typ))
        return false;
    const char *t = json_string_value(typ);
    if (strncasecmp(t, "application/", 12) == 0)
        t += 12;
    if (strcasecmp(t, "at+jwt") == 0)
        return true;
    return !require_at_jwt && strcasecmp(t, "jwt") == 0;
}

/* Steps 3-8: the header names an allowed algorithm, no extension we would
 * have to understand, and a key whose pinned algorithm is that one. */
static const jwks_key *check_header(const token_verifier *v, const json_t *header,
                                    token_failure *why)
{
    const json_t *alg = json_object_get(header, "alg");
    jws_alg a = json_is_string(alg)
                    ? jws_alg_from_name(json_string_value(alg), json_string_length(alg))
                    : JWS_ALG_INVALID;
    if (a == JWS_ALG_INVALID || !v->allowed[a]) {
        refuse(why, FHIRPAM_INVALID_TOKEN, "alg_not_allowed",
               "the token's algorithm is not one of token.algorithms");
        return NULL;
    }
    if (json_object_get(header, "crit") != NULL) {
        refuse(why, FHIRPAM_INVALID_TOKEN, "crit_unsupported",
               "the token has critical header extensions (crit); fhirpam implements none");
        return NULL;
    }
    if (json_object_get(header, "b64") != NULL) {
        refuse(why, FHIRPAM_INVALID_TOKEN, "b64_unsupported",
               "the token uses the unencoded-payload option (b64), which fhirpam refuses");
        return NULL;
    }
    if (!typ_ok(json_object_get(header, "typ"), v->require_at_jwt)) {
        refuse(why, FHIRPAM_INVALID_TOKEN, "bad_typ",
               v->require_at_jwt ? "the token's typ is not at+jwt"
                                 : "the token's typ is not JWT or at+jwt");
        return NULL;
    }
    if (json_object_get(header, "cty") != NULL) {
        refuse(why, FHIRPAM_INVALID_TOKEN, "cty_unsupported",
               "the token declares a content type (cty): nested tokens are refused");
        return NULL;
    }
    const json_t *kid = json_object_get(header, "kid");
    if (kid == NULL) {
        refuse(why, FHIRPAM_INVALID_TOKEN, "missing_kid", "the token's header has no kid");
        return NULL;
    }
    if (!json_is_string(kid) || json_string_length(kid) == 0) {
        refuse(why, FHIRPAM_INVALID_TOKEN, "bad_kid", "the token's kid is not a string");
        return NULL;
    }
    /* jku, x5u, jwk, x5c, x5t: never consulted; keys come from the JWKS. */
    const jwks_key *key = jwks_find(&v->keys, json_string_value(kid), json_string_length(kid));
    if (key == NULL) {
        refuse(why, FHIRPAM_INVALID_TOKEN, "unknown_kid", "no configured key has the token's kid");
        return NULL;
    }
    if (key->key.alg != a) {
        refuse(why, FHIRPAM_INVALID_TOKEN, "alg_key_mismatch",
               "the token's algorithm is not the one its key is pinned to (%s)",
               jws_alg_name(key->key.alg));
        return NULL;
    }
    return key;
}

/* A NumericDate (RFC 7519 §2): a JSON number, maybe fractional, clamped so
 * that adding leeway cannot overflow. Returns 1 present, 0 absent, -1 bad. */
static int numeric_date(const json_t *claims, const char *name, double *out)
{
    const json_t *v = json_object_get(claims, name);
    if (v == NULL)
        return 0;
    if (!json_is_number(v))
        return -1;
    double d = json_number_value(v);
    if (!(d == d)) /* NaN cannot come from jansson, but fail closed */
        return -1;
    *out = d < 0 ? 0 : d > NUMERICDATE_MAX ? NUMERICDATE_MAX : d;
    return 1;
}

static void format_time(double t, char *buf, size_t len)
{
    time_t s = (time_t)t;
    struct tm tm;
    if (gmtime_r(&s, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "%.0f", t);
}

/* Step 11, also run on every cache hit: the request's time is what counts. */
static bool check_times(const token_verifier *v, const token_times *t, int64_t now,
                        token_failure *why)
{
    double n = (double)now, leeway = (double)v->limits.leeway;
    double max_ttl = (double)v->limits.max_ttl;
    if (!(n < t->exp + leeway)) {
        char when[32];
        format_time(t->exp, when, sizeof when);
        return refuse(why, FHIRPAM_EXPIRED, "expired",
                      "the token expired at %s, %.0f s before "
                      "the request",
                      when, n - t->exp);
    }
    if (t->exp > n + max_ttl)
        return refuse(why, FHIRPAM_INVALID_TOKEN, "exp_too_far",
                      "the token expires more than %lld s after the request (token.max_ttl)",
                      (long long)v->limits.max_ttl);
    /* max_ttl is the longest life of any token accepted, counted from iat
     * too: a revocation cut-off at T then only has to be kept until
     * T + max_ttl (+ leeway), because nothing issued before T can still be
     * valid after that (revocation.md §2, "entry lifetime"). */
    if (t->has_iat && t->exp - t->iat > max_ttl)
        return refuse(why, FHIRPAM_EXPIRED, "lifetime_too_long",
                      "the token lives %.0f s (exp - iat), over token.max_ttl %lld",
                      t->exp - t->iat, (long long)v->limits.max_ttl);
    if (t->has_nbf && t->nbf > n + leeway)
        return refuse(why, FHIRPAM_INVALID_TOKEN, "not_yet_valid",
                      "the token is not valid before %.0f s after the request", t->nbf - n);
    if (t->has_iat && t->iat > n + leeway)
        return refuse(why, FHIRPAM_INVALID_TOKEN, "iat_in_future",
                      "the token says it was issued %.0f s after the request", t->iat - n);
    return true;
}

/* Step 12: iss exactly the key's issuer; aud a string or an array of
 * strings containing that issuer's audience. */
static bool check_iss_aud(const issuer *is, const json_t *claims, token_failure *why)
{
    const json_t *iss = json_object_get(claims, "iss");
    if (!json_is_string(iss) || strcmp(json_string_value(iss), is->issuer) != 0 ||
        json_string_length(iss) != strlen(is->issuer)) {
        refuse(why, FHIRPAM_INVALID_TOKEN, iss ? "bad_issuer" : "missing_iss",
               iss ? "the token's iss is not the issuer of its key" : "the token has no iss claim");
        return false;
    }
    const json_t *aud = json_object_get(claims, "aud");
    bool found = false;
    if (json_is_string(aud)) {
        found = strcmp(json_string_value(aud), is->audience) == 0;
    } else if (json_is_array(aud) && json_array_size(aud) > 0) {
        size_t i;
        const json_t *a;
        json_array_foreach(aud, i, a)
        {
            if (!json_is_string(a)) {
                found = false;
                break;
            }
            found = found || strcmp(json_string_value(a), is->audience) == 0;
        }
    }
    if (!found) {
        refuse(why, FHIRPAM_INVALID_TOKEN, aud ? "bad_audience" : "missing_aud",
               aud ? "the token is not for this server (aud does not contain %.120s)"
                   : "the token has no aud claim",
               is->audience);
        return false;
    }
    return true;
}

typedef struct key_choice {
    const token_verifier *v;
    const jwks_key *key; /* the key that signed, once chosen */
} key_choice;

/* The key callback of jws_compact_verify for access tokens. */
static int select_key(void *cookie, const json_t *header, size_t siglen, const jwk_key **key,
                      jws_failure *why)
{
    (void)siglen; /* keys from the key set: jws_verify_key checks the length */
    key_choice *choice = cookie;
    choice->key = check_header(choice->v, header, why);
    if (choice->key == NULL)
        return -1;
    *key = &choice->key->key;
    return 0;
}

static json_t *verify_uncached(const token_verifier *v, const char *tok, size_t len,
                               token_times *times, size_t *issuer_index, token_failure *why)
{
    /* Steps 2-10. */
    key_choice choice = {v, NULL};
    unsigned char *payload;
    size_t plen;
    if (jws_compact_verify(tok, len, select_key, &choice, &payload, &plen, why) != 0)
        return NULL;
    json_t *claims = jws_parse_object(payload, plen, "token's payload", why);
    free(payload);
    if (claims == NULL)
        return NULL;

    /* Step 11: the time claims' types; their values are checked per request. */
    memset(times, 0, sizeof *times);
    int has_exp = numeric_date(claims, "exp", &times->exp);
    int has_nbf = numeric_date(claims, "nbf", &times->nbf);
    int has_iat = numeric_date(claims, "iat", &times->iat);
    if (has_exp <= 0 || has_nbf < 0 || has_iat < 0) {
        const char *claim = has_exp <= 0 ? "exp" : has_nbf < 0 ? "nbf" : "iat";
        if (has_exp == 0)
            refuse(why, FHIRPAM_INVALID_TOKEN, "missing_exp", "the token has no exp claim");
        else
            refuse(why, FHIRPAM_INVALID_TOKEN, "bad_time_claim",
                   "the token's %s claim is not a NumericDate", claim);
        json_decref(claims);
        return NULL;
    }
    times->has_nbf = has_nbf == 1;
    times->has_iat = has_iat == 1;

    /* Step 12, against the issuer whose key signed. */
    if (!check_iss_aud(&v->issuers[choice.key->issuer], claims, why)) {
        json_decref(claims);
        return NULL;
    }
    *issuer_index = choice.key->issuer;
    return claims;
}

const verified_token *token_verify(token_verifier *v, const char *tok, size_t len, int64_t now,
                                   token_failure *why)
{
    /* Step 1: the size cap comes before anything, the cache included. */
    if (len > (size_t)v->max_token_bytes) {
        refuse(why, FHIRPAM_INVALID_TOKEN, "too_large",
               "the token is %zu bytes, over the %lld-byte limit", len, v->max_token_bytes);
        return NULL;
    }

    struct verified_token *vt = token_cache_find(v->cache, tok, len);
    if (vt == NULL) {
        token_times times;
        size_t issuer_index = 0;
        json_t *claims = verify_uncached(v, tok, len, &times, &issuer_index, why);
        if (claims == NULL)
            return NULL;
        vt = token_cache_add(v->cache, tok, len, claims, &times, issuer_index);
        if (vt == NULL) {
            refuse(why, FHIRPAM_ERROR, "out_of_memory", "out of memory");
            return NULL;
        }
    }
    if (!check_times(v, verified_token_times(vt), now, why)) {
        /* An expired token has no use for its entry; keep the rest. */
        if (why->code == FHIRPAM_EXPIRED)
            token_cache_remove(v->cache, vt);
        verified_token_release(vt);
        return NULL;
    }
    return vt;
}

size_t token_verifier_cache_size(token_verifier *v)
{
    return token_cache_size(v->cache);
}

uint64_t token_verifier_cache_hits(token_verifier *v)
{
    return token_cache_hits(v->cache);
}
