/*
 * test_patient_link.c - patient_link (issue 5): requests under a
 * patient/ grant stay inside the launch patient's compartment, derived from
 * the FHIR Patient CompartmentDefinition (R4 and R5) and smart-scopes.md
 * §9 A13-A21. Rows: request (and body or stored resource), the patient
 * claim, and the expected code and reason word.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mint.h"
#include "modtest.h"
#include "testutil.h"

#define P123 "{\"patient\":\"123\"}"
#define OBS(subject)                                                                               \
    "{\"resourceType\":\"Observation\",\"status\":\"final\",\"subject\":{\"reference\":\"" subject \
    "\"}}"
#define OBS_123 OBS("Patient/123")
#define OBS_456 OBS("Patient/456")
/* A JSON Patch of one operation (RFC 6902). */
#define JP(op) "[" op "]"
/* A FHIRPath Patch (FHIR R4 §3.1.0.13): Parameters with operations. */
#define FP(ops) "{\"resourceType\":\"Parameters\",\"parameter\":[" ops "]}"
#define FP_OP(type, path, more)                                                                    \
    "{\"name\":\"operation\",\"part\":[{\"name\":\"type\",\"valueCode\":\"" type                   \
    "\"},{\"name\":\"path\",\"valueString\":\"" path "\"}" more "]}"
#define FP_REF(ref) ",{\"name\":\"value\",\"valueReference\":{\"reference\":\"" ref "\"}}"
#define FP_NAME(n)  ",{\"name\":\"name\",\"valueString\":\"" n "\"}"
#define PAT(id)     "{\"resourceType\":\"Patient\",\"id\":\"" id "\"}"
#define PAT_LINKED(id, other)                                                                      \
    "{\"resourceType\":\"Patient\",\"id\":\"" id "\",\"link\":[{\"other\":{\"reference\":\"" other \
    "\"},\"type\":\"seealso\"}]}"
#define LINKS "{ links = \"permit\"; }"

typedef struct row {
    const char *args; /* NULL: R4 defaults */
    const char *method, *url, *body, *current, *claims;
    fhirpam_code code;
    const char *reason; /* NULL for success */
} row;

#define OK FHIRPAM_SUCCESS
#define MM FHIRPAM_PATIENT_MISMATCH

static const row rows[] = {
    /* The patient's own record, A17 claim forms. */
    {NULL, "GET", "Patient/123", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Patient/123", NULL, NULL, "{\"patient\":\"Patient/123\"}", OK, NULL},
    {NULL, "GET", "Patient/456", NULL, NULL, P123, MM, "other_patient"},
    {NULL, "GET", "Patient/1234", NULL, NULL, P123, MM, "other_patient"},
    {NULL, "GET", "Patient/12", NULL, NULL, P123, MM, "other_patient"},
    {NULL, "GET", "Patient/123/_history/2", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Patient/123/_history", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Patient/123", NULL, NULL, "{}", MM, "no_patient"},
    {NULL, "GET", "Patient/123", NULL, NULL, "{\"patient\":\"\"}", MM, "no_patient"},
    {NULL, "GET", "Patient/123", NULL, NULL, "{\"patient\":\"Group/123\"}", MM,
     "bad_patient_claim"},
    {NULL, "GET", "Patient/123", NULL, NULL, "{\"patient\":123}", MM, "no_patient"},
    {NULL, "GET", "metadata", NULL, NULL, P123, OK, NULL},
    /* Compartment searches. */
    {NULL, "GET", "Patient/123/Observation", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Patient/123/*", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Patient/456/Observation", NULL, NULL, P123, MM, "other_compartment"},
    {NULL, "GET", "Encounter/9/Observation", NULL, NULL, P123, MM, "other_compartment"},
    /* Type searches (A14-A16). */
    {NULL, "GET", "Observation?subject=Patient/123", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Observation?patient=Patient/123", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Observation?subject:Patient=123", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Observation?subject=Patient/123&code=8867-4", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Observation?performer=Patient/123", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Observation?subject=Patient/123&performer=Practitioner/9", NULL, NULL, P123, OK,
     NULL},
    {NULL, "GET", "Observation?subject=Patient/123&performer=Patient/456", NULL, NULL, P123, MM,
     "unconstrained_search"},
    {NULL, "GET", "Observation?subject=123", NULL, NULL, P123, MM, "unconstrained_search"},
    {NULL, "GET", "Observation?patient=123", NULL, NULL, P123, MM, "unconstrained_search"},
    {NULL, "GET", "Observation?subject=Patient/456", NULL, NULL, P123, MM, "unconstrained_search"},
    {NULL, "GET", "Observation?subject=Patient/123,Patient/456", NULL, NULL, P123, MM,
     "unconstrained_search"},
    {NULL, "GET", "Observation?subject=Patient/123&subject=Patient/456", NULL, NULL, P123, MM,
     "unconstrained_search"},
    {NULL, "GET", "Observation?subject:Patient=456", NULL, NULL, P123, MM, "unconstrained_search"},
    {NULL, "GET", "Observation?subject.name=smith", NULL, NULL, P123, MM, "unconstrained_search"},
    {NULL, "GET", "Observation?code=8867-4", NULL, NULL, P123, MM, "unconstrained_search"},
    {NULL, "GET", "Observation", NULL, NULL, P123, MM, "unconstrained_search"},
    {NULL, "POST", "Observation/_search", "subject=Patient%2F123", NULL, P123, OK, NULL},
    {NULL, "POST", "Observation/_search", "code=1234", NULL, P123, MM, "unconstrained_search"},
    {NULL, "GET", "Condition?patient=Patient/123", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Encounter?patient=Patient/123", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "AllergyIntolerance?recorder=Patient/123", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Patient?name=smith", NULL, NULL, P123, MM, "unconstrained_search"},
    {NULL, "GET", "Patient?_id=123", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Patient?_id=456", NULL, NULL, P123, MM, "unconstrained_search"},
    {NULL, "GET", "Patient?_id=123,456", NULL, NULL, P123, MM, "unconstrained_search"},
    {NULL, "GET", "Observation?subject=Patient/123&_include=Observation:performer", NULL, NULL,
     P123, MM, "unresolved_include"},
    {NULL, "GET", "Observation?subject=Patient/123&_revinclude=Provenance:target", NULL, NULL, P123,
     MM, "unresolved_include"},
    {NULL, "GET", "_history", NULL, NULL, P123, MM, "unconstrained_search"},
    {NULL, "GET", "Observation/_history", NULL, NULL, P123, MM, "unconstrained_search"},
    {NULL, "GET", "?_type=Observation", NULL, NULL, P123, MM, "unconstrained_search"},
    /* Types outside the compartment (A13). */
    {NULL, "GET", "Medication/1", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Practitioner/9", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Medication?code=1234", NULL, NULL, P123, OK, NULL},
    {"{ non_compartment_reads = \"deny\"; }", "GET", "Medication/1", NULL, NULL, P123, MM,
     "outside_compartment"},
    {"{ non_compartment_reads = \"deny\"; }", "GET", "Organization?name=x", NULL, NULL, P123, MM,
     "outside_compartment"},
    {NULL, "POST", "Medication", "{\"resourceType\":\"Medication\"}", NULL, P123, MM,
     "create_outside"},
    {NULL, "PUT", "Practitioner/9", "{\"resourceType\":\"Practitioner\",\"id\":\"9\"}", NULL, P123,
     MM, "outside_compartment"},
    {NULL, "DELETE", "Organization/1", NULL, NULL, P123, MM, "outside_compartment"},
    /* Creates: the body references the patient through a compartment element. */
    {NULL, "POST", "Observation", OBS("Patient/123"), NULL, P123, OK, NULL},
    {NULL, "POST", "Observation", OBS("Patient/456"), NULL, P123, MM, "body_outside"},
    {NULL, "POST", "Observation", OBS("Group/123"), NULL, P123, MM, "body_outside"},
    {NULL, "POST", "Observation", "{\"resourceType\":\"Observation\",\"status\":\"final\"}", NULL,
     P123, MM, "body_outside"},
    {NULL, "POST", "Observation",
     "{\"resourceType\":\"Condition\",\"subject\":{\"reference\":"
     "\"Patient/123\"}}",
     NULL, P123, MM, "body_outside"},
    {NULL, "POST", "Observation", "not json", NULL, P123, MM, "body_outside"},
    {NULL, "POST", "Observation",
     "{\"resourceType\":\"Observation\",\"performer\":[{\"reference\":\"Practitioner/9\"},"
     "{\"reference\":\"Patient/123\"}]}",
     NULL, P123, OK, NULL},
    {NULL, "POST", "Observation",
     "{\"resourceType\":\"Observation\",\"focus\":[{\"reference\":\"Patient/123\"}]}", NULL, P123,
     MM, "body_outside"},
    {NULL, "POST", "Patient", "{\"resourceType\":\"Patient\",\"id\":\"123\"}", NULL, P123, MM,
     "create_outside"},
    {NULL, "POST", "Condition",
     "{\"resourceType\":\"Condition\",\"subject\":{\"reference\":\"Patient/123\"}}", NULL, P123, OK,
     NULL},
    {NULL, "POST", "Encounter",
     "{\"resourceType\":\"Encounter\",\"subject\":{\"reference\":\"Patient/123\"}}", NULL, P123, OK,
     NULL},
    {NULL, "POST", "Group",
     "{\"resourceType\":\"Group\",\"member\":[{\"entity\":{\"reference\":\"Patient/123\"}}]}", NULL,
     P123, OK, NULL},
    {NULL, "POST", "Group",
     "{\"resourceType\":\"Group\",\"member\":[{\"entity\":{\"reference\":"
     "\"Patient/456\"}}]}",
     NULL, P123, MM, "body_outside"},
    /* Reads, updates and deletes by id: the stored resource decides. */
    {NULL, "GET", "Observation/1", NULL, OBS("Patient/123"), P123, OK, NULL},
    {NULL, "GET", "Observation/1", NULL, OBS("Patient/456"), P123, MM, "stored_outside"},
    {NULL, "GET", "Observation/1", NULL, NULL, P123, MM, "unresolved_resource"},
    {NULL, "GET", "Observation/1/_history/3", NULL, OBS("Patient/123"), P123, OK, NULL},
    {NULL, "DELETE", "Observation/1", NULL, OBS("Patient/123"), P123, OK, NULL},
    {NULL, "DELETE", "Observation/1", NULL, OBS("Patient/456"), P123, MM, "stored_outside"},
    {NULL, "PUT", "Observation/1", OBS("Patient/123"), OBS("Patient/123"), P123, OK, NULL},
    {NULL, "PUT", "Observation/1", OBS("Patient/456"), OBS("Patient/123"), P123, MM,
     "body_outside"},
    {NULL, "PUT", "Observation/1", OBS("Patient/123"), OBS("Patient/456"), P123, MM,
     "stored_outside"},
    {NULL, "PUT", "Observation/1", OBS("Patient/123"), NULL, P123, MM, "unresolved_resource"},
    /* PATCH: the patch applied to the stored resource, and the result
     * checked. JSON Patch (RFC 6902, pointers RFC 6901). */
    {NULL, "PATCH", "Observation/1", "[]", OBS_123, P123, OK, NULL},
    {NULL, "PATCH", "Observation/1",
     JP("{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"amended\"}"), OBS_123, P123, OK,
     NULL},
    {NULL, "PATCH", "Observation/1",
     JP("{\"op\":\"replace\",\"path\":\"/subject\",\"value\":{\"reference\":\"Patient/456\"}}"),
     OBS_123, P123, MM, "patch_outside"},
    {NULL, "PATCH", "Observation/1",
     JP("{\"op\":\"replace\",\"path\":\"/subject/reference\",\"value\":\"Patient/456\"}"), OBS_123,
     P123, MM, "patch_outside"},
    {NULL, "PATCH", "Observation/1", JP("{\"op\":\"remove\",\"path\":\"/subject\"}"), OBS_123, P123,
     MM, "patch_outside"},
    {NULL, "PATCH", "Observation/1",
     JP("{\"op\":\"move\",\"from\":\"/subject\",\"path\":\"/focus\"}"), OBS_123, P123, MM,
     "patch_outside"},
    {NULL, "PATCH", "Observation/1",
     JP("{\"op\":\"copy\",\"from\":\"/subject\",\"path\":\"/performer\"}"), OBS_123, P123, OK,
     NULL},
    {NULL, "PATCH", "Observation/1",
     "[{\"op\":\"add\",\"path\":\"/performer\",\"value\":[{\"reference\":\"Patient/123\"}]},"
     "{\"op\":\"remove\",\"path\":\"/subject\"}]",
     OBS_123, P123, OK, NULL},
    {NULL, "PATCH", "Observation/1",
     "[{\"op\":\"test\",\"path\":\"/subject/reference\",\"value\":\"Patient/123\"},"
     "{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"amended\"}]",
     OBS_123, P123, OK, NULL},
    {NULL, "PATCH", "Observation/1",
     JP("{\"op\":\"test\",\"path\":\"/subject/reference\",\"value\":\"Patient/999\"}"), OBS_123,
     P123, MM, "unresolved_patch"},
    {NULL, "PATCH", "Observation/1", JP("{\"op\":\"remove\",\"path\":\"/note\"}"), OBS_123, P123,
     MM, "unresolved_patch"},
    {NULL, "PATCH", "Observation/1", JP("{\"op\":\"frob\",\"path\":\"/status\"}"), OBS_123, P123,
     MM, "unresolved_patch"},
    {NULL, "PATCH", "Observation/1", JP("{\"op\":\"add\",\"path\":\"/a~2b\",\"value\":1}"), OBS_123,
     P123, MM, "unresolved_patch"},
    {NULL, "PATCH", "Observation/1", JP("{\"op\":\"add\",\"path\":\"/a~1b\",\"value\":1}"), OBS_123,
     P123, OK, NULL},
    {NULL, "PATCH", "Observation/1", JP("{\"op\":\"replace\",\"path\":\"\",\"value\":" OBS_456 "}"),
     OBS_123, P123, MM, "patch_outside"},
    {NULL, "PATCH", "Observation/1",
     JP("{\"op\":\"replace\",\"path\":\"/resourceType\",\"value\":\"Condition\"}"), OBS_123, P123,
     MM, "patch_outside"},
    {NULL, "PATCH", "Observation/1", "not json", OBS_123, P123, MM, "unresolved_patch"},
    {NULL, "PATCH", "Observation/1", "{\"resourceType\":\"Observation\"}", OBS_123, P123, MM,
     "unresolved_patch"},
    {NULL, "PATCH", "Observation/1",
     JP("{\"op\":\"replace\",\"path\":\"/subject/reference\",\"value\":\"Patient/123\"}"), OBS_456,
     P123, MM, "stored_outside"},
    {NULL, "PATCH", "Observation/1", "[]", NULL, P123, MM, "unresolved_resource"},
    /* FHIRPath Patch. */
    {NULL, "PATCH", "Observation/1",
     FP(FP_OP("replace", "Observation.subject", FP_REF("Patient/456"))), OBS_123, P123, MM,
     "patch_outside"},
    {NULL, "PATCH", "Observation/1",
     FP(FP_OP("replace", "Observation.subject.reference",
              ",{\"name\":\"value\",\"valueString\":\"Patient/456\"}")),
     OBS_123, P123, MM, "patch_outside"},
    {NULL, "PATCH", "Observation/1",
     FP(FP_OP("replace", "Observation.status", ",{\"name\":\"value\",\"valueCode\":\"amended\"}")),
     OBS_123, P123, OK, NULL},
    {NULL, "PATCH", "Observation/1", FP(FP_OP("delete", "Observation.subject", "")), OBS_123, P123,
     MM, "patch_outside"},
    {NULL, "PATCH", "Observation/1",
     FP(FP_OP("delete", "Observation.subject",
              "") "," FP_OP("add", "Observation", FP_NAME("performer") FP_REF("Patient/123"))),
     OBS_123, P123, OK, NULL},
    {NULL, "PATCH", "Observation/1",
     FP(FP_OP("delete", "Observation.subject",
              "") "," FP_OP("insert", "Observation.performer",
                            ",{\"name\":\"index\",\"valueInteger\":0}" FP_REF("Patient/456"))),
     OBS_123, P123, MM, "patch_outside"},
    {NULL, "PATCH", "Observation/1",
     FP(FP_OP("delete", "Observation.subject", "") "," FP_OP(
         "add", "Observation",
         FP_NAME("subject") ",{\"name\":\"value\",\"part\":[{\"name\":\"reference\","
                            "\"valueString\":\"Patient/123\"}]}")),
     OBS_123, P123, OK, NULL},
    {NULL, "PATCH", "Observation/1",
     FP(FP_OP("replace", "Observation.subject.where(reference='Patient/123')",
              FP_REF("Patient/456"))),
     OBS_123, P123, MM, "unresolved_patch"},
    {NULL, "PATCH", "Observation/1",
     FP(FP_OP("replace", "Observation.where(true).subject", FP_REF("Patient/456"))), OBS_123, P123,
     MM, "unresolved_patch"},
    {NULL, "PATCH", "Observation/1",
     FP(FP_OP("delete", "Observation.code.coding.where(system='http://loinc.org')", "")), OBS_123,
     P123, OK, NULL},
    {NULL, "PATCH", "Observation/1", FP("{\"name\":\"operation\",\"part\":[]}"), OBS_123, P123, MM,
     "unresolved_patch"},
    {NULL, "PATCH", "Observation/1", FP(FP_OP("replace", "Observation.subject", "")), OBS_123, P123,
     MM, "unresolved_patch"},
    {"{ fhir_version = \"R5\"; }", "PATCH", "Observation/1",
     FP(FP_OP("replace", "Observation.subject", FP_REF("Patient/456"))), OBS_123, P123, MM,
     "patch_outside"},
    /* Patient.link (A18): refused unless links = "permit". */
    {NULL, "PATCH", "Patient/123",
     JP("{\"op\":\"replace\",\"path\":\"/birthDate\",\"value\":\"1970-01-01\"}"), NULL, P123, OK,
     NULL},
    {NULL, "PATCH", "Patient/123",
     JP("{\"op\":\"add\",\"path\":\"/link\",\"value\":[{\"other\":{\"reference\":\"Patient/"
        "456\"},\"type\":\"seealso\"}]}"),
     NULL, P123, MM, "link_change"},
    {LINKS, "PATCH", "Patient/123",
     JP("{\"op\":\"add\",\"path\":\"/link\",\"value\":[{\"other\":{\"reference\":\"Patient/"
        "456\"},\"type\":\"seealso\"}]}"),
     NULL, P123, OK, NULL},
    {NULL, "PATCH", "Patient/123", JP("{\"op\":\"replace\",\"path\":\"/id\",\"value\":\"456\"}"),
     NULL, P123, MM, "patch_outside"},
    {NULL, "PATCH", "Patient/123", JP("{\"op\":\"replace\",\"path\":\"\",\"value\":{}}"), NULL,
     P123, MM, "unresolved_patch"},
    {NULL, "PATCH", "Patient/123",
     FP(FP_OP("add", "Patient", FP_NAME("link") ",{\"name\":\"value\",\"part\":[]}")), NULL, P123,
     MM, "link_change"},
    {NULL, "PATCH", "Patient/123",
     FP(FP_OP("replace", "Patient.descendants()", FP_REF("Patient/456"))), NULL, P123, MM,
     "unresolved_patch"},
    {NULL, "PUT", "Patient/123", PAT_LINKED("123", "Patient/456"), NULL, P123, MM, "link_change"},
    {NULL, "PUT", "Patient/123", PAT_LINKED("123", "Patient/456"), PAT_LINKED("123", "Patient/456"),
     P123, OK, NULL},
    {NULL, "PUT", "Patient/123", PAT("123"), PAT_LINKED("123", "Patient/456"), P123, MM,
     "link_change"},
    {LINKS, "PUT", "Patient/123", PAT_LINKED("123", "Patient/456"), PAT("123"), P123, OK, NULL},
    {NULL, "GET", "Patient?link=Patient/123", NULL, NULL, P123, MM, "unconstrained_search"},
    {LINKS, "GET", "Patient?link=Patient/123", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Patient?_id=123&link=Patient/456", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Patient/456", NULL, PAT_LINKED("456", "Patient/123"), P123, MM, "other_patient"},
    {LINKS, "GET", "Patient/456", NULL, PAT_LINKED("456", "Patient/123"), P123, OK, NULL},
    {LINKS, "GET", "Patient/456", NULL, PAT_LINKED("456", "Patient/999"), P123, MM,
     "other_patient"},
    {LINKS, "GET", "Patient/456", NULL, PAT_LINKED("789", "Patient/123"), P123, MM,
     "other_patient"},
    {LINKS, "PUT", "Patient/456", PAT_LINKED("456", "Patient/123"),
     PAT_LINKED("456", "Patient/123"), P123, MM, "other_patient"},
    {NULL, "PUT", "Observation?identifier=x", OBS("Patient/123"), NULL, P123, MM,
     "conditional_write"},
    {NULL, "DELETE", "Observation?identifier=x", NULL, NULL, P123, MM, "conditional_write"},
    /* The patient's own record written (A19). */
    {NULL, "DELETE", "Patient/123", NULL, NULL, P123, OK, NULL},
    {NULL, "DELETE", "Patient/456", NULL, NULL, P123, MM, "other_patient"},
    {NULL, "PUT", "Patient/123", "{\"resourceType\":\"Patient\",\"id\":\"123\"}", NULL, P123, OK,
     NULL},
    {NULL, "PUT", "Patient/123", "{\"resourceType\":\"Patient\",\"id\":\"456\"}", NULL, P123, MM,
     "body_outside"},
    /* $everything on the patient only. */
    {NULL, "GET", "Patient/123/$everything", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "Patient/456/$everything", NULL, NULL, P123, MM, "operation_outside"},
    {NULL, "GET", "Patient/$everything", NULL, NULL, P123, MM, "operation_outside"},
    {NULL, "GET", "$export", NULL, NULL, P123, MM, "operation_outside"},
    {NULL, "POST", "Observation/$validate", OBS("Patient/123"), NULL, P123, MM,
     "operation_outside"},
    /* unresolved = "check_response": permitted with an obligation instead. */
    {"{ unresolved = \"check_response\"; }", "GET", "Observation/1", NULL, NULL, P123, OK, NULL},
    {"{ unresolved = \"check_response\"; }", "GET", "Observation/1/_history/2", NULL, NULL, P123,
     OK, NULL},
    {"{ unresolved = \"check_response\"; }", "GET",
     "Observation?subject=Patient/123&_include=Observation:performer", NULL, NULL, P123, OK, NULL},
    {"{ unresolved = \"check_response\"; }", "GET",
     "Patient/123/Observation?_revinclude=Provenance:target", NULL, NULL, P123, OK, NULL},
    {"{ unresolved = \"check_response\"; }", "GET", "Observation/1", NULL, OBS("Patient/456"), P123,
     MM, "stored_outside"},
    {"{ unresolved = \"check_response\"; }", "DELETE", "Observation/1", NULL, NULL, P123, MM,
     "unresolved_resource"},
    {"{ unresolved = \"check_response\"; }", "GET", "Observation?code=1", NULL, NULL, P123, MM,
     "unconstrained_search"},
    {"{ unresolved = \"check_response\"; }", "GET",
     "Observation?code=1&_include=Observation:performer", NULL, NULL, P123, MM,
     "unconstrained_search"},
    /* Pairs whose R4 expression differs from R5's (data/README.md). */
    {NULL, "GET", "Media?subject=Patient/123", NULL, NULL, P123, OK, NULL},
    {NULL, "GET", "AuditEvent/1", NULL,
     "{\"resourceType\":\"AuditEvent\",\"agent\":[{\"who\":{\"reference\":\"Patient/123\"}}]}",
     P123, OK, NULL},
    {NULL, "GET", "AuditEvent/1", NULL,
     "{\"resourceType\":\"AuditEvent\",\"patient\":{\"reference\":\"Patient/123\"}}", P123, MM,
     "stored_outside"},
    {"{ fhir_version = \"R5\"; }", "GET", "AuditEvent/1", NULL,
     "{\"resourceType\":\"AuditEvent\",\"patient\":{\"reference\":\"Patient/123\"}}", P123, OK,
     NULL},
    /* R5's table. */
    {"{ fhir_version = \"R5\"; }", "GET", "Patient/123", NULL, NULL, P123, OK, NULL},
    {"{ fhir_version = \"R5\"; }", "GET", "Observation?subject=Patient/123", NULL, NULL, P123, OK,
     NULL},
    {"{ fhir_version = \"R5\"; }", "POST", "Condition",
     "{\"resourceType\":\"Condition\",\"subject\":{\"reference\":\"Patient/123\"}}", NULL, P123, OK,
     NULL},
    {"{ fhir_version = \"R5\"; }", "GET", "Observation/1", NULL, OBS("Patient/456"), P123, MM,
     "stored_outside"},
    {"{ fhir_version = \"R5\"; }", "GET", "Medication/1", NULL, NULL, P123, OK, NULL},
};

/* The permits that hold only if the response is checked: with
 * unresolved = "check_response", a read by id with no stored resource, and
 * a search that names _include or _revinclude. */
static size_t expected_obligations(const row *r)
{
    if (r->args == NULL || strstr(r->args, "check_response") == NULL || r->current != NULL)
        return 0;
    bool by_id = strchr(r->url, '?') == NULL && strncmp(r->url, "Patient/", 8) != 0;
    bool joins = strstr(r->url, "_include=") != NULL || strstr(r->url, "_revinclude=") != NULL;
    return by_id || joins ? 1 : 0;
}

START_TEST(table)
{
    const row *r = &rows[_i];
    fhirpam_error err = {{0}};
    modtest *m = modtest_open("patient_link", r->args, &err);
    ck_assert_msg(m != NULL, "%s", err.text);
    modtest_request req = {.method = r->method,
                           .url = r->url,
                           .body = r->body,
                           .current = r->current,
                           .claims = r->claims,
                           .now = 1800000000};
    modtest_result res = modtest_run(m, &req);
    ck_assert_msg(res.code == r->code, "row %d %s %s: got %s (%s %s)", _i, r->method, r->url,
                  fhirpam_code_name(res.code), res.reason, res.reason_text);
    if (r->reason != NULL)
        ck_assert_msg(strcmp(res.reason, r->reason) == 0, "row %d %s %s: reason %s (%s)", _i,
                      r->method, r->url, res.reason, res.reason_text);
    ck_assert_msg(res.obligations == (r->code == OK ? expected_obligations(r) : 0),
                  "row %d %s %s: %zu obligations", _i, r->method, r->url, res.obligations);
    modtest_close(m);
}
END_TEST

/* Obligations end to end: a permit that holds only if the response is the
 * patient's, checked with fhirpam_check_response on resources and Bundles.
 * Writes the key set and returns the configuration text; bearer receives a
 * patient/ read-search token for patient 123. */
static const char *obligation_config(EVP_PKEY *key, char *bearer, size_t len)
{
    static char conf[2048];
    json_t *set = json_pack("{s:[o]}", "keys", mint_public_jwk(key, "k1", "ES256"));
    char *jwks = json_dumps(set, 0);
    const char *jwks_path = tu_write("jwks.json", jwks);
    snprintf(conf, sizeof conf,
             "token: { issuer = \"https://ehr\"; audience = \"https://fhir\"; jwks = \"%s\"; "
             "algorithms = [\"ES256\"]; };\n"
             "stacks: { s = ( { control = \"requisite\"; module = \"scope_check\"; },\n"
             " { control = \"required\"; module = \"patient_link\"; args = { unresolved = "
             "\"check_response\"; }; } ); };",
             jwks_path);
    char *token = mint_token(key, "ES256", "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
                             "{\"iss\":\"https://ehr\",\"aud\":\"https://fhir\",\"exp\":"
                             "1800000600,\"patient\":\"123\",\"scope\":\"patient/*.rs\"}");
    snprintf(bearer, len, "Bearer %s", token);
    free(token);
    free(jwks);
    json_decref(set);
    return conf;
}

static fhirpam_context *obligation_context(EVP_PKEY *key, char *bearer, size_t len)
{
    fhirpam_error err = {{0}};
    fhirpam_context *ctx = tu_open(obligation_config(key, bearer, len), &err);
    ck_assert_msg(ctx != NULL, "%s", err.text);
    return ctx;
}

static fhirpam_decision *get(fhirpam_context *ctx, const char *bearer, const char *url)
{
    fhirpam_request *req = fhirpam_request_new("GET", url);
    fhirpam_request_add_header(req, "Authorization", bearer);
    fhirpam_request_set_time(req, 1800000000);
    fhirpam_decision *d = fhirpam_authorize(ctx, "s", req);
    fhirpam_request_free(req);
    ck_assert_ptr_nonnull(d);
    return d;
}

START_TEST(check_response)
{
    EVP_PKEY *key = mint_keygen("ES256", 0);
    char bearer[2048];
    fhirpam_context *ctx = obligation_context(key, bearer, sizeof bearer);
    fhirpam_decision *d = get(ctx, bearer, "Observation/1");
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    ck_assert_uint_eq(fhirpam_decision_obligation_count(d), 1);
    char *json = fhirpam_decision_json(d);
    ck_assert_msg(strstr(json, "\"obligations\":[{\"type\":\"patient_compartment\",\"patient\":"
                               "\"123\",\"fhir_version\":\"R4\"}]") != NULL,
                  "%s", json);
    free(json);
    size_t *remove, nremove;
    static const struct {
        const char *body;
        int rc;
    } resources[] = {
        {OBS("Patient/123"), 1},
        {OBS("Patient/456"), 0},
        {"{\"resourceType\":\"Observation\"}", 0},
        {"{\"resourceType\":\"Medication\",\"id\":\"m\"}", 1},
        {"{\"resourceType\":\"Patient\",\"id\":\"123\"}", 1},
        {"{\"resourceType\":\"Patient\",\"id\":\"456\"}", 0},
        {"not json", -1},
    };
    for (size_t i = 0; i < sizeof resources / sizeof resources[0]; i++) {
        int rc = fhirpam_check_response(d, resources[i].body, strlen(resources[i].body), &remove,
                                        &nremove);
        ck_assert_msg(rc == resources[i].rc, "resource %zu: %d", i, rc);
        ck_assert_uint_eq(nremove, 0);
        free(remove);
    }
    /* A searchset mixing two patients: the other patient's entries go. */
    const char *bundle = "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"entry\":["
                         "{\"resource\":" OBS_123 "},"
                         "{\"resource\":" OBS_456 "},"
                         "{\"resource\":{\"resourceType\":\"Medication\"}},"
                         "{\"resource\":{\"resourceType\":\"OperationOutcome\"}},"
                         "{\"resource\":{\"resourceType\":\"Patient\",\"id\":\"123\"}},"
                         "{\"resource\":{\"resourceType\":\"Patient\",\"id\":\"456\"}},"
                         "{\"fullUrl\":\"x\"}]}";
    ck_assert_int_eq(fhirpam_check_response(d, bundle, strlen(bundle), &remove, &nremove), 1);
    ck_assert_uint_eq(nremove, 3);
    ck_assert_uint_eq(remove[0], 1);
    ck_assert_uint_eq(remove[1], 5);
    ck_assert_uint_eq(remove[2], 6);
    free(remove);
    fhirpam_decision_free(d);

    /* Without obligations any body passes; a deny checks nothing. */
    d = get(ctx, bearer, "Patient/123");
    ck_assert(fhirpam_decision_permitted(d));
    ck_assert_uint_eq(fhirpam_decision_obligation_count(d), 0);
    ck_assert_int_eq(fhirpam_check_response(d, OBS("Patient/456"), strlen(OBS("Patient/456")),
                                            &remove, &nremove),
                     1);
    fhirpam_decision_free(d);
    d = get(ctx, bearer, "Patient/456");
    ck_assert(!fhirpam_decision_permitted(d));
    ck_assert_uint_eq(fhirpam_decision_obligation_count(d), 0);
    ck_assert_int_eq(fhirpam_check_response(d, "{}", 2, &remove, &nremove), -1);
    fhirpam_decision_free(d);
    /* One token, verified once, then found in the cache by every later
     * decision. */
    uint64_t hits;
    size_t entries;
    fhirpam_token_cache_stats(ctx, &hits, &entries);
    ck_assert_uint_eq(entries, 1);
    ck_assert_uint_eq(hits, 2);
    fhirpam_close(ctx);
    EVP_PKEY_free(key);
}
END_TEST

/* Issue 23 row 11: the check walks everything a response can hold. A
 * batch-response whose entry is a searchset with another patient's data,
 * a Bundle in a Bundle at any depth, a Parameters resource, a contained
 * resource naming another patient: the top-level entry that holds it goes
 * (a resource at the top is not sent). */
START_TEST(check_response_nested)
{
    EVP_PKEY *key = mint_keygen("ES256", 0);
    char bearer[2048];
    fhirpam_context *ctx = obligation_context(key, bearer, sizeof bearer);
    fhirpam_decision *d = get(ctx, bearer, "Observation/1");
    ck_assert_msg(fhirpam_decision_permitted(d), "%s", fhirpam_decision_reason_text(d));
    size_t *remove, nremove;
#define SEARCHSET(...)                                                                             \
    "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"entry\":[" __VA_ARGS__ "]}"
#define ENTRY(r) "{\"resource\":" r "}"
    /* Entries 0, 3, 5 and 7 hold only Patient/123; 1, 2, 4 and 6 hold Patient/456. */
#define E0 ENTRY(SEARCHSET(ENTRY(OBS_123)))
#define E1 ENTRY(SEARCHSET(ENTRY(OBS_123) "," ENTRY(OBS_456)))
#define E2 ENTRY(SEARCHSET(ENTRY(SEARCHSET(ENTRY(SEARCHSET(ENTRY(OBS_456)))))))
#define E3                                                                                         \
    "{\"response\":{\"status\":\"200\",\"outcome\":{\"resourceType\":\"OperationOutcome\"}},"      \
    "\"resource\":" OBS_123 "}"
#define E4                                                                                         \
    ENTRY("{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"a\",\"part\":[{"            \
          "\"name\":\"b\",\"resource\":" OBS_456 "}]}]}")
#define E5                                                                                         \
    ENTRY("{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"a\",\"resource\":" OBS_123  \
          "}]}")
#define REPORT(contained)                                                                          \
    "{\"resourceType\":\"DiagnosticReport\",\"subject\":{\"reference\":\"Patient/123\"},"          \
    "\"contained\":[" contained "]}"
#define E6 ENTRY(REPORT(OBS_456))
#define E7 ENTRY(REPORT("{\"resourceType\":\"Observation\",\"id\":\"o\"}"))
    const char *batch = "{\"resourceType\":\"Bundle\",\"type\":\"batch-response\",\"entry\":[" //
        E0 "," E1 "," E2 "," E3 "," E4 "," E5 "," E6 "," E7 "]}";
    ck_assert_int_eq(fhirpam_check_response(d, batch, strlen(batch), &remove, &nremove), 1);
    ck_assert_uint_eq(nremove, 4);
    ck_assert_uint_eq(remove[0], 1);
    ck_assert_uint_eq(remove[1], 2);
    ck_assert_uint_eq(remove[2], 4);
    ck_assert_uint_eq(remove[3], 6);
    free(remove);
    /* Resources at the top: not sent when anything inside fails. */
    static const struct {
        const char *body;
        int rc;
    } tops[] = {
        {"{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"x\",\"resource\":" OBS_456
         "}]}",
         0},
        {"{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"x\",\"resource\":" OBS_123
         "}]}",
         1},
        {"{\"resourceType\":\"List\",\"subject\":{\"reference\":\"Patient/"
         "123\"},\"contained\":[" OBS_456 "]}",
         0},
        {"{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"issues\":" OBS_456 "}", 0},
        {"{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"contained\":[" OBS_456 "]}", 0},
    };
    for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
        int rc = fhirpam_check_response(d, tops[i].body, strlen(tops[i].body), &remove, &nremove);
        ck_assert_msg(rc == tops[i].rc, "body %zu: %d", i, rc);
        free(remove);
    }
    /* Nested deeper than the bound: the entry goes. */
    char deep[8192] = "";
    for (int i = 0; i < 20; i++)
        strcat(deep,
               "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"entry\":[{\"resource\":");
    strcat(deep, OBS_123);
    for (int i = 0; i < 20; i++)
        strcat(deep, "}]}");
    ck_assert_int_eq(fhirpam_check_response(d, deep, strlen(deep), &remove, &nremove), 1);
    ck_assert_uint_eq(nremove, 1);
    free(remove);
    fhirpam_decision_free(d);
    fhirpam_close(ctx);
    EVP_PKEY_free(key);
}
END_TEST

/* The CLI shows the same check: `eval --response-file` adds what the host
 * would send. */
START_TEST(cli_response_file)
{
    const char *cli = getenv("FHIRPAM_CLI");
    ck_assert_ptr_nonnull(cli);
    EVP_PKEY *key = mint_keygen("ES256", 0);
    char bearer[2048];
    const char *conf = tu_config(obligation_config(key, bearer, sizeof bearer));
    const char *bundle =
        tu_write("response.json", "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"entry\":["
                                  "{\"resource\":" OBS_456 "},{\"resource\":" OBS_123 "}]}");
    const char *single = tu_write("single.json", OBS_456);
    const char *bodies[] = {bundle, single};
    const char *want[] = {"{\"send\":true,\"remove_entries\":[0]}",
                          "{\"send\":false,\"remove_entries\":[]}"};
    for (size_t i = 0; i < 2; i++) {
        char header[2100];
        snprintf(header, sizeof header, "Authorization: %s", bearer);
        char *argv[] = {(char *)cli,
                        "eval",
                        "-c",
                        (char *)conf,
                        "--modules-dir",
                        (char *)tu_modules_dir(),
                        "-s",
                        "s",
                        "--request",
                        "GET Observation/1",
                        "--header",
                        header,
                        "--now",
                        "1800000000",
                        "--response-file",
                        (char *)bodies[i],
                        NULL};
        char *out, *err;
        ck_assert_msg(tu_run(argv, NULL, &out, &err) == 0, "%s %s", out, err);
        json_t *d = json_loads(out, 0, NULL);
        char *response = json_dumps(json_object_get(d, "response"), JSON_COMPACT);
        ck_assert_msg(response != NULL && strcmp(response, want[i]) == 0, "%s", out);
        free(response);
        json_decref(d);
        free(out);
        free(err);
    }
    EVP_PKEY_free(key);
}
END_TEST

START_TEST(bad_arguments)
{
    fhirpam_error err = {{0}};
    ck_assert_ptr_null(modtest_open("patient_link", "{ fhir_version = \"R3\"; }", &err));
    ck_assert_ptr_null(
        modtest_open("patient_link", "{ non_compartment_reads = \"maybe\"; }", &err));
    ck_assert_ptr_null(modtest_open("patient_link", "{ links = \"follow\"; }", &err));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("patient_link");
    TCase *t = tcase_create("patient_link");
    tcase_add_loop_test(t, table, 0, sizeof rows / sizeof rows[0]);
    tcase_add_test(t, bad_arguments);
    tcase_add_test(t, check_response);
    tcase_add_test(t, check_response_nested);
    tcase_add_test(t, cli_response_file);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
