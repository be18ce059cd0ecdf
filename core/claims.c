/*
 * claims.c - module access to the verified token's claims, and the reason a
 * module gives for its code.
 *
 * Claims are a jansson object owned by the verified-token cache entry and
 * never modified after verification, so reading them from many threads needs
 * no lock (jansson's getters do not mutate).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "token.h"

static const json_t *claim(const fhirpam_authz *az, const char *name)
{
    if (az->claims == NULL || name == NULL)
        return NULL;
    return json_object_get(az->claims, name);
}

FHIRPAM_API bool fhirpam_has_token(const fhirpam_authz *az)
{
    return az->claims != NULL;
}

FHIRPAM_API fhirpam_claim_type fhirpam_claim_type_of(const fhirpam_authz *az, const char *name)
{
    const json_t *v = claim(az, name);
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        return FHIRPAM_CLAIM_STRING;
    case JSON_INTEGER:
    case JSON_REAL:
        return FHIRPAM_CLAIM_NUMBER;
    case JSON_TRUE:
    case JSON_FALSE:
        return FHIRPAM_CLAIM_BOOL;
    case JSON_ARRAY:
        return FHIRPAM_CLAIM_ARRAY;
    case JSON_OBJECT:
        return FHIRPAM_CLAIM_OBJECT;
    case JSON_NULL:
        return v ? FHIRPAM_CLAIM_NULL : FHIRPAM_CLAIM_ABSENT;
    }
    return FHIRPAM_CLAIM_ABSENT;
}

FHIRPAM_API const char *fhirpam_claim_string(const fhirpam_authz *az, const char *name)
{
    return json_string_value(claim(az, name));
}

FHIRPAM_API bool fhirpam_claim_number(const fhirpam_authz *az, const char *name, double *out)
{
    const json_t *v = claim(az, name);
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

FHIRPAM_API bool fhirpam_claim_int(const fhirpam_authz *az, const char *name, int64_t *out)
{
    const json_t *v = claim(az, name);
    if (!json_is_integer(v))
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

FHIRPAM_API bool fhirpam_claim_bool(const fhirpam_authz *az, const char *name, bool *out)
{
    const json_t *v = claim(az, name);
    if (!json_is_boolean(v))
        return false;
    *out = json_is_true(v);
    return true;
}

FHIRPAM_API size_t fhirpam_claim_array_size(const fhirpam_authz *az, const char *name)
{
    return json_array_size(claim(az, name));
}

FHIRPAM_API const char *fhirpam_claim_array_string(const fhirpam_authz *az, const char *name,
                                                   size_t i)
{
    return json_string_value(json_array_get(claim(az, name), i));
}

FHIRPAM_API const char *fhirpam_claim_member_string(const fhirpam_authz *az, const char *name,
                                                    const char *member)
{
    if (member == NULL)
        return NULL;
    return json_string_value(json_object_get(claim(az, name), member));
}

FHIRPAM_API const char *fhirpam_claim_json(const fhirpam_authz *az, const char *name)
{
    const json_t *v = claim(az, name);
    if (v == NULL)
        return NULL;
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL)
        return NULL;
    /* The handle is const for modules; the list of strings to free is the
     * core's bookkeeping, not state a module can observe. */
    struct fhirpam_authz *w = (struct fhirpam_authz *)az;
    if (w->ntemps == w->temps_cap) {
        size_t cap = w->temps_cap ? w->temps_cap * 2 : 4;
        char **t = realloc(w->temps, cap * sizeof *t);
        if (t == NULL) {
            free(text);
            return NULL;
        }
        w->temps = t;
        w->temps_cap = cap;
    }
    w->temps[w->ntemps++] = text;
    return text;
}

void authz_release_temps(struct fhirpam_authz *az)
{
    for (size_t i = 0; i < az->ntemps; i++)
        free(az->temps[i]);
    free(az->temps);
    az->temps = NULL;
    az->ntemps = az->temps_cap = 0;
}

FHIRPAM_API void fhirpam_set_reason(fhirpam_authz *az, const char *word, const char *fmt, ...)
{
    if (az == NULL)
        return;
    az->reason_set = true;
    /* The word is a machine token in JSON and logs: keep only [a-z0-9_]. */
    size_t n = 0;
    for (const char *p = word ? word : ""; *p != '\0' && n + 1 < sizeof az->reason_word; p++) {
        char ch = *p;
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')
            az->reason_word[n++] = ch;
    }
    az->reason_word[n] = '\0';
    az->reason_text[0] = '\0';
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(az->reason_text, sizeof az->reason_text, fmt, ap);
        va_end(ap);
    }
}

FHIRPAM_API void *fhirpam_token_data(const fhirpam_authz *az, const void *key)
{
    if (az == NULL || az->token == NULL)
        return NULL;
    return verified_token_data(az->token, key);
}

FHIRPAM_API void *fhirpam_token_data_attach(fhirpam_authz *az, const void *key, void *data,
                                            void (*free_fn)(void *))
{
    if (az == NULL || az->token == NULL || data == NULL)
        return NULL;
    return verified_token_data_attach(az->token, key, data, free_fn);
}

FHIRPAM_API void fhirpam_set_challenge_scope(fhirpam_authz *az, const char *scope)
{
    if (az == NULL || scope == NULL || strlen(scope) >= sizeof az->challenge_scope)
        return;
    for (const char *p = scope; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c != ' ' && (c < 0x21 || c == '"' || c == '\\' || c > 0x7e))
            return;
    }
    snprintf(az->challenge_scope, sizeof az->challenge_scope, "%s", scope);
}

FHIRPAM_API int fhirpam_attr_set(fhirpam_authz *az, const char *name, const char *value)
{
    if (az == NULL || name == NULL || value == NULL)
        return -1;
    size_t nlen = strlen(name), vlen = strlen(value);
    if (nlen >= sizeof az->attrs[0].name || vlen >= sizeof az->attrs[0].value)
        return -1;
    size_t i = 0;
    while (i < az->nattrs && strcmp(az->attrs[i].name, name) != 0)
        i++;
    if (i == sizeof az->attrs / sizeof az->attrs[0])
        return -1;
    memcpy(az->attrs[i].name, name, nlen + 1);
    memcpy(az->attrs[i].value, value, vlen + 1);
    az->attrs[i].set_by = az->call;
    if (i == az->nattrs)
        az->nattrs++;
    return 0;
}

FHIRPAM_API const char *fhirpam_attr_get(const fhirpam_authz *az, const char *name)
{
    for (size_t i = 0; az != NULL && name != NULL && i < az->nattrs; i++) {
        if (strcmp(az->attrs[i].name, name) == 0)
            return az->attrs[i].value;
    }
    return NULL;
}

/* Challenge words: RFC 7235 token characters we accept (no quotes, no
 * spaces, no controls), so nothing can break out of the header. */
static bool challenge_word(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n >= max)
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == '~' || c == '+' || c == '/'))
            return false;
    }
    return true;
}

FHIRPAM_API void fhirpam_set_challenge(fhirpam_authz *az, const char *scheme, const char *error)
{
    if (az == NULL || scheme == NULL || error == NULL ||
        !challenge_word(scheme, sizeof az->challenge_scheme) ||
        !challenge_word(error, sizeof az->challenge_error))
        return;
    memcpy(az->challenge_scheme, scheme, strlen(scheme) + 1);
    memcpy(az->challenge_error, error, strlen(error) + 1);
}

FHIRPAM_API void fhirpam_set_dpop_nonce(fhirpam_authz *az, const char *nonce)
{
    if (az != NULL && nonce != NULL && challenge_word(nonce, sizeof az->dpop_nonce))
        memcpy(az->dpop_nonce, nonce, strlen(nonce) + 1);
}

FHIRPAM_API const char *fhirpam_token_scheme(const fhirpam_authz *az)
{
    return az != NULL ? az->token_scheme : NULL;
}

FHIRPAM_API const char *fhirpam_access_token(const fhirpam_authz *az, size_t *len)
{
    if (az == NULL || az->access_token == NULL)
        return NULL;
    if (len != NULL)
        *len = az->access_token_len;
    return az->access_token;
}
