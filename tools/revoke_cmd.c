/*
 * revoke_cmd.c - `fhirpam revoke`: the deny list's writer.
 *
 * It writes only what the revocation module will read: a new rule is
 * formatted, then read back with the module's own parser (denylist.c) before
 * anything is written, and the file it goes into must itself load (a line
 * that does not parse, a last line without a newline, a wrong owner or mode
 * would make the module refuse this rule and every later one). `check` and
 * `list` use the same parser; `compact` drops rules with the configuration's
 * own token.max_ttl and token.leeway (-c), the times the module keeps them by.
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

#include "config.h"
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
          "       fhirpam revoke --denylist FILE list | check [-c CONFIG]\n"
          "       fhirpam revoke --denylist FILE compact -c CONFIG\n"
          "T and EXP are seconds since the epoch; --at defaults to now. A rule is\n"
          "checked with the module's own parser before it is written, and only\n"
          "appended to a file that loads. list, check and compact judge which rules\n"
          "are past their useful life with CONFIG's token.max_ttl and token.leeway\n"
          "(compact refuses to run without them; list and check use the defaults,\n"
          "86400 and 60, without -c).\n",
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

/* The rule as the module will read it: formatted, then parsed back with the
 * loader's parser, which must give the same rule. 0 with the line, or -1
 * with the reason printed. */
static int format_checked(const rule *r, char *line, size_t linelen, size_t *len)
{
    char why[160] = "a field is empty";
    *len = rule_format(r, line, linelen);
    if (*len > 0) {
        char copy[4 * DENYLIST_MAX_FIELD + 64];
        memcpy(copy, line, *len - 1);
        copy[*len - 1] = '\0';
        rule back;
        if (rule_parse(copy, &back, why, sizeof why) == 1 && back.kind == r->kind &&
            back.time == r->time && strcmp(back.iss, r->iss) == 0 &&
            (r->key1 == NULL || strcmp(back.key1, r->key1) == 0) &&
            (r->key2 == NULL || strcmp(back.key2, r->key2) == 0))
            return 0;
    } else if (r->iss[0] != '\0' && (r->key1 == NULL || r->key1[0] != '\0') &&
               (r->key2 == NULL || r->key2[0] != '\0')) {
        snprintf(why, sizeof why, "a field is longer than %d bytes", DENYLIST_MAX_FIELD);
    }
    fprintf(stderr, "fhirpam revoke: the rule would not load (%s); nothing written\n", why);
    return -1;
}

/* The file an append goes into must load as it is. 0 when it does (or is
 * not there: *exists false), else -1 with the reason printed. */
static int check_target(const char *path, bool *exists, struct stat *st)
{
    denylist_file f;
    char err[1200];
    *exists = true;
    if (denylist_read(path, &f, err, sizeof err) != 0) {
        struct stat probe;
        if (lstat(path, &probe) != 0 && errno == ENOENT) {
            *exists = false;
            return 0;
        }
        fprintf(stderr, "fhirpam revoke: %s; nothing written\n", err);
        return -1;
    }
    *st = f.st;
    int rc = -1;
    if (f.len > 0 && f.text[f.len - 1] != '\n')
        fprintf(stderr,
                "fhirpam revoke: %s does not end in a newline (its last line is incomplete, and "
                "a rule appended would join it); nothing written\n",
                path);
    else if (denylist_parse(f.text, f.len, path, NULL, NULL, NULL, err, sizeof err) != 0)
        fprintf(stderr,
                "fhirpam revoke: %s does not load (%s): the module keeps its previous rules "
                "until it is fixed; nothing written\n",
                path, err);
    else
        rc = 0;
    free(f.text);
    return rc;
}

static int append_rule(const char *path, const rule *r)
{
    char line[4 * DENYLIST_MAX_FIELD + 64];
    size_t len;
    if (format_checked(r, line, sizeof line, &len) != 0)
        return 1;
    int lock = writer_lock(path);
    if (lock < 0)
        return 1;
    int rc = 1;
    bool exists;
    struct stat before, now;
    int fd = -1;
    if (check_target(path, &exists, &before) != 0)
        goto out;
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
    if (fd < 0 || flock(fd, LOCK_EX) != 0 || fstat(fd, &now) != 0) {
        fprintf(stderr, "fhirpam revoke: %s: %s\n", path, strerror(errno));
        goto out;
    }
    /* Writers hold FILE.lock; a file changed since the check was changed by
     * something else (an editor): check again rather than guess. */
    if (exists ? now.st_ino != before.st_ino || now.st_dev != before.st_dev ||
                     now.st_size != before.st_size
               : now.st_size != 0) {
        fprintf(stderr,
                "fhirpam revoke: %s changed while it was checked; nothing written, try "
                "again\n",
                path);
        goto out;
    }
    ssize_t n = write(fd, line, len);
    if (n != (ssize_t)len || fsync(fd) != 0) {
        int saved = n < 0 ? errno : EIO;
        /* A partial line would make the file refuse to load: take it back. */
        if (n > 0 && ftruncate(fd, now.st_size) != 0)
            fprintf(stderr, "fhirpam revoke: %s: could not remove a partial line: %s\n", path,
                    strerror(errno));
        fprintf(stderr, "fhirpam revoke: %s: %s\n", path, strerror(saved));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    close(lock);
    return rc;
}

typedef enum { WALK_LIST, WALK_CHECK, WALK_COMPACT } walk_mode;

typedef struct walk_state {
    walk_mode mode;
    const denylist_limits *limits;
    FILE *out;
    size_t kept, dropped;
    bool write_failed;
    char first_error[1200];
} walk_state;

static int on_rule(void *cookie, const rule *r, size_t line_no)
{
    (void)line_no;
    walk_state *w = cookie;
    bool alive = rule_alive(r, w->limits->now, w->limits->leeway, w->limits->max_token_lifetime);
    char line[4 * DENYLIST_MAX_FIELD + 64];
    size_t n = rule_format(r, line, sizeof line);
    if (w->mode == WALK_LIST)
        printf("%s%s", alive ? "" : "# expired: ", line);
    if (w->mode == WALK_COMPACT && alive && fwrite(line, 1, n, w->out) != n)
        w->write_failed = true;
    *(alive ? &w->kept : &w->dropped) += 1;
    return 0;
}

static void on_bad(void *cookie, const char *message)
{
    walk_state *w = cookie;
    fprintf(stderr, "%s\n", message);
    if (w->first_error[0] == '\0')
        snprintf(w->first_error, sizeof w->first_error, "%s", message);
}

/* Goes through the file with the module's parser: lists, checks, or
 * (compact) writes the rules still alive to out. Returns the number of bad
 * lines (the file not loading at all counts as one). */
static int walk(const char *path, walk_state *w)
{
    denylist_file f;
    char err[1200];
    if (denylist_read(path, &f, err, sizeof err) != 0) {
        on_bad(w, err);
        return 1;
    }
    int bad = denylist_parse(f.text, f.len, path, on_rule, on_bad, w, err, sizeof err);
    free(f.text);
    if (bad < 0) {
        on_bad(w, err);
        return 1;
    }
    return bad + (w->write_failed ? 1 : 0);
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
    walk_state w = {.mode = WALK_COMPACT, .limits = limits, .out = out};
    int rc = 1;
    if (out == NULL) {
        fprintf(stderr, "fhirpam revoke: %s: %s\n", tmp, strerror(errno));
    } else if (walk(path, &w) != 0) {
        fprintf(stderr, "fhirpam revoke: %s does not load; not compacted\n", path);
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
        printf("{\"kept\":%zu,\"dropped\":%zu,\"max_ttl\":%lld,\"leeway\":%lld}\n", w.kept,
               w.dropped, (long long)limits->max_token_lifetime, (long long)limits->leeway);
        rc = 0;
    }
    if (out != NULL)
        fclose(out);
    else if (fd >= 0)
        close(fd);
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

/* The times rules are judged by: the configuration's token group, or with
 * no configuration the core's defaults (required: -c is mandatory). */
static int read_limits(const char *config_path, bool required, denylist_limits *limits)
{
    limits->leeway = 60;
    limits->max_token_lifetime = 86400;
    if (config_path == NULL) {
        if (!required)
            return 0;
        fprintf(stderr, "fhirpam revoke: compact drops rules by the configuration's "
                        "token.max_ttl and token.leeway: give it with -c FILE\n");
        return -1;
    }
    fhirpam_error err = {{0}};
    int got =
        config_read_token_limits(config_path, &limits->leeway, &limits->max_token_lifetime, &err);
    if (got < 0) {
        fprintf(stderr, "fhirpam revoke: %s\n", err.text);
        return -1;
    }
    if (got == 0) {
        fprintf(stderr,
                "fhirpam revoke: %s has no token group, so no token.max_ttl and token.leeway "
                "to judge rules by\n",
                config_path);
        return -1;
    }
    return 0;
}

int revoke_cmd_main(int argc, char **argv)
{
    const char *path = NULL, *iss = NULL, *jti = NULL, *sub = NULL, *client = NULL, *sid = NULL;
    const char *exp = NULL, *at = NULL, *config_path = NULL, *gone = NULL;
    static const struct option opts[] = {{"denylist", required_argument, NULL, 'd'},
                                         {"iss", required_argument, NULL, 'i'},
                                         {"jti", required_argument, NULL, 'j'},
                                         {"sub", required_argument, NULL, 's'},
                                         {"client", required_argument, NULL, 'C'},
                                         {"sid", required_argument, NULL, 'S'},
                                         {"exp", required_argument, NULL, 'e'},
                                         {"at", required_argument, NULL, 'a'},
                                         {"config", required_argument, NULL, 'c'},
                                         {"max-token-lifetime", required_argument, NULL, 'L'},
                                         {"leeway", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        const char **slot[] = {['d'] = &path,        ['i'] = &iss,  ['j'] = &jti, ['s'] = &sub,
                               ['C'] = &client,      ['S'] = &sid,  ['e'] = &exp, ['a'] = &at,
                               ['c'] = &config_path, ['L'] = &gone, ['l'] = &gone};
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
    if (gone != NULL) {
        fprintf(stderr, "fhirpam revoke: --max-token-lifetime and --leeway are gone: the times "
                        "are the configuration's token.max_ttl and token.leeway (-c FILE)\n");
        return 1;
    }
    const char *what = optind < argc ? argv[optind] : NULL;
    if (path == NULL || what == NULL || optind + 1 != argc) {
        usage(stderr);
        return 1;
    }
    denylist_limits limits = {.now = (int64_t)time(NULL)};
    bool is_compact = strcmp(what, "compact") == 0;
    if (is_compact || strcmp(what, "list") == 0 || strcmp(what, "check") == 0) {
        if (read_limits(config_path, is_compact, &limits) != 0)
            return 1;
        if (is_compact)
            return compact(path, &limits);
        walk_state w = {.mode = strcmp(what, "list") == 0 ? WALK_LIST : WALK_CHECK,
                        .limits = &limits};
        int bad = walk(path, &w);
        if (w.mode == WALK_CHECK) {
            printf("{\"ok\":%s,\"rules\":%zu,\"expired\":%zu,\"bad_lines\":%d,\"max_ttl\":%lld,"
                   "\"leeway\":%lld}\n",
                   bad ? "false" : "true", w.kept + w.dropped, w.dropped, bad,
                   (long long)limits.max_token_lifetime, (long long)limits.leeway);
        }
        return bad ? 1 : 0;
    }

    rule r = {.iss = iss};
    int kind = -1;
    for (int k = 0; k < RULE_KINDS; k++)
        if (strcmp(what, rule_kind_name((rule_kind)k)) == 0)
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
