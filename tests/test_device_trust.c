/*
 * test_device_trust.c - the device_trust module (issue 8) end to end, through the core:
 * sender-constrained access tokens (RFC 8705 mTLS, RFC 9449 DPoP, RFC 7800 `cnf`) and device
 * posture, following the decision list of modules/device_trust/README.md (the contract) with
 * the background of shared/ref/device-trust.md.
 *
 * Every test builds a config with a `token` group and a stack using the module, mints its own
 * access token (with or without `cnf`) and DPoP proofs, and calls fhirpam_authorize() with the
 * evaluation time pinned. Each end-to-end case breaks exactly one rule of the decision list
 * (or none, for the cases that must be permitted) and checks the code, the HTTP status, the
 * reason word and the WWW-Authenticate value.
 *
 * Third-party vectors:
 *  - RFC 7638 §3.1 (JWK Thumbprint, "Example JWK Thumbprint Computation"): the RSA JWK of that
 *    section (the RFC 7517 Appendix A.1 key, kid "2011-04-29") and its SHA-256 thumbprint
 *    NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs.
 *  - RFC 9449 §4.1 (the example proof, for the token request of §5): header, payload and
 *    signature copied unchanged; its EC key's thumbprint is the `jkt` of RFC 9449 §6.1
 *    example, 0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I.
 *  - RFC 9449 §7.1 (the proof of the protected-resource request example): the same header
 *    segment, the payload segment and signature of the RFC, and its access token
 *    "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU" whose hash is the proof's `ath`.
 * The RFC proofs date from 2019: where they go through the module, the clock is pinned to
 * their `iat`.
 */
#include <check.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fhirpam/module.h>

#include "jws.h"
#include "mint.h"
#include "proof.h"
#include "testutil.h"

#define NOW       1800000000LL
#define ISS       "https://ehr.example.org"
#define AUD       "https://fhir"
#define BASE      "https://fhir.example.org/r4"
#define HTU       BASE "/Patient/123"
#define BASE_ARGS "public_base = \"" BASE "\";"

#define W_PROOF  "DPoP error=\"invalid_dpop_proof\""
#define W_DTOKEN "DPoP error=\"invalid_token\""
#define W_BTOKEN "Bearer error=\"invalid_token\""
#define W_NONCE  "DPoP error=\"use_dpop_nonce\""

/* ---- RFC vectors (see the header comment for where each comes from) ---- */

/* RFC 7638 §3.1. */
static const char rfc7638_jwk[] =
    "{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu"
    "1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6C"
    "f0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08"
    "qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnq"
    "DKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";
#define RFC7638_JKT "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

/* RFC 9449 §4.1 / §6.1: the proof key, members in the RFC's order. */
static const char rfc9449_jwk[] =
    "{\"kty\":\"EC\",\"x\":\"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs\",\"y\":\"9VE4jf_Ok_o64zbT"
    "TlcuNJajHmt6v9TDVrU0CdvGRDA\",\"crv\":\"P-256\"}";
#define RFC9449_JKT "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"

/* RFC 9449 §4.1: the token-request proof. */
#define RFC9449_HEADER                                                                             \
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjN"  \
    "oUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VER" \
    "WclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19"
static const char rfc9449_token_proof[] = RFC9449_HEADER
    ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbG"
    "UuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbd"
    "LXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";

/* RFC 9449 §7.1: the protected-resource proof, its payload as JSON text, the
 * RFC's payload segment and signature, and the access token it was made for. */
static const char rfc9449_resource_payload[] =
    "{\"jti\":\"e1j3V_bKic8-LAEB\",\"htm\":\"GET\",\"htu\":\"https://resource.example.org/"
    "protectedresource\",\"iat\":1562262618,\"ath\":\"fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    "\"}";
static const char rfc9449_resource_segment[] =
    "eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxl"
    "Lm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0J"
    "iMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9";
static const char rfc9449_resource_sig[] =
    "2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";
static const char rfc9449_access_token[] = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
#define RFC9449_ATH "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"

/* ---- fixture ---- */

static EVP_PKEY *issuer;        /* signs the access tokens */
static char *jwks_path;         /* the issuer's JWKS file */
static EVP_PKEY *dev;           /* the device's DPoP key (P-256) */
static char *dev_jwk;           /* its public JWK, compact JSON, no kid/use/alg */
static char dev_jkt[48];        /* its RFC 7638 thumbprint */
static char *tok;               /* the access token of the test */
static fhirpam_context *ctx;    /* the context of the test */
static unsigned jti_seq;        /* fresh jtis */
static char auth_buf[2][8192];  /* Authorization header values */
static const char *conf_prefix; /* top-level config lines before the token group */

/* The public JWK of key as compact JSON without kid and use; its thumbprint in jkt. */
static char *jwk_text(EVP_PKEY *key, char jkt[48])
{
    json_t *jwk = mint_public_jwk(key, "x", NULL);
    ck_assert_ptr_nonnull(jwk);
    json_object_del(jwk, "kid");
    json_object_del(jwk, "use");
    if (jkt != NULL)
        ck_assert_int_eq(jwk_thumbprint(jwk, jkt), 0);
    char *text = json_dumps(jwk, JSON_COMPACT);
    json_decref(jwk);
    return text;
}

static void setup(void)
{
    issuer = mint_keygen("ES256", 0);
    ck_assert_ptr_nonnull(issuer);
    json_t *set = json_pack("{s:[o]}", "keys", mint_public_jwk(issuer, "k1", "ES256"));
    char *text = json_dumps(set, JSON_COMPACT);
    jwks_path = strdup(tu_write("jwks.json", text));
    free(text);
    json_decref(set);
    dev = mint_keygen("ES256", 0);
    ck_assert_ptr_nonnull(dev);
    dev_jwk = jwk_text(dev, dev_jkt);
    tok = NULL;
    ctx = NULL;
    jti_seq = 0;
    conf_prefix = "";
}

static void teardown(void)
{
    if (ctx != NULL)
        fhirpam_close(ctx);
    ctx = NULL;
    free(tok);
    tok = NULL;
    free(dev_jwk);
    free(jwks_path);
    EVP_PKEY_free(dev);
    EVP_PKEY_free(issuer);
}

/* The config text with stacks `s` (device_trust alone), `sc` (scope_check, then
 * device_trust) and `anon` (device_trust without a token), all with module args `args`;
 * NULL when it does not load. */
static fhirpam_context *try_open(const char *args, fhirpam_error *err)
{
    char conf[8192];
    snprintf(conf, sizeof conf,
             "%s"
             "token: { issuer = \"" ISS "\"; audience = \"" AUD "\"; jwks = \"%s\"; "
             "algorithms = [\"ES256\"]; };\n"
             "stacks: {\n"
             "  s = ( { control = \"required\"; module = \"device_trust\"; args = { %s }; } );\n"
             "  sc = ( { control = \"required\"; module = \"scope_check\"; },\n"
             "         { control = \"required\"; module = \"device_trust\"; args = { %s }; } );\n"
             "  anon = { token = \"none\"; lines = ( { control = \"required\"; module = "
             "\"device_trust\"; args = { %s }; } ); };\n"
             "};\n",
             conf_prefix, jwks_path, args, args, args);
    return tu_open(conf, err);
}

/* Opens the test's context with module args `args` (public_base not implied). */
static void open_raw(const char *args)
{
    fhirpam_error err = {{0}};
    if (ctx != NULL)
        fhirpam_close(ctx);
    ctx = try_open(args, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
}

/* Opens the test's context with public_base BASE and `extra` args. */
static void open_with(const char *extra)
{
    char args[2048];
    snprintf(args, sizeof args, "%s %s", BASE_ARGS, extra);
    open_raw(args);
}

/* Sets tok: an access token with `cnf` (JSON text, or NULL for none) and scope. */
static void token_full(const char *cnf, const char *scope, long long exp)
{
    char payload[2048];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"device-user\",\"exp\":%lld,"
             "\"scope\":\"%s\"%s%s}",
             exp, scope, cnf ? ",\"cnf\":" : "", cnf ? cnf : "");
    free(tok);
    tok = mint_token(issuer, "ES256", "{\"alg\":\"ES256\",\"kid\":\"k1\"}", payload);
    ck_assert_ptr_nonnull(tok);
}

static void token_with(const char *cnf)
{
    token_full(cnf, "user/Patient.rs", NOW + 7200);
}

/* cnf binding to key thumbprint jkt. */
static const char *jkt_cnf(const char *jkt)
{
    static char buf[128];
    snprintf(buf, sizeof buf, "{\"jkt\":\"%s\"}", jkt);
    return buf;
}

/* The default of most tests: public_base BASE and a token bound to the device key. */
static void bound_default(void)
{
    open_with("");
    token_with(jkt_cnf(dev_jkt));
}

/* tok: a token bound to the key of jwk (JSON text). A hostile key reaches
 * the key's bounds and its signature only with a token bound to it (a proof
 * by any other key is refused on its thumbprint), so these tests send each
 * with one: the worst case, an attacker whose authorization server bound a
 * token to a key of their making. Used by the tests of issue 24 below. */
static void bind_token_to(const char *jwk)
{
    json_t *parsed = json_loads(jwk, 0, NULL);
    char jkt[48];
    ck_assert_ptr_nonnull(parsed);
    ck_assert_int_eq(jwk_thumbprint(parsed, jkt), 0);
    json_decref(parsed);
    token_with(jkt_cnf(jkt));
}

/* "scheme tok" in one of two rotating buffers. */
static const char *auth(const char *scheme)
{
    static unsigned n;
    char *b = auth_buf[n++ % 2];
    snprintf(b, sizeof auth_buf[0], "%s %s", scheme, tok);
    return b;
}

/* base64url(SHA-256(text)) into out. */
static void sha256_b64(const char *text, char out[48])
{
    unsigned char md[32];
    unsigned int len = 0;
    ck_assert_int_eq(EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL), 1);
    char *b = mint_b64url(md, 32);
    snprintf(out, 48, "%s", b);
    free(b);
}

/* ---- proofs ---- */

enum { OMIT_JTI = 1, OMIT_HTM = 2, OMIT_HTU = 4, OMIT_IAT = 8, OMIT_ATH = 16 };

/* A proof's claims: NULL members take the defaults of a good proof for GET Patient/123 with
 * tok at NOW. Values are JSON strings except iat (JSON text). */
typedef struct pclaims {
    const char *jti;
    const char *htm;
    const char *htu;
    const char *iat;
    const char *ath;
    const char *nonce;
    unsigned omit;
} pclaims;

static char *proof_payload(const pclaims *c)
{
    char jti[32], iat[32], ath[48], buf[4096];
    size_t n = 0;
    snprintf(jti, sizeof jti, "jti-%u-%u", (unsigned)getpid(), ++jti_seq);
    snprintf(iat, sizeof iat, "%lld", NOW);
    sha256_b64(tok, ath);
    buf[n++] = '{';
#define MEMBER(bit, name, fmt, value)                                                              \
    if (!(c->omit & (bit)))                                                                        \
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"" name "\":" fmt, n > 1 ? "," : "",    \
                              value);
    MEMBER(OMIT_JTI, "jti", "\"%s\"", c->jti ? c->jti : jti)
    MEMBER(OMIT_HTM, "htm", "\"%s\"", c->htm ? c->htm : "GET")
    MEMBER(OMIT_HTU, "htu", "\"%s\"", c->htu ? c->htu : HTU)
    MEMBER(OMIT_IAT, "iat", "%s", c->iat ? c->iat : iat)
    MEMBER(OMIT_ATH, "ath", "\"%s\"", c->ath ? c->ath : ath)
    MEMBER(c->nonce ? 0 : ~0u, "nonce", "\"%s\"", c->nonce)
#undef MEMBER
    ck_assert_uint_lt(n + 2, sizeof buf);
    buf[n++] = '}';
    buf[n] = '\0';
    return strdup(buf);
}

/* A proof header {"typ":typ,"alg":alg,"jwk":jwk}; NULL members are left out. */
static char *header3(const char *typ, const char *alg, const char *jwk)
{
    char buf[4096];
    size_t n = 0;
    buf[n++] = '{';
    if (typ != NULL)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "\"typ\":\"%s\"", typ);
    if (alg != NULL)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"alg\":\"%s\"", n > 1 ? "," : "", alg);
    if (jwk != NULL)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"jwk\":%s", n > 1 ? "," : "", jwk);
    ck_assert_uint_lt(n + 2, sizeof buf);
    buf[n++] = '}';
    buf[n] = '\0';
    return strdup(buf);
}

/* A proof signed by key under sign_alg with header text `header` and claims c. */
static char *proof_signed(EVP_PKEY *key, const char *sign_alg, const char *header, const pclaims *c)
{
    char *payload = proof_payload(c);
    char *p = mint_token(key, sign_alg, header, payload);
    ck_assert_ptr_nonnull(p);
    free(payload);
    return p;
}

/* A proof with header (typ, alg, jwk), signed by the device key with ES256. */
static char *proof_hdr(const char *typ, const char *alg, const char *jwk, const pclaims *c)
{
    char *h = header3(typ, alg, jwk);
    char *p = proof_signed(dev, "ES256", h, c);
    free(h);
    return p;
}

/* A good proof of the device key with claims c. */
static char *proof(const pclaims *c)
{
    return proof_hdr("dpop+jwt", "ES256", dev_jwk, c);
}

/* ---- requests ---- */

typedef struct rq {
    const char *stack;         /* NULL: "s" */
    const char *method;        /* NULL: "GET" */
    const char *url;           /* NULL: "Patient/123" */
    const char *authorization; /* NULL: "DPoP <tok>"; "": none */
    const char *dpop[3];       /* DPoP header values, in order */
    const char *cert_pem;
    const char *cert_x5t;
    const char *attr[2][2]; /* device attributes */
    const char *host;       /* a Host header */
    long long time;         /* 0: NOW */
} rq;

static fhirpam_decision *run(const rq *r)
{
    fhirpam_request *req =
        fhirpam_request_new(r->method ? r->method : "GET", r->url ? r->url : "Patient/123");
    ck_assert_ptr_nonnull(req);
    const char *a = r->authorization ? r->authorization : auth("DPoP");
    if (a[0] != '\0')
        fhirpam_request_add_header(req, "Authorization", a);
    for (size_t i = 0; i < 3 && r->dpop[i] != NULL; i++)
        fhirpam_request_add_header(req, "DPoP", r->dpop[i]);
    if (r->host != NULL)
        fhirpam_request_add_header(req, "Host", r->host);
    if (r->cert_pem != NULL)
        ck_assert_int_eq(fhirpam_request_set_client_cert_pem(req, r->cert_pem, strlen(r->cert_pem)),
                         0);
    if (r->cert_x5t != NULL)
        ck_assert_int_eq(fhirpam_request_set_client_cert_thumbprint(req, r->cert_x5t), 0);
    for (size_t i = 0; i < 2 && r->attr[i][0] != NULL; i++)
        ck_assert_int_eq(fhirpam_request_add_device_attr(req, r->attr[i][0], r->attr[i][1]), 0);
    fhirpam_request_set_time(req, r->time ? r->time : NOW);
    fhirpam_decision *d = fhirpam_authorize(ctx, r->stack ? r->stack : "s", req);
    fhirpam_request_free(req);
    ck_assert_ptr_nonnull(d);
    return d;
}

/* GET Patient/123 with "DPoP tok" and one DPoP header `p` (freed). */
static fhirpam_decision *run_proof(char *p)
{
    fhirpam_decision *d = run(&(rq){.dpop = {p}});
    free(p);
    return d;
}

static void expect_permit_at(fhirpam_decision *d, int line)
{
    ck_assert_msg(fhirpam_decision_permitted(d), "line %d: %s (%s: %s)", line,
                  fhirpam_code_name(fhirpam_decision_code(d)), fhirpam_decision_reason(d),
                  fhirpam_decision_reason_text(d));
    ck_assert_int_eq(fhirpam_decision_http_status(d), 200);
    ck_assert_ptr_null(fhirpam_decision_www_authenticate(d));
    fhirpam_decision_free(d);
}

/* A refusal by device_trust: untrusted_device, 401, reason and challenge. */
static void expect_refused_at(fhirpam_decision *d, const char *reason, const char *www, int line)
{
    const char *w = fhirpam_decision_www_authenticate(d);
    ck_assert_msg(!fhirpam_decision_permitted(d) &&
                      fhirpam_decision_code(d) == FHIRPAM_UNTRUSTED_DEVICE &&
                      strcmp(fhirpam_decision_reason(d), reason) == 0,
                  "line %d: want untrusted_device/%s, got %s/%s (%s)", line, reason,
                  fhirpam_code_name(fhirpam_decision_code(d)), fhirpam_decision_reason(d),
                  fhirpam_decision_reason_text(d));
    ck_assert_int_eq(fhirpam_decision_http_status(d), 401);
    ck_assert_str_eq(fhirpam_decision_module(d), "device_trust");
    ck_assert_msg(w != NULL && strcmp(w, www) == 0,
                  "line %d (%s): want WWW-Authenticate '%s', got '%s'", line, reason, www,
                  w ? w : "(none)");
    fhirpam_decision_free(d);
}

#define expect_permit(d)               expect_permit_at((d), __LINE__)
#define expect_refused(d, reason, www) expect_refused_at((d), (reason), (www), __LINE__)

/* The default case: bound token, one proof from claims, expect a refusal. */
#define REFUSED_CLAIMS(reason, www, ...)                                                           \
    do {                                                                                           \
        bound_default();                                                                           \
        expect_refused(run_proof(proof(&(pclaims){__VA_ARGS__})), reason, www);                    \
    } while (0)
#define PERMITTED_CLAIMS(...)                                                                      \
    do {                                                                                           \
        bound_default();                                                                           \
        expect_permit(run_proof(proof(&(pclaims){__VA_ARGS__})));                                  \
    } while (0)

/* ---- certificates ---- */

/* A self-signed certificate for key as PEM (caller frees); its x5t#S256 in x5t and the raw
 * SHA-256 of its DER in md (may be NULL). */
static char *make_cert(EVP_PKEY *key, const char *cn, char x5t[48], unsigned char md[32])
{
    static long serial = 1;
    X509 *x = X509_new();
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(X509_set_version(x, 2), 1);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    ck_assert_int_eq(X509_set_pubkey(x, key), 1);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    ck_assert_int_eq(X509_set_issuer_name(x, name), 1);
    ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
    BIO *bio = BIO_new(BIO_s_mem());
    ck_assert_int_eq(PEM_write_bio_X509(bio, x), 1);
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    char *pem = strndup(data, (size_t)len);
    unsigned char *der = NULL;
    int dlen = i2d_X509(x, &der);
    ck_assert_int_gt(dlen, 0);
    unsigned char digest[32];
    ck_assert_int_eq(EVP_Digest(der, (size_t)dlen, digest, NULL, EVP_sha256(), NULL), 1);
    char *b = mint_b64url(digest, 32);
    snprintf(x5t, 48, "%s", b);
    if (md != NULL)
        memcpy(md, digest, 32);
    free(b);
    OPENSSL_free(der);
    BIO_free(bio);
    X509_free(x);
    return pem;
}

/* A certificate holder: key, PEM and x5t#S256. */
typedef struct cert {
    EVP_PKEY *key;
    char *pem;
    char x5t[48];
    unsigned char md[32];
} cert;

static void cert_make(cert *c, const char *cn)
{
    c->key = mint_keygen("ES256", 0);
    ck_assert_ptr_nonnull(c->key);
    c->pem = make_cert(c->key, cn, c->x5t, c->md);
}

static void cert_free(cert *c)
{
    free(c->pem);
    EVP_PKEY_free(c->key);
}

static const char *x5t_cnf(const char *x5t)
{
    static char buf[128];
    snprintf(buf, sizeof buf, "{\"x5t#S256\":\"%s\"}", x5t);
    return buf;
}

/* ======================================================================== */
/* RFC vectors                                                              */

START_TEST(rfc7638_rsa_thumbprint)
{
    json_t *jwk = json_loads(rfc7638_jwk, 0, NULL);
    ck_assert_ptr_nonnull(jwk);
    char out[48];
    ck_assert_int_eq(jwk_thumbprint(jwk, out), 0);
    ck_assert_str_eq(out, RFC7638_JKT);
    /* alg and kid are never hashed: the same key without them, members reordered. */
    json_object_del(jwk, "alg");
    json_object_del(jwk, "kid");
    char *text = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *again = json_loads(text, 0, NULL);
    ck_assert_int_eq(jwk_thumbprint(again, out), 0);
    ck_assert_str_eq(out, RFC7638_JKT);
    free(text);
    json_decref(again);
    json_decref(jwk);
}
END_TEST

START_TEST(rfc9449_ec_thumbprint)
{
    json_t *jwk = json_loads(rfc9449_jwk, 0, NULL);
    ck_assert_ptr_nonnull(jwk);
    char out[48];
    ck_assert_int_eq(jwk_thumbprint(jwk, out), 0);
    ck_assert_str_eq(out, RFC9449_JKT);
    /* Extra members change nothing. */
    json_object_set_new(jwk, "kid", json_string("k"));
    json_object_set_new(jwk, "use", json_string("sig"));
    ck_assert_int_eq(jwk_thumbprint(jwk, out), 0);
    ck_assert_str_eq(out, RFC9449_JKT);
    /* A required member missing: no thumbprint. */
    json_object_del(jwk, "crv");
    ck_assert_int_eq(jwk_thumbprint(jwk, out), -1);
    json_decref(jwk);
}
END_TEST

START_TEST(rfc9449_token_request_proof)
{
    static const char *const algs[] = {"ES256"};
    fhirpam_jws_proof p;
    char err[256];
    ck_assert_msg(fhirpam_jws_verify_embedded(rfc9449_token_proof, strlen(rfc9449_token_proof),
                                              algs, 1, &p, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_str_eq(p.jkt, RFC9449_JKT);
    ck_assert_str_eq(p.typ, "dpop+jwt");
    ck_assert_str_eq(p.alg, "ES256");
    ck_assert_str_eq(p.payload, "{\"jti\":\"-BwC3ESc6acc2lTc\",\"htm\":\"POST\",\"htu\":\"https://"
                                "server.example.com/token\",\"iat\":1562262616}");
    fhirpam_jws_proof_free(&p);
    /* Not under an allow-list without ES256. */
    static const char *const ps[] = {"PS256"};
    ck_assert_int_eq(fhirpam_jws_verify_embedded(rfc9449_token_proof, strlen(rfc9449_token_proof),
                                                 ps, 1, &p, err, sizeof err),
                     -1);
    fhirpam_jws_proof_free(&p);
}
END_TEST

START_TEST(rfc9449_resource_proof)
{
    /* The payload segment is base64url of exactly the RFC's JSON text. */
    char *seg = mint_b64url(rfc9449_resource_payload, strlen(rfc9449_resource_payload));
    ck_assert_str_eq(seg, rfc9449_resource_segment);
    free(seg);
    /* The RFC's ath is base64url(SHA-256(access token)). */
    char ath[48];
    sha256_b64(rfc9449_access_token, ath);
    ck_assert_str_eq(ath, RFC9449_ATH);
    char jws[1024];
    snprintf(jws, sizeof jws, "%s.%s.%s", RFC9449_HEADER, rfc9449_resource_segment,
             rfc9449_resource_sig);
    static const char *const algs[] = {"ES256"};
    fhirpam_jws_proof p;
    char err[256];
    ck_assert_msg(fhirpam_jws_verify_embedded(jws, strlen(jws), algs, 1, &p, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_str_eq(p.jkt, RFC9449_JKT);
    ck_assert_str_eq(p.typ, "dpop+jwt");
    ck_assert_str_eq(p.payload, rfc9449_resource_payload);
    fhirpam_jws_proof_free(&p);
    /* One bit of the signature changed: refused. */
    jws[strlen(jws) - 2] = jws[strlen(jws) - 2] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(fhirpam_jws_verify_embedded(jws, strlen(jws), algs, 1, &p, err, sizeof err),
                     -1);
    fhirpam_jws_proof_free(&p);
}
END_TEST

/* The RFC 9449 §7.1 proof through the module, the clock pinned to its iat, for a token bound
 * to the RFC key and a request whose URI is the RFC's htu: the proof's signature, typ, claims,
 * htm, htu and iat all hold, and it stops at ath, since our access token is a JWT of our own
 * issuer, not the RFC's opaque token. A minute and a second later it is too old. */
START_TEST(rfc9449_resource_proof_through_module)
{
    conf_prefix = "fhir_base = \"https://resource.example.org/protectedresource\";\n";
    open_raw("public_base = \"https://resource.example.org\";");
    token_full(jkt_cnf(RFC9449_JKT), "user/Patient.rs", 1562262618LL + 600);
    char jws[1024];
    snprintf(jws, sizeof jws, "%s.%s.%s", RFC9449_HEADER, rfc9449_resource_segment,
             rfc9449_resource_sig);
    rq r = {.url = "https://resource.example.org/protectedresource",
            .dpop = {jws},
            .time = 1562262618LL};
    expect_refused(run(&r), "dpop_ath", W_PROOF);
    r.time = 1562262618LL + 61;
    expect_refused(run(&r), "dpop_iat", W_PROOF);
}
END_TEST

/* ======================================================================== */
/* Permitted requests                                                       */

START_TEST(dpop_permit)
{
    bound_default();
    fhirpam_decision *d = run_proof(proof(&(pclaims){0}));
    ck_assert_uint_eq(fhirpam_decision_trace_count(d), 1);
    ck_assert_ptr_null(fhirpam_decision_dpop_nonce(d));
    expect_permit(d);
}
END_TEST

START_TEST(dpop_scheme_lower_case)
{
    bound_default();
    char *p = proof(&(pclaims){0});
    expect_permit(run(&(rq){.authorization = auth("dpop"), .dpop = {p}}));
    free(p);
}
END_TEST

START_TEST(dpop_header_name_lower_case)
{
    bound_default();
    char *p = proof(&(pclaims){0});
    fhirpam_request *req = fhirpam_request_new("GET", "Patient/123");
    fhirpam_request_add_header(req, "Authorization", auth("DPoP"));
    fhirpam_request_add_header(req, "dpop", p);
    fhirpam_request_set_time(req, NOW);
    fhirpam_decision *d = fhirpam_authorize(ctx, "s", req);
    fhirpam_request_free(req);
    free(p);
    expect_permit(d);
}
END_TEST

START_TEST(bearer_unbound_permit)
{
    open_with("");
    token_with(NULL);
    expect_permit(run(&(rq){.authorization = auth("Bearer")}));
}
END_TEST

START_TEST(bearer_unbound_ignores_dpop_header)
{
    open_with("");
    token_with(NULL);
    char *p = proof(&(pclaims){.htm = "POST"});
    expect_permit(run(&(rq){.authorization = auth("Bearer"), .dpop = {p}}));
    free(p);
}
END_TEST

START_TEST(dpop_delete_permit)
{
    bound_default();
    char *p = proof(&(pclaims){.htm = "DELETE"});
    expect_permit(run(&(rq){.method = "DELETE", .dpop = {p}}));
    free(p);
}
END_TEST

START_TEST(dpop_search_query_not_in_htu)
{
    bound_default();
    char *p = proof(&(pclaims){.htu = BASE "/Patient"});
    expect_permit(run(&(rq){.url = "Patient?name=smith", .dpop = {p}}));
    free(p);
}
END_TEST

START_TEST(jwk_extra_members_permit)
{
    bound_default();
    char jwk[1024];
    snprintf(jwk, sizeof jwk, "{\"kid\":\"device\",\"use\":\"sig\",%s", dev_jwk + 1);
    expect_permit(run_proof(proof_hdr("dpop+jwt", "ES256", jwk, &(pclaims){0})));
}
END_TEST

START_TEST(ps256_permit)
{
    open_with("");
    EVP_PKEY *rsa = mint_keygen("PS256", 2048);
    char jkt[48];
    char *jwk = jwk_text(rsa, jkt);
    token_with(jkt_cnf(jkt));
    char *h = header3("dpop+jwt", "PS256", jwk);
    expect_permit(run_proof(proof_signed(rsa, "PS256", h, &(pclaims){0})));
    free(h);
    free(jwk);
    EVP_PKEY_free(rsa);
}
END_TEST

START_TEST(es384_allowed_permit)
{
    open_with("dpop_algs = [\"ES384\"];");
    EVP_PKEY *k = mint_keygen("ES384", 0);
    char jkt[48];
    char *jwk = jwk_text(k, jkt);
    token_with(jkt_cnf(jkt));
    char *h = header3("dpop+jwt", "ES384", jwk);
    expect_permit(run_proof(proof_signed(k, "ES384", h, &(pclaims){0})));
    free(h);
    free(jwk);
    EVP_PKEY_free(k);
}
END_TEST

/* ======================================================================== */
/* Step 1: no token                                                         */

START_TEST(no_token)
{
    open_with("");
    fhirpam_decision *d = run(&(rq){.stack = "anon", .authorization = ""});
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_DENY);
    ck_assert_str_eq(fhirpam_decision_reason(d), "no_token");
    ck_assert_str_eq(fhirpam_decision_module(d), "device_trust");
    ck_assert_int_eq(fhirpam_decision_http_status(d), 403);
    fhirpam_decision_free(d);
}
END_TEST

/* ======================================================================== */
/* Step 2: cnf without a method fhirpam understands                         */

START_TEST(unknown_cnf_bearer)
{
    open_with("");
    token_with("{\"x5t\":\"bwcK0esc3ACC3DB2Y5_lESsXE8o\"}");
    expect_refused(run(&(rq){.authorization = auth("Bearer")}), "unknown_cnf", W_BTOKEN);
}
END_TEST

START_TEST(unknown_cnf_dpop)
{
    open_with("");
    token_with("{\"x5t\":\"bwcK0esc3ACC3DB2Y5_lESsXE8o\"}");
    expect_refused(run_proof(proof(&(pclaims){0})), "unknown_cnf", W_DTOKEN);
}
END_TEST

START_TEST(unknown_cnf_empty)
{
    open_with("");
    token_with("{}");
    expect_refused(run(&(rq){.authorization = auth("Bearer")}), "unknown_cnf", W_BTOKEN);
}
END_TEST

START_TEST(unknown_member_next_to_jkt_tolerated)
{
    open_with("");
    char cnf[160];
    snprintf(cnf, sizeof cnf, "{\"jkt\":\"%s\",\"kc-jkt-type\":\"x\"}", dev_jkt);
    token_with(cnf);
    expect_permit(run_proof(proof(&(pclaims){0})));
}
END_TEST

/* ======================================================================== */
/* Step 3: unbound tokens                                                   */

START_TEST(require_binding_bearer)
{
    open_with("require_binding = true;");
    token_with(NULL);
    expect_refused(run(&(rq){.authorization = auth("Bearer")}), "unbound_token", W_BTOKEN);
}
END_TEST

START_TEST(require_binding_bound_permit)
{
    open_with("require_binding = true;");
    token_with(jkt_cnf(dev_jkt));
    expect_permit(run_proof(proof(&(pclaims){0})));
}
END_TEST

START_TEST(bind_mtls_unbound_bearer_permit)
{
    open_with("bind = \"mtls\";");
    token_with(NULL);
    expect_permit(run(&(rq){.authorization = auth("Bearer")}));
}
END_TEST

/* ======================================================================== */
/* Step 4: the binding the stack wants                                      */

START_TEST(bind_mtls_dpop_token)
{
    open_with("bind = \"mtls\";");
    token_with(jkt_cnf(dev_jkt));
    expect_refused(run_proof(proof(&(pclaims){0})), "wrong_binding", W_DTOKEN);
}
END_TEST

START_TEST(bind_dpop_mtls_token)
{
    open_with("bind = \"dpop\";");
    cert c;
    cert_make(&c, "device");
    token_with(x5t_cnf(c.x5t));
    expect_refused(run(&(rq){.authorization = auth("Bearer"), .cert_pem = c.pem}), "wrong_binding",
                   W_BTOKEN);
    cert_free(&c);
}
END_TEST

START_TEST(bind_dpop_permit)
{
    open_with("bind = \"dpop\";");
    token_with(jkt_cnf(dev_jkt));
    expect_permit(run_proof(proof(&(pclaims){0})));
}
END_TEST

START_TEST(bind_mtls_permit)
{
    open_with("bind = \"mtls\";");
    cert c;
    cert_make(&c, "device");
    token_with(x5t_cnf(c.x5t));
    expect_permit(run(&(rq){.authorization = auth("Bearer"), .cert_pem = c.pem}));
    cert_free(&c);
}
END_TEST

/* ======================================================================== */
/* Step 5: Bearer downgrade                                                 */

START_TEST(bearer_downgrade)
{
    bound_default();
    char *p = proof(&(pclaims){0});
    /* README step 5: the challenge names DPoP, the only scheme the token
     * is good with. */
    expect_refused(run(&(rq){.authorization = auth("Bearer"), .dpop = {p}}), "bearer_downgrade",
                   W_DTOKEN);
    free(p);
}
END_TEST

START_TEST(bearer_downgrade_without_proof)
{
    bound_default();
    fhirpam_decision *d = run(&(rq){.authorization = auth("Bearer")});
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_UNTRUSTED_DEVICE);
    ck_assert_str_eq(fhirpam_decision_reason(d), "bearer_downgrade");
    ck_assert_int_eq(fhirpam_decision_http_status(d), 401);
    fhirpam_decision_free(d);
}
END_TEST

/* ======================================================================== */
/* Step 6: certificate-bound tokens                                         */

START_TEST(mtls_pem_permit)
{
    open_with("");
    cert c;
    cert_make(&c, "device");
    token_with(x5t_cnf(c.x5t));
    expect_permit(run(&(rq){.authorization = auth("Bearer"), .cert_pem = c.pem}));
    cert_free(&c);
}
END_TEST

START_TEST(mtls_wrong_cert)
{
    open_with("");
    cert c, other;
    cert_make(&c, "device");
    cert_make(&other, "device");
    token_with(x5t_cnf(c.x5t));
    expect_refused(run(&(rq){.authorization = auth("Bearer"), .cert_pem = other.pem}),
                   "certificate_mismatch", W_BTOKEN);
    cert_free(&c);
    cert_free(&other);
}
END_TEST

START_TEST(mtls_no_cert)
{
    open_with("");
    cert c;
    cert_make(&c, "device");
    token_with(x5t_cnf(c.x5t));
    expect_refused(run(&(rq){.authorization = auth("Bearer")}), "no_client_certificate", W_BTOKEN);
    cert_free(&c);
}
END_TEST

START_TEST(mtls_unparsable_pem)
{
    open_with("");
    cert c;
    cert_make(&c, "device");
    token_with(x5t_cnf(c.x5t));
    expect_refused(run(&(rq){.authorization = auth("Bearer"),
                             .cert_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                         "-----END CERTIFICATE-----\n"}),
                   "no_client_certificate", W_BTOKEN);
    cert_free(&c);
}
END_TEST

START_TEST(mtls_chain_leaf_first)
{
    open_with("");
    cert leaf, ca;
    cert_make(&leaf, "device");
    cert_make(&ca, "ca");
    token_with(x5t_cnf(leaf.x5t));
    size_t n = strlen(leaf.pem) + strlen(ca.pem) + 1;
    char *chain = malloc(n);
    snprintf(chain, n, "%s%s", leaf.pem, ca.pem);
    expect_permit(run(&(rq){.authorization = auth("Bearer"), .cert_pem = chain}));
    /* The token bound to the second certificate of the chain: not the leaf. */
    token_with(x5t_cnf(ca.x5t));
    expect_refused(run(&(rq){.authorization = auth("Bearer"), .cert_pem = chain}),
                   "certificate_mismatch", W_BTOKEN);
    free(chain);
    cert_free(&leaf);
    cert_free(&ca);
}
END_TEST

START_TEST(mtls_thumbprint_permit)
{
    open_with("");
    cert c;
    cert_make(&c, "device");
    token_with(x5t_cnf(c.x5t));
    expect_permit(run(&(rq){.authorization = auth("Bearer"), .cert_x5t = c.x5t}));
    cert_free(&c);
}
END_TEST

START_TEST(mtls_thumbprint_wrong)
{
    open_with("");
    cert c, other;
    cert_make(&c, "device");
    cert_make(&other, "device");
    token_with(x5t_cnf(c.x5t));
    expect_refused(run(&(rq){.authorization = auth("Bearer"), .cert_x5t = other.x5t}),
                   "certificate_mismatch", W_BTOKEN);
    cert_free(&c);
    cert_free(&other);
}
END_TEST

START_TEST(mtls_thumbprint_padded)
{
    open_with("");
    cert c;
    cert_make(&c, "device");
    token_with(x5t_cnf(c.x5t));
    char padded[64];
    snprintf(padded, sizeof padded, "%s=", c.x5t);
    expect_refused(run(&(rq){.authorization = auth("Bearer"), .cert_x5t = padded}),
                   "certificate_mismatch", W_BTOKEN);
    cert_free(&c);
}
END_TEST

START_TEST(mtls_thumbprint_hex)
{
    open_with("");
    cert c;
    cert_make(&c, "device");
    token_with(x5t_cnf(c.x5t));
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", c.md[i]);
    expect_refused(run(&(rq){.authorization = auth("Bearer"), .cert_x5t = hex}),
                   "certificate_mismatch", W_BTOKEN);
    cert_free(&c);
}
END_TEST

START_TEST(mtls_cnf_padded)
{
    /* The token's x5t#S256 with a pad character is not the canonical form. */
    open_with("");
    cert c;
    cert_make(&c, "device");
    char padded[64];
    snprintf(padded, sizeof padded, "%s=", c.x5t);
    token_with(x5t_cnf(padded));
    expect_refused(run(&(rq){.authorization = auth("Bearer"), .cert_pem = c.pem}),
                   "certificate_mismatch", W_BTOKEN);
    cert_free(&c);
}
END_TEST

START_TEST(mtls_dpop_scheme)
{
    /* A certificate-bound token (no jkt) with the DPoP scheme: the certificate holds, then the
     * proof's key has nothing to match. */
    open_with("");
    cert c;
    cert_make(&c, "device");
    token_with(x5t_cnf(c.x5t));
    char *p = proof(&(pclaims){0});
    expect_refused(run(&(rq){.dpop = {p}, .cert_pem = c.pem}), "dpop_binding", W_DTOKEN);
    free(p);
    cert_free(&c);
}
END_TEST

/* Both x5t#S256 and jkt: both must hold. */
static void both_bound(cert *c)
{
    open_with("");
    cert_make(c, "device");
    char cnf[256];
    snprintf(cnf, sizeof cnf, "{\"x5t#S256\":\"%s\",\"jkt\":\"%s\"}", c->x5t, dev_jkt);
    token_with(cnf);
}

START_TEST(both_bound_permit)
{
    cert c;
    both_bound(&c);
    char *p = proof(&(pclaims){0});
    expect_permit(run(&(rq){.dpop = {p}, .cert_pem = c.pem}));
    free(p);
    cert_free(&c);
}
END_TEST

START_TEST(both_bound_wrong_cert)
{
    cert c, other;
    both_bound(&c);
    cert_make(&other, "device");
    char *p = proof(&(pclaims){0});
    expect_refused(run(&(rq){.dpop = {p}, .cert_pem = other.pem}), "certificate_mismatch",
                   W_DTOKEN);
    free(p);
    cert_free(&c);
    cert_free(&other);
}
END_TEST

START_TEST(both_bound_no_cert)
{
    cert c;
    both_bound(&c);
    char *p = proof(&(pclaims){0});
    expect_refused(run(&(rq){.dpop = {p}}), "no_client_certificate", W_DTOKEN);
    free(p);
    cert_free(&c);
}
END_TEST

START_TEST(both_bound_wrong_proof_key)
{
    cert c;
    both_bound(&c);
    EVP_PKEY *k = mint_keygen("ES256", 0);
    char *jwk = jwk_text(k, NULL);
    char *h = header3("dpop+jwt", "ES256", jwk);
    char *p = proof_signed(k, "ES256", h, &(pclaims){0});
    expect_refused(run(&(rq){.dpop = {p}, .cert_pem = c.pem}), "dpop_binding", W_DTOKEN);
    free(p);
    free(h);
    free(jwk);
    EVP_PKEY_free(k);
    cert_free(&c);
}
END_TEST

START_TEST(both_bound_no_proof)
{
    cert c;
    both_bound(&c);
    expect_refused(run(&(rq){.cert_pem = c.pem}), "dpop_header", W_PROOF);
    cert_free(&c);
}
END_TEST

/* ======================================================================== */
/* Step 7: the DPoP proof                                                   */

START_TEST(dpop_no_header)
{
    bound_default();
    expect_refused(run(&(rq){0}), "dpop_header", W_PROOF);
}
END_TEST

START_TEST(dpop_two_headers)
{
    bound_default();
    char *a = proof(&(pclaims){0}), *b = proof(&(pclaims){0});
    expect_refused(run(&(rq){.dpop = {a, b}}), "dpop_header", W_PROOF);
    free(a);
    free(b);
}
END_TEST

START_TEST(dpop_same_header_twice)
{
    bound_default();
    char *a = proof(&(pclaims){0});
    expect_refused(run(&(rq){.dpop = {a, a}}), "dpop_header", W_PROOF);
    /* And the proof was not used up by the refusal. */
    expect_permit(run(&(rq){.dpop = {a}}));
    free(a);
}
END_TEST

START_TEST(dpop_empty_header)
{
    bound_default();
    expect_refused(run(&(rq){.dpop = {""}}), "dpop_signature", W_PROOF);
}
END_TEST

START_TEST(dpop_comma_joined)
{
    bound_default();
    char *a = proof(&(pclaims){0}), *b = proof(&(pclaims){0});
    size_t n = strlen(a) + strlen(b) + 3;
    char *joined = malloc(n);
    snprintf(joined, n, "%s, %s", a, b);
    expect_refused(run(&(rq){.dpop = {joined}}), "dpop_signature", W_PROOF);
    free(joined);
    free(a);
    free(b);
}
END_TEST

START_TEST(dpop_extra_segment)
{
    bound_default();
    char *a = proof(&(pclaims){0});
    size_t n = strlen(a) + 3;
    char *longer = malloc(n);
    snprintf(longer, n, "%s.A", a);
    expect_refused(run(&(rq){.dpop = {longer}}), "dpop_signature", W_PROOF);
    free(longer);
    free(a);
}
END_TEST

START_TEST(alg_rs256_not_allowed)
{
    /* Default dpop_algs: ES256 and PS256. A good RS256 proof of an RSA key the token is bound
     * to. */
    open_with("");
    EVP_PKEY *rsa = mint_keygen("RS256", 2048);
    char jkt[48];
    char *jwk = jwk_text(rsa, jkt);
    token_with(jkt_cnf(jkt));
    char *h = header3("dpop+jwt", "RS256", jwk);
    expect_refused(run_proof(proof_signed(rsa, "RS256", h, &(pclaims){0})), "dpop_signature",
                   W_PROOF);
    free(h);
    free(jwk);
    EVP_PKEY_free(rsa);
}
END_TEST

START_TEST(alg_rs256_not_in_es256_only)
{
    open_with("dpop_algs = [\"ES256\"];");
    EVP_PKEY *rsa = mint_keygen("PS256", 2048);
    char jkt[48];
    char *jwk = jwk_text(rsa, jkt);
    token_with(jkt_cnf(jkt));
    char *h = header3("dpop+jwt", "PS256", jwk);
    expect_refused(run_proof(proof_signed(rsa, "PS256", h, &(pclaims){0})), "dpop_signature",
                   W_PROOF);
    free(h);
    free(jwk);
    EVP_PKEY_free(rsa);
}
END_TEST

START_TEST(alg_hs256)
{
    bound_default();
    expect_refused(run_proof(proof_hdr("dpop+jwt", "HS256", dev_jwk, &(pclaims){0})),
                   "dpop_signature", W_PROOF);
}
END_TEST

START_TEST(alg_none)
{
    bound_default();
    char *h = header3("dpop+jwt", "none", dev_jwk);
    char *payload = proof_payload(&(pclaims){0});
    char *hb = mint_b64url(h, strlen(h)), *pb = mint_b64url(payload, strlen(payload));
    size_t n = strlen(hb) + strlen(pb) + 3;
    char *p = malloc(n);
    snprintf(p, n, "%s.%s.", hb, pb);
    expect_refused(run_proof(p), "dpop_signature", W_PROOF);
    free(hb);
    free(pb);
    free(payload);
    free(h);
}
END_TEST

START_TEST(alg_missing)
{
    bound_default();
    expect_refused(run_proof(proof_hdr("dpop+jwt", NULL, dev_jwk, &(pclaims){0})), "dpop_signature",
                   W_PROOF);
}
END_TEST

START_TEST(alg_rsa_with_ec_jwk)
{
    /* RS256 allowed, but the jwk is an EC key: the alg does not suit the key. */
    open_with("dpop_algs = [\"ES256\", \"RS256\"];");
    token_with(jkt_cnf(dev_jkt));
    expect_refused(run_proof(proof_hdr("dpop+jwt", "RS256", dev_jwk, &(pclaims){0})),
                   "dpop_signature", W_PROOF);
}
END_TEST

START_TEST(alg_es256_with_rsa_jwk)
{
    open_with("dpop_algs = [\"ES256\", \"PS256\"];");
    EVP_PKEY *rsa = mint_keygen("PS256", 2048);
    char jkt[48];
    char *jwk = jwk_text(rsa, jkt);
    token_with(jkt_cnf(jkt));
    char *h = header3("dpop+jwt", "ES256", jwk);
    /* Signed with the device's EC key: the header claims ES256 over an RSA jwk. */
    expect_refused(run_proof(proof_signed(dev, "ES256", h, &(pclaims){0})), "dpop_signature",
                   W_PROOF);
    free(h);
    free(jwk);
    EVP_PKEY_free(rsa);
}
END_TEST

START_TEST(alg_es384_not_default)
{
    open_with("");
    EVP_PKEY *k = mint_keygen("ES384", 0);
    char jkt[48];
    char *jwk = jwk_text(k, jkt);
    token_with(jkt_cnf(jkt));
    char *h = header3("dpop+jwt", "ES384", jwk);
    expect_refused(run_proof(proof_signed(k, "ES384", h, &(pclaims){0})), "dpop_signature",
                   W_PROOF);
    free(h);
    free(jwk);
    EVP_PKEY_free(k);
}
END_TEST

START_TEST(rsa_1024_proof_key)
{
    open_with("");
    EVP_PKEY *rsa = mint_keygen("PS256", 1024);
    ck_assert_ptr_nonnull(rsa);
    char jkt[48];
    char *jwk = jwk_text(rsa, jkt);
    token_with(jkt_cnf(jkt));
    char *h = header3("dpop+jwt", "PS256", jwk);
    expect_refused(run_proof(proof_signed(rsa, "PS256", h, &(pclaims){0})), "dpop_signature",
                   W_PROOF);
    free(h);
    free(jwk);
    EVP_PKEY_free(rsa);
}
END_TEST

START_TEST(jwk_with_d)
{
    bound_default();
    char jwk[1024];
    snprintf(jwk, sizeof jwk, "{\"d\":\"870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE\",%s",
             dev_jwk + 1);
    expect_refused(run_proof(proof_hdr("dpop+jwt", "ES256", jwk, &(pclaims){0})), "dpop_signature",
                   W_PROOF);
}
END_TEST

START_TEST(jwk_missing)
{
    bound_default();
    expect_refused(run_proof(proof_hdr("dpop+jwt", "ES256", NULL, &(pclaims){0})), "dpop_signature",
                   W_PROOF);
}
END_TEST

START_TEST(jwk_not_a_key)
{
    bound_default();
    expect_refused(run_proof(proof_hdr("dpop+jwt", "ES256", "\"not a key\"", &(pclaims){0})),
                   "dpop_signature", W_PROOF);
}
END_TEST

START_TEST(jwk_point_not_on_curve)
{
    /* x of the device key, y of another: not a point of P-256. */
    bound_default();
    EVP_PKEY *k = mint_keygen("ES256", 0);
    json_t *mine = json_loads(dev_jwk, 0, NULL), *other = mint_public_jwk(k, "o", NULL);
    json_object_set(mine, "y", json_object_get(other, "y"));
    char *jwk = json_dumps(mine, JSON_COMPACT);
    bind_token_to(jwk); /* so that the point reaches the import */
    expect_refused(run_proof(proof_hdr("dpop+jwt", "ES256", jwk, &(pclaims){0})), "dpop_signature",
                   W_PROOF);
    free(jwk);
    json_decref(mine);
    json_decref(other);
    EVP_PKEY_free(k);
}
END_TEST

START_TEST(signature_other_key)
{
    bound_default();
    EVP_PKEY *k = mint_keygen("ES256", 0);
    char *h = header3("dpop+jwt", "ES256", dev_jwk);
    expect_refused(run_proof(proof_signed(k, "ES256", h, &(pclaims){0})), "dpop_signature",
                   W_PROOF);
    free(h);
    EVP_PKEY_free(k);
}
END_TEST

START_TEST(signature_der)
{
    /* ES256 needs the raw 64-byte r||s, not an ASN.1 DER ECDSA-Sig-Value. */
    bound_default();
    char *h = header3("dpop+jwt", "ES256", dev_jwk);
    char *payload = proof_payload(&(pclaims){0});
    char *hb = mint_b64url(h, strlen(h)), *pb = mint_b64url(payload, strlen(payload));
    size_t n = strlen(hb) + strlen(pb) + 2;
    char *input = malloc(n);
    snprintf(input, n, "%s.%s", hb, pb);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[128];
    size_t derlen = sizeof der;
    ck_assert_int_eq(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, dev), 1);
    ck_assert_int_eq(EVP_DigestSign(md, der, &derlen, (const unsigned char *)input, strlen(input)),
                     1);
    EVP_MD_CTX_free(md);
    char *sb = mint_b64url(der, derlen);
    size_t pn = strlen(input) + strlen(sb) + 2;
    char *p = malloc(pn);
    snprintf(p, pn, "%s.%s", input, sb);
    expect_refused(run_proof(p), "dpop_signature", W_PROOF);
    free(sb);
    free(input);
    free(hb);
    free(pb);
    free(payload);
    free(h);
}
END_TEST

START_TEST(typ_jwt)
{
    bound_default();
    expect_refused(run_proof(proof_hdr("JWT", "ES256", dev_jwk, &(pclaims){0})), "dpop_typ",
                   W_PROOF);
}
END_TEST

START_TEST(typ_at_jwt)
{
    bound_default();
    expect_refused(run_proof(proof_hdr("at+jwt", "ES256", dev_jwk, &(pclaims){0})), "dpop_typ",
                   W_PROOF);
}
END_TEST

START_TEST(typ_missing)
{
    bound_default();
    expect_refused(run_proof(proof_hdr(NULL, "ES256", dev_jwk, &(pclaims){0})), "dpop_typ",
                   W_PROOF);
}
END_TEST

START_TEST(typ_media_type_form)
{
    bound_default();
    expect_refused(run_proof(proof_hdr("application/dpop+jwt", "ES256", dev_jwk, &(pclaims){0})),
                   "dpop_typ", W_PROOF);
}
END_TEST

START_TEST(typ_upper_case)
{
    bound_default();
    expect_refused(run_proof(proof_hdr("DPOP+JWT", "ES256", dev_jwk, &(pclaims){0})), "dpop_typ",
                   W_PROOF);
}
END_TEST

START_TEST(claims_missing_jti)
{
    REFUSED_CLAIMS("dpop_claims", W_PROOF, .omit = OMIT_JTI);
}
END_TEST

START_TEST(claims_missing_htm)
{
    REFUSED_CLAIMS("dpop_claims", W_PROOF, .omit = OMIT_HTM);
}
END_TEST

START_TEST(claims_missing_htu)
{
    REFUSED_CLAIMS("dpop_claims", W_PROOF, .omit = OMIT_HTU);
}
END_TEST

START_TEST(claims_missing_iat)
{
    REFUSED_CLAIMS("dpop_claims", W_PROOF, .omit = OMIT_IAT);
}
END_TEST

START_TEST(claims_missing_ath)
{
    REFUSED_CLAIMS("dpop_claims", W_PROOF, .omit = OMIT_ATH);
}
END_TEST

START_TEST(claims_iat_string)
{
    REFUSED_CLAIMS("dpop_claims", W_PROOF, .iat = "\"1800000000\"");
}
END_TEST

START_TEST(claims_jti_number)
{
    bound_default();
    char *h = header3("dpop+jwt", "ES256", dev_jwk);
    char ath[48], payload[512];
    sha256_b64(tok, ath);
    snprintf(payload, sizeof payload,
             "{\"jti\":12345,\"htm\":\"GET\",\"htu\":\"" HTU "\",\"iat\":%lld,\"ath\":\"%s\"}", NOW,
             ath);
    char *p = mint_token(dev, "ES256", h, payload);
    expect_refused(run_proof(p), "dpop_claims", W_PROOF);
    free(h);
}
END_TEST

START_TEST(claims_payload_not_object)
{
    bound_default();
    char *h = header3("dpop+jwt", "ES256", dev_jwk);
    char *p = mint_token(dev, "ES256", h, "[\"jti\",\"htm\"]");
    expect_refused(run_proof(p), "dpop_claims", W_PROOF);
    free(h);
}
END_TEST

static const char jti256[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                             "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                             "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                             "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

START_TEST(jti_256_permit)
{
    ck_assert_uint_eq(strlen(jti256), 256);
    PERMITTED_CLAIMS(.jti = jti256);
}
END_TEST

START_TEST(jti_257)
{
    char jti[300];
    snprintf(jti, sizeof jti, "%sX", jti256);
    REFUSED_CLAIMS("dpop_jti", W_PROOF, .jti = jti);
}
END_TEST

START_TEST(htm_mismatch)
{
    REFUSED_CLAIMS("dpop_htm", W_PROOF, .htm = "POST");
}
END_TEST

START_TEST(htm_lower_case)
{
    REFUSED_CLAIMS("dpop_htm", W_PROOF, .htm = "get");
}
END_TEST

START_TEST(htu_with_query)
{
    /* Even the request's own query: htu is the URI without query. */
    bound_default();
    char *p = proof(&(pclaims){.htu = BASE "/Patient?name=smith"});
    expect_refused(run(&(rq){.url = "Patient?name=smith", .dpop = {p}}), "dpop_htu", W_PROOF);
    free(p);
}
END_TEST

START_TEST(htu_with_fragment)
{
    REFUSED_CLAIMS("dpop_htu", W_PROOF, .htu = HTU "#frag");
}
END_TEST

START_TEST(htu_with_empty_query)
{
    REFUSED_CLAIMS("dpop_htu", W_PROOF, .htu = HTU "?");
}
END_TEST

START_TEST(htu_other_host)
{
    REFUSED_CLAIMS("dpop_htu", W_PROOF, .htu = "https://evil.example.org/r4/Patient/123");
}
END_TEST

START_TEST(htu_other_path)
{
    REFUSED_CLAIMS("dpop_htu", W_PROOF, .htu = BASE "/Patient/124");
}
END_TEST

START_TEST(htu_other_base_path)
{
    REFUSED_CLAIMS("dpop_htu", W_PROOF, .htu = "https://fhir.example.org/r5/Patient/123");
}
END_TEST

START_TEST(htu_trailing_slash)
{
    REFUSED_CLAIMS("dpop_htu", W_PROOF, .htu = HTU "/");
}
END_TEST

START_TEST(htu_path_case)
{
    REFUSED_CLAIMS("dpop_htu", W_PROOF, .htu = BASE "/patient/123");
}
END_TEST

START_TEST(htu_http_scheme)
{
    REFUSED_CLAIMS("dpop_htu", W_PROOF, .htu = "http://fhir.example.org/r4/Patient/123");
}
END_TEST

START_TEST(htu_other_port)
{
    REFUSED_CLAIMS("dpop_htu", W_PROOF, .htu = "https://fhir.example.org:8443/r4/Patient/123");
}
END_TEST

START_TEST(htu_port_80_on_https)
{
    REFUSED_CLAIMS("dpop_htu", W_PROOF, .htu = "https://fhir.example.org:80/r4/Patient/123");
}
END_TEST

START_TEST(htu_relative)
{
    REFUSED_CLAIMS("dpop_htu", W_PROOF, .htu = "/r4/Patient/123");
}
END_TEST

START_TEST(htu_encoded_slash_not_decoded)
{
    /* %2F is reserved: decoding it would be over-eager normalisation. */
    REFUSED_CLAIMS("dpop_htu", W_PROOF, .htu = BASE "/Patient%2F123");
}
END_TEST

START_TEST(htu_host_header_ignored)
{
    /* The request URI comes from public_base, never from the client's Host header. */
    bound_default();
    char *p = proof(&(pclaims){.htu = "https://evil.example.org/r4/Patient/123"});
    expect_refused(run(&(rq){.dpop = {p}, .host = "evil.example.org"}), "dpop_htu", W_PROOF);
    free(p);
}
END_TEST

START_TEST(htu_no_public_base)
{
    /* Without public_base the URI of a relative request cannot be known. */
    open_raw("");
    token_with(jkt_cnf(dev_jkt));
    expect_refused(run_proof(proof(&(pclaims){0})), "dpop_htu", W_PROOF);
}
END_TEST

START_TEST(htu_upper_case_scheme_host)
{
    PERMITTED_CLAIMS(.htu = "HTTPS://FHIR.Example.ORG/r4/Patient/123");
}
END_TEST

START_TEST(htu_explicit_default_port)
{
    PERMITTED_CLAIMS(.htu = "https://fhir.example.org:443/r4/Patient/123");
}
END_TEST

START_TEST(htu_percent_encoded_unreserved)
{
    /* %31%32%33 = "123", %50 = "P". */
    PERMITTED_CLAIMS(.htu = BASE "/%50atient/%31%32%33");
}
END_TEST

START_TEST(htu_percent_encoded_tilde)
{
    /* A base path with '~': %7E and %7e in htu are the same URI. */
    open_raw("public_base = \"https://fhir.example.org/~r4\";");
    token_with(jkt_cnf(dev_jkt));
    expect_permit(
        run_proof(proof(&(pclaims){.htu = "https://fhir.example.org/%7Er4/Patient/123"})));
    expect_permit(
        run_proof(proof(&(pclaims){.htu = "https://fhir.example.org/%7er4/Patient/123"})));
    expect_permit(run_proof(proof(&(pclaims){.htu = "https://fhir.example.org/~r4/Patient/123"})));
}
END_TEST

START_TEST(htu_dot_segments)
{
    PERMITTED_CLAIMS(.htu = BASE "/a/../Patient/123");
}
END_TEST

START_TEST(htu_single_dot_segment)
{
    PERMITTED_CLAIMS(.htu = BASE "/./Patient/./123");
}
END_TEST

START_TEST(htu_public_base_normalised)
{
    /* public_base itself is normalised: case, default port, trailing slash. */
    open_raw("public_base = \"HTTPS://FHIR.EXAMPLE.ORG:443/r4/\";");
    token_with(jkt_cnf(dev_jkt));
    expect_permit(run_proof(proof(&(pclaims){0})));
}
END_TEST

static char iat_text[32];
static const char *iat_at(long long t)
{
    snprintf(iat_text, sizeof iat_text, "%lld", t);
    return iat_text;
}

START_TEST(iat_window_edge_permit)
{
    PERMITTED_CLAIMS(.iat = iat_at(NOW - 60));
}
END_TEST

START_TEST(iat_too_old)
{
    REFUSED_CLAIMS("dpop_iat", W_PROOF, .iat = iat_at(NOW - 61));
}
END_TEST

START_TEST(iat_skew_edge_permit)
{
    PERMITTED_CLAIMS(.iat = iat_at(NOW + 5));
}
END_TEST

START_TEST(iat_too_far_ahead)
{
    REFUSED_CLAIMS("dpop_iat", W_PROOF, .iat = iat_at(NOW + 6));
}
END_TEST

START_TEST(iat_years_old)
{
    REFUSED_CLAIMS("dpop_iat", W_PROOF, .iat = "1562262618");
}
END_TEST

START_TEST(iat_fraction_permit)
{
    PERMITTED_CLAIMS(.iat = "1799999999.5");
}
END_TEST

START_TEST(iat_fraction_past_window)
{
    REFUSED_CLAIMS("dpop_iat", W_PROOF, .iat = "1799999939.5");
}
END_TEST

START_TEST(iat_custom_window)
{
    open_with("dpop_window = 10; dpop_skew = 0;");
    token_with(jkt_cnf(dev_jkt));
    expect_permit(run_proof(proof(&(pclaims){.iat = iat_at(NOW - 10)})));
    expect_refused(run_proof(proof(&(pclaims){.iat = iat_at(NOW - 11)})), "dpop_iat", W_PROOF);
    expect_permit(run_proof(proof(&(pclaims){.iat = iat_at(NOW)})));
    expect_refused(run_proof(proof(&(pclaims){.iat = iat_at(NOW + 1)})), "dpop_iat", W_PROOF);
}
END_TEST

START_TEST(ath_wrong)
{
    char ath[48];
    sha256_b64("another access token", ath);
    REFUSED_CLAIMS("dpop_ath", W_PROOF, .ath = ath);
}
END_TEST

START_TEST(ath_standard_base64)
{
    bound_default();
    unsigned char md[32];
    ck_assert_int_eq(EVP_Digest(tok, strlen(tok), md, NULL, EVP_sha256(), NULL), 1);
    unsigned char b64[64];
    ck_assert_int_eq(EVP_EncodeBlock(b64, md, 32), 44);
    ck_assert_int_eq(b64[43], '=');
    expect_refused(run_proof(proof(&(pclaims){.ath = (const char *)b64})), "dpop_ath", W_PROOF);
}
END_TEST

START_TEST(ath_of_other_token)
{
    /* A proof made for token A, sent with token B bound to the same key. */
    bound_default();
    char ath[48];
    sha256_b64(tok, ath);
    token_full(jkt_cnf(dev_jkt), "user/Observation.rs", NOW + 7000);
    expect_refused(run_proof(proof(&(pclaims){.ath = ath})), "dpop_ath", W_PROOF);
}
END_TEST

START_TEST(jkt_mismatch)
{
    open_with("");
    EVP_PKEY *k = mint_keygen("ES256", 0);
    char other[48];
    char *jwk = jwk_text(k, other);
    token_with(jkt_cnf(other));
    expect_refused(run_proof(proof(&(pclaims){0})), "dpop_binding", W_DTOKEN);
    free(jwk);
    EVP_PKEY_free(k);
}
END_TEST

START_TEST(jkt_padded)
{
    open_with("");
    char padded[64];
    snprintf(padded, sizeof padded, "%s=", dev_jkt);
    token_with(jkt_cnf(padded));
    expect_refused(run_proof(proof(&(pclaims){0})), "dpop_binding", W_DTOKEN);
}
END_TEST

START_TEST(dpop_scheme_unbound_token)
{
    open_with("");
    token_with(NULL);
    expect_refused(run_proof(proof(&(pclaims){0})), "dpop_binding", W_DTOKEN);
}
END_TEST

START_TEST(dpop_scheme_unbound_no_proof)
{
    open_with("");
    token_with(NULL);
    expect_refused(run(&(rq){0}), "dpop_header", W_PROOF);
}
END_TEST

START_TEST(unknown_cnf_not_object)
{
    open_with("");
    token_with("\"bound\"");
    expect_refused(run(&(rq){.authorization = auth("Bearer")}), "unknown_cnf", W_BTOKEN);
}
END_TEST

START_TEST(unknown_cnf_before_require_binding)
{
    /* Step 2 before step 3. */
    open_with("require_binding = true;");
    token_with("{\"x5t\":\"bwcK0esc3ACC3DB2Y5_lESsXE8o\"}");
    expect_refused(run(&(rq){.authorization = auth("Bearer")}), "unknown_cnf", W_BTOKEN);
}
END_TEST

START_TEST(wrong_binding_before_downgrade)
{
    /* Step 4 before step 5: a DPoP-bound token sent as Bearer to an mTLS-only stack. */
    open_with("bind = \"mtls\";");
    token_with(jkt_cnf(dev_jkt));
    expect_refused(run(&(rq){.authorization = auth("Bearer")}), "wrong_binding", W_BTOKEN);
}
END_TEST

START_TEST(bearer_downgrade_lower_case_scheme)
{
    bound_default();
    fhirpam_decision *d = run(&(rq){.authorization = auth("bearer")});
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_UNTRUSTED_DEVICE);
    ck_assert_str_eq(fhirpam_decision_reason(d), "bearer_downgrade");
    fhirpam_decision_free(d);
}
END_TEST

START_TEST(claims_iat_bool)
{
    REFUSED_CLAIMS("dpop_claims", W_PROOF, .iat = "true");
}
END_TEST

START_TEST(claims_htm_number)
{
    bound_default();
    char *h = header3("dpop+jwt", "ES256", dev_jwk);
    char ath[48], payload[512];
    sha256_b64(tok, ath);
    snprintf(payload, sizeof payload,
             "{\"jti\":\"j1\",\"htm\":7,\"htu\":\"" HTU "\",\"iat\":%lld,\"ath\":\"%s\"}", NOW,
             ath);
    expect_refused(run_proof(mint_token(dev, "ES256", h, payload)), "dpop_claims", W_PROOF);
    free(h);
}
END_TEST

START_TEST(order_typ_before_claims)
{
    bound_default();
    expect_refused(
        run_proof(proof_hdr("JWT", "ES256", dev_jwk, &(pclaims){.omit = OMIT_JTI | OMIT_ATH})),
        "dpop_typ", W_PROOF);
}
END_TEST

START_TEST(order_htm_before_htu)
{
    REFUSED_CLAIMS("dpop_htm", W_PROOF, .htm = "POST", .htu = BASE "/Patient/124");
}
END_TEST

START_TEST(order_htu_before_iat)
{
    REFUSED_CLAIMS("dpop_htu", W_PROOF, .htu = BASE "/Patient/124", .iat = "1562262618");
}
END_TEST

START_TEST(order_iat_before_ath)
{
    REFUSED_CLAIMS("dpop_iat", W_PROOF, .iat = "1562262618", .ath = "AAAA");
}
END_TEST

START_TEST(order_binding_before_claims)
{
    /* The binding is decided on the proof's header, before its signature
     * and its claims (issue 24: nothing a sender chose is computed with
     * before the cheap checks): a proof by another key with a bad ath and a
     * stale iat is refused for its key. */
    open_with("");
    EVP_PKEY *k = mint_keygen("ES256", 0);
    char other[48];
    char *jwk = jwk_text(k, other);
    token_with(jkt_cnf(other));
    expect_refused(run_proof(proof(&(pclaims){.ath = "AAAA", .iat = "1562262618"})), "dpop_binding",
                   W_DTOKEN);
    free(jwk);
    EVP_PKEY_free(k);
}
END_TEST

START_TEST(htu_userinfo)
{
    REFUSED_CLAIMS("dpop_htu", W_PROOF, .htu = "https://user@fhir.example.org/r4/Patient/123");
}
END_TEST

START_TEST(htu_empty_port)
{
    PERMITTED_CLAIMS(.htu = "https://fhir.example.org:/r4/Patient/123");
}
END_TEST

START_TEST(htu_dot_segments_above_base)
{
    PERMITTED_CLAIMS(.htu = BASE "/../r4/Patient/123");
}
END_TEST

/* ---- replay ---- */

START_TEST(replay_second_use)
{
    bound_default();
    char *p = proof(&(pclaims){0});
    expect_permit(run(&(rq){.dpop = {p}}));
    expect_refused(run(&(rq){.dpop = {p}}), "dpop_replay", W_PROOF);
    free(p);
}
END_TEST

START_TEST(replay_same_jti_new_proof)
{
    bound_default();
    expect_permit(run_proof(proof(&(pclaims){.jti = "jti-reused"})));
    expect_refused(run_proof(proof(&(pclaims){.jti = "jti-reused", .iat = iat_at(NOW - 1)})),
                   "dpop_replay", W_PROOF);
}
END_TEST

START_TEST(replay_later_in_window)
{
    bound_default();
    char *p = proof(&(pclaims){0});
    expect_permit(run(&(rq){.dpop = {p}}));
    expect_refused(run(&(rq){.dpop = {p}, .time = NOW + 30}), "dpop_replay", W_PROOF);
    free(p);
}
END_TEST

START_TEST(replay_not_consumed_by_bad_proof)
{
    /* The replay check is last: a proof refused for its ath does not use its jti up. */
    bound_default();
    char ath[48];
    sha256_b64("another access token", ath);
    expect_refused(run_proof(proof(&(pclaims){.jti = "jti-once", .ath = ath})), "dpop_ath",
                   W_PROOF);
    expect_permit(run_proof(proof(&(pclaims){.jti = "jti-once"})));
}
END_TEST

START_TEST(replay_not_consumed_by_binding_failure)
{
    bound_default();
    EVP_PKEY *k = mint_keygen("ES256", 0);
    char *jwk = jwk_text(k, NULL);
    char *h = header3("dpop+jwt", "ES256", jwk);
    expect_refused(run_proof(proof_signed(k, "ES256", h, &(pclaims){.jti = "jti-b"})),
                   "dpop_binding", W_DTOKEN);
    expect_permit(run_proof(proof(&(pclaims){.jti = "jti-b"})));
    free(h);
    free(jwk);
    EVP_PKEY_free(k);
}
END_TEST

#define RACERS 8

typedef struct racer {
    const fhirpam_request *req;
    pthread_barrier_t *start;
    fhirpam_decision *d;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    pthread_barrier_wait(r->start);
    r->d = fhirpam_authorize(ctx, "s", r->req);
    return NULL;
}

START_TEST(replay_across_threads)
{
    bound_default();
    for (int round = 0; round < 5; round++) {
        char *p = proof(&(pclaims){0});
        fhirpam_request *req = fhirpam_request_new("GET", "Patient/123");
        fhirpam_request_add_header(req, "Authorization", auth("DPoP"));
        fhirpam_request_add_header(req, "DPoP", p);
        fhirpam_request_set_time(req, NOW);
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, RACERS);
        pthread_t th[RACERS];
        racer rs[RACERS];
        for (int i = 0; i < RACERS; i++) {
            rs[i] = (racer){req, &start, NULL};
            ck_assert_int_eq(pthread_create(&th[i], NULL, race, &rs[i]), 0);
        }
        int permitted = 0;
        for (int i = 0; i < RACERS; i++) {
            pthread_join(th[i], NULL);
            ck_assert_ptr_nonnull(rs[i].d);
            if (fhirpam_decision_permitted(rs[i].d))
                permitted++;
            else
                ck_assert_str_eq(fhirpam_decision_reason(rs[i].d), "dpop_replay");
            fhirpam_decision_free(rs[i].d);
        }
        ck_assert_int_eq(permitted, 1);
        pthread_barrier_destroy(&start);
        fhirpam_request_free(req);
        free(p);
    }
}
END_TEST

START_TEST(replay_cache_full)
{
    /* A full replay cache answers unavailable (503), never "fresh": earlier proofs stay
     * refused. */
    open_with("replay_capacity = 64;");
    token_with(jkt_cnf(dev_jkt));
    char *first = proof(&(pclaims){0});
    expect_permit(run(&(rq){.dpop = {first}}));
    bool full = false;
    for (int i = 0; i < 64 * 400 && !full; i++) {
        fhirpam_decision *d = run_proof(proof(&(pclaims){0}));
        if (fhirpam_decision_code(d) == FHIRPAM_UNAVAILABLE) {
            full = true;
            ck_assert_int_eq(fhirpam_decision_http_status(d), 503);
            ck_assert_str_eq(fhirpam_decision_module(d), "device_trust");
        } else {
            ck_assert_msg(fhirpam_decision_permitted(d), "proof %d: %s", i,
                          fhirpam_decision_reason(d));
        }
        fhirpam_decision_free(d);
    }
    ck_assert_msg(full, "the replay cache never filled");
    expect_refused(run(&(rq){.dpop = {first}}), "dpop_replay", W_PROOF);
    free(first);
}
END_TEST

/* ---- nonces ---- */

/* A request without a nonce under use_dpop_nonce: the nonce the server hands out (caller
 * frees). */
static char *fetch_nonce(long long at)
{
    char iat[32];
    snprintf(iat, sizeof iat, "%lld", at);
    char *p = proof(&(pclaims){.iat = iat});
    fhirpam_decision *d = run(&(rq){.dpop = {p}, .time = at});
    free(p);
    const char *nonce = fhirpam_decision_dpop_nonce(d);
    ck_assert_ptr_nonnull(nonce);
    char *copy = strdup(nonce);
    expect_refused(d, "dpop_nonce", W_NONCE);
    return copy;
}

START_TEST(nonce_missing)
{
    open_with("use_dpop_nonce = true;");
    token_with(jkt_cnf(dev_jkt));
    fhirpam_decision *d = run_proof(proof(&(pclaims){0}));
    const char *nonce = fhirpam_decision_dpop_nonce(d);
    ck_assert_ptr_nonnull(nonce);
    ck_assert_uint_gt(strlen(nonce), 0);
    char *json = fhirpam_decision_json(d);
    json_t *v = json_loads(json, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(v, "dpop_nonce")), nonce);
    json_decref(v);
    free(json);
    expect_refused(d, "dpop_nonce", W_NONCE);
}
END_TEST

START_TEST(nonce_round_trip)
{
    open_with("use_dpop_nonce = true;");
    token_with(jkt_cnf(dev_jkt));
    char *nonce = fetch_nonce(NOW);
    expect_permit(run_proof(proof(&(pclaims){.nonce = nonce})));
    /* Still current a little later. */
    char *p = proof(&(pclaims){.nonce = nonce, .iat = iat_at(NOW + 20)});
    expect_permit(run(&(rq){.dpop = {p}, .time = NOW + 20}));
    free(p);
    free(nonce);
}
END_TEST

START_TEST(nonce_made_up)
{
    open_with("use_dpop_nonce = true;");
    token_with(jkt_cnf(dev_jkt));
    fhirpam_decision *d =
        run_proof(proof(&(pclaims){.nonce = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}));
    ck_assert_ptr_nonnull(fhirpam_decision_dpop_nonce(d));
    expect_refused(d, "dpop_nonce", W_NONCE);
}
END_TEST

START_TEST(nonce_of_other_instance)
{
    /* A nonce another stack line's instance issued is not this one's. */
    open_with("use_dpop_nonce = true;");
    token_with(jkt_cnf(dev_jkt));
    char *nonce = fetch_nonce(NOW);
    fhirpam_close(ctx);
    ctx = NULL;
    open_with("use_dpop_nonce = true;");
    expect_refused(run_proof(proof(&(pclaims){.nonce = nonce})), "dpop_nonce", W_NONCE);
    free(nonce);
}
END_TEST

START_TEST(nonce_stale)
{
    /* An hour later the nonce is no longer current (README: "missing or stale"). */
    open_with("use_dpop_nonce = true;");
    token_with(jkt_cnf(dev_jkt));
    char *nonce = fetch_nonce(NOW);
    char *p = proof(&(pclaims){.nonce = nonce, .iat = iat_at(NOW + 3600)});
    fhirpam_decision *d = run(&(rq){.dpop = {p}, .time = NOW + 3600});
    const char *fresh = fhirpam_decision_dpop_nonce(d);
    ck_assert_ptr_nonnull(fresh);
    ck_assert_str_ne(fresh, nonce);
    expect_refused(d, "dpop_nonce", W_NONCE);
    free(p);
    free(nonce);
}
END_TEST

START_TEST(nonce_checked_after_ath)
{
    open_with("use_dpop_nonce = true;");
    token_with(jkt_cnf(dev_jkt));
    char ath[48];
    sha256_b64("another access token", ath);
    fhirpam_decision *d = run_proof(proof(&(pclaims){.ath = ath}));
    ck_assert_ptr_null(fhirpam_decision_dpop_nonce(d));
    expect_refused(d, "dpop_ath", W_PROOF);
}
END_TEST

START_TEST(nonce_not_required_by_default)
{
    PERMITTED_CLAIMS(.nonce = "whatever");
}
END_TEST

/* ======================================================================== */
/* Step 8: posture                                                          */

START_TEST(posture_absent)
{
    open_with("posture = [\"managed=true\"];");
    token_with(NULL);
    expect_refused(run(&(rq){.authorization = auth("Bearer")}), "posture", W_BTOKEN);
}
END_TEST

START_TEST(posture_wrong_value)
{
    open_with("posture = [\"managed=true\"];");
    token_with(NULL);
    expect_refused(run(&(rq){.authorization = auth("Bearer"), .attr = {{"managed", "false"}}}),
                   "posture", W_BTOKEN);
}
END_TEST

START_TEST(posture_value_case)
{
    open_with("posture = [\"managed=true\"];");
    token_with(NULL);
    expect_refused(run(&(rq){.authorization = auth("Bearer"), .attr = {{"managed", "TRUE"}}}),
                   "posture", W_BTOKEN);
}
END_TEST

START_TEST(posture_ok)
{
    open_with("posture = [\"managed=true\"];");
    token_with(NULL);
    expect_permit(run(&(rq){.authorization = auth("Bearer"), .attr = {{"managed", "true"}}}));
}
END_TEST

START_TEST(posture_two_rules)
{
    open_with("posture = [\"managed=true\", \"encrypted=yes\"];");
    token_with(NULL);
    expect_refused(run(&(rq){.authorization = auth("Bearer"), .attr = {{"managed", "true"}}}),
                   "posture", W_BTOKEN);
    expect_permit(run(&(rq){.authorization = auth("Bearer"),
                            .attr = {{"managed", "true"}, {"encrypted", "yes"}}}));
}
END_TEST

START_TEST(posture_after_good_proof)
{
    /* A bound token whose proof holds, on an unmanaged device: the default challenge. */
    open_with("posture = [\"managed=true\"];");
    token_with(jkt_cnf(dev_jkt));
    expect_refused(run_proof(proof(&(pclaims){0})), "posture", W_BTOKEN);
}
END_TEST

START_TEST(posture_after_good_proof_managed)
{
    open_with("posture = [\"managed=true\"];");
    token_with(jkt_cnf(dev_jkt));
    char *p = proof(&(pclaims){0});
    expect_permit(run(&(rq){.dpop = {p}, .attr = {{"managed", "true"}}}));
    free(p);
}
END_TEST

START_TEST(posture_context_user_refused)
{
    open_with("posture = [\"user:managed=true\"];");
    token_full(NULL, "user/Patient.rs", NOW + 7200);
    fhirpam_decision *d = run(&(rq){.stack = "sc", .authorization = auth("Bearer")});
    ck_assert_uint_eq(fhirpam_decision_trace_count(d), 2);
    expect_refused(d, "posture", W_BTOKEN);
}
END_TEST

START_TEST(posture_context_user_ok)
{
    open_with("posture = [\"user:managed=true\"];");
    token_full(NULL, "user/Patient.rs", NOW + 7200);
    expect_permit(
        run(&(rq){.stack = "sc", .authorization = auth("Bearer"), .attr = {{"managed", "true"}}}));
}
END_TEST

START_TEST(posture_context_other_context_skipped)
{
    /* The request is granted in the system context: the user-only rule does not apply. */
    open_with("posture = [\"user:managed=true\"];");
    token_full(NULL, "system/Patient.rs", NOW + 7200);
    expect_permit(run(&(rq){.stack = "sc", .authorization = auth("Bearer")}));
}
END_TEST

START_TEST(posture_context_rule_without_scope_check)
{
    /* No scope_check before it: no context, so a context rule never applies. */
    open_with("posture = [\"user:managed=true\"];");
    token_with(NULL);
    expect_permit(run(&(rq){.authorization = auth("Bearer")}));
}
END_TEST

START_TEST(posture_mixed_rules_in_context)
{
    open_with("posture = [\"managed=true\", \"system:location=dc1\"];");
    token_full(NULL, "system/Patient.rs", NOW + 7200);
    expect_refused(
        run(&(rq){.stack = "sc", .authorization = auth("Bearer"), .attr = {{"managed", "true"}}}),
        "posture", W_BTOKEN);
    expect_permit(run(&(rq){.stack = "sc",
                            .authorization = auth("Bearer"),
                            .attr = {{"managed", "true"}, {"location", "dc1"}}}));
}
END_TEST

/* ======================================================================== */
/* Arguments                                                                */

START_TEST(config_symmetric_algs_refused)
{
    static const char *const bad[] = {
        BASE_ARGS " dpop_algs = [\"HS256\"];",
        BASE_ARGS " dpop_algs = [\"ES256\", \"HS512\"];",
        BASE_ARGS " dpop_algs = [\"none\"];",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fhirpam_error err = {{0}};
        fhirpam_context *c = try_open(bad[i], &err);
        ck_assert_msg(c == NULL, "loaded: %s", bad[i]);
    }
}
END_TEST

/* ======================================================================== */
/* What a proof may cost (issue 24): every bound is checked before the key is
 * imported or anything computed with it; a key that is not a real RSA key
 * (a prime, a random composite) simply fails its signature; keys that fail
 * never enter the proof-key cache. No test here measures time: each asserts
 * where a hostile proof was stopped (its reason) and what the cache did (its
 * counters); bench/bench_dpop.c measures the cost. */

/* Primes made by `openssl prime -generate` (as an attacker would), in hex;
 * made once in the parent process, before Check forks the tests. */
static char *prime_2048_hex, *prime_4096_hex;

static char *openssl_prime_hex(unsigned bits)
{
    char cmd[96], line[2048];
    snprintf(cmd, sizeof cmd, "openssl prime -generate -bits %u -hex", bits);
    FILE *p = popen(cmd, "r");
    if (p == NULL || fgets(line, sizeof line, p) == NULL || pclose(p) != 0) {
        fprintf(stderr, "test_device_trust: '%s' failed\n", cmd);
        abort();
    }
    line[strcspn(line, "\r\n")] = '\0';
    return strdup(line);
}

static void make_primes(void)
{
    prime_2048_hex = openssl_prime_hex(2048);
    prime_4096_hex = openssl_prime_hex(4096);
}

static void free_primes(void)
{
    free(prime_2048_hex);
    free(prime_4096_hex);
}

static BIGNUM *bn_hex(const char *hex)
{
    BIGNUM *bn = NULL;
    ck_assert_int_gt(BN_hex2bn(&bn, hex), 0);
    return bn;
}

/* A random odd number of exactly `bits` bits: a composite (or, rarely, a
 * prime) modulus that no one holds a private key for. */
static BIGNUM *bn_random_modulus(int bits)
{
    BIGNUM *bn = BN_new();
    ck_assert_int_eq(BN_rand(bn, bits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD), 1);
    return bn;
}

static char *bn_b64url(const BIGNUM *bn)
{
    unsigned char buf[2048];
    int n = BN_bn2bin(bn, buf);
    ck_assert_int_gt(n, 0);
    return mint_b64url(buf, (size_t)n);
}

/* The RSA JWK {"kty","n","e"} of modulus n and exponent e (hex) as compact
 * JSON. */
static char *rsa_jwk_of(const BIGNUM *n, const char *e_hex)
{
    BIGNUM *e = bn_hex(e_hex);
    char *nb = bn_b64url(n), *eb = bn_b64url(e);
    json_t *jwk = json_pack("{s:s,s:s,s:s}", "kty", "RSA", "n", nb, "e", eb);
    char *text = json_dumps(jwk, JSON_COMPACT);
    json_decref(jwk);
    free(nb);
    free(eb);
    BN_free(e);
    return text;
}

/* A good proof's header and claims under alg with jwk, and a signature of
 * siglen random bytes (the first zero, so that it is below any modulus of
 * that length and reaches the arithmetic). */
static char *proof_random_sig(const char *alg, const char *jwk, size_t siglen)
{
    char *h = header3("dpop+jwt", alg, jwk);
    char *payload = proof_payload(&(pclaims){0});
    char *hb = mint_b64url(h, strlen(h)), *pb = mint_b64url(payload, strlen(payload));
    unsigned char sig[2048];
    ck_assert_uint_le(siglen, sizeof sig);
    ck_assert_int_eq(RAND_bytes(sig, (int)siglen), 1);
    sig[0] = 0;
    char *sb = mint_b64url(sig, siglen);
    size_t n = strlen(hb) + strlen(pb) + strlen(sb) + 3;
    char *p = malloc(n);
    snprintf(p, n, "%s.%s.%s", hb, pb, sb);
    free(sb);
    free(pb);
    free(hb);
    free(payload);
    free(h);
    return p;
}

/* A refusal of the proof's signature step whose sentence contains needle. */
static void expect_proof_refused_at(fhirpam_decision *d, const char *needle, int line)
{
    const char *text = fhirpam_decision_reason_text(d);
    ck_assert_msg(text != NULL && strstr(text, needle) != NULL,
                  "line %d: want a refusal saying '%s', got %s (%s)", line, needle,
                  fhirpam_decision_reason(d), text ? text : "");
    expect_refused_at(d, "dpop_signature", W_PROOF, line);
}
#define expect_proof_refused(d, needle) expect_proof_refused_at((d), (needle), __LINE__)

/* A PS256 proof whose jwk is (n, e_hex) and whose signature is random, of
 * siglen bytes (0: the modulus length), refused with a sentence holding
 * needle. */
static void expect_rsa_proof_refused_at(const BIGNUM *n, const char *e_hex, size_t siglen,
                                        const char *needle, int line)
{
    char *jwk = rsa_jwk_of(n, e_hex);
    bind_token_to(jwk);
    char *p = proof_random_sig("PS256", jwk, siglen ? siglen : (size_t)BN_num_bytes(n));
    expect_proof_refused_at(run_proof(p), needle, line);
    free(jwk);
}
#define expect_rsa_proof_refused(n, e_hex, siglen, needle)                                         \
    expect_rsa_proof_refused_at((n), (e_hex), (siglen), (needle), __LINE__)

/* What reaching the signature check looks like, and stopping before it. */
#define SIG_CHECKED "signature is not valid"

static proof_key_stats stats_now(void)
{
    proof_key_stats s;
    proof_key_cache_stats(&s);
    return s;
}

START_TEST(hostile_primes_fail_their_signature)
{
    /* Within the default bounds: imported without a primality test, then
     * refused by the signature check, and not cached: sent again, imported
     * again and refused again. */
    open_with("");
    BIGNUM *p4096 = bn_hex(prime_4096_hex), *p2048 = bn_hex(prime_2048_hex);
    ck_assert_int_eq(BN_num_bits(p4096), 4096);
    ck_assert_int_eq(BN_num_bits(p2048), 2048);
    proof_key_stats before = stats_now();
    expect_rsa_proof_refused(p4096, "010001", 0, SIG_CHECKED);
    ck_assert_uint_eq(stats_now().imported, before.imported + 1);
    expect_rsa_proof_refused(p4096, "010001", 0, SIG_CHECKED);
    expect_rsa_proof_refused(p2048, "010001", 0, SIG_CHECKED);
    proof_key_stats after = stats_now();
    ck_assert_uint_eq(after.imported, before.imported + 3);
    ck_assert_uint_eq(after.reused, before.reused);
    ck_assert_uint_eq(after.admitted, before.admitted);
    /* Under dpop_max_rsa_bits = 3072, the 4096-bit prime is refused for its
     * size, before it is imported. */
    open_with("dpop_max_rsa_bits = 3072;");
    expect_rsa_proof_refused(p4096, "010001", 0, "RSA key of 4096 bits; 2048 to 3072 are accepted");
    BN_free(p2048);
    BN_free(p4096);
}
END_TEST

START_TEST(hostile_composite_8176_refused_by_size)
{
    open_with("");
    BIGNUM *n = bn_random_modulus(8176);
    expect_rsa_proof_refused(n, "010001", 0, "RSA key of 8176 bits; 2048 to 4096 are accepted");
    /* Raised to the ceiling, it reaches the signature and fails there. */
    open_with("dpop_max_rsa_bits = 8192;");
    expect_rsa_proof_refused(n, "010001", 0, SIG_CHECKED);
    BN_free(n);
}
END_TEST

START_TEST(proof_rsa_size_edges)
{
    static const struct {
        const char *args;
        int bits;
        const char *needle;
    } cases[] = {
        {"", 2047, "RSA key of 2047 bits; 2048 to 4096 are accepted"},
        {"", 2048, SIG_CHECKED},
        {"", 3072, SIG_CHECKED},
        {"", 4096, SIG_CHECKED},
        {"", 4097, "RSA key of 4097 bits; 2048 to 4096 are accepted"},
        {"", 8192, "RSA key of 8192 bits; 2048 to 4096 are accepted"},
        {"", 8193, "RSA key of 8193 bits; 2048 to 4096 are accepted"},
        {"", 12000, "'n' is empty or longer than"},
        /* The configured bounds move the edges. */
        {"dpop_min_rsa_bits = 3072; dpop_max_rsa_bits = 8192;", 3071,
         "RSA key of 3071 bits; 3072 to 8192 are accepted"},
        {"dpop_min_rsa_bits = 3072; dpop_max_rsa_bits = 8192;", 3072, SIG_CHECKED},
        {"dpop_min_rsa_bits = 3072; dpop_max_rsa_bits = 8192;", 8192, SIG_CHECKED},
        {"dpop_min_rsa_bits = 3072; dpop_max_rsa_bits = 8192;", 8193,
         "RSA key of 8193 bits; 3072 to 8192 are accepted"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        open_with(cases[i].args);
        BIGNUM *n = bn_random_modulus(cases[i].bits);
        expect_rsa_proof_refused(n, "010001", 0, cases[i].needle);
        BN_free(n);
    }
}
END_TEST

START_TEST(proof_rsa_exponent_edges)
{
    static const char odd_e[] = "exponent must be odd, at least 3 and at most 33 bits";
    static const struct {
        const char *e_hex;
        const char *needle;
    } cases[] = {
        {"01", odd_e},
        {"02", odd_e},
        {"03", SIG_CHECKED},
        {"010001", SIG_CHECKED},
        {"010000", odd_e},
        {"01FFFFFFFF", SIG_CHECKED},                                   /* 2^33 - 1: 33 bits */
        {"0200000001", odd_e},                                         /* 34 bits */
        {"010000000000000001", "'e' is empty or longer than 8 bytes"}, /* 2^64 + 1 */
    };
    open_with("");
    BIGNUM *n = bn_random_modulus(2048);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_rsa_proof_refused(n, cases[i].e_hex, 0, cases[i].needle);
    /* An exponent as long as the modulus. */
    char *huge = bn_b64url(n);
    char jwk[2048];
    snprintf(jwk, sizeof jwk, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}", huge, huge);
    bind_token_to(jwk);
    expect_proof_refused(run_proof(proof_random_sig("PS256", jwk, 256)), "'e' is empty or longer");
    free(huge);
    /* An even modulus is not an RSA key. */
    BN_clear_bit(n, 0);
    expect_rsa_proof_refused(n, "010001", 0, "modulus is even");
    BN_free(n);
}
END_TEST

START_TEST(proof_signature_length_before_import)
{
    /* A signature that cannot be the key's is refused before the key is
     * imported: RSA exactly the modulus length, ES256 exactly 64 bytes. */
    open_with("");
    BIGNUM *n = bn_random_modulus(2048);
    proof_key_stats before = stats_now();
    expect_rsa_proof_refused(n, "010001", 255,
                             "signature is 255 bytes; its jwk under PS256 makes 256");
    expect_rsa_proof_refused(n, "010001", 257,
                             "signature is 257 bytes; its jwk under PS256 makes 256");
    expect_rsa_proof_refused(n, "010001", 512, "makes 256");
    token_with(jkt_cnf(dev_jkt));
    expect_proof_refused(run_proof(proof_random_sig("ES256", dev_jwk, 63)), "63 bytes");
    expect_proof_refused(run_proof(proof_random_sig("ES256", dev_jwk, 65)), "65 bytes");
    expect_proof_refused(run_proof(proof_random_sig("ES256", dev_jwk, 256)), "256 bytes");
    ck_assert_uint_eq(stats_now().imported, before.imported);
    /* The right length reaches the import and the signature. */
    expect_rsa_proof_refused(n, "010001", 256, SIG_CHECKED);
    ck_assert_uint_eq(stats_now().imported, before.imported + 1);
    BN_free(n);
}
END_TEST

START_TEST(proof_alg_kty_mismatch_before_import)
{
    /* An ES256 proof carrying an RSA jwk (or a P-384 one) with a 64-byte
     * signature has the length ES256 wants, but its key can never verify
     * it: refused on the header's text, before the modulus is read into
     * big numbers or the point checked. */
    open_with("");
    BIGNUM *n = bn_random_modulus(4096);
    char *rsa = rsa_jwk_of(n, "010001");
    static const char p384[] =
        "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":"
        "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"y\":"
        "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}";
    proof_key_stats before = stats_now();
    bind_token_to(rsa);
    expect_proof_refused(run_proof(proof_random_sig("ES256", rsa, 64)), "does not suit its jwk");
    bind_token_to(p384);
    expect_proof_refused(run_proof(proof_random_sig("ES256", p384, 64)), "does not suit its jwk");
    ck_assert_uint_eq(stats_now().imported, before.imported);
    free(rsa);
    BN_free(n);
}
END_TEST

START_TEST(flood_of_failing_keys_keeps_real_key_cached)
{
    /* A real client's key is cached by its first good proof. Then proofs
     * whose keys import but whose signatures fail go by: random 2048-bit
     * moduli aimed at the client's cache slot, more at random slots, and
     * real EC keys signed by another key. None is cached, so none takes the
     * client's slot, and the client's next proof finds its key (reused, not
     * imported again). */
    enum { AIMED = 24, RANDOM = 64, EC = 16 };
    bound_default();
    expect_permit(run_proof(proof(&(pclaims){0})));
    proof_key_stats cached = stats_now();
    size_t slot = proof_key_cache_slot(dev_jkt);
    int aimed = 0;
    while (aimed < AIMED) {
        BIGNUM *n = bn_random_modulus(2048);
        char jkt[48], *jwk = rsa_jwk_of(n, "010001");
        json_t *parsed = json_loads(jwk, 0, NULL);
        ck_assert_int_eq(jwk_thumbprint(parsed, jkt), 0);
        if (proof_key_cache_slot(jkt) == slot) {
            expect_rsa_proof_refused(n, "010001", 0, SIG_CHECKED);
            aimed++;
        }
        json_decref(parsed);
        free(jwk);
        BN_free(n);
    }
    for (int i = 0; i < RANDOM; i++) {
        BIGNUM *n = bn_random_modulus(2048);
        expect_rsa_proof_refused(n, "010001", 0, SIG_CHECKED);
        BN_free(n);
    }
    EVP_PKEY *other = mint_keygen("ES256", 0);
    for (int i = 0; i < EC; i++) {
        EVP_PKEY *k = mint_keygen("ES256", 0);
        char *jwk = jwk_text(k, NULL);
        bind_token_to(jwk);
        char *h = header3("dpop+jwt", "ES256", jwk);
        expect_proof_refused(run_proof(proof_signed(other, "ES256", h, &(pclaims){0})),
                             SIG_CHECKED);
        free(h);
        free(jwk);
        EVP_PKEY_free(k);
    }
    proof_key_stats flooded = stats_now();
    ck_assert_uint_eq(flooded.imported, cached.imported + AIMED + RANDOM + EC);
    ck_assert_uint_eq(flooded.admitted, cached.admitted);
    token_with(jkt_cnf(dev_jkt));
    expect_permit(run_proof(proof(&(pclaims){0})));
    proof_key_stats after = stats_now();
    ck_assert_uint_eq(after.imported, flooded.imported);
    ck_assert_uint_eq(after.reused, flooded.reused + 1);
    EVP_PKEY_free(other);
}
END_TEST

START_TEST(client_key_with_bad_signature_does_not_lock_it_out)
{
    /* Anyone can send a client's public key (it is in every proof) with a
     * bad signature, or with `use: "enc"`: that must not keep the client's
     * own proofs out, as a cache of failed thumbprints would. */
    bound_default();
    expect_proof_refused(run_proof(proof_random_sig("ES256", dev_jwk, 64)), SIG_CHECKED);
    char jwk[1024];
    snprintf(jwk, sizeof jwk, "{\"use\":\"enc\",%s", dev_jwk + 1);
    expect_proof_refused(run_proof(proof_hdr("dpop+jwt", "ES256", jwk, &(pclaims){0})), "'use'");
    proof_key_stats before = stats_now();
    expect_permit(run_proof(proof(&(pclaims){0})));
    proof_key_stats after = stats_now();
    ck_assert_uint_eq(after.imported, before.imported + 1);
    ck_assert_uint_eq(after.admitted, before.admitted + 1);
    expect_permit(run_proof(proof(&(pclaims){0})));
    ck_assert_uint_eq(stats_now().reused, after.reused + 1);
    /* With the key cached, the members outside its thumbprint are still
     * checked: a cached key is refused as an uncached one would be. */
    expect_proof_refused(run_proof(proof_hdr("dpop+jwt", "ES256", jwk, &(pclaims){0})), "'use'");
    snprintf(jwk, sizeof jwk, "{\"key_ops\":[\"encrypt\"],%s", dev_jwk + 1);
    expect_proof_refused(run_proof(proof_hdr("dpop+jwt", "ES256", jwk, &(pclaims){0})),
                         "'key_ops'");
}
END_TEST

START_TEST(cached_key_held_to_each_instances_bounds)
{
    /* The proof-key cache is shared by every instance: a 2048-bit key
     * cached under one instance's bounds is refused by an instance whose
     * dpop_min_rsa_bits is 3072. */
    EVP_PKEY *rsa = mint_keygen("PS256", 2048);
    ck_assert_ptr_nonnull(rsa);
    char jkt[48];
    char *jwk = jwk_text(rsa, jkt);
    char *h = header3("dpop+jwt", "PS256", jwk);
    open_with("");
    token_with(jkt_cnf(jkt));
    expect_permit(run_proof(proof_signed(rsa, "PS256", h, &(pclaims){0})));
    proof_key_stats cached = stats_now();
    open_with("dpop_min_rsa_bits = 3072;");
    expect_proof_refused(run_proof(proof_signed(rsa, "PS256", h, &(pclaims){0})),
                         "RSA key of 2048 bits; 3072 to 4096 are accepted");
    ck_assert_uint_eq(stats_now().imported, cached.imported);
    free(h);
    free(jwk);
    EVP_PKEY_free(rsa);
}
END_TEST

START_TEST(config_rsa_bits_range)
{
    static const char *const bad[] = {
        BASE_ARGS " dpop_max_rsa_bits = 16384;",
        BASE_ARGS " dpop_max_rsa_bits = 8193;",
        BASE_ARGS " dpop_min_rsa_bits = 1024;",
        BASE_ARGS " dpop_min_rsa_bits = 2047;",
        BASE_ARGS " dpop_min_rsa_bits = 4096; dpop_max_rsa_bits = 3072;",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fhirpam_error err = {{0}};
        fhirpam_context *c = try_open(bad[i], &err);
        ck_assert_msg(c == NULL, "loaded: %s", bad[i]);
        ck_assert_msg(strstr(err.text, "dpop_min_rsa_bits and dpop_max_rsa_bits must be within "
                                       "2048-8192") != NULL,
                      "%s", err.text);
    }
    open_with("dpop_min_rsa_bits = 8192; dpop_max_rsa_bits = 8192;");
    open_with("dpop_min_rsa_bits = 2048; dpop_max_rsa_bits = 2048;");
}
END_TEST

/* fhirpam_jws_verify_proof on the RFC 9449 example proof under rules. */
static int verify_rfc9449(unsigned min_bits, unsigned max_bits, const char *jkt,
                          fhirpam_jws_proof *p, char *err, size_t errlen)
{
    static const char *const algs[] = {"ES256"};
    const fhirpam_proof_rules rules = {algs, 1, min_bits, max_bits, jkt};
    return fhirpam_jws_verify_proof(rfc9449_token_proof, strlen(rfc9449_token_proof), &rules, p,
                                    err, errlen);
}

START_TEST(sdk_bounds_outside_range_refuse)
{
    /* A module passing bounds outside 2048-8192 gets every proof refused. */
    fhirpam_jws_proof p;
    char err[256];
    ck_assert_int_eq(verify_rfc9449(1024, 4096, NULL, &p, err, sizeof err), -1);
    ck_assert_int_eq(verify_rfc9449(2048, 16384, NULL, &p, err, sizeof err), -1);
    ck_assert_int_eq(verify_rfc9449(4096, 2048, NULL, &p, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "not within 2048 to 8192") != NULL, "%s", err);
    ck_assert_int_eq(verify_rfc9449(2048, 8192, NULL, &p, err, sizeof err), 0);
    fhirpam_jws_proof_free(&p);
}
END_TEST

START_TEST(sdk_proof_by_the_bound_key_only)
{
    /* With rules.jkt, a proof by that key verifies; by any other key it is
     * FHIRPAM_PROOF_WRONG_KEY, with its thumbprint reported, decided before
     * the key is imported or looked up. */
    static const char example_jkt[] = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    fhirpam_jws_proof p;
    char err[256];
    ck_assert_int_eq(verify_rfc9449(2048, 4096, example_jkt, &p, err, sizeof err), 0);
    ck_assert_str_eq(p.jkt, example_jkt);
    fhirpam_jws_proof_free(&p);
    proof_key_stats before;
    proof_key_cache_stats(&before);
    ck_assert_int_eq(verify_rfc9449(2048, 4096, dev_jkt, &p, err, sizeof err),
                     FHIRPAM_PROOF_WRONG_KEY);
    ck_assert_str_eq(p.jkt, example_jkt);
    ck_assert_ptr_null(p.payload);
    ck_assert_msg(strstr(err, "not the key the token is bound to") != NULL, "%s", err);
    /* The thumbprint is compared whole: one character off, or a prefix. */
    char near[48];
    snprintf(near, sizeof near, "%.42s", example_jkt);
    ck_assert_int_eq(verify_rfc9449(2048, 4096, near, &p, err, sizeof err),
                     FHIRPAM_PROOF_WRONG_KEY);
    near[41] ^= 1;
    snprintf(near + 42, sizeof near - 42, "I");
    ck_assert_int_eq(verify_rfc9449(2048, 4096, near, &p, err, sizeof err),
                     FHIRPAM_PROOF_WRONG_KEY);
    proof_key_stats after;
    proof_key_cache_stats(&after);
    ck_assert_uint_eq(after.imported, before.imported);
    ck_assert_uint_eq(after.reused, before.reused);
    /* A proof that is not a JWS at all is -1, not a wrong key. */
    static const char *const algs[] = {"ES256"};
    const fhirpam_proof_rules rules = {algs, 1, 2048, 4096, example_jkt};
    ck_assert_int_eq(fhirpam_jws_verify_proof("a.b", 3, &rules, &p, err, sizeof err), -1);
}
END_TEST

/* The issue's request was any valid token sent as DPoP (an unbound one was
 * enough) with a hostile proof key. Whatever the key, a proof for a token
 * not bound to it is refused before any work on the key: no import, no
 * cache lookup, no signature. Each hostile shape is sent with an unbound
 * token and with a token bound to the device key. */
START_TEST(proof_by_another_key_costs_nothing)
{
    open_with("dpop_max_rsa_bits = 8192;");
    BIGNUM *p4096 = bn_hex(prime_4096_hex), *c8192 = bn_random_modulus(8192);
    BIGNUM *c4096 = bn_random_modulus(4096), *c8176 = bn_random_modulus(8176);
    char *jwks[] = {rsa_jwk_of(p4096, "010001"), rsa_jwk_of(c8192, "01FFFFFFFF"),
                    rsa_jwk_of(c4096, "01FFFFFFFF"), rsa_jwk_of(c8176, "010001")};
    size_t siglens[] = {512, 1024, 512, 1022};
    EVP_PKEY *ec = mint_keygen("ES256", 0), *rsa = mint_keygen("PS256", 2048);
    char *ec_jwk = jwk_text(ec, NULL), *rsa_jwk = jwk_text(rsa, NULL);
    char *ec_h = header3("dpop+jwt", "ES256", ec_jwk),
         *rsa_h = header3("dpop+jwt", "PS256", rsa_jwk);
    char dev_cnf[128];
    snprintf(dev_cnf, sizeof dev_cnf, "%s", jkt_cnf(dev_jkt));
    const char *tokens[] = {NULL, dev_cnf};
    proof_key_stats before = stats_now();
    int sent = 0;
    for (size_t t = 0; t < sizeof tokens / sizeof tokens[0]; t++) {
        token_with(tokens[t]);
        for (size_t i = 0; i < sizeof jwks / sizeof jwks[0]; i++, sent++)
            expect_refused(run_proof(proof_random_sig("PS256", jwks[i], siglens[i])),
                           "dpop_binding", W_DTOKEN);
        /* Real keys with valid signatures: still not the token's key. */
        expect_refused(run_proof(proof_signed(ec, "ES256", ec_h, &(pclaims){0})), "dpop_binding",
                       W_DTOKEN);
        expect_refused(run_proof(proof_signed(rsa, "PS256", rsa_h, &(pclaims){0})), "dpop_binding",
                       W_DTOKEN);
        sent += 2;
    }
    /* An unbound token's proof is not even read. */
    token_with(NULL);
    expect_refused(run_proof(strdup("not a JWS")), "dpop_binding", W_DTOKEN);
    proof_key_stats after = stats_now();
    ck_assert_int_eq(sent, 12);
    ck_assert_uint_eq(after.imported, before.imported);
    ck_assert_uint_eq(after.reused, before.reused);
    ck_assert_uint_eq(after.admitted, before.admitted);
    /* With the device key cached, the device's own proofs still pass. */
    token_with(dev_cnf);
    expect_permit(run_proof(proof(&(pclaims){0})));
    for (size_t i = 0; i < sizeof jwks / sizeof jwks[0]; i++)
        free(jwks[i]);
    free(ec_h);
    free(rsa_h);
    free(ec_jwk);
    free(rsa_jwk);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
    BN_free(c8176);
    BN_free(c4096);
    BN_free(c8192);
    BN_free(p4096);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("device_trust");
    TCase *t = tcase_create("vectors");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, rfc7638_rsa_thumbprint);
    tcase_add_test(t, rfc9449_ec_thumbprint);
    tcase_add_test(t, rfc9449_token_request_proof);
    tcase_add_test(t, rfc9449_resource_proof);
    tcase_add_test(t, rfc9449_resource_proof_through_module);
    suite_add_tcase(s, t);

    t = tcase_create("binding");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, dpop_permit);
    tcase_add_test(t, dpop_scheme_lower_case);
    tcase_add_test(t, dpop_header_name_lower_case);
    tcase_add_test(t, bearer_unbound_permit);
    tcase_add_test(t, bearer_unbound_ignores_dpop_header);
    tcase_add_test(t, dpop_delete_permit);
    tcase_add_test(t, dpop_search_query_not_in_htu);
    tcase_add_test(t, jwk_extra_members_permit);
    tcase_add_test(t, ps256_permit);
    tcase_add_test(t, es384_allowed_permit);
    tcase_add_test(t, no_token);
    tcase_add_test(t, unknown_cnf_bearer);
    tcase_add_test(t, unknown_cnf_dpop);
    tcase_add_test(t, unknown_cnf_empty);
    tcase_add_test(t, unknown_member_next_to_jkt_tolerated);
    tcase_add_test(t, require_binding_bearer);
    tcase_add_test(t, require_binding_bound_permit);
    tcase_add_test(t, bind_mtls_unbound_bearer_permit);
    tcase_add_test(t, bind_mtls_dpop_token);
    tcase_add_test(t, bind_dpop_mtls_token);
    tcase_add_test(t, bind_dpop_permit);
    tcase_add_test(t, bind_mtls_permit);
    tcase_add_test(t, bearer_downgrade);
    tcase_add_test(t, bearer_downgrade_without_proof);
    tcase_add_test(t, jkt_mismatch);
    tcase_add_test(t, jkt_padded);
    tcase_add_test(t, dpop_scheme_unbound_token);
    tcase_add_test(t, dpop_scheme_unbound_no_proof);
    tcase_add_test(t, unknown_cnf_not_object);
    tcase_add_test(t, unknown_cnf_before_require_binding);
    tcase_add_test(t, wrong_binding_before_downgrade);
    tcase_add_test(t, bearer_downgrade_lower_case_scheme);
    suite_add_tcase(s, t);

    t = tcase_create("mtls");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, mtls_pem_permit);
    tcase_add_test(t, mtls_wrong_cert);
    tcase_add_test(t, mtls_no_cert);
    tcase_add_test(t, mtls_unparsable_pem);
    tcase_add_test(t, mtls_chain_leaf_first);
    tcase_add_test(t, mtls_thumbprint_permit);
    tcase_add_test(t, mtls_thumbprint_wrong);
    tcase_add_test(t, mtls_thumbprint_padded);
    tcase_add_test(t, mtls_thumbprint_hex);
    tcase_add_test(t, mtls_cnf_padded);
    tcase_add_test(t, mtls_dpop_scheme);
    tcase_add_test(t, both_bound_permit);
    tcase_add_test(t, both_bound_wrong_cert);
    tcase_add_test(t, both_bound_no_cert);
    tcase_add_test(t, both_bound_wrong_proof_key);
    tcase_add_test(t, both_bound_no_proof);
    suite_add_tcase(s, t);

    t = tcase_create("proof");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, dpop_no_header);
    tcase_add_test(t, dpop_two_headers);
    tcase_add_test(t, dpop_same_header_twice);
    tcase_add_test(t, dpop_empty_header);
    tcase_add_test(t, dpop_comma_joined);
    tcase_add_test(t, dpop_extra_segment);
    tcase_add_test(t, alg_rs256_not_allowed);
    tcase_add_test(t, alg_rs256_not_in_es256_only);
    tcase_add_test(t, alg_hs256);
    tcase_add_test(t, alg_none);
    tcase_add_test(t, alg_missing);
    tcase_add_test(t, alg_rsa_with_ec_jwk);
    tcase_add_test(t, alg_es256_with_rsa_jwk);
    tcase_add_test(t, alg_es384_not_default);
    tcase_add_test(t, rsa_1024_proof_key);
    tcase_add_test(t, jwk_with_d);
    tcase_add_test(t, jwk_missing);
    tcase_add_test(t, jwk_not_a_key);
    tcase_add_test(t, jwk_point_not_on_curve);
    tcase_add_test(t, signature_other_key);
    tcase_add_test(t, signature_der);
    tcase_add_test(t, typ_jwt);
    tcase_add_test(t, typ_at_jwt);
    tcase_add_test(t, typ_missing);
    tcase_add_test(t, typ_media_type_form);
    tcase_add_test(t, typ_upper_case);
    tcase_add_test(t, claims_missing_jti);
    tcase_add_test(t, claims_missing_htm);
    tcase_add_test(t, claims_missing_htu);
    tcase_add_test(t, claims_missing_iat);
    tcase_add_test(t, claims_missing_ath);
    tcase_add_test(t, claims_iat_string);
    tcase_add_test(t, claims_jti_number);
    tcase_add_test(t, claims_payload_not_object);
    tcase_add_test(t, jti_256_permit);
    tcase_add_test(t, jti_257);
    tcase_add_test(t, htm_mismatch);
    tcase_add_test(t, htm_lower_case);
    tcase_add_test(t, ath_wrong);
    tcase_add_test(t, ath_standard_base64);
    tcase_add_test(t, ath_of_other_token);
    tcase_add_test(t, claims_iat_bool);
    tcase_add_test(t, claims_htm_number);
    tcase_add_test(t, order_typ_before_claims);
    tcase_add_test(t, order_htm_before_htu);
    tcase_add_test(t, order_htu_before_iat);
    tcase_add_test(t, order_iat_before_ath);
    tcase_add_test(t, order_binding_before_claims);
    suite_add_tcase(s, t);

    t = tcase_create("htu");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, htu_with_query);
    tcase_add_test(t, htu_with_fragment);
    tcase_add_test(t, htu_with_empty_query);
    tcase_add_test(t, htu_other_host);
    tcase_add_test(t, htu_other_path);
    tcase_add_test(t, htu_other_base_path);
    tcase_add_test(t, htu_trailing_slash);
    tcase_add_test(t, htu_path_case);
    tcase_add_test(t, htu_http_scheme);
    tcase_add_test(t, htu_other_port);
    tcase_add_test(t, htu_port_80_on_https);
    tcase_add_test(t, htu_relative);
    tcase_add_test(t, htu_encoded_slash_not_decoded);
    tcase_add_test(t, htu_host_header_ignored);
    tcase_add_test(t, htu_no_public_base);
    tcase_add_test(t, htu_upper_case_scheme_host);
    tcase_add_test(t, htu_explicit_default_port);
    tcase_add_test(t, htu_percent_encoded_unreserved);
    tcase_add_test(t, htu_percent_encoded_tilde);
    tcase_add_test(t, htu_dot_segments);
    tcase_add_test(t, htu_single_dot_segment);
    tcase_add_test(t, htu_public_base_normalised);
    tcase_add_test(t, htu_userinfo);
    tcase_add_test(t, htu_empty_port);
    tcase_add_test(t, htu_dot_segments_above_base);
    suite_add_tcase(s, t);

    t = tcase_create("iat");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, iat_window_edge_permit);
    tcase_add_test(t, iat_too_old);
    tcase_add_test(t, iat_skew_edge_permit);
    tcase_add_test(t, iat_too_far_ahead);
    tcase_add_test(t, iat_years_old);
    tcase_add_test(t, iat_fraction_permit);
    tcase_add_test(t, iat_fraction_past_window);
    tcase_add_test(t, iat_custom_window);
    suite_add_tcase(s, t);

    t = tcase_create("replay");
    tcase_set_timeout(t, 60);
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, replay_second_use);
    tcase_add_test(t, replay_same_jti_new_proof);
    tcase_add_test(t, replay_later_in_window);
    tcase_add_test(t, replay_not_consumed_by_bad_proof);
    tcase_add_test(t, replay_not_consumed_by_binding_failure);
    tcase_add_test(t, replay_across_threads);
    tcase_add_test(t, replay_cache_full);
    suite_add_tcase(s, t);

    t = tcase_create("nonce");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, nonce_missing);
    tcase_add_test(t, nonce_round_trip);
    tcase_add_test(t, nonce_made_up);
    tcase_add_test(t, nonce_of_other_instance);
    tcase_add_test(t, nonce_stale);
    tcase_add_test(t, nonce_checked_after_ath);
    tcase_add_test(t, nonce_not_required_by_default);
    suite_add_tcase(s, t);

    t = tcase_create("posture");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, posture_absent);
    tcase_add_test(t, posture_wrong_value);
    tcase_add_test(t, posture_value_case);
    tcase_add_test(t, posture_ok);
    tcase_add_test(t, posture_two_rules);
    tcase_add_test(t, posture_after_good_proof);
    tcase_add_test(t, posture_after_good_proof_managed);
    tcase_add_test(t, posture_context_user_refused);
    tcase_add_test(t, posture_context_user_ok);
    tcase_add_test(t, posture_context_other_context_skipped);
    tcase_add_test(t, posture_context_rule_without_scope_check);
    tcase_add_test(t, posture_mixed_rules_in_context);
    tcase_add_test(t, config_symmetric_algs_refused);
    suite_add_tcase(s, t);

    t = tcase_create("proof_cost");
    tcase_add_unchecked_fixture(t, make_primes, free_primes);
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, hostile_primes_fail_their_signature);
    tcase_add_test(t, hostile_composite_8176_refused_by_size);
    tcase_add_test(t, proof_rsa_size_edges);
    tcase_add_test(t, proof_rsa_exponent_edges);
    tcase_add_test(t, proof_signature_length_before_import);
    tcase_add_test(t, proof_alg_kty_mismatch_before_import);
    tcase_add_test(t, flood_of_failing_keys_keeps_real_key_cached);
    tcase_add_test(t, client_key_with_bad_signature_does_not_lock_it_out);
    tcase_add_test(t, cached_key_held_to_each_instances_bounds);
    tcase_add_test(t, config_rsa_bits_range);
    tcase_add_test(t, sdk_bounds_outside_range_refuse);
    tcase_add_test(t, sdk_proof_by_the_bound_key_only);
    tcase_add_test(t, proof_by_another_key_costs_nothing);
    suite_add_tcase(s, t);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
