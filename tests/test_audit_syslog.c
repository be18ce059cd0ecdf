/*
 * test_audit_syslog.c - the syslog audit sink reports what it could not
 * deliver (issue 28 row 6): with audit.required, a decision whose record
 * the syslog socket did not take is a deny, and the sink recovers when the
 * daemon comes back. The "daemon" is a datagram socket the test binds at a
 * path the configuration names (audit.socket), as /dev/log is.
 */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "testutil.h"

static char sock_dir[64], sock_path[128];

/* The socket's directory: short, for sun_path (it is not a trusted file,
 * so /tmp will do). */
static void make_socket_dir(void)
{
    snprintf(sock_dir, sizeof sock_dir, "/tmp/fhirpam-syslog-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(sock_dir));
    snprintf(sock_path, sizeof sock_path, "%s/log", sock_dir);
}

/* A syslog daemon: a datagram socket bound at sock_path. */
static int daemon_start(void)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock_path);
    unlink(sock_path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void daemon_stop(int fd)
{
    close(fd);
    unlink(sock_path);
}

/* The next message the daemon received, or "" after a second. */
static const char *daemon_read(int fd)
{
    static char buf[65536];
    struct pollfd p = {fd, POLLIN, 0};
    buf[0] = '\0';
    if (poll(&p, 1, 1000) == 1) {
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
    }
    return buf;
}

static fhirpam_context *syslog_context(bool required)
{
    char conf[1024];
    snprintf(conf, sizeof conf,
             "audit: { sink = \"syslog\"; facility = \"authpriv\"; socket = \"%s\"; required = "
             "%s; };\n"
             "stacks: { s = { token = \"none\"; lines = ( { control = \"required\"; module = "
             "\"debug\"; } ); }; };\n",
             sock_path, required ? "true" : "false");
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(conf, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    return ctx;
}

static void expect_denied_unaudited(fhirpam_context *ctx)
{
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_msg(!fhirpam_decision_permitted(d), "permitted, though syslog never got the record");
    ck_assert_int_eq(fhirpam_decision_code(d), FHIRPAM_ERROR);
    ck_assert_str_eq(fhirpam_decision_reason(d), "audit_write_failed");
    fhirpam_decision_free(d);
}

START_TEST(required_syslog_denies_undelivered_records)
{
    make_socket_dir();
    /* No daemon at all (the /dev/log of a container without syslog). */
    fhirpam_context *ctx = syslog_context(true);
    expect_denied_unaudited(ctx);

    /* The daemon starts: permits, and the record arrives whole. */
    int fd = daemon_start();
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    const char *msg = daemon_read(fd);
    /* RFC 3164: <PRI> = authpriv (10) * 8 + info (6). */
    ck_assert_msg(strncmp(msg, "<86>", 4) == 0, "message '%s'", msg);
    ck_assert_msg(strstr(msg, " fhirpam[") != NULL, "message '%s'", msg);
    char id[128];
    snprintf(id, sizeof id, "\"id\":\"%s\"", fhirpam_decision_id(d));
    ck_assert_msg(strstr(msg, id) != NULL, "message '%s' lacks %s", msg, id);
    ck_assert_msg(msg[strlen(msg) - 1] == '}', "message '%s' does not end with the record", msg);
    fhirpam_decision_free(d);

    /* The daemon goes away: denies again; it comes back at the same path:
     * the sink connects again and permits. */
    daemon_stop(fd);
    expect_denied_unaudited(ctx);
    fd = daemon_start();
    d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    ck_assert_msg(strstr(daemon_read(fd), fhirpam_decision_id(d)) != NULL,
                  "no record after restart");
    fhirpam_decision_free(d);
    daemon_stop(fd);
    fhirpam_close(ctx);
    rmdir(sock_dir);
}
END_TEST

START_TEST(optional_syslog_permits_without_a_daemon)
{
    make_socket_dir();
    fhirpam_context *ctx = syslog_context(false);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/1");
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
    rmdir(sock_dir);
}
END_TEST

START_TEST(socket_setting_is_checked)
{
    tu_expect_load_error("audit: { sink = \"syslog\"; socket = \"dev/log\"; };\n"
                         "stacks: { s = { token = \"none\"; lines = ( ); }; };",
                         1, "'socket' must be an absolute path");
    tu_expect_load_error("audit: { sink = \"stderr\"; socket = \"/dev/log\"; };\n"
                         "stacks: { s = { token = \"none\"; lines = ( ); }; };",
                         1, "'socket' is only for the syslog sink");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("audit_syslog");
    TCase *tc = tcase_create("audit_syslog");
    tcase_add_test(tc, required_syslog_denies_undelivered_records);
    tcase_add_test(tc, optional_syslog_permits_without_a_daemon);
    tcase_add_test(tc, socket_setting_is_checked);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
