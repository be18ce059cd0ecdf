/*
 * test_scope_check.c - the scope_check module, table-driven: what a token's SMART scopes allow
 * for each FHIR interaction. Covers the v1/v2 equivalence (.read = .rs, .write = .cud,
 * .* = .cruds), every permission letter against every interaction, wildcards, the union of
 * scopes, the patient/user/system contexts, granular (?param=value) scopes, malformed scopes
 * (malformed = ignore and reject), scopes that grant no data, _include/_revinclude, chains,
 * _has, operations (default and configured), batch/transaction, metadata, mixed_versions,
 * the scope claim's forms, and the insufficient_scope challenge scope.
 *
 * The rows were derived by hand from the SMART App Launch 2.2 text as summarised in
 * shared/ref/smart-scopes.md (sections 0, 1, 2, 5, 6 and decisions A1-A11) and from the
 * module's contract, modules/scope_check/README.md, which settles what the text leaves open.
 * They were not derived from the module's code.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "modtest.h"

#define NOW 1800000000LL

typedef struct row {
    const char *args;   /* module arguments; NULL: none */
    const char *scope;  /* the "scope" claim as a string */
    const char *claims; /* the whole claims object instead; both NULL: no token */
    const char *method; /* FHIR request */
    const char *url;
    const char *header;    /* one "Name: value" header, or NULL */
    const char *body;      /* or NULL */
    fhirpam_code code;     /* expected */
    const char *reason;    /* expected reason word; NULL: not checked */
    const char *challenge; /* expected challenge scope; NULL: not checked */
} row;

/* Rows. The interaction macros expand to method, url, header, body. */
#define OK(...) OK_(__VA_ARGS__)
#define OK_(s, m, u, h, b)                                                                         \
    {                                                                                              \
        .scope = (s), .method = (m), .url = (u), .header = (h), .body = (b),                       \
        .code = FHIRPAM_SUCCESS                                                                    \
    }
#define NO(...) NO_(__VA_ARGS__)
#define NO_(s, m, u, h, b, ch)                                                                     \
    {                                                                                              \
        .scope = (s), .method = (m), .url = (u), .header = (h), .body = (b),                       \
        .code = FHIRPAM_INSUFFICIENT_SCOPE, .reason = "insufficient_scope", .challenge = (ch)      \
    }
#define AOK(...) AOK_(__VA_ARGS__)
#define AOK_(a, s, m, u, h, b)                                                                     \
    {                                                                                              \
        .args = (a), .scope = (s), .method = (m), .url = (u), .header = (h), .body = (b),          \
        .code = FHIRPAM_SUCCESS                                                                    \
    }
#define ANO(...) ANO_(__VA_ARGS__)
#define ANO_(a, s, m, u, h, b, why, ch)                                                            \
    {                                                                                              \
        .args = (a), .scope = (s), .method = (m), .url = (u), .header = (h), .body = (b),          \
        .code = FHIRPAM_INSUFFICIENT_SCOPE, .reason = (why), .challenge = (ch)                     \
    }
#define CL(...) CL_(__VA_ARGS__)
#define CL_(a, c, m, u, h, b, want, why, ch)                                                       \
    {                                                                                              \
        .args = (a), .claims = (c), .method = (m), .url = (u), .header = (h), .body = (b),         \
        .code = (want), .reason = (why), .challenge = (ch)                                         \
    }

#define OBS              "{\"resourceType\":\"Observation\"}"
#define IA_READ          "GET", "Observation/1", NULL, NULL
#define IA_VREAD         "GET", "Observation/1/_history/2", NULL, NULL
#define IA_HIST_I        "GET", "Observation/1/_history", NULL, NULL
#define IA_HIST_T        "GET", "Observation/_history", NULL, NULL
#define IA_SEARCH        "GET", "Observation?code=1234-5", NULL, NULL
#define IA_SEARCH_P      "POST", "Observation/_search", NULL, "code=1234-5"
#define IA_COMPART       "GET", "Patient/123/Observation", NULL, NULL
#define IA_CREATE        "POST", "Observation", NULL, OBS
#define IA_CCREATE       "POST", "Observation", "If-None-Exist: identifier=x", OBS
#define IA_UPDATE        "PUT", "Observation/1", NULL, OBS
#define IA_CUPDATE       "PUT", "Observation?identifier=x", NULL, OBS
#define IA_PATCH         "PATCH", "Observation/1", NULL, "[]"
#define IA_CPATCH        "PATCH", "Observation?identifier=x", NULL, "[]"
#define IA_DELETE        "DELETE", "Observation/1", NULL, NULL
#define IA_CDELETE       "DELETE", "Observation?identifier=x", NULL, NULL
#define IA_HDELETE       "DELETE", "Observation/1/_history/2", NULL, NULL
#define GET(u)           "GET", (u), NULL, NULL
#define HEAD(u)          "HEAD", (u), NULL, NULL
#define POST(u, b)       "POST", (u), NULL, (b)
#define PUT(u)           "PUT", (u), NULL, OBS
#define PATCH(u)         "PATCH", (u), NULL, "[]"
#define DEL(u)           "DELETE", (u), NULL, NULL
#define WITH(m, u, h, b) (m), (u), (h), (b)

/* The same expectations for a v1 scope and its v2 equivalent (§1.3), on Observation. */
#define AS_RS(s, ctx)                                                                              \
    OK(s, IA_READ), OK(s, IA_VREAD), OK(s, IA_HIST_I), OK(s, IA_HIST_T), OK(s, IA_SEARCH),         \
        OK(s, IA_SEARCH_P), OK(s, IA_COMPART), NO(s, IA_CREATE, ctx "/Observation.c"),             \
        NO(s, IA_CCREATE, ctx "/Observation.c"), NO(s, IA_UPDATE, ctx "/Observation.u"),           \
        NO(s, IA_CUPDATE, ctx "/Observation.u"), NO(s, IA_PATCH, ctx "/Observation.u"),            \
        NO(s, IA_CPATCH, ctx "/Observation.u"), NO(s, IA_DELETE, ctx "/Observation.d"),            \
        NO(s, IA_CDELETE, ctx "/Observation.d"), NO(s, IA_HDELETE, ctx "/Observation.d")
#define AS_CUD(s, ctx)                                                                             \
    NO(s, IA_READ, ctx "/Observation.r"), NO(s, IA_VREAD, ctx "/Observation.r"),                   \
        NO(s, IA_HIST_I, ctx "/Observation.r"), NO(s, IA_HIST_T, ctx "/Observation.s"),            \
        NO(s, IA_SEARCH, ctx "/Observation.s"), NO(s, IA_SEARCH_P, ctx "/Observation.s"),          \
        NO(s, IA_COMPART, ctx "/Observation.s"), OK(s, IA_CREATE),                                 \
        NO(s, IA_CCREATE, ctx "/Observation.s"), OK(s, IA_UPDATE),                                 \
        NO(s, IA_CUPDATE, ctx "/Observation.s"), OK(s, IA_PATCH),                                  \
        NO(s, IA_CPATCH, ctx "/Observation.s"), OK(s, IA_DELETE),                                  \
        NO(s, IA_CDELETE, ctx "/Observation.s"), OK(s, IA_HDELETE)
#define AS_CRUDS(s)                                                                                \
    OK(s, IA_READ), OK(s, IA_VREAD), OK(s, IA_HIST_I), OK(s, IA_HIST_T), OK(s, IA_SEARCH),         \
        OK(s, IA_SEARCH_P), OK(s, IA_COMPART), OK(s, IA_CREATE), OK(s, IA_CCREATE),                \
        OK(s, IA_UPDATE), OK(s, IA_CUPDATE), OK(s, IA_PATCH), OK(s, IA_CPATCH), OK(s, IA_DELETE),  \
        OK(s, IA_CDELETE), OK(s, IA_HDELETE)

#define CAT_SYS    "http://terminology.hl7.org/CodeSystem/observation-category"
#define LAB        CAT_SYS "|laboratory"
#define VS         CAT_SYS "|vital-signs"
#define SH         CAT_SYS "|social-history"
#define G_LAB      "patient/Observation.rs?category=" LAB
#define G_LAB_BARE "patient/Observation.rs?category=laboratory"
#define G_LAB_VS   "patient/Observation.rs?category=" LAB "," VS
#define G_TWO      "patient/Observation.rs?category=laboratory&code=1234-5"
#define COND_SYS   "http://terminology.hl7.org/CodeSystem/condition-category"

#define REJECT      "{ malformed = \"reject\"; }"
#define MIXED_DENY  "{ mixed_versions = \"deny\"; }"
#define CUSTOM_OPS  "{ operations = [\"validate c\", \"everything r Patient\"]; }"
#define SCP         "{ claim = \"scp\"; }"
#define BATCH       "{\"resourceType\":\"Bundle\",\"type\":\"batch\"}"
#define TRANSACTION "{\"resourceType\":\"Bundle\",\"type\":\"transaction\"}"
#define IS          FHIRPAM_INSUFFICIENT_SCOPE

static const row rows[] = {
    /* --- Each letter on its own against every interaction (§0.3, §6), patient context. --- */
    OK("patient/Observation.c", IA_CREATE),
    NO("patient/Observation.c", IA_READ, "patient/Observation.r"),
    NO("patient/Observation.c", IA_VREAD, "patient/Observation.r"),
    NO("patient/Observation.c", IA_HIST_I, "patient/Observation.r"),
    NO("patient/Observation.c", IA_HIST_T, "patient/Observation.s"),
    NO("patient/Observation.c", IA_SEARCH, "patient/Observation.s"),
    NO("patient/Observation.c", IA_SEARCH_P, "patient/Observation.s"),
    NO("patient/Observation.c", IA_COMPART, "patient/Observation.s"),
    NO("patient/Observation.c", IA_CCREATE, "patient/Observation.s"), /* A10 */
    NO("patient/Observation.c", IA_UPDATE, "patient/Observation.u"),
    NO("patient/Observation.c", IA_CUPDATE, "patient/Observation.u"),
    NO("patient/Observation.c", IA_PATCH, "patient/Observation.u"),
    NO("patient/Observation.c", IA_CPATCH, "patient/Observation.u"),
    NO("patient/Observation.c", IA_DELETE, "patient/Observation.d"),
    NO("patient/Observation.c", IA_CDELETE, "patient/Observation.d"),
    NO("patient/Observation.c", IA_HDELETE, "patient/Observation.d"),

    OK("patient/Observation.r", IA_READ),
    OK("patient/Observation.r", IA_VREAD),
    OK("patient/Observation.r", IA_HIST_I),
    NO("patient/Observation.r", IA_HIST_T, "patient/Observation.s"), /* r never searches */
    NO("patient/Observation.r", IA_SEARCH, "patient/Observation.s"),
    NO("patient/Observation.r", IA_SEARCH_P, "patient/Observation.s"),
    NO("patient/Observation.r", IA_COMPART, "patient/Observation.s"),
    NO("patient/Observation.r", IA_CREATE, "patient/Observation.c"),
    NO("patient/Observation.r", IA_CCREATE, "patient/Observation.c"),
    NO("patient/Observation.r", IA_UPDATE, "patient/Observation.u"),
    NO("patient/Observation.r", IA_CUPDATE, "patient/Observation.u"),
    NO("patient/Observation.r", IA_PATCH, "patient/Observation.u"),
    NO("patient/Observation.r", IA_CPATCH, "patient/Observation.u"),
    NO("patient/Observation.r", IA_DELETE, "patient/Observation.d"),
    NO("patient/Observation.r", IA_CDELETE, "patient/Observation.d"),
    NO("patient/Observation.r", IA_HDELETE, "patient/Observation.d"),

    OK("patient/Observation.u", IA_UPDATE),
    OK("patient/Observation.u", IA_PATCH),
    NO("patient/Observation.u", IA_CUPDATE, "patient/Observation.s"),
    NO("patient/Observation.u", IA_CPATCH, "patient/Observation.s"),
    NO("patient/Observation.u", IA_READ, "patient/Observation.r"), /* write is not read */
    NO("patient/Observation.u", IA_VREAD, "patient/Observation.r"),
    NO("patient/Observation.u", IA_HIST_I, "patient/Observation.r"),
    NO("patient/Observation.u", IA_HIST_T, "patient/Observation.s"),
    NO("patient/Observation.u", IA_SEARCH, "patient/Observation.s"),
    NO("patient/Observation.u", IA_SEARCH_P, "patient/Observation.s"),
    NO("patient/Observation.u", IA_COMPART, "patient/Observation.s"),
    NO("patient/Observation.u", IA_CREATE, "patient/Observation.c"),
    NO("patient/Observation.u", IA_CCREATE, "patient/Observation.c"),
    NO("patient/Observation.u", IA_DELETE, "patient/Observation.d"),
    NO("patient/Observation.u", IA_CDELETE, "patient/Observation.d"),
    NO("patient/Observation.u", IA_HDELETE, "patient/Observation.d"),

    OK("patient/Observation.d", IA_DELETE),
    OK("patient/Observation.d", IA_HDELETE),
    NO("patient/Observation.d", IA_CDELETE, "patient/Observation.s"),
    NO("patient/Observation.d", IA_READ, "patient/Observation.r"),
    NO("patient/Observation.d", IA_VREAD, "patient/Observation.r"),
    NO("patient/Observation.d", IA_HIST_I, "patient/Observation.r"),
    NO("patient/Observation.d", IA_HIST_T, "patient/Observation.s"),
    NO("patient/Observation.d", IA_SEARCH, "patient/Observation.s"),
    NO("patient/Observation.d", IA_SEARCH_P, "patient/Observation.s"),
    NO("patient/Observation.d", IA_COMPART, "patient/Observation.s"),
    NO("patient/Observation.d", IA_CREATE, "patient/Observation.c"),
    NO("patient/Observation.d", IA_CCREATE, "patient/Observation.c"),
    NO("patient/Observation.d", IA_UPDATE, "patient/Observation.u"),
    NO("patient/Observation.d", IA_CUPDATE, "patient/Observation.u"),
    NO("patient/Observation.d", IA_PATCH, "patient/Observation.u"),
    NO("patient/Observation.d", IA_CPATCH, "patient/Observation.u"),

    OK("patient/Observation.s", IA_HIST_T),
    OK("patient/Observation.s", IA_SEARCH),
    OK("patient/Observation.s", IA_SEARCH_P),
    OK("patient/Observation.s", IA_COMPART),
    NO("patient/Observation.s", IA_READ, "patient/Observation.r"), /* s never reads by id */
    NO("patient/Observation.s", IA_VREAD, "patient/Observation.r"),
    NO("patient/Observation.s", IA_HIST_I, "patient/Observation.r"),
    NO("patient/Observation.s", IA_CREATE, "patient/Observation.c"),
    NO("patient/Observation.s", IA_CCREATE, "patient/Observation.c"),
    NO("patient/Observation.s", IA_UPDATE, "patient/Observation.u"),
    NO("patient/Observation.s", IA_CUPDATE, "patient/Observation.u"),
    NO("patient/Observation.s", IA_PATCH, "patient/Observation.u"),
    NO("patient/Observation.s", IA_CPATCH, "patient/Observation.u"),
    NO("patient/Observation.s", IA_DELETE, "patient/Observation.d"),
    NO("patient/Observation.s", IA_CDELETE, "patient/Observation.d"),
    NO("patient/Observation.s", IA_HDELETE, "patient/Observation.d"),

    /* --- v1 = v2 (§1.3): .read = .rs (never d), .write = .cud, .* = .cruds; user context. */
    AS_RS("user/Observation.read", "user"),
    AS_RS("user/Observation.rs", "user"),
    AS_CUD("user/Observation.write", "user"),
    AS_CUD("user/Observation.cud", "user"),
    AS_CRUDS("user/Observation.*"),
    AS_CRUDS("user/Observation.cruds"),
    /* ... and system context, the challenge naming it. */
    AS_RS("system/Observation.rs", "system"),
    AS_CUD("system/Observation.write", "system"),
    AS_CRUDS("system/*.*"),
    /* Other in-order subsets are valid. */
    OK("patient/Observation.rds", IA_DELETE),
    OK("patient/Observation.rds", IA_SEARCH),
    NO("patient/Observation.rds", IA_UPDATE, "patient/Observation.u"),
    OK("patient/Observation.cs", IA_CCREATE),
    OK("patient/Observation.us", IA_CPATCH),
    OK("patient/Observation.ds", IA_CDELETE),
    NO("patient/Observation.crds", IA_PATCH, "patient/Observation.u"),

    /* --- Wildcards (§1.4): * covers every type, adds no letter. --- */
    OK("patient/*.r", GET("Observation/1")),
    OK("patient/*.r", GET("Condition/7")),
    OK("patient/*.r", GET("Patient/123/_history/3")),
    NO("patient/*.r", GET("Observation?code=1"), "patient/Observation.s"),
    NO("patient/*.r", GET("Condition/_history"), "patient/Condition.s"),
    NO("patient/*.r", GET("_history"), "patient/*.s"),
    NO("patient/*.r", GET(""), "patient/*.s"),
    NO("patient/*.r", GET("Patient/123/*"), "patient/*.s"),
    NO("patient/*.s", GET("Observation/1"), "patient/Observation.r"),
    OK("patient/*.s", GET("Condition?code=x")),
    OK("patient/*.rs", GET("")),
    OK("patient/*.rs", GET("_history")),
    OK("patient/*.rs", GET("?_type=Observation,Condition")),
    OK("patient/*.rs", GET("Patient/123/*")),
    OK("patient/*.cud", POST("Condition", "{\"resourceType\":\"Condition\"}")),
    OK("patient/*.cud", PUT("Condition/1")),
    OK("patient/*.cud", DEL("AllergyIntolerance/1")),
    NO("patient/*.cud", GET("Condition/1"), "patient/Condition.r"),
    OK("patient/*.read", GET("Patient/123")),
    OK("patient/*.read", GET("MedicationRequest?patient=123")),
    NO("patient/*.read", DEL("Patient/123"), "patient/Patient.d"),
    NO("patient/*.read", PUT("Patient/123"), "patient/Patient.u"),
    NO("user/*.write", GET("Encounter/1"), "user/Encounter.r"),
    OK("user/*.write", PATCH("Encounter/1")),
    OK("user/*.*", GET("Practitioner?name=x")),
    OK("system/*.rs", GET("Group/1")),
    NO("system/*.rs", POST("Group", "{}"), "system/Group.c"),

    /* --- System search and history: s on each _type, else on * (§6). --- */
    NO("patient/Observation.rs", GET(""), "patient/*.s"),
    NO("patient/Observation.rs", GET("?name=x"), "patient/*.s"),
    OK("patient/Observation.rs", GET("?_type=Observation")),
    OK("patient/Observation.s", GET("?_type=Observation&code=1")),
    NO("patient/Observation.rs", GET("?_type=Observation,Condition"), "patient/Condition.s"),
    OK("patient/Observation.rs patient/Condition.s", GET("?_type=Observation,Condition")),
    NO("patient/Observation.r", GET("?_type=Observation"), "patient/Observation.s"),
    OK("patient/Observation.s", POST("_search", "_type=Observation")),
    NO("patient/Observation.s", POST("_search", "code=1"), "patient/*.s"),
    OK("patient/*.s", POST("_search", "code=1")),
    NO("patient/Observation.rs", GET("_history"), "patient/*.s"),
    OK("patient/Observation.s", GET("_history?_type=Observation")),
    NO("system/Observation.rs", GET("_history"), "system/*.s"),
    OK("system/*.s", GET("_history")),

    /* --- Compartment searches: s on the type (* for Patient/id/ *). --- */
    NO("patient/Observation.rs", GET("Patient/123/*"), "patient/*.s"),
    NO("patient/Patient.rs", GET("Patient/123/Observation"), "patient/Observation.s"),
    OK("patient/Observation.s", GET("Encounter/9/Observation")),
    OK("patient/Observation.s", GET("Patient/123/Observation?code=1")),
    OK("user/*.s", GET("Patient/123/*")),
    NO("user/*.r", GET("Patient/123/*"), "user/*.s"),

    /* HEAD is GET. */
    OK("patient/Observation.r", HEAD("Observation/1")),
    NO("patient/Observation.s", HEAD("Observation/1"), "patient/Observation.r"),
    OK("patient/Observation.s", HEAD("Observation?code=1")),

    /* --- Union (§0.4): each need against all grants, across types, versions, contexts. --- */
    OK("patient/Observation.r patient/Observation.s", IA_READ),
    OK("patient/Observation.r patient/Observation.s", IA_SEARCH),
    OK("patient/Observation.r patient/Observation.s", IA_HIST_T),
    NO("patient/Observation.r patient/Observation.s", IA_CREATE, "patient/Observation.c"),
    OK("patient/Observation.c patient/Observation.s", IA_CCREATE),
    OK("patient/Observation.u patient/Observation.s", IA_CUPDATE),
    OK("patient/Observation.u patient/Observation.s", IA_CPATCH),
    OK("patient/Observation.d patient/Observation.s", IA_CDELETE),
    OK("patient/Observation.read patient/Observation.d", IA_DELETE),
    OK("patient/Observation.read patient/Observation.write", IA_CDELETE),
    OK("patient/Condition.rs patient/Observation.rs", GET("Condition/1")),
    OK("patient/Condition.rs patient/Observation.rs", GET("Observation/1")),
    NO("patient/Condition.rs patient/Observation.rs", GET("Procedure/1"), "patient/Procedure.r"),
    OK("patient/*.r patient/Observation.s", IA_SEARCH),
    NO("patient/*.r patient/Observation.s", GET("Condition?code=1"), "patient/Condition.s"),
    OK("patient/Observation.r user/Observation.s", IA_SEARCH),
    OK("patient/Observation.r user/Observation.s", IA_READ),
    NO("patient/Observation.r user/Observation.s", IA_CREATE, "patient/Observation.c"),
    NO("user/Observation.r patient/Observation.s", IA_CREATE, "user/Observation.c"),
    NO("system/Observation.rs user/Condition.rs", GET("Procedure/1"), "system/Procedure.r"),
    OK("patient/Observation.rs   patient/Condition.rs", GET("Condition/1")),
    OK("  patient/Observation.r  patient/Observation.s  ", IA_SEARCH),
    NO("patient/Observation.rs", GET("Condition/1"), "patient/Condition.r"),
    NO("user/Observation.rs", GET("Condition?code=1"), "user/Condition.s"),
    NO("system/Observation.rs", GET("Condition?code=1"), "system/Condition.s"),

    /* --- Granular scopes (§1.5, A5, A6). --- */
    NO(G_LAB, GET("Observation"), "patient/Observation.s"),
    OK(G_LAB, GET("Observation?category=" LAB)),
    OK(G_LAB, GET("Observation?category=" CAT_SYS "%7Claboratory")),
    OK(G_LAB, GET("Observation?category=" LAB "&code=1234-5")),
    NO(G_LAB, GET("Observation?category=laboratory"), "patient/Observation.s"), /* bare: wider */
    NO(G_LAB, GET("Observation?category=" VS), "patient/Observation.s"),
    NO(G_LAB, GET("Observation?category=http://example.org/other%7Claboratory"),
       "patient/Observation.s"),
    NO(G_LAB, GET("Observation?code=1234-5"), "patient/Observation.s"),
    NO(G_LAB, GET("Observation?category=" LAB "," VS), "patient/Observation.s"),
    OK(G_LAB, GET("Observation?category=" LAB "&category=" SH)), /* AND: one inside enough */
    OK(G_LAB, GET("Observation?category=" SH "&category=" LAB)),
    NO(G_LAB, GET("Observation?category=" SH "&category=" VS), "patient/Observation.s"),
    NO(G_LAB, GET("Observation?category:not=" LAB), "patient/Observation.s"),
    NO(G_LAB, GET("Observation?category:text=laboratory"), "patient/Observation.s"),
    OK(G_LAB, POST("Observation/_search", "category=" LAB)),
    NO(G_LAB, POST("Observation/_search", "code=1234-5"), "patient/Observation.s"),
    NO(G_LAB, GET("Observation/_history"), "patient/Observation.s"),
    OK(G_LAB, GET("Patient/123/Observation?category=" LAB)),
    NO(G_LAB, GET("Patient/123/Observation"), "patient/Observation.s"),
    NO(G_LAB, GET("Condition?category=" LAB), "patient/Condition.s"),
    /* Bare code in the constraint: any system with that code. */
    OK(G_LAB_BARE, GET("Observation?category=laboratory")),
    OK(G_LAB_BARE, GET("Observation?category=" LAB)),
    OK(G_LAB_BARE, GET("Observation?category=http://example.org/other%7Claboratory")),
    OK(G_LAB_BARE, GET("?_type=Observation&category=laboratory")),
    NO(G_LAB_BARE, GET("?_type=Observation"), "patient/Observation.s"),
    NO(G_LAB_BARE, GET("Observation?category=Laboratory"), "patient/Observation.s"),
    NO(G_LAB_BARE, GET("Observation?category=laboratory,vital-signs"), "patient/Observation.s"),
    /* Several values in the constraint: an OR. */
    OK(G_LAB_VS, GET("Observation?category=" LAB)),
    OK(G_LAB_VS, GET("Observation?category=" VS)),
    OK(G_LAB_VS, GET("Observation?category=" VS "," LAB)),
    NO(G_LAB_VS, GET("Observation?category=" LAB "," SH), "patient/Observation.s"),
    NO(G_LAB_VS, GET("Observation?category=vital-signs"), "patient/Observation.s"),
    OK("patient/Observation.s?category=laboratory,vital-signs", GET("Observation?category=" VS)),
    /* Several constraints: an AND. */
    OK(G_TWO, GET("Observation?category=laboratory&code=1234-5")),
    OK(G_TWO, GET("Observation?code=1234-5&category=" LAB)),
    NO(G_TWO, GET("Observation?category=laboratory"), "patient/Observation.s"),
    NO(G_TWO, GET("Observation?code=1234-5"), "patient/Observation.s"),
    NO(G_TWO, GET("Observation?category=laboratory&code=9999-9"), "patient/Observation.s"),
    /* A granular grant never covers a letter other than s. */
    NO(G_LAB, IA_READ, "patient/Observation.r"),
    NO(G_LAB, IA_VREAD, "patient/Observation.r"),
    NO(G_LAB, IA_HIST_I, "patient/Observation.r"),
    NO("patient/Observation.cruds?category=laboratory", IA_CREATE, "patient/Observation.c"),
    NO("patient/Observation.cruds?category=laboratory", IA_UPDATE, "patient/Observation.u"),
    NO("patient/Observation.cruds?category=laboratory", IA_PATCH, "patient/Observation.u"),
    NO("patient/Observation.cruds?category=laboratory", IA_DELETE, "patient/Observation.d"),
    NO("patient/Observation.cruds?category=laboratory", IA_HDELETE, "patient/Observation.d"),
    OK("patient/Observation.cruds?category=laboratory", GET("Observation?category=laboratory")),
    /* ... unless another grant does. */
    OK(G_LAB " patient/Observation.r", IA_READ),
    OK(G_LAB " patient/Observation.s", GET("Observation")),
    OK("patient/Observation.s " G_LAB, GET("Observation?code=1")),
    OK(G_LAB " patient/*.rs", GET("Observation?category=" VS)),
    /* Two granular grants for one type: either may cover a search. */
    OK(G_LAB " patient/Observation.rs?category=" VS, GET("Observation?category=" VS)),
    OK(G_LAB " patient/Observation.rs?category=" VS, GET("Observation?category=" LAB)),
    NO(G_LAB " patient/Observation.rs?category=" VS, GET("Observation?category=" SH),
       "patient/Observation.s"),
    /* Granular s for conditional writes; the write letter from a plain grant. */
    OK("patient/Observation.u patient/Observation.s?category=laboratory",
       PUT("Observation?category=laboratory")),
    NO("patient/Observation.u patient/Observation.s?category=laboratory",
       PUT("Observation?identifier=x"), "patient/Observation.s"),
    OK("patient/Observation.d patient/Observation.s?category=laboratory",
       DEL("Observation?category=laboratory")),
    NO("patient/Observation.d patient/Observation.s?category=laboratory",
       DEL("Observation?identifier=x"), "patient/Observation.s"),
    OK("patient/Observation.c patient/Observation.s?category=laboratory",
       WITH("POST", "Observation", "If-None-Exist: category=laboratory", OBS)),
    NO("patient/Observation.c patient/Observation.s?category=laboratory", IA_CCREATE,
       "patient/Observation.s"),
    /* US Core Condition category, user context, and a constrained wildcard. */
    OK("user/Condition.rs?category=" COND_SYS "|problem-list-item",
       GET("Condition?category=" COND_SYS "|problem-list-item")),
    NO("user/Condition.rs?category=" COND_SYS "|problem-list-item",
       GET("Condition?category=" COND_SYS "|encounter-diagnosis"), "user/Condition.s"),
    NO("user/Condition.rs?category=" COND_SYS "|problem-list-item", GET("Condition/1"),
       "user/Condition.r"),
    OK("patient/*.rs?category=laboratory", GET("Observation?category=laboratory")),
    NO("patient/*.rs?category=laboratory", GET("Observation"), "patient/Observation.s"),
    NO("patient/*.rs?category=laboratory", GET("Observation/1"), "patient/Observation.r"),
    /* Joins still need their own grants. */
    OK(G_LAB_BARE " patient/Patient.r",
       GET("Observation?category=laboratory&_include=Observation:subject:Patient")),
    NO(G_LAB_BARE, GET("Observation?category=laboratory&_include=Observation:subject:Patient"),
       "patient/Patient.r"),
    NO("patient/Observation.s?category=vital-signs", GET("Observation/$lastn?code=8867-4"),
       "patient/Observation.s"),

    /* --- Malformed scopes, malformed = "ignore" (A1, A4): grant nothing, others apply. --- */
    NO("patient/Observation.sr patient/Condition.rs", IA_SEARCH, "patient/Observation.s"),
    OK("patient/Observation.sr patient/Condition.rs", GET("Condition/1")),
    NO("patient/Observation.rr patient/Condition.rs", IA_READ, "patient/Observation.r"),
    NO("patient/Observation.dus patient/Condition.rs", IA_DELETE, "patient/Observation.d"),
    OK("patient/Observation.dus patient/Condition.rs", GET("Condition?code=1")),
    NO("patient/Observation.RS patient/Condition.rs", IA_READ, "patient/Observation.r"),
    NO("patient/Observation.rx patient/Condition.rs", IA_READ, "patient/Observation.r"),
    NO("patient/Observation.sc patient/Condition.rs", IA_CREATE, "patient/Observation.c"),
    NO("patient/Observation.ss patient/Condition.rs", IA_SEARCH, "patient/Observation.s"),
    NO("patient/Observation. patient/Condition.rs", IA_READ, "patient/Observation.r"),
    NO("patient/Observation patient/Condition.rs", IA_READ, "patient/Observation.r"),
    NO("patient/Observation.read-only patient/Condition.rs", IA_READ, "patient/Observation.r"),
    NO("patient/Observation.all patient/Condition.rs", IA_READ, "patient/Observation.r"),
    NO("Patient/Observation.rs patient/Condition.rs", IA_READ, "patient/Observation.r"),
    OK("Patient/Observation.rs patient/Condition.rs", GET("Condition/1")),
    NO("patient/observation.rs patient/Condition.rs", IA_READ, "patient/Observation.r"),
    NO("*/Observation.rs patient/Condition.rs", IA_READ, "patient/Observation.r"),
    NO("patient/Obs*.rs patient/Condition.rs", IA_READ, "patient/Observation.r"),
    NO("patient/*.R patient/Condition.rs", IA_READ, "patient/Observation.r"),
    NO("patient/Observation.read?category=laboratory patient/Condition.rs",
       GET("Observation?category=laboratory"), "patient/Observation.s"),
    NO("patient/Observation.*?category=laboratory patient/Condition.rs",
       GET("Observation?category=laboratory"), "patient/Observation.s"),
    NO("patient/Observation.rs? patient/Condition.rs", IA_SEARCH, "patient/Observation.s"),
    NO("patient/Observation.rs?category patient/Condition.rs", IA_SEARCH, "patient/Observation.s"),
    NO("patient/Observation.rs?=laboratory patient/Condition.rs", IA_SEARCH,
       "patient/Observation.s"),
    NO("patient/Observation.rs?category= patient/Condition.rs", IA_SEARCH, "patient/Observation.s"),
    NO("patient/Observation.rs?category:not=laboratory patient/Condition.rs", IA_SEARCH,
       "patient/Observation.s"),
    NO("patient/Observation.rs?subject.name=x patient/Condition.rs", IA_SEARCH,
       "patient/Observation.s"),
    OK("patient/Observation.rs?subject.name=x patient/Condition.rs", GET("Condition/1")),

    /* --- malformed = "reject": the whole token is refused. --- */
    ANO(REJECT, "patient/Observation.sr patient/Condition.rs", GET("Condition/1"),
        "malformed_scope", NULL),
    ANO(REJECT, "patient/Condition.rs patient/Observation.rr", GET("Condition/1"),
        "malformed_scope", NULL),
    ANO(REJECT, "patient/Observation.dus patient/Condition.rs", GET("Condition/1"),
        "malformed_scope", NULL),
    ANO(REJECT, "patient/Observation.RS patient/Condition.rs", GET("Condition/1"),
        "malformed_scope", NULL),
    ANO(REJECT, "patient/Observation. patient/Condition.rs", GET("Condition/1"), "malformed_scope",
        NULL),
    ANO(REJECT, "patient/Observation.rx patient/Condition.rs", GET("Condition/1"),
        "malformed_scope", NULL),
    ANO(REJECT, "Patient/Observation.rs patient/Condition.rs", GET("Condition/1"),
        "malformed_scope", NULL),
    ANO(REJECT, "patient/observation.rs patient/Condition.rs", GET("Condition/1"),
        "malformed_scope", NULL),
    ANO(REJECT, "*/Observation.rs patient/Condition.rs", GET("Condition/1"), "malformed_scope",
        NULL),
    ANO(REJECT, "patient/Obs*.rs patient/Condition.rs", GET("Condition/1"), "malformed_scope",
        NULL),
    ANO(REJECT, "patient/Observation.read?category=laboratory patient/Condition.rs",
        GET("Condition/1"), "malformed_scope", NULL),
    ANO(REJECT, "patient/Observation.rs? patient/Condition.rs", GET("Condition/1"),
        "malformed_scope", NULL),
    ANO(REJECT, "patient/Observation.rs?category patient/Condition.rs", GET("Condition/1"),
        "malformed_scope", NULL),
    ANO(REJECT, "patient/Observation.rs?=laboratory patient/Condition.rs", GET("Condition/1"),
        "malformed_scope", NULL),
    ANO(REJECT, "patient/Observation.rs?category= patient/Condition.rs", GET("Condition/1"),
        "malformed_scope", NULL),
    ANO(REJECT, "patient/Observation.rs?category:not=laboratory patient/Condition.rs",
        GET("Condition/1"), "malformed_scope", NULL),
    ANO(REJECT, "patient/Observation.rs?subject.name=x patient/Condition.rs", GET("Condition/1"),
        "malformed_scope", NULL),
    ANO(REJECT, "patient/Observation2.rs patient/Condition.rs", GET("Condition/1"),
        "malformed_scope", NULL),
    ANO(REJECT, "patient/Observation.sc", IA_CREATE, "malformed_scope", NULL),
    ANO(REJECT, "patient/Observation.read-only", IA_READ, "malformed_scope", NULL),
    /* Valid scopes, and scopes that grant no data, are never malformed. */
    AOK(REJECT, "patient/Observation.rs patient/Condition.rs", GET("Condition/1")),
    AOK(REJECT, "patient/Observation.rds", IA_DELETE),
    AOK(REJECT, "patient/Observation.read patient/Observation.*", IA_CDELETE),
    AOK(REJECT, G_LAB, GET("Observation?category=" LAB)),
    AOK(REJECT, "launch launch/patient openid fhirUser offline_access patient/Condition.rs",
        GET("Condition/1")),
    AOK(REJECT, "profile online_access launch/encounter __x patient/Condition.r",
        GET("Condition/1")),
    AOK(REJECT, "http://smarthealthit.org/fhir/scopes/patient/*.read patient/Condition.r",
        GET("Condition/1")),
    ANO(REJECT, "http://smarthealthit.org/fhir/scopes/patient/*.read", GET("Condition/1"),
        "insufficient_scope", "patient/Condition.r"),
    ANO(REJECT, "openid fhirUser", GET("Patient/123"), "insufficient_scope", "patient/Patient.r"),

    /* --- Scopes that grant no data (§2, A11); no resource scope: challenge context patient. */
    NO("launch", GET("Patient/123"), "patient/Patient.r"),
    NO("launch/patient", GET("Patient/123"), "patient/Patient.r"),
    NO("launch/encounter", GET("Encounter/1"), "patient/Encounter.r"),
    NO("openid fhirUser", GET("Patient/123"), "patient/Patient.r"),
    NO("openid fhirUser", GET("Practitioner/9"), "patient/Practitioner.r"),
    NO("profile", GET("Patient/123"), "patient/Patient.r"),
    NO("offline_access", GET("Observation?code=1"), "patient/Observation.s"),
    NO("online_access", GET("Observation/1"), "patient/Observation.r"),
    NO("launch launch/patient openid fhirUser offline_access", GET("Patient/123"),
       "patient/Patient.r"),
    NO("http://smarthealthit.org/fhir/scopes/patient/*.read", GET("Patient/123"),
       "patient/Patient.r"),
    NO("http://openid.net/specs/openid-connect-core-1_0#openid", GET("Patient/123"),
       "patient/Patient.r"),
    NO("__x", GET("Patient/123"), "patient/Patient.r"),
    NO("__patient_all", GET("Observation/1"), "patient/Observation.r"),
    NO("launch openid user/Condition.rs", GET("Patient/123"), "user/Patient.r"),
    CL(NULL, "{\"scope\":\"openid fhirUser\",\"fhirUser\":\"Patient/123\"}", GET("Patient/123"), IS,
       "insufficient_scope", "patient/Patient.r"),

    /* --- Joins (A7, A8). --- */
    NO("patient/Observation.rs", GET("Observation?_include=Observation:subject:Patient"),
       "patient/Patient.r"),
    OK("patient/Observation.rs patient/Patient.r",
       GET("Observation?_include=Observation:subject:Patient")),
    NO("patient/Observation.rs patient/Patient.s",
       GET("Observation?_include=Observation:subject:Patient"), "patient/Patient.r"),
    NO("patient/Observation.rs patient/Patient.r", GET("Observation?_include=Observation:subject"),
       "patient/*.r"),
    OK("patient/Observation.s patient/*.r", GET("Observation?_include=Observation:subject")),
    NO("patient/Observation.rs patient/Patient.r", GET("Observation?_include=*"), "patient/*.r"),
    OK("patient/*.rs", GET("Observation?_include=*")),
    NO("patient/Observation.s patient/Patient.r",
       GET("Observation?_include=Observation:subject:Patient"
           "&_include=Observation:performer:Practitioner"),
       "patient/Practitioner.r"),
    OK("patient/Observation.s patient/Patient.r patient/Practitioner.r",
       GET("Observation?_include=Observation:subject:Patient"
           "&_include=Observation:performer:Practitioner")),
    NO("patient/Observation.s", POST("Observation/_search", "_include=Observation:subject:Patient"),
       "patient/Patient.r"),
    NO("patient/Observation.s",
       GET("Patient/123/Observation?_include=Observation:performer:Practitioner"),
       "patient/Practitioner.r"),
    NO("patient/Observation.s", GET("?_type=Observation&_include=Observation:subject:Patient"),
       "patient/Patient.r"),
    NO("patient/Patient.r", GET("Observation?_include=Observation:subject:Patient"),
       "patient/Observation.s"),
    NO("patient/Patient.rs", GET("Patient?_revinclude=Provenance:target"), "patient/Provenance.s"),
    OK("patient/Patient.rs patient/Provenance.s", GET("Patient?_revinclude=Provenance:target")),
    NO("patient/Patient.rs patient/Provenance.r", GET("Patient?_revinclude=Provenance:target"),
       "patient/Provenance.s"),
    NO("patient/Patient.rs patient/Provenance.s", GET("Patient?_revinclude=*"), "patient/*.s"),
    OK("patient/*.s", GET("Patient?_revinclude=*")),
    NO("user/Encounter.s", GET("Encounter?_revinclude=Observation:encounter"),
       "user/Observation.s"),
    NO("patient/Observation.rs", GET("Observation?subject:Patient.name=peter"),
       "patient/Patient.s"),
    OK("patient/Observation.rs patient/Patient.s", GET("Observation?subject:Patient.name=peter")),
    NO("patient/Observation.rs patient/Patient.r", GET("Observation?subject:Patient.name=peter"),
       "patient/Patient.s"),
    NO("patient/Observation.s patient/Patient.s", GET("Observation?subject.name=peter"),
       "patient/*.s"),
    OK("patient/*.s", GET("Observation?subject.name=peter")),
    /* Every hop of a chain is a join: the second hop here has no type, then a type. */
    NO("patient/Observation.s patient/Patient.s",
       GET("Observation?subject:Patient.organization.name=acme"), "patient/*.s"),
    NO("patient/Observation.s patient/Patient.s",
       GET("Observation?subject:Patient.organization:Organization.name=acme"),
       "patient/Organization.s"),
    OK("patient/Observation.s patient/Patient.s patient/Organization.s",
       GET("Observation?subject:Patient.organization:Organization.name=acme")),
    NO("user/Patient.s", GET("Patient?general-practitioner:Practitioner.name=smith"),
       "user/Practitioner.s"),
    NO("patient/Patient.s", GET("Patient?_has:Observation:patient:code=1234-5"),
       "patient/Observation.s"),
    OK("patient/Patient.s patient/Observation.s",
       GET("Patient?_has:Observation:patient:code=1234-5")),
    NO("patient/Patient.s patient/Observation.r",
       GET("Patient?_has:Observation:patient:code=1234-5"), "patient/Observation.s"),
    NO("patient/Patient.s patient/Observation.s",
       GET("Patient?_has:Observation:patient:_has:AuditEvent:entity:agent=x"),
       "patient/AuditEvent.s"),

    /* --- Operations (A9), default table. --- */
    OK("patient/*.rs", GET("Patient/123/$everything")),
    OK("patient/*.read", GET("Patient/123/$everything")),
    OK("patient/*.rs", POST("Patient/123/$everything", NULL)),
    OK("patient/*.rs", GET("Patient/$everything")),
    NO("patient/*.r", GET("Patient/123/$everything"), "patient/*.s"),
    NO("patient/*.s", GET("Patient/123/$everything"), "patient/*.r"),
    NO("patient/Patient.rs patient/Observation.rs", GET("Patient/123/$everything"), "patient/*.r"),
    OK("system/*.rs", GET("$export")),
    OK("system/*.s", GET("$export")),
    NO("system/Observation.rs", GET("$export"), "system/*.s"),
    NO("system/Observation.s", GET("$export?_type=Observation"), "system/*.s"),
    OK("system/*.read", GET("Group/g1/$export")),
    NO("system/Group.rs", GET("Group/g1/$export"), "system/*.s"),
    OK("system/*.s", GET("Patient/$export")),
    OK("patient/Observation.s", GET("Observation/$lastn?code=8867-4")),
    OK("patient/*.s", GET("Observation/$lastn")),
    NO("patient/Observation.r", GET("Observation/$lastn"), "patient/Observation.s"),
    NO("patient/Observation.s", GET("$lastn"), "patient/*.s"),
    OK("patient/DocumentReference.s", GET("DocumentReference/$docref?patient=123")),
    NO("patient/DocumentReference.r", GET("DocumentReference/$docref?patient=123"),
       "patient/DocumentReference.s"),
    OK("user/ValueSet.rs", GET("ValueSet/$expand?url=http://example.org/vs")),
    OK("user/ValueSet.read", GET("ValueSet/vs1/$expand")),
    OK("user/ValueSet.rs", GET("$expand?url=http://example.org/vs")),
    NO("user/ValueSet.r", GET("ValueSet/$expand?url=http://example.org/vs"), "user/ValueSet.s"),
    NO("user/CodeSystem.rs", GET("ValueSet/$expand?url=http://example.org/vs"), "user/ValueSet.r"),
    ANO(NULL, "user/*.cruds", POST("Observation/$validate", OBS), "operation_not_allowed", NULL),
    ANO(NULL, "user/*.cruds", GET("Patient/123/$meta"), "operation_not_allowed", NULL),
    ANO(NULL, "system/*.*", POST("Patient/$merge", "{}"), "operation_not_allowed", NULL),
    ANO(NULL, "system/*.*", POST("$process-message", "{}"), "operation_not_allowed", NULL),
    /* A configured table replaces the default one. */
    AOK(CUSTOM_OPS, "user/Observation.c", POST("Observation/$validate", OBS)),
    ANO(CUSTOM_OPS, "user/Observation.rs", POST("Observation/$validate", OBS), "insufficient_scope",
        "user/Observation.c"),
    ANO(CUSTOM_OPS, "user/Observation.c", POST("$validate", OBS), "insufficient_scope", "user/*.c"),
    AOK(CUSTOM_OPS, "user/*.c", POST("$validate", OBS)),
    AOK(CUSTOM_OPS, "patient/Patient.r", GET("Patient/1/$everything")),
    AOK(CUSTOM_OPS, "patient/*.r", GET("Patient/1/$everything")),
    ANO(CUSTOM_OPS, "patient/Observation.rs", GET("Patient/1/$everything"), "insufficient_scope",
        "patient/Patient.r"),
    ANO(CUSTOM_OPS, "patient/*.cruds", GET("Observation/$lastn"), "operation_not_allowed", NULL),
    ANO(CUSTOM_OPS, "system/*.*", GET("$export"), "operation_not_allowed", NULL),
    AOK(CUSTOM_OPS, "patient/Observation.r", IA_READ),

    /* --- Batch and transaction: refused until the core splits them. --- */
    ANO(NULL, "user/*.cruds", POST("", BATCH), "bundle_not_split", NULL),
    ANO(NULL, "user/*.cruds", POST("", TRANSACTION), "bundle_not_split", NULL),
    ANO(NULL, "system/*.*", POST("", BATCH), "bundle_not_split", NULL),
    ANO(NULL, "patient/Observation.rs", POST("", TRANSACTION), "bundle_not_split", NULL),
    /* Storing a Bundle resource is a create. */
    OK("user/Bundle.c", POST("Bundle", BATCH)),
    NO("user/Observation.c", POST("Bundle", BATCH), "user/Bundle.c"),

    /* --- GET metadata needs nothing. --- */
    OK("patient/Observation.rs", GET("metadata")),
    OK("openid fhirUser", GET("metadata")),
    OK("launch", HEAD("metadata")),
    OK("user/*.cruds", GET("metadata")),

    /* --- mixed_versions. --- */
    OK("patient/Observation.read patient/Condition.rs", GET("Condition/1")),
    OK("patient/Observation.read patient/Condition.rs", IA_SEARCH),
    ANO(MIXED_DENY, "patient/Observation.read patient/Condition.rs", GET("Condition/1"),
        "mixed_versions", NULL),
    ANO(MIXED_DENY, "patient/*.* user/Observation.s", IA_SEARCH, "mixed_versions", NULL),
    ANO(MIXED_DENY, "patient/Observation.write patient/Observation.r", IA_READ, "mixed_versions",
        NULL),
    AOK(MIXED_DENY, "patient/Observation.read patient/Condition.read", GET("Condition/1")),
    AOK(MIXED_DENY, "patient/Observation.rs patient/Condition.cruds", GET("Condition/1")),
    AOK(MIXED_DENY, "launch openid fhirUser patient/Observation.read", IA_SEARCH),
    AOK(MIXED_DENY, "offline_access patient/Observation.rs", IA_SEARCH),
    ANO(MIXED_DENY, "patient/Observation.write", IA_READ, "insufficient_scope",
        "patient/Observation.r"),
    CL(MIXED_DENY, "{\"scope\":[\"user/Observation.read\",\"user/Observation.cud\"]}", IA_READ, IS,
       "mixed_versions", NULL),

    /* --- The scope claim: string or array; anything else is no scopes. --- */
    CL(NULL, "{\"scope\":[\"patient/Observation.rs\",\"launch\"]}", IA_READ, FHIRPAM_SUCCESS, NULL,
       NULL),
    CL(NULL, "{\"scope\":[\"patient/Observation.rs\",\"launch\"]}", GET("Condition/1"), IS,
       "insufficient_scope", "patient/Condition.r"),
    CL(NULL, "{\"scope\":[\"patient/Observation.r\",\"patient/Observation.s\"]}", IA_SEARCH,
       FHIRPAM_SUCCESS, NULL, NULL),
    CL(NULL, "{\"scope\":[\"user/Observation.read\"]}", IA_DELETE, IS, "insufficient_scope",
       "user/Observation.d"),
    CL(REJECT, "{\"scope\":[\"patient/Condition.rs\",\"patient/Observation.sr\"]}",
       GET("Condition/1"), IS, "malformed_scope", NULL),
    CL(NULL, "{\"scope\":[\"patient/Observation.sr\",\"patient/Condition.rs\"]}",
       GET("Condition/1"), FHIRPAM_SUCCESS, NULL, NULL),
    CL(NULL, "{\"scope\":[]}", IA_READ, IS, NULL, NULL),
    CL(NULL, "{\"scope\":\"\"}", IA_READ, IS, NULL, NULL),
    CL(NULL, "{\"sub\":\"u1\"}", IA_READ, IS, "no_scopes", NULL),
    CL(NULL, "{}", GET("Patient/123"), IS, "no_scopes", NULL),
    CL(NULL, "{\"scope\":42}", IA_READ, IS, "no_scopes", NULL),
    CL(NULL, "{\"scope\":null}", IA_READ, IS, "no_scopes", NULL),
    CL(NULL, "{\"scope\":true}", IA_READ, IS, "no_scopes", NULL),
    CL(NULL, "{\"scope\":{\"patient/Observation.rs\":true}}", IA_READ, IS, "no_scopes", NULL),
    CL(NULL, "{\"scope\":[\"patient/Observation.rs\",7]}", IA_READ, IS, "no_scopes", NULL),
    CL(NULL, "{\"scp\":\"patient/Observation.rs\"}", IA_READ, IS, "no_scopes", NULL),
    CL(SCP, "{\"scp\":\"patient/Observation.rs\"}", IA_READ, FHIRPAM_SUCCESS, NULL, NULL),
    CL(SCP, "{\"scp\":[\"user/Observation.rs\"]}", IA_SEARCH, FHIRPAM_SUCCESS, NULL, NULL),
    CL(SCP, "{\"scp\":\"patient/Observation.rs\"}", IA_DELETE, IS, "insufficient_scope",
       "patient/Observation.d"),
    CL(SCP, "{\"scope\":\"patient/Observation.rs\"}", IA_READ, IS, "no_scopes", NULL),
    /* No token at all. */
    CL(NULL, NULL, IA_READ, FHIRPAM_DENY, "no_token", NULL),
    CL(NULL, NULL, IA_SEARCH, FHIRPAM_DENY, "no_token", NULL),
    CL(REJECT, NULL, IA_CREATE, FHIRPAM_DENY, "no_token", NULL),
};

#define NROWS (sizeof rows / sizeof rows[0])

/* One module instance per distinct argument text, opened before the tests fork. */
#define MAX_INSTANCES 16
static struct {
    const char *args;
    modtest *m;
    char error[sizeof(fhirpam_error)];
} instances[MAX_INSTANCES];
static size_t ninstances;

static bool same_args(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void open_instances(void)
{
    for (size_t i = 0; i < NROWS; i++) {
        size_t k = 0;
        while (k < ninstances && !same_args(instances[k].args, rows[i].args))
            k++;
        if (k < ninstances || k == MAX_INSTANCES)
            continue;
        fhirpam_error err = {{0}};
        instances[k].args = rows[i].args;
        instances[k].m = modtest_open("scope_check", rows[i].args, &err);
        snprintf(instances[k].error, sizeof instances[k].error, "%s", err.text);
        ninstances++;
    }
}

static void close_instances(void)
{
    for (size_t k = 0; k < ninstances; k++)
        modtest_close(instances[k].m);
    ninstances = 0;
}

static modtest *instance_for(const char *args)
{
    for (size_t k = 0; k < ninstances; k++) {
        if (same_args(instances[k].args, args)) {
            ck_assert_msg(instances[k].m != NULL, "cannot open scope_check with %s: %s",
                          args ? args : "no args", instances[k].error);
            return instances[k].m;
        }
    }
    ck_abort_msg("no instance for %s", args ? args : "no args");
    return NULL;
}

START_TEST(scope_rows)
{
    const row *r = &rows[_i];
    modtest *m = instance_for(r->args);
    char claims[1024];
    const char *c = r->claims;
    if (c == NULL && r->scope != NULL) {
        snprintf(claims, sizeof claims, "{\"scope\":\"%s\"}", r->scope);
        c = claims;
    }
    modtest_request req = {.method = r->method,
                           .url = r->url,
                           .claims = c,
                           .now = NOW,
                           .body = r->body,
                           .headers = {r->header, NULL}};
    modtest_result res = modtest_run(m, &req);
    const char *what = r->scope ? r->scope : r->claims ? r->claims : "(no token)";
    ck_assert_msg(res.code == r->code, "row %d [%s] %s %s: got %s (%s: %s), want %s", _i, what,
                  r->method, r->url, fhirpam_code_name(res.code), res.reason, res.reason_text,
                  fhirpam_code_name(r->code));
    if (r->reason != NULL)
        ck_assert_msg(strcmp(res.reason, r->reason) == 0,
                      "row %d [%s] %s %s: reason %s (%s), want %s", _i, what, r->method, r->url,
                      res.reason, res.reason_text, r->reason);
    if (r->challenge != NULL)
        ck_assert_msg(strcmp(res.challenge_scope, r->challenge) == 0,
                      "row %d [%s] %s %s: challenge \"%s\", want \"%s\"", _i, what, r->method,
                      r->url, res.challenge_scope, r->challenge);
}
END_TEST

START_TEST(summary)
{
    size_t permits = 0;
    for (size_t i = 0; i < NROWS; i++)
        permits += rows[i].code == FHIRPAM_SUCCESS;
    printf("scope_check: %zu rows (%zu permit, %zu refuse)\n", NROWS, permits, NROWS - permits);
    fflush(stdout);
}
END_TEST

/* Scope minimisation (issue 4 item 3): a token carrying more than its
 * client's ceiling is refused, whatever the request. */
START_TEST(ceilings)
{
    char path[] = "/tmp/fhirpam-ceilings-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "{\"dashboard\": \"patient/Observation.rs patient/Patient.r\","
                       " \"bulk\": \"system/*.rs\"}";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char args[256];
    snprintf(args, sizeof args, "{ ceilings = \"%s\"; }", path);
    fhirpam_error err = {{0}};
    modtest *m = modtest_open("scope_check", args, &err);
    ck_assert_msg(m != NULL, "%s", err.text);
    static const struct {
        const char *claims;
        fhirpam_code code;
        const char *reason;
    } cases[] = {
        {"{\"client_id\":\"dashboard\",\"scope\":\"patient/Observation.rs\"}", FHIRPAM_SUCCESS,
         NULL},
        {"{\"client_id\":\"dashboard\",\"scope\":\"patient/Observation.r patient/Patient.r\"}",
         FHIRPAM_SUCCESS, NULL},
        {"{\"client_id\":\"dashboard\",\"scope\":\"patient/Observation.rds\"}",
         FHIRPAM_INSUFFICIENT_SCOPE, "overbroad_token"},
        {"{\"client_id\":\"dashboard\",\"scope\":\"patient/*.rs\"}", FHIRPAM_INSUFFICIENT_SCOPE,
         "overbroad_token"},
        {"{\"client_id\":\"dashboard\",\"scope\":\"user/Observation.rs\"}",
         FHIRPAM_INSUFFICIENT_SCOPE, "overbroad_token"},
        {"{\"client_id\":\"bulk\",\"scope\":\"system/Observation.rs\"}", FHIRPAM_SUCCESS, NULL},
        {"{\"client_id\":\"bulk\",\"scope\":\"system/Observation.rs patient/Observation.r\"}",
         FHIRPAM_INSUFFICIENT_SCOPE, "overbroad_token"},
        /* A client without a ceiling is not limited by this check. */
        {"{\"client_id\":\"other\",\"scope\":\"patient/*.cruds\"}", FHIRPAM_SUCCESS, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        modtest_request req = {.url = "Observation/1", .claims = cases[i].claims, .now = 1};
        modtest_result r = modtest_run(m, &req);
        ck_assert_msg(r.code == cases[i].code, "case %zu: %s (%s)", i, fhirpam_code_name(r.code),
                      r.reason_text);
        if (cases[i].reason != NULL)
            ck_assert_msg(strcmp(r.reason, cases[i].reason) == 0, "case %zu: %s (%s)", i, r.reason,
                          r.reason_text);
    }
    modtest_close(m);
    unlink(path);

    /* A ceilings file that is not a JSON object refuses the line. */
    snprintf(args, sizeof args, "{ ceilings = \"/nonexistent/ceilings.json\"; }");
    ck_assert_ptr_null(modtest_open("scope_check", args, &err));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scope_check");
    TCase *t = tcase_create("scope_check");
    tcase_add_unchecked_fixture(t, open_instances, close_instances);
    tcase_add_test(t, summary);
    tcase_add_loop_test(t, scope_rows, 0, (int)NROWS);
    tcase_add_test(t, ceilings);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
