/*
 * testutil.c - see testutil.h.
 */
#include "testutil.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ftw.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *env_or_die(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL) {
        fprintf(stderr, "%s is not set: run the tests with `meson test`\n", name);
        abort();
    }
    return v;
}

const char *tu_modules_dir(void)
{
    return env_or_die("FHIRPAM_TEST_MODULES_DIR");
}

const char *tu_data_dir(void)
{
    return env_or_die("FHIRPAM_TEST_DATA_DIR");
}

const char *tu_build_dir(void)
{
    return env_or_die("FHIRPAM_TEST_BUILD_DIR");
}

static char tmpdir_path[256];
static pid_t tmpdir_owner;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* Each process removes the directory it made (Check forks one per test). */
static void remove_tmpdir(void)
{
    if (tmpdir_path[0] != '\0' && tmpdir_owner == getpid())
        nftw(tmpdir_path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tu_tmpdir(void)
{
    char *dir = tmpdir_path;
    /* Check forks each test: every process gets its own directory. */
    if (dir[0] == '\0' || tmpdir_owner != getpid()) {
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(dir, sizeof tmpdir_path, "%s/fhirpam-test-XXXXXX", base);
        if (mkdtemp(dir) == NULL) {
            perror("mkdtemp");
            abort();
        }
        tmpdir_owner = getpid();
        atexit(remove_tmpdir);
    }
    return dir;
}

const char *tu_write(const char *name, const char *text)
{
    static char paths[8][512];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, sizeof paths[0], "%s/%s", tu_tmpdir(), name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_msg(fd >= 0, "cannot create %s: %s", path, strerror(errno));
    size_t len = strlen(text);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

const char *tu_config(const char *text)
{
    static int n;
    char name[64];
    snprintf(name, sizeof name, "config-%d.conf", n++);
    return tu_write(name, text);
}

fhirpam_context *tu_open(const char *text, fhirpam_error *err)
{
    return fhirpam_open(tu_config(text), tu_modules_dir(), err);
}

void tu_expect_load_error(const char *text, int line, const char *needle)
{
    fhirpam_error err = {{0}};
    const char *path = tu_config(text);
    fhirpam_context *ctx = fhirpam_open(path, tu_modules_dir(), &err);
    ck_assert_msg(ctx == NULL, "config loaded but should fail with '%s':\n%s", needle, text);
    ck_assert_msg(strstr(err.text, needle) != NULL, "error '%s' does not mention '%s'", err.text,
                  needle);
    if (line > 0) {
        char prefix[600];
        snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
        ck_assert_msg(strncmp(err.text, prefix, strlen(prefix)) == 0,
                      "error '%s' does not start with '%s'", err.text, prefix);
    }
}

fhirpam_decision *tu_authorize(fhirpam_context *ctx, const char *stack, const char *method,
                               const char *url)
{
    fhirpam_request *req = fhirpam_request_new(method, url);
    ck_assert_ptr_nonnull(req);
    fhirpam_decision *d = fhirpam_authorize(ctx, stack, req);
    ck_assert_ptr_nonnull(d);
    fhirpam_request_free(req);
    return d;
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
    char *b = realloc(*buf, *len + n + 1);
    ck_assert_ptr_nonnull(b);
    memcpy(b + *len, data, n);
    *len += n;
    b[*len] = '\0';
    *buf = b;
}

int tu_run(char *const argv[], const char *input, char **out, char **err)
{
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC))
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (rc != 0)
        return -1;
    if (input != NULL) {
        size_t len = strlen(input), done = 0;
        while (done < len) {
            ssize_t n = write(in_pipe[1], input + done, len - done);
            if (n <= 0)
                break;
            done += (size_t)n;
        }
    }
    close(in_pipe[1]);
    char *obuf = calloc(1, 1), *ebuf = calloc(1, 1);
    size_t olen = 0, elen = 0;
    struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP)))
                continue;
            char buf[4096];
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            } else if (i == 0) {
                append(&obuf, &olen, buf, (size_t)n);
            } else {
                append(&ebuf, &elen, buf, (size_t)n);
            }
        }
    }
    int status;
    waitpid(pid, &status, 0);
    if (out)
        *out = obuf;
    else
        free(obuf);
    if (err)
        *err = ebuf;
    else
        free(ebuf);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void tu_copy(const char *from, const char *to, unsigned mode)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    ck_assert_msg(in >= 0, "cannot read %s: %s", from, strerror(errno));
    unlink(to);
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ck_assert_msg(out >= 0, "cannot create %s: %s", to, strerror(errno));
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        ck_assert_int_eq(write(out, buf, (size_t)n), n);
    ck_assert_int_eq(fchmod(out, (mode_t)mode), 0);
    close(in);
    close(out);
}

bool tu_root_or_skip(const char *test)
{
    if (geteuid() == 0)
        return true;
    fprintf(stderr, "%s: needs root (chown, a second user); not tested\n", test);
    return false;
}

int tu_as_other_user(int (*fn)(void *arg), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        gid_t gid = TU_OTHER_UID;
        if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 ||
            setresuid(TU_OTHER_UID, TU_OTHER_UID, TU_OTHER_UID) != 0)
            _exit(255);
        _exit(fn(arg));
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) == 255)
        return -1;
    return WEXITSTATUS(status);
}
