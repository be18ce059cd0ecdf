/*
 * device_trust - sender-constrained tokens and device posture (issue 8;
 * ../shared/ref/device-trust.md; README.md).
 *
 * A token bound by `cnf` works only from the device that holds the key:
 * `x5t#S256` (RFC 8705) is checked against the client certificate the TLS
 * layer saw, `jkt` (RFC 9449) against a DPoP proof checked step by step as
 * RFC 9449 §4.3 lists them. Every `cnf` member fhirpam understands must hold;
 * a `cnf` with none it understands is refused. Each binding that held is
 * reported to the core (fhirpam_binding_verified), which permits a bound
 * token, or the DPoP scheme, on no other condition.
 */
#include <fhirpam/module.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replay.h"
#include "uri.h"

#define MAX_ALGS     8
#define MAX_POSTURE  16
#define NONCE_BUCKET 60 /* seconds a server nonce stays current */

/* The RSA key size bounds of module.h, as text for the argument table. */
#define TEXT_OF_(x)    #x
#define TEXT_OF(x)     TEXT_OF_(x)
#define RSA_BITS_RANGE TEXT_OF(FHIRPAM_RSA_MIN_BITS) "-" TEXT_OF(FHIRPAM_RSA_MAX_BITS)

static const fhirpam_arg_spec device_trust_args[] = {
    {"bind", FHIRPAM_ARG_STRING, "any", "any | mtls | dpop: the binding a bound token must use"},
    {"require_binding", FHIRPAM_ARG_BOOL, "false", "deny tokens without cnf"},
    {"public_base", FHIRPAM_ARG_STRING, NULL,
     "the public base URL requests reach this server by (for DPoP htu)"},
    {"dpop_algs", FHIRPAM_ARG_LIST, "[\"ES256\", \"PS256\"]", "proof algorithms accepted"},
    {"dpop_min_rsa_bits", FHIRPAM_ARG_INT, TEXT_OF(FHIRPAM_RSA_MIN_BITS),
     "smallest RSA proof key, in bits (" RSA_BITS_RANGE ")"},
    {"dpop_max_rsa_bits", FHIRPAM_ARG_INT, TEXT_OF(FHIRPAM_RSA_DEFAULT_MAX_BITS),
     "largest RSA proof key, in bits (" RSA_BITS_RANGE "): bounds what a hostile key costs"},
    {"dpop_window", FHIRPAM_ARG_INT, "60", "seconds a proof stays acceptable after its iat"},
    {"dpop_skew", FHIRPAM_ARG_INT, "5", "seconds a proof's iat may lie in the future"},
    {"use_dpop_nonce", FHIRPAM_ARG_BOOL, "false", "require server nonces in DPoP proofs"},
    {"replay_capacity", FHIRPAM_ARG_INT, "100000", "proofs remembered against replay"},
    {"posture", FHIRPAM_ARG_LIST, NULL,
     "\"attr=value\" or \"context:attr=value\": device attributes required"},
    {NULL, 0, NULL, NULL},
};

enum bind_mode { BIND_ANY, BIND_MTLS, BIND_DPOP };

typedef struct posture_rule {
    char context[16]; /* "" = every context */
    char attr[64];
    char value[128];
} posture_rule;

typedef struct device_trust {
    enum bind_mode bind;
    bool require_binding, use_nonce;
    char public_base[512]; /* normalised, without a trailing '/' */
    char *algs[MAX_ALGS];
    size_t nalgs;
    unsigned min_rsa_bits, max_rsa_bits; /* of proof keys */
    int64_t window, skew;
    replay_cache_ops replay;
    unsigned char nonce_key[32];
    posture_rule posture[MAX_POSTURE];
    size_t nposture;
} device_trust;

static void device_trust_close(void *instance)
{
    device_trust *dt = instance;
    if (dt == NULL)
        return;
    if (dt->replay.close != NULL)
        dt->replay.close(dt->replay.self);
    for (size_t i = 0; i < dt->nalgs; i++)
        free(dt->algs[i]);
    OPENSSL_cleanse(dt->nonce_key, sizeof dt->nonce_key);
    free(dt);
}

static int parse_posture(device_trust *dt, const char *text, fhirpam_error *err)
{
    posture_rule r = {0};
    const char *eq = strchr(text, '=');
    const char *colon = strchr(text, ':');
    if (eq == NULL || dt->nposture == MAX_POSTURE)
        goto bad;
    const char *attr = text;
    if (colon != NULL && colon < eq) {
        if ((size_t)(colon - text) >= sizeof r.context)
            goto bad;
        memcpy(r.context, text, (size_t)(colon - text));
        attr = colon + 1;
        if (strcmp(r.context, "patient") != 0 && strcmp(r.context, "user") != 0 &&
            strcmp(r.context, "system") != 0)
            goto bad;
    }
    if (eq == attr || (size_t)(eq - attr) >= sizeof r.attr || strlen(eq + 1) >= sizeof r.value)
        goto bad;
    memcpy(r.attr, attr, (size_t)(eq - attr));
    strcpy(r.value, eq + 1);
    dt->posture[dt->nposture++] = r;
    return 0;
bad:
    fhirpam_error_set(
        err, "posture: '%s' is not \"attr=value\" or \"patient|user|system:attr=value\"", text);
    return -1;
}

static int device_trust_open(const fhirpam_args *args, void **instance, fhirpam_error *err)
{
    device_trust *dt = calloc(1, sizeof *dt);
    if (dt == NULL) {
        fhirpam_error_set(err, "out of memory");
        return -1;
    }
    const char *bind = fhirpam_args_string(args, "bind", "any");
    dt->bind = strcmp(bind, "mtls") == 0   ? BIND_MTLS
               : strcmp(bind, "dpop") == 0 ? BIND_DPOP
                                           : BIND_ANY;
    if (dt->bind == BIND_ANY && strcmp(bind, "any") != 0) {
        fhirpam_error_set(err, "bind must be \"any\", \"mtls\" or \"dpop\"");
        goto fail;
    }
    dt->require_binding = fhirpam_args_bool(args, "require_binding", false);
    dt->use_nonce = fhirpam_args_bool(args, "use_dpop_nonce", false);
    dt->window = fhirpam_args_int(args, "dpop_window", 60);
    dt->skew = fhirpam_args_int(args, "dpop_skew", 5);
    int64_t capacity = fhirpam_args_int(args, "replay_capacity", 100000);
    if (dt->window < 1 || dt->window > 3600 || dt->skew < 0 || dt->skew > 300 || capacity < 64 ||
        capacity > 100000000) {
        fhirpam_error_set(err, "dpop_window (1-3600), dpop_skew (0-300) or replay_capacity "
                               "(64-100000000) out of range");
        goto fail;
    }
    int64_t min_bits = fhirpam_args_int(args, "dpop_min_rsa_bits", FHIRPAM_RSA_MIN_BITS);
    int64_t max_bits = fhirpam_args_int(args, "dpop_max_rsa_bits", FHIRPAM_RSA_DEFAULT_MAX_BITS);
    if (min_bits < FHIRPAM_RSA_MIN_BITS || max_bits > FHIRPAM_RSA_MAX_BITS || min_bits > max_bits) {
        fhirpam_error_set(err, "%s",
                          "dpop_min_rsa_bits and dpop_max_rsa_bits must be within " RSA_BITS_RANGE
                          ", the minimum not over the maximum");
        goto fail;
    }
    dt->min_rsa_bits = (unsigned)min_bits;
    dt->max_rsa_bits = (unsigned)max_bits;
    const char *base = fhirpam_args_string(args, "public_base", NULL);
    if (base != NULL) {
        if (uri_normalize(base, dt->public_base, sizeof dt->public_base) != 0 ||
            strchr(base, '?') != NULL || strchr(base, '#') != NULL) {
            fhirpam_error_set(err, "public_base '%s' is not an absolute http(s) URL", base);
            goto fail;
        }
        size_t n = strlen(dt->public_base);
        if (n > 0 && dt->public_base[n - 1] == '/')
            dt->public_base[n - 1] = '\0';
    }
    size_t nalgs = fhirpam_args_list_size(args, "dpop_algs");
    static const char *const default_algs[] = {"ES256", "PS256"};
    for (size_t i = 0; i < (nalgs ? nalgs : 2) && dt->nalgs < MAX_ALGS; i++) {
        const char *a = nalgs ? fhirpam_args_list_item(args, "dpop_algs", i) : default_algs[i];
        if (strncmp(a, "HS", 2) == 0 || strcmp(a, "none") == 0) {
            fhirpam_error_set(err, "dpop_algs: '%s' is not an asymmetric algorithm", a);
            goto fail;
        }
        dt->algs[dt->nalgs++] = strdup(a);
    }
    for (size_t i = 0; i < fhirpam_args_list_size(args, "posture"); i++)
        if (parse_posture(dt, fhirpam_args_list_item(args, "posture", i), err) != 0)
            goto fail;
    if (replay_memory_open((size_t)capacity, &dt->replay) != 0 ||
        RAND_bytes(dt->nonce_key, sizeof dt->nonce_key) != 1) {
        fhirpam_error_set(err, "cannot set up the replay cache");
        goto fail;
    }
    *instance = dt;
    return 0;
fail:
    device_trust_close(dt);
    return -1;
}

/* ---- helpers ---- */

static fhirpam_code refuse(fhirpam_authz *az, const char *scheme, const char *error,
                           const char *word, const char *text)
{
    fhirpam_set_reason(az, word, "%s", text);
    fhirpam_set_challenge(az, scheme, error);
    return FHIRPAM_UNTRUSTED_DEVICE;
}

static void b64url(const unsigned char *in, size_t len, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18 & 63], out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63], out[o++] = a[v & 63];
    }
    if (len - i == 1) {
        unsigned long v = (unsigned long)in[i] << 16;
        out[o++] = a[v >> 18 & 63], out[o++] = a[v >> 12 & 63];
    } else if (len - i == 2) {
        unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8;
        out[o++] = a[v >> 18 & 63], out[o++] = a[v >> 12 & 63], out[o++] = a[v >> 6 & 63];
    }
    out[o] = '\0';
}

/* A server nonce: base64url(bucket || HMAC(key, bucket)[0..16)), where
 * bucket is the time divided by NONCE_BUCKET. The current and the previous
 * bucket are accepted, so a nonce lives one to two minutes. */
static void make_nonce(const device_trust *dt, int64_t bucket, char out[48])
{
    unsigned char msg[8], mac[32], raw[24];
    unsigned int maclen = 0;
    for (int i = 0; i < 8; i++)
        msg[i] = (unsigned char)(bucket >> (56 - 8 * i));
    HMAC(EVP_sha256(), dt->nonce_key, sizeof dt->nonce_key, msg, 8, mac, &maclen);
    memcpy(raw, msg, 8);
    memcpy(raw + 8, mac, 16);
    b64url(raw, 24, out);
}

static bool nonce_valid(const device_trust *dt, const char *nonce, int64_t now)
{
    char expect[48];
    for (int64_t back = 0; back < 2; back++) {
        make_nonce(dt, now / NONCE_BUCKET - back, expect);
        if (strcmp(expect, nonce) == 0)
            return true;
    }
    return false;
}

/* The public URI of this request (without query), normalised. */
static int request_uri(const device_trust *dt, fhirpam_authz *az, char *out, size_t outlen)
{
    const char *url = fhirpam_request_url(az);
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
        return uri_normalize(url, out, outlen);
    if (dt->public_base[0] == '\0')
        return -1;
    char full[4096];
    while (*url == '/')
        url++;
    int n = snprintf(full, sizeof full, "%s/%s", dt->public_base, url);
    if (n < 0 || (size_t)n >= sizeof full)
        return -1;
    return uri_normalize(full, out, outlen);
}

/* RFC 9449 §4.3 and §7.1, the cheap checks first: the binding (cnf.jkt
 * against the proof's key) is decided before anything is computed with a
 * key the sender chose, and the replay check comes last, so that a bad proof
 * never uses up a jti. */
static fhirpam_code check_dpop(device_trust *dt, fhirpam_authz *az, const char *jkt)
{
    if (fhirpam_request_header_count(az, "DPoP") != 1)
        return refuse(az, "DPoP", "invalid_dpop_proof", "dpop_header",
                      "exactly one DPoP header is required");
    /* A token without cnf.jkt has no key for a proof to be by (§7.1): the
     * proof is not even read. */
    if (jkt == NULL)
        return refuse(az, "DPoP", "invalid_token", "dpop_binding",
                      "the token is not bound to a DPoP key (no cnf.jkt)");
    const char *jws = fhirpam_request_header(az, "DPoP", 0);
    const fhirpam_proof_rules rules = {(const char *const *)dt->algs, dt->nalgs, dt->min_rsa_bits,
                                       dt->max_rsa_bits, jkt};
    fhirpam_jws_proof proof;
    char why[256];
    int verified = fhirpam_jws_verify_proof(jws, strlen(jws), &rules, &proof, why, sizeof why);
    if (verified == FHIRPAM_PROOF_WRONG_KEY)
        return refuse(az, "DPoP", "invalid_token", "dpop_binding", why);
    if (verified != 0)
        return refuse(az, "DPoP", "invalid_dpop_proof", "dpop_signature", why);
    fhirpam_code code = FHIRPAM_SUCCESS;
    json_t *claims = json_loadb(proof.payload, proof.payload_len, JSON_REJECT_DUPLICATES, NULL);
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    const char *htm = json_string_value(json_object_get(claims, "htm"));
    const char *htu = json_string_value(json_object_get(claims, "htu"));
    const char *ath = json_string_value(json_object_get(claims, "ath"));
    const char *nonce = json_string_value(json_object_get(claims, "nonce"));
    const json_t *iat = json_object_get(claims, "iat");
    int64_t now = fhirpam_now(az);
    char want_uri[4096], got_uri[4096];
#define REFUSE(word, text)                                                                         \
    do {                                                                                           \
        code = refuse(az, "DPoP", "invalid_dpop_proof", word, text);                               \
        goto done;                                                                                 \
    } while (0)
    if (strcmp(proof.typ, "dpop+jwt") != 0)
        REFUSE("dpop_typ", "the proof's typ is not dpop+jwt");
    if (!json_is_object(claims) || jti == NULL || htm == NULL || htu == NULL || ath == NULL ||
        !json_is_number(iat))
        REFUSE("dpop_claims", "the proof lacks jti, htm, htu, iat or ath");
    if (strlen(jti) > 256)
        REFUSE("dpop_jti", "the proof's jti is longer than 256 characters");
    if (strcmp(htm, fhirpam_request_method(az)) != 0)
        REFUSE("dpop_htm", "the proof's htm is not the request method");
    if (request_uri(dt, az, want_uri, sizeof want_uri) != 0 ||
        uri_normalize(htu, got_uri, sizeof got_uri) != 0 || strchr(htu, '?') != NULL ||
        strchr(htu, '#') != NULL) {
        /* The request URI cannot be known (no public_base) or htu is not a
         * URI without query and fragment. */
        REFUSE("dpop_htu", "the proof's htu is not a URI of this request");
    }
    if (strcmp(want_uri, got_uri) != 0)
        REFUSE("dpop_htu", "the proof's htu is not the request URI");
    double t = json_number_value(iat);
    if (t > (double)(now + dt->skew) || t < (double)(now - dt->window))
        REFUSE("dpop_iat", "the proof's iat is outside the accepted window");
    size_t token_len;
    const char *token = fhirpam_access_token(az, &token_len);
    unsigned char digest[32];
    char want_ath[48];
    unsigned int dlen = 0;
    if (token == NULL || EVP_Digest(token, token_len, digest, &dlen, EVP_sha256(), NULL) != 1)
        REFUSE("dpop_ath", "no access token to compare ath with");
    b64url(digest, 32, want_ath);
    if (strcmp(ath, want_ath) != 0)
        REFUSE("dpop_ath", "the proof's ath is not the hash of this access token");
    if (dt->use_nonce && (nonce == NULL || !nonce_valid(dt, nonce, now))) {
        char fresh[48];
        make_nonce(dt, now / NONCE_BUCKET, fresh);
        fhirpam_set_reason(az, "dpop_nonce", "the proof needs the server's current nonce");
        fhirpam_set_challenge(az, "DPoP", "use_dpop_nonce");
        fhirpam_set_dpop_nonce(az, fresh);
        code = FHIRPAM_UNTRUSTED_DEVICE;
        goto done;
    }
    switch (dt->replay.check_and_remember(dt->replay.self, jti, strlen(jti),
                                          (int64_t)t + dt->window, now)) {
    case REPLAY_FRESH:
        break;
    case REPLAY_SEEN:
        REFUSE("dpop_replay", "this proof (its jti) was used before");
    case REPLAY_FULL:
        fhirpam_set_reason(az, "dpop_replay_full", "the DPoP replay cache is full");
        code = FHIRPAM_UNAVAILABLE;
        goto done;
    }
#undef REFUSE
done:
    json_decref(claims);
    fhirpam_jws_proof_free(&proof);
    return code;
}

static fhirpam_code check_posture(const device_trust *dt, fhirpam_authz *az)
{
    const char *context = fhirpam_attr_get(az, "scope_check.context");
    for (size_t i = 0; i < dt->nposture; i++) {
        const posture_rule *r = &dt->posture[i];
        if (r->context[0] != '\0' && (context == NULL || strcmp(context, r->context) != 0))
            continue;
        const char *have = fhirpam_device_attr(az, r->attr);
        if (have == NULL || strcmp(have, r->value) != 0) {
            fhirpam_set_reason(az, "posture", "the device's %s is not %s", r->attr, r->value);
            return FHIRPAM_UNTRUSTED_DEVICE;
        }
    }
    return FHIRPAM_SUCCESS;
}

static fhirpam_code device_trust_authorize(void *instance, fhirpam_authz *az)
{
    device_trust *dt = instance;
    if (!fhirpam_has_token(az)) {
        fhirpam_set_reason(az, "no_token",
                           "device_trust needs a token; this stack runs without one");
        return FHIRPAM_DENY;
    }
    fhirpam_claim_type cnf_type = fhirpam_claim_type_of(az, "cnf");
    const char *x5t = fhirpam_claim_member_string(az, "cnf", "x5t#S256");
    const char *jkt = fhirpam_claim_member_string(az, "cnf", "jkt");
    const char *scheme = fhirpam_token_scheme(az);
    bool dpop_scheme = scheme != NULL && strcmp(scheme, "DPoP") == 0;
    const char *challenge = dpop_scheme ? "DPoP" : "Bearer";

    if (cnf_type != FHIRPAM_CLAIM_ABSENT && x5t == NULL && jkt == NULL)
        return refuse(az, challenge, "invalid_token", "unknown_cnf",
                      "the token's cnf has no confirmation method fhirpam understands");
    if (x5t == NULL && jkt == NULL && !dpop_scheme) {
        if (dt->require_binding)
            return refuse(az, "Bearer", "invalid_token", "unbound_token",
                          "this stack requires a sender-constrained token");
        return check_posture(dt, az);
    }
    if ((dt->bind == BIND_MTLS && x5t == NULL) || (dt->bind == BIND_DPOP && jkt == NULL))
        return refuse(az, challenge, "invalid_token", "wrong_binding",
                      dt->bind == BIND_MTLS ? "this stack requires a certificate-bound token"
                                            : "this stack requires a DPoP-bound token");
    if (jkt != NULL && !dpop_scheme)
        return refuse(az, "DPoP", "invalid_token", "bearer_downgrade",
                      "a DPoP-bound token was presented with the Bearer scheme");
    if (x5t != NULL) {
        const char *have = fhirpam_request_client_cert_thumbprint(az);
        if (have == NULL)
            return refuse(az, challenge, "invalid_token", "no_client_certificate",
                          "the token is bound to a client certificate, and none was presented");
        if (strcmp(have, x5t) != 0)
            return refuse(az, challenge, "invalid_token", "certificate_mismatch",
                          "the client certificate is not the one the token is bound to");
        fhirpam_binding_verified(az, FHIRPAM_BINDING_MTLS);
    }
    if (jkt != NULL || dpop_scheme) {
        fhirpam_code code = check_dpop(dt, az, jkt);
        if (code != FHIRPAM_SUCCESS)
            return code;
        fhirpam_binding_verified(az, FHIRPAM_BINDING_DPOP);
    }
    return check_posture(dt, az);
}

FHIRPAM_MODULE_DESCRIPTOR = {
    FHIRPAM_MODULE_HEADER,
    .name = "device_trust",
    .version = "1.0",
    .description = "mTLS- and DPoP-bound tokens (RFC 8705, RFC 9449) and device posture",
    .args = device_trust_args,
    .open = device_trust_open,
    .authorize = device_trust_authorize,
    .close = device_trust_close,
    /* The core permits a bound token only where a binding was reported. */
    .flags = FHIRPAM_MODULE_VERIFIES_BINDING,
};
