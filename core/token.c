/*
 * token.c - access-token verification.
 *
 * Token verification is its own piece of work (issue 3). Until it lands, a
 * configuration that asks for it is refused, so that no stack can run as if
 * a token had been checked: stacks say token = "none" or do not load.
 */
#include "token.h"

#include <stdio.h>

token_verifier *token_verifier_new_from_config(const config_setting_t *group,
                                               const char *config_path, fhirpam_error *err)
{
    fhirpam_error_set(err, "%s:%d: token verification is not available in this version of fhirpam",
                      config_path, config_setting_source_line(group));
    return NULL;
}

void token_verifier_free(token_verifier *v)
{
    (void)v;
}

const verified_token *token_verify(token_verifier *v, const char *token, size_t len, int64_t now,
                                   token_failure *why)
{
    (void)v, (void)token, (void)len, (void)now;
    why->code = FHIRPAM_INVALID_TOKEN;
    snprintf(why->reason, sizeof why->reason, "not_verifiable");
    snprintf(why->text, sizeof why->text, "token verification is not available");
    return NULL;
}

const json_t *verified_token_claims(const verified_token *vt)
{
    (void)vt;
    return NULL;
}
void verified_token_release(const verified_token *vt)
{
    (void)vt;
}
void *verified_token_data(const verified_token *vt, const void *key)
{
    (void)vt, (void)key;
    return NULL;
}
void *verified_token_data_attach(const verified_token *vt, const void *key, void *data,
                                 void (*free_fn)(void *))
{
    (void)vt, (void)key, (void)data, (void)free_fn;
    return NULL;
}
