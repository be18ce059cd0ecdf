/*
 * test_audit.c - the audit trail never lies (issue 29, rows 10, 11, 13, 14):
 * one whole record per decision, saying the decision returned; a full disk
 * (a small tmpfs, when root) leaves no torn record; the stderr sink on a
 * pipe under 16 threads gives only whole lines and refuses what a pipe
 * cannot carry whole; a reader gone never kills the host (SIGPIPE); a file
 * owned by someone else is refused; a deleted or renamed file is opened
 * again; line separators in a claim are escaped; fhirpamd's /metrics shows a
 * deny list that did not load.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "mint.h"
#include "testutil.h"

#define ISS "https://ehr.example.org"
#define AUD "https://fhir.example.org"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* A configuration with `audit` and two public stacks: "small" (one debug
 * line, a record of about 500 bytes) and "big" (60 lines: over PIPE_BUF). */
static const char *stacks_config(const char *audit)
{
    static char text[16384];
    size_t n = (size_t)snprintf(text, sizeof text,
                                "%s\nstacks: {\n small = { token = \"none\"; lines = ( { control = "
                                "\"required\"; module = \"debug\"; args = { result = \"success\"; "
                                "}; } ); };\n big = { token = \"none\"; lines = (",
                                audit);
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(text + n, sizeof text - n,
                              "%s { control = \"optional\"; module = \"debug\"; args = { result = "
                              "\"success\"; }; }",
                              i ? "," : "");
    snprintf(text + n, sizeof text - n, " ); };\n};");
    return text;
}

static fhirpam_context *open_stacks(const char *audit)
{
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(stacks_config(audit), &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    return ctx;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        *len = 0;
        return strdup("");
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t got; (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (cap - n < 4096)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    fclose(f);
    *len = n;
    return buf;
}

typedef struct lines_seen {
    size_t lines, permits, denies, longest, truncated;
} lines_seen;

/* Every line of text is one whole JSON record ending in a newline; fails
 * the test on the first that is not. */
static lines_seen check_lines(const char *text, size_t len)
{
    lines_seen seen = {0};
    if (len > 0)
        ck_assert_msg(text[len - 1] == '\n', "the last record has no newline");
    for (const char *p = text; p < text + len;) {
        const char *nl = memchr(p, '\n', (size_t)(text + len - p));
        ck_assert_ptr_nonnull(nl);
        json_error_t jerr;
        json_t *v = json_loadb(p, (size_t)(nl - p), JSON_REJECT_DUPLICATES, &jerr);
        ck_assert_msg(json_is_object(v), "line %zu is not a whole record (%s): %.200s",
                      seen.lines + 1, jerr.text, p);
        const char *decision = json_string_value(json_object_get(v, "decision"));
        ck_assert_ptr_nonnull(decision);
        *(strcmp(decision, "permit") == 0 ? &seen.permits : &seen.denies) += 1;
        seen.truncated += json_is_true(json_object_get(v, "truncated"));
        if ((size_t)(nl - p) + 1 > seen.longest)
            seen.longest = (size_t)(nl - p) + 1;
        json_decref(v);
        seen.lines++;
        p = nl + 1;
    }
    return seen;
}

/* ---- the file: owner and mode, rotation ---- */

START_TEST(foreign_audit_file_refused)
{
    static const struct {
        mode_t mode;
        bool nobody, ok;
        const char *message;
    } cases[] = {
        {0666, true, false, "owned by uid"},
        {0644, true, false, "owned by uid"},
        {0666, false, false, "world-writable"},
        {0620, false, false, "group-writable"},
        {0640, false, true, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].nobody && geteuid() != 0)
            continue; /* only root can give a file away */
        char path[600], audit[800];
        snprintf(path, sizeof path, "%s/foreign-%zu.jsonl", tu_tmpdir(), i);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ck_assert_int_ge(fd, 0);
        close(fd);
        chmod(path, cases[i].mode);
        if (cases[i].nobody)
            ck_assert_int_eq(chown(path, 65534, 65534), 0);
        snprintf(audit, sizeof audit, "audit: { sink = \"file\"; path = \"%s\"; };", path);
        fhirpam_error err = {{0}};
        fhirpam_context *ctx = tu_open(stacks_config(audit), &err);
        if (cases[i].ok) {
            ck_assert_msg(ctx != NULL, "%s", err.text);
            fhirpam_close(ctx);
        } else {
            ck_assert_msg(ctx == NULL, "case %zu: a foreign audit file was accepted", i);
            ck_assert_msg(strstr(err.text, cases[i].message) != NULL, "%s", err.text);
        }
    }
    /* A symbolic link is not followed. */
    char link_path[600], audit[800];
    snprintf(link_path, sizeof link_path, "%s/link.jsonl", tu_tmpdir());
    ck_assert_int_eq(symlink("/tmp/elsewhere.jsonl", link_path), 0);
    snprintf(audit, sizeof audit, "audit: { sink = \"file\"; path = \"%s\"; };", link_path);
    fhirpam_error err = {{0}};
    ck_assert_ptr_null(tu_open(stacks_config(audit), &err));
    ck_assert_msg(strstr(err.text, "symbolic link") != NULL, "%s", err.text);
}
END_TEST

/* Row 13: deleted, then renamed away: the library notices (within 250 ms,
 * on a write) and opens the path again; records go on, whole. */
START_TEST(deleted_or_renamed_file_reopened)
{
    char path[600], rotated[620], audit[800];
    snprintf(path, sizeof path, "%s/rotate.jsonl", tu_tmpdir());
    snprintf(rotated, sizeof rotated, "%s.1", path);
    snprintf(audit, sizeof audit, "audit: { sink = \"file\"; path = \"%s\"; required = true; };",
             path);
    fhirpam_context *ctx = open_stacks(audit);
    fhirpam_decision_free(tu_authorize(ctx, "small", "GET", "Patient/1"));
    ck_assert_int_eq(unlink(path), 0);
    bool back = false;
    for (int i = 0; i < 200 && !back; i++) {
        fhirpam_decision *d = tu_authorize(ctx, "small", "GET", "Patient/1");
        ck_assert(fhirpam_decision_permitted(d));
        fhirpam_decision_free(d);
        back = access(path, F_OK) == 0;
        sleep_ms(10);
    }
    ck_assert_msg(back, "the deleted audit file was never opened again");
    fhirpam_decision_free(tu_authorize(ctx, "small", "GET", "Patient/2"));
    size_t len;
    char *text = slurp(path, &len);
    ck_assert_uint_ge(check_lines(text, len).permits, 1);
    free(text);

    ck_assert_int_eq(rename(path, rotated), 0);
    size_t before;
    free(slurp(rotated, &before));
    back = false;
    for (int i = 0; i < 200 && !back; i++) {
        fhirpam_decision_free(tu_authorize(ctx, "small", "GET", "Patient/3"));
        back = access(path, F_OK) == 0;
        sleep_ms(10);
    }
    ck_assert_msg(back, "the renamed audit file was never replaced");
    fhirpam_decision_free(tu_authorize(ctx, "small", "GET", "Patient/4"));
    text = slurp(path, &len);
    ck_assert_uint_ge(check_lines(text, len).lines, 1);
    ck_assert_ptr_nonnull(strstr(text, "\"decision\":\"permit\""));
    free(text);
    text = slurp(rotated, &len);
    check_lines(text, len); /* the rotated file holds whole records only */
    free(text);

    /* Replaced by a file someone else could write to: refused, and with
     * required = true decisions are denied until it is fixed. */
    ck_assert_int_eq(rename(path, rotated), 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    close(fd);
    chmod(path, 0666);
    bool denied = false;
    for (int i = 0; i < 200 && !denied; i++) {
        fhirpam_decision *d = tu_authorize(ctx, "small", "GET", "Patient/5");
        denied = !fhirpam_decision_permitted(d);
        if (denied)
            ck_assert_str_eq(fhirpam_decision_reason(d), "audit_write_failed");
        fhirpam_decision_free(d);
        sleep_ms(10);
    }
    ck_assert(denied);
    text = slurp(path, &len);
    ck_assert_uint_eq(len, 0); /* nothing written into the foreign file */
    free(text);
    chmod(path, 0600);
    bool permitted = false;
    for (int i = 0; i < 200 && !permitted; i++) {
        fhirpam_decision *d = tu_authorize(ctx, "small", "GET", "Patient/6");
        permitted = fhirpam_decision_permitted(d);
        fhirpam_decision_free(d);
        sleep_ms(10);
    }
    ck_assert(permitted);
    fhirpam_close(ctx);
}
END_TEST

/* ---- row 10: a full disk ---- */

START_TEST(full_disk_leaves_no_torn_record)
{
    if (geteuid() != 0) {
        printf("audit full_disk: skipped: mounting a small tmpfs needs root\n");
        return;
    }
    char dir[600];
    snprintf(dir, sizeof dir, "%s/full-XXXXXX", "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0700") != 0) {
        printf("audit full_disk: skipped: cannot mount a tmpfs: %s\n", strerror(errno));
        rmdir(dir);
        return;
    }
    /* A filler to delete later, to make room again. */
    char filler[700], path[700], audit[900];
    snprintf(filler, sizeof filler, "%s/filler", dir);
    snprintf(path, sizeof path, "%s/decisions.jsonl", dir);
    int fd = open(filler, O_WRONLY | O_CREAT, 0600);
    char block[8192];
    memset(block, 'f', sizeof block);
    ck_assert_int_eq(write(fd, block, sizeof block), (ssize_t)sizeof block);
    close(fd);
    snprintf(audit, sizeof audit, "audit: { sink = \"file\"; path = \"%s\"; required = true; };",
             path);
    fhirpam_context *ctx = open_stacks(audit);
    size_t permits = 0, denies = 0;
    for (int i = 0; i < 2000 && denies < 20; i++) {
        fhirpam_decision *d = tu_authorize(ctx, i % 7 ? "small" : "big", "GET", "Patient/1");
        if (fhirpam_decision_permitted(d)) {
            permits++;
        } else {
            ck_assert_str_eq(fhirpam_decision_reason(d), "audit_write_failed");
            denies++;
        }
        fhirpam_decision_free(d);
    }
    ck_assert_uint_eq(denies, 20);
    size_t len;
    char *text = slurp(path, &len);
    lines_seen seen = check_lines(text, len);
    free(text);
    /* One record per decision returned: every permit, and no record of a
     * decision that was then denied for want of one. */
    ck_assert_uint_eq(seen.lines, permits);
    ck_assert_uint_eq(seen.permits, permits);
    printf("audit full_disk: %zu records written whole, then %zu decisions denied; 0 torn\n",
           permits, denies);

    /* Room again: records go on, still whole. */
    unlink(filler);
    size_t more = 0;
    for (int i = 0; i < 5; i++) {
        fhirpam_decision *d = tu_authorize(ctx, "small", "GET", "Patient/2");
        more += fhirpam_decision_permitted(d) ? 1 : 0;
        fhirpam_decision_free(d);
    }
    ck_assert_uint_eq(more, 5);
    text = slurp(path, &len);
    seen = check_lines(text, len);
    ck_assert_uint_eq(seen.lines, permits + more);
    free(text);
    fhirpam_close(ctx);
    umount2(dir, MNT_DETACH);
    rmdir(dir);
}
END_TEST

/* ---- row 11: the stderr sink on a pipe, 16 threads ---- */

typedef struct pipe_load {
    fhirpam_context *ctx;
    int index;
    atomic_long small_permits, big_permits, big_denies, other;
} pipe_load;

static pipe_load load_state;

static void *decide_loop(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (int i = 0; i < 60; i++) {
        bool big = (i + me) % 4 == 0;
        fhirpam_decision *d =
            tu_authorize(load_state.ctx, big ? "big" : "small", "GET", "Patient/1");
        if (fhirpam_decision_permitted(d))
            atomic_fetch_add(big ? &load_state.big_permits : &load_state.small_permits, 1);
        else if (big && strcmp(fhirpam_decision_reason(d), "audit_write_failed") == 0)
            atomic_fetch_add(&load_state.big_denies, 1);
        else
            atomic_fetch_add(&load_state.other, 1);
        fhirpam_decision_free(d);
    }
    return NULL;
}

/* Runs 16 threads of decisions in a child whose stderr is a pipe (the
 * audit sink), reads the pipe here, and checks every line. */
static void pipe_under_load(bool required)
{
    int p[2], result[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(pipe(result), 0);
    pid_t kid = fork();
    ck_assert_int_ge(kid, 0);
    if (kid == 0) {
        close(p[0]);
        close(result[0]);
        dup2(p[1], STDERR_FILENO);
        close(p[1]);
        char audit[128];
        snprintf(audit, sizeof audit, "audit: { sink = \"stderr\"; required = %s; };",
                 required ? "true" : "false");
        fhirpam_error err = {{0}};
        load_state.ctx = tu_open(stacks_config(audit), &err);
        if (load_state.ctx == NULL)
            _exit(2);
        pthread_t th[16];
        for (intptr_t i = 0; i < 16; i++)
            pthread_create(&th[i], NULL, decide_loop, (void *)i);
        for (int i = 0; i < 16; i++)
            pthread_join(th[i], NULL);
        long counts[4] = {atomic_load(&load_state.small_permits),
                          atomic_load(&load_state.big_permits), atomic_load(&load_state.big_denies),
                          atomic_load(&load_state.other)};
        fhirpam_close(load_state.ctx);
        ssize_t w = write(result[1], counts, sizeof counts);
        _exit(w == (ssize_t)sizeof counts ? 0 : 3);
    }
    close(p[1]);
    close(result[1]);
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    for (ssize_t n; (n = read(p[0], text + len, cap - len - 1)) > 0;) {
        len += (size_t)n;
        if (cap - len < 65536)
            text = realloc(text, cap *= 2);
    }
    text[len] = '\0';
    close(p[0]);
    long counts[4] = {0};
    ck_assert_int_eq(read(result[0], counts, sizeof counts), (ssize_t)sizeof counts);
    close(result[0]);
    int status;
    waitpid(kid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    lines_seen seen = check_lines(text, len);
    free(text);
    ck_assert_uint_le(seen.longest, PIPE_BUF);
    ck_assert_int_eq(counts[3], 0);
    /* Every decision permitted and recorded once, whole: a record too long
     * for the pipe (the big stack's trace) is written brief. */
    ck_assert_int_eq(counts[2], 0);
    ck_assert_int_eq(counts[0], 16 * 45);
    ck_assert_int_eq(counts[1], 16 * 15);
    ck_assert_uint_eq(seen.lines, 16 * 60);
    ck_assert_uint_eq(seen.permits, 16 * 60);
    ck_assert_uint_eq(seen.truncated, 16 * 15);
    printf("audit pipe (required = %s): %zu lines from 16 threads, all whole; %zu records over "
           "PIPE_BUF written brief\n",
           required ? "true" : "false", seen.lines, seen.truncated);
}

START_TEST(stderr_pipe_under_load)
{
    pipe_under_load(true);
    pipe_under_load(false);
}
END_TEST

/* ---- row 11 again, through the real daemon: fhirpamd on 16 threads ---- */

typedef struct daemon_load {
    unsigned port;
    int index;
    atomic_long ok, other;
} daemon_load;

/* One request to fhirpamd's /auth on a connection of its own; the status. */
static int auth_request(unsigned port, const char *uri)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /auth HTTP/1.1\r\nHost: x\r\nX-Original-Method: GET\r\n"
                     "X-Original-URI: %s\r\nConnection: close\r\n\r\n",
                     uri);
    int status = -1;
    char reply[256];
    if (write(fd, req, (size_t)n) == n) {
        ssize_t got = read(fd, reply, sizeof reply - 1);
        if (got > 12) {
            reply[got] = '\0';
            status = atoi(reply + 9); /* "HTTP/1.1 200" */
        }
    }
    close(fd);
    return status;
}

static void *daemon_loop(void *arg)
{
    daemon_load *load = arg;
    int me = atomic_fetch_add((_Atomic int *)&load->index, 1);
    for (int i = 0; i < 60; i++) {
        bool big = (i + me) % 4 == 0;
        int status = auth_request(load->port, big ? "/Observation/1" : "/Patient/1");
        atomic_fetch_add(status == 200 ? &load->ok : &load->other, 1);
    }
    return NULL;
}

static void *drain_pipe(void *arg)
{
    int fd = *(int *)arg;
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    for (ssize_t n; (n = read(fd, text + len, cap - len - 1)) > 0;) {
        len += (size_t)n;
        if (cap - len < 65536)
            text = realloc(text, cap *= 2);
    }
    text[len] = '\0';
    return text;
}

START_TEST(fhirpamd_stderr_pipe_under_load)
{
    char daemon[700], modules[700], ready[600];
    snprintf(daemon, sizeof daemon, "%s/../tools/fhirpamd/fhirpamd", tu_build_dir());
    snprintf(modules, sizeof modules, "%s/../modules", tu_build_dir());
    snprintf(ready, sizeof ready, "%s/fhirpamd.port", tu_tmpdir());
    unlink(ready);
    const char *conf = tu_config(stacks_config("audit: { sink = \"stderr\"; required = true; };"));
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t kid = fork();
    ck_assert_int_ge(kid, 0);
    if (kid == 0) {
        close(p[0]);
        dup2(p[1], STDERR_FILENO);
        close(p[1]);
        execl(daemon, daemon, "-c", conf, "--modules-dir", modules, "--listen", "127.0.0.1:0",
              "--ready-file", ready, "--threads", "16", "--route", "Patient=small", "--route",
              "Observation=big", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    pthread_t reader;
    pthread_create(&reader, NULL, drain_pipe, &p[0]);
    daemon_load load = {0};
    for (int i = 0; i < 300 && load.port == 0; i++) {
        FILE *f = fopen(ready, "r");
        if (f != NULL) {
            if (fscanf(f, "%u", &load.port) != 1)
                load.port = 0;
            fclose(f);
        }
        if (load.port == 0)
            sleep_ms(20);
    }
    ck_assert_msg(load.port != 0, "fhirpamd did not start");
    pthread_t th[16];
    for (int i = 0; i < 16; i++)
        pthread_create(&th[i], NULL, daemon_loop, &load);
    for (int i = 0; i < 16; i++)
        pthread_join(th[i], NULL);
    kill(kid, SIGTERM);
    int status;
    waitpid(kid, &status, 0);
    char *text;
    pthread_join(reader, (void **)&text);
    close(p[0]);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fhirpamd status %d", status);
    ck_assert_int_eq(atomic_load(&load.ok), 16 * 60);
    /* The daemon's own lines are not records; every other line is one
     * whole record, and there is one for each request. */
    size_t records = 0, truncated = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strncmp(line, "fhirpamd", 8) == 0) {
            ck_assert_msg(strstr(line, "\"decision\"") == NULL, "a record inside: %.300s", line);
            continue;
        }
        json_error_t jerr;
        json_t *v = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
        ck_assert_msg(json_is_object(v), "not a whole record (%s): %.300s", jerr.text, line);
        ck_assert_str_eq(json_string_value(json_object_get(v, "decision")), "permit");
        ck_assert_uint_le(strlen(line) + 1, PIPE_BUF);
        truncated += json_is_true(json_object_get(v, "truncated"));
        records++;
        json_decref(v);
    }
    free(text);
    ck_assert_uint_eq(records, 16 * 60);
    ck_assert_uint_eq(truncated, 16 * 15);
    printf("fhirpamd, 16 threads, stderr on a pipe: %zu records, all whole, %zu brief\n", records,
           truncated);
}
END_TEST

/* SIGPIPE never kills the host: a pipe or a socket with no reader, the
 * host with SIGPIPE's default action. */
START_TEST(reader_gone_is_no_signal)
{
    for (int kind = 0; kind < 2; kind++) {
        int fds[2];
        if (kind == 0)
            ck_assert_int_eq(pipe(fds), 0);
        else
            ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
        int reader = kind == 0 ? fds[0] : fds[1], writer = kind == 0 ? fds[1] : fds[0];
        pid_t kid = fork();
        ck_assert_int_ge(kid, 0);
        if (kid == 0) {
            signal(SIGPIPE, SIG_DFL);
            close(reader);
            dup2(writer, STDERR_FILENO);
            fhirpam_error err = {{0}};
            fhirpam_context *ctx =
                tu_open(stacks_config("audit: { sink = \"stderr\"; required = true; };"), &err);
            if (ctx == NULL)
                _exit(2);
            fhirpam_request *req = fhirpam_request_new("GET", "Patient/1");
            fhirpam_decision *d = fhirpam_authorize(ctx, "small", req);
            bool denied = d != NULL && !fhirpam_decision_permitted(d) &&
                          strcmp(fhirpam_decision_reason(d), "audit_write_failed") == 0;
            fhirpam_decision_free(d);
            fhirpam_request_free(req);
            fhirpam_close(ctx);
            _exit(denied ? 0 : 4);
        }
        close(reader);
        close(writer);
        int status;
        waitpid(kid, &status, 0);
        ck_assert_msg(!WIFSIGNALED(status), "the host died of signal %d", WTERMSIG(status));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    }

    /* The CLI: stderr (the audit sink) and stdout with no reader. */
    const char *conf = tu_config(stacks_config("audit: { sink = \"stderr\"; };"));
    for (int which = 1; which <= 2; which++) {
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        pid_t kid = fork();
        ck_assert_int_ge(kid, 0);
        if (kid == 0) {
            signal(SIGPIPE, SIG_DFL);
            close(fds[0]);
            dup2(fds[1], which);
            execl(getenv("FHIRPAM_CLI"), "fhirpam", "eval", "-c", conf, "--modules-dir",
                  tu_modules_dir(), "-s", "small", "--request", "GET Patient/1", (char *)NULL);
            _exit(127);
        }
        close(fds[0]);
        close(fds[1]);
        int status;
        waitpid(kid, &status, 0);
        ck_assert_msg(!WIFSIGNALED(status), "fhirpam eval died of signal %d (fd %d closed)",
                      WTERMSIG(status), which);
    }
}
END_TEST

/* ---- row 14 and "one record per decision" ---- */

START_TEST(one_escaped_record_per_decision)
{
    char path[600], audit[800];
    snprintf(path, sizeof path, "%s/records.jsonl", tu_tmpdir());
    EVP_PKEY *key = mint_keygen("ES256", 0);
    json_t *set = json_pack("{s:[o]}", "keys", mint_public_jwk(key, "k1", "ES256"));
    char *jwks = json_dumps(set, 0);
    const char *jwks_path = tu_write("jwks.json", jwks);
    char conf[2048];
    snprintf(audit, sizeof audit, "audit: { sink = \"file\"; path = \"%s\"; };", path);
    snprintf(conf, sizeof conf,
             "token: { issuer = \"" ISS "\"; audience = \"" AUD "\"; jwks = \"%s\"; algorithms = "
             "[\"ES256\"]; };\n%s\nstacks: { s = ( { control = \"required\"; module = \"debug\"; "
             "args = { result = \"success\"; }; } ); };",
             jwks_path, audit);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(conf, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    /* A subject with U+2028, U+2029 and U+0085 in it. */
    char payload[512];
    long long now = (long long)time(NULL);
    snprintf(payload, sizeof payload,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"a\\u2028b\\u2029c\\u0085d\","
             "\"iat\":%lld,\"exp\":%lld}",
             now - 10, now + 600);
    char *token = mint_token(key, "ES256", "{\"alg\":\"ES256\",\"kid\":\"k1\"}", payload);
    char header[2048];
    snprintf(header, sizeof header, "Bearer %s", token);
    const char *ids[3];
    char id_copy[3][64];
    for (int i = 0; i < 3; i++) {
        fhirpam_request *req = fhirpam_request_new("GET", "Patient/1");
        if (i != 1)
            fhirpam_request_add_header(req, "Authorization", header);
        fhirpam_decision *d = fhirpam_authorize(ctx, "s", req);
        ck_assert_int_eq(fhirpam_decision_permitted(d), i != 1);
        snprintf(id_copy[i], sizeof id_copy[i], "%s", fhirpam_decision_id(d));
        ids[i] = id_copy[i];
        fhirpam_decision_free(d);
        fhirpam_request_free(req);
    }
    size_t len;
    char *text = slurp(path, &len);
    lines_seen seen = check_lines(text, len);
    ck_assert_uint_eq(seen.lines, 3);
    ck_assert_uint_eq(seen.permits, 2);
    ck_assert_ptr_null(strstr(text, "\xe2\x80\xa8"));
    ck_assert_ptr_null(strstr(text, "\xe2\x80\xa9"));
    ck_assert_ptr_null(strstr(text, "\xc2\x85"));
    ck_assert_ptr_nonnull(strstr(text, "a\\u2028b\\u2029c\\u0085d"));
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_nonnull(strstr(text, ids[i]));
    free(text);
    fhirpam_close(ctx);
    free(token);
    free(jwks);
    json_decref(set);
    EVP_PKEY_free(key);
}
END_TEST

/* ---- fhirpamd's /metrics: the deny list's age and its last error ---- */

/* A stack of source_probe lines, one source each, of kinds[i]; the lines
 * whose stale[i] is true report their source stale. */
static const char *probe_config(const char *audit, const char *const *kinds, const bool *stale,
                                size_t n)
{
    static char text[8192];
    size_t len = (size_t)snprintf(text, sizeof text,
                                  "%s\nstacks: { s = { token = \"none\"; lines = (", audit);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, sizeof text - len,
                                "%s { control = \"optional\"; module = "
                                "\"%s/modules/source_probe.so\"; args = { kind = \"%s\"; %s }; }",
                                i ? "," : "", tu_build_dir(), kinds[i],
                                stale[i] ? "stale = \"it did not load\";" : "");
    snprintf(text + len, sizeof text - len, " ); }; };");
    return text;
}

/* Every source kind a configuration's modules register is a pair of fields
 * in every audit record ("<kind>_stale", and "<kind>_error" while stale),
 * one pair per kind, stale when any source of the kind is; a kind the record
 * could not carry refuses the configuration instead of going unreported. */
START_TEST(every_source_kind_in_every_record)
{
    char path[600], audit[800];
    snprintf(path, sizeof path, "%s/kinds.jsonl", tu_tmpdir());
    unlink(path);
    snprintf(audit, sizeof audit, "audit: { sink = \"file\"; path = \"%s\"; };", path);
    const char *kinds[] = {"k1", "k2", "k3", "k4", "k2"};
    const bool stale[] = {false, false, false, false, true};
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(probe_config(audit, kinds, stale, 5), &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    ck_assert_uint_eq(fhirpam_sources(ctx, NULL, 0), 5);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert(fhirpam_decision_permitted(d));
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
    size_t len;
    char *text = slurp(path, &len);
    json_error_t jerr;
    json_t *record = json_loads(text, JSON_DISABLE_EOF_CHECK, &jerr);
    ck_assert_msg(record != NULL, "%s", jerr.text);
    free(text);
    for (int i = 1; i <= 4; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d_stale", i);
        ck_assert_msg(json_is_boolean(json_object_get(record, key)), "no %s", key);
        ck_assert_int_eq(json_is_true(json_object_get(record, key)), i == 2);
        snprintf(key, sizeof key, "k%d_error", i);
        if (i == 2)
            ck_assert_str_eq(json_string_value(json_object_get(record, key)), "it did not load");
        else
            ck_assert_ptr_null(json_object_get(record, key));
    }
    json_decref(record);

    /* A fifth kind is refused at open, naming it; so is a kind that is not
     * a word. */
    const char *five[] = {"k1", "k2", "k3", "k4", "k5"};
    ck_assert_ptr_null(tu_open(probe_config(audit, five, stale, 5), &err));
    ck_assert_msg(strstr(err.text, "kind k5") != NULL, "%s", err.text);
    const char *odd[] = {"Kind-1"};
    ck_assert_ptr_null(tu_open(probe_config(audit, odd, stale, 1), &err));
    ck_assert_msg(strstr(err.text, "kind Kind-1") != NULL, "%s", err.text);
}
END_TEST

START_TEST(metrics_show_a_stale_deny_list)
{
    char list[600];
    snprintf(list, sizeof list, "%s/metrics-denylist", tu_tmpdir());
    FILE *f = fopen(list, "w");
    fputs("jti " ISS " x 4102444800\n", f);
    fclose(f);
    chmod(list, 0644);
    char conf[2048];
    EVP_PKEY *key = mint_keygen("ES256", 0);
    json_t *set = json_pack("{s:[o]}", "keys", mint_public_jwk(key, "k1", "ES256"));
    char *jwks = json_dumps(set, 0);
    snprintf(conf, sizeof conf,
             "token: { issuer = \"" ISS "\"; audience = \"" AUD "\"; jwks = \"%s\"; };\n"
             "stacks: { s = ( { control = \"requisite\"; module = \"revocation\"; args = { "
             "denylist = \"%s\"; check_interval_ms = 10; }; } ); };",
             tu_write("jwks.json", jwks), list);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(conf, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    metrics_init();
    size_t len;
    char *text = metrics_render(ctx, 0, 0, &len);
    ck_assert_msg(strstr(text, "fhirpamd_source_stale{kind=\"revocation\",name=\"") != NULL, "%s",
                  text);
    ck_assert_ptr_nonnull(strstr(text, "\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "fhirpamd_source_age_seconds{kind=\"revocation\""));
    free(text);
    f = fopen(list, "a");
    fputs("sub " ISS "\n", f);
    fclose(f);
    bool stale = false;
    for (int i = 0; i < 300 && !stale; i++) {
        text = metrics_render(ctx, 0, 0, &len);
        stale = strstr(text, ":2: a sub rule has") != NULL;
        if (stale)
            ck_assert_msg(strstr(text, "\"} 1\n") != NULL, "%s", text);
        free(text);
        if (!stale)
            sleep_ms(10);
    }
    ck_assert(stale);
    metrics_free();
    fhirpam_close(ctx);
    free(jwks);
    json_decref(set);
    EVP_PKEY_free(key);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("audit");
    TCase *t = tcase_create("audit");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, foreign_audit_file_refused);
    tcase_add_test(t, deleted_or_renamed_file_reopened);
    tcase_add_test(t, full_disk_leaves_no_torn_record);
    tcase_add_test(t, stderr_pipe_under_load);
    tcase_add_test(t, fhirpamd_stderr_pipe_under_load);
    tcase_add_test(t, reader_gone_is_no_signal);
    tcase_add_test(t, one_escaped_record_per_decision);
    tcase_add_test(t, every_source_kind_in_every_record);
    tcase_add_test(t, metrics_show_a_stale_deny_list);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
