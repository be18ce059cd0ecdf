/* config_limits.c - see config_limits.h. */
#include "config_limits.h"

#include "cfgread.h"

int limits_read(const config_setting_t *group, const char *file, config_limits *out,
                fhirpam_error *err)
{
    static const char *const keys[] = {"module_deadline_ms", "reload_wait_ms", "bundle_max_calls",
                                       "bundle_max_decision_bytes", NULL};
    long long deadline = LIMITS_MODULE_DEADLINE_MS, reload_wait = LIMITS_RELOAD_WAIT_MS;
    long long calls = LIMITS_BUNDLE_MAX_CALLS, bytes = LIMITS_BUNDLE_MAX_DECISION_BYTES;
    if (group != NULL) {
        if (config_setting_type(group) != CONFIG_TYPE_GROUP)
            return cfg_fail(err, file, group, "'limits' must be a group");
        if (cfg_check_keys(group, "limits", keys, file, err) != 0 ||
            cfg_int(group, "module_deadline_ms", 1, LIMITS_MODULE_DEADLINE_MAX_MS, &deadline, file,
                    err) != 0 ||
            cfg_int(group, "reload_wait_ms", 0, 60000, &reload_wait, file, err) != 0 ||
            cfg_int(group, "bundle_max_calls", 1, 10000000, &calls, file, err) != 0 ||
            cfg_int(group, "bundle_max_decision_bytes", 65536, 1LL << 30, &bytes, file, err) != 0)
            return -1;
    }
    out->module_deadline_ms = (unsigned)deadline;
    out->reload_wait_ms = (unsigned)reload_wait;
    out->bundle_max_calls = (size_t)calls;
    out->bundle_max_decision_bytes = (size_t)bytes;
    return 0;
}
