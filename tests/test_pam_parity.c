/*
 * test_pam_parity.c - the stack engine against the real Linux-PAM.
 *
 * For each stack, the same lines are written as a PAM service file whose
 * modules are pam_debug.so (`auth=<code>` makes it return that code), and
 * libpam's pam_authenticate() walks it. Each line loads its own copy of
 * pam_debug.so (pam_debug_<N>.so), so that the conversation callback, which
 * pam_debug calls once per run, can tell from the call stack which line ran.
 * The final code and the list of modules called must be the same as the
 * engine's.
 *
 * Codes: fhirpam's deny is PAM's perm_denied (both are the walk's initial
 * status), invalid_token stands for auth_err, expired for user_unknown,
 * unavailable for abort; success and ignore are themselves.
 *
 * Two sets: every stack of the four keywords over success/deny/ignore up to
 * length 4, and a fixed-seed sample of random stacks in the extended syntax
 * with jumps, reset, die, done and nested substacks. pam_start_confdir()
 * keeps libpam away from /etc/pam.d; substack targets are absolute paths
 * (Debian's libpam opens relative ones from /etc/pam.d only).
 */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stackspec.h"

#define PAM_DEBUG_SO  "/usr/lib/x86_64-linux-gnu/security/pam_debug.so"
#define RANDOM_STACKS 6000

static const struct {
    fhirpam_code code;
    const char *pam_word;
    int pam_code;
} code_map[] = {
    {FHIRPAM_SUCCESS, "success", PAM_SUCCESS},
    {FHIRPAM_DENY, "perm_denied", PAM_PERM_DENIED},
    {FHIRPAM_IGNORE, "ignore", PAM_IGNORE},
    {FHIRPAM_INVALID_TOKEN, "auth_err", PAM_AUTH_ERR},
    {FHIRPAM_EXPIRED, "user_unknown", PAM_USER_UNKNOWN},
    {FHIRPAM_UNAVAILABLE, "abort", PAM_ABORT},
};
#define NCODES (sizeof code_map / sizeof code_map[0])

static char confdir[256];

/* Modules called during the current pam_authenticate(), by line number. */
static int pam_called[SPEC_MAX];
static size_t pam_ncalled;

static const char *pam_word_of(fhirpam_code c)
{
    for (size_t i = 0; i < NCODES; i++)
        if (code_map[i].code == c)
            return code_map[i].pam_word;
    return NULL;
}

static int fhirpam_of_pam(int pam_code, fhirpam_code *out)
{
    for (size_t i = 0; i < NCODES; i++) {
        if (code_map[i].pam_code == pam_code) {
            *out = code_map[i].code;
            return 0;
        }
    }
    return -1;
}

/* pam_debug announces its code through pam_info(): find which copy of it is
 * on the call stack. */
static int conversation(int n, const struct pam_message **msg, struct pam_response **resp,
                        void *appdata)
{
    (void)msg, (void)appdata;
    void *frames[64];
    int depth = backtrace(frames, 64);
    for (int i = 0; i < depth; i++) {
        Dl_info info;
        const char *base;
        if (dladdr(frames[i], &info) == 0 || info.dli_fname == NULL)
            continue;
        base = strrchr(info.dli_fname, '/');
        base = base ? base + 1 : info.dli_fname;
        int line;
        if (sscanf(base, "pam_debug_%d.so", &line) == 1 && pam_ncalled < SPEC_MAX) {
            pam_called[pam_ncalled++] = line;
            break;
        }
    }
    *resp = calloc((size_t)n, sizeof **resp);
    return *resp ? PAM_SUCCESS : PAM_BUF_ERR;
}

/* Translates a control's code words into PAM's. */
static void pam_control(const char *control, char *out, size_t outlen)
{
    if (control[0] != '[') {
        snprintf(out, outlen, "%s", control);
        return;
    }
    size_t used = 0;
    const char *p = control;
    while (*p != '\0' && used + 1 < outlen) {
        size_t len = strcspn(p, "=[] ");
        fhirpam_code c;
        char word[32];
        snprintf(word, sizeof word, "%.*s", (int)len, p);
        if (len > 0 && p[len] == '=' && fhirpam_code_from_name(word, &c) == 0)
            used += (size_t)snprintf(out + used, outlen - used, "%s", pam_word_of(c));
        else if (len > 0)
            used += (size_t)snprintf(out + used, outlen - used, "%s", word);
        else
            out[used++] = *p++, out[used] = '\0';
        p += len;
    }
}

/* Writes entries [*i, ...) of one level into `path`, recursing into
 * substacks; leaves *i after the last entry of the level. */
static void write_level(const stackspec *s, size_t *i, unsigned level, const char *path,
                        int *nfiles)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    while (*i < s->n && s->entries[*i].level >= level) {
        size_t e = (*i)++;
        if (s->entries[e].substack_marker) {
            char sub[320];
            snprintf(sub, sizeof sub, "%s/sub%d", confdir, ++*nfiles);
            fprintf(f, "auth substack %s\n", sub);
            write_level(s, i, level + 1, sub, nfiles);
            continue;
        }
        char control[256];
        pam_control(s->controls[e], control, sizeof control);
        fprintf(f, "auth %s %s/pam_debug_%d.so auth=%s\n", control, confdir, s->module_no[e],
                pam_word_of((fhirpam_code)s->codes[e]));
    }
    fclose(f);
}

/* Runs s through libpam; returns PAM's code and fills called. */
static int pam_walk(const stackspec *s, char *called, size_t calledlen)
{
    char path[320];
    snprintf(path, sizeof path, "%s/parity", confdir);
    size_t i = 0;
    int nfiles = 0;
    write_level(s, &i, 0, path, &nfiles);

    pam_handle_t *pamh = NULL;
    struct pam_conv conv = {conversation, NULL};
    int rc = pam_start_confdir("parity", "parity-user", &conv, confdir, &pamh);
    ck_assert_msg(rc == PAM_SUCCESS, "pam_start_confdir: %d", rc);
    pam_ncalled = 0;
    int result = pam_authenticate(pamh, 0);
    pam_end(pamh, result);

    size_t used = 0;
    called[0] = '\0';
    for (size_t k = 0; k < pam_ncalled && used < calledlen; k++)
        used +=
            (size_t)snprintf(called + used, calledlen - used, "%s%d", k ? " " : "", pam_called[k]);
    return result;
}

static size_t compared, mismatches;

/* Compares one stack; returns 1 when the engine and libpam agree. */
static int compare(const char *text)
{
    stackspec s;
    char err[256];
    ck_assert_msg(spec_parse(text, &s, err, sizeof err) == 0, "%s: %s", text, err);
    stack_result res;
    char ours[256], theirs[256];
    spec_run(&s, &res, NULL, ours, sizeof ours);
    int pam_rc = pam_walk(&s, theirs, sizeof theirs);
    fhirpam_code pam_code;
    bool code_ok = fhirpam_of_pam(pam_rc, &pam_code) == 0 && pam_code == res.code;
    compared++;
    if (code_ok && strcmp(ours, theirs) == 0)
        return 1;
    if (mismatches++ < 20)
        fprintf(stderr, "MISMATCH %s: fhirpam %s [%s], Linux-PAM %d (%s) [%s]\n", text,
                fhirpam_code_name(res.code), ours, pam_rc, code_ok ? "same" : "differs", theirs);
    return 0;
}

static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    ck_assert_msg(in >= 0, "%s: %s", from, strerror(errno));
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_msg(out >= 0, "%s: %s", to, strerror(errno));
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        ck_assert(write(out, buf, (size_t)n) == n);
    close(in);
    close(out);
}

static void setup(void)
{
    snprintf(confdir, sizeof confdir, "%s/fhirpam-parity-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert(mkdtemp(confdir) != NULL);
    for (int n = 1; n <= SPEC_MAX; n++) {
        char to[320];
        snprintf(to, sizeof to, "%s/pam_debug_%d.so", confdir, n);
        copy_file(PAM_DEBUG_SO, to);
    }
    compared = mismatches = 0;
}

static void teardown(void)
{
    char cmd[320];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", confdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", confdir);
}

/* Every stack of keyword:code lines, codes success/deny/ignore, length 1..4. */
START_TEST(keywords_exhaustive)
{
    static const char *const kw[] = {"required", "requisite", "sufficient", "optional"};
    static const char *const codes[] = {"success", "deny", "ignore"};
    const int kinds = 12;
    for (int len = 1; len <= 4; len++) {
        int total = 1;
        for (int k = 0; k < len; k++)
            total *= kinds;
        for (int v = 0; v < total; v++) {
            char text[256];
            size_t used = 0;
            for (int k = 0, x = v; k < len; k++, x /= kinds)
                used += (size_t)snprintf(text + used, sizeof text - used, "%s%s:%s", k ? " " : "",
                                         kw[(x % kinds) / 3], codes[x % 3]);
            compare(text);
        }
    }
    printf("pam parity: %zu keyword stacks compared with Linux-PAM, %zu mismatches\n", compared,
           mismatches);
    ck_assert_msg(mismatches == 0, "%zu of %zu keyword stacks differ from Linux-PAM", mismatches,
                  compared);
}
END_TEST

/* A small deterministic generator (xorshift), so a failure reproduces. */
static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;
static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

static void random_control(char *out, size_t outlen)
{
    static const char *const kw[] = {"required", "requisite", "sufficient", "optional"};
    static const char *const values[] = {"success", "deny",        "ignore", "invalid_token",
                                         "expired", "unavailable", "default"};
    static const char *const actions[] = {"ignore", "ok", "done", "bad", "die",
                                          "reset",  "1",  "2",    "3"};
    if (rnd(4) == 0) {
        snprintf(out, outlen, "%s", kw[rnd(4)]);
        return;
    }
    size_t used = (size_t)snprintf(out, outlen, "[");
    unsigned pairs = 1 + rnd(4);
    for (unsigned p = 0; p < pairs; p++)
        used += (size_t)snprintf(out + used, outlen - used, "%s%s=%s", p ? " " : "", values[rnd(7)],
                                 actions[rnd(9)]);
    snprintf(out + used, outlen - used, "]");
}

START_TEST(extended_random)
{
    static const char *const codes[] = {"success",       "deny",    "ignore",
                                        "invalid_token", "expired", "unavailable"};
    for (int n = 0; n < RANDOM_STACKS; n++) {
        char text[1024];
        size_t used = 0;
        unsigned depth = 0, lines = 1 + rnd(7);
        for (unsigned k = 0; k < lines; k++) {
            if (depth < 3 && rnd(5) == 0) {
                used += (size_t)snprintf(text + used, sizeof text - used, "{ ");
                depth++;
            }
            char control[160];
            random_control(control, sizeof control);
            used +=
                (size_t)snprintf(text + used, sizeof text - used, "%s:%s ", control, codes[rnd(6)]);
            if (depth > 0 && rnd(3) == 0) {
                used += (size_t)snprintf(text + used, sizeof text - used, "} ");
                depth--;
            }
        }
        while (depth-- > 0)
            used += (size_t)snprintf(text + used, sizeof text - used, "} ");
        compare(text);
    }
    printf("pam parity: %zu extended-syntax stacks compared with Linux-PAM, %zu mismatches\n",
           compared, mismatches);
    ck_assert_msg(mismatches == 0, "%zu of %zu extended stacks differ from Linux-PAM", mismatches,
                  compared);
}
END_TEST

/* The hand-derived rows that concern only codes PAM has, once more, here. */
START_TEST(reference_examples)
{
    static const char *const examples[] = {
        "required:invalid_token sufficient:success required:success",
        "required:invalid_token requisite:expired required:success",
        "sufficient:success required:invalid_token",
        "optional:success required:ignore",
        "[default=ok]:ignore",
        "[ignore=ok]:ignore required:success",
        "required:success [default=ok]:invalid_token",
        "[default=ok]:deny required:invalid_token",
        "[success=bad]:success [success=ok]:success",
        "{ [default=die]:success } required:invalid_token",
        "[success=1 default=bad]:success required:success",
        "required:expired [success=5]:success required:invalid_token",
        "[success=2]:success { required:invalid_token } required:invalid_token",
        "required:invalid_token [default=reset]:success required:success",
        "required:invalid_token { [default=reset]:success } required:success",
        "required:invalid_token { required:success } { [default=reset]:success }",
        "[ignore=die]:ignore required:success",
        "{ sufficient:success } required:invalid_token",
        "{ requisite:invalid_token } required:success",
        "{ [success=1]:success }",
        "[success=1]:success { required:invalid_token } required:success",
        "{ } required:success",
        "[default=ok default=bad]:invalid_token",
        "required:unavailable required:success",
    };
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++)
        compare(examples[i]);
    ck_assert_msg(mismatches == 0, "%zu reference examples differ from Linux-PAM", mismatches);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pam_parity");
    TCase *t = tcase_create("parity");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 0);
    tcase_add_test(t, reference_examples);
    tcase_add_test(t, keywords_exhaustive);
    tcase_add_test(t, extended_random);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
