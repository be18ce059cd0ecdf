/*
 * revoke_cmd.c - `fhirpam revoke`: the deny list's writer.
 *
 * Writers (this command, in any number of processes) serialise on an
 * exclusive flock of FILE.lock; while writing they also hold an exclusive
 * flock on FILE itself, which readers (the revocation module) take shared,
 * so a reader sees an appended line whole or not at all. An append is one
 * write() followed by fsync(). `compact` writes a new file beside the old,
 * fsyncs it and renames it over: a reader holds either file, both complete,
 * and no append can land in the replaced one because appends take the same
 * FILE.lock first.
 */
#include "revoke_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "denylist.h"

static void usage(FILE *out)
{
    fputs("usage: fhirpam revoke --denylist FILE RULE [options]\n"
          "  jti       --iss ISS --jti JTI --exp EXP      one token, until EXP\n"
          "  sub       --iss ISS --sub SUB [--at T]       tokens of SUB issued at or before T\n"
          "  client    --iss ISS --client ID [--at T]     tokens of a client\n"
          "  subclient --iss ISS --sub SUB --client ID [--at T]\n"
          "  sid       --iss ISS --sid SID [--at T]       tokens of a session\n"
          "  issuer    --iss ISS [--at T]                 every token of an issuer\n"
          "       fhirpam revoke --denylist FILE list | check\n"
          "       fhirpam revoke --denylist FILE compact [--max-token-lifetime S] [--leeway S]\n"
          "T and EXP are seconds since the epoch; --at defaults to now.\n",
          out);
}

/* Takes FILE.lock exclusively; returns its descriptor or -1. */
static int writer_lock(const char *path)
{
    char lock[4096];
    snprintf(lock, sizeof lock, "%s.lock", path);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        fprintf(stderr, "fhirpam revoke: %s: %s\n", lock, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int append_rule(const char *path, const rule *r)
{
    char line[4 * DENYLIST_MAX_FIELD + 64];
    size_t len = rule_format(r, line, sizeof line);
    if (len == 0) {
        fprintf(stderr, "fhirpam revoke: a field is empty or too long\n");
        return 1;
    }
    int lock = writer_lock(path);
    if (lock < 0)
        return 1;
    int rc = 1;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 || flock(fd, LOCK_EX) != 0 || write_all(fd, line, len) != 0 || fsync(fd) != 0)
        fprintf(stderr, "fhirpam revoke: %s: %s\n", path, strerror(errno));
    else
        rc = 0;
    if (fd >= 0)
        close(fd);
    close(lock);
    return rc;
}

/* Reads the whole file; prints every line that does not parse. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "fhirpam revoke: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    flock(fileno(f), LOCK_SH);
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 65536 > cap) {
            char *b = realloc(buf, cap = cap ? cap * 2 : 1 << 20);
            if (b == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

typedef enum { WALK_LIST, WALK_CHECK, WALK_COMPACT } walk_mode;

/* Goes through the file line by line: lists, checks, or (compact) writes
 * the rules still alive to out. Returns the number of bad lines. */
static int walk(const char *path, walk_mode mode, const denylist_limits *limits, FILE *out,
                size_t *kept, size_t *dropped)
{
    size_t len;
    char *text = read_file(path, &len);
    if (text == NULL)
        return 1;
    int bad = 0;
    size_t line_no = 0;
    for (char *p = text; p < text + len;) {
        line_no++;
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        if (nl == NULL) {
            fprintf(stderr, "%s:%zu: the last line has no newline\n", path, line_no);
            bad++;
            break;
        }
        *nl = '\0';
        rule r;
        char why[160];
        int got = rule_parse(p, &r, why, sizeof why);
        if (got < 0) {
            fprintf(stderr, "%s:%zu: %s\n", path, line_no, why);
            bad++;
        } else if (got == 1) {
            bool alive = rule_alive(&r, limits->now, limits->leeway, limits->max_token_lifetime);
            char line[4 * DENYLIST_MAX_FIELD + 64];
            size_t n = rule_format(&r, line, sizeof line);
            if (mode == WALK_LIST)
                printf("%s%s", alive ? "" : "# expired: ", line);
            if (mode == WALK_COMPACT && alive && fwrite(line, 1, n, out) != n)
                bad++;
            *(alive ? kept : dropped) += 1;
        }
        p = nl + 1;
    }
    free(text);
    return bad;
}

static int compact(const char *path, const denylist_limits *limits)
{
    int lock = writer_lock(path);
    if (lock < 0)
        return 1;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.compact-XXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    size_t kept = 0, dropped = 0;
    int rc = 1;
    if (out == NULL) {
        fprintf(stderr, "fhirpam revoke: %s: %s\n", tmp, strerror(errno));
    } else if (walk(path, WALK_COMPACT, limits, out, &kept, &dropped) != 0) {
        fprintf(stderr, "fhirpam revoke: %s has bad lines; not compacted\n", path);
    } else if (fflush(out) != 0 || fchmod(fd, 0644) != 0 || fsync(fd) != 0 ||
               rename(tmp, path) != 0) {
        fprintf(stderr, "fhirpam revoke: %s: %s\n", path, strerror(errno));
    } else {
        /* The rename is durable once the directory is. */
        char *copy = strdup(path);
        int dir = copy ? open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (dir >= 0) {
            fsync(dir);
            close(dir);
        }
        free(copy);
        printf("{\"kept\":%zu,\"dropped\":%zu}\n", kept, dropped);
        rc = 0;
    }
    if (out != NULL)
        fclose(out);
    if (rc != 0)
        unlink(tmp);
    close(lock);
    return rc;
}

static int parse_seconds(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || v < 0 || v > 253402300799LL)
        return -1;
    *out = v;
    return 0;
}

int revoke_cmd_main(int argc, char **argv)
{
    const char *path = NULL, *iss = NULL, *jti = NULL, *sub = NULL, *client = NULL, *sid = NULL;
    const char *exp = NULL, *at = NULL, *lifetime = "86400", *leeway = "60";
    static const struct option opts[] = {{"denylist", required_argument, NULL, 'd'},
                                         {"iss", required_argument, NULL, 'i'},
                                         {"jti", required_argument, NULL, 'j'},
                                         {"sub", required_argument, NULL, 's'},
                                         {"client", required_argument, NULL, 'c'},
                                         {"sid", required_argument, NULL, 'S'},
                                         {"exp", required_argument, NULL, 'e'},
                                         {"at", required_argument, NULL, 'a'},
                                         {"max-token-lifetime", required_argument, NULL, 'L'},
                                         {"leeway", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char **slot[] = {
            ['d'] = &path, ['i'] = &iss, ['j'] = &jti, ['s'] = &sub,      ['c'] = &client,
            ['S'] = &sid,  ['e'] = &exp, ['a'] = &at,  ['L'] = &lifetime, ['l'] = &leeway};
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        if (c < 0 || (size_t)c >= sizeof slot / sizeof slot[0] || slot[c] == NULL) {
            usage(stderr);
            return 1;
        }
        *slot[c] = optarg;
    }
    const char *what = optind < argc ? argv[optind] : NULL;
    if (path == NULL || what == NULL || optind + 1 != argc) {
        usage(stderr);
        return 1;
    }
    denylist_limits limits = {.now = (int64_t)time(NULL)};
    if (parse_seconds(lifetime, &limits.max_token_lifetime) != 0 ||
        parse_seconds(leeway, &limits.leeway) != 0) {
        usage(stderr);
        return 1;
    }
    size_t kept = 0, dropped = 0;
    if (strcmp(what, "list") == 0)
        return walk(path, WALK_LIST, &limits, NULL, &kept, &dropped) ? 1 : 0;
    if (strcmp(what, "check") == 0) {
        int bad = walk(path, WALK_CHECK, &limits, NULL, &kept, &dropped);
        printf("{\"ok\":%s,\"rules\":%zu,\"expired\":%zu,\"bad_lines\":%d}\n",
               bad ? "false" : "true", kept + dropped, dropped, bad);
        return bad ? 1 : 0;
    }
    if (strcmp(what, "compact") == 0)
        return compact(path, &limits);

    rule r = {.iss = iss};
    static const char *const names[] = {"jti", "sub", "client", "subclient", "sid", "issuer"};
    int kind = -1;
    for (int k = 0; k < RULE_KINDS; k++)
        if (strcmp(what, names[k]) == 0)
            kind = k;
    r.kind = (rule_kind)kind;
    bool ok = kind >= 0 && iss != NULL;
    switch (kind) {
    case RULE_JTI:
        r.key1 = jti;
        ok = ok && jti != NULL && exp != NULL && parse_seconds(exp, &r.time) == 0;
        break;
    case RULE_SUB:
        r.key1 = sub;
        break;
    case RULE_CLIENT:
        r.key1 = client;
        break;
    case RULE_SUBCLIENT:
        r.key1 = sub;
        r.key2 = client;
        ok = ok && client != NULL;
        break;
    case RULE_SID:
        r.key1 = sid;
        break;
    default:
        break;
    }
    if (kind != RULE_JTI && kind != RULE_ISSUER)
        ok = ok && r.key1 != NULL;
    if (kind != RULE_JTI) {
        r.time = limits.now;
        ok = ok && (at == NULL || parse_seconds(at, &r.time) == 0);
    }
    if (!ok) {
        usage(stderr);
        return 1;
    }
    return append_rule(path, &r);
}
