/*
 * scope_check - what a token's SMART scopes allow (issue 4; README.md).
 *
 * The scopes are parsed once per verified token and kept with it; a
 * request then becomes a short list of needs, (resource type, letter), each
 * of which some grant must cover on its own.
 */
#include <fhirpam/module.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scopes.h"

#define MAX_NEEDS      64
#define MAX_OPERATIONS 64

static const fhirpam_arg_spec scope_check_args[] = {
    {"claim", FHIRPAM_ARG_STRING, "scope", "the claim holding the scopes"},
    {"malformed", FHIRPAM_ARG_STRING, "ignore", "ignore | reject a token with a malformed scope"},
    {"mixed_versions", FHIRPAM_ARG_STRING, "allow", "allow | deny tokens mixing v1 and v2 scopes"},
    {"operations", FHIRPAM_ARG_LIST, NULL,
     "\"NAME LETTERS [TYPE]\": what $NAME needs; unlisted operations are denied"},
    {"ceilings", FHIRPAM_ARG_STRING, NULL,
     "JSON file: client_id -> the widest scopes that client may hold"},
    {NULL, 0, NULL, NULL},
};

typedef struct operation {
    char name[64];
    unsigned letters;
    char type[65]; /* "" = the request's type, or "*" at system level */
} operation;

typedef struct ceiling {
    char *client_id;
    scope_set scopes;
} ceiling;

typedef struct scope_check {
    char *claim;
    bool reject_malformed, deny_mixed;
    operation ops[MAX_OPERATIONS];
    size_t nops;
    ceiling *ceilings;
    size_t nceilings;
} scope_check;

static const char *const default_operations[] = {
    "everything rs *", "export s *", "lastn s", "docref s DocumentReference", "expand rs ValueSet"};

static unsigned letters_of(const char *s)
{
    static const char order[] = "cruds";
    unsigned l = 0;
    for (; *s; s++) {
        const char *p = strchr(order, *s);
        if (p == NULL)
            return 0;
        l |= 1u << (p - order);
    }
    return l;
}

static int add_operation(scope_check *sc, const char *text, fhirpam_error *err)
{
    operation op = {0};
    char letters[16] = "";
    int n = sscanf(text, "%63s %15s %64s", op.name, letters, op.type);
    if (n < 2 || letters_of(letters) == 0 || sc->nops == MAX_OPERATIONS) {
        fhirpam_error_set(err, "operations: '%s' is not \"NAME LETTERS [TYPE]\"", text);
        return -1;
    }
    if (op.name[0] == '$')
        memmove(op.name, op.name + 1, strlen(op.name));
    op.letters = letters_of(letters);
    sc->ops[sc->nops++] = op;
    return 0;
}

static void scope_check_close(void *instance)
{
    scope_check *sc = instance;
    if (sc == NULL)
        return;
    for (size_t i = 0; i < sc->nceilings; i++) {
        free(sc->ceilings[i].client_id);
        scope_set_free(&sc->ceilings[i].scopes);
    }
    free(sc->ceilings);
    free(sc->claim);
    free(sc);
}

static int load_ceilings(scope_check *sc, const char *path, fhirpam_error *err)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        fhirpam_error_set(err, "ceilings %s: %s", path, doc ? "not a JSON object" : jerr.text);
        json_decref(doc);
        return -1;
    }
    const char *client;
    json_t *scopes;
    sc->ceilings = calloc(json_object_size(doc) + 1, sizeof *sc->ceilings);
    json_object_foreach(doc, client, scopes)
    {
        if (!json_is_string(scopes)) {
            fhirpam_error_set(err, "ceilings %s: the scopes of '%s' are not a string", path,
                              client);
            json_decref(doc);
            return -1;
        }
        ceiling *c = &sc->ceilings[sc->nceilings++];
        c->client_id = strdup(client);
        c->scopes.first_context = -1;
        scope_set_add(&c->scopes, json_string_value(scopes));
    }
    json_decref(doc);
    return 0;
}

static int scope_check_open(const fhirpam_args *args, void **instance, fhirpam_error *err)
{
    scope_check *sc = calloc(1, sizeof *sc);
    if (sc == NULL) {
        fhirpam_error_set(err, "out of memory");
        return -1;
    }
    sc->claim = strdup(fhirpam_args_string(args, "claim", "scope"));
    const char *malformed = fhirpam_args_string(args, "malformed", "ignore");
    const char *mixed = fhirpam_args_string(args, "mixed_versions", "allow");
    if (strcmp(malformed, "ignore") != 0 && strcmp(malformed, "reject") != 0) {
        fhirpam_error_set(err, "malformed must be \"ignore\" or \"reject\"");
        goto fail;
    }
    if (strcmp(mixed, "allow") != 0 && strcmp(mixed, "deny") != 0) {
        fhirpam_error_set(err, "mixed_versions must be \"allow\" or \"deny\"");
        goto fail;
    }
    sc->reject_malformed = strcmp(malformed, "reject") == 0;
    sc->deny_mixed = strcmp(mixed, "deny") == 0;
    size_t nops = fhirpam_args_list_size(args, "operations");
    if (nops == 0) {
        for (size_t i = 0; i < sizeof default_operations / sizeof *default_operations; i++)
            add_operation(sc, default_operations[i], err);
    }
    for (size_t i = 0; i < nops; i++)
        if (add_operation(sc, fhirpam_args_list_item(args, "operations", i), err) != 0)
            goto fail;
    const char *ceilings = fhirpam_args_string(args, "ceilings", NULL);
    if (ceilings != NULL && load_ceilings(sc, ceilings, err) != 0)
        goto fail;
    *instance = sc;
    return 0;
fail:
    scope_check_close(sc);
    return -1;
}

/* ---- the token's scopes, once per token ---- */

static void free_set(void *p)
{
    scope_set_free(p);
    free(p);
}

/* Reads the scope claim (a string or an array of strings); false when the
 * claim is missing or of another type. */
static bool read_scopes(const scope_check *sc, fhirpam_authz *az, scope_set *set)
{
    memset(set, 0, sizeof *set);
    set->first_context = -1;
    fhirpam_claim_type t = fhirpam_claim_type_of(az, sc->claim);
    if (t == FHIRPAM_CLAIM_STRING)
        return scope_set_add(set, fhirpam_claim_string(az, sc->claim)) == 0;
    if (t != FHIRPAM_CLAIM_ARRAY)
        return false;
    size_t n = fhirpam_claim_array_size(az, sc->claim);
    for (size_t i = 0; i < n; i++) {
        const char *s = fhirpam_claim_array_string(az, sc->claim, i);
        if (s == NULL)
            return false; /* not an array of strings */
        if (strchr(s, ' ') != NULL)
            set->malformed++;
        else if (scope_set_add(set, s) != 0)
            return false;
    }
    return true;
}

/* A failed read is kept as a set with `malformed == SIZE_MAX`. */
static const scope_set *scopes_of(const scope_check *sc, fhirpam_authz *az, scope_set *scratch)
{
    const scope_set *kept = fhirpam_token_data(az, sc);
    if (kept != NULL)
        return kept;
    scope_set *fresh = malloc(sizeof *fresh);
    scope_set *mine = fresh ? fresh : scratch;
    if (!read_scopes(sc, az, mine)) {
        scope_set_free(mine);
        mine->malformed = (size_t)-1;
    }
    if (fresh == NULL)
        return scratch;
    kept = fhirpam_token_data_attach(az, sc, fresh, free_set);
    if (kept == fresh)
        return fresh;
    if (kept != NULL) {
        free_set(fresh);
        return kept;
    }
    *scratch = *fresh; /* no token to keep it with: the caller frees it */
    free(fresh);
    return scratch;
}

/* ---- what the request needs ---- */

/* A letter needed on a type; the type is borrowed from the request (a part
 * of a parameter value, hence the length) or a constant. */
typedef struct need {
    const char *type;
    size_t type_len;
    unsigned letter;
    bool primary; /* the type the request itself searches (not a join) */
} need;

typedef struct needs {
    need item[MAX_NEEDS];
    size_t n;
    bool overflow;
} needs;

static void add_need_n(needs *ns, const char *type, size_t type_len, unsigned letters, bool primary)
{
    for (unsigned bit = 1; bit <= LETTER_S; bit <<= 1) {
        if (!(letters & bit))
            continue;
        if (ns->n == MAX_NEEDS) {
            ns->overflow = true;
            return;
        }
        ns->item[ns->n++] = (need){type, type_len, bit, primary};
    }
}

/* A need of the request itself. */
static void add_need(needs *ns, const char *type, unsigned letters)
{
    add_need_n(ns, type, strlen(type), letters, true);
}

/* A need a join brings (_include, _revinclude, chains, _has). */
static void add_join(needs *ns, const char *type, size_t len, unsigned letters)
{
    add_need_n(ns, type, len, letters, false);
}

/* The types a chain walks through: `param:T.x` needs s on T; each further
 * reference step `.ref.x` needs s on its type (`ref:U`: U; no type: *). */
static void add_chain_needs(needs *ns, const char *modifier, const char *chain)
{
    if (modifier != NULL)
        add_join(ns, modifier, strlen(modifier), LETTER_S);
    else
        add_join(ns, "*", 1, LETTER_S);
    /* chain = step(.step)*: every step but the last is a reference. */
    for (const char *step = chain;;) {
        const char *dot = strchr(step, '.');
        if (dot == NULL)
            break;
        const char *colon = memchr(step, ':', (size_t)(dot - step));
        if (colon != NULL)
            add_join(ns, colon + 1, (size_t)(dot - colon - 1), LETTER_S);
        else
            add_join(ns, "*", 1, LETTER_S);
        step = dot + 1;
    }
}

/* `_has:Src:param:x` (the modifier "Src:param:x"), possibly nested
 * (`Src:param:_has:Src2:param2:x`): s on every Src. */
static void add_has_needs(needs *ns, const char *modifier)
{
    const char *src = modifier;
    while (src != NULL && *src != '\0') {
        const char *colon = strchr(src, ':');
        if (colon == NULL || colon == src) {
            add_join(ns, "*", 1, LETTER_S);
            return;
        }
        add_join(ns, src, (size_t)(colon - src), LETTER_S);
        const char *nested = strstr(colon, ":_has:");
        src = nested ? nested + 6 : NULL;
    }
}

/* Join rules for searches (A7, A8). */
static void add_join_needs(fhirpam_authz *az, needs *ns)
{
    size_t n = fhirpam_fhir_param_count(az);
    for (size_t i = 0; i < n; i++) {
        const char *name = fhirpam_fhir_param_name(az, i);
        const char *mod = fhirpam_fhir_param_modifier(az, i);
        const char *chain = fhirpam_fhir_param_chain(az, i);
        size_t nv = fhirpam_fhir_param_value_count(az, i);
        if (name[0] != '_' && chain == NULL)
            continue; /* an ordinary parameter: no join */
        if (strcmp(name, "_include") == 0) {
            for (size_t j = 0; j < nv; j++) {
                /* Src:param[:Target]; "*" or no target: r on every type. */
                const char *v = fhirpam_fhir_param_value(az, i, j);
                const char *c1 = strchr(v, ':');
                const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                const char *target = c2 != NULL ? c2 + 1 : "*";
                add_join(ns, target, strlen(target), LETTER_R);
            }
        } else if (strcmp(name, "_revinclude") == 0) {
            for (size_t j = 0; j < nv; j++) {
                const char *v = fhirpam_fhir_param_value(az, i, j);
                const char *colon = strchr(v, ':');
                if (colon == NULL || strcmp(v, "*") == 0)
                    add_join(ns, "*", 1, LETTER_S);
                else
                    add_join(ns, v, (size_t)(colon - v), LETTER_S); /* the source type */
            }
        } else if (strcmp(name, "_has") == 0) {
            add_has_needs(ns, mod);
        } else if (chain != NULL) {
            add_chain_needs(ns, mod, chain);
        }
    }
}

static bool is_search(fhirpam_interaction ia)
{
    return ia == FHIRPAM_IA_SEARCH_TYPE || ia == FHIRPAM_IA_SEARCH_SYSTEM ||
           ia == FHIRPAM_IA_SEARCH_COMPARTMENT;
}

/* Fills ns; returns the reason word when the request is refused outright. */
static const char *request_needs(const scope_check *sc, fhirpam_authz *az, needs *ns)
{
    fhirpam_interaction ia = fhirpam_fhir_interaction(az);
    const char *type = fhirpam_fhir_type(az);
    bool cond = fhirpam_fhir_conditional(az);
    switch (ia) {
    case FHIRPAM_IA_CAPABILITIES:
        return NULL;
    case FHIRPAM_IA_READ:
    case FHIRPAM_IA_VREAD:
    case FHIRPAM_IA_HISTORY_INSTANCE:
        add_need(ns, type, LETTER_R);
        break;
    case FHIRPAM_IA_SEARCH_TYPE:
    case FHIRPAM_IA_HISTORY_TYPE:
    case FHIRPAM_IA_SEARCH_COMPARTMENT:
        add_need(ns, type, LETTER_S);
        break;
    case FHIRPAM_IA_SEARCH_SYSTEM:
    case FHIRPAM_IA_HISTORY_SYSTEM: {
        bool typed = false;
        for (size_t i = 0; i < fhirpam_fhir_param_count(az); i++) {
            if (strcmp(fhirpam_fhir_param_name(az, i), "_type") != 0)
                continue;
            for (size_t j = 0; j < fhirpam_fhir_param_value_count(az, i); j++) {
                add_need(ns, fhirpam_fhir_param_value(az, i, j), LETTER_S);
                typed = true;
            }
        }
        if (!typed)
            add_need(ns, "*", LETTER_S);
        break;
    }
    case FHIRPAM_IA_CREATE:
        add_need(ns, type, LETTER_C | (cond ? LETTER_S : 0));
        break;
    case FHIRPAM_IA_UPDATE:
    case FHIRPAM_IA_PATCH:
        add_need(ns, type, LETTER_U | (cond ? LETTER_S : 0));
        break;
    case FHIRPAM_IA_DELETE:
        add_need(ns, type, LETTER_D | (cond ? LETTER_S : 0));
        break;
    case FHIRPAM_IA_OPERATION: {
        fhirpam_operation_level level;
        const char *name = fhirpam_fhir_operation(az, &level);
        const operation *op = NULL;
        for (size_t i = 0; i < sc->nops && op == NULL; i++)
            if (strcmp(sc->ops[i].name, name) == 0)
                op = &sc->ops[i];
        if (op == NULL)
            return "operation_not_allowed";
        const char *t = op->type[0] ? op->type : type ? type : "*";
        add_need(ns, t, op->letters);
        break;
    }
    case FHIRPAM_IA_BATCH:
    case FHIRPAM_IA_TRANSACTION:
        return "bundle_not_split";
    default:
        return "unknown_interaction";
    }
    if (is_search(ia) || ia == FHIRPAM_IA_HISTORY_TYPE || ia == FHIRPAM_IA_HISTORY_SYSTEM)
        add_join_needs(az, ns);
    return ns->overflow ? "too_many_needs" : NULL;
}

/* ---- coverage ---- */

/* A request value against a constraint value (A6): `system|code` matches
 * itself or the bare code; a bare request code only a bare code. */
static bool value_inside(const char *req, const char *allowed)
{
    if (strcmp(req, allowed) == 0)
        return true;
    const char *bar = strchr(req, '|');
    return bar != NULL && strchr(allowed, '|') == NULL && strcmp(bar + 1, allowed) == 0;
}

/* A search of the grant's type is inside every constraint of the grant. */
static bool search_inside(fhirpam_authz *az, const grant *g)
{
    for (size_t c = 0; c < g->nconstraints; c++) {
        const constraint *ct = &g->constraints[c];
        bool satisfied = false;
        for (size_t i = 0; i < fhirpam_fhir_param_count(az) && !satisfied; i++) {
            if (strcmp(fhirpam_fhir_param_name(az, i), ct->name) != 0 ||
                fhirpam_fhir_param_modifier(az, i) != NULL ||
                fhirpam_fhir_param_chain(az, i) != NULL)
                continue;
            bool all = fhirpam_fhir_param_value_count(az, i) > 0;
            for (size_t j = 0; j < fhirpam_fhir_param_value_count(az, i) && all; j++) {
                const char *v = fhirpam_fhir_param_value(az, i, j);
                bool one = false;
                for (size_t k = 0; k < ct->nvalues && !one; k++)
                    one = value_inside(v, ct->values[k]);
                all = one;
            }
            satisfied = all;
        }
        if (!satisfied)
            return false;
    }
    return true;
}

static bool grant_covers(fhirpam_authz *az, const grant *g, const need *n)
{
    if (!(g->letters & n->letter))
        return false;
    bool same_type = g->type_len == n->type_len && memcmp(g->type, n->type, n->type_len) == 0;
    bool wildcard = g->type_len == 1 && g->type[0] == '*';
    if (!wildcard && !same_type)
        return false;
    if (g->nconstraints == 0)
        return true;
    /* Granular: only the request's own search (not a join) can be shown to
     * be inside the constraint from its parameters; r, c, u and d would
     * need the resource itself. */
    return n->letter == LETTER_S && n->primary && search_inside(az, g);
}

/* The first need no grant covers, or NULL; *contexts gets the contexts
 * that on their own cover every need (a bit per scope_context). */
static const need *uncovered(fhirpam_authz *az, const scope_set *set, const needs *ns,
                             unsigned *contexts)
{
    *contexts = 7;
    for (size_t i = 0; i < ns->n; i++) {
        unsigned by = 0;
        for (size_t g = 0; g < set->n && by != 7; g++) {
            unsigned bit = 1u << set->grants[g].context;
            if (!(by & bit) && grant_covers(az, &set->grants[g], &ns->item[i]))
                by |= bit;
        }
        if (by == 0)
            return &ns->item[i];
        *contexts &= by;
    }
    return NULL;
}

/* Every grant of the token lies within the client's ceiling. */
static bool within_ceiling(const scope_set *token, const scope_set *limit)
{
    for (size_t i = 0; i < token->n; i++) {
        const grant *g = &token->grants[i];
        unsigned allowed = 0;
        for (size_t j = 0; j < limit->n; j++) {
            const grant *c = &limit->grants[j];
            if (c->context == g->context && c->nconstraints == 0 &&
                (strcmp(c->type, "*") == 0 || strcmp(c->type, g->type) == 0))
                allowed |= c->letters;
        }
        if ((g->letters & ~allowed) != 0)
            return false;
    }
    return true;
}

static fhirpam_code refuse(fhirpam_authz *az, const char *word, const char *text)
{
    fhirpam_set_reason(az, word, "%s", text);
    return FHIRPAM_INSUFFICIENT_SCOPE;
}

static fhirpam_code scope_check_authorize(void *instance, fhirpam_authz *az)
{
    const scope_check *sc = instance;
    if (!fhirpam_has_token(az)) {
        fhirpam_set_reason(az, "no_token",
                           "scope_check needs a token; this stack runs without one");
        return FHIRPAM_DENY;
    }
    scope_set scratch = {.first_context = -1};
    const scope_set *set = scopes_of(sc, az, &scratch);
    fhirpam_code code = FHIRPAM_SUCCESS;
    needs ns = {.n = 0};
    const char *why;
    if (set->malformed == (size_t)-1) {
        code = refuse(az, "no_scopes", "the token has no usable scope claim");
    } else if (sc->reject_malformed && set->malformed > 0) {
        code = refuse(az, "malformed_scope", "the token carries a scope that does not parse");
    } else if (sc->deny_mixed && set->v1 && set->v2) {
        code = refuse(az, "mixed_versions", "the token mixes SMART v1 and v2 scopes");
    } else if (sc->nceilings > 0) {
        const char *client = fhirpam_claim_string(az, "client_id");
        for (size_t i = 0; client != NULL && i < sc->nceilings; i++) {
            if (strcmp(sc->ceilings[i].client_id, client) == 0 &&
                !within_ceiling(set, &sc->ceilings[i].scopes))
                code = refuse(az, "overbroad_token",
                              "the token carries scopes beyond its client's ceiling");
        }
    }
    if (code != FHIRPAM_SUCCESS)
        goto done;
    if ((why = request_needs(sc, az, &ns)) != NULL) {
        code = refuse(az, why, "this request is not allowed by any scope (see scope_check README)");
        goto done;
    }
    unsigned alone;
    const need *missing = uncovered(az, set, &ns, &alone);
    if (missing != NULL) {
        static const char letters[] = "cruds";
        int bit = 0;
        while ((1u << bit) != missing->letter)
            bit++;
        scope_context ctx =
            set->first_context >= 0 ? (scope_context)set->first_context : CONTEXT_PATIENT;
        char scope[160];
        int tlen = (int)(missing->type_len < 64 ? missing->type_len : 64);
        snprintf(scope, sizeof scope, "%s/%.*s.%c", scope_context_name(ctx), tlen, missing->type,
                 letters[bit]);
        fhirpam_set_reason(az, "insufficient_scope", "no scope grants %c on %.*s", letters[bit],
                           tlen, missing->type);
        fhirpam_set_challenge_scope(az, scope);
        code = FHIRPAM_INSUFFICIENT_SCOPE;
        goto done;
    }
    /* Which context granted it, for patient_link (A2): the first single
     * context that covers every need; else patient, the narrowest. */
    const char *granted = alone & (1u << CONTEXT_SYSTEM) ? "system"
                          : alone & (1u << CONTEXT_USER) ? "user"
                                                         : "patient";
    fhirpam_attr_set(az, "scope_check.context", granted);
done:
    if (set == &scratch)
        scope_set_free(&scratch);
    return code;
}

FHIRPAM_MODULE_DESCRIPTOR = {
    FHIRPAM_MODULE_HEADER,
    .name = "scope_check",
    .version = "1.0",
    .description = "SMART v1/v2 scopes against the FHIR interaction",
    .args = scope_check_args,
    .open = scope_check_open,
    .authorize = scope_check_authorize,
    .close = scope_check_close,
};
