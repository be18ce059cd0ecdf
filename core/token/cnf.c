/* cnf.c - see cnf.h. */
#include "cnf.h"

unsigned cnf_binding(const json_t *claims)
{
    const json_t *cnf = json_object_get(claims, "cnf");
    if (cnf == NULL)
        return 0;
    if (!json_is_object(cnf) || json_object_size(cnf) == 0)
        return CNF_UNVERIFIABLE;
    /* RFC 7800 §3.1 lets a reader ignore members it does not understand;
     * RFC 9449 §7.2 and RFC 8705 §3 do not let a resource server treat a
     * bound token as a bearer token. So unknown members beside a known one
     * are ignored, and a cnf of unknown members only still binds. */
    unsigned bound = 0;
    if (json_object_get(cnf, "jkt") != NULL)
        bound |= FHIRPAM_BINDING_DPOP;
    if (json_object_get(cnf, "x5t#S256") != NULL)
        bound |= FHIRPAM_BINDING_MTLS;
    return bound != 0 ? bound : FHIRPAM_BINDING_OTHER;
}
