/* jwks.c - see jwks.h. */
#include "jwks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

/* A JWKS larger than this is not a key set. */
#define JWKS_MAX_BYTES (1024 * 1024)

static int compare_kid(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

static int compare_keys(const void *a, const void *b)
{
    const jwks_key *x = a, *y = b;
    return compare_kid(x->kid, x->kid_len, y->kid, y->kid_len);
}

static int add_key(jwks *set, const json_t *jwk, size_t index, const char *path, size_t issuer,
                   const jwks_policy *policy, char *why, size_t whylen)
{
    const json_t *kid = json_object_get(jwk, "kid");
    if (!json_is_string(kid) || json_string_length(kid) == 0) {
        snprintf(why, whylen, "%s: key %zu has no kid: every key needs one", path, index);
        return -1;
    }
    const char *kid_text = json_string_value(kid);
    size_t kid_len = json_string_length(kid);
    for (size_t i = 0; i < set->n; i++) {
        if (compare_kid(set->keys[i].kid, set->keys[i].kid_len, kid_text, kid_len) == 0) {
            snprintf(why, whylen, "%s: kid '%.64s' appears twice in the configured key sets", path,
                     kid_text);
            return -1;
        }
    }
    char reason[256];
    jwk_key key;
    if (jwk_import(jwk, &policy->limits, policy->rsa_fallback, &key, reason, sizeof reason) != 0) {
        snprintf(why, whylen, "%s: kid '%.64s': %s", path, kid_text, reason);
        return -1;
    }
    if (!policy->allowed[key.alg]) {
        snprintf(why, whylen, "%s: kid '%.64s': algorithm %s is not in token.algorithms", path,
                 kid_text, jws_alg_name(key.alg));
        jwk_key_clear(&key);
        return -1;
    }
    jwks_key *grown = realloc(set->keys, (set->n + 1) * sizeof *grown);
    char *copy = malloc(kid_len + 1);
    if (grown == NULL || copy == NULL) {
        if (grown != NULL)
            set->keys = grown;
        free(copy);
        jwk_key_clear(&key);
        snprintf(why, whylen, "%s: out of memory", path);
        return -1;
    }
    set->keys = grown;
    memcpy(copy, kid_text, kid_len + 1);
    set->keys[set->n++] = (jwks_key){copy, kid_len, key, issuer};
    return 0;
}

int jwks_add_file(jwks *set, const char *path, size_t issuer, const jwks_policy *policy, char *why,
                  size_t whylen)
{
    char reason[256];
    size_t len;
    char *text = trusted_read(path, JWKS_MAX_BYTES, &len, reason, sizeof reason);
    if (text == NULL) {
        snprintf(why, whylen, "%s: %s", path, reason);
        return -1;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (doc == NULL) {
        snprintf(why, whylen, "%s:%d: not JSON: %s", path, jerr.line, jerr.text);
        return -1;
    }
    int rc = -1;
    const json_t *keys = json_object_get(doc, "keys");
    if (!json_is_object(doc) || !json_is_array(keys) || json_array_size(keys) == 0) {
        snprintf(why, whylen, "%s: a key set is {\"keys\": [ ...at least one key... ]}", path);
        goto done;
    }
    size_t i;
    const json_t *jwk;
    json_array_foreach(keys, i, jwk)
    {
        if (add_key(set, jwk, i, path, issuer, policy, why, whylen) != 0)
            goto done;
    }
    rc = 0;
done:
    json_decref(doc);
    return rc;
}

void jwks_finish(jwks *set)
{
    if (set->n > 1)
        qsort(set->keys, set->n, sizeof set->keys[0], compare_keys);
}

const jwks_key *jwks_find(const jwks *set, const char *kid, size_t len)
{
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = compare_kid(set->keys[mid].kid, set->keys[mid].kid_len, kid, len);
        if (c == 0)
            return &set->keys[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void jwks_free(jwks *set)
{
    for (size_t i = 0; i < set->n; i++) {
        free(set->keys[i].kid);
        jwk_key_clear(&set->keys[i].key);
    }
    free(set->keys);
    set->keys = NULL;
    set->n = 0;
}
