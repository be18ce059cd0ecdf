/*
 * binding.h - the sender-constraint rule, kept by the core so that no stack
 * can route around it (RFC 9449 §7.2: a DPoP-bound token received as a bearer
 * token MUST be rejected; RFC 8705 §3: the resource server MUST verify the
 * certificate binding): a request whose verified token is bound (cnf.h), or
 * that came with the DPoP scheme, is permitted only when a module reported
 * the binding verified on this request (fhirpam_binding_verified, module.h).
 */
#ifndef FHIRPAM_CORE_BINDING_H
#define FHIRPAM_CORE_BINDING_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "authz.h"
#include "config.h"
#include "decision.h"
#include "token.h"

/* The bindings a request needs verified (FHIRPAM_BINDING_* bits and
 * CNF_UNVERIFIABLE): its token's (token_identity.binding), plus a DPoP
 * proof when it came with the DPoP scheme (RFC 9449 §7.1); 0 when there is
 * nothing to verify or the configuration allows unverified bindings. Once
 * per request, when the token has been verified: inline, since for a
 * bearer token it is a compare and a branch. */
static inline unsigned binding_needed(const token_verifier *v, unsigned token_binding,
                                      const char *scheme)
{
    unsigned needed = token_binding;
    if (scheme != NULL && strcmp(scheme, "DPoP") == 0)
        needed |= FHIRPAM_BINDING_DPOP;
    return needed != 0 && token_verifier_enforces_binding(v) ? needed : 0;
}

/* After a stack run that permitted a request with az->binding_needed != 0:
 * turns the decision into a deny (untrusted_device, unverified_binding, 401,
 * the challenge of RFC 9449 §7.1 or RFC 6750 §3) unless the run reported
 * every binding the request needs; the reason text names those missing. */
void binding_enforce(const struct fhirpam_authz *az, struct fhirpam_decision *d);

/* The configuration's warnings about bindings (for `fhirpam check`): each
 * stack that takes tokens and has no line, its includes and substacks
 * counted, whose module can verify a binding; unverified_binding = "allow".
 * Returns how many; *warnings receives newly allocated strings the caller
 * frees with fhirpam_free_strings() (NULL and 0 when out of memory). */
size_t binding_config_warnings(const config *c, char ***warnings);

#endif
