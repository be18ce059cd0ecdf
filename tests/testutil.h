/*
 * testutil.h - helpers shared by the Check suites: temporary files, configs
 * and running the CLI.
 */
#ifndef FHIRPAM_TESTUTIL_H
#define FHIRPAM_TESTUTIL_H

#include <fhirpam/fhirpam.h>
#include <stdbool.h>
#include <stddef.h>

/* Environment set by tests/meson.build. */
const char *tu_modules_dir(void);
const char *tu_data_dir(void);
const char *tu_build_dir(void);

/* A fresh temporary directory for this process (created once, mode 0700). */
const char *tu_tmpdir(void);

/* Write `text` to tmpdir/name with mode 0600; returns the path (static
 * storage rotated over 8 buffers). */
const char *tu_write(const char *name, const char *text);

/* Write a config whose text is `text` and return its path. */
const char *tu_config(const char *text);

/* Load `text` as a config; returns the context or NULL with err filled. */
fhirpam_context *tu_open(const char *text, fhirpam_error *err);

/* Assert that loading `text` fails with a message containing `needle`, and
 * that the message starts with "<path>:<line>:" when line > 0. */
void tu_expect_load_error(const char *text, int line, const char *needle);

/* Authorize METHOD URL on stack with no token; caller frees. */
fhirpam_decision *tu_authorize(fhirpam_context *ctx, const char *stack, const char *method,
                               const char *url);

/* Copy file `from` to `to` (replaced, a new inode) with `mode`. */
void tu_copy(const char *from, const char *to, unsigned mode);

/* The second local user of the tests (issue 28): uid and gid 4242. */
#define TU_OTHER_UID 4242

/* true when running as root; otherwise prints "<test>: needs root (...); not
 * tested" on stderr, so a skipped check says so. */
bool tu_root_or_skip(const char *test);

/* Run fn(arg) in a forked child as uid/gid TU_OTHER_UID (setresgid,
 * setgroups, setresuid: no way back); returns fn's result (the child's exit
 * status), -1 when the child could not become that user. Root only. */
int tu_as_other_user(int (*fn)(void *arg), void *arg);

/* Run argv (argv[0] a path), feeding `input` (may be NULL) on stdin; capture
 * stdout and stderr (caller frees). Returns the exit status, or -1. */
int tu_run(char *const argv[], const char *input, char **out, char **err);

#endif
