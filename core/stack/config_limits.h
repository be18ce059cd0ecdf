/*
 * config_limits.h - the configuration's `limits` group: the bounds the core keeps
 * on the work one request may cause, each with a default that a deployment
 * may tighten or widen within a range.
 */
#ifndef FHIRPAM_CORE_CONFIG_LIMITS_H
#define FHIRPAM_CORE_CONFIG_LIMITS_H

#include <fhirpam/fhirpam.h>
#include <libconfig.h>
#include <stddef.h>

typedef struct config_limits {
    /* Each module call's time budget, unless its stack sets its own: an
     * answer later than this is discarded and taken as `unavailable`. */
    unsigned module_deadline_ms;
    /* How long fhirpam_reload() waits for the requests still using the
     * configuration it replaces before it leaves them to the reaper. */
    unsigned reload_wait_ms;
    /* A batch or transaction is refused before any module runs when its
     * entries times its stack's lines exceed this. */
    size_t bundle_max_calls;
    /* ... and while it runs, when its decision (trace and strings) grows
     * past this many bytes. */
    size_t bundle_max_decision_bytes;
} config_limits;

#define LIMITS_MODULE_DEADLINE_MS        1000
#define LIMITS_MODULE_DEADLINE_MAX_MS    600000
#define LIMITS_RELOAD_WAIT_MS            1000
#define LIMITS_BUNDLE_MAX_CALLS          20000
#define LIMITS_BUNDLE_MAX_DECISION_BYTES (4u * 1024 * 1024)

/* Read the `limits` group (NULL: every default) into out. 0, or -1 with
 * "file:line: message" in err. */
int limits_read(const config_setting_t *group, const char *file, config_limits *out,
                fhirpam_error *err);

#endif
