/*
 * claims_probe - reports what the claims SDK reads from the verified token,
 * in its reason text, so that tests can check the claims API end to end.
 * Returns success when the stack has a token, ignore otherwise.
 */
#include <fhirpam/module.h>
#include <inttypes.h>
#include <stdio.h>

static fhirpam_code probe_authorize(void *instance, fhirpam_authz *az)
{
    (void)instance;
    if (!fhirpam_has_token(az)) {
        fhirpam_set_reason(az, "no_token", "no token");
        return FHIRPAM_IGNORE;
    }
    int64_t exp = 0;
    double iat = 0;
    bool flag = false;
    /* Read first: argument evaluation order is unspecified. */
    int has_exp = fhirpam_claim_int(az, "exp", &exp);
    int has_iat = fhirpam_claim_number(az, "iat", &iat);
    int has_flag = fhirpam_claim_bool(az, "flag", &flag);
    const char *jkt = fhirpam_claim_member_string(az, "cnf", "jkt");
    const char *aud0 = fhirpam_claim_array_string(az, "aud", 0);
    const char *json = fhirpam_claim_json(az, "ctx");
    fhirpam_set_reason(
        az, "claims",
        "sub=%s scope=%s aud_n=%zu aud0=%s exp_int=%d:%" PRId64 " iat_num=%d:%.1f flag=%d:%d "
        "jkt=%s type_ctx=%d json=%s missing=%d",
        fhirpam_claim_string(az, "sub"), fhirpam_claim_string(az, "scope"),
        fhirpam_claim_array_size(az, "aud"), aud0 ? aud0 : "(none)", has_exp, exp, has_iat, iat,
        has_flag, flag, jkt ? jkt : "(none)", (int)fhirpam_claim_type_of(az, "ctx"),
        json ? json : "(none)", (int)fhirpam_claim_type_of(az, "missing"));
    return FHIRPAM_SUCCESS;
}

FHIRPAM_MODULE_DESCRIPTOR = {
    FHIRPAM_MODULE_HEADER,
    .name = "claims_probe",
    .authorize = probe_authorize,
};
