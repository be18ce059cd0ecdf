/*
 * test_host.c - what a host tells the core about itself (issue 29, row 12):
 * that it cannot check responses (FHIRPAM_REQUEST_NO_RESPONSE_CHECK, so a
 * permit with obligations is a deny, and audited as one), and the refusals it
 * made without running a stack (fhirpam_audit_host_refusal), each audited
 * with the decision the host actually answers.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mint.h"
#include "testutil.h"

#define NOW 1800000000

static EVP_PKEY *signing_key;
static char audit_path[600];

/* Patient 123's token (scope patient/ *.rs) in *bearer, and a context whose stack
 * `s` is scope_check + patient_link with unresolved = "check_response" (a
 * read by id is permitted with a patient_compartment obligation), auditing
 * to a fresh file; audit may override the audit group. */
static fhirpam_context *open_context(const char *audit, char *bearer, size_t len)
{
    if (signing_key == NULL)
        signing_key = mint_keygen("ES256", 0);
    json_t *set = json_pack("{s:[o]}", "keys", mint_public_jwk(signing_key, "k1", "ES256"));
    char *jwks = json_dumps(set, 0);
    const char *jwks_path = tu_write("jwks.json", jwks);
    free(jwks);
    json_decref(set);
    snprintf(audit_path, sizeof audit_path, "%s/decisions.jsonl", tu_tmpdir());
    unlink(audit_path);
    char group[800];
    snprintf(group, sizeof group, "audit: { sink = \"file\"; path = \"%s\"; required = true; };",
             audit_path);
    char conf[2400];
    snprintf(conf, sizeof conf,
             "token: { issuer = \"https://ehr\"; audience = \"https://fhir\"; jwks = \"%s\"; "
             "algorithms = [\"ES256\"]; };\n%s\n"
             "stacks: { s = ( { control = \"requisite\"; module = \"scope_check\"; },\n"
             " { control = \"required\"; module = \"patient_link\"; args = { unresolved = "
             "\"check_response\"; }; } ); };",
             jwks_path, audit ? audit : group);
    char *token = mint_token(signing_key, "ES256", "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
                             "{\"iss\":\"https://ehr\",\"aud\":\"https://fhir\",\"exp\":"
                             "1800000600,\"sub\":\"user-7\",\"jti\":\"j-7\",\"patient\":\"123\","
                             "\"scope\":\"patient/*.rs\"}");
    snprintf(bearer, len, "Bearer %s", token);
    free(token);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(conf, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    return ctx;
}

static fhirpam_request *get(const char *url, const char *bearer)
{
    fhirpam_request *req = fhirpam_request_new("GET", url);
    if (bearer != NULL)
        fhirpam_request_add_header(req, "Authorization", bearer);
    fhirpam_request_set_time(req, NOW);
    return req;
}

/* The audit file's records, in order (a JSON array; the caller frees). */
static json_t *audit_records(void)
{
    FILE *f = fopen(audit_path, "r");
    ck_assert_ptr_nonnull(f);
    json_t *all = json_array();
    char line[1 << 14];
    while (fgets(line, sizeof line, f) != NULL) {
        json_error_t jerr;
        json_t *v = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
        ck_assert_msg(v != NULL, "audit line is not JSON: %s (%s)", line, jerr.text);
        json_array_append_new(all, v);
    }
    fclose(f);
    return all;
}

static const char *str(const json_t *record, const char *key)
{
    return json_string_value(json_object_get(record, key));
}

START_TEST(no_response_check_turns_obligations_into_a_deny)
{
    char bearer[2048];
    fhirpam_context *ctx = open_context(NULL, bearer, sizeof bearer);

    /* A host that checks responses gets the permit and its obligation. */
    fhirpam_request *req = get("Observation/1", bearer);
    fhirpam_decision *d = fhirpam_authorize(ctx, "s", req);
    ck_assert_int_eq(fhirpam_decision_permitted(d), 1);
    ck_assert_uint_eq(fhirpam_decision_obligation_count(d), 1);
    fhirpam_decision_free(d);

    /* One that cannot gets a deny, and the record says so. */
    ck_assert_int_eq(fhirpam_request_set_flags(req, FHIRPAM_REQUEST_NO_RESPONSE_CHECK), 0);
    d = fhirpam_authorize(ctx, "s", req);
    ck_assert_int_eq(fhirpam_decision_permitted(d), 0);
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_DENY);
    ck_assert_str_eq(fhirpam_decision_reason(d), "obligations_unenforceable");
    ck_assert_int_eq(fhirpam_decision_http_status(d), 403);
    ck_assert_uint_eq(fhirpam_decision_obligation_count(d), 0);
    ck_assert_ptr_nonnull(strstr(fhirpam_decision_reason_text(d), "patient_compartment"));
    ck_assert_uint_eq(fhirpam_decision_trace_count(d), 2); /* the modules that ran */
    char id[64];
    snprintf(id, sizeof id, "%s", fhirpam_decision_id(d));
    fhirpam_decision_free(d);
    fhirpam_request_free(req);

    /* A permit without obligations is untouched by the flag. */
    req = get("Patient/123", bearer);
    fhirpam_request_set_flags(req, FHIRPAM_REQUEST_NO_RESPONSE_CHECK);
    d = fhirpam_authorize(ctx, "s", req);
    ck_assert_int_eq(fhirpam_decision_permitted(d), 1);
    fhirpam_decision_free(d);
    fhirpam_request_free(req);
    fhirpam_close(ctx);

    json_t *records = audit_records();
    ck_assert_uint_eq(json_array_size(records), 3);
    const json_t *r = json_array_get(records, 0);
    ck_assert_str_eq(str(r, "decision"), "permit");
    ck_assert_uint_eq(json_array_size(json_object_get(r, "obligations")), 1);
    r = json_array_get(records, 1);
    ck_assert_str_eq(str(r, "id"), id);
    ck_assert_str_eq(str(r, "decision"), "deny");
    ck_assert_str_eq(str(r, "code"), "deny");
    ck_assert_str_eq(str(r, "reason"), "obligations_unenforceable");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "http_status")), 403);
    ck_assert_uint_eq(json_array_size(json_object_get(r, "obligations")), 0);
    ck_assert_str_eq(str(r, "patient"), "123");
    ck_assert_str_eq(str(json_array_get(records, 2), "decision"), "permit");
    json_decref(records);
}
END_TEST

/* A GET that carries X-HTTP-Method-Override: DELETE is a delete to every
 * server or framework that honours the header (Express method-override,
 * Symfony, JAX-RS filters), and a read to the request model. What cannot be
 * read the same way is refused, whatever the header's spelling or value. */
START_TEST(method_override_headers_refused)
{
    char bearer[2048];
    fhirpam_context *ctx = open_context(NULL, bearer, sizeof bearer);
    fhirpam_request *req = get("Patient/123", bearer);
    fhirpam_decision *d = fhirpam_authorize(ctx, "s", req);
    ck_assert_int_eq(fhirpam_decision_permitted(d), 1); /* the read alone */
    fhirpam_decision_free(d);
    fhirpam_request_free(req);
    static const char *const names[] = {"X-HTTP-Method-Override", "x-http-method-override",
                                        "X-HTTP-Method", "X-Method-Override"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        req = get("Patient/123", bearer);
        fhirpam_request_add_header(req, names[i], i % 2 ? "GET" : "DELETE");
        d = fhirpam_authorize(ctx, "s", req);
        ck_assert_msg(fhirpam_decision_permitted(d) == 0, "%s permitted", names[i]);
        ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_INVALID_REQUEST);
        ck_assert_str_eq(fhirpam_decision_reason(d), "method_override");
        fhirpam_decision_free(d);
        fhirpam_request_free(req);
    }
    fhirpam_close(ctx);
}
END_TEST

START_TEST(unknown_flags_refused)
{
    fhirpam_request *req = fhirpam_request_new("GET", "Patient/1");
    ck_assert_int_eq(fhirpam_request_set_flags(req, 0x2u), -1);
    ck_assert_int_eq(fhirpam_request_set_flags(req, FHIRPAM_REQUEST_NO_RESPONSE_CHECK | 0x80u), -1);
    ck_assert_int_eq(fhirpam_request_set_flags(NULL, 0), -1);
    ck_assert_int_eq(fhirpam_request_set_flags(req, 0), 0);
    fhirpam_request_free(req);
}
END_TEST

START_TEST(refusal_without_request_is_audited)
{
    char bearer[2048];
    fhirpam_context *ctx = open_context(NULL, bearer, sizeof bearer);
    fhirpam_decision *a = fhirpam_audit_host_refusal(
        ctx, NULL, NULL, FHIRPAM_DENY, 403, "untrusted_peer",
        "connection from 192.0.2.7 refused at accept: not a trusted peer");
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(fhirpam_decision_permitted(a), 0);
    ck_assert_int_eq(fhirpam_decision_code(a), FHIRPAM_DENY);
    ck_assert_int_eq(fhirpam_decision_http_status(a), 403);
    ck_assert_str_eq(fhirpam_decision_module(a), "");
    ck_assert_str_eq(fhirpam_decision_reason(a), "untrusted_peer");
    ck_assert_ptr_nonnull(strstr(fhirpam_decision_reason_text(a), "192.0.2.7"));
    ck_assert_ptr_null(fhirpam_decision_www_authenticate(a));
    ck_assert_uint_eq(fhirpam_decision_trace_count(a), 0);
    ck_assert_uint_eq(fhirpam_decision_obligation_count(a), 0);
    ck_assert_str_ne(fhirpam_decision_id(a), "");

    /* The host's own status is recorded; 0 (or one that is not an error
     * status) means the code's. */
    fhirpam_decision *b = fhirpam_audit_host_refusal(ctx, "s", NULL, FHIRPAM_ERROR, 500,
                                                     "missing_original_request", NULL);
    fhirpam_decision *c = fhirpam_audit_host_refusal(ctx, "s", NULL, FHIRPAM_INVALID_REQUEST, 0,
                                                     "uri_refused", "a dot segment");
    fhirpam_decision *e = fhirpam_audit_host_refusal(ctx, NULL, NULL, FHIRPAM_INVALID_REQUEST, 200,
                                                     "bad_status", NULL);
    ck_assert_int_eq(fhirpam_decision_http_status(b), 500);
    ck_assert_str_eq(fhirpam_decision_reason_text(b), "");
    ck_assert_int_eq(fhirpam_decision_http_status(c), 400);
    ck_assert_ptr_null(fhirpam_decision_www_authenticate(c)); /* not about the token */
    ck_assert_int_eq(fhirpam_decision_http_status(e), 400);
    ck_assert_str_ne(fhirpam_decision_id(a), fhirpam_decision_id(b));

    /* A refusal is never a permit, whatever code the host passes. */
    fhirpam_decision *f = fhirpam_audit_host_refusal(ctx, NULL, NULL, FHIRPAM_SUCCESS, 0, "x", "");
    fhirpam_decision *g = fhirpam_audit_host_refusal(ctx, NULL, NULL, FHIRPAM_IGNORE, 403, "y", "");
    fhirpam_decision *h =
        fhirpam_audit_host_refusal(ctx, NULL, NULL, (fhirpam_code)99, 403, "z", "");
    ck_assert_int_eq(fhirpam_decision_permitted(f), 0);
    ck_assert_int_eq(fhirpam_decision_code(f), FHIRPAM_ERROR);
    ck_assert_int_eq(fhirpam_decision_http_status(f), 500);
    ck_assert_int_eq(fhirpam_decision_code(g), FHIRPAM_ERROR);
    ck_assert_int_eq(fhirpam_decision_code(h), FHIRPAM_ERROR);
    ck_assert_ptr_null(fhirpam_audit_host_refusal(NULL, NULL, NULL, FHIRPAM_DENY, 403, "x", ""));

    json_t *records = audit_records();
    ck_assert_uint_eq(json_array_size(records), 7);
    const json_t *r = json_array_get(records, 0);
    ck_assert_str_eq(str(r, "id"), fhirpam_decision_id(a));
    ck_assert_str_eq(str(r, "refused_by"), "host");
    ck_assert_str_eq(str(r, "decision"), "deny");
    ck_assert_str_eq(str(r, "code"), "deny");
    ck_assert_str_eq(str(r, "reason"), "untrusted_peer");
    ck_assert_str_eq(str(r, "stack"), "");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "http_status")), 403);
    ck_assert(json_is_null(json_object_get(r, "sub")));
    ck_assert_uint_eq(json_array_size(json_object_get(r, "trace")), 0);
    r = json_array_get(records, 1);
    ck_assert_str_eq(str(r, "stack"), "s");
    ck_assert_str_eq(str(r, "code"), "error");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "http_status")), 500);
    r = json_array_get(records, 4);
    ck_assert_str_eq(str(r, "code"), "error");
    ck_assert_str_eq(str(r, "decision"), "deny");
    json_decref(records);

    fhirpam_decision *all[] = {a, b, c, e, f, g, h};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        fhirpam_decision_free(all[i]);
    fhirpam_close(ctx);
}
END_TEST

START_TEST(refusal_names_a_verified_token_only)
{
    char bearer[2048];
    fhirpam_context *ctx = open_context(NULL, bearer, sizeof bearer);
    fhirpam_request *req = get("Observation/_search", bearer);
    fhirpam_decision *d = fhirpam_audit_host_refusal(
        ctx, "s", req, FHIRPAM_DENY, 403, "body_not_seen", "auth_request never passes the body");
    ck_assert_ptr_nonnull(d);
    fhirpam_decision_free(d);
    fhirpam_request_free(req);

    /* The same claims under a broken signature name nobody. */
    char tampered[2048];
    snprintf(tampered, sizeof tampered, "%s", bearer);
    size_t n = strlen(tampered);
    tampered[n - 2] = tampered[n - 2] == 'A' ? 'B' : 'A';
    req = get("Observation/_search", tampered);
    d = fhirpam_audit_host_refusal(ctx, "s", req, FHIRPAM_DENY, 403, "body_not_seen", "");
    fhirpam_decision_free(d);
    fhirpam_request_free(req);
    fhirpam_close(ctx);

    json_t *records = audit_records();
    ck_assert_uint_eq(json_array_size(records), 2);
    const json_t *r = json_array_get(records, 0);
    ck_assert_str_eq(str(r, "iss"), "https://ehr");
    ck_assert_str_eq(str(r, "sub"), "user-7");
    ck_assert_str_eq(str(r, "jti"), "j-7");
    ck_assert_str_eq(str(r, "patient"), "123");
    ck_assert_ptr_nonnull(strstr(str(r, "time"), "2027-01-15")); /* the request's time */
    r = json_array_get(records, 1);
    ck_assert(json_is_null(json_object_get(r, "sub")));
    ck_assert(json_is_null(json_object_get(r, "iss")));
    json_decref(records);
}
END_TEST

START_TEST(refusal_unrecorded_under_required_is_an_error)
{
    char bearer[2048];
    fhirpam_context *ctx =
        open_context("audit: { sink = \"file\"; path = \"/dev/full\"; required = true; };", bearer,
                     sizeof bearer);
    fhirpam_decision *d =
        fhirpam_audit_host_refusal(ctx, NULL, NULL, FHIRPAM_DENY, 403, "untrusted_peer", "");
    ck_assert_int_eq(fhirpam_decision_permitted(d), 0);
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_ERROR);
    ck_assert_str_eq(fhirpam_decision_reason(d), "audit_write_failed");
    ck_assert_int_eq(fhirpam_decision_http_status(d), 500);
    fhirpam_decision_free(d);

    /* ... and so is the obligations deny of a host that cannot check. */
    fhirpam_request *req = get("Observation/1", bearer);
    fhirpam_request_set_flags(req, FHIRPAM_REQUEST_NO_RESPONSE_CHECK);
    d = fhirpam_authorize(ctx, "s", req);
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_ERROR);
    ck_assert_str_eq(fhirpam_decision_reason(d), "audit_write_failed");
    fhirpam_decision_free(d);
    fhirpam_request_free(req);
    fhirpam_close(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("host");
    TCase *tc = tcase_create("host");
    tcase_add_test(tc, no_response_check_turns_obligations_into_a_deny);
    tcase_add_test(tc, method_override_headers_refused);
    tcase_add_test(tc, unknown_flags_refused);
    tcase_add_test(tc, refusal_without_request_is_audited);
    tcase_add_test(tc, refusal_names_a_verified_token_only);
    tcase_add_test(tc, refusal_unrecorded_under_required_is_an_error);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    EVP_PKEY_free(signing_key);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
