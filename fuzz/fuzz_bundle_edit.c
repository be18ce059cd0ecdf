/*
 * fuzz_bundle_edit.c - the nginx module's Bundle editor
 * (tools/nginx/bundle_edit.c) against jansson: for any JSON object the
 * library would have accepted and any set of entries to remove (from the
 * input's first byte), either the editor refuses (and then nothing is sent)
 * or its output is JSON that jansson reads as the input without those
 * entries and without "total". Never a crash, never a byte beyond `out`.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle_edit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024)
        return 0;
    /* The first byte: which of entries 0..7 to remove. */
    size_t remove[8], nremove = 0;
    for (size_t i = 0; i < 8; i++)
        if (data[0] & (1u << i))
            remove[nremove++] = i;
    const char *json = (const char *)data + 1;
    size_t len = size - 1;
    json_t *in = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(in)) {
        json_decref(in);
        return 0;
    }
    /* Exactly len bytes: ASan sees any write beyond. */
    char *out = malloc(len ? len : 1);
    size_t outlen = 0;
    if (out == NULL)
        abort();
    if (bundle_edit_remove_entries(json, len, remove, nremove, out, &outlen) == 0) {
        if (outlen > len)
            abort();
        json_t *got = json_loadb(out, outlen, JSON_REJECT_DUPLICATES, NULL);
        json_t *entry = json_object_get(in, "entry");
        if (got == NULL || !json_is_array(entry))
            abort();
        /* What it must be: the input without "total" and those entries. */
        json_t *want = json_deep_copy(in);
        json_object_del(want, "total");
        json_t *kept = json_array();
        for (size_t i = 0, r = 0; i < json_array_size(entry); i++) {
            if (r < nremove && remove[r] == i) {
                r++;
                continue;
            }
            json_array_append(kept, json_array_get(entry, i));
        }
        if (nremove > 0 && remove[nremove - 1] >= json_array_size(entry))
            abort(); /* an index beyond the end must be refused */
        json_object_set_new(want, "entry", kept);
        if (!json_equal(got, want))
            abort();
        json_decref(want);
        json_decref(got);
    }
    free(out);
    json_decref(in);
    return 0;
}
