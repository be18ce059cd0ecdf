/*
 * cnf.h - what a verified token is bound to: its `cnf` claim (RFC 7800
 * §3.1), read once when the token enters the verified-token cache.
 *
 * Whatever verified the token (a JWS today; an RFC 7662 introspection
 * response, whose `cnf` is a top-level member as RFC 8705 §3.2 and RFC 9449
 * §6.2 say, once there is one) goes through token_cache_add(), which reads
 * the binding here: so every kind of token is held to the same rule
 * (binding.h).
 */
#ifndef FHIRPAM_CORE_CNF_H
#define FHIRPAM_CORE_CNF_H

#include <fhirpam/module.h>
#include <jansson.h>

/* Beside the FHIRPAM_BINDING_* bits: a `cnf` that is not an object with at
 * least one member. No module can report it verified. */
#define CNF_UNVERIFIABLE (1u << 8)

/*
 * The bindings claims[`cnf`] asks for: 0 without `cnf` (a bearer token);
 * FHIRPAM_BINDING_DPOP for a `jkt` member, FHIRPAM_BINDING_MTLS for
 * `x5t#S256` (whatever their values' types: a malformed value of a known
 * member still binds, and nothing will verify it); FHIRPAM_BINDING_OTHER
 * when every member is one fhirpam does not know; CNF_UNVERIFIABLE for a
 * `cnf` that is not an object, or an empty one. Thread-safe.
 */
unsigned cnf_binding(const json_t *claims);

#endif
