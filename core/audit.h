/*
 * audit.h - where decision records go (design §5): a file, syslog, stderr or
 * nowhere. One JSON line per decision, written with a single write.
 */
#ifndef FHIRPAM_CORE_AUDIT_H
#define FHIRPAM_CORE_AUDIT_H

#include <fhirpam/fhirpam.h>
#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

struct audit_sink;

/* Open the sink the `audit` group describes (NULL group: no auditing).
 * Errors are "file:line: message". */
struct audit_sink *audit_sink_open(const config_setting_t *group, const char *file,
                                   fhirpam_error *err);

/* Write one record (a JSON object without the newline). Returns 0, or -1 when
 * the record could not be written whole. Thread-safe. */
int audit_sink_write(struct audit_sink *sink, const char *record, size_t len);

/* The longest record (newline included) the sink writes whole: PIPE_BUF on
 * a pipe or socket (POSIX write(2)), else SIZE_MAX. */
size_t audit_sink_max_record(const struct audit_sink *sink);

bool audit_sink_enabled(const struct audit_sink *sink);
/* With `required = true`, a decision whose record cannot be written is a deny. */
bool audit_sink_required(const struct audit_sink *sink);

void audit_sink_close(struct audit_sink *sink);

#endif
