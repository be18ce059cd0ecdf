/*
 * audit_syslog.h - the syslog audit sink: one datagram per record to the
 * local syslog socket, and an answer to whether it was delivered.
 *
 * syslog(3) cannot say: it returns void and drops a message it cannot send,
 * so with `audit.required` a decision whose record syslog never received
 * was a permit (issue 28 row 6). This sink writes the datagrams itself, on
 * its own AF_UNIX SOCK_DGRAM socket, and reports every failure.
 */
#ifndef FHIRPAM_CORE_AUDIT_SYSLOG_H
#define FHIRPAM_CORE_AUDIT_SYSLOG_H

#include <stddef.h>

struct syslog_sink;

/* A sink sending to the datagram socket at socket_path ("/dev/log") with
 * priority `priority` (facility | severity). Connecting is tried now and
 * again after any failure, so a syslog daemon that is down or restarts is
 * not a configuration error: its records fail until it is back. NULL with
 * why filled when no socket can be made. */
struct syslog_sink *syslog_sink_open(const char *socket_path, int priority, char *why,
                                     size_t whylen);

/* Send one record (a trailing newline is not sent) as an RFC 3164 message
 * "<PRI>Mmm dd hh:mm:ss fhirpam[PID]: record". Returns 0 when the socket
 * took the whole datagram, -1 otherwise (no listener, a send timeout of one
 * second, a record too large). Thread-safe. */
int syslog_sink_send(struct syslog_sink *s, const char *record, size_t len);

void syslog_sink_close(struct syslog_sink *s);

#endif
