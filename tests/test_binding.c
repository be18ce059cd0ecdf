/*
 * test_binding.c - the core's sender-constraint rule (issue 22; core/binding.h, module.h
 * fhirpam_binding_verified): a request whose verified token carries `cnf` (any member, only
 * unknown ones, or not an object), or that came with the DPoP scheme, is permitted only when a
 * module verified the binding on this very request, whatever path the stack took.
 *
 * The rows of the issue's table (and more of the same rule) go through stacks that never reach
 * a verifying line (no device_trust; a `sufficient` or `done` success before it; a jump over it;
 * a substack and an include of a stack without it), through stacks where device_trust runs but
 * its refusal is ignored, through bundle entries, and are permitted again where device_trust
 * verified them: a real DPoP proof made by `fhirpam token dpop`, a real client certificate made
 * by the `openssl` command. Plain bearer tokens decide as before. Then the SDK (a vendor module
 * taking the role; reports from modules that do not declare it are refused, also when the flag
 * sits in a descriptor too old or too small to have it), the unverified_binding switch, `fhirpam
 * check`'s warnings, the audit line and the example configuration.
 *
 * The fhirpamd end of it (nginx, fhirpamd, curl) is in tests/nginx/test_nginx.sh.
 */
#include <check.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mint.h"
#include "testutil.h"

#define NOW  1800000000LL
#define ISS  "https://ehr.example.org"
#define AUD  "https://fhir.example.org/r4"
#define BASE "https://fhir.example.org/r4"
/* The request every case makes: patient 123's observations. */
#define URL "Observation?patient=Patient/123"
#define HTU BASE "/Observation"

#define W_DPOP   "DPoP error=\"invalid_token\""
#define W_BEARER "Bearer error=\"invalid_token\""

/* ---- made once, before Check forks the tests ---- */

static EVP_PKEY *issuer; /* signs the access tokens */
static char *jwks_path;  /* its JWKS */
static char *device_key; /* the DPoP key, PEM, made by `fhirpam token keygen` */
static char jkt[64];     /* its RFC 7638 thumbprint, by `fhirpam token jkt` */
static char *cert_pem;   /* the client certificate, made by `openssl req -x509` */
static char x5t[64];     /* its x5t#S256 (RFC 8705 §3.1), computed here */
static const char *openssl_bin;

static const char *cli(void)
{
    return getenv("FHIRPAM_CLI");
}

/* A program on PATH (posix_spawn wants a path). */
static const char *find_program(const char *name)
{
    static char found[512];
    const char *path = getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin";
    while (*path != '\0') {
        size_t n = strcspn(path, ":");
        snprintf(found, sizeof found, "%.*s/%s", (int)n, path, name);
        if (access(found, X_OK) == 0)
            return found;
        path += n + (path[n] == ':');
    }
    return NULL;
}

/* Runs argv, asserts it succeeded, returns its stdout without the final newline. */
static char *run_ok(char *const argv[])
{
    char *out = NULL, *err = NULL;
    int rc = tu_run(argv, NULL, &out, &err);
    ck_assert_msg(rc == 0, "%s %s failed (%d): %s", argv[0], argv[1], rc, err ? err : "");
    free(err);
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return out;
}

static char *read_whole(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* x5t#S256 of the PEM certificate: base64url(SHA-256(DER)), RFC 8705 §3.1. */
static void thumbprint(const char *pem, char out[64])
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    ck_assert_ptr_nonnull(x);
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    ck_assert_int_gt(len, 0);
    unsigned char md[32];
    unsigned mdlen = 0;
    ck_assert_int_eq(EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL), 1);
    char *b64 = mint_b64url(md, mdlen);
    snprintf(out, 64, "%s", b64);
    free(b64);
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(bio);
}

static void make_fixtures(void)
{
    issuer = mint_keygen("ES256", 0);
    ck_assert_ptr_nonnull(issuer);
    json_t *set = json_pack("{s:[o]}", "keys", mint_public_jwk(issuer, "k1", "ES256"));
    char *text = json_dumps(set, JSON_COMPACT);
    jwks_path = strdup(tu_write("jwks.json", text));
    free(text);
    json_decref(set);

    /* The device's DPoP key, with the tool a deployer would use. */
    char key[512], keyjwks[512];
    snprintf(key, sizeof key, "%s/device.pem", tu_tmpdir());
    snprintf(keyjwks, sizeof keyjwks, "%s/device-jwks.json", tu_tmpdir());
    char *keygen[] = {(char *)cli(), "token",      "keygen", "--alg",
                      "ES256",       "--kid",      "device", "--private-key-out",
                      key,           "--jwks-out", keyjwks,  NULL};
    free(run_ok(keygen));
    device_key = strdup(key);
    char *thumb[] = {(char *)cli(), "token", "jkt", "--key", key, NULL};
    char *j = run_ok(thumb);
    snprintf(jkt, sizeof jkt, "%s", j);
    free(j);

    /* A client certificate as a device would hold it. */
    openssl_bin = find_program("openssl");
    ck_assert_msg(openssl_bin != NULL, "the openssl command is needed (./dev test installs it)");
    openssl_bin = strdup(openssl_bin);
    char cert[512], certkey[512];
    snprintf(cert, sizeof cert, "%s/device.crt", tu_tmpdir());
    snprintf(certkey, sizeof certkey, "%s/device-cert.key", tu_tmpdir());
    char *req[] = {(char *)openssl_bin,
                   "req",
                   "-x509",
                   "-newkey",
                   "ec",
                   "-pkeyopt",
                   "ec_paramgen_curve:P-256",
                   "-nodes",
                   "-days",
                   "2",
                   "-subj",
                   "/CN=device-7",
                   "-keyout",
                   certkey,
                   "-out",
                   cert,
                   NULL};
    free(run_ok(req));
    cert_pem = read_whole(cert);
    thumbprint(cert_pem, x5t);
}

/* ---- tokens, proofs, requests ---- */

/* `template` with @JKT@ and @X5T@ replaced by the device's. */
static char *fill(const char *template)
{
    char *out = calloc(1, 4096);
    size_t n = 0;
    for (const char *p = template; *p != '\0' && n < 3900;) {
        if (strncmp(p, "@JKT@", 5) == 0) {
            n += (size_t)snprintf(out + n, 4096 - n, "%s", jkt);
            p += 5;
        } else if (strncmp(p, "@X5T@", 5) == 0) {
            n += (size_t)snprintf(out + n, 4096 - n, "%s", x5t);
            p += 5;
        } else {
            out[n++] = *p++;
        }
    }
    return out;
}

/* An access token for patient 123 (patient/Observation.rs) whose cnf is the JSON text
 * `cnf` (with @JKT@/@X5T@ filled in), or without cnf when it is NULL. */
static char *token(const char *cnf)
{
    static unsigned serial;
    char *filled = cnf != NULL ? fill(cnf) : NULL;
    char payload[4096];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"user-7\",\"client_id\":\"app-7\","
             "\"patient\":\"123\",\"scope\":\"launch/patient patient/Observation.rs "
             "patient/Patient.rs\",\"jti\":\"j-%u-%d\",\"iat\":%lld,\"auth_time\":%lld,"
             "\"exp\":%lld%s%s}",
             serial++, (int)getpid(), NOW - 10, NOW - 60, NOW + 600, filled ? ",\"cnf\":" : "",
             filled ? filled : "");
    free(filled);
    char *t = mint_token(issuer, "ES256", "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"at+jwt\"}",
                         payload);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* A fresh DPoP proof for GET `htu` with token t, from `fhirpam token dpop`. */
static char *proof_for(const char *htu, const char *t)
{
    char iat[32];
    snprintf(iat, sizeof iat, "%lld", NOW);
    char *argv[] = {(char *)cli(), "token",     "dpop",    "--key",   device_key, "--htm", "GET",
                    "--htu",       (char *)htu, "--token", (char *)t, "--iat",    iat,     NULL};
    return run_ok(argv);
}

typedef struct ask_opts {
    const char *scheme; /* "Bearer" (default) or "DPoP" (any case) */
    bool proof;         /* a valid DPoP proof for the request */
    bool cert;          /* the client certificate */
    const char *method, *url, *body;
} ask_opts;

static fhirpam_context *ctx;

static fhirpam_decision *ask_in(fhirpam_context *c, const char *stack, const char *t, ask_opts o)
{
    fhirpam_request *req = fhirpam_request_new(o.method ? o.method : "GET", o.url ? o.url : URL);
    char auth[8192];
    snprintf(auth, sizeof auth, "%s %s", o.scheme ? o.scheme : "Bearer", t);
    fhirpam_request_add_header(req, "Authorization", auth);
    if (o.proof) {
        char *p = proof_for(HTU, t);
        fhirpam_request_add_header(req, "DPoP", p);
        free(p);
    }
    if (o.cert)
        ck_assert_int_eq(fhirpam_request_set_client_cert_pem(req, cert_pem, strlen(cert_pem)), 0);
    if (o.body)
        fhirpam_request_set_body(req, o.body, strlen(o.body));
    fhirpam_request_set_time(req, NOW);
    fhirpam_decision *d = fhirpam_authorize(c, stack, req);
    fhirpam_request_free(req);
    ck_assert_ptr_nonnull(d);
    return d;
}

#define ASK(stack, t, ...) ask_in(ctx, stack, t, (ask_opts){__VA_ARGS__})

static void expect_permit(fhirpam_decision *d, const char *what)
{
    ck_assert_msg(fhirpam_decision_permitted(d), "%s: %s (%s)", what, fhirpam_decision_reason(d),
                  fhirpam_decision_reason_text(d));
    fhirpam_decision_free(d);
}

/* The core's refusal: untrusted_device, unverified_binding, 401, the challenge, and a reason
 * text that names the binding (`clause`). */
static void expect_unverified(fhirpam_decision *d, const char *what, const char *challenge,
                              const char *clause)
{
    ck_assert_msg(!fhirpam_decision_permitted(d), "%s: permitted", what);
    ck_assert_msg(strcmp(fhirpam_decision_reason(d), "unverified_binding") == 0,
                  "%s: reason %s (%s)", what, fhirpam_decision_reason(d),
                  fhirpam_decision_reason_text(d));
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_UNTRUSTED_DEVICE);
    ck_assert_int_eq(fhirpam_decision_http_status(d), 401);
    ck_assert_str_eq(fhirpam_decision_module(d), "");
    ck_assert_msg(fhirpam_decision_www_authenticate(d) != NULL &&
                      strcmp(fhirpam_decision_www_authenticate(d), challenge) == 0,
                  "%s: WWW-Authenticate %s, want %s", what, fhirpam_decision_www_authenticate(d),
                  challenge);
    ck_assert_msg(strstr(fhirpam_decision_reason_text(d), clause) != NULL,
                  "%s: reason text '%s' lacks '%s'", what, fhirpam_decision_reason_text(d), clause);
    ck_assert_uint_eq(fhirpam_decision_obligation_count(d), 0);
    ck_assert_ptr_null(fhirpam_decision_dpop_nonce(d));
    fhirpam_decision_free(d);
}

/* ---- the configuration ---- */

#define DT_ARGS "args = { bind = \"any\"; public_base = \"" BASE "\"; }"
#define DT      "{ control = \"required\"; module = \"device_trust\"; " DT_ARGS "; }"
#define FHIR_LINES                                                                                 \
    "{ control = \"requisite\"; module = \"scope_check\"; },\n"                                    \
    "    { control = \"required\"; module = \"patient_link\"; args = { fhir_version = \"R4\"; }; " \
    "}"

/* Every stack shape of the tests; `token_extra` goes into the token group. */
static const char *config_text(const char *token_extra)
{
    static char text[8192];
    snprintf(
        text, sizeof text,
        "token: { issuer = \"" ISS "\"; audience = \"" AUD "\"; jwks = \"%s\"; "
        "algorithms = [\"ES256\"]; %s };\n"
        "audit: { sink = \"file\"; path = \"%s/audit.jsonl\"; required = true; };\n"
        "stacks: {\n"
        /* The issue's shape: the example's main stack without device_trust. */
        "  fhir = ( " FHIR_LINES " );\n"
        /* device_trust on the stack, but a success ends the walk before it. */
        "  sufficient = ( { control = \"sufficient\"; module = \"debug\"; }, " DT " );\n"
        "  done = ( { control = \"[success=done default=bad]\"; module = \"debug\"; }, " DT " );\n"
        "  jump = ( { control = \"[success=1 default=bad]\"; module = \"debug\"; }, " DT ",\n"
        "           { control = \"required\"; module = \"debug\"; } );\n"
        /* Through a substack and an include of the issue's shape. */
        "  sub = ( { control = \"substack\"; stack = \"fhir\"; } );\n"
        "  inc = ( { control = \"include\"; stack = \"fhir\"; } );\n"
        "  sub_sufficient = ( { control = \"substack\"; stack = \"sufficient\"; } );\n"
        /* device_trust runs, and the stack ignores its refusal. */
        "  optional = ( { control = \"optional\"; module = \"device_trust\"; " DT_ARGS "; },\n"
        "               { control = \"required\"; module = \"debug\"; } );\n"
        "  ignored = ( { control = \"[success=ok untrusted_device=ignore default=bad]\"; "
        "module = \"device_trust\"; " DT_ARGS "; },\n"
        "              { control = \"required\"; module = \"debug\"; } );\n"
        /* Stacks that verify. */
        "  dt = ( " FHIR_LINES ",\n    " DT " );\n"
        "  sub_dt = ( { control = \"substack\"; stack = \"dt\"; } );\n"
        "  inc_dt = ( { control = \"include\"; stack = \"dt\"; } );\n"
        "  verify_then_sufficient = ( " DT ", { control = \"sufficient\"; module = \"debug\"; },\n"
        "      { control = \"required\"; module = \"debug\"; args = { result = \"deny\"; }; } );\n"
        /* One entry verified, the next jumps over the verifier (bundles). */
        "  carry = ( { control = \"[success=1 insufficient_scope=ignore default=bad]\"; "
        "module = \"scope_check\"; },\n"
        "            " DT ",\n"
        "            { control = \"required\"; module = \"debug\"; } );\n"
        /* Vendor modules (tests/modules/binding_probe.c). */
        "  vendor_other = ( { control = \"required\"; module = \"%s/modules/binding_probe.so\"; "
        "args = { kind = \"other\"; }; } );\n"
        "  vendor_dpop = ( { control = \"required\"; module = \"%s/modules/binding_probe.so\"; "
        "args = { kind = \"dpop\"; }; } );\n"
        "  vendor_both = ( { control = \"required\"; module = \"%s/modules/binding_probe.so\"; "
        "args = { kind = \"dpop+mtls\"; }; } );\n"
        "  unflagged = ( { control = \"required\"; module = \"%s/modules/binding_unflagged.so\"; "
        "args = { kind = \"dpop\"; }; } );\n"
        "  minor0 = ( { control = \"required\"; module = \"%s/modules/binding_minor0.so\"; "
        "args = { kind = \"dpop\"; }; } );\n"
        "  short = ( { control = \"required\"; module = \"%s/modules/binding_short.so\"; "
        "args = { kind = \"dpop\"; }; } );\n"
        "  public = { token = \"none\"; lines = ( { control = \"required\"; module = \"debug\"; } "
        "); };\n"
        "};\n",
        jwks_path, token_extra, tu_tmpdir(), tu_build_dir(), tu_build_dir(), tu_build_dir(),
        tu_build_dir(), tu_build_dir(), tu_build_dir());
    return text;
}

static void open_ctx(const char *token_extra)
{
    fhirpam_error err = {{0}};
    if (ctx != NULL)
        fhirpam_close(ctx);
    ctx = tu_open(config_text(token_extra), &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
}

static void setup(void)
{
    ctx = NULL;
    open_ctx("");
}

static void teardown(void)
{
    if (ctx != NULL)
        fhirpam_close(ctx);
    ctx = NULL;
}

/* ---- the rows ---- */

typedef struct row {
    const char *name;
    const char *cnf;    /* JSON text, NULL for none */
    const char *scheme; /* as sent */
    const char *challenge;
    const char *clause; /* what the reason text must name */
} row;

/* The issue's table. */
static const row table[] = {
    {"cnf.jkt sent as Bearer", "{\"jkt\":\"@JKT@\"}", "Bearer", W_DPOP, "cnf.jkt: the DPoP scheme"},
    {"cnf.jkt with the DPoP scheme and no DPoP header", "{\"jkt\":\"@JKT@\"}", "DPoP", W_DPOP,
     "cnf.jkt: a DPoP proof"},
    {"cnf.x5t#S256, Bearer, no client certificate", "{\"x5t#S256\":\"@X5T@\"}", "Bearer", W_BEARER,
     "cnf.x5t#S256: the client certificate"},
    {"cnf with only an unknown member", "{\"kc-binding\":\"abc\"}", "Bearer", W_BEARER,
     "confirmation methods"},
    {"no cnf, the DPoP scheme, no proof", NULL, "DPoP", W_DPOP, "the DPoP scheme"},
};

/* The same rule beyond the table. */
static const row more[] = {
    {"cnf a string", "\"@JKT@\"", "Bearer", W_BEARER, "an object naming"},
    {"cnf an array", "[\"@JKT@\"]", "Bearer", W_BEARER, "an object naming"},
    {"cnf null", "null", "Bearer", W_BEARER, "an object naming"},
    {"cnf an empty object", "{}", "Bearer", W_BEARER, "an object naming"},
    {"cnf a number, DPoP scheme", "7", "DPoP", W_DPOP, "an object naming"},
    {"cnf.jkt not a string", "{\"jkt\":7}", "Bearer", W_DPOP, "cnf.jkt"},
    {"cnf.x5t#S256 not a string", "{\"x5t#S256\":{}}", "Bearer", W_BEARER, "cnf.x5t#S256"},
    {"cnf.jkt beside an unknown member", "{\"kc-jkt-type\":\"x\",\"jkt\":\"@JKT@\"}", "Bearer",
     W_DPOP, "cnf.jkt"},
    {"cnf.jkt and cnf.x5t#S256", "{\"jkt\":\"@JKT@\",\"x5t#S256\":\"@X5T@\"}", "DPoP", W_DPOP,
     "cnf.x5t#S256"},
    {"cnf.x5t#S256 with the DPoP scheme", "{\"x5t#S256\":\"@X5T@\"}", "DPoP", W_DPOP,
     "the DPoP scheme"},
    {"cnf.jwk (RFC 7800), which fhirpam does not check", "{\"jwk\":{\"kty\":\"EC\"}}", "Bearer",
     W_BEARER, "confirmation methods"},
    {"an x5t (SHA-1) member only", "{\"x5t\":\"abc\"}", "Bearer", W_BEARER, "confirmation methods"},
    {"no cnf, the scheme as dPoP", NULL, "dPoP", W_DPOP, "the DPoP scheme"},
};

/* Stacks whose walk never reaches a line that verifies bindings. */
static const char *const never_verify[] = {"fhir", "sufficient", "done",          "jump",
                                           "sub",  "inc",        "sub_sufficient"};
/* Stacks where device_trust runs, but its refusal does not decide. */
static const char *const refusal_ignored[] = {"optional", "ignored"};
/* Stacks that verify. */
static const char *const verify[] = {"dt",       "sub_dt", "inc_dt", "verify_then_sufficient",
                                     "optional", "ignored"};

#define N(a) (sizeof(a) / sizeof(a)[0])

static void row_denied_everywhere(const row *r)
{
    char *t = token(r->cnf);
    char what[256];
    for (size_t s = 0; s < N(never_verify); s++) {
        snprintf(what, sizeof what, "%s on %s", r->name, never_verify[s]);
        expect_unverified(ASK(never_verify[s], t, .scheme = r->scheme), what, r->challenge,
                          r->clause);
    }
    for (size_t s = 0; s < N(refusal_ignored); s++) {
        snprintf(what, sizeof what, "%s on %s", r->name, refusal_ignored[s]);
        expect_unverified(ASK(refusal_ignored[s], t, .scheme = r->scheme), what, r->challenge,
                          r->clause);
    }
    /* Where device_trust decides, it refuses them itself. */
    for (size_t s = 0; s < 4; s++) {
        fhirpam_decision *d = ASK(verify[s], t, .scheme = r->scheme);
        ck_assert_msg(!fhirpam_decision_permitted(d), "%s on %s: permitted", r->name, verify[s]);
        ck_assert_int_eq(fhirpam_decision_http_status(d), 401);
        ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_UNTRUSTED_DEVICE);
        fhirpam_decision_free(d);
    }
    free(t);
}

START_TEST(table_rows_denied_without_verification)
{
    row_denied_everywhere(&table[_i]);
}
END_TEST

START_TEST(more_rows_denied_without_verification)
{
    row_denied_everywhere(&more[_i]);
}
END_TEST

/* The stack's own refusal stands: the rule only ever turns a permit into a deny. */
START_TEST(a_stack_refusal_is_not_replaced)
{
    char *t = token("{\"jkt\":\"@JKT@\"}");
    fhirpam_decision *d = ASK("fhir", t, .url = "Observation?patient=Patient/456");
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_PATIENT_MISMATCH);
    ck_assert_int_eq(fhirpam_decision_http_status(d), 403);
    fhirpam_decision_free(d);
    free(t);
}
END_TEST

/* A matching certificate or a valid proof is not a verification: a module must check it. */
START_TEST(credentials_alone_verify_nothing)
{
    char *tm = token("{\"x5t#S256\":\"@X5T@\"}");
    char *td = token("{\"jkt\":\"@JKT@\"}");
    char what[128];
    for (size_t s = 0; s < N(never_verify); s++) {
        snprintf(what, sizeof what, "certificate on %s", never_verify[s]);
        expect_unverified(ASK(never_verify[s], tm, .cert = true), what, W_BEARER, "cnf.x5t#S256");
        snprintf(what, sizeof what, "proof on %s", never_verify[s]);
        expect_unverified(ASK(never_verify[s], td, .scheme = "DPoP", .proof = true), what, W_DPOP,
                          "cnf.jkt: a DPoP proof");
    }
    free(tm);
    free(td);
}
END_TEST

/* The same tokens, where device_trust verified them. */
START_TEST(verified_bindings_are_permitted)
{
    char *tm = token("{\"x5t#S256\":\"@X5T@\"}");
    char *td = token("{\"jkt\":\"@JKT@\"}");
    char *tboth = token("{\"jkt\":\"@JKT@\",\"x5t#S256\":\"@X5T@\"}");
    char *tvendor = token("{\"kc-jkt-type\":\"dpop\",\"jkt\":\"@JKT@\"}");
    char what[128];
    for (size_t s = 0; s < N(verify); s++) {
        snprintf(what, sizeof what, "certificate-bound on %s", verify[s]);
        expect_permit(ASK(verify[s], tm, .cert = true), what);
        snprintf(what, sizeof what, "DPoP-bound on %s", verify[s]);
        expect_permit(ASK(verify[s], td, .scheme = "DPoP", .proof = true), what);
        snprintf(what, sizeof what, "bound both ways on %s", verify[s]);
        expect_permit(ASK(verify[s], tboth, .scheme = "DPoP", .proof = true, .cert = true), what);
        snprintf(what, sizeof what, "jkt beside a vendor member on %s", verify[s]);
        expect_permit(ASK(verify[s], tvendor, .scheme = "dpop", .proof = true), what);
    }
    /* Bound both ways, with only one of them shown: device_trust refuses the
     * certificate's absence; where that refusal is ignored, the core's rule
     * still wants both. */
    expect_unverified(ASK("ignored", tboth, .scheme = "DPoP", .proof = true), "both, proof only",
                      W_DPOP, "cnf.x5t#S256");
    fhirpam_decision *d = ASK("dt", tboth, .scheme = "DPoP", .proof = true);
    ck_assert_str_eq(fhirpam_decision_reason(d), "no_client_certificate");
    fhirpam_decision_free(d);
    free(tm);
    free(td);
    free(tboth);
    free(tvendor);
}
END_TEST

/* Plain bearer tokens decide as before, on every stack. */
START_TEST(bearer_tokens_decide_as_before)
{
    static const char *const all[] = {"fhir",
                                      "sufficient",
                                      "done",
                                      "jump",
                                      "sub",
                                      "inc",
                                      "sub_dt",
                                      "inc_dt",
                                      "sub_sufficient",
                                      "optional",
                                      "ignored",
                                      "dt",
                                      "carry",
                                      "verify_then_sufficient"};
    char *t = token(NULL);
    for (size_t s = 0; s < N(all); s++)
        expect_permit(ASK(all[s], t), all[s]);
    fhirpam_decision *d = ASK("fhir", t, .url = "Observation?patient=Patient/456");
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_PATIENT_MISMATCH);
    fhirpam_decision_free(d);
    free(t);
}
END_TEST

/* ---- bundles ---- */

#define TRANSACTION(entries)                                                                       \
    "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[" entries "]}"
#define GET_OBS_SEARCH                                                                             \
    "{\"request\":{\"method\":\"GET\",\"url\":\"Observation?patient=Patient/123\"}}"
#define GET_PATIENT   "{\"request\":{\"method\":\"GET\",\"url\":\"Patient/123\"}}"
#define GET_ENCOUNTER "{\"request\":{\"method\":\"GET\",\"url\":\"Encounter?patient=Patient/123\"}}"

START_TEST(bundle_entries_denied_without_verification)
{
    for (size_t r = 0; r < N(table); r++) {
        char *t = token(table[r].cnf);
        static const char *const stacks[] = {"fhir", "sub", "inc", "sufficient"};
        for (size_t s = 0; s < N(stacks); s++) {
            fhirpam_decision *d =
                ASK(stacks[s], t, .scheme = table[r].scheme, .method = "POST", .url = "",
                    .body = TRANSACTION(GET_OBS_SEARCH "," GET_PATIENT));
            char what[256];
            snprintf(what, sizeof what, "%s in a bundle on %s", table[r].name, stacks[s]);
            ck_assert_msg(strncmp(fhirpam_decision_reason_text(d), "bundle entry 0: ", 16) == 0,
                          "%s: %s", what, fhirpam_decision_reason_text(d));
            expect_unverified(d, what, table[r].challenge, table[r].clause);
        }
        free(t);
    }
}
END_TEST

START_TEST(bundle_entries_each_verified)
{
    char *t = token("{\"x5t#S256\":\"@X5T@\"}");
    expect_permit(ASK("dt", t, .cert = true, .method = "POST", .url = "",
                      .body = TRANSACTION(GET_OBS_SEARCH "," GET_PATIENT)),
                  "certificate-bound bundle on dt");
    free(t);
}
END_TEST

/* An entry's verification never counts for another: on `carry`, an entry the token's scopes
 * cover jumps over device_trust, one they do not runs it (and is let through by debug). */
START_TEST(bundle_verification_does_not_carry_over)
{
    char *t = token("{\"x5t#S256\":\"@X5T@\"}");
    /* Alone: the uncovered entry is verified, the covered one is not. */
    expect_permit(ASK("carry", t, .cert = true, .method = "POST", .url = "",
                      .body = TRANSACTION(GET_ENCOUNTER)),
                  "the verified entry alone");
    expect_unverified(ASK("carry", t, .cert = true, .method = "POST", .url = "",
                          .body = TRANSACTION(GET_PATIENT)),
                      "the jumping entry alone", W_BEARER, "cnf.x5t#S256");
    /* Verified first, then the jump: entry 1 is refused. */
    fhirpam_decision *d = ASK("carry", t, .cert = true, .method = "POST", .url = "",
                              .body = TRANSACTION(GET_ENCOUNTER "," GET_PATIENT));
    ck_assert_msg(strncmp(fhirpam_decision_reason_text(d), "bundle entry 1: ", 16) == 0, "%s",
                  fhirpam_decision_reason_text(d));
    expect_unverified(d, "verified entry, then a jump", W_BEARER, "cnf.x5t#S256");
    free(t);
}
END_TEST

/* ---- the SDK ---- */

/* The trace reason word of the stack's first line, from the decision JSON. */
static char *first_reason(const fhirpam_decision *d)
{
    char *json = fhirpam_decision_json(d);
    json_t *v = json_loads(json, 0, NULL);
    free(json);
    const char *r = json_string_value(
        json_object_get(json_array_get(json_object_get(v, "trace"), 0), "reason"));
    char *out = strdup(r ? r : "");
    json_decref(v);
    return out;
}

START_TEST(a_vendor_module_can_verify)
{
    /* A module that knows a confirmation method fhirpam does not. */
    char *t = token("{\"kc-binding\":\"abc\"}");
    fhirpam_decision *d = ASK("vendor_other", t);
    char *r = first_reason(d);
    ck_assert_str_eq(r, "binding_reported");
    free(r);
    expect_permit(d, "unknown member, vendor module");
    /* Its report covers only that kind. */
    char *tj = token("{\"jkt\":\"@JKT@\"}");
    expect_unverified(ASK("vendor_other", tj), "jkt, vendor reports other", W_DPOP, "cnf.jkt");
    expect_permit(ASK("vendor_dpop", tj, .scheme = "DPoP"), "jkt, vendor reports dpop");
    /* Nothing verifies a cnf that is not an object. */
    char *ts = token("\"abc\"");
    expect_unverified(ASK("vendor_other", ts), "string cnf, vendor", W_BEARER, "an object naming");
    /* Two kinds in one call is not a kind. */
    d = ASK("vendor_both", tj, .scheme = "DPoP");
    r = first_reason(d);
    ck_assert_str_eq(r, "binding_refused");
    free(r);
    expect_unverified(d, "two kinds at once", W_DPOP, "cnf.jkt");
    free(t);
    free(tj);
    free(ts);
}
END_TEST

/* Reports count only from modules that declare FHIRPAM_MODULE_VERIFIES_BINDING, read only from
 * a descriptor of ABI 1.1 or later that is large enough to hold it. */
START_TEST(reports_need_the_descriptor_flag)
{
    static const char *const stacks[] = {"unflagged", "minor0", "short"};
    char *t = token("{\"jkt\":\"@JKT@\"}");
    for (size_t s = 0; s < N(stacks); s++) {
        fhirpam_decision *d = ASK(stacks[s], t, .scheme = "DPoP");
        char *r = first_reason(d);
        ck_assert_msg(strcmp(r, "binding_refused") == 0, "%s: %s", stacks[s], r);
        free(r);
        expect_unverified(d, stacks[s], W_DPOP, "cnf.jkt");
    }
    free(t);
}
END_TEST

/* ---- unverified_binding = "allow" ---- */

START_TEST(allow_brings_back_the_old_behaviour)
{
    open_ctx("unverified_binding = \"allow\";");
    for (size_t r = 0; r < N(table); r++) {
        char *t = token(table[r].cnf);
        expect_permit(ASK("fhir", t, .scheme = table[r].scheme), table[r].name);
        expect_permit(ASK("sufficient", t, .scheme = table[r].scheme), table[r].name);
        /* device_trust still decides where it runs. */
        fhirpam_decision *d = ASK("dt", t, .scheme = table[r].scheme);
        ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_UNTRUSTED_DEVICE);
        fhirpam_decision_free(d);
        free(t);
    }
    open_ctx("unverified_binding = \"deny\";");
    char *t = token(table[0].cnf);
    expect_unverified(ASK("fhir", t), "deny, said", W_DPOP, "cnf.jkt");
    free(t);
}
END_TEST

START_TEST(unverified_binding_values_are_checked)
{
    char text[8192];
    snprintf(text, sizeof text, "%s", config_text("unverified_binding = \"permit\";"));
    tu_expect_load_error(text, 1, "'unverified_binding' must be \"deny\" or \"allow\"");
    snprintf(text, sizeof text, "%s", config_text("unverified_binding = true;"));
    tu_expect_load_error(text, 1, "'unverified_binding' must be a string");
}
END_TEST

/* ---- fhirpam check ---- */

/* `fhirpam check` on config text: its JSON "warnings" and its stderr. */
static json_t *check_warnings(const char *text, char **err_out)
{
    const char *path = tu_config(text);
    char *out, *err;
    char *argv[] = {(char *)cli(), "check",         "-c",
                    (char *)path,  "--modules-dir", (char *)tu_modules_dir(),
                    NULL};
    ck_assert_int_eq(tu_run(argv, NULL, &out, &err), 0);
    json_t *v = json_loads(out, 0, NULL);
    ck_assert_msg(v != NULL, "check output is not JSON: %s", out);
    json_t *w = json_incref(json_object_get(v, "warnings"));
    ck_assert(json_is_array(w));
    json_decref(v);
    free(out);
    *err_out = err;
    return w;
}

static bool warns_for(const json_t *w, const char *stack)
{
    char prefix[128];
    snprintf(prefix, sizeof prefix, "stack %s: ", stack);
    size_t i;
    const json_t *s;
    json_array_foreach(w, i, s)
    {
        if (strncmp(json_string_value(s), prefix, strlen(prefix)) == 0)
            return true;
    }
    return false;
}

START_TEST(check_warns_per_stack)
{
    char *err;
    json_t *w = check_warnings(config_text(""), &err);
    /* Stacks that take tokens and have no verifying line, includes and substacks counted. */
    static const char *const warned[] = {"fhir", "sub", "inc"};
    for (size_t i = 0; i < N(warned); i++) {
        ck_assert_msg(warns_for(w, warned[i]), "no warning for %s", warned[i]);
        char line[256];
        snprintf(line, sizeof line, "warning: stack %s: bound tokens will be denied", warned[i]);
        ck_assert_msg(strstr(err, line) != NULL, "stderr lacks '%s': %s", line, err);
    }
    /* A line that can verify is enough (the walk may skip it: the core denies then). The
     * vendor probe declares the flag; the unflagged ones, and the flag where it cannot be
     * read, do not count. */
    static const char *const quiet[] = {
        "dt",           "sub_dt",         "inc_dt",      "sufficient", "done",
        "jump",         "sub_sufficient", "optional",    "ignored",    "public",
        "vendor_other", "vendor_dpop",    "vendor_both", "carry",      "verify_then_sufficient"};
    for (size_t i = 0; i < N(quiet); i++)
        ck_assert_msg(!warns_for(w, quiet[i]), "a warning for %s", quiet[i]);
    ck_assert(warns_for(w, "unflagged") && warns_for(w, "minor0") && warns_for(w, "short"));
    ck_assert_uint_eq(json_array_size(w), N(warned) + 3);
    json_decref(w);
    free(err);
}
END_TEST

START_TEST(check_warns_of_allow)
{
    char *err;
    json_t *w = check_warnings(config_text("unverified_binding = \"allow\";"), &err);
    ck_assert(strstr(json_string_value(json_array_get(w, 0)),
                     "token.unverified_binding = \"allow\"") != NULL);
    ck_assert(strstr(err, "warning: token.unverified_binding = \"allow\"") != NULL);
    ck_assert(warns_for(w, "fhir"));
    ck_assert(strstr(err, "stack fhir: bound tokens are permitted without their binding") != NULL);
    json_decref(w);
    free(err);
}
END_TEST

/* `fhirpam check --module` says which modules verify bindings. */
START_TEST(check_module_says_it_verifies)
{
    static const struct {
        const char *module;
        bool verifies;
    } cases[] = {{"device_trust", true}, {"debug", false}, {"scope_check", false}};
    for (size_t i = 0; i < N(cases); i++) {
        char *out, *err;
        char *argv[] = {(char *)cli(),
                        "check",
                        "--module",
                        (char *)cases[i].module,
                        "--modules-dir",
                        (char *)tu_modules_dir(),
                        NULL};
        ck_assert_int_eq(tu_run(argv, NULL, &out, &err), 0);
        ck_assert_msg((strstr(out, "verifies bindings (FHIRPAM_MODULE_VERIFIES_BINDING)") !=
                       NULL) == cases[i].verifies,
                      "%s: %s", cases[i].module, out);
        free(out);
        free(err);
    }
}
END_TEST

/* ---- the audit line ---- */

START_TEST(audit_line_names_the_binding)
{
    char *t = token("{\"x5t#S256\":\"@X5T@\"}");
    fhirpam_decision_free(ASK("fhir", t));
    fhirpam_close(ctx);
    ctx = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/audit.jsonl", tu_tmpdir());
    char *text = read_whole(path);
    /* The last line: the decision just made. */
    size_t len = strlen(text);
    ck_assert(len > 1 && text[len - 1] == '\n');
    text[len - 1] = '\0';
    const char *last = strrchr(text, '\n') ? strrchr(text, '\n') + 1 : text;
    json_t *v = json_loads(last, 0, NULL);
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(json_string_value(json_object_get(v, "decision")), "deny");
    ck_assert_str_eq(json_string_value(json_object_get(v, "code")), "untrusted_device");
    ck_assert_str_eq(json_string_value(json_object_get(v, "reason")), "unverified_binding");
    ck_assert(strstr(json_string_value(json_object_get(v, "reason_text")), "cnf.x5t#S256") != NULL);
    ck_assert_str_eq(json_string_value(json_object_get(v, "sub")), "user-7");
    ck_assert_ptr_null(strstr(text, t + 40));
    json_decref(v);
    free(text);
    free(t);
}
END_TEST

/* ---- the example configuration ---- */

/* etc/fhirpam.conf with its absolute paths moved into the test's directory. */
static const char *example_config(void)
{
    char src[512];
    snprintf(src, sizeof src, "%s/../../etc/fhirpam.conf", tu_data_dir());
    char *text = read_whole(src);
    static const char *const from[] = {"/etc/fhirpam/jwks.json", "/var/log/fhirpam/decisions.jsonl",
                                       "/var/lib/fhirpam/revoked"};
    char to[3][512];
    snprintf(to[0], sizeof to[0], "%s", jwks_path);
    snprintf(to[1], sizeof to[1], "%s/example-audit.jsonl", tu_tmpdir());
    snprintf(to[2], sizeof to[2], "%s", tu_write("revoked", ""));
    char *out = calloc(1, strlen(text) + 4096);
    size_t n = 0;
    for (const char *p = text; *p != '\0';) {
        size_t k = 0;
        while (k < 3 && strncmp(p, from[k], strlen(from[k])) != 0)
            k++;
        if (k < 3) {
            n += (size_t)sprintf(out + n, "%s", to[k]);
            p += strlen(from[k]);
        } else {
            out[n++] = *p++;
        }
    }
    free(text);
    const char *path = tu_config(out);
    free(out);
    return path;
}

START_TEST(example_configuration_verifies_bindings)
{
    const char *path = example_config();
    /* No warning: its main stack verifies bindings. */
    char *out, *err;
    char *argv[] = {(char *)cli(), "check",         "-c",
                    (char *)path,  "--modules-dir", (char *)tu_modules_dir(),
                    NULL};
    ck_assert_int_eq(tu_run(argv, NULL, &out, &err), 0);
    ck_assert_msg(strstr(out, "\"warnings\":[]") != NULL, "%s %s", out, err);
    free(out);
    free(err);
    fhirpam_error e = {{0}};
    fhirpam_context *ex = fhirpam_open(path, tu_modules_dir(), &e);
    ck_assert_msg(ex != NULL, "%s", e.text);
    char *plain = token(NULL), *tm = token("{\"x5t#S256\":\"@X5T@\"}");
    char *td = token("{\"jkt\":\"@JKT@\"}");
    expect_permit(ask_in(ex, "fhir", plain, (ask_opts){0}), "example: bearer token");
    expect_permit(ask_in(ex, "fhir", tm, (ask_opts){.cert = true}), "example: certificate");
    expect_permit(ask_in(ex, "fhir", td, (ask_opts){.scheme = "DPoP", .proof = true}),
                  "example: DPoP");
    fhirpam_decision *d = ask_in(ex, "fhir", td, (ask_opts){0});
    ck_assert_str_eq(fhirpam_decision_reason(d), "bearer_downgrade");
    ck_assert_str_eq(fhirpam_decision_www_authenticate(d), W_DPOP);
    fhirpam_decision_free(d);
    d = ask_in(ex, "fhir", tm, (ask_opts){0});
    ck_assert_str_eq(fhirpam_decision_reason(d), "no_client_certificate");
    fhirpam_decision_free(d);
    free(plain);
    free(tm);
    free(td);
    fhirpam_close(ex);
}
END_TEST

static Suite *binding_suite(void)
{
    Suite *s = suite_create("binding");
    TCase *tc = tcase_create("rule");
    tcase_add_unchecked_fixture(tc, make_fixtures, NULL);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, table_rows_denied_without_verification, 0, (int)N(table));
    tcase_add_loop_test(tc, more_rows_denied_without_verification, 0, (int)N(more));
    tcase_add_test(tc, a_stack_refusal_is_not_replaced);
    tcase_add_test(tc, credentials_alone_verify_nothing);
    tcase_add_test(tc, verified_bindings_are_permitted);
    tcase_add_test(tc, bearer_tokens_decide_as_before);
    tcase_add_test(tc, bundle_entries_denied_without_verification);
    tcase_add_test(tc, bundle_entries_each_verified);
    tcase_add_test(tc, bundle_verification_does_not_carry_over);
    tcase_add_test(tc, a_vendor_module_can_verify);
    tcase_add_test(tc, reports_need_the_descriptor_flag);
    tcase_add_test(tc, allow_brings_back_the_old_behaviour);
    tcase_add_test(tc, unverified_binding_values_are_checked);
    tcase_add_test(tc, check_warns_per_stack);
    tcase_add_test(tc, check_warns_of_allow);
    tcase_add_test(tc, check_module_says_it_verifies);
    tcase_add_test(tc, audit_line_names_the_binding);
    tcase_add_test(tc, example_configuration_verifies_bindings);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(binding_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
