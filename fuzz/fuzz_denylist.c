/*
 * fuzz_denylist.c - the deny list parser (modules/revocation/denylist.c),
 * which the revocation module, `fhirpam revoke check`, `list`, `compact` and
 * the checks before an append all share.
 *
 * Any text: the parser answers (rules or a bad line), never crashes, and
 * builds a table from what it accepts. Every rule it accepts, written back
 * with rule_format (what `fhirpam revoke` and `compact` write), parses to
 * the same rule: nothing fhirpam writes can be refused by the module.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "denylist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int round_trip(void *cookie, const rule *r, size_t line)
{
    (void)cookie;
    (void)line;
    char text[4 * DENYLIST_MAX_FIELD + 64];
    size_t n = rule_format(r, text, sizeof text);
    if (n == 0)
        return 0; /* too long to write: fhirpam revoke refuses it */
    if (text[n - 1] != '\n')
        abort();
    text[n - 1] = '\0';
    rule back;
    char err[160];
    if (rule_parse(text, &back, err, sizeof err) != 1 || back.kind != r->kind ||
        back.time != r->time || strcmp(back.iss, r->iss) != 0 ||
        (r->key1 != NULL && strcmp(back.key1, r->key1) != 0) ||
        (r->key2 != NULL && strcmp(back.key2, r->key2) != 0))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char err[1200];
    denylist_parse(text, size, "fuzz", round_trip, NULL, NULL, err, sizeof err);
    memcpy(text, data, size);
    denylist_limits limits = {1800000000, 60, 86400};
    denylist *l = denylist_build(text, size, "fuzz", &limits, err, sizeof err);
    if (l != NULL) {
        int64_t t;
        denylist_find(l, RULE_JTI, "https://ehr.example.org", "a", NULL, &t);
        denylist_free(l);
    }
    free(text);
    return 0;
}
