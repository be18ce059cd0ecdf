/*
 * test_fhirpamd_target.c - fhirpamd's command line and its mapping from the
 * original URI a front end reports to the relative URL and stack fhirpam
 * evaluates (tools/fhirpamd/options.c, target.c): every URI nginx and
 * fhirpam could read differently is refused, routes match at boundaries,
 * and peers are trusted only inside their ranges. And what it concludes
 * from a request's body framing (tools/fhirpamd/body.c): no request whose
 * meaning depends on a body it did not see whole is judged (issue 26).
 */
#include <arpa/inet.h>
#include <check.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "body.h"
#include "options.h"
#include "target.h"

static options opts;

static void setup_options(void)
{
    char *argv[] = {"fhirpamd",
                    "-c",
                    "/dev/null",
                    "--base",
                    "/fhir/r4",
                    "--route",
                    "=fhir",
                    "--route",
                    "metadata=public",
                    "--route",
                    ".well-known/smart-configuration=public",
                    "--route",
                    "Patient/789=bound",
                    "--route",
                    "Binary/=binary",
                    "--trusted-peer",
                    "10.1.0.0/16",
                    "--trusted-peer",
                    "fd00::/8",
                    NULL};
    optind = 0;
    ck_assert_int_eq(options_parse(&opts, (int)(sizeof argv / sizeof argv[0]) - 1, argv), 0);
}

static void teardown_options(void)
{
    options_free(&opts);
}

static const struct {
    const char *uri, *rel, *stack;
} mapped[] = {
    {"/fhir/r4/Patient/123", "Patient/123", "fhir"},
    {"/fhir/r4/Observation?subject=Patient/123&code=a%20b",
     "Observation?subject=Patient/123&code=a%20b", "fhir"},
    {"/fhir/r4/metadata", "metadata", "public"},
    {"/fhir/r4/metadata?_format=json", "metadata?_format=json", "public"},
    {"/fhir/r4/metadataX", "metadataX", "fhir"}, /* not at a boundary */
    {"/fhir/r4/.well-known/smart-configuration", ".well-known/smart-configuration", "public"},
    {"/fhir/r4/Patient/789", "Patient/789", "bound"},
    {"/fhir/r4/Patient/789/_history/2", "Patient/789/_history/2", "bound"},
    {"/fhir/r4/Patient/7890", "Patient/7890", "fhir"},
    {"/fhir/r4/Binary/b1", "Binary/b1", "binary"},
    {"/fhir/r4/Patient/123/%24everything", "Patient/123/$everything", "fhir"},
    {"/fhir/r4/Patient/123/%24", "Patient/123/$", "fhir"},
    {"/fhir/r4", "", "fhir"}, /* the base itself: batch/transaction */
    {"/fhir/r4/", "", "fhir"},
    {"/fhir/r4?_format=json", "?_format=json", "fhir"},
};

START_TEST(maps_uris)
{
    char *rel = NULL;
    const route *r = NULL;
    int no_route = -1;
    ck_assert_msg(target_resolve(&opts, mapped[_i].uri, &rel, &r, &no_route) == 0, "%s",
                  mapped[_i].uri);
    ck_assert_str_eq(rel, mapped[_i].rel);
    ck_assert_str_eq(r->stack, mapped[_i].stack);
    ck_assert_int_eq(no_route, 0);
    free(rel);
}
END_TEST

static const struct {
    const char *uri;
    int no_route;
} refused[] = {
    {"/fhir/r4/Patient/123/../456", 0},
    {"/fhir/r4/Patient/123/..", 0},
    {"/fhir/r4/Patient/./456", 0},
    {"/fhir/r4/./Patient/456", 0},
    {"/fhir/r4/Patient/123/%2e%2e/456", 0},
    {"/fhir/r4/Patient/123/%2E%2E/456", 0},
    {"/fhir/r4/Patient%2F456", 0},
    {"/fhir/r4/%50atient/456", 0},
    {"/fhir/r4//Patient/456", 0},
    {"/fhir/r4/Patient//456", 0},
    {"/fhir/r4/Patient\\456", 0},
    {"/fhir/r4/Patient/456#x", 0},
    {"/fhir/r4/Patient/4\x01"
     "56",
     0},
    {"/fhir/r4/Patient/\xc3\xa9", 0},
    {"/fhir/r4/Observation?subject=Patient/1 23", 0},
    {"http://fhir.test/fhir/r4/Patient/123", 0},
    {"Patient/123", 0},
    {"", 0},
    {"/fhir/r4/Patient/123/%2", 0}, /* a truncated escape */
    {"/fhir/r40/Patient/123", 1},
    {"/fhir/Patient/123", 1},
    {"/other/fhir/r4/Patient/123", 1},
};

START_TEST(refuses_ambiguous_uris)
{
    char *rel = (char *)"unset";
    const route *r = NULL;
    int no_route = -1;
    ck_assert_msg(target_resolve(&opts, refused[_i].uri, &rel, &r, &no_route) == -1, "%s",
                  refused[_i].uri);
    ck_assert_ptr_null(rel);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(no_route, refused[_i].no_route);
}
END_TEST

/* Without a route for "" a path matching no prefix is refused (no_route). */
START_TEST(unrouted_path)
{
    options o;
    char *argv[] = {"fhirpamd", "-c", "/dev/null", "--route", "Patient/=fhir", NULL};
    optind = 0;
    ck_assert_int_eq(options_parse(&o, 5, argv), 0);
    char *rel = NULL;
    const route *r = NULL;
    int no_route = 0;
    ck_assert_int_eq(target_resolve(&o, "/Observation/1", &rel, &r, &no_route), -1);
    ck_assert_int_eq(no_route, 1);
    ck_assert_int_eq(target_resolve(&o, "/Patient/1", &rel, &r, &no_route), 0);
    ck_assert_str_eq(rel, "Patient/1");
    free(rel);
    options_free(&o);
}
END_TEST

static int parse(char **argv)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    options o;
    optind = 0;
    int rc = options_parse(&o, argc, argv);
    options_free(&o);
    return rc;
}

START_TEST(refuses_bad_options)
{
    char *no_route[] = {"fhirpamd", "-c", "x", NULL};
    char *no_config[] = {"fhirpamd", "--route", "=fhir", NULL};
    char *abs_prefix[] = {"fhirpamd", "-c", "x", "--route", "/fhir=fhir", NULL};
    char *dup_prefix[] = {"fhirpamd", "-c", "x", "--route", "=a", "--route", "=b", NULL};
    char *bad_peer[] = {"fhirpamd",       "-c",          "x", "--route", "=a",
                        "--trusted-peer", "10.0.0.0/33", NULL};
    char *bad_listen[] = {"fhirpamd", "-c", "x", "--route", "=a", "--listen", "localhost", NULL};
    char *bad_threads[] = {"fhirpamd", "-c", "x", "--route", "=a", "--threads", "0", NULL};
    char *bad_header[] = {"fhirpamd", "-c", "x", "--route", "=a", "--device-header", "X Y=a", NULL};
    char *bad_base[] = {"fhirpamd", "-c", "x", "--route", "=a", "--base", "fhir", NULL};
    char *extra[] = {"fhirpamd", "-c", "x", "--route", "=a", "stray", NULL};
    char *bad_peer_limit[] = {"fhirpamd", "-c", "x", "--route", "=a", "--peer-connection-limit",
                              "0",        NULL};
    char *bad_request_timeout[] = {"fhirpamd",          "-c", "x", "--route", "=a",
                                   "--request-timeout", "1h", NULL};
    char **all[] = {no_route, no_config,  abs_prefix,     dup_prefix,
                    bad_peer, bad_listen, bad_threads,    bad_header,
                    bad_base, extra,      bad_peer_limit, bad_request_timeout};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ck_assert_msg(parse(all[i]) == -1, "case %zu", i);
    char *help[] = {"fhirpamd", "--help", NULL};
    ck_assert_int_eq(parse(help), 1);
}
END_TEST

static int trusted(const char *addr)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1)
        v4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1)
        v6->sin6_family = AF_INET6;
    else
        return -1;
    return options_peer_trusted(&opts, (struct sockaddr *)&ss);
}

START_TEST(trusts_only_configured_peers)
{
    ck_assert_int_eq(trusted("10.1.2.3"), 1);
    ck_assert_int_eq(trusted("10.1.255.255"), 1);
    ck_assert_int_eq(trusted("10.2.0.1"), 0);
    ck_assert_int_eq(trusted("127.0.0.1"), 0); /* the defaults are replaced */
    ck_assert_int_eq(trusted("::ffff:10.1.0.9"), 1);
    ck_assert_int_eq(trusted("::ffff:10.3.0.9"), 0);
    ck_assert_int_eq(trusted("fd12::1"), 1);
    ck_assert_int_eq(trusted("fe80::1"), 0);
    ck_assert_int_eq(trusted("::1"), 0);
    ck_assert_int_eq(options_peer_trusted(&opts, NULL), 0);
}
END_TEST

START_TEST(default_peers_are_loopback)
{
    options o;
    char *argv[] = {"fhirpamd", "-c", "x", "--route", "=a", NULL};
    optind = 0;
    ck_assert_int_eq(options_parse(&o, 5, argv), 0);
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.2", &v4.sin_addr);
    ck_assert(options_peer_trusted(&o, (struct sockaddr *)&v4));
    inet_pton(AF_INET, "192.168.0.1", &v4.sin_addr);
    ck_assert(!options_peer_trusted(&o, (struct sockaddr *)&v4));
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::1", &v6.sin6_addr);
    ck_assert(options_peer_trusted(&o, (struct sockaddr *)&v6));
    ck_assert_str_eq(o.listen_text, "127.0.0.1:9180");
    options_free(&o);
}
END_TEST

START_TEST(limits_default_and_bound)
{
    options o;
    char *argv[] = {"fhirpamd", "-c", "x", "--route", "=a", "--connection-limit", "100", NULL};
    optind = 0;
    ck_assert_int_eq(options_parse(&o, 7, argv), 0);
    ck_assert_uint_eq(o.request_timeout_seconds, 10);
    ck_assert_uint_eq(o.timeout_seconds, 60);
    /* A peer's share is never more than the whole. */
    ck_assert_uint_eq(o.peer_connection_limit, 100);
    options_free(&o);
}
END_TEST

/* body_framing_of: RFC 9112 section 6.3, failing closed. */
static const struct {
    const char *content_length, *transfer_encoding;
    bool neither_means_none;
    body_presence presence;
    bool length_known;
    uint64_t length;
} framings[] = {
    {NULL, NULL, true, BODY_NONE, false, 0},     /* HTTP/1.1 with neither: no body */
    {NULL, NULL, false, BODY_UNKNOWN, false, 0}, /* a gateway's report of nothing */
    {"", "", false, BODY_UNKNOWN, false, 0},
    {"0", NULL, false, BODY_NONE, true, 0},
    {"000", NULL, false, BODY_NONE, true, 0},
    {"17", NULL, false, BODY_PRESENT, true, 17},
    {"1000000000000", NULL, true, BODY_PRESENT, true, 1000000000000ULL},
    {"0", "chunked", false, BODY_PRESENT, false, 0}, /* Transfer-Encoding wins */
    {NULL, "chunked", true, BODY_PRESENT, false, 0},
    {NULL, "gzip, chunked", true, BODY_PRESENT, false, 0},
    {"5, 5", NULL, false, BODY_PRESENT, false, 0}, /* not 1*DIGIT: unknown length */
    {"-1", NULL, false, BODY_PRESENT, false, 0},
    {"+3", NULL, false, BODY_PRESENT, false, 0},
    {" 3", NULL, false, BODY_PRESENT, false, 0},
    {"3 ", NULL, false, BODY_PRESENT, false, 0},
    {"0x10", NULL, false, BODY_PRESENT, false, 0},
    {"99999999999999999999999", NULL, false, BODY_PRESENT, false, 0}, /* overflows */
};

START_TEST(reads_body_framing)
{
    body_framing f = body_framing_of(framings[_i].content_length, framings[_i].transfer_encoding,
                                     framings[_i].neither_means_none);
    ck_assert_msg(f.presence == framings[_i].presence, "case %d: presence %d", _i, f.presence);
    ck_assert_int_eq(f.length_known, framings[_i].length_known);
    if (f.length_known)
        ck_assert_uint_eq(f.length, framings[_i].length);
}
END_TEST

/* body_judge: what can be judged with what was passed of the body. NULL
 * reason: judged. */
static const struct {
    const char *method;
    body_presence presence;
    body_view view;
    bool envoy;
    const char *reason;
} judged[] = {
    /* No body: everything is judged on its URL. */
    {"GET", BODY_NONE, BODY_VIEW_NONE, false, NULL},
    {"POST", BODY_NONE, BODY_VIEW_NONE, false, NULL},
    {"PUT", BODY_NONE, BODY_VIEW_NONE, false, NULL},
    {"PATCH", BODY_NONE, BODY_VIEW_NONE, true, NULL},
    /* auth_request: a body that was not passed. */
    {"POST", BODY_PRESENT, BODY_VIEW_NONE, false, "body_not_seen"},
    {"PUT", BODY_PRESENT, BODY_VIEW_NONE, false, "body_not_seen"},
    {"PATCH", BODY_PRESENT, BODY_VIEW_NONE, false, "body_not_seen"},
    {"PROPFIND", BODY_PRESENT, BODY_VIEW_NONE, false, "body_not_seen"}, /* not FHIR: reads it */
    {"POST", BODY_UNKNOWN, BODY_VIEW_NONE, false, "body_unknown"},
    {"PUT", BODY_UNKNOWN, BODY_VIEW_NONE, false, "body_unknown"},
    /* Envoy: whole is judged, cut or missing is not. */
    {"POST", BODY_PRESENT, BODY_VIEW_WHOLE, true, NULL},
    {"PUT", BODY_PRESENT, BODY_VIEW_WHOLE, true, NULL},
    {"POST", BODY_PRESENT, BODY_VIEW_PARTIAL, true, "body_partial"},
    {"PATCH", BODY_PRESENT, BODY_VIEW_PARTIAL, true, "body_partial"},
    {"POST", BODY_UNKNOWN, BODY_VIEW_NONE, true, "body_unknown"},
    /* GET, HEAD, DELETE: a known body is refused, even passed whole; an
     * unknown one cannot change what the request means. */
    {"GET", BODY_PRESENT, BODY_VIEW_NONE, false, "body_not_allowed"},
    {"HEAD", BODY_PRESENT, BODY_VIEW_NONE, false, "body_not_allowed"},
    {"DELETE", BODY_PRESENT, BODY_VIEW_NONE, false, "body_not_allowed"},
    {"GET", BODY_PRESENT, BODY_VIEW_WHOLE, true, "body_not_allowed"},
    {"DELETE", BODY_PRESENT, BODY_VIEW_PARTIAL, true, "body_not_allowed"},
    {"GET", BODY_UNKNOWN, BODY_VIEW_NONE, false, NULL},
    {"DELETE", BODY_UNKNOWN, BODY_VIEW_NONE, true, NULL},
};

START_TEST(judges_only_bodies_seen_whole)
{
    const body_refusal *r =
        body_judge(judged[_i].method, judged[_i].presence, judged[_i].view, judged[_i].envoy);
    if (judged[_i].reason == NULL) {
        ck_assert_msg(r == NULL, "case %d (%s): refused as %s", _i, judged[_i].method,
                      r ? r->reason : "");
        return;
    }
    ck_assert_msg(r != NULL, "case %d (%s): judged", _i, judged[_i].method);
    ck_assert_str_eq(r->reason, judged[_i].reason);
    ck_assert_uint_eq(r->status, 403);
    ck_assert(r->code != FHIRPAM_SUCCESS && r->code != FHIRPAM_IGNORE);
    /* Every refusal of an unjudged body names what can judge it. */
    if (strcmp(r->reason, "body_not_allowed") != 0)
        ck_assert_ptr_nonnull(strstr(r->text, judged[_i].envoy ? "with_request_body" : "Envoy"));
    if (strcmp(r->reason, "body_not_seen") == 0 || strcmp(r->reason, "body_unknown") == 0) {
        if (!judged[_i].envoy)
            ck_assert_ptr_nonnull(strstr(r->text, "nginx module"));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fhirpamd_target");
    TCase *t = tcase_create("target");
    tcase_add_checked_fixture(t, setup_options, teardown_options);
    tcase_add_loop_test(t, maps_uris, 0, sizeof mapped / sizeof mapped[0]);
    tcase_add_loop_test(t, refuses_ambiguous_uris, 0, sizeof refused / sizeof refused[0]);
    tcase_add_test(t, unrouted_path);
    tcase_add_test(t, refuses_bad_options);
    tcase_add_test(t, trusts_only_configured_peers);
    tcase_add_test(t, default_peers_are_loopback);
    tcase_add_test(t, limits_default_and_bound);
    tcase_add_loop_test(t, reads_body_framing, 0, sizeof framings / sizeof framings[0]);
    tcase_add_loop_test(t, judges_only_bodies_seen_whole, 0, sizeof judged / sizeof judged[0]);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
