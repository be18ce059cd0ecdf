/*
 * fuzz_dpop.c - the DPoP proof path: fhirpam_jws_verify_embedded (a JWS
 * signed by the JWK in its own header) on arbitrary bytes, and the RFC 3986
 * normaliser device_trust compares `htu` with. Neither may crash, leak or
 * read out of bounds; a verified proof always has a thumbprint and a
 * payload, and is verified under the widest RSA key bounds too (the bounds
 * only ever refuse more, never less), and refused as by the wrong key when
 * bound to any other thumbprint; normalising twice changes nothing.
 */
#include <fhirpam/module.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    static const char *const algs[] = {"ES256", "PS256", "RS256", "ES384"};
    fhirpam_jws_proof proof;
    char err[256];
    if (fhirpam_jws_verify_embedded((const char *)data, size, algs, 4, &proof, err, sizeof err) ==
        0) {
        if (proof.payload == NULL || strlen(proof.jkt) != 43)
            abort();
        char jkt[sizeof proof.jkt];
        memcpy(jkt, proof.jkt, sizeof jkt);
        fhirpam_jws_proof_free(&proof);
        fhirpam_proof_rules widest = {algs, 4, FHIRPAM_RSA_MIN_BITS, FHIRPAM_RSA_MAX_BITS, jkt};
        if (fhirpam_jws_verify_proof((const char *)data, size, &widest, &proof, err, sizeof err) !=
            0)
            abort();
        fhirpam_jws_proof_free(&proof);
        /* Bound to another key, the same proof is refused as by the wrong
         * key, and its thumbprint still reported. */
        jkt[0] = jkt[0] == 'A' ? 'B' : 'A';
        if (fhirpam_jws_verify_proof((const char *)data, size, &widest, &proof, err, sizeof err) !=
                FHIRPAM_PROOF_WRONG_KEY ||
            strlen(proof.jkt) != 43 || proof.payload != NULL)
            abort();
    } else if (err[0] == '\0') {
        abort();
    }
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char once[8192], twice[8192];
    if (uri_normalize(text, once, sizeof once) == 0) {
        if (uri_normalize(once, twice, sizeof twice) != 0 || strcmp(once, twice) != 0)
            abort();
    }
    free(text);
    return 0;
}
