/*
 * test_consent.c - the consent module (issue 7, consent.md): FHIR R4 and R5
 * privacy Consents on disk, token claims and a request, and the code and
 * reason word the module must answer. Each row gets its own store
 * directory. Then: redact obligations end to end (fhirpam_check_response),
 * store files that do not load, reloads, and reloads under load.
 */
#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "authz.h"
#include "mint.h"
#include "modtest.h"
#include "testutil.h"

/* 2026-06-15T12:00:00Z */
#define NOW 1781524800LL

/* ---- building Consents ---- */

#define Q "\""
#define SCOPE_PRIVACY                                                                              \
    "{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/consentscope\",\"code\":"    \
    "\"patient-privacy\"}]}"
#define CAT_LOINC "{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"59284-0\"}]}"

/* An R4 privacy Consent of patient 123 (scope patient-privacy). */
#define R4P(id, status, date, patient, rest)                                                       \
    "{\"resourceType\":\"Consent\",\"id\":\"" id "\",\"status\":\"" status                         \
    "\",\"scope\":" SCOPE_PRIVACY ",\"category\":[" CAT_LOINC "],\"patient\":{\"reference\":"      \
    "\"Patient/" patient "\"},\"dateTime\":\"" date "\"" rest "}"
#define R4(id, status, date, rest) R4P(id, status, date, "123", rest)
/* ... and with a provision. */
#define R4PROV(id, date, prov) R4(id, "active", date, ",\"provision\":" prov)

/* An R5 Consent of patient 123 (category patient-privacy). */
#define R5(id, status, rest)                                                                       \
    "{\"resourceType\":\"Consent\",\"id\":\"" id "\",\"status\":\"" status                         \
    "\",\"category\":[" SCOPE_PRIVACY "],\"subject\":{\"reference\":\"Patient/123\"},"             \
    "\"date\":\"2026-01-01\"" rest "}"

#define PERMIT(...) "{\"type\":\"permit\"" __VA_ARGS__ "}"
#define DENY(...)   "{\"type\":\"deny\"" __VA_ARGS__ "}"
#define RULE(...)   "{\"period\":{\"start\":\"2000\"}" __VA_ARGS__ "}"
#define NESTED(...) ",\"provision\":[" __VA_ARGS__ "]"
#define ACTOR(ref)                                                                                 \
    ",\"actor\":[{\"role\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"      \
    "v3-ParticipationType\",\"code\":\"IRCP\"}]},\"reference\":{\"reference\":\"" ref "\"}}]"
#define ACTOR_ID(system, value)                                                                    \
    ",\"actor\":[{\"role\":{\"text\":\"recipient\"},\"reference\":{\"identifier\":{\"system\":"    \
    "\"" system "\",\"value\":\"" value "\"}}}]"
#define PURPOSE(code)                                                                              \
    ",\"purpose\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActReason\","            \
    "\"code\":\"" code "\"}]"
#define CLASS(type)                                                                                \
    ",\"class\":[{\"system\":\"http://hl7.org/fhir/resource-types\",\"code\":\"" type "\"}]"
#define R5TYPE(type)                                                                               \
    ",\"resourceType\":[{\"system\":\"http://hl7.org/fhir/resource-types\",\"code\":\"" type "\"}" \
    "]"
#define SNOMED_HIV "86406008"
#define CODE(code)                                                                                 \
    ",\"code\":[{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"" code "\"}]}]"
#define CONF         "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
#define LABEL(code)  ",\"securityLabel\":[{\"system\":\"" CONF "\",\"code\":\"" code "\"}]"
#define PERIOD(s, e) ",\"period\":{\"start\":\"" s "\",\"end\":\"" e "\"}"
#define ACTION(code)                                                                               \
    ",\"action\":[{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"               \
    "consentaction\",\"code\":\"" code "\"}]}]"
#define POLICY(code)                                                                               \
    ",\"policyRule\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"            \
    "v3-ActCode\""                                                                                 \
    ",\"code\":\"" code "\"}]}"

/* The actors every store holds, as a Bundle. */
static const char actors[] =
    "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":["
    "{\"resource\":{\"resourceType\":\"Organization\",\"id\":\"org1\",\"identifier\":[{\"system\":"
    "\"urn:oid:1.2.3\",\"value\":\"ORG-1\"}]}},"
    "{\"resource\":{\"resourceType\":\"Organization\",\"id\":\"org2\",\"identifier\":[{\"system\":"
    "\"urn:oid:1.2.3\",\"value\":\"ORG-2\"}]}},"
    "{\"resource\":{\"resourceType\":\"Practitioner\",\"id\":\"pr1\",\"identifier\":[{\"system\":"
    "\"http://hl7.org/fhir/sid/us-npi\",\"value\":\"111\"}]}}]}";

/* client_id -> identifiers. */
static const char registry[] = "{\"app-a\":[\"urn:oid:1.2.3|ORG-1\"],"
                               "\"app-b\":[\"urn:oid:1.2.3|ORG-2\"],\"app-none\":[]}";

/* ---- token claims ---- */

#define C_PAT     "{\"patient\":\"123\"}"
#define C_A       "{\"patient\":\"123\",\"client_id\":\"app-a\"}"
#define C_B       "{\"patient\":\"123\",\"client_id\":\"app-b\"}"
#define C_A_TREAT "{\"patient\":\"123\",\"client_id\":\"app-a\",\"purpose_of_use\":\"TREAT\"}"
#define C_A_MKT   "{\"patient\":\"123\",\"client_id\":\"app-a\",\"purpose_of_use\":\"HMARKT\"}"
#define C_B_TREAT "{\"patient\":\"123\",\"client_id\":\"app-b\",\"purpose_of_use\":\"TREAT\"}"
#define C_B_MKT   "{\"patient\":\"123\",\"client_id\":\"app-b\",\"purpose_of_use\":\"HMARKT\"}"
#define C_NONE    "{}"

/* ---- stored resources ---- */

#define OBS_WITH(extra)                                                                            \
    "{\"resourceType\":\"Observation\",\"id\":\"9\",\"status\":\"final\",\"subject\":{"            \
    "\"reference\":\"Patient/123\"}" extra "}"
#define OBS_HIV                                                                                    \
    OBS_WITH(                                                                                      \
        ",\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"" SNOMED_HIV     \
        "\"}]}")
#define OBS_PLAIN                                                                                  \
    OBS_WITH(",\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"8867-4\"}]}")
#define OBS_LABEL(code)                                                                            \
    OBS_WITH(",\"meta\":{\"security\":[{\"system\":\"" CONF "\",\"code\":\"" code "\"}]}")

#define OBS_999                                                                                    \
    "{\"resourceType\":\"Observation\",\"id\":\"9\",\"status\":\"final\",\"subject\":{"            \
    "\"reference\":\"Patient/999\"}}"

#define ROLE_R1                                                                                    \
    "{\"resourceType\":\"PractitionerRole\",\"id\":\"r1\",\"practitioner\":{\"reference\":"        \
    "\"Practitioner/pr1\"},\"organization\":{\"reference\":\"Organization/org1\"}}"

typedef struct row {
    const char *name;
    const char *files[4]; /* Consents; "ndjson:" first writes a .ndjson file */
    const char *args;     /* extra arguments, e.g. "combine = \"deny_overrides\";" */
    const char *claims;
    const char *method, *url;
    const char *body, *current;
    int64_t now; /* 0: NOW */
    fhirpam_code code;
    const char *reason;
    size_t obligations;
    const char *fhir_base; /* the configuration's fhir_base (absolute references) */
} row;

#define OK FHIRPAM_SUCCESS
#define NO FHIRPAM_CONSENT_DENIED
#define IG FHIRPAM_IGNORE

#define OBS_SEARCH "Observation?patient=Patient/123"

/* The first rows give every field by position; the later ones name theirs. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const row rows[] = {
    /* ---- opt-in ---- */
    {"opt-in: root permit",
     {R4PROV("c1", "2026-01-01", PERMIT())},
     NULL,
     C_PAT,
     "GET",
     "Patient/123/Observation",
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"opt-in: policyRule OPTIN without a provision",
     {R4("c1", "active", "2026-01-01", POLICY("OPTIN"))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"opt-in: root type wins over policyRule",
     {R4("c1", "active", "2026-01-01", POLICY("OPTOUT") ",\"provision\":" PERMIT())},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"no Consent for the patient: abstain",
     {R4PROV("c1", "2026-01-01", DENY())},
     NULL,
     "{\"patient\":\"456\"}",
     "GET",
     "Patient/456/Observation",
     NULL,
     NULL,
     0,
     IG,
     "no_consent",
     0},
    {"no patient anywhere: abstain",
     {R4PROV("c1", "2026-01-01", DENY())},
     NULL,
     C_NONE,
     "GET",
     "Observation?code=8867-4",
     NULL,
     NULL,
     0,
     IG,
     "no_patient",
     0},
    {"patient from the token when the request names none",
     {R4PROV("c1", "2026-01-01", DENY())},
     NULL,
     C_PAT,
     "GET",
     "Observation/9",
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"patient claim as Patient/123",
     {R4PROV("c1", "2026-01-01", DENY())},
     NULL,
     "{\"patient\":\"Patient/123\"}",
     "GET",
     "Encounter/1",
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"the request's patient over the token's",
     {R4PROV("c1", "2026-01-01", DENY())},
     NULL,
     "{\"patient\":\"456\"}",
     "GET",
     "Observation?subject=Patient/123",
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"Patient/123 read",
     {R4PROV("c1", "2026-01-01", DENY())},
     NULL,
     C_NONE,
     "GET",
     "Patient/123",
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},

    {"patient from the stored resource's subject",
     {R4PROV("c1", "2026-01-01", DENY())},
     NULL,
     C_NONE,
     "GET",
     "Observation/9",
     NULL,
     OBS_PLAIN,
     0,
     NO,
     "consent_deny",
     0},
    {"stored resource of another patient",
     {R4PROV("c1", "2026-01-01", DENY())},
     NULL,
     C_NONE,
     "GET",
     "Observation/9",
     NULL,
     "{\"resourceType\":\"Observation\",\"subject\":{\"reference\":\"Patient/456\"}}",
     0,
     IG,
     "no_consent",
     0},

    {"stored resource without a subject, no patient anywhere",
     {R4PROV("c1", "2026-01-01", DENY())},
     NULL,
     C_NONE,
     "GET",
     "Medication/9",
     NULL,
     "{\"resourceType\":\"Medication\",\"id\":\"9\"}",
     0,
     IG,
     "no_patient",
     0},

    /* ---- opt-out ---- */
    {"opt-out: root deny",
     {R4PROV("c1", "2026-01-01", DENY())},
     NULL,
     C_PAT,
     "GET",
     "Patient/123/Observation",
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"opt-out: policyRule OPTOUT",
     {R4("c1", "active", "2026-01-01", POLICY("OPTOUT"))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"opt-out: exception for org1, client app-a (registry)",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(ACTOR("Organization/org1")))))},
     NULL,
     C_A,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"opt-out: exception for org1, client app-b",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(ACTOR("Organization/org1")))))},
     NULL,
     C_B,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"opt-out: exception for a practitioner, fhirUser literal",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(ACTOR("Practitioner/pr1")))))},
     NULL,
     "{\"patient\":\"123\",\"fhirUser\":\"Practitioner/pr1\"}",
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"opt-out: fhirUser as an absolute URL",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(ACTOR("Practitioner/pr1")))))},
     NULL,
     "{\"patient\":\"123\",\"fhirUser\":\"https://ehr.example.org/fhir/Practitioner/pr1\"}",
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"opt-out: actor by identifier, fhirUser resolved through the store",
     {R4PROV("c1", "2026-01-01",
             DENY(NESTED(PERMIT(ACTOR_ID("http://hl7.org/fhir/sid/us-npi", "111")))))},
     NULL,
     "{\"patient\":\"123\",\"fhirUser\":\"Practitioner/pr1\"}",
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"opt-out: another practitioner",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(ACTOR("Practitioner/pr1")))))},
     NULL,
     "{\"patient\":\"123\",\"fhirUser\":\"Practitioner/pr2\"}",
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},

    /* ---- actor under opt-in ---- */
    {"opt-in: deny org2, client app-b",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTOR("Organization/org2")))))},
     NULL,
     C_B,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"opt-in: deny org2, client app-a",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTOR("Organization/org2")))))},
     NULL,
     C_A,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"opt-in: deny an actor not in the store: doubt denies",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTOR("Organization/nowhere")))))},
     NULL,
     C_A,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_unresolved",
     0},
    {"opt-in: deny org2, requester unknown: doubt denies",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTOR("Organization/org2")))))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_unresolved",
     0},
    {"opt-out: permit an actor not in the store does not grant",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(ACTOR("Organization/nowhere")))))},
     NULL,
     C_A,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},

    {"opt-in: deny org2, fhirUser only, client not in the registry: doubt denies",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTOR("Organization/org2")))))},
     NULL,
     "{\"patient\":\"123\",\"client_id\":\"unregistered\",\"fhirUser\":\"Practitioner/pr1\"}",
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_unresolved",
     0},
    {"opt-in: deny org2, client registered without identifiers",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTOR("Organization/org2")))))},
     NULL,
     "{\"patient\":\"123\",\"client_id\":\"app-none\"}",
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"opt-in: deny a practitioner, another practitioner asks",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTOR("Practitioner/pr1")))))},
     NULL,
     "{\"patient\":\"123\",\"fhirUser\":\"Practitioner/pr9\"}",
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},

    /* ---- purpose ---- */
    {"opt-out: permit TREAT, token TREAT",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(PURPOSE("TREAT")))))},
     NULL,
     C_A_TREAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"opt-out: permit TREAT, token HMARKT",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(PURPOSE("TREAT")))))},
     NULL,
     C_A_MKT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"opt-out: permit TREAT, token [HMARKT, TREAT] (any of)",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(PURPOSE("TREAT")))))},
     NULL,
     "{\"patient\":\"123\",\"purpose_of_use\":[\"HMARKT\",\"TREAT\"]}",
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"opt-out: permit TREAT, default_purpose TREAT",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(PURPOSE("TREAT")))))},
     "default_purpose = [ \"TREAT\" ];",
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"opt-out: permit TREAT, no purpose at all",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(PURPOSE("TREAT")))))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"opt-in: deny HMARKT, no purpose: doubt denies",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(PURPOSE("HMARKT")))))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_unresolved",
     0},
    {"opt-in: deny HMARKT, token TREAT",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(PURPOSE("HMARKT")))))},
     NULL,
     C_A_TREAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"purpose claim of the wrong type",
     {R4PROV("c1", "2026-01-01", PERMIT())},
     NULL,
     "{\"patient\":\"123\",\"purpose_of_use\":5}",
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "bad_purpose_claim",
     0},
    {"purpose claim as system|code",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(PURPOSE("TREAT")))))},
     NULL,
     "{\"patient\":\"123\",\"purpose_of_use\":\"http://terminology.hl7.org/CodeSystem/"
     "v3-ActReason|TREAT\"}",
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"purpose claim under another name",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(PURPOSE("TREAT")))))},
     "purpose_claim = \"pou\";",
     "{\"patient\":\"123\",\"pou\":\"TREAT\"}",
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},

    /* ---- class ---- */
    {"opt-in: deny class Observation, Observation search",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(CLASS("Observation")))))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"opt-in: deny class Observation, Condition search",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(CLASS("Observation")))))},
     NULL,
     C_PAT,
     "GET",
     "Condition?patient=Patient/123",
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"opt-in: deny class Observation, Patient/123/* (redact)",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(CLASS("Observation")))))},
     NULL,
     C_PAT,
     "GET",
     "Patient/123/*",
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     1},
    {"opt-in: deny class Observation, Condition search with _include (redact)",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(CLASS("Observation")))))},
     NULL,
     C_PAT,
     "GET",
     "Condition?patient=Patient/123&_revinclude=Observation:focus",
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     1},
    {"opt-out: permit class Immunization, Immunization search",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(CLASS("Immunization")))))},
     NULL,
     C_PAT,
     "GET",
     "Immunization?patient=Patient/123",
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"opt-out: permit class Immunization, Observation search",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(CLASS("Immunization")))))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"opt-out: permit class Immunization, Patient/123/* does not grant",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(CLASS("Immunization")))))},
     NULL,
     C_PAT,
     "GET",
     "Patient/123/*",
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},

    /* ---- code ---- */
    {"opt-in: deny HIV code, search (redact)",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(CODE(SNOMED_HIV)))))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     1},
    {"opt-in: deny HIV code, stored resource has it",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(CODE(SNOMED_HIV)))))},
     NULL,
     C_PAT,
     "GET",
     "Observation/9",
     NULL,
     OBS_HIV,
     0,
     NO,
     "consent_deny",
     0},
    {"opt-in: deny HIV code, stored resource has not",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(CODE(SNOMED_HIV)))))},
     NULL,
     C_PAT,
     "GET",
     "Observation/9",
     NULL,
     OBS_PLAIN,
     0,
     OK,
     "consent_permit",
     0},
    {"opt-in: deny HIV code, redact = deny",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(CODE(SNOMED_HIV)))))},
     "redact = \"deny\";",
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_redact_deny",
     0},
    {"opt-out: permit HIV code only does not grant a search",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(CODE(SNOMED_HIV)))))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},

    /* ---- securityLabel ---- */
    {"opt-in: deny label R, stored resource labelled R",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(LABEL("R")))))},
     NULL,
     C_PAT,
     "GET",
     "Observation/9",
     NULL,
     OBS_LABEL("R"),
     0,
     NO,
     "consent_deny",
     0},
    {"opt-in: deny label R, stored resource labelled N",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(LABEL("R")))))},
     NULL,
     C_PAT,
     "GET",
     "Observation/9",
     NULL,
     OBS_LABEL("N"),
     0,
     OK,
     "consent_permit",
     0},
    {"opt-in: deny label R, no stored resource (redact)",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(LABEL("R")))))},
     NULL,
     C_PAT,
     "GET",
     "Observation/9",
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     1},
    {"opt-in: deny label V matches exactly (no high-water mark)",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(LABEL("V")))))},
     NULL,
     C_PAT,
     "GET",
     "Observation/9",
     NULL,
     OBS_LABEL("R"),
     0,
     OK,
     "consent_permit",
     0},
    {"opt-in: stored resource that does not parse is unknown content (redact)",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(LABEL("R")))))},
     NULL,
     C_PAT,
     "GET",
     "Observation/9",
     NULL,
     "{not json",
     0,
     OK,
     "consent_permit",
     1},
    {"opt-in: deny label R and code HIV, both present",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(LABEL("R") CODE(SNOMED_HIV)))))},
     NULL,
     C_PAT,
     "GET",
     "Observation/9",
     NULL,
     OBS_WITH(",\"meta\":{\"security\":[{\"system\":\"" CONF "\",\"code\":\"R\"}]},\"code\":{"
              "\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"" SNOMED_HIV "\"}]}"),
     0,
     NO,
     "consent_deny",
     0},
    {"opt-in: deny label R and code HIV, only the label (AND across elements)",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(LABEL("R") CODE(SNOMED_HIV)))))},
     NULL,
     C_PAT,
     "GET",
     "Observation/9",
     NULL,
     OBS_LABEL("R"),
     0,
     OK,
     "consent_permit",
     0},

    {"confidentiality_order: deny R covers N",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(LABEL("R")))))},
     "confidentiality_order = true;",
     C_PAT,
     "GET",
     "Observation/9",
     NULL,
     OBS_LABEL("N"),
     0,
     NO,
     "consent_deny",
     0},
    {"confidentiality_order: deny N does not cover R",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(LABEL("N")))))},
     "confidentiality_order = true;",
     C_PAT,
     "GET",
     "Observation/9",
     NULL,
     OBS_LABEL("R"),
     0,
     OK,
     "consent_permit",
     0},
    {"confidentiality_order: deny V covers R",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(LABEL("V")))))},
     "confidentiality_order = true;",
     C_PAT,
     "GET",
     "Observation/9",
     NULL,
     OBS_LABEL("R"),
     0,
     NO,
     "consent_deny",
     0},

    /* ---- periods ---- */
    {"consent period: last day, last second",
     {R4PROV("c1", "2026-01-01", DENY(PERIOD("2026-01-01", "2026-06-15")))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     1781567999LL,
     NO,
     "consent_deny",
     0},
    {"consent period: the day after",
     {R4PROV("c1", "2026-01-01", DENY(PERIOD("2026-01-01", "2026-06-15")))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     1781568000LL,
     IG,
     "no_consent",
     0},
    {"consent period: starts tomorrow",
     {R4PROV("c1", "2026-01-01", DENY(PERIOD("2026-06-16", "2027")))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     IG,
     "no_consent",
     0},
    {"consent period: end with a zone offset",
     {R4PROV("c1", "2026-01-01", DENY(PERIOD("2026-01-01", "2026-06-15T13:59:59+02:00")))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     IG,
     "no_consent",
     0},
    {"consent period: end second itself is inside",
     {R4PROV("c1", "2026-01-01", DENY(PERIOD("2026-01-01", "2026-06-15T14:00:00+02:00")))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"rule period: exception in force",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(PERIOD("2026-06-01", "2026-06-15")))))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"rule period: exception expired",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(PERIOD("2026-01-01", "2026-05")))))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"R5 period: end month, its last second",
     {R5("c5", "active", ",\"decision\":\"deny\",\"period\":{\"end\":\"2026-06\"}")},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     1782863999LL,
     NO,
     "consent_deny",
     0},
    {"R5 period: end month, the month after",
     {R5("c5", "active", ",\"decision\":\"deny\",\"period\":{\"end\":\"2026-06\"}")},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     1782864000LL,
     IG,
     "no_consent",
     0},

    /* ---- action ---- */
    {"opt-in: deny correct, an update",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTION("correct")))))},
     NULL,
     C_PAT,
     "PUT",
     "Observation/9",
     OBS_PLAIN,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"opt-in: deny correct, a read",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTION("correct")))))},
     NULL,
     C_PAT,
     "GET",
     "Observation/9",
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"opt-out: permit access, a search",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(ACTION("access")))))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"opt-out: permit access, a create is collect",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(ACTION("access")))))},
     NULL,
     C_PAT,
     "POST",
     "Observation",
     OBS_PLAIN,
     NULL,
     0,
     NO,
     "consent_deny",
     0},

    /* ---- nested exceptions ---- */
    {"nested: deny org2 except for TREAT; app-b TREAT",
     {R4PROV("c1", "2026-01-01",
             PERMIT(NESTED(DENY(ACTOR("Organization/org2") NESTED(PERMIT(PURPOSE("TREAT")))))))},
     NULL,
     C_B_TREAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"nested: deny org2 except for TREAT; app-b HMARKT",
     {R4PROV("c1", "2026-01-01",
             PERMIT(NESTED(DENY(ACTOR("Organization/org2") NESTED(PERMIT(PURPOSE("TREAT")))))))},
     NULL,
     C_B_MKT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"nested: deny org2 except for TREAT; app-a HMARKT",
     {R4PROV("c1", "2026-01-01",
             PERMIT(NESTED(DENY(ACTOR("Organization/org2") NESTED(PERMIT(PURPOSE("TREAT")))))))},
     NULL,
     C_A_MKT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"nested three deep: out, org1 in, but not marketing; app-a HMARKT",
     {R4PROV("c1", "2026-01-01",
             DENY(NESTED(PERMIT(ACTOR("Organization/org1") NESTED(DENY(PURPOSE("HMARKT")))))))},
     NULL,
     C_A_MKT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"nested three deep: app-a TREAT",
     {R4PROV("c1", "2026-01-01",
             DENY(NESTED(PERMIT(ACTOR("Organization/org1") NESTED(DENY(PURPOSE("HMARKT")))))))},
     NULL,
     C_A_TREAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"nested: a rule without type is the parent's exception",
     {R4PROV("c1", "2026-01-01", DENY(NESTED(RULE(ACTOR("Organization/org1")))))},
     NULL,
     C_A,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"nested: two exceptions, one denies",
     {R4PROV("c1", "2026-01-01",
             PERMIT(NESTED(DENY(PURPOSE("HMARKT")) "," DENY(ACTOR("Organization/org1")))))},
     NULL,
     C_A_TREAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"siblings: a deny and a permit both match: the deny wins",
     {R4PROV("c1", "2026-01-01",
             PERMIT(NESTED(PERMIT(PURPOSE("TREAT")) "," DENY(ACTOR("Organization/org1")))))},
     NULL,
     C_A_TREAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"siblings, opt-out: the permit matches, the deny does not",
     {R4PROV("c1", "2026-01-01",
             DENY(NESTED(PERMIT(ACTOR("Organization/org1")) "," DENY(PURPOSE("HMARKT")))))},
     NULL,
     C_A_TREAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"root deny of one class only, that class",
     {R4PROV("c1", "2026-01-01", DENY(CLASS("Observation")))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"root deny of one class only, another class: abstain",
     {R4PROV("c1", "2026-01-01", DENY(CLASS("Observation")))},
     NULL,
     C_PAT,
     "GET",
     "Condition?patient=Patient/123",
     NULL,
     NULL,
     0,
     IG,
     "no_consent",
     0},
    {"root deny of one class only, several types: abstain and redact",
     {R4PROV("c1", "2026-01-01", DENY(CLASS("Observation")))},
     NULL,
     C_PAT,
     "GET",
     "Patient/123/*",
     NULL,
     NULL,
     0,
     IG,
     "consent_redact",
     1},
    {"nested: deny with data is a doubt",
     {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(",\"dataPeriod\":{\"start\":\"2020\"}"))))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_unresolved",
     0},
    {"nested: permit with data does not grant",
     {R4PROV("c1", "2026-01-01",
             DENY(NESTED(PERMIT(",\"data\":[{\"meaning\":\"instance\",\"reference\":{"
                                "\"reference\":\"Observation/9\"}}]"))))},
     NULL,
     C_PAT,
     "GET",
     "Observation/9",
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},

    /* ---- the root's own conditions ---- */
    {"root permit for org1, app-a",
     {R4PROV("c1", "2026-01-01", PERMIT(ACTOR("Organization/org1")))},
     NULL,
     C_A,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"root permit for org1, app-b: not applicable",
     {R4PROV("c1", "2026-01-01", PERMIT(ACTOR("Organization/org1")))},
     NULL,
     C_B,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     IG,
     "no_consent",
     0},
    {"root deny for marketing, HMARKT",
     {R4PROV("c1", "2026-01-01", DENY(PURPOSE("HMARKT")))},
     NULL,
     C_A_MKT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"root deny for marketing, TREAT: not applicable",
     {R4PROV("c1", "2026-01-01", DENY(PURPOSE("HMARKT")))},
     NULL,
     C_A_TREAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     IG,
     "no_consent",
     0},
    {"root deny for marketing, no purpose: doubt denies",
     {R4PROV("c1", "2026-01-01", DENY(PURPOSE("HMARKT")))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_unresolved",
     0},

    /* ---- statuses ---- */
    {"inactive",
     {R4("c1", "inactive", "2026-01-01", ",\"provision\":" DENY())},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     IG,
     "no_consent",
     0},
    {"draft",
     {R4("c1", "draft", "2026-01-01", ",\"provision\":" DENY())},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     IG,
     "no_consent",
     0},
    {"proposed",
     {R4("c1", "proposed", "2026-01-01", ",\"provision\":" DENY())},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     IG,
     "no_consent",
     0},
    {"rejected",
     {R4("c1", "rejected", "2026-01-01", ",\"provision\":" DENY())},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     IG,
     "no_consent",
     0},
    {"entered-in-error",
     {R4("c1", "entered-in-error", "2026-01-01", ",\"provision\":" DENY())},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     IG,
     "no_consent",
     0},
    {"a newer inactive Consent does not hide an active one",
     {R4PROV("c1", "2025-01-01", PERMIT()),
      R4("c2", "inactive", "2026-01-01", ",\"provision\":" DENY())},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},

    /* ---- category ---- */
    {"category: LOINC only, default category",
     {"{\"resourceType\":\"Consent\",\"id\":\"c1\",\"status\":\"active\",\"category\":[" CAT_LOINC
      "],\"patient\":{\"reference\":\"Patient/123\"},\"provision\":{\"type\":\"deny\"}}"},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     IG,
     "no_consent",
     0},
    {"category: LOINC only, category = [LOINC]",
     {"{\"resourceType\":\"Consent\",\"id\":\"c1\",\"status\":\"active\",\"category\":[" CAT_LOINC
      "],\"patient\":{\"reference\":\"Patient/123\"},\"provision\":{\"type\":\"deny\"}}"},
     "category = [ \"http://loinc.org|59284-0\" ];",
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"category: any",
     {"{\"resourceType\":\"Consent\",\"id\":\"c1\",\"status\":\"active\",\"category\":[{"
      "\"text\":\"x\"}],\"patient\":{\"reference\":\"Patient/123\"},\"provision\":{\"type\":"
      "\"deny\"}}"},
     "category = [ ];",
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"scope research is not a privacy Consent",
     {"{\"resourceType\":\"Consent\",\"id\":\"c1\",\"status\":\"active\",\"scope\":{\"coding\":[{"
      "\"system\":\"http://terminology.hl7.org/CodeSystem/consentscope\",\"code\":\"research\"}]},"
      "\"category\":[" SCOPE_PRIVACY "],\"patient\":{\"reference\":\"Patient/123\"},"
      "\"provision\":{\"type\":\"deny\"}}"},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     IG,
     "no_consent",
     0},

    /* ---- several Consents ---- */
    {"latest: older deny, newer permit",
     {R4PROV("c1", "2025-01-01", DENY()), R4PROV("c2", "2026-01-01", PERMIT())},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"latest: older permit, newer deny",
     {R4PROV("c1", "2025-01-01", PERMIT()), R4PROV("c2", "2026-01-01", DENY())},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"latest: same date, they disagree: deny",
     {R4PROV("c1", "2026-01-01", PERMIT()), R4PROV("c2", "2026-01-01", DENY())},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_tie",
     0},
    {"latest: the newest does not apply (expired), the older decides",
     {R4PROV("c1", "2025-01-01", PERMIT()),
      R4PROV("c2", "2026-01-01", DENY(PERIOD("2026-01-01", "2026-02-01")))},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"latest: an undated Consent is older than a dated one",
     {R4("c1", "active", "2026-01-01", ",\"provision\":" PERMIT()),
      "{\"resourceType\":\"Consent\",\"id\":\"c2\",\"status\":\"active\",\"scope\":" SCOPE_PRIVACY
      ",\"patient\":{\"reference\":\"Patient/123\"},\"provision\":{\"type\":\"deny\"}}"},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"deny_overrides: older deny, newer permit",
     {R4PROV("c1", "2025-01-01", DENY()), R4PROV("c2", "2026-01-01", PERMIT())},
     "combine = \"deny_overrides\";",
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"deny_overrides: two permits, one redacts",
     {R4PROV("c1", "2025-01-01", PERMIT()),
      R4PROV("c2", "2026-01-01", PERMIT(NESTED(DENY(CODE(SNOMED_HIV)))))},
     "combine = \"deny_overrides\";",
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     1},
    {"deny_overrides: a deny exception that does not apply",
     {R4PROV("c1", "2025-01-01", PERMIT()),
      R4PROV("c2", "2026-01-01", PERMIT(NESTED(DENY(ACTOR("Organization/org2")))))},
     "combine = \"deny_overrides\";",
     C_A,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"several files: ndjson and Bundle",
     {"ndjson:" R4PROV("c1", "2025-01-01", PERMIT()) "\n" R4PROV("c2", "2024-01-01", DENY()) "\n",
      "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":" R4PROV(
          "c3", "2026-01-01", DENY()) "}]}"},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},

    /* ---- R5 ---- */
    {"R5: decision permit",
     {R5("c5", "active", ",\"decision\":\"permit\"")},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"R5: deny with an exception for org1, app-a",
     {R5("c5", "active",
         ",\"decision\":\"deny\",\"provision\":[{\"actor\":[{\"reference\":{\"reference\":"
         "\"Organization/org1\"}}]}]")},
     NULL,
     C_A,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"R5: deny with an exception for org1, app-b",
     {R5("c5", "active",
         ",\"decision\":\"deny\",\"provision\":[{\"actor\":[{\"reference\":{\"reference\":"
         "\"Organization/org1\"}}]}]")},
     NULL,
     C_B,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"R5: nested levels alternate",
     {R5("c5", "active",
         ",\"decision\":\"deny\",\"provision\":[{\"actor\":[{\"reference\":{\"reference\":"
         "\"Organization/org1\"}}],\"provision\":[{"
         "\"purpose\":[{\"system\":\"http://"
         "terminology.hl7.org/CodeSystem/v3-ActReason\",\"code\":\"HMARKT\"}]}]}]")},
     NULL,
     C_A_MKT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"R5: resourceType Observation under a permit",
     {R5("c5", "active",
         ",\"decision\":\"permit\",\"provision\":[{\"resourceType\":[{\"system\":"
         "\"http://hl7.org/fhir/resource-types\",\"code\":\"Observation\"}]}]")},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"R5: no decision is not computable",
     {R5("c5", "active", "")},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_not_computable",
     0},
    {"R4: no type and no policyRule is not computable",
     {R4PROV("c1", "2026-01-01", "{\"actor\":[]}")},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     NO,
     "consent_not_computable",
     0},
    {"R5: inactive",
     {R5("c5", "inactive", ",\"decision\":\"deny\"")},
     NULL,
     C_PAT,
     "GET",
     OBS_SEARCH,
     NULL,
     NULL,
     0,
     IG,
     "no_consent",
     0},

    /* ---- several patients ---- */
    {"two patients, the second opted out",
     {R4PROV("c1", "2026-01-01", PERMIT()),
      R4P("c2", "active", "2026-01-01", "456", ",\"provision\":{\"type\":\"deny\"}")},
     NULL,
     C_NONE,
     "GET",
     "Observation?patient=123,456",
     NULL,
     NULL,
     0,
     NO,
     "consent_deny",
     0},
    {"two patients, one without a Consent: abstain",
     {R4PROV("c1", "2026-01-01", PERMIT())},
     NULL,
     C_NONE,
     "GET",
     "Observation?patient=123,456",
     NULL,
     NULL,
     0,
     IG,
     "no_consent",
     0},
    {"two patients, both permit",
     {R4PROV("c1", "2026-01-01", PERMIT()),
      R4P("c2", "active", "2026-01-01", "456", ",\"provision\":{\"type\":\"permit\"}")},
     NULL,
     C_NONE,
     "GET",
     "Observation?patient=Patient/123&patient=Patient/456",
     NULL,
     NULL,
     0,
     OK,
     "consent_permit",
     0},
    {"nine patients",
     {R4PROV("c1", "2026-01-01", PERMIT())},
     NULL,
     C_NONE,
     "GET",
     "Observation?patient=1,2,3,4,5,6,7,8,9",
     NULL,
     NULL,
     0,
     NO,
     "too_many_patients",
     0},

    /* ---- issue 27: the elements come from the definitions ---- */
    {.name = "R4 verification is an R4 element (issue 27 row 12)",
     .files = {R4("c1", "active", "2026-01-01",
                  ",\"verification\":[{\"verified\":true,\"verificationDate\":\"2026-01-02\"}]"
                  ",\"provision\":" DENY())},
     .claims = C_PAT,
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "R5 verification with verificationType",
     .files = {R5("c1", "active",
                  ",\"decision\":\"deny\",\"verification\":[{\"verified\":true,"
                  "\"verificationType\":{\"text\":\"signed\"}}]")},
     .claims = C_PAT,
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_deny"},
    /* ---- issue 27 row 1: nested rules are read as the same rules flat ---- */
    {.name = "row 1: permit > permit(actor not in store) > deny HMARKT",
     .files = {R4PROV(
         "c1", "2026-01-01",
         PERMIT(NESTED(PERMIT(ACTOR("Organization/nowhere") NESTED(DENY(PURPOSE("HMARKT")))))))},
     .claims = C_A_MKT,
     .url = "Patient/123/$everything",
     .code = NO,
     .reason = "consent_unresolved"},
    {.name = "row 1 flat: permit > deny(actor not in store, HMARKT)",
     .files = {R4PROV("c1", "2026-01-01",
                      PERMIT(NESTED(DENY(ACTOR("Organization/nowhere") PURPOSE("HMARKT")))))},
     .claims = C_A_MKT,
     .url = "Patient/123/$everything",
     .code = NO,
     .reason = "consent_unresolved"},
    {.name = "row 1: permit > permit(actor not in store) > deny HMARKT, another purpose",
     .files = {R4PROV(
         "c1", "2026-01-01",
         PERMIT(NESTED(PERMIT(ACTOR("Organization/nowhere") NESTED(DENY(PURPOSE("HMARKT")))))))},
     .claims = C_A_TREAT,
     .url = "Patient/123/$everything",
     .code = OK,
     .reason = "consent_permit"},
    {.name = "row 1: deny > deny(doubtful actor) > permit TREAT",
     .files = {R4PROV(
         "c1", "2026-01-01",
         DENY(NESTED(DENY(ACTOR("Organization/nowhere") NESTED(PERMIT(PURPOSE("TREAT")))))))},
     .claims = C_A_TREAT,
     .url = "Patient/123/$everything",
     .code = NO,
     .reason = "consent_unresolved"},
    {.name = "row 1 flat: deny > permit(doubtful actor, TREAT)",
     .files = {R4PROV("c1", "2026-01-01",
                      DENY(NESTED(PERMIT(ACTOR("Organization/nowhere") PURPOSE("TREAT")))))},
     .claims = C_A_TREAT,
     .url = "Patient/123/$everything",
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 1: deny > deny(unregistered client) > permit TREAT",
     .files = {R4PROV(
         "c1", "2026-01-01",
         DENY(NESTED(DENY(ACTOR("Organization/org2") NESTED(PERMIT(PURPOSE("TREAT")))))))},
     .claims = "{\"patient\":\"123\",\"client_id\":\"app-x\",\"purpose_of_use\":\"TREAT\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_unresolved"},
    {.name = "row 1: deny > deny(actor org1, sure) > permit TREAT still lifts",
     .files = {R4PROV(
         "c1", "2026-01-01",
         DENY(NESTED(DENY(ACTOR("Organization/org1") NESTED(PERMIT(PURPOSE("TREAT")))))))},
     .claims = C_A_TREAT,
     .url = OBS_SEARCH,
     .code = OK,
     .reason = "consent_permit"},
    {.name = "row 1: permit > permit class Observation > deny label R (redact)",
     .files = {R4PROV("c1", "2026-01-01",
                      PERMIT(NESTED(PERMIT(CLASS("Observation") NESTED(DENY(LABEL("R")))))))},
     .claims = C_PAT,
     .url = "Patient/123/$everything",
     .code = OK,
     .reason = "consent_permit",
     .obligations = 1},
    {.name = "row 1 flat: permit > deny(class Observation, label R) (redact)",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(CLASS("Observation") LABEL("R")))))},
     .claims = C_PAT,
     .url = "Patient/123/$everything",
     .code = OK,
     .reason = "consent_permit",
     .obligations = 1},
    {.name = "row 1: permit > permit class Observation > deny label R, redact = deny",
     .files = {R4PROV("c1", "2026-01-01",
                      PERMIT(NESTED(PERMIT(CLASS("Observation") NESTED(DENY(LABEL("R")))))))},
     .args = "redact = \"deny\";",
     .claims = C_PAT,
     .url = "Patient/123/$everything",
     .code = NO,
     .reason = "consent_redact_deny"},
    {.name = "row 1: permit > permit class Observation > deny HMARKT (redact Observation)",
     .files = {R4PROV(
         "c1", "2026-01-01",
         PERMIT(NESTED(PERMIT(CLASS("Observation") NESTED(DENY(PURPOSE("HMARKT")))))))},
     .claims = C_A_MKT,
     .url = "Patient/123/$everything",
     .code = OK,
     .reason = "consent_permit",
     .obligations = 1},
    {.name = "row 1: permit > permit class Observation > deny HMARKT, an Observation search",
     .files = {R4PROV(
         "c1", "2026-01-01",
         PERMIT(NESTED(PERMIT(CLASS("Observation") NESTED(DENY(PURPOSE("HMARKT")))))))},
     .claims = C_A_MKT,
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 1: deny > permit class Observation > deny HMARKT: grants nothing unknown",
     .files = {R4PROV("c1", "2026-01-01",
                      DENY(NESTED(PERMIT(CLASS("Observation") NESTED(DENY(PURPOSE("HMARKT")))))))},
     .claims = C_A_TREAT,
     .url = "Patient/123/$everything",
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 1: root permit of one class, nested deny: abstain and redact",
     .files = {R4PROV("c1", "2026-01-01",
                      PERMIT(CLASS("Observation") NESTED(DENY(PURPOSE("HMARKT")))))},
     .claims = C_A_MKT,
     .url = "Patient/123/$everything",
     .code = IG,
     .reason = "consent_redact",
     .obligations = 1},
    {.name = "row 1 R5: permit > deny(actor not in store) > permit TREAT",
     .files = {R5("c1", "active",
                  ",\"decision\":\"permit\",\"provision\":[{\"actor\":[{\"reference\":{"
                  "\"reference\":\"Organization/nowhere\"}}],\"provision\":[{\"purpose\":[{"
                  "\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActReason\",\"code\":"
                  "\"TREAT\"}]}]}]")},
     .claims = C_A_TREAT,
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_unresolved"},
    {.name = "row 1 R5: deny > permit(actor not in store) > deny HMARKT",
     .files = {R5("c1", "active",
                  ",\"decision\":\"deny\",\"provision\":[{\"actor\":[{\"reference\":{"
                  "\"reference\":\"Organization/nowhere\"}}],\"provision\":[{\"purpose\":[{"
                  "\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActReason\",\"code\":"
                  "\"HMARKT\"}]}]}]")},
     .claims = C_A_TREAT,
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 1: a doubt three levels down denies",
     .files = {R4PROV("c1", "2026-01-01",
                      PERMIT(NESTED(PERMIT(PURPOSE("TREAT") NESTED(PERMIT(ACTOR(
                          "Organization/org1") NESTED(DENY(ACTOR("Organization/nowhere")))))))))},
     .claims = C_A_TREAT,
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_unresolved"},

    /* ---- row 2: the action of an operation ---- */
    {.name = "row 2: deny access, POST Patient/123/$everything",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTION("access")))))},
     .claims = C_PAT,
     .method = "POST",
     .url = "Patient/123/$everything",
     .code = NO,
     .reason = "consent_unresolved"},
    {.name = "row 2: deny access, POST Patient/123/$summary",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTION("access")))))},
     .claims = C_PAT,
     .method = "POST",
     .url = "Patient/123/$summary",
     .code = NO,
     .reason = "consent_unresolved"},
    {.name = "row 2: deny access, GET Patient/123/$everything",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTION("access")))))},
     .claims = C_PAT,
     .url = "Patient/123/$everything",
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 2: POST Observation/$lastn, the patient in the Parameters body",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTION("access")))))},
     .claims = C_NONE,
     .method = "POST",
     .url = "Observation/$lastn",
     .body = "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"patient\","
             "\"valueReference\":{\"reference\":\"Patient/123\"}}]}",
     .code = NO,
     .reason = "consent_unresolved"},
    {.name = "row 2: the body's patient, not the token's",
     .files = {R4PROV("c1", "2026-01-01", DENY()),
               R4P("c2", "active", "2026-01-01", "999", ",\"provision\":" PERMIT())},
     .claims = "{\"patient\":\"999\"}",
     .method = "POST",
     .url = "Observation/$lastn",
     .body = "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"subject\","
             "\"valueString\":\"Patient/123/_history/3\"}]}",
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 2: a patient in a part",
     .files = {R4PROV("c1", "2026-01-01", DENY())},
     .claims = C_NONE,
     .method = "POST",
     .url = "$export-ish",
     .body = "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"criteria\",\"part\":[{"
             "\"name\":\"patient\",\"valueId\":\"123\"}]}]}",
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 2: a patient by identifier cannot be read",
     .files = {R4PROV("c1", "2026-01-01", PERMIT())},
     .claims = C_PAT,
     .method = "POST",
     .url = "Patient/$summary",
     .body = "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"patient\","
             "\"valueIdentifier\":{\"system\":\"urn:mrn\",\"value\":\"1\"}}]}",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "row 2: an operation body that is not FHIR JSON",
     .files = {R4PROV("c1", "2026-01-01", PERMIT())},
     .claims = C_PAT,
     .method = "POST",
     .url = "Observation/$lastn",
     .body = "patient=Patient/999",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "row 2: a resource body names its patient",
     .files = {R4PROV("c1", "2026-01-01", DENY())},
     .claims = "{\"patient\":\"999\"}",
     .method = "POST",
     .url = "Observation/$validate",
     .body = OBS_PLAIN,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 2: opt-out permit access does not grant a POST operation",
     .files = {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(ACTION("access")))))},
     .claims = C_PAT,
     .method = "POST",
     .url = "Patient/123/$everything",
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 2: opt-out permit access grants a GET operation",
     .files = {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(ACTION("access")))))},
     .claims = C_PAT,
     .url = "Patient/123/$everything",
     .code = OK,
     .reason = "consent_permit"},

    /* ---- row 3: actors by the stored resource's identifiers ---- */
    {.name = "row 3: actor reference with its own identifier, client by the stored one",
     .files = {R4PROV("c1", "2026-01-01",
                      PERMIT(NESTED(DENY(",\"actor\":[{\"role\":{\"text\":\"r\"},\"reference\":{"
                                         "\"reference\":\"Organization/org1\",\"identifier\":{"
                                         "\"system\":\"http://hl7.org/fhir/sid/us-npi\","
                                         "\"value\":\"999\"}}}]"))))},
     .claims = C_A,
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 3: the reference's own identifier still matches",
     .files = {R4PROV(
         "c1", "2026-01-01",
         PERMIT(NESTED(DENY(",\"actor\":[{\"role\":{\"text\":\"r\"},\"reference\":{"
                            "\"reference\":\"Organization/org2\",\"identifier\":{"
                            "\"system\":\"urn:oid:1.2.3\",\"value\":\"ORG-1\"}}}]"))))},
     .claims = C_A,
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 3: neither identifier is the client's",
     .files = {R4PROV("c1", "2026-01-01",
                      PERMIT(NESTED(DENY(",\"actor\":[{\"role\":{\"text\":\"r\"},\"reference\":{"
                                         "\"reference\":\"Organization/org2\",\"identifier\":{"
                                         "\"system\":\"urn:x\",\"value\":\"1\"}}}]"))))},
     .claims = C_A,
     .url = OBS_SEARCH,
     .code = OK,
     .reason = "consent_permit"},

    /* ---- row 4: fhirUser forms ---- */
    {.name = "row 4: fhirUser absolute and versioned",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTOR("Practitioner/pr1")))))},
     .claims = "{\"patient\":\"123\",\"client_id\":\"app-a\",\"fhirUser\":"
               "\"https://ehr.example.org/fhir/Practitioner/pr1/_history/1\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 4: fhirUser relative and versioned",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTOR("Practitioner/pr1")))))},
     .claims = "{\"patient\":\"123\",\"client_id\":\"app-a\",\"fhirUser\":"
               "\"Practitioner/pr1/_history/2\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 4: fhirUser with a trailing slash",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTOR("Practitioner/pr1")))))},
     .claims = "{\"patient\":\"123\",\"client_id\":\"app-a\",\"fhirUser\":"
               "\"https://ehr.example.org/fhir/Practitioner/pr1/\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 4: fhirUser by the stored Practitioner's identifier",
     .files = {R4PROV("c1", "2026-01-01",
                      PERMIT(NESTED(DENY(ACTOR_ID("http://hl7.org/fhir/sid/us-npi", "111")))))},
     .claims = "{\"patient\":\"123\",\"client_id\":\"app-a\",\"fhirUser\":"
               "\"Practitioner/pr1/_history/9\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 4: a fhirUser that does not read denies",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTOR("Practitioner/pr1")))))},
     .claims = "{\"patient\":\"123\",\"client_id\":\"app-a\",\"fhirUser\":\"pr1\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "bad_fhiruser_claim"},
    {.name = "row 4: fhirUser urn",
     .files = {R4PROV("c1", "2026-01-01", PERMIT())},
     .claims = "{\"patient\":\"123\",\"fhirUser\":\"urn:uuid:7\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "bad_fhiruser_claim"},
    {.name = "row 4: fhirUser not a string",
     .files = {R4PROV("c1", "2026-01-01", PERMIT())},
     .claims = "{\"patient\":\"123\",\"fhirUser\":[\"Practitioner/pr1\"]}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "bad_fhiruser_claim"},
    {.name = "row 4: fhirUser with extra segments",
     .files = {R4PROV("c1", "2026-01-01", PERMIT())},
     .claims = "{\"patient\":\"123\",\"fhirUser\":\"Practitioner/pr1/x\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "bad_fhiruser_claim"},
/* ---- row 5: patient references in every form a server reads ---- */
#define OPTOUT_123_OPTIN_999                                                                       \
    {                                                                                              \
        R4PROV("c1", "2026-01-01", DENY()),                                                        \
            R4P("c2", "active", "2026-01-01", "999", ",\"provision\":" PERMIT())                   \
    }
#define C_999 "{\"patient\":\"999\"}"
    {.name = "row 5: patient=Patient/123/_history/2",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?patient=Patient/123/_history/2",
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 5: subject=Patient/123/",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?subject=Patient/123/",
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 5: Patient?_id=123/_history/1",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Patient?_id=123/_history/1",
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 5: an absolute reference on this server's base",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?patient=https://fhir.example.org/r4/Patient/123",
     .fhir_base = "https://fhir.example.org/r4",
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 5: an absolute reference on this server's base, versioned",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?subject=https://fhir.example.org/r4/Patient/123/_history/7",
     .fhir_base = "https://fhir.example.org/r4/",
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 5: an absolute reference on another base",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?patient=https://elsewhere.example.org/Patient/123",
     .fhir_base = "https://fhir.example.org/r4",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "row 5: an absolute reference and no fhir_base",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?patient=https://fhir.example.org/r4/Patient/123",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "row 5: the patient's own id, plain, still decides",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?patient=999",
     .code = OK,
     .reason = "consent_permit"},
    {.name = "row 5: patient:identifier cannot be read",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?patient:identifier=urn:mrn%7C123",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "row 5: patient:not cannot be read",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?patient:not=Patient/999",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "row 5: a chained patient cannot be read",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?patient.name=smith",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "row 5: Patient?_id:not=999 cannot be read",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Patient?_id:not=999",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "row 5: patient=Group/1 is not a patient value",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?patient=Group/1",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "row 5: subject=Group/1 names no patient: the token's decides",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?subject=Group/1",
     .code = OK,
     .reason = "consent_permit"},
    {.name = "row 5: a contained reference cannot be read",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?subject=%23p1",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "row 5: extra segments cannot be read",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?subject=Patient/123/x",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "row 5: the stored resource's versioned subject",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_NONE,
     .url = "Observation/9",
     .current = "{\"resourceType\":\"Observation\",\"id\":\"9\",\"subject\":{\"reference\":"
                "\"Patient/123/_history/4\"}}",
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 5: the stored resource's unreadable subject",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_NONE,
     .url = "Observation/9",
     .current = "{\"resourceType\":\"Observation\",\"id\":\"9\",\"subject\":{\"reference\":"
                "\"urn:uuid:1\"}}",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "row 5: a patient claim that does not read denies",
     .files = OPTOUT_123_OPTIN_999,
     .claims = "{\"patient\":\"Group/1\"}",
     .url = "Observation?code=1",
     .code = NO,
     .reason = "bad_patient_claim"},
    {.name = "row 5: a patient claim that is not a string denies",
     .files = OPTOUT_123_OPTIN_999,
     .claims = "{\"patient\":123}",
     .url = "Observation?code=1",
     .code = NO,
     .reason = "bad_patient_claim"},
    {.name = "row 5: a versioned patient claim",
     .files = OPTOUT_123_OPTIN_999,
     .claims = "{\"patient\":\"Patient/123/_history/1\"}",
     .url = "Observation?code=1",
     .code = NO,
     .reason = "consent_deny"},

/* ---- row 14: the purpose claim's shapes ---- */
#define OPTIN_NO_MKT                                                                               \
    {                                                                                              \
        R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(PURPOSE("HMARKT")))))                        \
    }
    {.name = "row 14: a space-separated purpose string is a list",
     .files = OPTIN_NO_MKT,
     .claims = "{\"patient\":\"123\",\"purpose_of_use\":\"TREAT HMARKT\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 14: the list form",
     .files = OPTIN_NO_MKT,
     .claims = "{\"patient\":\"123\",\"purpose_of_use\":[\"TREAT\",\"HMARKT\"]}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 14: system|code",
     .files = OPTIN_NO_MKT,
     .claims = "{\"patient\":\"123\",\"purpose_of_use\":"
               "\"http://terminology.hl7.org/CodeSystem/v3-ActReason|HMARKT\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 14: one code, another purpose",
     .files = OPTIN_NO_MKT,
     .claims = "{\"patient\":\"123\",\"purpose_of_use\":\"TREAT\"}",
     .url = OBS_SEARCH,
     .code = OK,
     .reason = "consent_permit"},
    {.name = "row 14: two spaces",
     .files = OPTIN_NO_MKT,
     .claims = "{\"patient\":\"123\",\"purpose_of_use\":\"TREAT  HMARKT\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "bad_purpose_claim"},
    {.name = "row 14: a tab",
     .files = OPTIN_NO_MKT,
     .claims = "{\"patient\":\"123\",\"purpose_of_use\":\"TREAT\\tHMARKT\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "bad_purpose_claim"},
    {.name = "row 14: an OID#code form is refused",
     .files = OPTIN_NO_MKT,
     .claims = "{\"patient\":\"123\",\"purpose_of_use\":\"urn:oid:2.16.840.1.113883.5.8#HMARKT\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "bad_purpose_claim"},
    {.name = "row 14: a list item with a space is refused",
     .files = OPTIN_NO_MKT,
     .claims = "{\"patient\":\"123\",\"purpose_of_use\":[\"TREAT HMARKT\"]}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "bad_purpose_claim"},
    {.name = "row 14: Coding objects are refused",
     .files = OPTIN_NO_MKT,
     .claims = "{\"patient\":\"123\",\"purpose_of_use\":[{\"code\":\"HMARKT\"}]}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "bad_purpose_claim"},
    {.name = "row 14: a system without a code is refused",
     .files = OPTIN_NO_MKT,
     .claims = "{\"patient\":\"123\",\"purpose_of_use\":\"urn:x|\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "bad_purpose_claim"},
    {.name = "row 14: seventeen space-separated codes are refused",
     .files = OPTIN_NO_MKT,
     .claims = "{\"patient\":\"123\",\"purpose_of_use\":\"A B C D E F G H I J K L M N O P Q\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "bad_purpose_claim"},
    {.name = "row 14: an empty list is no purpose: a purpose rule is a doubt",
     .files = OPTIN_NO_MKT,
     .claims = "{\"patient\":\"123\",\"purpose_of_use\":[]}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_unresolved"},

/* ---- rows 7 and 8: what a read returns ---- */
#define OPTIN_NO_MS_OBS                                                                            \
    {                                                                                              \
        R4PROV(                                                                                    \
            "c1", "2026-01-01",                                                                    \
            PERMIT(NESTED(DENY(",\"class\":[{\"system\":\"http://hl7.org/fhir/resource-types\","   \
                               "\"code\":\"MedicationStatement\"},{\"system\":"                    \
                               "\"http://hl7.org/fhir/resource-types\",\"code\":"                  \
                               "\"Observation\"}]"))))                                             \
    }
#define DOC_BUNDLE                                                                                 \
    "{\"resourceType\":\"Bundle\",\"id\":\"doc1\",\"type\":\"document\",\"entry\":[{"              \
    "\"resource\":{\"resourceType\":\"Composition\",\"subject\":{\"reference\":"                   \
    "\"Patient/123\"}}},{\"resource\":{\"resourceType\":\"MedicationStatement\",\"subject\":{"     \
    "\"reference\":\"Patient/123\"}}}]}"
    {.name = "row 7: GET Bundle/doc1 may hold any class: redact",
     .files = OPTIN_NO_MS_OBS,
     .claims = C_PAT,
     .url = "Bundle/doc1",
     .code = OK,
     .reason = "consent_permit",
     .obligations = 1},
    {.name = "row 7: GET List/1 may hold any class: redact",
     .files = OPTIN_NO_MS_OBS,
     .claims = C_PAT,
     .url = "List/1",
     .code = OK,
     .reason = "consent_permit",
     .obligations = 1},
    {.name = "row 7: GET Bundle/doc1, stored, holding a MedicationStatement",
     .files = OPTIN_NO_MS_OBS,
     .claims = C_PAT,
     .url = "Bundle/doc1",
     .current = DOC_BUNDLE,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 7: GET DiagnosticReport/dr1, stored, with a contained Observation",
     .files = OPTIN_NO_MS_OBS,
     .claims = C_PAT,
     .url = "DiagnosticReport/dr1",
     .current = "{\"resourceType\":\"DiagnosticReport\",\"id\":\"dr1\",\"subject\":{"
                "\"reference\":\"Patient/123\"},\"contained\":[{\"resourceType\":\"Observation\","
                "\"id\":\"o\"}]}",
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 7: GET DiagnosticReport/dr1, stored, nothing contained",
     .files = OPTIN_NO_MS_OBS,
     .claims = C_PAT,
     .url = "DiagnosticReport/dr1",
     .current = "{\"resourceType\":\"DiagnosticReport\",\"id\":\"dr1\",\"subject\":{"
                "\"reference\":\"Patient/123\"}}",
     .code = OK,
     .reason = "consent_permit"},
    {.name = "row 7: Parameters hold any class",
     .files = OPTIN_NO_MS_OBS,
     .claims = C_PAT,
     .url = "Parameters/p1",
     .code = OK,
     .reason = "consent_permit",
     .obligations = 1},
    {.name = "row 7: opt-out permit Observation does not grant a stored one with contained",
     .files = {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(CLASS("Observation")))))},
     .claims = C_PAT,
     .url = "Observation/9",
     .current = OBS_WITH(",\"contained\":[{\"resourceType\":\"MedicationStatement\"}]"),
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 7: opt-out permit Observation grants a stored plain one",
     .files = {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(CLASS("Observation")))))},
     .claims = C_PAT,
     .url = "Observation/9",
     .current = OBS_PLAIN,
     .code = OK,
     .reason = "consent_permit"},
    {.name = "row 7: a profile class against the stored resource's profile",
     .files = {R4PROV("c1", "2026-01-01",
                      PERMIT(NESTED(DENY(",\"class\":[{\"system\":\"urn:ietf:rfc:3986\",\"code\":"
                                         "\"http://x/StructureDefinition/hiv\"}]"))))},
     .claims = C_PAT,
     .url = "Observation/9",
     .current = OBS_WITH(",\"contained\":[{\"resourceType\":\"Condition\",\"meta\":{\"profile\":["
                         "\"http://x/StructureDefinition/hiv\"]}}]"),
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 7: a profile class on a search only the response shows",
     .files = {R4PROV("c1", "2026-01-01",
                      PERMIT(NESTED(DENY(",\"class\":[{\"system\":\"urn:ietf:rfc:3986\",\"code\":"
                                         "\"http://x/StructureDefinition/hiv\"}]"))))},
     .claims = C_PAT,
     .url = OBS_SEARCH,
     .code = OK,
     .reason = "consent_permit",
     .obligations = 1},
    {.name = "row 8: a label on a contained resource, stored resource passed",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(LABEL("R")))))},
     .claims = C_PAT,
     .url = "Observation/9",
     .current = OBS_WITH(",\"contained\":[{\"resourceType\":\"Condition\",\"meta\":{\"security\":[{"
                         "\"system\":\"" CONF "\",\"code\":\"R\"}]}}]"),
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 8: a label on a stored Bundle's entry",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(LABEL("R")))))},
     .claims = C_PAT,
     .url = "Bundle/b1",
     .current = "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":{"
                "\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":"
                "{\"resourceType\":\"Observation\",\"meta\":{\"security\":[{\"system\":\"" CONF
                "\",\"code\":\"R\"}]}}}]}}]}",
     .code = NO,
     .reason = "consent_deny"},
    {.name = "row 8: no label anywhere in the stored resource",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(LABEL("R")))))},
     .claims = C_PAT,
     .url = "Observation/9",
     .current = OBS_WITH(",\"contained\":[{\"resourceType\":\"Condition\"}]"),
     .code = OK,
     .reason = "consent_permit"},
    {.name = "row 8: a stored resource on a search is not the response",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(LABEL("R")))))},
     .claims = C_PAT,
     .url = OBS_SEARCH,
     .current = OBS_PLAIN,
     .code = OK,
     .reason = "consent_permit",
     .obligations = 1},
    {.name = "row 8: opt-out permit label N does not grant a resource holding others",
     .files = {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(LABEL("N")))))},
     .claims = C_PAT,
     .url = "Observation/9",
     .current = OBS_WITH(",\"meta\":{\"security\":[{\"system\":\"" CONF "\",\"code\":\"N\"}]},"
                         "\"contained\":[{\"resourceType\":\"Condition\"}]"),
     .code = NO,
     .reason = "consent_deny"},
    {.name = "attack: a reference parameter other than patient/subject names Patient/123",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?performer=Patient/123",
     .code = NO,
     .reason = "consent_deny"},
    {.name = "attack: a :Patient modifier on another reference parameter",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?performer:Patient=123",
     .code = NO,
     .reason = "consent_deny"},
    {.name = "attack: a :Patient modifier with a chain on another reference parameter",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?performer:Patient.name=Smith",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "a token value that reads as no reference names no patient",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?code=http://loinc.org|8867-4&performer=Practitioner/pr1",
     .code = OK,
     .reason = "consent_permit"},
    {.name = "attack: a create whose body is about Patient/123",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .method = "POST",
     .url = "Observation",
     .body = OBS_PLAIN,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "attack: an update whose body is about Patient/123",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .method = "PUT",
     .url = "Observation/9",
     .body = OBS_PLAIN,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "attack: a create whose body is not FHIR JSON",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .method = "POST",
     .url = "Observation",
     .body = "<Observation xmlns=\"http://hl7.org/fhir\"/>",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "a create about the token's own patient",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .method = "POST",
     .url = "Observation",
     .body = "{\"resourceType\":\"Observation\",\"subject\":{\"reference\":\"Patient/999\"}}",
     .code = OK,
     .reason = "consent_permit"},
    {.name = "attack: a read whose stored resource is about Patient/123",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation/9",
     .current = OBS_PLAIN,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "attack: a delete whose stored resource is about Patient/123",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .method = "DELETE",
     .url = "Observation/9",
     .current = OBS_PLAIN,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "attack: GraphQL names its patients in a language the module does not read",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "$graphql?query=%7BPatientList(_id%3A%22123%22)%7Bname%7Btext%7D%7D%7D",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "attack: GraphQL on an instance follows references to other patients",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Patient/999/$graphql?query=%7Blink%7Bother%7Bresource%7Bid%7D%7D%7D%7D",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "attack: a Group export names its patients through the Group",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Group/g1/$export",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "attack: a system export is about every patient",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "$export?_type=Observation",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "attack: Patient/$everything without _id is about every patient",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Patient/$everything",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "Patient/$everything with _id names its patients",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Patient/$everything?_id=999",
     .code = OK,
     .reason = "consent_permit"},
    {.name = "attack: a numeric id with a leading zero (HAPI reads Patient/0123 as pid 123)",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .url = "Observation?patient=Patient/0123",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "attack: a read of Patient/0123",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_NONE,
     .url = "Patient/0123",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "attack: a compartment of Patient/00123",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_NONE,
     .url = "Patient/00123/Observation",
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "Patient/0 is an id like any other",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_NONE,
     .url = "Patient/0",
     .code = IG,
     .reason = "no_consent"},
    {.name = "attack: _elements hides the code a redact obligation looks for",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(CODE(SNOMED_HIV)))))},
     .claims = C_PAT,
     .url = OBS_SEARCH "&_elements=status,effectiveDateTime",
     .code = NO,
     .reason = "consent_redact_deny"},
    {.name = "attack: _elements:exclude hides the code a redact obligation looks for",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(CODE(SNOMED_HIV)))))},
     .claims = C_PAT,
     .url = OBS_SEARCH "&_elements:exclude=code",
     .code = NO,
     .reason = "consent_redact_deny"},
    {.name = "attack: _summary=text keeps only the mandatory elements",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(CODE(SNOMED_HIV)))))},
     .claims = C_PAT,
     .url = "Condition?patient=Patient/123&_summary=text",
     .code = NO,
     .reason = "consent_redact_deny"},
    {.name = "_summary=false and _summary=count keep what the obligation looks for",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(CODE(SNOMED_HIV)))))},
     .claims = C_PAT,
     .url = OBS_SEARCH "&_summary=false&_summary=count",
     .code = OK,
     .reason = "consent_permit",
     .obligations = 1},
    {.name = "_elements without a redaction is decided as before",
     .files = {R4PROV("c1", "2026-01-01", PERMIT())},
     .claims = C_PAT,
     .url = OBS_SEARCH "&_elements=status",
     .code = OK,
     .reason = "consent_permit"},
    {.name = "attack: _contained returns the containers, of other types",
     .files = OPTIN_NO_MS_OBS,
     .claims = C_PAT,
     .url = "Medication?code=http://www.nlm.nih.gov/research/umls/rxnorm|1049221&_contained=true",
     .code = OK,
     .reason = "consent_permit",
     .obligations = 1},
    {.name = "attack: _containedType names what the response holds",
     .files = OPTIN_NO_MS_OBS,
     .claims = C_PAT,
     .url = "Medication?_contained=both&_containedType=container",
     .code = OK,
     .reason = "consent_permit",
     .obligations = 1},
    {.name = "a search of one type without _contained holds that type",
     .files = OPTIN_NO_MS_OBS,
     .claims = C_PAT,
     .url = "Medication?code=x",
     .code = OK,
     .reason = "consent_permit"},
    {.name = "attack: a JSON Patch moves 999's Observation into 123's record",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .method = "PATCH",
     .url = "Observation/9",
     .body = "[{\"op\":\"replace\",\"path\":\"/subject\",\"value\":{\"reference\":"
             "\"Patient/123\"}}]",
     .current = OBS_999,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "attack: a JSON Patch of subject/reference",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .method = "PATCH",
     .url = "Observation/9",
     .body = "[{\"op\":\"add\",\"path\":\"/subject/reference\",\"value\":\"Patient/123\"}]",
     .current = OBS_999,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "attack: a JSON Patch moving a value into subject",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .method = "PATCH",
     .url = "Observation/9",
     .body = "[{\"op\":\"move\",\"from\":\"/focus/0\",\"path\":\"/subject\"}]",
     .current = OBS_999,
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "attack: a FHIRPath Patch of Observation.subject",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .method = "PATCH",
     .url = "Observation/9",
     .body = "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"operation\","
             "\"part\":[{\"name\":\"type\",\"valueCode\":\"replace\"},{\"name\":\"path\","
             "\"valueString\":\"Observation.subject\"},{\"name\":\"value\",\"valueReference\":{"
             "\"reference\":\"Patient/123\"}}]}]}",
     .current = OBS_999,
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "a JSON Patch of subject/display",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .method = "PATCH",
     .url = "Observation/9",
     .body = "[{\"op\":\"replace\",\"path\":\"/subject/display\",\"value\":\"x\"}]",
     .current = OBS_999,
     .code = OK,
     .reason = "consent_permit"},
    {.name = "attack: a JSON Patch of subject/identifier",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .method = "PATCH",
     .url = "Observation/9",
     .body = "[{\"op\":\"add\",\"path\":\"/subject/identifier\",\"value\":{\"value\":\"1\"}}]",
     .current = OBS_999,
     .code = NO,
     .reason = "unreadable_patient"},
    {.name = "a JSON Patch of the status only",
     .files = OPTOUT_123_OPTIN_999,
     .claims = C_999,
     .method = "PATCH",
     .url = "Observation/9",
     .body = "[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"amended\"}]",
     .current = OBS_999,
     .code = OK,
     .reason = "consent_permit"},
    {.name = "attack: a deny for a PractitionerRole, asked by its practitioner through its "
             "organisation's client",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTOR("PractitionerRole/r1"))))),
               ROLE_R1},
     .claims = "{\"patient\":\"123\",\"client_id\":\"app-a\",\"fhirUser\":\"Practitioner/pr1\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_unresolved"},
    {.name = "attack: a deny for a CareTeam, asked by a registered client",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTOR("CareTeam/t1"))))),
               "{\"resourceType\":\"CareTeam\",\"id\":\"t1\",\"participant\":[{\"member\":{"
               "\"reference\":\"Practitioner/pr1\"}}]}"},
     .claims = "{\"patient\":\"123\",\"client_id\":\"app-a\",\"fhirUser\":\"Practitioner/pr1\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_unresolved"},
    {.name = "a permit for a PractitionerRole grants nothing it cannot place",
     .files = {R4PROV("c1", "2026-01-01", DENY(NESTED(PERMIT(ACTOR("PractitionerRole/r1"))))),
               ROLE_R1},
     .claims = "{\"patient\":\"123\",\"client_id\":\"app-a\",\"fhirUser\":\"Practitioner/pr1\"}",
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_deny"},
    {.name = "a deny for an Organization the registry places is decided",
     .files = {R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(ACTOR("Organization/org2")))))},
     .claims = "{\"patient\":\"123\",\"client_id\":\"app-a\",\"fhirUser\":\"Practitioner/pr1\"}",
     .url = OBS_SEARCH,
     .code = OK,
     .reason = "consent_permit"},
    {.name = "a primitive's extension (_status) is read",
     .files = {R4("c1", "active", "2026-01-01",
                  ",\"_status\":{\"extension\":[{\"url\":\"urn:x\",\"valueString\":\"y\"}]}"
                  ",\"provision\":" DENY())},
     .claims = C_PAT,
     .url = OBS_SEARCH,
     .code = NO,
     .reason = "consent_deny"},
};
#pragma GCC diagnostic pop

/* ---- running a row ---- */

static const char *registry_path(void)
{
    static char path[1024];
    if (path[0] == '\0')
        snprintf(path, sizeof path, "%s", tu_write("registry.json", registry));
    return path;
}

static void write_file(const char *path, const char *text)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(chmod(tmp, 0600), 0);
    /* Rename over: the store never sees half a file. */
    ck_assert_int_eq(rename(tmp, path), 0);
}

/* A fresh store directory named name under the test's tmpdir. */
static const char *store_dir(const char *name)
{
    static char dir[8][1024];
    static int next;
    char *d = dir[next++ % 8];
    snprintf(d, 1024, "%s/%s", tu_tmpdir(), name);
    mkdir(d, 0700);
    char path[1100];
    snprintf(path, sizeof path, "%s/actors.json", d);
    write_file(path, actors);
    return d;
}

static modtest *open_store(const char *dir, const char *extra, fhirpam_error *err)
{
    char args[2048];
    snprintf(args, sizeof args,
             "{ store = \"%s\"; client_registry = \"%s\"; check_interval_ms = 10; %s }", dir,
             registry_path(), extra ? extra : "");
    return modtest_open("consent", args, err);
}

START_TEST(table)
{
    const row *r = &rows[_i];
    char name[32];
    snprintf(name, sizeof name, "row%d", _i);
    const char *dir = store_dir(name);
    for (int i = 0; i < 4 && r->files[i] != NULL; i++) {
        char path[1100];
        bool nd = strncmp(r->files[i], "ndjson:", 7) == 0;
        snprintf(path, sizeof path, "%s/consent%d.%s", dir, i, nd ? "ndjson" : "json");
        write_file(path, nd ? r->files[i] + 7 : r->files[i]);
    }
    fhirpam_error err = {{0}};
    modtest *m = open_store(dir, r->args, &err);
    ck_assert_msg(m != NULL, "row %d (%s): %s", _i, r->name, err.text);
    modtest_request req = {.method = r->method,
                           .url = r->url,
                           .body = r->body,
                           .current = r->current,
                           .claims = r->claims,
                           .now = r->now ? r->now : NOW,
                           .fhir_base = r->fhir_base};
    modtest_result res = modtest_run(m, &req);
    ck_assert_msg(res.code == r->code, "row %d (%s): got %s (%s: %s)", _i, r->name,
                  fhirpam_code_name(res.code), res.reason, res.reason_text);
    ck_assert_msg(strcmp(res.reason, r->reason) == 0, "row %d (%s): reason %s (%s)", _i, r->name,
                  res.reason, res.reason_text);
    ck_assert_msg(res.obligations == r->obligations, "row %d (%s): %zu obligations", _i, r->name,
                  res.obligations);
    modtest_close(m);
}
END_TEST

/* A deny names the Consent and the provision. */
START_TEST(reason_names_consent_and_provision)
{
    const char *dir = store_dir("reason");
    char path[1100];
    snprintf(path, sizeof path, "%s/c.json", dir);
    write_file(path, R4PROV("opt-1", "2026-01-01",
                            PERMIT(NESTED(DENY(PURPOSE("HRESCH")) "," DENY(
                                ACTOR("Organization/org2") NESTED(PERMIT(PURPOSE("TREAT"))))))));
    fhirpam_error err = {{0}};
    modtest *m = open_store(dir, NULL, &err);
    ck_assert_msg(m != NULL, "%s", err.text);
    modtest_request req = {.url = OBS_SEARCH, .claims = C_B_MKT, .now = NOW};
    modtest_result res = modtest_run(m, &req);
    ck_assert_int_eq(res.code, NO);
    ck_assert_msg(strstr(res.reason_text, "Consent/opt-1 provision.provision[1] ") != NULL &&
                      strstr(res.reason_text, "Patient/123") != NULL,
                  "%s", res.reason_text);
    modtest_close(m);
}
END_TEST

/* ---- redact obligations end to end ---- */

static EVP_PKEY *key;
static char bearer[2048];

static fhirpam_context *redact_context(const char *dir, const char *extra_args)
{
    json_t *set = json_pack("{s:[o]}", "keys", mint_public_jwk(key, "k1", "ES256"));
    char *jwks = json_dumps(set, 0);
    const char *jwks_path = tu_write("jwks.json", jwks);
    char conf[4096];
    snprintf(conf, sizeof conf,
             "token: { issuer = \"https://ehr\"; audience = \"https://fhir\"; jwks = \"%s\"; "
             "algorithms = [\"ES256\"]; };\naudit: { sink = \"none\"; };\n"
             "stacks: { s = ( { control = \"required\"; module = \"consent\"; args = { store = "
             "\"%s\"; %s }; } ); };",
             jwks_path, dir, extra_args ? extra_args : "");
    free(jwks);
    json_decref(set);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(conf, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    return ctx;
}

static void make_bearer(void)
{
    if (key == NULL)
        key = mint_keygen("ES256", 0);
    char *token = mint_token(key, "ES256", "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
                             "{\"iss\":\"https://ehr\",\"aud\":\"https://fhir\",\"exp\":"
                             "1781528400,\"patient\":\"123\",\"scope\":\"patient/*.rs\"}");
    snprintf(bearer, sizeof bearer, "Bearer %s", token);
    free(token);
}

static fhirpam_decision *get(fhirpam_context *ctx, const char *url)
{
    fhirpam_request *req = fhirpam_request_new("GET", url);
    fhirpam_request_add_header(req, "Authorization", bearer);
    fhirpam_request_set_time(req, NOW);
    fhirpam_decision *d = fhirpam_authorize(ctx, "s", req);
    fhirpam_request_free(req);
    ck_assert_ptr_nonnull(d);
    return d;
}

#define ENTRY(r) "{\"resource\":" r "}"

/* A transaction: each entry's body names the patient it is written for. */
static fhirpam_decision *post_bundle(fhirpam_context *ctx, const char *body)
{
    fhirpam_request *req = fhirpam_request_new("POST", "");
    fhirpam_request_add_header(req, "Authorization", bearer);
    fhirpam_request_set_body(req, body, strlen(body));
    fhirpam_request_set_time(req, NOW);
    fhirpam_decision *d = fhirpam_authorize(ctx, "s", req);
    fhirpam_request_free(req);
    ck_assert_ptr_nonnull(d);
    return d;
}

#define TRANSACTION(entries)                                                                       \
    "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[" entries "]}"
#define POST_OBS_FOR(subject)                                                                      \
    "{\"request\":{\"method\":\"POST\",\"url\":\"Observation\"},\"resource\":{"                    \
    "\"resourceType\":\"Observation\",\"subject\":{\"reference\":\"" subject "\"}}}"
/* urn:uuid:p names whatever the conditional update resolves to: an existing Patient. */
#define PUT_PATIENT_BY_MRN                                                                         \
    "{\"fullUrl\":\"urn:uuid:0c3d1e6a-3f5b-4d3e-9a51-6a1f9c2b7d10\",\"request\":{\"method\":"      \
    "\"PUT\",\"url\":\"Patient?identifier=urn:mrn|456\"},\"resource\":{\"resourceType\":"          \
    "\"Patient\"}}"

START_TEST(bundle_entry_bodies_name_patients)
{
    make_bearer(); /* patient 123, who opted in; 456 opted out */
    const char *dir = store_dir("bundle_bodies");
    char path[1100];
    snprintf(path, sizeof path, "%s/c.json", dir);
    write_file(path, R4PROV("c1", "2026-01-01", PERMIT()));
    snprintf(path, sizeof path, "%s/d.json", dir);
    write_file(path, R4P("c2", "active", "2026-01-01", "456", ",\"provision\":" DENY()));
    fhirpam_context *ctx = redact_context(dir, NULL);
    fhirpam_decision *d = post_bundle(ctx, TRANSACTION(POST_OBS_FOR("Patient/123")));
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    fhirpam_decision_free(d);
    d = post_bundle(ctx, TRANSACTION(POST_OBS_FOR("Patient/123") "," POST_OBS_FOR("Patient/456")));
    ck_assert_msg(!fhirpam_decision_permitted(d), "a write into 456's record");
    ck_assert_str_eq(fhirpam_decision_reason(d), "consent_deny");
    ck_assert_msg(strncmp(fhirpam_decision_reason_text(d), "bundle entry 1: ", 16) == 0, "%s",
                  fhirpam_decision_reason_text(d));
    fhirpam_decision_free(d);
    d = post_bundle(ctx, TRANSACTION(PUT_PATIENT_BY_MRN "," POST_OBS_FOR(
                             "urn:uuid:0c3d1e6a-3f5b-4d3e-9a51-6a1f9c2b7d10")));
    ck_assert_msg(!fhirpam_decision_permitted(d), "a write through urn:uuid");
    ck_assert_str_eq(fhirpam_decision_reason(d), "unreadable_patient");
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
}
END_TEST

START_TEST(redact_obligation_checked)
{
    make_bearer();
    const char *dir = store_dir("redact");
    char path[1100];
    snprintf(path, sizeof path, "%s/c.json", dir);
    /* Opt-in, except HIV-coded and restricted (R) resources, and a code
     * whose text needs encoding. */
    write_file(path, R4PROV("c1", "2026-01-01",
                            PERMIT(NESTED(DENY(CODE(SNOMED_HIV)) "," DENY(LABEL("R")) "," DENY(
                                ",\"code\":[{\"coding\":[{\"system\":\"urn:x\","
                                "\"code\":\"a b|c%\"}]}]")))));
    fhirpam_context *ctx = redact_context(dir, NULL);
    fhirpam_decision *d = get(ctx, OBS_SEARCH);
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    char *json = fhirpam_decision_json(d);
    ck_assert_msg(strstr(json, "{\"type\":\"redact\",\"codes\":\"http://snomed.info/sct|" SNOMED_HIV
                               " " CONF "|R urn:x|a%20b%7Cc%25\"}") != NULL,
                  "%s", json);
    free(json);
    size_t *remove, nremove;
    static const struct {
        const char *body;
        int rc;
    } singles[] = {
        {OBS_PLAIN, 1},
        {OBS_HIV, 0},
        {OBS_LABEL("R"), 0},
        {OBS_LABEL("N"), 1},
        {OBS_WITH(",\"contained\":[{\"resourceType\":\"Condition\",\"code\":{\"coding\":[{"
                  "\"system\":\"http://snomed.info/sct\",\"code\":\"" SNOMED_HIV "\"}]}}]"),
         0},
        {OBS_WITH(",\"code\":{\"coding\":[{\"system\":\"urn:x\",\"code\":\"a b|c%\"}]}"), 0},
        {OBS_WITH(",\"code\":{\"coding\":[{\"system\":\"urn:x\",\"code\":\"a b\"}]}"), 1},
        {OBS_WITH(",\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct/\",\"code\":"
                  "\"" SNOMED_HIV "\"}]}"),
         1}, /* another system, byte for byte */
        {"[1]", -1},
    };
    for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++) {
        int rc =
            fhirpam_check_response(d, singles[i].body, strlen(singles[i].body), &remove, &nremove);
        ck_assert_msg(rc == singles[i].rc, "resource %zu: %d", i, rc);
        ck_assert_uint_eq(nremove, 0);
        free(remove);
    }
    const char *bundle = "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"entry\":[" ENTRY(
        OBS_PLAIN) "," ENTRY(OBS_HIV) "," ENTRY(OBS_LABEL("R")) "," ENTRY(OBS_LABEL("L")) ",{"
                                                                                          "\"resour"
                                                                                          "ce\":{"
                                                                                          "\"resour"
                                                                                          "ceType\""
                                                                                          ":\"Opera"
                                                                                          "tionOutc"
                                                                                          "ome\"}}]"
                                                                                          "}";
    ck_assert_int_eq(fhirpam_check_response(d, bundle, strlen(bundle), &remove, &nremove), 1);
    ck_assert_uint_eq(nremove, 2);
    ck_assert_uint_eq(remove[0], 1);
    ck_assert_uint_eq(remove[1], 2);
    free(remove);
    fhirpam_decision_free(d);

    /* A read whose stored resource the host passed: decided then and there,
     * no obligation. */
    fhirpam_request *req = fhirpam_request_new("GET", "Observation/9");
    fhirpam_request_add_header(req, "Authorization", bearer);
    fhirpam_request_set_time(req, NOW);
    fhirpam_request_set_current(req, OBS_PLAIN, strlen(OBS_PLAIN));
    d = fhirpam_authorize(ctx, "s", req);
    ck_assert(fhirpam_decision_permitted(d));
    ck_assert_int_eq(fhirpam_check_response(d, OBS_HIV, strlen(OBS_HIV), &remove, &nremove), 1);
    fhirpam_decision_free(d);
    fhirpam_request_set_current(req, OBS_HIV, strlen(OBS_HIV));
    d = fhirpam_authorize(ctx, "s", req);
    ck_assert(!fhirpam_decision_permitted(d));
    ck_assert_int_eq(fhirpam_decision_code(d), NO);
    ck_assert_int_eq(fhirpam_decision_http_status(d), 403);
    fhirpam_decision_free(d);
    fhirpam_request_free(req);
    fhirpam_close(ctx);
}
END_TEST

/* A class restriction: the response of Patient/123/ * loses the class. */
START_TEST(redact_class_in_bundle)
{
    make_bearer();
    const char *dir = store_dir("redact-class");
    char path[1100];
    snprintf(path, sizeof path, "%s/c.json", dir);
    write_file(path, R4PROV("c1", "2026-01-01", PERMIT(NESTED(DENY(CLASS("Observation"))))));
    fhirpam_context *ctx = redact_context(dir, NULL);
    fhirpam_decision *d = get(ctx, "Patient/123/*");
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    const char *bundle = "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"entry\":[" ENTRY(
        OBS_PLAIN) ",{\"resource\":{\"resourceType\":\"Condition\",\"subject\":{\"reference\":"
                   "\"Patient/123\"}}}," ENTRY(OBS_HIV) "]}";
    size_t *remove, nremove;
    ck_assert_int_eq(fhirpam_check_response(d, bundle, strlen(bundle), &remove, &nremove), 1);
    ck_assert_uint_eq(nremove, 2);
    ck_assert_uint_eq(remove[0], 0);
    ck_assert_uint_eq(remove[1], 2);
    free(remove);
    fhirpam_decision_free(d);
    /* The same request with redact = "deny". */
    fhirpam_close(ctx);
    ctx = redact_context(dir, "redact = \"deny\";");
    d = get(ctx, "Patient/123/*");
    ck_assert(!fhirpam_decision_permitted(d));
    ck_assert_str_eq(fhirpam_decision_reason(d), "consent_redact_deny");
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
}
END_TEST

/* Issue 27 row 6: a redaction reaches every resource a response holds: a
 * nested Bundle, a List's contained, a Parameters resource, and a Bundle's
 * own labels. */
START_TEST(redact_nested)
{
    make_bearer();
    const char *dir = store_dir("redact-nested");
    char path[1100];
    snprintf(path, sizeof path, "%s/c.json", dir);
    write_file(path, R4PROV("c1", "2026-01-01",
                            PERMIT(NESTED(DENY(CLASS("MedicationStatement")) "," DENY(LABEL(
                                "R")) "," DENY(",\"class\":[{\"system\":\"urn:ietf:rfc:3986\","
                                               "\"code\":\"http://x/hiv\"}]")))));
    fhirpam_context *ctx = redact_context(dir, NULL);
    fhirpam_decision *d = get(ctx, "Patient/123/*");
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    ck_assert_uint_eq(fhirpam_decision_obligation_count(d), 1);
#define MS         "{\"resourceType\":\"MedicationStatement\",\"subject\":{\"reference\":\"Patient/123\"}}"
#define PROFILED   "{\"resourceType\":\"Condition\",\"meta\":{\"profile\":[\"http://x/hiv\"]}}"
#define LABELLED_R ",\"meta\":{\"security\":[{\"system\":\"" CONF "\",\"code\":\"R\"}]}"
    static const char *const entries[] = {
        OBS_PLAIN,
        "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[" ENTRY(MS) "]}",
        "{\"resourceType\":\"List\",\"contained\":[" MS "]}",
        "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"r\",\"resource\":" MS "}]}",
        "{\"resourceType\":\"Bundle\",\"type\":\"document\"" LABELLED_R "}",
        "{\"resourceType\":\"List\",\"contained\":[" PROFILED "]}",
        "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"x\",\"valueCoding\":{"
        "\"system\":\"" CONF "\",\"code\":\"R\"}}]}",
        "{\"resourceType\":\"List\",\"contained\":[" OBS_PLAIN "]}",
    };
    char bundle[4096] = "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"entry\":[";
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        strcat(bundle, i ? ",{\"resource\":" : "{\"resource\":");
        strcat(bundle, entries[i]);
        strcat(bundle, "}");
    }
    strcat(bundle, "]}");
    size_t *remove, nremove;
    ck_assert_int_eq(fhirpam_check_response(d, bundle, strlen(bundle), &remove, &nremove), 1);
    /* All but the plain Observation and the List holding only one. */
    ck_assert_uint_eq(nremove, 6);
    for (size_t i = 0; i < 6; i++)
        ck_assert_uint_eq(remove[i], i + 1);
    free(remove);
    /* A Bundle labelled R at the top is not sent; a searchset is not
     * a class of its own, a document Bundle is data of class Bundle. */
    static const struct {
        const char *body;
        int rc;
    } tops[] = {
        {"{\"resourceType\":\"Bundle\",\"type\":\"document\",\"meta\":{\"security\":[{\"system\":"
         "\"" CONF "\",\"code\":\"R\"}]},\"entry\":[" ENTRY(OBS_PLAIN) "]}",
         0},
        {"{\"resourceType\":\"List\",\"contained\":[" MS "]}", 0},
        {"{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"p\",\"part\":[{\"name\":"
         "\"q\","
         "\"resource\":" MS "}]}]}",
         0},
        {"{\"resourceType\":\"List\",\"contained\":[" OBS_PLAIN "]}", 1},
    };
    for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
        int rc = fhirpam_check_response(d, tops[i].body, strlen(tops[i].body), &remove, &nremove);
        ck_assert_msg(rc == tops[i].rc, "body %zu: %d", i, rc);
        free(remove);
    }
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
}
END_TEST

/* A Consent that only denies some data abstains with an obligation: when
 * the rest of the stack permits, the obligation is in the decision. */
START_TEST(abstain_keeps_obligation)
{
    const char *dir = store_dir("abstain");
    char path[1100], conf[2048];
    snprintf(path, sizeof path, "%s/c.json", dir);
    write_file(path, R4PROV("c1", "2026-01-01", DENY(LABEL("R"))));
    snprintf(conf, sizeof conf,
             "stacks: { s = { token = \"none\"; lines = (\n"
             "{ control = \"[success=ok ignore=ignore default=bad]\"; module = \"consent\"; "
             "args = { store = \"%s\"; }; },\n"
             "{ control = \"required\"; module = \"debug\"; } ); }; };\n",
             dir);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(conf, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Patient/123/Observation");
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    size_t *remove, nremove;
    ck_assert_int_eq(
        fhirpam_check_response(d, OBS_LABEL("R"), strlen(OBS_LABEL("R")), &remove, &nremove), 0);
    ck_assert_int_eq(
        fhirpam_check_response(d, OBS_LABEL("N"), strlen(OBS_LABEL("N")), &remove, &nremove), 1);
    fhirpam_decision_free(d);
    /* The labelled resource itself, passed by the host: a plain deny. */
    static const char patient_r[] = "{\"resourceType\":\"Patient\",\"id\":\"123\",\"meta\":{"
                                    "\"security\":[{\"system\":\"" CONF "\",\"code\":\"R\"}]}}";
    fhirpam_request *req = fhirpam_request_new("GET", "Patient/123");
    fhirpam_request_set_current(req, patient_r, strlen(patient_r));
    d = fhirpam_authorize(ctx, "s", req);
    ck_assert(!fhirpam_decision_permitted(d));
    ck_assert_str_eq(fhirpam_decision_module(d), "consent");
    ck_assert_str_eq(fhirpam_decision_reason(d), "consent_deny");
    fhirpam_decision_free(d);
    fhirpam_request_free(req);
    fhirpam_close(ctx);
}
END_TEST

/* fhirpam_add_obligation refuses a redact it could not check. */
START_TEST(redact_params_checked)
{
    static const struct {
        const char *params;
        int rc;
    } cases[] = {
        {"{\"codes\":\"http://snomed.info/sct|1 |2\"}", 0},
        {"{\"codes\":\"urn:x|a%20b\"}", 0},
        {"{\"codes\":\"\"}", -1},
        {"{\"codes\":\"no-bar\"}", -1},
        {"{\"codes\":\"sys|\"}", -1},
        {"{\"codes\":\"a|b  c|d\"}", -1},
        {"{\"codes\":\"a|b|c\"}", -1},
        {"{\"codes\":\"a|b%2\"}", -1},
        {"{\"codes\":\"a|b%zz\"}", -1},
        {"{\"codes\":\"a|b%00c\"}", -1},
        {"{\"codes\":[\"a|b\"]}", -1},
        {"{\"codes\":\"a|b\",\"x\":1}", -1},
        {"not json", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fhirpam_authz az = {0};
        int rc = fhirpam_add_obligation(&az, "redact", cases[i].params);
        ck_assert_msg(rc == cases[i].rc, "case %zu (%s): %d", i, cases[i].params, rc);
        ck_assert_uint_eq(json_array_size(az.obligations), rc == 0 ? 1 : 0);
        json_decref(az.obligations);
    }
}
END_TEST

/* ---- a store that does not load ---- */

static void expect_open_error(const char *name, const char *file, const char *text,
                              const char *needle)
{
    const char *dir = store_dir(name);
    char path[1100];
    snprintf(path, sizeof path, "%s/good.json", dir);
    write_file(path, R4PROV("c1", "2026-01-01", PERMIT()));
    snprintf(path, sizeof path, "%s/%s", dir, file);
    write_file(path, text);
    fhirpam_error err = {{0}};
    modtest *m = open_store(dir, NULL, &err);
    ck_assert_msg(m == NULL, "%s loaded", name);
    ck_assert_msg(strstr(err.text, path) != NULL, "%s: %s", name, err.text);
    ck_assert_msg(strstr(err.text, needle) != NULL, "%s: %s", name, err.text);
}

START_TEST(malformed_store_refused)
{
    expect_open_error("bad-json", "bad.json", "{\"resourceType\":\"Consent\",", "bad.json:");
    expect_open_error("bad-ndjson", "bad.ndjson", R4PROV("c2", "2026-01-01", PERMIT()) "\n{oops}\n",
                      "line 2");
    expect_open_error("no-status", "bad.json",
                      "{\"resourceType\":\"Consent\",\"id\":\"c9\",\"patient\":{\"reference\":"
                      "\"Patient/1\"}}",
                      "Consent/c9: status");
    expect_open_error("mixed", "bad.json",
                      "{\"resourceType\":\"Consent\",\"id\":\"c9\",\"status\":\"active\","
                      "\"patient\":{\"reference\":\"Patient/1\"},\"decision\":\"deny\"}",
                      "mixes R4");
    expect_open_error("no-patient", "bad.json",
                      "{\"resourceType\":\"Consent\",\"id\":\"c9\",\"status\":\"active\","
                      "\"provision\":{\"type\":\"deny\"}}",
                      "Patient/<id>");
    expect_open_error("bad-type", "bad.json", R4PROV("c9", "2026-01-01", "{\"type\":\"maybe\"}"),
                      "permit");
    expect_open_error("bad-date", "bad.json",
                      R4PROV("c9", "2026-01-01", DENY(PERIOD("2026-02-30", "2027"))),
                      "period.start");
    expect_open_error("time-no-zone", "bad.json",
                      R4PROV("c9", "2026-01-01", DENY(PERIOD("2026-01-01T10:00:00", "2027"))),
                      "period.start");
    expect_open_error("duplicate", "dup.json", R4PROV("c1", "2025-01-01", DENY()), "good.json");
    expect_open_error(
        "bad-actor", "bad.json",
        R4PROV("c9", "2026-01-01", PERMIT(NESTED(DENY(ACTOR("https://x/Organization/1"))))),
        "actor[0].reference");
    expect_open_error(
        "text-only-code", "bad.json",
        R4PROV("c9", "2026-01-01", PERMIT(NESTED(DENY(",\"code\":[{\"text\":\"HIV\"}]")))),
        "code[0] has no coding");
    expect_open_error(
        "modifier", "bad.json",
        R4PROV("c9", "2026-01-01", "{\"type\":\"permit\",\"modifierExtension\":[{\"url\":\"x\"}]}"),
        "modifierExtension");
    expect_open_error("not-a-resource", "bad.json", "[1,2]", "resourceType");
    /* issue 27 row 13: modifierExtension anywhere, and every other modifier
     * the module does not read. */
    expect_open_error("modifier-actor", "bad.json",
                      R4PROV("c9", "2026-01-01",
                             PERMIT(NESTED(DENY(",\"actor\":[{\"modifierExtension\":[{\"url\":"
                                                "\"x\"}],\"role\":{\"text\":\"r\"},"
                                                "\"reference\":{\"reference\":"
                                                "\"Organization/org1\"}}]")))),
                      "modifierExtension");
    expect_open_error(
        "modifier-data", "bad.json",
        R4PROV("c9", "2026-01-01",
               PERMIT(NESTED(DENY(",\"data\":[{\"meaning\":\"instance\","
                                  "\"reference\":{\"reference\":\"Observation/"
                                  "1\"},\"modifierExtension\":[{\"url\":\"x\"}]}]")))),
        "modifierExtension");
    expect_open_error("modifier-policy", "bad.json",
                      R4("c9", "active", "2026-01-01",
                         ",\"policy\":[{\"uri\":\"urn:p\",\"modifierExtension\":[{\"url\":"
                         "\"x\"}]}],\"provision\":" DENY()),
                      "modifierExtension");
    expect_open_error("modifier-contained", "bad.json",
                      R4("c9", "active", "2026-01-01",
                         ",\"contained\":[{\"resourceType\":\"Organization\",\"id\":\"o\","
                         "\"modifierExtension\":[{\"url\":\"x\"}]}],\"provision\":" DENY()),
                      "modifierExtension");
    expect_open_error("modifier-datatype", "bad.json",
                      R4("c9", "active", "2026-01-01",
                         ",\"_dateTime\":{\"modifierExtension\":[{\"url\":\"x\"}]},"
                         "\"provision\":" DENY()),
                      "modifierExtension");
    expect_open_error(
        "implicit-rules", "bad.json",
        R4("c9", "active", "2026-01-01", ",\"implicitRules\":\"urn:rules\",\"provision\":" DENY()),
        "implicitRules: a modifier element fhirpam does not understand");
    expect_open_error("unknown-element", "bad.json",
                      R4("c9", "active", "2026-01-01", ",\"grantee\":[],\"provision\":" DENY()),
                      "mixes R4");
    expect_open_error("unknown-r4-element", "bad.json",
                      R4("c9", "active", "2026-01-01", ",\"provision\":" DENY(",\"when\":1")),
                      "provision.when: not an element of an R4 Consent");
    expect_open_error(
        "actor-not-array", "bad.json",
        R4("c9", "active", "2026-01-01", ",\"provision\":" DENY(",\"actor\":{\"reference\":{}}")),
        "provision.actor: repeats, so it must be an array");
    expect_open_error("r5-class", "bad.json",
                      R5("c9", "active", ",\"decision\":\"deny\",\"provision\":[{\"class\":[]}]"),
                      "provision.class: not an element of an R5 Consent");
    /* Deeper than 16 levels. */
    char deep[4096] = "";
    for (int i = 0; i < 18; i++)
        strcat(deep, "{\"type\":\"deny\",\"provision\":[");
    strcat(deep, "{\"type\":\"deny\"}");
    for (int i = 0; i < 18; i++)
        strcat(deep, "]}");
    char consent[5000];
    snprintf(consent, sizeof consent, R4("c9", "active", "2026-01-01", ",\"provision\":%s"), deep);
    expect_open_error("deep", "bad.json", consent, "deeper than 16");
}
END_TEST

/* Who can write the store decides who sees a patient's data. */
START_TEST(store_permissions_checked)
{
    const char *dir = store_dir("perm-file");
    char path[1100];
    snprintf(path, sizeof path, "%s/c.json", dir);
    write_file(path, R4PROV("c1", "2026-01-01", PERMIT()));
    ck_assert_int_eq(chmod(path, 0664), 0);
    fhirpam_error err = {{0}};
    ck_assert_ptr_null(open_store(dir, NULL, &err));
    ck_assert_msg(strstr(err.text, path) != NULL && strstr(err.text, "group- or world-writable"),
                  "%s", err.text);
    ck_assert_int_eq(chmod(path, 0600), 0);
    modtest *m = open_store(dir, NULL, &err);
    ck_assert_msg(m != NULL, "%s", err.text);
    modtest_close(m);
    ck_assert_int_eq(chmod(dir, 0777), 0);
    ck_assert_ptr_null(open_store(dir, NULL, &err));
    ck_assert_msg(strstr(err.text, "store directory") != NULL, "%s", err.text);
    ck_assert_int_eq(chmod(dir, 0700), 0);
}
END_TEST

/* Through a configuration: the file and line of the stack line, then the
 * store file at fault; and a good store loads. */
START_TEST(config_refused_naming_file)
{
    const char *dir = store_dir("config");
    char path[1100], conf[2048];
    snprintf(path, sizeof path, "%s/broken.json", dir);
    write_file(path, "{\"resourceType\":\"Consent\",\"id\":");
    snprintf(conf, sizeof conf,
             "stacks: { s = { token = \"none\"; lines = (\n"
             "{ control = \"required\"; module = \"consent\"; args = { store = \"%s\"; }; } ); "
             "}; };\n",
             dir);
    tu_expect_load_error(conf, 2, path);
    unlink(path);
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(conf, &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    /* No token, no patient: the module abstains, and nothing permits. */
    fhirpam_decision *d = tu_authorize(ctx, "s", "GET", "Observation?code=1");
    ck_assert(!fhirpam_decision_permitted(d));
    fhirpam_code code = FHIRPAM_ERROR;
    ck_assert_int_eq(fhirpam_decision_trace_entry(d, 0, NULL, NULL, NULL, NULL, &code, NULL, NULL),
                     0);
    ck_assert_int_eq(code, FHIRPAM_IGNORE);
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
}
END_TEST

START_TEST(bad_arguments)
{
    const char *dir = store_dir("args");
    fhirpam_error err = {{0}};
    ck_assert_ptr_null(open_store(dir, "combine = \"newest\";", &err));
    ck_assert_ptr_null(open_store(dir, "redact = \"maybe\";", &err));
    ck_assert_ptr_null(open_store(dir, "category = [ \"patient-privacy\" ];", &err));
    ck_assert_ptr_null(open_store(dir, "check_interval_ms = 1;", &err));
    ck_assert_ptr_null(open_store(dir, "max_stale = -1;", &err));
    ck_assert_ptr_null(open_store(dir, "unknown = 1;", &err));
    ck_assert_ptr_null(modtest_open("consent", "{ store = \"relative/dir\"; }", &err));
    ck_assert_ptr_null(modtest_open("consent", "{ }", &err));
    ck_assert_ptr_null(
        modtest_open("consent", "{ store = \"/nonexistent/fhirpam/consent\"; }", &err));
    ck_assert_msg(strstr(err.text, "/nonexistent/fhirpam/consent") != NULL, "%s", err.text);
    /* A client registry that does not parse is named too. */
    const char *reg = tu_write("bad-registry.json", "{\"app\":[\"no-bar\"]}");
    char args[2048];
    snprintf(args, sizeof args, "{ store = \"%s\"; client_registry = \"%s\"; }", dir, reg);
    ck_assert_ptr_null(modtest_open("consent", args, &err));
    ck_assert_msg(strstr(err.text, "bad-registry.json") != NULL, "%s", err.text);
}
END_TEST

/* ---- reloads ---- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static fhirpam_code run_code(modtest *m, const char *claims)
{
    modtest_request req = {.url = OBS_SEARCH, .claims = claims, .now = NOW};
    return modtest_run(m, &req).code;
}

/* Polls until the module answers want (the store is checked every 10 ms). */
static bool eventually(modtest *m, const char *claims, fhirpam_code want)
{
    for (int i = 0; i < 500; i++) {
        if (run_code(m, claims) == want)
            return true;
        sleep_ms(10);
    }
    return false;
}

START_TEST(reload_keeps_previous_on_error)
{
    const char *dir = store_dir("reload");
    char c[1100], bad[1100];
    snprintf(c, sizeof c, "%s/c.json", dir);
    snprintf(bad, sizeof bad, "%s/zz-bad.json", dir);
    write_file(c, R4PROV("c1", "2026-01-01", PERMIT()));
    fhirpam_error err = {{0}};
    modtest *m = open_store(dir, NULL, &err);
    ck_assert_msg(m != NULL, "%s", err.text);
    ck_assert_int_eq(run_code(m, C_PAT), OK);

    /* The patient opts out: picked up. */
    write_file(c, R4PROV("c1", "2026-01-01", DENY()));
    ck_assert(eventually(m, C_PAT, NO));

    /* A file that does not parse, then the opt-out withdrawn: nothing of
     * the new state is taken while the directory does not load, the
     * opt-out stays. */
    write_file(bad, "{\"resourceType\":");
    write_file(c, R4PROV("c1", "2026-01-01", PERMIT()));
    sleep_ms(150);
    ck_assert_int_eq(run_code(m, C_PAT), NO);

    /* A Consent that does not validate: the same. */
    write_file(bad, R4PROV("c2", "2026-01-01", "{\"type\":\"sometimes\"}"));
    sleep_ms(150);
    ck_assert_int_eq(run_code(m, C_PAT), NO);

    /* Fixed: the new state is in force. */
    unlink(bad);
    ck_assert(eventually(m, C_PAT, OK));

    /* A new file with a newer opt-out. */
    char newer[1100];
    snprintf(newer, sizeof newer, "%s/newer.json", dir);
    write_file(newer, R4PROV("c3", "2026-03-01", DENY()));
    ck_assert(eventually(m, C_PAT, NO));
    /* The store directory gone (moved away in one step): the previous
     * index stays. */
    char gone[1100];
    snprintf(gone, sizeof gone, "%s.gone", dir);
    ck_assert_int_eq(rename(dir, gone), 0);
    sleep_ms(150);
    ck_assert_int_eq(run_code(m, C_PAT), NO);
    modtest_close(m);
}
END_TEST

static fhirpam_code run_at(modtest *m, int64_t now)
{
    modtest_request req = {.url = OBS_SEARCH, .claims = C_PAT, .now = now};
    return modtest_run(m, &req).code;
}

/* max_stale: a store that keeps failing to load stops being used. */
START_TEST(stale_store_unavailable)
{
    const char *dir = store_dir("stale");
    char c[1100], bad[1100];
    snprintf(c, sizeof c, "%s/c.json", dir);
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    write_file(c, R4PROV("c1", "2026-01-01", PERMIT()));
    fhirpam_error err = {{0}};
    modtest *m = open_store(dir, "max_stale = 60;", &err);
    ck_assert_msg(m != NULL, "%s", err.text);
    int64_t real = (int64_t)time(NULL), later = real + 3600;
    ck_assert_int_eq(run_at(m, later), OK);
    write_file(bad, "[");
    bool stale = false;
    for (int i = 0; i < 500 && !stale; i++) {
        stale = run_at(m, later) == FHIRPAM_UNAVAILABLE;
        if (!stale)
            sleep_ms(10);
    }
    ck_assert(stale);
    /* Within max_stale of the first failure, the last good index serves. */
    ck_assert_int_eq(run_at(m, real), OK);
    unlink(bad);
    bool fresh = false;
    for (int i = 0; i < 500 && !fresh; i++) {
        fresh = run_at(m, later) == OK;
        if (!fresh)
            sleep_ms(10);
    }
    ck_assert(fresh);
    modtest_close(m);
}
END_TEST

typedef struct hammer {
    modtest *m;
    atomic_bool *stop;
    long decisions, wrong, seen_b;
} hammer;

static void *authorize_loop(void *arg)
{
    hammer *h = arg;
    while (!atomic_load(h->stop)) {
        /* Every state the directory goes through denies app-b for
         * patient 123, each by another Consent: an index half old and
         * half new, or none at all, would answer otherwise. */
        if (run_code(h->m, C_B) != NO)
            h->wrong++;
        /* app-a tells the states apart (denied in a, permitted in b). */
        if (run_code(h->m, C_A) == OK)
            h->seen_b++;
        h->decisions += 2;
    }
    return NULL;
}

START_TEST(reload_under_load)
{
    /* Other patients' Consents, one per file (a Consent id twice refuses
     * the directory). */
    static const char *const others[] = {
        R4P("o0", "active", "2026-01-01", "770", ",\"provision\":" PERMIT()),
        R4P("o1", "active", "2026-01-01", "771", ",\"provision\":" DENY()),
        R4P("o2", "active", "2026-01-01", "772", ",\"provision\":" PERMIT()),
    };
    const char *dir = store_dir("load");
    char c[1100], other[1100];
    snprintf(c, sizeof c, "%s/c.json", dir);
    const char *state_a = R4PROV("c1", "2026-01-01", DENY());
    const char *state_b =
        R5("c1", "active",
           ",\"decision\":\"deny\",\"provision\":[{\"actor\":[{\"reference\":{\"reference\":"
           "\"Organization/org1\"}}]}]");
    write_file(c, state_a);
    fhirpam_error err = {{0}};
    modtest *m = open_store(dir, NULL, &err);
    ck_assert_msg(m != NULL, "%s", err.text);
    atomic_bool stop = false;
    hammer h[3] = {{m, &stop, 0, 0, 0}, {m, &stop, 0, 0, 0}, {m, &stop, 0, 0, 0}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, authorize_loop, &h[i]);
    for (int i = 0; i < 40; i++) {
        write_file(c, i % 2 ? state_a : state_b);
        /* Other patients' Consents come and go beside it. */
        snprintf(other, sizeof other, "%s/other%d.json", dir, i % 3);
        if (i % 4 == 3)
            unlink(other);
        else
            write_file(other, others[i % 3]);
        sleep_ms(15);
    }
    atomic_store(&stop, true);
    long decisions = 0, wrong = 0, seen_b = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        decisions += h[i].decisions;
        wrong += h[i].wrong;
        seen_b += h[i].seen_b;
    }
    /* Informative only (no timing assertion): how often state b was seen. */
    printf("consent reload_under_load: %ld decisions over 40 changes, %ld wrong, %ld in state b\n",
           decisions, wrong, seen_b);
    ck_assert_int_gt(decisions, 0);
    ck_assert_int_eq(wrong, 0);
    /* And the last state is the one in force: app-a is the R5 exception
     * only in state b (i = 39 wrote state a). */
    ck_assert(eventually(m, C_A, NO));
    write_file(c, state_b);
    ck_assert(eventually(m, C_A, OK));
    modtest_close(m);
}
END_TEST

/* ---- issue 27 rows 9-11: the store cannot hang or flicker ---- */

/* A FIFO in the store: refused at load without blocking, and at run time
 * the watcher keeps the previous index without blocking either, so that a
 * later change still applies once it is gone, and close returns. */
START_TEST(fifo_in_store)
{
    const char *dir = store_dir("fifo");
    char c[1100], fifo[1100];
    snprintf(c, sizeof c, "%s/c.json", dir);
    snprintf(fifo, sizeof fifo, "%s/x.json", dir);
    write_file(c, R4PROV("c1", "2026-01-01", PERMIT()));
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    fhirpam_error err = {{0}};
    ck_assert_ptr_null(open_store(dir, NULL, &err));
    ck_assert_msg(strstr(err.text, fifo) != NULL && strstr(err.text, "regular file"), "%s",
                  err.text);
    unlink(fifo);
    modtest *m = open_store(dir, NULL, &err);
    ck_assert_msg(m != NULL, "%s", err.text);
    ck_assert_int_eq(run_code(m, C_PAT), OK);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    write_file(c, R4PROV("c1", "2026-01-01", DENY()));
    sleep_ms(150);
    ck_assert_int_eq(run_code(m, C_PAT), OK); /* the directory does not load: previous index */
    unlink(fifo);
    ck_assert(eventually(m, C_PAT, NO));
    /* A symlink to a FIFO, and a directory, named like store files. */
    char link[1100], sub[1100];
    snprintf(link, sizeof link, "%s/l.json", dir);
    snprintf(sub, sizeof sub, "%s/d.ndjson", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(symlink(fifo, link), 0);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    unlink(fifo);
    write_file(c, R4PROV("c1", "2026-01-01", PERMIT()));
    sleep_ms(150);
    ck_assert_int_eq(run_code(m, C_PAT), NO);
    unlink(link);
    rmdir(sub);
    ck_assert(eventually(m, C_PAT, OK));
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    sleep_ms(50);
    modtest_close(m); /* returns: the watcher is not stuck in open() */
    unlink(fifo);
}
END_TEST

static void write_raw(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w"); /* in place: truncate, then write */
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* consents.ndjson rewritten in place: an empty file or one cut after a line
 * never stands for the store, however long it stays so. */
START_TEST(ndjson_taken_only_whole)
{
    const char *dir = store_dir("ndjson-whole");
    char nd[1100];
    snprintf(nd, sizeof nd, "%s/consents.ndjson", dir);
    const char *lines =
        R4P("o1", "active", "2026-01-01", "770",
            ",\"provision\":" PERMIT()) "\n" R4PROV("c1", "2026-01-01", DENY()) "\n";
    write_file(nd, lines);
    fhirpam_error err = {{0}};
    modtest *m = open_store(dir, "max_stale = 60;", &err);
    ck_assert_msg(m != NULL, "%s", err.text);
    ck_assert_int_eq(run_code(m, C_PAT), NO);
    /* Truncated to empty, and left so. */
    write_raw(nd, "", 0);
    sleep_ms(150);
    ck_assert_int_eq(run_code(m, C_PAT), NO);
    /* Its first line only, without the newline. */
    const char *nl = strchr(lines, '\n');
    write_raw(nd, lines, (size_t)(nl - lines));
    sleep_ms(150);
    ck_assert_int_eq(run_code(m, C_PAT), NO);
    /* The failure counts toward max_stale. */
    ck_assert_int_eq(run_at(m, (int64_t)time(NULL) + 3600), FHIRPAM_UNAVAILABLE);
    /* Whole again: in force, not stale. */
    write_raw(nd, lines, strlen(lines));
    sleep_ms(150);
    ck_assert_int_eq(run_at(m, (int64_t)time(NULL) + 3600), NO);
    /* The opt-out withdrawn, written in place with its newline. */
    const char *withdrawn = R4PROV("c1", "2026-01-01", PERMIT()) "\n";
    write_raw(nd, withdrawn, strlen(withdrawn));
    ck_assert(eventually(m, C_PAT, OK));
    modtest_close(m);
}
END_TEST

typedef struct rewriter {
    const char *path;
    atomic_bool *stop;
    long rewrites;
} rewriter;

/* `cmd > consents.ndjson` again and again: truncate, then the lines one by
 * one, each in two writes, with pauses. The opt-out comes first, so every
 * state the file passes through is empty, cut inside a line, or holds it:
 * none may stand for the store, however the threads are scheduled. (A
 * writer that stops longer than check_interval_ms right after a newline
 * shows a shorter store that is whole as far as anyone can tell: the
 * README says to write beside and rename for that.) */
static void *rewrite_loop(void *arg)
{
    rewriter *w = arg;
    static const char *const lines[] = {
        R4PROV("c1", "2026-01-01", DENY()) "\n",
        R4P("o1", "active", "2026-01-01", "770", ",\"provision\":" PERMIT()) "\n",
        R4P("o2", "active", "2026-01-01", "771", ",\"provision\":" DENY()) "\n",
    };
    while (!atomic_load(w->stop)) {
        int fd = open(w->path, O_WRONLY | O_TRUNC);
        if (fd < 0)
            break;
        for (size_t i = 0; i < 3; i++) {
            size_t len = strlen(lines[i]), half = len / 2;
            if (write(fd, lines[i], half) != (ssize_t)half ||
                write(fd, lines[i] + half, len - half) != (ssize_t)(len - half))
                break;
            sleep_ms(1);
        }
        close(fd);
        w->rewrites++;
        sleep_ms(1);
    }
    return NULL;
}

START_TEST(rewrite_in_place_under_reload)
{
    const char *dir = store_dir("rewrite");
    char nd[1100];
    snprintf(nd, sizeof nd, "%s/consents.ndjson", dir);
    write_file(nd, R4PROV("c1", "2026-01-01", DENY()) "\n");
    fhirpam_error err = {{0}};
    modtest *m = open_store(dir, NULL, &err);
    ck_assert_msg(m != NULL, "%s", err.text);
    atomic_bool stop = false;
    rewriter w = {nd, &stop, 0};
    pthread_t th;
    pthread_create(&th, NULL, rewrite_loop, &w);
    long decisions = 0, wrong = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        if (run_code(m, C_PAT) != NO)
            wrong++;
        decisions++;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < 1500);
    atomic_store(&stop, true);
    pthread_join(th, NULL);
    printf("consent rewrite_in_place_under_reload: %ld decisions, %ld rewrites, %ld wrong\n",
           decisions, w.rewrites, wrong);
    ck_assert_int_gt(w.rewrites, 10);
    ck_assert_int_eq(wrong, 0);
    modtest_close(m);
}
END_TEST

/* A withdrawal written 0660 is refused; chmod 600 makes it count (the
 * change check sees mode and ctime), with the default max_stale. */
START_TEST(chmod_fix_reread)
{
    const char *dir = store_dir("chmod");
    char c[1100], w[1100];
    snprintf(c, sizeof c, "%s/c.json", dir);
    snprintf(w, sizeof w, "%s/withdrawal.json", dir);
    write_file(c, R4PROV("c1", "2026-01-01", DENY()));
    fhirpam_error err = {{0}};
    modtest *m = open_store(dir, NULL, &err);
    ck_assert_msg(m != NULL, "%s", err.text);
    ck_assert_int_eq(run_code(m, C_PAT), NO);
    write_file(w, R4PROV("c2", "2026-03-01", PERMIT()));
    ck_assert_int_eq(chmod(w, 0660), 0);
    sleep_ms(150);
    ck_assert_int_eq(run_code(m, C_PAT), NO);
    ck_assert_int_eq(chmod(w, 0600), 0);
    ck_assert(eventually(m, C_PAT, OK));
    /* And the directory's own mode, refused then fixed. */
    write_file(w, R4PROV("c2", "2026-03-01", DENY()));
    ck_assert(eventually(m, C_PAT, NO));
    ck_assert_int_eq(chmod(dir, 0770), 0);
    write_file(w, R4PROV("c2", "2026-03-01", PERMIT()));
    sleep_ms(150);
    ck_assert_int_eq(run_code(m, C_PAT), NO);
    ck_assert_int_eq(chmod(dir, 0700), 0);
    ck_assert(eventually(m, C_PAT, OK));
    modtest_close(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("consent");
    TCase *t = tcase_create("decisions");
    tcase_add_loop_test(t, table, 0, sizeof rows / sizeof rows[0]);
    tcase_add_test(t, reason_names_consent_and_provision);
    tcase_add_test(t, bad_arguments);
    tcase_add_test(t, store_permissions_checked);
    tcase_add_test(t, config_refused_naming_file);
    tcase_add_test(t, malformed_store_refused);
    suite_add_tcase(s, t);
    t = tcase_create("obligations");
    tcase_add_test(t, redact_obligation_checked);
    tcase_add_test(t, redact_class_in_bundle);
    tcase_add_test(t, redact_nested);
    tcase_add_test(t, redact_params_checked);
    tcase_add_test(t, abstain_keeps_obligation);
    tcase_add_test(t, bundle_entry_bodies_name_patients);
    suite_add_tcase(s, t);
    t = tcase_create("reload");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, reload_keeps_previous_on_error);
    tcase_add_test(t, reload_under_load);
    tcase_add_test(t, stale_store_unavailable);
    tcase_add_test(t, fifo_in_store);
    tcase_add_test(t, ndjson_taken_only_whole);
    tcase_add_test(t, rewrite_in_place_under_reload);
    tcase_add_test(t, chmod_fix_reread);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (key != NULL)
        EVP_PKEY_free(key);
    return failed ? 1 : 0;
}
