/*
 * proof.h - what the core's DPoP proof check (proof.c, behind
 * fhirpam_jws_verify_embedded in module.h) tells tests and metrics about
 * its cache of imported proof keys.
 */
#ifndef FHIRPAM_CORE_PROOF_H
#define FHIRPAM_CORE_PROOF_H

#include <stddef.h>
#include <stdint.h>

/* Counts since the process started: proof keys imported (cache misses),
 * found in the cache, and admitted to it (only after a signature by the key
 * verified). */
typedef struct proof_key_stats {
    uint64_t imported, reused, admitted;
} proof_key_stats;

/* A snapshot of the counts. Thread-safe. */
void proof_key_cache_stats(proof_key_stats *out);

/* The cache slot of a key with this RFC 7638 thumbprint (base64url), so that
 * a test can aim keys at a client's slot. */
size_t proof_key_cache_slot(const char *jkt);

#endif
