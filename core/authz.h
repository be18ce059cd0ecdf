/*
 * authz.h - one authorization in progress: what a module's fhirpam_authz
 * handle points at. Lives on the stack of fhirpam_authorize().
 */
#ifndef FHIRPAM_CORE_AUTHZ_H
#define FHIRPAM_CORE_AUTHZ_H

#include <fhirpam/module.h>
#include <jansson.h>
#include <stdbool.h>

#include "fhir_request.h"
#include "request.h"

struct verified_token;

#define AUTHZ_REASON_WORD_MAX 48
#define AUTHZ_REASON_TEXT_MAX 320

struct fhirpam_authz {
    const struct fhirpam_request *req;
    const char *stack_name;
    int64_t now;
    const json_t *claims; /* verified claims, or NULL when the stack runs without a token */
    const struct verified_token *token; /* holds per-token module data; NULL without a token */
    const fhir_request *fhir;           /* the parsed request */
    const char *fhir_base;              /* the configuration's fhir_base, or NULL */
    const char *token_scheme;           /* "Bearer" or "DPoP"; NULL without a token */
    const char *access_token;           /* not NUL-terminated: access_token_len */
    const char *if_none_exist;          /* the criteria `fhir` was parsed with, or NULL */
    size_t access_token_len;
    char cert_thumbprint[48]; /* computed on first use */
    bool cert_thumbprint_done;

    /* Sender constraints (binding.h): the bindings this request needs
     * verified, set once when its token is verified (0: none, or the
     * config allows unverified ones); those modules reported on the stack
     * run now going on (cleared for each run, so a bundle entry's never
     * counts for another); the descriptor flags of the module now running. */
    unsigned binding_needed;
    unsigned binding_verified;
    uint32_t module_flags;

    /* The reason the module now running gave, reset before each call. */
    bool reason_set;
    char reason_word[AUTHZ_REASON_WORD_MAX];
    char reason_text[AUTHZ_REASON_TEXT_MAX];
    /* The scope the module now running says would have been needed (RFC
     * 6750 §3 `scope`), reset before each call; "" when none. */
    char challenge_scope[256];
    /* The challenge and DPoP-Nonce the module now running set, reset
     * before each call; "" when none. */
    char challenge_scheme[16];
    char challenge_error[40];
    char dpop_nonce[128];

    /* Obligations modules added (fhirpam_add_obligation): a JSON array, or
     * NULL; the decision takes it when it is a permit. */
    json_t *obligations;

    /* Attributes one module leaves for the next (fhirpam_attr_set). */
    struct authz_attr {
        char name[32];
        char value[64];
        unsigned set_by; /* the call (below) that set it */
    } attrs[8];
    size_t nattrs;
    unsigned call; /* module calls so far: a late answer's attributes are dropped */

    /* Strings handed to modules (fhirpam_claim_json) that live until the end
     * of the authorization. */
    char **temps;
    size_t ntemps;
    size_t temps_cap;
};

void authz_release_temps(struct fhirpam_authz *az);

#endif
