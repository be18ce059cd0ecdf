/* cfgread.c - see cfgread.h. */
#include "cfgread.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cfg_fail(fhirpam_error *err, const char *file, const config_setting_t *at, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = at != NULL ? config_setting_source_line(at) : 0;
    if (line > 0)
        fhirpam_error_set(err, "%s:%d: %s", file, line, msg);
    else
        fhirpam_error_set(err, "%s: %s", file, msg);
    return -1;
}

int cfg_check_keys(const config_setting_t *group, const char *what, const char *const *allowed,
                   const char *file, fhirpam_error *err)
{
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(m);
        bool known = false;
        for (const char *const *a = allowed; *a != NULL && name != NULL; a++)
            known = known || strcmp(*a, name) == 0;
        if (!known) {
            char list[320] = "";
            for (const char *const *a = allowed; *a != NULL; a++) {
                strncat(list, *a, sizeof list - strlen(list) - 1);
                if (a[1] != NULL)
                    strncat(list, ", ", sizeof list - strlen(list) - 1);
            }
            return cfg_fail(err, file, m, "unknown key '%s' in %s (known: %s)",
                            name ? name : "(unnamed)", what, list);
        }
    }
    return 0;
}

int cfg_string(const config_setting_t *group, const char *name, const char **out, const char *file,
               fhirpam_error *err)
{
    const config_setting_t *s = config_setting_get_member(group, name);
    if (s == NULL)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return cfg_fail(err, file, s, "'%s' must be a string", name);
    *out = config_setting_get_string(s);
    return 0;
}

int cfg_int(const config_setting_t *group, const char *name, long long min, long long max,
            long long *out, const char *file, fhirpam_error *err)
{
    const config_setting_t *s = config_setting_get_member(group, name);
    if (s == NULL)
        return 0;
    int type = config_setting_type(s);
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return cfg_fail(err, file, s, "'%s' must be an integer", name);
    long long v = config_setting_get_int64(s);
    if (v < min || v > max)
        return cfg_fail(err, file, s, "'%s' must be between %lld and %lld", name, min, max);
    *out = v;
    return 0;
}

int cfg_bool(const config_setting_t *group, const char *name, bool *out, const char *file,
             fhirpam_error *err)
{
    const config_setting_t *s = config_setting_get_member(group, name);
    if (s == NULL)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return cfg_fail(err, file, s, "'%s' must be true or false", name);
    *out = config_setting_get_bool(s) != 0;
    return 0;
}
