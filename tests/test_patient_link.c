/*
 * test_patient_link.c - patient_link (issue 5, first part): requests under a
 * patient/ grant stay inside the launch patient's compartment, derived from
 * the FHIR Patient CompartmentDefinition (R4 and R5) and smart-scopes.md
 * §9 A13-A21. Rows: request (and body or stored resource), the patient
 * claim, and the expected code and reason word.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "modtest.h"

#define P123 "{\"patient\":\"123\"}"
#define OBS(subject)                                                                               \
    "{\"resourceType\":\"Observation\",\"status\":\"final\",\"subject\":{\"reference\":\"" subject \
    "\"}}"

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
    {NULL, "PATCH", "Observation/1", "[]", OBS("Patient/123"), P123, MM, "unresolved_patch"},
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
    modtest_close(m);
}
END_TEST

START_TEST(bad_arguments)
{
    fhirpam_error err = {{0}};
    ck_assert_ptr_null(modtest_open("patient_link", "{ fhir_version = \"R3\"; }", &err));
    ck_assert_ptr_null(
        modtest_open("patient_link", "{ non_compartment_reads = \"maybe\"; }", &err));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("patient_link");
    TCase *t = tcase_create("patient_link");
    tcase_add_loop_test(t, table, 0, sizeof rows / sizeof rows[0]);
    tcase_add_test(t, bad_arguments);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
