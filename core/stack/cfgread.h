/*
 * cfgread.h - typed reads from a libconfig group, each failure reported as
 * "file:line: message" in a fhirpam_error. Absent members are not errors:
 * the output is left as the caller's default.
 */
#ifndef FHIRPAM_CORE_CFGREAD_H
#define FHIRPAM_CORE_CFGREAD_H

#include <fhirpam/fhirpam.h>
#include <libconfig.h>
#include <stdbool.h>

/* Sets err to "file:line: message" (line of `at`, or none) and returns -1. */
int cfg_fail(fhirpam_error *err, const char *file, const config_setting_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Refuses any member of group not named in allowed (NULL-terminated). */
int cfg_check_keys(const config_setting_t *group, const char *what, const char *const *allowed,
                   const char *file, fhirpam_error *err);

int cfg_string(const config_setting_t *group, const char *name, const char **out, const char *file,
               fhirpam_error *err);
int cfg_int(const config_setting_t *group, const char *name, long long min, long long max,
            long long *out, const char *file, fhirpam_error *err);
int cfg_bool(const config_setting_t *group, const char *name, bool *out, const char *file,
             fhirpam_error *err);

#endif
