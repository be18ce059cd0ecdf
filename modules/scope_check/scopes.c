/* scopes.c - see scopes.h. The grammar is strict (A3, A4): anything not
 * exactly a scope grants nothing, and is never read as a wider scope. */
#include "scopes.h"

#include <stdlib.h>
#include <string.h>

static const char *const context_names[] = {"patient", "user", "system"};

const char *scope_context_name(scope_context c)
{
    return context_names[c];
}

static bool is_type(const char *s, size_t len)
{
    if (len == 0 || len > 64 || s[0] < 'A' || s[0] > 'Z')
        return false;
    for (size_t i = 1; i < len; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')))
            return false;
    return true;
}

/* v2 letters: a non-empty, strictly in-order subset of "cruds". */
static int v2_letters(const char *s, size_t len)
{
    static const char order[] = "cruds";
    unsigned letters = 0;
    size_t at = 0;
    for (size_t i = 0; i < len; i++) {
        const char *pos = memchr(order + at, s[i], sizeof order - 1 - at);
        if (pos == NULL)
            return -1;
        at = (size_t)(pos - order) + 1;
        letters |= 1u << (pos - order);
    }
    return len == 0 ? -1 : (int)letters;
}

static bool is_no_data_scope(const char *s, size_t len)
{
    static const char *const words[] = {"launch",  "openid",         "fhirUser",
                                        "profile", "offline_access", "online_access"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i]) == len && memcmp(words[i], s, len) == 0)
            return true;
    if (len > 7 && memcmp(s, "launch/", 7) == 0)
        return true;
    if (len > 2 && s[0] == '_' && s[1] == '_')
        return true;
    return (len > 7 && memcmp(s, "http://", 7) == 0) || (len > 8 && memcmp(s, "https://", 8) == 0);
}

static void grant_free(grant *g)
{
    for (size_t c = 0; c < g->nconstraints; c++) {
        for (size_t v = 0; v < g->constraints[c].nvalues; v++)
            free(g->constraints[c].values[v]);
        free(g->constraints[c].values);
        free(g->constraints[c].name);
    }
    free(g->constraints);
    free(g->type);
    memset(g, 0, sizeof *g);
}

/* Parses one scope; on SCOPE_GRANT fills g (allocating its strings). */
static scope_kind parse(const char *s, size_t len, grant *g, bool *v1)
{
    if (is_no_data_scope(s, len))
        return SCOPE_NO_DATA;
    const char *slash = memchr(s, '/', len);
    if (slash == NULL)
        return SCOPE_MALFORMED;
    size_t clen = (size_t)(slash - s);
    int context = -1;
    for (int c = 0; c < 3; c++)
        if (strlen(context_names[c]) == clen && memcmp(context_names[c], s, clen) == 0)
            context = c;
    const char *type = slash + 1, *end = s + len;
    const char *dot = memchr(type, '.', (size_t)(end - type));
    if (context < 0 || dot == NULL)
        return SCOPE_MALFORMED;
    size_t tlen = (size_t)(dot - type);
    if (!(tlen == 1 && type[0] == '*') && !is_type(type, tlen))
        return SCOPE_MALFORMED;
    const char *perm = dot + 1;
    const char *q = memchr(perm, '?', (size_t)(end - perm));
    size_t plen = (size_t)((q ? q : end) - perm);
    int letters;
    *v1 = false;
    if ((plen == 4 && memcmp(perm, "read", 4) == 0)) {
        letters = LETTER_R | LETTER_S, *v1 = true;
    } else if (plen == 5 && memcmp(perm, "write", 5) == 0) {
        letters = LETTER_C | LETTER_U | LETTER_D, *v1 = true;
    } else if (plen == 1 && perm[0] == '*') {
        letters = LETTER_C | LETTER_R | LETTER_U | LETTER_D | LETTER_S, *v1 = true;
    } else {
        letters = v2_letters(perm, plen);
    }
    if (letters < 0 || (*v1 && q != NULL))
        return SCOPE_MALFORMED;

    memset(g, 0, sizeof *g);
    g->context = (scope_context)context;
    g->letters = (unsigned)letters;
    g->type = strndup(type, tlen);
    g->type_len = tlen;
    if (g->type == NULL)
        return SCOPE_MALFORMED;
    if (q == NULL)
        return SCOPE_GRANT;
    /* Constraints: p=v[,v]&p=v; no modifiers, no chains, nothing empty. */
    const char *c = q + 1;
    if (c == end)
        goto malformed;
    while (c < end) {
        const char *amp = memchr(c, '&', (size_t)(end - c));
        const char *pair_end = amp ? amp : end;
        const char *eq = memchr(c, '=', (size_t)(pair_end - c));
        if (eq == NULL || eq == c || eq + 1 == pair_end)
            goto malformed;
        for (const char *k = c; k < eq; k++)
            if (*k == ':' || *k == '.')
                goto malformed;
        constraint *grown = realloc(g->constraints, (g->nconstraints + 1) * sizeof *grown);
        if (grown == NULL)
            goto malformed;
        g->constraints = grown;
        constraint *ct = &g->constraints[g->nconstraints++];
        memset(ct, 0, sizeof *ct);
        ct->name = strndup(c, (size_t)(eq - c));
        for (const char *v = eq + 1; v < pair_end;) {
            const char *comma = memchr(v, ',', (size_t)(pair_end - v));
            const char *vend = comma ? comma : pair_end;
            if (vend == v)
                goto malformed;
            char **vals = realloc(ct->values, (ct->nvalues + 1) * sizeof *vals);
            if (vals == NULL)
                goto malformed;
            ct->values = vals;
            ct->values[ct->nvalues++] = strndup(v, (size_t)(vend - v));
            v = comma ? comma + 1 : pair_end;
        }
        if (ct->name == NULL)
            goto malformed;
        c = amp ? amp + 1 : end;
        if (amp != NULL && c == end)
            goto malformed;
    }
    return SCOPE_GRANT;
malformed:
    grant_free(g);
    return SCOPE_MALFORMED;
}

scope_kind scope_classify(const char *scope, size_t len)
{
    grant g;
    bool v1;
    scope_kind k = parse(scope, len, &g, &v1);
    if (k == SCOPE_GRANT)
        grant_free(&g);
    return k;
}

int scope_set_add(scope_set *set, const char *text)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        grant g;
        bool v1;
        scope_kind k = parse(p, (size_t)(e - p), &g, &v1);
        if (k == SCOPE_MALFORMED) {
            set->malformed++;
        } else if (k == SCOPE_GRANT) {
            grant *grown = realloc(set->grants, (set->n + 1) * sizeof *grown);
            if (grown == NULL) {
                grant_free(&g);
                return -1;
            }
            set->grants = grown;
            set->grants[set->n++] = g;
            set->has_context[g.context] = true;
            if (set->first_context < 0)
                set->first_context = (int)g.context;
            if (v1)
                set->v1 = true;
            else
                set->v2 = true;
        }
        p = e;
    }
    return 0;
}

void scope_set_free(scope_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        grant_free(&set->grants[i]);
    free(set->grants);
    memset(set, 0, sizeof *set);
    set->first_context = -1;
}
