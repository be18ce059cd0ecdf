/*
 * slow - a module that takes its time (issue 28 row 2): it sleeps `ms`
 * milliseconds, or blocks until a byte arrives on the FIFO `gate` (so a
 * test decides exactly when it returns), then permits. With mark = true it
 * first sets the attribute probe.ok, adds an obligation and reports an mTLS
 * binding verified (it declares FHIRPAM_MODULE_VERIFIES_BINDING), which a
 * late answer must not leave behind. `on_close` names a file created when the
 * instance is closed (a test sees its configuration freed). `only_url`
 * limits the wait to URLs containing it.
 */
#include <errno.h>
#include <fcntl.h>
#include <fhirpam/module.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const fhirpam_arg_spec slow_args[] = {
    {"ms", FHIRPAM_ARG_INT, "0", "milliseconds to sleep"},
    {"gate", FHIRPAM_ARG_STRING, NULL, "a FIFO to read one byte from first"},
    {"mark", FHIRPAM_ARG_BOOL, "false", "set probe.ok and an obligation before waiting"},
    {"on_close", FHIRPAM_ARG_STRING, NULL, "a file to create when closed"},
    {"only_url", FHIRPAM_ARG_STRING, NULL, "wait only for URLs containing this"},
    {NULL, 0, NULL, NULL},
};

typedef struct slow {
    int64_t ms;
    bool mark;
    char *gate, *on_close, *only_url;
} slow;

static char *copy_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static int slow_open(const fhirpam_args *args, void **instance, fhirpam_error *err)
{
    slow *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    s->ms = fhirpam_args_int(args, "ms", 0);
    s->mark = fhirpam_args_bool(args, "mark", false);
    s->gate = copy_or_null(fhirpam_args_string(args, "gate", NULL));
    s->on_close = copy_or_null(fhirpam_args_string(args, "on_close", NULL));
    s->only_url = copy_or_null(fhirpam_args_string(args, "only_url", NULL));
    *instance = s;
    return 0;
}

static fhirpam_code slow_authorize(void *instance, fhirpam_authz *az)
{
    const slow *s = instance;
    if (s->only_url != NULL && strstr(fhirpam_request_url(az), s->only_url) == NULL)
        return FHIRPAM_SUCCESS;
    if (s->mark) {
        fhirpam_attr_set(az, "probe.ok", "slow");
        fhirpam_add_obligation(az, "patient_compartment",
                               "{\"patient\":\"123\",\"fhir_version\":\"R4\"}");
        fhirpam_binding_verified(az, FHIRPAM_BINDING_MTLS);
    }
    if (s->gate != NULL) {
        int fd = open(s->gate, O_RDONLY | O_CLOEXEC);
        char byte;
        while (fd >= 0 && read(fd, &byte, 1) < 0 && errno == EINTR)
            ;
        if (fd >= 0)
            close(fd);
    }
    struct timespec left = {(time_t)(s->ms / 1000), (long)(s->ms % 1000) * 1000000L};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
    fhirpam_set_reason(az, "slow", "the slow module answers");
    return FHIRPAM_SUCCESS;
}

static void slow_close(void *instance)
{
    slow *s = instance;
    if (s->on_close != NULL) {
        int fd = open(s->on_close, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
    free(s->gate);
    free(s->on_close);
    free(s->only_url);
    free(s);
}

FHIRPAM_MODULE_DESCRIPTOR = {
    FHIRPAM_MODULE_HEADER,
    .name = "slow",
    .description = "sleeps or waits on a FIFO, then permits (for tests)",
    .args = slow_args,
    .open = slow_open,
    .authorize = slow_authorize,
    .close = slow_close,
    .flags = FHIRPAM_MODULE_VERIFIES_BINDING,
};
