/*
 * denylist.h - the revocation rules of revocation.md §2, as a file and as
 * hash tables.
 *
 * The file, one rule per line (fields separated by one or more spaces or
 * tabs; a field with a space, tab, '%' or a control character is written
 * percent-encoded as %XX; times are seconds since the epoch; '#' starts a
 * comment line):
 *
 *   jti ISS JTI EXP            the token (ISS, JTI), until EXP
 *   sub ISS SUB T              every token of subject SUB issued at or before T
 *   client ISS CLIENT T        every token of client CLIENT issued at or before T
 *   subclient ISS SUB CLIENT T the tokens of SUB in CLIENT issued at or before T
 *   sid ISS SID T              the tokens of session SID issued at or before T
 *   issuer ISS T               every token of issuer ISS issued at or before T
 *
 * Every line ends with a newline: a last line without one is being written
 * and makes the file incomplete. The same key twice keeps the later time
 * (a cut-off only moves forward; `latest wins`).
 *
 * One parser (denylist_parse) reads the file for the module, `fhirpam revoke
 * check`, `list` and `compact`, and checks a file before `fhirpam revoke`
 * appends to it, so that nothing is written that the module would refuse.
 */
#ifndef FHIRPAM_REVOCATION_DENYLIST_H
#define FHIRPAM_REVOCATION_DENYLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

typedef enum rule_kind {
    RULE_JTI,
    RULE_SUB,
    RULE_CLIENT,
    RULE_SUBCLIENT,
    RULE_SID,
    RULE_ISSUER,
    RULE_KINDS
} rule_kind;

/* Longest field accepted, after decoding. */
#define DENYLIST_MAX_FIELD 1024

/* One parsed line. Fields point into the caller's buffer (decoded in place). */
typedef struct rule {
    rule_kind kind;
    const char *iss, *key1, *key2; /* key1/key2 NULL when the kind has fewer */
    int64_t time;                  /* EXP for jti, T otherwise */
} rule;

/* The keyword of a kind ("jti", "subclient", ...). */
const char *rule_kind_name(rule_kind kind);

/*
 * Parses one line (without its newline; modified in place). Returns 1 with
 * *out filled, 0 for a blank or comment line, -1 with a message in err.
 */
int rule_parse(char *line, rule *out, char *err, size_t errlen);

/* Writes r as a line (with its newline) into buf; returns the length, or
 * 0 when buf is too small. */
size_t rule_format(const rule *r, char *buf, size_t buflen);

/*
 * Whether a token issued at iat is covered by the cut-off at T, with the
 * configuration's leeway: every token the issuer stamped in the second T or
 * earlier, and up to leeway seconds later, since the issuer's clock may run
 * that far ahead of the clock that took T (fractional iat included: 0.5 s
 * after T is covered).
 */
bool cutoff_covers(int64_t t, double iat, int64_t leeway);

/*
 * True while the rule can still matter at time now, that is while a token it
 * covers can still be accepted: a jti entry until EXP plus leeway (the core
 * accepts a token until exp + leeway); a cut-off until the latest token it
 * covers (issued up to T + leeway) has lived max_token_lifetime (the core's
 * token.max_ttl, which it enforces on exp - iat) plus leeway.
 */
bool rule_alive(const rule *r, int64_t now, int64_t leeway, int64_t max_token_lifetime);

/* The rules in force, as one hash table. Immutable once built. */
typedef struct denylist denylist;

/* now: the time rules are judged alive at; leeway and max_token_lifetime:
 * the configuration's token.leeway and token.max_ttl. */
typedef struct denylist_limits {
    int64_t now, leeway, max_token_lifetime;
} denylist_limits;

/* A deny list file as read: its text and the descriptor's stat (the version
 * that was read, for a watcher to compare with). */
typedef struct denylist_file {
    char *text; /* NUL-terminated; free() it */
    size_t len;
    struct stat st;
} denylist_file;

/*
 * Reads the file at path whole, under a shared flock (a `fhirpam revoke`
 * append is seen whole or not at all), after checking on the descriptor that
 * it is a regular file owned by root or this user and not group- or
 * world-writable. 0, or -1 with "path: why" in err, or DENYLIST_BUSY when
 * another process held the lock for over a second (the file is fine as far
 * as anyone knows: read it again later).
 */
#define DENYLIST_BUSY (-2)
int denylist_read(const char *path, denylist_file *out, char *err, size_t errlen);

/*
 * Goes through a file's text (modified in place) line by line. Each rule is
 * given to on_rule (may be NULL) with its line number; on_rule returns 0, or
 * -1 to stop (out of memory: "path:line: out of memory"). A line that is not
 * a rule, holds a NUL byte, or ends the file without a newline is bad: with
 * on_bad NULL the first stops the walk with "path:line: message" in err and
 * -1; otherwise each is given to on_bad ("path:line: message") and the walk
 * goes on. Returns the number of bad lines, or -1.
 */
int denylist_parse(char *text, size_t len, const char *path,
                   int (*on_rule)(void *cookie, const rule *r, size_t line),
                   void (*on_bad)(void *cookie, const char *message), void *cookie, char *err,
                   size_t errlen);

/* Builds the table of a file's text (modified in place) with the rules still
 * alive at limits->now. NULL with "path:line: message" in err. */
denylist *denylist_build(char *text, size_t len, const char *path, const denylist_limits *limits,
                         char *err, size_t errlen);

/* denylist_read and denylist_build in one: NULL with err filled on an
 * unreadable file or any bad line. */
denylist *denylist_load(const char *path, const denylist_limits *limits, char *err, size_t errlen);
void denylist_free(denylist *list);

/* Rules kept, and of one kind. */
size_t denylist_size(const denylist *list);
size_t denylist_count(const denylist *list, rule_kind kind);

/* The time of the rule (kind, iss, key1[, key2]), when there is one.
 * Thread-safe (read-only). */
bool denylist_find(const denylist *list, rule_kind kind, const char *iss, const char *key1,
                   const char *key2, int64_t *time);

#endif
