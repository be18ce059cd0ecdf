/*
 * test_revocation.c - the revocation module (issue 6, revocation.md): every
 * rule kind, cut-offs in both orders (the Keycloak bugs), iat equal to T,
 * missing jti or iat, issuer scoping; the deny list format; reloads while
 * threads authorize, a corrupt line, a truncated file, and `fhirpam revoke`
 * appending while the module re-reads.
 */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "denylist.h"
#include "mint.h"
#include "modtest.h"
#include "testutil.h"

#define ISS  "https://ehr.example.org"
#define ISS2 "https://other.example.net"

static int64_t real_now;

static const char *denylist_path(void)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/denylist", tu_tmpdir());
    return path;
}

/* Replaces the deny list atomically (write beside, rename), as an editor or
 * `compact` would. */
static void write_denylist(const char *text)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.new", denylist_path());
    FILE *f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    chmod(tmp, 0644);
    ck_assert_int_eq(rename(tmp, denylist_path()), 0);
}

static modtest *open_module(fhirpam_error *err)
{
    char args[700];
    snprintf(args, sizeof args, "{ denylist = \"%s\"; check_interval_ms = 10; }", denylist_path());
    return modtest_open("revocation", args, err);
}

/* Claims for a token issued at iat (or without iat when iat < 0). */
static const char *claims(const char *iss, const char *jti, const char *sub, const char *client,
                          const char *sid, int64_t iat)
{
    static char buf[1024];
    size_t n = (size_t)snprintf(buf, sizeof buf, "{\"iss\":\"%s\",\"exp\":%lld", iss,
                                (long long)(real_now + 3600));
    if (jti)
        n += (size_t)snprintf(buf + n, sizeof buf - n, ",\"jti\":\"%s\"", jti);
    if (sub)
        n += (size_t)snprintf(buf + n, sizeof buf - n, ",\"sub\":\"%s\"", sub);
    if (client)
        n += (size_t)snprintf(buf + n, sizeof buf - n, ",\"client_id\":\"%s\"", client);
    if (sid)
        n += (size_t)snprintf(buf + n, sizeof buf - n, ",\"sid\":\"%s\"", sid);
    if (iat >= 0)
        n += (size_t)snprintf(buf + n, sizeof buf - n, ",\"iat\":%lld", (long long)iat);
    snprintf(buf + n, sizeof buf - n, "}");
    return buf;
}

static modtest_result run(modtest *m, const char *claims_text)
{
    modtest_request req = {.claims = claims_text, .now = real_now};
    return modtest_run(m, &req);
}

/* ---- rules, one deny list per case ---- */

typedef struct rule_case {
    const char *name;
    const char *list; /* %T: the cut-off time, %E: a future expiry */
    const char *iss, *jti, *sub, *client, *sid;
    int iat_offset; /* iat = T + offset; 999: no iat */
    fhirpam_code code;
    const char *reason; /* NULL for success */
} rule_case;

#define NO_IAT 999

static const rule_case cases[] = {
    {"jti hit", "jti " ISS " j1 %E\n", ISS, "j1", "u1", "c1", NULL, 0, FHIRPAM_REVOKED,
     "revoked_jti"},
    {"jti other", "jti " ISS " j1 %E\n", ISS, "j2", "u1", "c1", NULL, 0, FHIRPAM_SUCCESS, NULL},
    {"jti other issuer", "jti " ISS " j1 %E\n", ISS2, "j1", "u1", "c1", NULL, 0, FHIRPAM_SUCCESS,
     NULL},
    {"jti missing", "jti " ISS " j1 %E\n", ISS, NULL, "u1", "c1", NULL, 0, FHIRPAM_REVOKED,
     "missing_jti"},
    {"jti missing, no jti rules", "sub " ISS " u9 %T\n", ISS, NULL, "u1", "c1", NULL, 0,
     FHIRPAM_SUCCESS, NULL},
    {"jti escaped", "jti " ISS " a%20b %E\n", ISS, "a b", "u1", "c1", NULL, 0, FHIRPAM_REVOKED,
     "revoked_jti"},
    /* Cut-offs: iat T-1 and T revoked, T+1 not. */
    {"sub T-1", "sub " ISS " u1 %T\n", ISS, "j", "u1", "c1", NULL, -1, FHIRPAM_REVOKED,
     "revoked_before"},
    {"sub T", "sub " ISS " u1 %T\n", ISS, "j", "u1", "c1", NULL, 0, FHIRPAM_REVOKED,
     "revoked_before"},
    {"sub T+1", "sub " ISS " u1 %T\n", ISS, "j", "u1", "c1", NULL, 1, FHIRPAM_SUCCESS, NULL},
    {"sub other issuer", "sub " ISS " u1 %T\n", ISS2, "j", "u1", "c1", NULL, 0, FHIRPAM_SUCCESS,
     NULL},
    {"sub other subject", "sub " ISS " u1 %T\n", ISS, "j", "u2", "c1", NULL, 0, FHIRPAM_SUCCESS,
     NULL},
    {"sub no iat", "sub " ISS " u1 %T\n", ISS, "j", "u1", "c1", NULL, NO_IAT, FHIRPAM_REVOKED,
     "missing_iat"},
    {"no cut-off applies, no iat", "sub " ISS " u9 %T\n", ISS, "j", "u1", "c1", NULL, NO_IAT,
     FHIRPAM_SUCCESS, NULL},
    {"client", "client " ISS " c1 %T\n", ISS, "j", "u1", "c1", NULL, 0, FHIRPAM_REVOKED,
     "revoked_before"},
    {"client T+1", "client " ISS " c1 %T\n", ISS, "j", "u1", "c1", NULL, 1, FHIRPAM_SUCCESS, NULL},
    {"subclient", "subclient " ISS " u1 c1 %T\n", ISS, "j", "u1", "c1", NULL, 0, FHIRPAM_REVOKED,
     "revoked_before"},
    {"subclient other client", "subclient " ISS " u1 c1 %T\n", ISS, "j", "u1", "c2", NULL, 0,
     FHIRPAM_SUCCESS, NULL},
    {"subclient no client", "subclient " ISS " u1 c1 %T\n", ISS, "j", "u1", NULL, NULL, 0,
     FHIRPAM_SUCCESS, NULL},
    {"sid", "sid " ISS " s1 %T\n", ISS, "j", "u1", "c1", "s1", 0, FHIRPAM_REVOKED,
     "revoked_before"},
    {"sid other", "sid " ISS " s1 %T\n", ISS, "j", "u1", "c1", "s2", 0, FHIRPAM_SUCCESS, NULL},
    {"issuer", "issuer " ISS " %T\n", ISS, "j", "u1", "c1", NULL, 0, FHIRPAM_REVOKED,
     "revoked_before"},
    {"issuer other", "issuer " ISS " %T\n", ISS2, "j", "u1", "c1", NULL, 0, FHIRPAM_SUCCESS, NULL},
    /* Several cut-offs: the latest decides, in both orders (CVE-2026-8922:
     * an older client cut-off hid a newer realm one; CVE-2026-18218: an older
     * realm cut-off hid a newer client one). iat is between the two. */
    {"issuer older, client newer", "issuer " ISS " %t\nclient " ISS " c1 %T\n", ISS, "j", "u1",
     "c1", NULL, -5, FHIRPAM_REVOKED, "revoked_before"},
    {"client older, issuer newer", "client " ISS " c1 %t\nissuer " ISS " %T\n", ISS, "j", "u1",
     "c1", NULL, -5, FHIRPAM_REVOKED, "revoked_before"},
    {"sub older, subclient newer", "sub " ISS " u1 %t\nsubclient " ISS " u1 c1 %T\n", ISS, "j",
     "u1", "c1", NULL, -5, FHIRPAM_REVOKED, "revoked_before"},
    {"both older", "client " ISS " c1 %t\nissuer " ISS " %t\n", ISS, "j", "u1", "c1", NULL, -5,
     FHIRPAM_SUCCESS, NULL},
    /* The same key twice: the later time stands, whichever line comes first. */
    {"same key, later last", "sub " ISS " u1 %t\nsub " ISS " u1 %T\n", ISS, "j", "u1", "c1", NULL,
     -5, FHIRPAM_REVOKED, "revoked_before"},
    {"same key, later first", "sub " ISS " u1 %T\nsub " ISS " u1 %t\n", ISS, "j", "u1", "c1", NULL,
     -5, FHIRPAM_REVOKED, "revoked_before"},
};

/* Expands %T (the cut-off), %t (ten seconds earlier) and %E (an expiry an
 * hour away). */
static void expand(const char *list, int64_t t, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *p = list; *p && n + 24 < outlen; p++) {
        if (p[0] == '%' && (p[1] == 'T' || p[1] == 't' || p[1] == 'E')) {
            long long v = p[1] == 'T' ? t : p[1] == 't' ? t - 10 : real_now + 3600;
            n += (size_t)snprintf(out + n, outlen - n, "%lld", v);
            p++;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

START_TEST(rule_table)
{
    const rule_case *c = &cases[_i];
    int64_t t = real_now - 100;
    char list[1024];
    expand(c->list, t, list, sizeof list);
    write_denylist(list);
    fhirpam_error err = {{0}};
    modtest *m = open_module(&err);
    ck_assert_msg(m != NULL, "%s", err.text);
    int64_t iat = c->iat_offset == NO_IAT ? -1 : t + c->iat_offset;
    modtest_result r = run(m, claims(c->iss, c->jti, c->sub, c->client, c->sid, iat));
    ck_assert_msg(r.code == c->code, "%s: got %s (%s)", c->name, fhirpam_code_name(r.code),
                  r.reason_text);
    if (c->reason != NULL)
        ck_assert_str_eq(r.reason, c->reason);
    /* The reason names the rule, never the token's values. */
    if (c->code == FHIRPAM_REVOKED) {
        ck_assert_msg(strstr(r.reason_text, "rule ") != NULL, "%s", r.reason_text);
        ck_assert_ptr_null(strstr(r.reason_text, "u1"));
    }
    /* The latest cut-off is the one named. */
    if (strstr(c->name, "newer") != NULL) {
        const char *newest = strstr(c->name, "subclient newer") ? "rule subclient:"
                             : strstr(c->name, "client newer")  ? "rule client:"
                                                                : "rule issuer:";
        ck_assert_msg(strstr(r.reason_text, newest) != NULL, "%s: %s", c->name, r.reason_text);
    }
    modtest_close(m);
}
END_TEST

START_TEST(bad_claim_types)
{
    write_denylist("sub " ISS " u1 1\n");
    fhirpam_error err = {{0}};
    modtest *m = open_module(&err);
    ck_assert_msg(m != NULL, "%s", err.text);
    modtest_result r = run(m, "{\"iss\":\"" ISS "\",\"sub\":7,\"iat\":1}");
    ck_assert_int_eq(r.code, FHIRPAM_REVOKED);
    ck_assert_str_eq(r.reason, "bad_claim");
    modtest_request none = {.claims = NULL, .now = real_now};
    r = modtest_run(m, &none);
    ck_assert_int_eq(r.code, FHIRPAM_DENY);
    modtest_close(m);
}
END_TEST

/* ---- the file format ---- */

START_TEST(format_round_trip)
{
    rule r = {RULE_SUBCLIENT, "https://ehr.example.org/a b", "user%1", "client\t2", 1234};
    char line[512];
    size_t n = rule_format(&r, line, sizeof line);
    ck_assert_str_eq(line, "subclient https://ehr.example.org/a%20b user%251 client%092 1234\n");
    line[n - 1] = '\0';
    rule back;
    char err[128];
    ck_assert_int_eq(rule_parse(line, &back, err, sizeof err), 1);
    ck_assert_int_eq(back.kind, RULE_SUBCLIENT);
    ck_assert_str_eq(back.iss, r.iss);
    ck_assert_str_eq(back.key1, r.key1);
    ck_assert_str_eq(back.key2, r.key2);
    ck_assert_int_eq(back.time, 1234);
}
END_TEST

static const struct {
    const char *line;
    const char *message;
} bad_lines[] = {
    {"revoke " ISS " x 1", "unknown rule"},       {"jti " ISS " x", "has 4 fields, not 3"},
    {"sub " ISS " u 1 2", "has 4 fields, not 5"}, {"jti " ISS " x -1", "not a time"},
    {"jti " ISS " x 1e9", "not a time"},          {"jti " ISS " x 99999999999999", "not a time"},
    {"jti " ISS " a%2 1", "bad %-escape"},        {"jti " ISS " a%00b 1", "bad %-escape"},
    {"issuer " ISS, "has 3 fields, not 2"},
};

START_TEST(format_refusals)
{
    char line[256], err[160];
    snprintf(line, sizeof line, "%s", bad_lines[_i].line);
    rule r;
    ck_assert_int_eq(rule_parse(line, &r, err, sizeof err), -1);
    ck_assert_msg(strstr(err, bad_lines[_i].message) != NULL, "'%s': %s", bad_lines[_i].line, err);
}
END_TEST

START_TEST(load_reports_line_and_drops_dead_rules)
{
    char text[1024];
    snprintf(text, sizeof text,
             "# a comment\n\njti " ISS " live %lld\njti " ISS " dead %lld\nsub " ISS
             " u1 %lld\nsub " ISS " u2 %lld\n",
             (long long)real_now + 60, (long long)real_now - 1000, (long long)real_now,
             (long long)real_now - 200000);
    write_denylist(text);
    denylist_limits limits = {real_now, 60, 86400};
    char err[512];
    denylist *l = denylist_load(denylist_path(), &limits, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    ck_assert_uint_eq(denylist_size(l), 2); /* dead jti and the old cut-off dropped */
    int64_t t;
    ck_assert(denylist_find(l, RULE_JTI, ISS, "live", NULL, &t));
    ck_assert(!denylist_find(l, RULE_JTI, ISS, "dead", NULL, &t));
    ck_assert(!denylist_find(l, RULE_SUB, ISS, "u2", NULL, &t));
    denylist_free(l);

    write_denylist("jti " ISS " a 4102444800\nbogus\n");
    ck_assert_ptr_null(denylist_load(denylist_path(), &limits, err, sizeof err));
    char want[600];
    snprintf(want, sizeof want, "%s:2: unknown rule", denylist_path());
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);

    write_denylist("jti " ISS " a 4102444800\njti " ISS " b 41024");
    ck_assert_ptr_null(denylist_load(denylist_path(), &limits, err, sizeof err));
    ck_assert_msg(strstr(err, ":2: the last line has no newline") != NULL, "%s", err);

    write_denylist("jti " ISS " a 4102444800\n");
    chmod(denylist_path(), 0666);
    ck_assert_ptr_null(denylist_load(denylist_path(), &limits, err, sizeof err));
    ck_assert_msg(strstr(err, "world-writable") != NULL, "%s", err);

    /* The module refuses to open on a bad file, naming the line. */
    write_denylist("jti " ISS " a 4102444800\nsub " ISS "\n");
    fhirpam_error ferr = {{0}};
    ck_assert_ptr_null(open_module(&ferr));
    ck_assert_msg(strstr(ferr.text, ":2:") != NULL, "%s", ferr.text);
}
END_TEST

/* ---- reloads ---- */

/* Polls until the module answers `want` for claims_text (the watcher checks
 * every 10 ms). */
static bool eventually(modtest *m, const char *claims_text, fhirpam_code want)
{
    for (int i = 0; i < 300; i++) {
        if (run(m, claims_text).code == want)
            return true;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

START_TEST(reload_corrupt_and_truncated)
{
    write_denylist("jti " ISS " a 4102444800\n");
    fhirpam_error err = {{0}};
    modtest *m = open_module(&err);
    ck_assert_msg(m != NULL, "%s", err.text);
    char a[512], b[512];
    snprintf(a, sizeof a, "%s", claims(ISS, "a", "u", "c", NULL, real_now - 10));
    snprintf(b, sizeof b, "%s", claims(ISS, "b", "u", "c", NULL, real_now - 10));
    ck_assert_int_eq(run(m, a).code, FHIRPAM_REVOKED);
    ck_assert_int_eq(run(m, b).code, FHIRPAM_SUCCESS);

    /* A new rule is picked up. */
    write_denylist("jti " ISS " a 4102444800\njti " ISS " b 4102444800\n");
    ck_assert(eventually(m, b, FHIRPAM_REVOKED));

    /* A corrupt line: the previous set stays (a and b revoked). */
    write_denylist("jti " ISS " b 4102444800\nnot a rule\n");
    sleep_ms(100);
    ck_assert_int_eq(run(m, a).code, FHIRPAM_REVOKED);
    ck_assert_int_eq(run(m, b).code, FHIRPAM_REVOKED);

    /* A truncated file (a line being written): the previous set stays. */
    write_denylist("jti " ISS " b 4102444800\njti " ISS " c 41");
    sleep_ms(100);
    ck_assert_int_eq(run(m, a).code, FHIRPAM_REVOKED);

    /* Fixed: the new set (only b) is in force. */
    write_denylist("jti " ISS " b 4102444800\n");
    ck_assert(eventually(m, a, FHIRPAM_SUCCESS));
    ck_assert_int_eq(run(m, b).code, FHIRPAM_REVOKED);

    /* The file deleted: the previous set stays. */
    unlink(denylist_path());
    sleep_ms(100);
    ck_assert_int_eq(run(m, b).code, FHIRPAM_REVOKED);
    modtest_close(m);
}
END_TEST

typedef struct hammer {
    modtest *m;
    const char *claims;
    atomic_bool *stop;
    long decisions, torn;
} hammer;

static void *authorize_loop(void *arg)
{
    hammer *h = arg;
    while (!atomic_load(h->stop)) {
        modtest_request req = {.claims = h->claims, .now = real_now};
        modtest_result r = modtest_run(h->m, &req);
        /* Set A revokes by jti, set B by a sub cut-off. A request that read
         * half of each would see neither: success. */
        if (r.code != FHIRPAM_REVOKED)
            h->torn++;
        h->decisions++;
    }
    return NULL;
}

START_TEST(reload_under_load)
{
    char set_a[256], set_b[256];
    snprintf(set_a, sizeof set_a, "jti " ISS " x 4102444800\n");
    snprintf(set_b, sizeof set_b, "sub " ISS " u1 %lld\n", (long long)real_now);
    write_denylist(set_a);
    fhirpam_error err = {{0}};
    modtest *m = open_module(&err);
    ck_assert_msg(m != NULL, "%s", err.text);
    char token[512];
    snprintf(token, sizeof token, "%s", claims(ISS, "x", "u1", "c", NULL, real_now - 10));
    atomic_bool stop = false;
    hammer h[2] = {{m, token, &stop, 0, 0}, {m, token, &stop, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, authorize_loop, &h[i]);
    for (int i = 0; i < 40; i++) {
        write_denylist(i % 2 ? set_a : set_b);
        sleep_ms(25);
    }
    atomic_store(&stop, true);
    long decisions = 0, torn = 0;
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        decisions += h[i].decisions;
        torn += h[i].torn;
    }
    printf("revocation reload_under_load: %ld decisions over 40 reloads, %ld torn\n", decisions,
           torn);
    ck_assert_int_gt(decisions, 0);
    ck_assert_int_eq(torn, 0);
    modtest_close(m);
}
END_TEST

/* `fhirpam revoke` appends in another process while the list is read over
 * and over: every read sees whole lines (never a parse error), and at the
 * end every rule is there. */
START_TEST(revoke_races_with_reload)
{
    write_denylist("");
    const char *cli = getenv("FHIRPAM_CLI");
    char path[512]; /* computed here: a forked child would get its own tu_tmpdir() */
    snprintf(path, sizeof path, "%s", denylist_path());
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        for (int i = 0; i < 60; i++) {
            char jti[32];
            snprintf(jti, sizeof jti, "race-%d", i);
            char *argv[] = {(char *)cli, "revoke", "--denylist", path,    "jti",        "--iss",
                            ISS,         "--jti",  jti,          "--exp", "4102444800", NULL};
            pid_t p = fork();
            if (p == 0) {
                execv(cli, argv);
                _exit(127);
            }
            int st;
            waitpid(p, &st, 0);
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                _exit(1);
        }
        _exit(0);
    }
    denylist_limits limits = {real_now, 60, 86400};
    int loads = 0, status = 0;
    for (;;) {
        char err[512];
        denylist *l = denylist_load(path, &limits, err, sizeof err);
        ck_assert_msg(l != NULL, "a read during appends failed: %s", err);
        denylist_free(l);
        loads++;
        if (waitpid(child, &status, WNOHANG) == child)
            break;
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fhirpam revoke failed");
    char err[512];
    denylist *l = denylist_load(denylist_path(), &limits, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    ck_assert_uint_eq(denylist_count(l, RULE_JTI), 60);
    denylist_free(l);
    printf("revocation revoke_races_with_reload: 60 appends, %d concurrent reads, 0 failed\n",
           loads);
}
END_TEST

/* Through the core: a verified, cached token; the modules keep what they
 * read per token, and a new rule set still takes effect for that token. */
START_TEST(through_the_core)
{
    write_denylist("jti " ISS " other 4102444800\n");
    EVP_PKEY *key = mint_keygen("ES256", 0);
    json_t *set = json_pack("{s:[o]}", "keys", mint_public_jwk(key, "k1", "ES256"));
    char *jwks = json_dumps(set, 0);
    const char *jwks_path = tu_write("jwks.json", jwks);
    char conf[2048];
    snprintf(conf, sizeof conf,
             "token: { issuer = \"" ISS "\"; audience = \"https://fhir.example.org\"; jwks = "
             "\"%s\"; algorithms = [\"ES256\"]; };\n"
             "stacks: { s = (\n"
             " { control = \"requisite\"; module = \"expiry\"; args = { max_lifetime = 3600; "
             "require = [\"jti\"]; }; },\n"
             " { control = \"requisite\"; module = \"revocation\"; args = { denylist = \"%s\"; "
             "check_interval_ms = 10; }; } ); };",
             jwks_path, denylist_path());
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(conf, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    char payload[512];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"" ISS "\",\"aud\":\"https://fhir.example.org\",\"jti\":\"x\","
             "\"sub\":\"u1\",\"iat\":%lld,\"exp\":%lld}",
             (long long)real_now - 10, (long long)real_now + 600);
    char *token = mint_token(key, "ES256", "{\"alg\":\"ES256\",\"kid\":\"k1\"}", payload);
    char header[2048];
    snprintf(header, sizeof header, "Bearer %s", token);
    fhirpam_request *req = fhirpam_request_new("GET", "Patient/1");
    fhirpam_request_add_header(req, "Authorization", header);
    fhirpam_request_set_time(req, real_now);
    for (int i = 0; i < 3; i++) {
        fhirpam_decision *d = fhirpam_authorize(ctx, "s", req);
        ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
        fhirpam_decision_free(d);
    }
    write_denylist("jti " ISS " x 4102444800\n");
    bool revoked = false;
    for (int i = 0; i < 300 && !revoked; i++) {
        fhirpam_decision *d = fhirpam_authorize(ctx, "s", req);
        if (fhirpam_decision_code(d) == FHIRPAM_REVOKED) {
            revoked = true;
            ck_assert_int_eq(fhirpam_decision_http_status(d), 401);
            ck_assert_str_eq(fhirpam_decision_module(d), "revocation");
            ck_assert_str_eq(fhirpam_decision_reason(d), "revoked_jti");
        }
        fhirpam_decision_free(d);
        sleep_ms(10);
    }
    ck_assert_msg(revoked, "the new rule never took effect for the cached token");
    /* Back: the rule removed, the token passes again. */
    write_denylist("jti " ISS " other 4102444800\n");
    bool permitted = false;
    for (int i = 0; i < 300 && !permitted; i++) {
        fhirpam_decision *d = fhirpam_authorize(ctx, "s", req);
        permitted = fhirpam_decision_permitted(d);
        fhirpam_decision_free(d);
        sleep_ms(10);
    }
    ck_assert(permitted);
    fhirpam_request_free(req);
    fhirpam_close(ctx);
    free(token);
    free(jwks);
    json_decref(set);
    EVP_PKEY_free(key);
}
END_TEST

int main(void)
{
    real_now = (int64_t)time(NULL);
    Suite *s = suite_create("revocation");
    TCase *t = tcase_create("rules");
    tcase_add_loop_test(t, rule_table, 0, sizeof cases / sizeof cases[0]);
    tcase_add_test(t, bad_claim_types);
    suite_add_tcase(s, t);
    t = tcase_create("file");
    tcase_add_test(t, format_round_trip);
    tcase_add_loop_test(t, format_refusals, 0, sizeof bad_lines / sizeof bad_lines[0]);
    tcase_add_test(t, load_reports_line_and_drops_dead_rules);
    suite_add_tcase(s, t);
    t = tcase_create("reload");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, reload_corrupt_and_truncated);
    tcase_add_test(t, reload_under_load);
    tcase_add_test(t, revoke_races_with_reload);
    tcase_add_test(t, through_the_core);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
