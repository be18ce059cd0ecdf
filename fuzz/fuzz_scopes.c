/*
 * fuzz_scopes.c - the SMART scope parser of scope_check: any text parses
 * without a crash or a leak, and every grant it yields is well formed (a
 * context, a type, at least one letter, named constraints with values).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scopes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16 * 1024)
        return 0;
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    scope_set set;
    memset(&set, 0, sizeof set);
    set.first_context = -1;
    if (scope_set_add(&set, text) == 0) {
        for (size_t i = 0; i < set.n; i++) {
            const grant *g = &set.grants[i];
            if (g->letters == 0 || g->letters > 31 || g->type == NULL || g->type[0] == '\0' ||
                g->type_len != strlen(g->type) || g->context > CONTEXT_SYSTEM)
                abort();
            for (size_t c = 0; c < g->nconstraints; c++) {
                const constraint *ct = &g->constraints[c];
                if (ct->name == NULL || ct->name[0] == '\0' || ct->nvalues == 0)
                    abort();
                for (size_t v = 0; v < ct->nvalues; v++)
                    if (ct->values[v] == NULL || ct->values[v][0] == '\0')
                        abort();
            }
        }
        if (set.n > 0 && set.first_context < 0)
            abort();
    }
    scope_set_free(&set);
    free(text);
    return 0;
}
