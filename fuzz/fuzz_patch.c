/*
 * fuzz_patch.c - patient_link's patch evaluation: any patch text, JSON Patch
 * or FHIRPath Patch, applied to a stored resource, without a crash or a
 * leak; a patch that applies yields a JSON value, one that does not says
 * why, and the stored resource is never changed in place.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "patch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char stored_text[] =
    "{\"resourceType\":\"Observation\",\"id\":\"1\",\"status\":\"final\","
    "\"subject\":{\"reference\":\"Patient/123\"},\"performer\":[{\"reference\":\"Patient/123\"},"
    "{\"reference\":\"Practitioner/9\"}],\"code\":{\"coding\":[{\"system\":\"http://loinc.org\","
    "\"code\":\"8867-4\"}]}}";

static void count(const char *name, void *arg)
{
    *(size_t *)arg += strlen(name) + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const guarded[] = {"id", "subject", "performer", NULL};
    if (size > 64 * 1024)
        return 0;
    json_t *patch = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    json_t *stored = json_loads(stored_text, 0, NULL);
    json_t *before = json_deep_copy(stored);
    if (patch == NULL || stored == NULL || before == NULL)
        goto out;
    char why[200] = "";
    json_t *a = json_patch_apply(stored, patch, why, sizeof why);
    if (a == NULL && why[0] == '\0')
        abort();
    why[0] = '\0';
    json_t *b = fhirpath_patch_apply(stored, patch, guarded, why, sizeof why);
    if (b == NULL && why[0] == '\0')
        abort();
    size_t n = 0;
    patch_touched(patch, "Observation", count, &n);
    if (!json_equal(stored, before))
        abort();
    json_decref(a);
    json_decref(b);
out:
    json_decref(patch);
    json_decref(stored);
    json_decref(before);
    return 0;
}
