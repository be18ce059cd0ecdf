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
#include <sys/file.h>
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
                          const char *sid, double iat)
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
        n += (size_t)snprintf(buf + n, sizeof buf - n, ",\"iat\":%.17g", iat);
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
    double iat_offset; /* iat = T + offset; 999: no iat */
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
    /* Cut-offs, with the default leeway of 60 s: iat T-1, T, T+0.5 (the
     * revocation second, fractional), T+1 and up to T+60.999 (the issuer's
     * clock may be a leeway ahead) revoked; T+61 not. */
    {"sub T-1", "sub " ISS " u1 %T\n", ISS, "j", "u1", "c1", NULL, -1, FHIRPAM_REVOKED,
     "revoked_before"},
    {"sub T", "sub " ISS " u1 %T\n", ISS, "j", "u1", "c1", NULL, 0, FHIRPAM_REVOKED,
     "revoked_before"},
    {"sub T+0.5", "sub " ISS " u1 %T\n", ISS, "j", "u1", "c1", NULL, 0.5, FHIRPAM_REVOKED,
     "revoked_before"},
    {"sub T+1", "sub " ISS " u1 %T\n", ISS, "j", "u1", "c1", NULL, 1, FHIRPAM_REVOKED,
     "revoked_before"},
    {"sub T+leeway", "sub " ISS " u1 %T\n", ISS, "j", "u1", "c1", NULL, 60, FHIRPAM_REVOKED,
     "revoked_before"},
    {"sub T+leeway+0.9", "sub " ISS " u1 %T\n", ISS, "j", "u1", "c1", NULL, 60.9, FHIRPAM_REVOKED,
     "revoked_before"},
    {"sub T+leeway+1", "sub " ISS " u1 %T\n", ISS, "j", "u1", "c1", NULL, 61, FHIRPAM_SUCCESS,
     NULL},
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
    {"client T+leeway+1", "client " ISS " c1 %T\n", ISS, "j", "u1", "c1", NULL, 61, FHIRPAM_SUCCESS,
     NULL},
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
     "c1", NULL, -500, FHIRPAM_REVOKED, "revoked_before"},
    {"client older, issuer newer", "client " ISS " c1 %t\nissuer " ISS " %T\n", ISS, "j", "u1",
     "c1", NULL, -500, FHIRPAM_REVOKED, "revoked_before"},
    {"sub older, subclient newer", "sub " ISS " u1 %t\nsubclient " ISS " u1 c1 %T\n", ISS, "j",
     "u1", "c1", NULL, -500, FHIRPAM_REVOKED, "revoked_before"},
    {"both older", "client " ISS " c1 %t\nissuer " ISS " %t\n", ISS, "j", "u1", "c1", NULL, -500,
     FHIRPAM_SUCCESS, NULL},
    /* The same key twice: the later time stands, whichever line comes first. */
    {"same key, later last", "sub " ISS " u1 %t\nsub " ISS " u1 %T\n", ISS, "j", "u1", "c1", NULL,
     -500, FHIRPAM_REVOKED, "revoked_before"},
    {"same key, later first", "sub " ISS " u1 %T\nsub " ISS " u1 %t\n", ISS, "j", "u1", "c1", NULL,
     -500, FHIRPAM_REVOKED, "revoked_before"},
};

/* Expands %T (the cut-off), %t (1000 s earlier: more than the leeway) and
 * %E (an expiry an hour away). */
static void expand(const char *list, int64_t t, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *p = list; *p && n + 24 < outlen; p++) {
        if (p[0] == '%' && (p[1] == 'T' || p[1] == 't' || p[1] == 'E')) {
            long long v = p[1] == 'T' ? t : p[1] == 't' ? t - 1000 : real_now + 3600;
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
    double iat = c->iat_offset == NO_IAT ? -1 : (double)t + c->iat_offset;
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

/* ---- issue 29: rules that hold as long as the tokens they cover ---- */

START_TEST(rule_lifetimes)
{
    /* A cut-off at T covers iat < T + leeway + 1 (fractions included). */
    ck_assert(cutoff_covers(1000, 1000.5, 0));
    ck_assert(cutoff_covers(1000, 1000.999, 0));
    ck_assert(!cutoff_covers(1000, 1001, 0));
    ck_assert(cutoff_covers(1000, 1060.5, 60));
    ck_assert(!cutoff_covers(1000, 1061, 60));
    /* ...and is kept until the last token it covers (issued before
     * T + leeway + 1, living max_ttl) is no longer accepted (exp + leeway). */
    rule cut = {RULE_SUB, ISS, "u", NULL, 1000};
    int64_t last = 1000 + 60 + 86400 + 60; /* the last second a covered token is accepted */
    ck_assert(rule_alive(&cut, last, 60, 86400));
    ck_assert(!rule_alive(&cut, last + 1, 60, 86400));
    ck_assert(rule_alive(&cut, 1000 + 604800, 60, 604800));
    /* A jti rule lives until EXP + leeway: the core accepts until then. */
    rule jti = {RULE_JTI, ISS, "j", NULL, 5000};
    ck_assert(rule_alive(&jti, 5300, 300, 86400));
    ck_assert(!rule_alive(&jti, 5301, 300, 86400));
}
END_TEST

/* Row 9: an empty jti, sub, client_id or sid is no value. */
START_TEST(empty_claims_are_missing)
{
    write_denylist("jti " ISS " j1 4102444800\n");
    fhirpam_error err = {{0}};
    modtest *m = open_module(&err);
    ck_assert_msg(m != NULL, "%s", err.text);
    modtest_result r = run(m, claims(ISS, "", "u1", "c1", NULL, real_now - 10));
    ck_assert_int_eq(r.code, FHIRPAM_REVOKED);
    ck_assert_str_eq(r.reason, "missing_jti");
    modtest_close(m);

    /* A cut-off by subject: an empty sub is no subject, so it cannot be
     * matched, and with no iat the token is not placed after it either. */
    char list[256];
    snprintf(list, sizeof list, "subclient " ISS " u1 c1 %lld\nsid " ISS " s1 %lld\n",
             (long long)real_now, (long long)real_now);
    write_denylist(list);
    m = open_module(&err);
    ck_assert_msg(m != NULL, "%s", err.text);
    ck_assert_int_eq(run(m, claims(ISS, "j", "u1", "c1", "", real_now + 120)).code,
                     FHIRPAM_SUCCESS);
    ck_assert_int_eq(run(m, claims(ISS, "j", "u1", "c1", "s1", real_now - 10)).code,
                     FHIRPAM_REVOKED);
    modtest_close(m);
}
END_TEST

/* Row 15: a NUL byte (and an over-long field) refused by the loader and by
 * `fhirpam revoke check` alike. */
START_TEST(nul_byte_refused_everywhere)
{
    static const char with_nul[] = "jti " ISS " a\0b 4102444800\n";
    char path[600];
    snprintf(path, sizeof path, "%s", denylist_path());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, with_nul, sizeof with_nul - 1), (ssize_t)(sizeof with_nul - 1));
    close(fd);
    denylist_limits limits = {real_now, 60, 86400};
    char err[600];
    ck_assert_ptr_null(denylist_load(path, &limits, err, sizeof err));
    ck_assert_msg(strstr(err, ":1: a NUL byte") != NULL, "%s", err);
    char *out = NULL, *errs = NULL;
    char *argv[] = {(char *)getenv("FHIRPAM_CLI"), "revoke", "--denylist", path, "check", NULL};
    ck_assert_int_eq(tu_run(argv, NULL, &out, &errs), 1);
    ck_assert_msg(strstr(out, "\"ok\":false") != NULL, "%s", out);
    ck_assert_msg(strstr(errs, ":1: a NUL byte") != NULL, "%s", errs);
    free(out);
    free(errs);

    char *longer = malloc(DENYLIST_MAX_FIELD + 64);
    memset(longer, 'x', DENYLIST_MAX_FIELD + 1);
    longer[DENYLIST_MAX_FIELD + 1] = '\0';
    char *text = malloc(2 * DENYLIST_MAX_FIELD);
    snprintf(text, 2 * DENYLIST_MAX_FIELD, "sub " ISS " %s 1\n", longer);
    write_denylist(text);
    ck_assert_ptr_null(denylist_load(path, &limits, err, sizeof err));
    ck_assert_msg(strstr(err, "longer than") != NULL, "%s", err);
    ck_assert_int_eq(tu_run(argv, NULL, &out, &errs), 1);
    ck_assert_msg(strstr(errs, "longer than") != NULL, "%s", errs);
    free(out);
    free(errs);
    free(text);
    free(longer);
}
END_TEST

static char *file_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return strdup("");
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* `fhirpam revoke ARGS...` on the test's deny list: the exit status, with
 * stderr in *errs (caller frees). */
static int run_revoke(char **errs, const char *const *args)
{
    char *argv[16] = {(char *)getenv("FHIRPAM_CLI"), "revoke", "--denylist",
                      (char *)denylist_path()};
    int n = 4;
    for (; args[n - 4] != NULL && n < 15; n++)
        argv[n] = (char *)args[n - 4];
    argv[n] = NULL;
    char *out = NULL;
    int rc = tu_run(argv, NULL, &out, errs);
    free(out);
    return rc;
}

/* Rows 3 and 4: `fhirpam revoke` writes only what the module will read,
 * and never into a file that would not load. */
START_TEST(revoke_writes_only_what_loads)
{
    write_denylist("jti " ISS " a 4102444800\n");
    char *before = file_text(denylist_path()), *errs = NULL;
    char *big = malloc(1200);
    memset(big, 'p', 1100);
    big[1100] = '\0';
    const char *too_long[] = {"sub", "--iss", ISS, "--sub", big, NULL};
    ck_assert_int_eq(run_revoke(&errs, too_long), 1);
    ck_assert_msg(strstr(errs, "would not load") != NULL, "%s", errs);
    free(errs);
    char *after = file_text(denylist_path());
    ck_assert_str_eq(after, before);
    free(after);
    free(big);

    /* A field that needs escaping round-trips; the file still loads. */
    const char *odd[] = {"sub", "--iss", ISS, "--sub", "Patient/1 2\t%", "--at", "5", NULL};
    ck_assert_int_eq(run_revoke(&errs, odd), 0);
    free(errs);
    denylist_limits limits = {real_now, 60, 86400};
    char err[600];
    denylist *l = denylist_load(denylist_path(), &limits, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    denylist_free(l);

    /* No newline at the end: the rule would join the last line. */
    write_denylist("jti " ISS " a 4102444800");
    free(before);
    before = file_text(denylist_path());
    const char *rule_b[] = {"jti", "--iss", ISS, "--jti", "b", "--exp", "4102444800", NULL};
    ck_assert_int_eq(run_revoke(&errs, rule_b), 1);
    ck_assert_msg(strstr(errs, "does not end in a newline") != NULL, "%s", errs);
    free(errs);
    after = file_text(denylist_path());
    ck_assert_str_eq(after, before);
    free(after);

    /* A file that does not load (a bad line, a bad mode): refused, saying why. */
    write_denylist("jti " ISS " a 4102444800\nbogus line\n");
    ck_assert_int_eq(run_revoke(&errs, rule_b), 1);
    ck_assert_msg(strstr(errs, ":2: unknown rule") != NULL, "%s", errs);
    free(errs);
    write_denylist("jti " ISS " a 4102444800\n");
    chmod(denylist_path(), 0664);
    ck_assert_int_eq(run_revoke(&errs, rule_b), 1);
    ck_assert_msg(strstr(errs, "group- or world-writable") != NULL, "%s", errs);
    free(errs);

    /* Fixed: it appends, and a new file is created loadable. */
    chmod(denylist_path(), 0644);
    ck_assert_int_eq(run_revoke(&errs, rule_b), 0);
    free(errs);
    l = denylist_load(denylist_path(), &limits, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    ck_assert_uint_eq(denylist_count(l, RULE_JTI), 2);
    denylist_free(l);
    unlink(denylist_path());
    ck_assert_int_eq(run_revoke(&errs, rule_b), 0);
    free(errs);
    l = denylist_load(denylist_path(), &limits, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    denylist_free(l);
    free(before);
}
END_TEST

/* Row 2: `compact` drops with the configuration's times, and will not run
 * without them. */
START_TEST(compact_uses_the_configuration)
{
    char list[512];
    long long two_days = real_now - 2 * 86400, month = real_now - 30 * 86400;
    snprintf(list, sizeof list,
             "sub " ISS " u1 %lld\nclient " ISS " c1 %lld\njti " ISS " gone %lld\njti " ISS
             " live %lld\n",
             two_days, month, (long long)real_now - 200, (long long)real_now - 200);
    write_denylist(list);
    char *errs = NULL;
    const char *bare[] = {"compact", NULL};
    ck_assert_int_eq(run_revoke(&errs, bare), 1);
    ck_assert_msg(strstr(errs, "-c FILE") != NULL, "%s", errs);
    free(errs);
    const char *old_flag[] = {"compact", "--max-token-lifetime", "604800", NULL};
    ck_assert_int_eq(run_revoke(&errs, old_flag), 1);
    free(errs);
    const char *no_token = tu_config("stacks: { s = { token = \"none\"; lines = (); }; };");
    const char *without[] = {"compact", "-c", no_token, NULL};
    ck_assert_int_eq(run_revoke(&errs, without), 1);
    ck_assert_msg(strstr(errs, "no token group") != NULL, "%s", errs);
    free(errs);

    /* Seven days of max_ttl and a leeway of 300: the two-day cut-off and the
     * jti 200 s past its EXP stay; the month-old cut-off and nothing else go. */
    char conf[512];
    snprintf(conf, sizeof conf,
             "token: { issuer = \"" ISS "\"; audience = \"a\"; jwks = \"k.json\"; "
             "max_ttl = 604800; leeway = 300; };\n");
    const char *week = tu_config(conf);
    char *argv[] = {(char *)getenv("FHIRPAM_CLI"),
                    "revoke",
                    "--denylist",
                    (char *)denylist_path(),
                    "compact",
                    "-c",
                    (char *)week,
                    NULL};
    char *out = NULL;
    ck_assert_int_eq(tu_run(argv, NULL, &out, &errs), 0);
    ck_assert_msg(strstr(out, "\"kept\":3,\"dropped\":1") != NULL, "%s / %s", out, errs);
    free(out);
    free(errs);
    char *text = file_text(denylist_path());
    ck_assert_msg(strstr(text, "u1") && strstr(text, "live") && strstr(text, "gone") &&
                      !strstr(text, "c1"),
                  "%s", text);
    free(text);
}
END_TEST

/* Rows 5 and 6: every change is seen, and the state recorded is the one
 * that loaded. */
START_TEST(watcher_sees_chmod_and_same_size_rewrite)
{
    write_denylist("jti " ISS " aaaa 4102444800\n");
    fhirpam_error err = {{0}};
    modtest *m = open_module(&err);
    ck_assert_msg(m != NULL, "%s", err.text);
    char a[512], b[512];
    snprintf(a, sizeof a, "%s", claims(ISS, "aaaa", "u", "c", NULL, real_now - 10));
    snprintf(b, sizeof b, "%s", claims(ISS, "bbbb", "u", "c", NULL, real_now - 10));
    ck_assert_int_eq(run(m, a).code, FHIRPAM_REVOKED);

    /* Group-writable: refused (the old rules stay); chmod 644 changes only
     * ctime and mode, and the file is read again. */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.new", denylist_path());
    FILE *f = fopen(tmp, "w");
    fputs("jti " ISS " bbbb 4102444800\n", f);
    fclose(f);
    chmod(tmp, 0664);
    ck_assert_int_eq(rename(tmp, denylist_path()), 0);
    sleep_ms(100);
    ck_assert_int_eq(run(m, a).code, FHIRPAM_REVOKED);
    ck_assert_int_eq(run(m, b).code, FHIRPAM_SUCCESS);
    chmod(denylist_path(), 0644);
    ck_assert(eventually(m, b, FHIRPAM_REVOKED));
    ck_assert_int_eq(run(m, a).code, FHIRPAM_SUCCESS);

    /* Rewritten in place with the same size and the old mtime (cp -p):
     * only ctime tells, and that is enough. Right away, and again after the
     * file has settled. */
    for (int round = 0; round < 2; round++) {
        struct stat st;
        ck_assert_int_eq(stat(denylist_path(), &st), 0);
        const char *next =
            round == 0 ? "jti " ISS " aaaa 4102444800\n" : "jti " ISS " bbbb 4102444800\n";
        int fd = open(denylist_path(), O_WRONLY | O_TRUNC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, next, strlen(next)), (ssize_t)strlen(next));
        struct timespec times[2] = {st.st_atim, st.st_mtim};
        ck_assert_int_eq(futimens(fd, times), 0);
        close(fd);
        struct stat now;
        stat(denylist_path(), &now);
        ck_assert_int_eq(now.st_size, st.st_size);
        ck_assert(now.st_mtim.tv_sec == st.st_mtim.tv_sec &&
                  now.st_mtim.tv_nsec == st.st_mtim.tv_nsec);
        ck_assert(eventually(m, round == 0 ? a : b, FHIRPAM_REVOKED));
        ck_assert_int_eq(run(m, round == 0 ? b : a).code, FHIRPAM_SUCCESS);
        sleep_ms(2100); /* settled: older than the coarse timestamps */
    }
    modtest_close(m);
}
END_TEST

/* ThreadSanitizer cannot follow a thread started in a forked child (it
 * refuses, or reuses the parent's thread id). Under AddressSanitizer a child
 * forked from a threaded process hangs now and then (seen in 1 of 3 runs on
 * Debian 12's gcc 12 runtime, after the watcher stopped starting threads in
 * the fork handler; not understood yet, noted in issue 29). The fork tests
 * run in build/, unsanitized, on every ./dev test. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SKIP_UNDER_TSAN()                                                                          \
    do {                                                                                           \
        printf("revocation fork tests: skipped under the thread and address sanitizers\n");        \
        return;                                                                                    \
    } while (0)
#else
#define SKIP_UNDER_TSAN() ((void)0)
#endif

/* Row 7: a host that forks after opening (nginx's master) keeps revocations
 * applying in every child: the watcher thread is started again there. */
START_TEST(watcher_survives_fork)
{
    SKIP_UNDER_TSAN();
    write_denylist("jti " ISS " aaaa 4102444800\n");
    fhirpam_error err = {{0}};
    modtest *m = open_module(&err);
    ck_assert_msg(m != NULL, "%s", err.text);
    char a[512], b[512];
    snprintf(a, sizeof a, "%s", claims(ISS, "aaaa", "u", "c", NULL, real_now - 10));
    snprintf(b, sizeof b, "%s", claims(ISS, "bbbb", "u", "c", NULL, real_now - 10));
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        ck_assert_int_ge(kids[k], 0);
        if (kids[k] == 0) {
            /* Wait for the parent's new rule, as a worker would. */
            bool seen = false;
            for (int i = 0; i < 400 && !seen; i++) {
                modtest_request req = {.claims = b, .now = real_now};
                seen = modtest_run(m, &req).code == FHIRPAM_REVOKED;
                if (!seen)
                    sleep_ms(10);
            }
            modtest_close(m); /* joins the child's own watcher */
            _exit(seen ? 0 : 3);
        }
    }
    sleep_ms(50);
    write_denylist("jti " ISS " aaaa 4102444800\njti " ISS " bbbb 4102444800\n");
    for (int k = 0; k < 2; k++) {
        int status;
        ck_assert_int_eq(waitpid(kids[k], &status, 0), kids[k]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "child %d never saw the new rule (status %d)", k, status);
    }
    /* The parent's watcher runs on. */
    ck_assert(eventually(m, b, FHIRPAM_REVOKED));
    write_denylist("jti " ISS " bbbb 4102444800\n");
    ck_assert(eventually(m, a, FHIRPAM_SUCCESS));
    modtest_close(m);
}
END_TEST

/* ---- through the core: the configuration's times, staleness made loud ---- */

typedef struct core_fixture {
    EVP_PKEY *key;
    char jwks_path[600];
} core_fixture;

static core_fixture fixture(void)
{
    core_fixture f = {mint_keygen("ES256", 0), ""};
    json_t *set = json_pack("{s:[o]}", "keys", mint_public_jwk(f.key, "k1", "ES256"));
    char *jwks = json_dumps(set, 0);
    snprintf(f.jwks_path, sizeof f.jwks_path, "%s", tu_write("jwks.json", jwks));
    free(jwks);
    json_decref(set);
    return f;
}

/* A configuration: token group with `token_extra`, stack s of `lines`
 * (%D: the deny list), and `audit` (may be ""). */
static const char *core_config(const core_fixture *f, const char *token_extra, const char *lines,
                               const char *audit)
{
    char expanded[2048];
    size_t n = 0;
    for (const char *p = lines; *p && n + 700 < sizeof expanded; p++) {
        if (p[0] == '%' && p[1] == 'D') {
            n += (size_t)snprintf(expanded + n, sizeof expanded - n, "%s", denylist_path());
            p++;
        } else {
            expanded[n++] = *p;
        }
    }
    expanded[n] = '\0';
    static char conf[4096];
    snprintf(conf, sizeof conf,
             "token: { issuer = \"" ISS "\"; audience = \"https://fhir.example.org\"; jwks = "
             "\"%s\"; algorithms = [\"ES256\"]; %s };\n%s\nstacks: { s = ( %s ); };",
             f->jwks_path, token_extra, audit, expanded);
    return conf;
}

static fhirpam_decision *authorize_token(fhirpam_context *ctx, const core_fixture *f,
                                         const char *payload_claims, int64_t now)
{
    char payload[1024];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"" ISS "\",\"aud\":\"https://fhir.example.org\",%s}", payload_claims);
    char *token = mint_token(f->key, "ES256", "{\"alg\":\"ES256\",\"kid\":\"k1\"}", payload);
    char *header = malloc(strlen(token) + 8);
    sprintf(header, "Bearer %s", token);
    fhirpam_request *req = fhirpam_request_new("GET", "Patient/1");
    fhirpam_request_add_header(req, "Authorization", header);
    fhirpam_request_set_time(req, now);
    fhirpam_decision *d = fhirpam_authorize(ctx, "s", req);
    ck_assert_ptr_nonnull(d);
    fhirpam_request_free(req);
    free(header);
    free(token);
    return d;
}

#define REVOCATION_LINE(args)                                                                      \
    "{ control = \"requisite\"; module = \"revocation\"; args = { denylist = \"%D\"; "             \
    "check_interval_ms = 10; " args " }; }"

/* Row 2: one leeway and one longest lifetime, the configuration's. */
START_TEST(module_times_are_the_configurations)
{
    write_denylist("");
    core_fixture f = fixture();
    fhirpam_error err = {{0}};
    ck_assert_ptr_null(
        tu_open(core_config(&f, "leeway = 300;", REVOCATION_LINE("leeway = 60;"), ""), &err));
    ck_assert_msg(strstr(err.text, "token.leeway") != NULL, "%s", err.text);
    ck_assert_ptr_null(
        tu_open(core_config(&f, "", REVOCATION_LINE("max_token_lifetime = 604800;"), ""), &err));
    ck_assert_msg(strstr(err.text, "token.max_ttl") != NULL, "%s", err.text);
    ck_assert_ptr_null(tu_open(
        core_config(&f, "leeway = 300;",
                    "{ control = \"required\"; module = \"expiry\"; args = { leeway = 10; }; }",
                    ""),
        &err));
    ck_assert_msg(strstr(err.text, "token.leeway") != NULL, "%s", err.text);
    /* Repeating the configuration's value is allowed. */
    fhirpam_context *ctx =
        tu_open(core_config(&f, "leeway = 300; max_ttl = 604800;",
                            REVOCATION_LINE("leeway = 300; max_token_lifetime = 604800;"), ""),
                &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    fhirpam_close(ctx);

    /* A jti revoked token 100 s past exp, under token.leeway = 300: the
     * core still accepts it, so the rule must still be there. */
    char list[256];
    snprintf(list, sizeof list, "jti " ISS " x %lld\n", (long long)real_now - 100);
    write_denylist(list);
    ctx = tu_open(core_config(&f, "leeway = 300;", REVOCATION_LINE(""), ""), &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    char claims_text[256];
    snprintf(claims_text, sizeof claims_text, "\"jti\":\"x\",\"iat\":%lld,\"exp\":%lld",
             (long long)real_now - 400, (long long)real_now - 100);
    fhirpam_decision *d = authorize_token(ctx, &f, claims_text, real_now);
    ck_assert_str_eq(fhirpam_decision_reason(d), "revoked_jti");
    fhirpam_decision_free(d);
    snprintf(claims_text, sizeof claims_text, "\"jti\":\"y\",\"iat\":%lld,\"exp\":%lld",
             (long long)real_now - 400, (long long)real_now - 100);
    d = authorize_token(ctx, &f, claims_text, real_now);
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
    EVP_PKEY_free(f.key);
}
END_TEST

/* Row 1: a cut-off is kept for max_ttl, and no token lives longer. */
START_TEST(no_token_outlives_its_cutoff)
{
    core_fixture f = fixture();
    char list[256];
    long long t = real_now - 2 * 86400;
    snprintf(list, sizeof list, "sub " ISS " u1 %lld\n", t);
    write_denylist(list);
    char claims_text[256];
    snprintf(claims_text, sizeof claims_text,
             "\"sub\":\"u1\",\"jti\":\"t1\",\"iat\":%lld,\"exp\":%lld", t - 10,
             (long long)real_now + 3600);
    fhirpam_error err = {{0}};
    /* max_ttl one day: the cut-off is past its life, and the token, issued
     * before it, lives over two days: the core refuses it. */
    fhirpam_context *ctx = tu_open(core_config(&f, "", REVOCATION_LINE(""), ""), &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    fhirpam_decision *d = authorize_token(ctx, &f, claims_text, real_now);
    ck_assert(!fhirpam_decision_permitted(d));
    ck_assert_str_eq(fhirpam_decision_reason(d), "lifetime_too_long");
    ck_assert_int_eq(fhirpam_decision_http_status(d), 401);
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
    /* max_ttl a week: the token may live that long, so the cut-off stays. */
    ctx = tu_open(core_config(&f, "max_ttl = 604800;", REVOCATION_LINE(""), ""), &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    d = authorize_token(ctx, &f, claims_text, real_now);
    ck_assert_str_eq(fhirpam_decision_reason(d), "revoked_before");
    fhirpam_decision_free(d);
    /* An unrelated append (a reload) keeps it too. */
    char *errs = NULL;
    const char *other[] = {"jti", "--iss", ISS, "--jti", "zzz", "--exp", "4102444800", NULL};
    ck_assert_int_eq(run_revoke(&errs, other), 0);
    free(errs);
    sleep_ms(100);
    d = authorize_token(ctx, &f, claims_text, real_now);
    ck_assert_str_eq(fhirpam_decision_reason(d), "revoked_before");
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
    EVP_PKEY_free(f.key);
}
END_TEST

/* The last audit record in path, parsed. */
static json_t *last_record(const char *path)
{
    char *text = file_text(path);
    char *last = NULL;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n"))
        last = line;
    json_error_t jerr;
    json_t *v = last ? json_loads(last, 0, &jerr) : NULL;
    ck_assert_msg(v != NULL, "no record in %s", path);
    free(text);
    return v;
}

/* Waits until the context's deny list source is stale (or fresh, !want). */
static bool wait_stale(fhirpam_context *ctx, bool want, fhirpam_source_info *info)
{
    for (int i = 0; i < 500; i++) {
        fhirpam_sources(ctx, info, 1);
        if ((info->stale_since != 0) == want)
            return true;
        sleep_ms(10);
    }
    return false;
}

/* Whoever can read the deny list can flock it, and a FIFO can take its
 * place: neither may stop the watcher (and fhirpam_close behind it) for
 * good, and both are loud while they last. */
START_TEST(held_lock_and_fifo_never_hang_the_watcher)
{
    core_fixture f = fixture();
    write_denylist("jti " ISS " x 4102444800\n");
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(core_config(&f, "", REVOCATION_LINE(""), ""), &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    char claims_text[256];
    snprintf(claims_text, sizeof claims_text, "\"jti\":\"y\",\"iat\":%lld,\"exp\":%lld",
             (long long)real_now - 10, (long long)real_now + 600);

    /* A writer that takes the lock, appends y, and does not let go. */
    int holder = open(denylist_path(), O_WRONLY | O_APPEND);
    ck_assert_int_ge(holder, 0);
    ck_assert_int_eq(flock(holder, LOCK_EX), 0);
    const char *line = "jti " ISS " y 4102444800\n";
    ck_assert_int_eq(write(holder, line, strlen(line)), (ssize_t)strlen(line));
    fhirpam_source_info info;
    ck_assert(wait_stale(ctx, true, &info));
    ck_assert_msg(strstr(info.error, "locked by another process") != NULL, "%s", info.error);
    /* Let go: the rule applies at the next tick, the source is fresh. */
    flock(holder, LOCK_UN);
    close(holder);
    ck_assert(wait_stale(ctx, false, &info));
    fhirpam_decision *d = authorize_token(ctx, &f, claims_text, real_now);
    ck_assert_str_eq(fhirpam_decision_reason(d), "revoked_jti");
    fhirpam_decision_free(d);

    /* A FIFO in the file's place: refused, the rules in force stay. */
    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s.fifo", denylist_path());
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(rename(fifo, denylist_path()), 0);
    ck_assert(wait_stale(ctx, true, &info));
    ck_assert_msg(strstr(info.error, "regular file") != NULL, "%s", info.error);
    d = authorize_token(ctx, &f, claims_text, real_now);
    ck_assert_str_eq(fhirpam_decision_reason(d), "revoked_jti");
    fhirpam_decision_free(d);
    /* And a held lock at open: refused within its bound, naming it. */
    write_denylist("jti " ISS " x 4102444800\n");
    holder = open(denylist_path(), O_RDONLY);
    ck_assert_int_eq(flock(holder, LOCK_EX), 0);
    fhirpam_context *second = tu_open(core_config(&f, "", REVOCATION_LINE(""), ""), &err);
    ck_assert_ptr_null(second);
    ck_assert_msg(strstr(err.text, "locked by another process") != NULL, "%s", err.text);
    close(holder);
    fhirpam_close(ctx); /* returns: nothing waits for the FIFO or the lock */
    EVP_PKEY_free(f.key);
}
END_TEST

/* One bad line refuses the reload loudly: the audit record, the host API,
 * `fhirpam check` and `fhirpam revoke check` all say so. */
START_TEST(refused_reload_is_loud)
{
    core_fixture f = fixture();
    write_denylist("jti " ISS " x 4102444800\n");
    char audit[700];
    char log_path[600];
    snprintf(log_path, sizeof log_path, "%s/stale-audit.jsonl", tu_tmpdir());
    snprintf(audit, sizeof audit, "audit: { sink = \"file\"; path = \"%s\"; };", log_path);
    const char *conf = core_config(&f, "", REVOCATION_LINE(""), audit);
    char conf_copy[4096];
    snprintf(conf_copy, sizeof conf_copy, "%s", conf);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(conf_copy, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    char claims_text[256];
    snprintf(claims_text, sizeof claims_text, "\"jti\":\"y\",\"iat\":%lld,\"exp\":%lld",
             (long long)real_now - 10, (long long)real_now + 600);
    fhirpam_decision_free(authorize_token(ctx, &f, claims_text, real_now));
    json_t *rec = last_record(log_path);
    ck_assert(json_is_false(json_object_get(rec, "revocation_stale")));
    ck_assert_ptr_null(json_object_get(rec, "revocation_error"));
    json_decref(rec);
    fhirpam_source_info info[4];
    ck_assert_uint_eq(fhirpam_sources(ctx, info, 4), 1);
    ck_assert_str_eq(info[0].kind, "revocation");
    ck_assert_str_eq(info[0].name, denylist_path());
    ck_assert_int_eq(info[0].stale_since, 0);

    /* A bad second line: the rules in force stay, and everybody is told. */
    write_denylist("jti " ISS " x 4102444800\njti " ISS " y\n");
    bool stale = false;
    for (int i = 0; i < 300 && !stale; i++) {
        fhirpam_sources(ctx, info, 4);
        stale = info[0].stale_since != 0;
        if (!stale)
            sleep_ms(10);
    }
    ck_assert(stale);
    ck_assert_msg(strstr(info[0].error, ":2:") != NULL, "%s", info[0].error);
    ck_assert_uint_ge(info[0].failures, 1);
    fhirpam_decision *d = authorize_token(ctx, &f, claims_text, real_now);
    ck_assert(fhirpam_decision_permitted(d)); /* y is not revoked by the rules in force */
    fhirpam_decision_free(d);
    rec = last_record(log_path);
    ck_assert(json_is_true(json_object_get(rec, "revocation_stale")));
    const char *why = json_string_value(json_object_get(rec, "revocation_error"));
    ck_assert_msg(why != NULL && strstr(why, ":2:") != NULL, "%s", why ? why : "(none)");
    json_decref(rec);
    /* The tools show it: revoke check names the line, fhirpam check refuses. */
    char *out = NULL, *errs = NULL;
    char *check_argv[] = {(char *)getenv("FHIRPAM_CLI"), "revoke", "--denylist",
                          (char *)denylist_path(),       "check",  NULL};
    ck_assert_int_eq(tu_run(check_argv, NULL, &out, &errs), 1);
    ck_assert_msg(strstr(errs, ":2:") != NULL, "%s", errs);
    free(out);
    free(errs);
    const char *conf_path = tu_config(conf_copy);
    char *cfg_argv[] = {
        (char *)getenv("FHIRPAM_CLI"), "check", "-c", (char *)conf_path, "--modules-dir",
        (char *)tu_modules_dir(),      NULL};
    ck_assert_int_eq(tu_run(cfg_argv, NULL, &out, &errs), 1);
    ck_assert_msg(strstr(errs, ":2:") != NULL, "%s", errs);
    free(out);
    free(errs);

    /* Fixed: fresh again, and the records say so. */
    write_denylist("jti " ISS " x 4102444800\njti " ISS " y 4102444800\n");
    bool revoked = false;
    for (int i = 0; i < 300 && !revoked; i++) {
        d = authorize_token(ctx, &f, claims_text, real_now);
        revoked = fhirpam_decision_code(d) == FHIRPAM_REVOKED;
        fhirpam_decision_free(d);
        if (!revoked)
            sleep_ms(10);
    }
    ck_assert(revoked);
    fhirpam_sources(ctx, info, 4);
    ck_assert_int_eq(info[0].stale_since, 0);
    rec = last_record(log_path);
    ck_assert(json_is_false(json_object_get(rec, "revocation_stale")));
    json_decref(rec);
    ck_assert_int_eq(tu_run(cfg_argv, NULL, &out, &errs), 0);
    ck_assert_msg(strstr(out, "\"kind\":\"revocation\"") && strstr(out, "\"stale\":false"), "%s",
                  out);
    free(out);
    free(errs);
    fhirpam_close(ctx);
    EVP_PKEY_free(f.key);
}
END_TEST

/* Row 7 through the library: a context opened, then the process forks
 * (nginx's master and its workers); each child sees a new revocation. */
START_TEST(context_survives_fork)
{
    SKIP_UNDER_TSAN();
    core_fixture f = fixture();
    write_denylist("jti " ISS " other 4102444800\n");
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(core_config(&f, "", REVOCATION_LINE(""), ""), &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    char claims_text[256];
    snprintf(claims_text, sizeof claims_text, "\"jti\":\"x\",\"iat\":%lld,\"exp\":%lld",
             (long long)real_now - 10, (long long)real_now + 600);
    fhirpam_decision *d = authorize_token(ctx, &f, claims_text, real_now);
    ck_assert(fhirpam_decision_permitted(d));
    fhirpam_decision_free(d);
    pid_t kid = fork();
    ck_assert_int_ge(kid, 0);
    if (kid == 0) {
        bool revoked = false;
        for (int i = 0; i < 400 && !revoked; i++) {
            fhirpam_decision *cd = authorize_token(ctx, &f, claims_text, real_now);
            revoked = fhirpam_decision_code(cd) == FHIRPAM_REVOKED;
            fhirpam_decision_free(cd);
            if (!revoked)
                sleep_ms(10);
        }
        fhirpam_close(ctx);
        _exit(revoked ? 0 : 3);
    }
    sleep_ms(50);
    write_denylist("jti " ISS " x 4102444800\n");
    int status;
    ck_assert_int_eq(waitpid(kid, &status, 0), kid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    fhirpam_close(ctx);
    EVP_PKEY_free(f.key);
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
    tcase_add_test(t, rule_lifetimes);
    tcase_add_test(t, empty_claims_are_missing);
    suite_add_tcase(s, t);
    t = tcase_create("file");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, nul_byte_refused_everywhere);
    tcase_add_test(t, revoke_writes_only_what_loads);
    tcase_add_test(t, compact_uses_the_configuration);
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
    tcase_add_test(t, watcher_sees_chmod_and_same_size_rewrite);
    tcase_add_test(t, watcher_survives_fork);
    tcase_add_test(t, module_times_are_the_configurations);
    tcase_add_test(t, no_token_outlives_its_cutoff);
    tcase_add_test(t, refused_reload_is_loud);
    tcase_add_test(t, held_lock_and_fifo_never_hang_the_watcher);
    tcase_add_test(t, context_survives_fork);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
