/* stackspec.c - see stackspec.h. */
#include "stackspec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int spec_parse(const char *text, stackspec *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    unsigned level = 0;
    int modules = 0;
    const char *p = text;
    for (;;) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        if (s->n == SPEC_MAX) {
            snprintf(err, errlen, "too many entries");
            return -1;
        }
        if (*p == '}') {
            if (level == 0) {
                snprintf(err, errlen, "unbalanced '}'");
                return -1;
            }
            level--;
            p++;
            continue;
        }
        stack_entry *e = &s->entries[s->n];
        e->level = level;
        if (*p == '{') {
            e->substack_marker = true;
            s->n++;
            level++;
            p++;
            continue;
        }
        /* CONTROL:CODE, the control possibly bracketed with spaces inside. */
        const char *colon = *p == '[' ? strchr(p, ']') : p;
        colon = colon ? strchr(colon, ':') : NULL;
        if (colon == NULL || (size_t)(colon - p) >= sizeof s->controls[0]) {
            snprintf(err, errlen, "no ':' in '%s'", p);
            return -1;
        }
        memcpy(s->controls[s->n], p, (size_t)(colon - p));
        s->controls[s->n][colon - p] = '\0';
        if (stack_control_parse(s->controls[s->n], &e->control, err, errlen) != 0)
            return -1;
        const char *code = colon + 1;
        size_t len = strcspn(code, " ");
        char word[32];
        snprintf(word, sizeof word, "%.*s", (int)len, code);
        fhirpam_code c;
        if (fhirpam_code_from_name(word, &c) == 0)
            s->codes[s->n] = (int)c;
        else if ((word[0] >= '0' && word[0] <= '9') || word[0] == '-')
            s->codes[s->n] = atoi(word);
        else {
            snprintf(err, errlen, "unknown code '%s'", word);
            return -1;
        }
        s->module_no[s->n] = ++modules;
        s->n++;
        p = code + len;
    }
    if (level != 0) {
        snprintf(err, errlen, "unbalanced '{'");
        return -1;
    }
    return 0;
}

static fhirpam_code spec_call(void *cookie, size_t entry)
{
    const stackspec *s = cookie;
    return (fhirpam_code)s->codes[entry];
}

void spec_run(const stackspec *s, stack_result *res, stack_step *steps, char *called,
              size_t calledlen)
{
    stack_step own[SPEC_MAX];
    if (steps == NULL)
        steps = own;
    stack_run(s->entries, s->n, spec_call, (void *)s, steps, res);
    size_t used = 0;
    called[0] = '\0';
    for (size_t k = 0; k < res->nsteps && used < calledlen; k++)
        used += (size_t)snprintf(called + used, calledlen - used, "%s%d", k ? " " : "",
                                 s->module_no[steps[k].entry]);
}
