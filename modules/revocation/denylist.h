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
 */
#ifndef FHIRPAM_REVOCATION_DENYLIST_H
#define FHIRPAM_REVOCATION_DENYLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* True while the rule can still matter at time now: a jti entry until its
 * EXP plus leeway, a cut-off until T plus the longest token lifetime. */
bool rule_alive(const rule *r, int64_t now, int64_t leeway, int64_t max_token_lifetime);

/* The rules in force, as one hash table. Immutable once built. */
typedef struct denylist denylist;

typedef struct denylist_limits {
    int64_t now, leeway, max_token_lifetime;
} denylist_limits;

/*
 * Reads the file at path (under a shared flock, so a `fhirpam revoke` append
 * is seen whole or not at all) into a new denylist, dropping rules past
 * their useful life. NULL with "path:line: message" in err on any line that
 * does not parse, an incomplete last line, or an unreadable file.
 */
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
