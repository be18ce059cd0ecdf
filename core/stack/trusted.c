/*
 * trusted.c - see trusted.h.
 *
 * Why every directory: whoever may write to a directory may rename their own
 * file over any name in it, or a directory of their own over any directory
 * below it, whoever owns what was there. Checking only the file (as fhirpam
 * did until issue 28) lets a user with write access to modules_dir turn a
 * deny into a permit by renaming one root-owned module over another. OpenPAM
 * checks every component of the path (openpam_check_path_owner_perms); so do
 * we, and we check each directory on the descriptor the walk continues from,
 * so a component swapped for a symbolic link after its check is never
 * followed. Sticky directories get no exception: the rule stays one rule, as
 * in OpenPAM, and a configuration in /tmp is a mistake worth a clear refusal.
 */
#include "trusted.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Owner and mode: the rule shared by the file and its directories. Returns
 * NULL when st passes, or what is wrong ("group-writable (mode 0775)"). */
static const char *owner_mode_fault(const struct stat *st, char *buf, size_t len)
{
    if (st->st_uid != 0 && st->st_uid != geteuid()) {
        snprintf(buf, len, "owned by uid %u, not by root or the running user (uid %u)",
                 (unsigned)st->st_uid, (unsigned)geteuid());
        return buf;
    }
    unsigned mode = (unsigned)(st->st_mode & 07777);
    if (st->st_mode & S_IWOTH) {
        snprintf(buf, len, "world-writable (mode %04o%s)", mode,
                 (st->st_mode & S_ISVTX) ? ", sticky" : "");
        return buf;
    }
    if (st->st_mode & S_IWGRP) {
        snprintf(buf, len, "group-writable (mode %04o)", mode);
        return buf;
    }
    return NULL;
}

/* Check the directory open on fd, named `dir` in messages. */
static int check_directory(int fd, const char *dir, char *why, size_t whylen)
{
    struct stat st;
    char fault[160];
    if (fstat(fd, &st) != 0) {
        snprintf(why, whylen, "cannot be checked: %s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, whylen, "cannot be opened: %s is not a directory", dir);
        return -1;
    }
    if (owner_mode_fault(&st, fault, sizeof fault) != NULL) {
        snprintf(why, whylen, "lies under %s, which is %s", dir, fault);
        return -1;
    }
    return 0;
}

int trusted_check_fd(int fd, char *why, size_t whylen)
{
    struct stat st;
    char fault[160];
    if (fstat(fd, &st) != 0) {
        snprintf(why, whylen, "cannot stat: %s", strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "is not a regular file");
        return -1;
    }
    if (owner_mode_fault(&st, fault, sizeof fault) != NULL) {
        snprintf(why, whylen, "is %s", fault);
        return -1;
    }
    return 0;
}

/*
 * The segments of absolute `path` with "." dropped and ".." taken back,
 * written NUL-separated into out (as long as path). Returns how many, or -1
 * when path is not absolute or names "/" itself.
 */
static int split_path(const char *path, char *out, size_t *ends, size_t max)
{
    if (path[0] != '/')
        return -1;
    size_t used = 0;
    int n = 0;
    for (const char *p = path; *p != '\0';) {
        while (*p == '/')
            p++;
        const char *start = p;
        while (*p != '\0' && *p != '/')
            p++;
        size_t len = (size_t)(p - start);
        if (len == 0 || (len == 1 && start[0] == '.'))
            continue;
        if (len == 2 && start[0] == '.' && start[1] == '.') {
            if (n > 0)
                used = --n > 0 ? ends[n - 1] + 1 : 0;
            continue;
        }
        if ((size_t)n == max)
            return -1;
        memcpy(out + used, start, len);
        out[used + len] = '\0';
        used += len + 1;
        ends[n++] = used - 1;
    }
    return n > 0 ? n : -1;
}

/* The walk's error for segment `name` that openat refused. */
static void describe_open_error(int dir, const char *name, const char *shown, bool last, char *why,
                                size_t whylen)
{
    int e = errno;
    struct stat st;
    if ((e == ELOOP || e == ENOTDIR) && fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(st.st_mode)) {
        if (last)
            snprintf(why, whylen, "is a symbolic link");
        else
            snprintf(why, whylen, "is reached through %s, which is a symbolic link", shown);
        return;
    }
    if (last)
        snprintf(why, whylen, "cannot be opened: %s", strerror(e));
    else
        snprintf(why, whylen, "cannot be opened: %s: %s", shown, strerror(e));
}

int trusted_open(const char *path, char *why, size_t whylen)
{
    if (path == NULL || path[0] != '/') {
        snprintf(why, whylen, "is not an absolute path");
        return -1;
    }
    size_t len = strlen(path);
    if (len >= 4096) {
        snprintf(why, whylen, "is a path longer than 4095 bytes");
        return -1;
    }
    char segs[4096], shown[4096];
    size_t ends[512];
    int n = split_path(path, segs, ends, sizeof ends / sizeof ends[0]);
    if (n < 0) {
        snprintf(why, whylen, "does not name a file");
        return -1;
    }
    int dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        snprintf(why, whylen, "cannot be opened: /: %s", strerror(errno));
        return -1;
    }
    if (check_directory(dir, "/", why, whylen) != 0) {
        close(dir);
        return -1;
    }
    size_t shown_len = 0;
    const char *seg = segs;
    for (int i = 0; i < n; i++) {
        bool last = i == n - 1;
        size_t seg_len = strlen(seg);
        shown[shown_len++] = '/';
        memcpy(shown + shown_len, seg, seg_len + 1);
        shown_len += seg_len;
        /* Directories by O_PATH: no read permission needed to pass through,
         * as for the kernel's own walk. */
        int flags = last ? O_RDONLY | O_NOCTTY | O_NONBLOCK : O_PATH | O_DIRECTORY;
        int next = openat(dir, seg, flags | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            describe_open_error(dir, seg, shown, last, why, whylen);
            close(dir);
            return -1;
        }
        close(dir);
        if (last) {
            if (trusted_check_fd(next, why, whylen) != 0) {
                close(next);
                return -1;
            }
            return next;
        }
        if (check_directory(next, shown, why, whylen) != 0) {
            close(next);
            return -1;
        }
        dir = next;
        seg += seg_len + 1;
    }
    return -1; /* not reached: n > 0 */
}

char *read_whole(int fd, size_t max_bytes, size_t *len, char *why, size_t whylen)
{
    size_t cap = 0, used = 0;
    char *buf = NULL;
    for (;;) {
        if (used + 1 >= cap) {
            /* Room for max_bytes + 1, so that one byte too many is seen. */
            size_t want = cap ? cap * 2 : 4096;
            if (want > max_bytes + 2)
                want = max_bytes + 2;
            char *bigger = realloc(buf, want);
            if (bigger == NULL) {
                snprintf(why, whylen, "out of memory");
                goto fail;
            }
            buf = bigger;
            cap = want;
        }
        ssize_t n = read(fd, buf + used, cap - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(why, whylen, "cannot be read: %s", strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        used += (size_t)n;
        if (used > max_bytes) {
            snprintf(why, whylen, "is larger than %zu bytes", max_bytes);
            goto fail;
        }
    }
    buf[used] = '\0';
    if (len != NULL)
        *len = used;
    return buf;
fail:
    free(buf);
    return NULL;
}

char *trusted_read(const char *path, size_t max_bytes, size_t *len, char *why, size_t whylen)
{
    int fd = trusted_open(path, why, whylen);
    if (fd < 0)
        return NULL;
    char *buf = read_whole(fd, max_bytes, len, why, whylen);
    close(fd);
    return buf;
}

char *path_absolute(const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char *cwd = getcwd(NULL, 0);
    if (cwd == NULL)
        return NULL;
    size_t n = strlen(cwd) + strlen(path) + 2;
    char *out = malloc(n);
    if (out != NULL)
        snprintf(out, n, "%s/%s", cwd, path);
    free(cwd);
    return out;
}
