/*
 * parse.c - Consent JSON into the model (consent.md §1, §3). Everything a
 * request will need is decided here: the version, the base decision, the
 * validity period, and for every provision its type, conditions and path.
 * Anything this module could misread is an error naming the element, so a
 * Consent is either understood or the file is refused (fail closed).
 */
#include "parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "elements.h"
#include "fhirdate.h"

typedef struct parser {
    arena *a;
    const parse_options *o;
    const char *id; /* "Consent/abc", for messages */
    const char *version;
    char *err;
    size_t errlen;
} parser;

static int fail(parser *p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(parser *p, const char *path, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s: %s%s%s", p->id ? p->id : "Consent", path ? path : "",
             path ? ": " : "", what);
    return -1;
}

static const char *member_string(const json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

/* "system|code" of a Coding object; NULL when it has no code, or a system
 * holding '|' (a URI never does; the text would split wrongly). */
static char *coding_key(arena *a, const json_t *coding)
{
    const char *code = member_string(coding, "code");
    const char *system = member_string(coding, "system");
    if (code == NULL || code[0] == '\0' || (system != NULL && strchr(system, '|') != NULL))
        return NULL;
    return arena_printf(a, "%s|%s", system ? system : "", code);
}

static bool has_code(const code_set *s, const char *key)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (strcmp(s->codes[i], key) == 0)
            return true;
    return false;
}

/* Appends the codings of one element: `concepts` true for an array of
 * CodeableConcept, false for an array of Coding. */
static int add_codes(parser *p, const char *path, const char *name, const json_t *element,
                     bool concepts, code_set *out)
{
    if (element == NULL)
        return 0;
    if (!json_is_array(element))
        return fail(p, path, "%s must be an array", name);
    size_t room = out->n;
    size_t i, j;
    const json_t *item, *coding;
    json_array_foreach(element, i, item)
    {
        room += concepts ? json_array_size(json_object_get(item, "coding")) : 1;
    }
    const char **codes = arena_alloc(p->a, (room + 1) * sizeof *codes);
    if (codes == NULL)
        return fail(p, path, "out of memory");
    if (out->n > 0)
        memcpy(codes, out->codes, out->n * sizeof *codes);
    out->codes = codes;
    json_array_foreach(element, i, item)
    {
        if (!json_is_object(item))
            return fail(p, path, "%s[%zu] is not an object", name, i);
        if (!concepts) {
            char *key = coding_key(p->a, item);
            if (key == NULL)
                return fail(p, path, "%s[%zu] has no code (or a system with '|')", name, i);
            if (!has_code(out, key))
                out->codes[out->n++] = key;
            continue;
        }
        const json_t *codings = json_object_get(item, "coding");
        if (codings != NULL && !json_is_array(codings))
            return fail(p, path, "%s[%zu].coding must be an array", name, i);
        if (json_array_size(codings) == 0)
            /* A concept with only text cannot be compared with anything:
             * the rule would be read wider (or narrower) than written. */
            return fail(p, path, "%s[%zu] has no coding", name, i);
        json_array_foreach(codings, j, coding)
        {
            char *key = json_is_object(coding) ? coding_key(p->a, coding) : NULL;
            if (key == NULL)
                return fail(p, path, "%s[%zu].coding[%zu] has no code (or a system with '|')", name,
                            i, j);
            if (!has_code(out, key))
                out->codes[out->n++] = key;
        }
    }
    return 0;
}

static int parse_period(parser *p, const char *path, const json_t *period, bool *has,
                        int64_t *first, int64_t *after)
{
    *has = false;
    if (period == NULL)
        return 0;
    if (!json_is_object(period))
        return fail(p, path, "period is not an object");
    const json_t *start = json_object_get(period, "start"), *end = json_object_get(period, "end");
    int64_t f = INT64_MIN, a = INT64_MAX, unused;
    if (start != NULL && !fhirdate_parse(json_string_value(start), &f, &unused))
        return fail(p, path, "period.start is not a FHIR dateTime");
    if (end != NULL && !fhirdate_parse(json_string_value(end), &unused, &a))
        return fail(p, path, "period.end is not a FHIR dateTime");
    if (f >= a)
        return fail(p, path, "period.start is after period.end");
    *has = start != NULL || end != NULL;
    *first = f;
    *after = a;
    return 0;
}

static int parse_actors(parser *p, const char *path, const json_t *actors, provision *out)
{
    if (actors == NULL)
        return 0;
    if (!json_is_array(actors))
        return fail(p, path, "actor must be an array");
    out->nactors = (uint32_t)json_array_size(actors);
    out->actors = arena_alloc(p->a, (out->nactors + 1) * sizeof *out->actors);
    if (out->actors == NULL)
        return fail(p, path, "out of memory");
    size_t i;
    const json_t *item;
    json_array_foreach(actors, i, item)
    {
        const json_t *ref = json_object_get(item, "reference");
        const char *literal = member_string(ref, "reference");
        const json_t *ident = json_object_get(ref, "identifier");
        actor *a = &out->actors[i];
        if (literal != NULL) {
            /* A relative "Type/id": anything else (an absolute URL, a
             * contained "#x") would compare as a different resource. */
            const char *slash = strchr(literal, '/');
            if (slash == NULL || slash == literal || slash[1] == '\0' ||
                strchr(slash + 1, '/') != NULL || strchr(literal, ':') != NULL || literal[0] == '#')
                return fail(p, path, "actor[%zu].reference \"%s\" is not Type/id", i, literal);
            if ((a->reference = arena_strdup(p->a, literal)) == NULL)
                return fail(p, path, "out of memory");
        }
        if (ident != NULL) {
            const char *value = member_string(ident, "value");
            const char *system = member_string(ident, "system");
            if (value == NULL || value[0] == '\0')
                return fail(p, path, "actor[%zu].reference.identifier has no value", i);
            a->ids.ids = arena_alloc(p->a, sizeof *a->ids.ids);
            if (a->ids.ids == NULL ||
                (a->ids.ids[0] = arena_printf(p->a, "%s|%s", system ? system : "", value)) == NULL)
                return fail(p, path, "out of memory");
            a->ids.n = 1;
            a->resolved = true;
        }
        if (literal == NULL && ident == NULL)
            return fail(p, path, "actor[%zu] has no reference", i);
    }
    return 0;
}

static size_t encode_part(char *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f || c == '%' || c == '|') {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        } else {
            out[n++] = (char)c;
        }
    }
    return n;
}

/* "system|code" with both parts percent-encoded for the redact
 * obligation's text (space, '%', '|' and controls), as core/obligation.c
 * decodes them. */
static char *obligation_token(arena *a, const char *code)
{
    /* The code's own text is "system|code"; the system holds no '|' that
     * matters here (the first one splits, as everywhere in the module). */
    const char *bar = strchr(code, '|');
    size_t slen = bar ? (size_t)(bar - code) : 0;
    const char *c = bar ? bar + 1 : code;
    size_t clen = strlen(c);
    char *out = arena_alloc(a, 3 * (slen + clen) + 2);
    if (out == NULL)
        return NULL;
    size_t n = encode_part(out, code, slen);
    out[n++] = '|';
    n += encode_part(out + n, c, clen);
    out[n] = '\0';
    return out;
}

/* The redact obligation text of a provision's content restrictions. */
static int redact_text(parser *p, const char *path, provision *pr)
{
    const code_set *sets[] = {&pr->security_label, &pr->class_, &pr->code};
    size_t total = 0;
    const char *tokens[3 * 256];
    size_t nt = 0;
    for (size_t s = 0; s < 3; s++)
        for (uint32_t i = 0; i < sets[s]->n; i++) {
            if (nt == sizeof tokens / sizeof tokens[0])
                return fail(p, path, "too many security labels, classes and codes");
            const char *t = obligation_token(p->a, sets[s]->codes[i]);
            if (t == NULL)
                return fail(p, path, "out of memory");
            tokens[nt++] = t;
            total += strlen(t) + 1;
        }
    if (nt == 0)
        return 0;
    char *text = arena_alloc(p->a, total + 1);
    if (text == NULL)
        return fail(p, path, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < nt; i++) {
        size_t len = strlen(tokens[i]);
        if (i > 0)
            text[n++] = ' ';
        memcpy(text + n, tokens[i], len);
        n += len;
    }
    text[n] = '\0';
    pr->redact_text = text;
    return 0;
}

/* confidentiality_order: a rule labelled with a v3-Confidentiality code
 * covers that level and every lower one (the R4 securityLabel comment: "R"
 * applies to all resources labelled "R" or lower), U < L < M < N < R < V.
 * Expanded here, so that the request path still compares exactly. */
static int order_confidentiality(parser *p, const char *path, code_set *labels)
{
    static const char *const levels[] = {CONF_SYSTEM "|U", CONF_SYSTEM "|L", CONF_SYSTEM "|M",
                                         CONF_SYSTEM "|N", CONF_SYSTEM "|R", CONF_SYSTEM "|V"};
    int top = -1;
    for (uint32_t i = 0; i < labels->n; i++)
        for (int k = 0; k < 6; k++)
            if (strcmp(labels->codes[i], levels[k]) == 0 && k > top)
                top = k;
    if (top < 0)
        return 0;
    const char **codes = arena_alloc(p->a, (labels->n + 6) * sizeof *codes);
    if (codes == NULL)
        return fail(p, path, "out of memory");
    memcpy(codes, labels->codes, labels->n * sizeof *codes);
    labels->codes = codes;
    for (int k = 0; k <= top; k++)
        if (!has_code(labels, levels[k]))
            labels->codes[labels->n++] = levels[k];
    return 0;
}

static rule_type flip(rule_type t)
{
    return t == RULE_PERMIT ? RULE_DENY : t == RULE_DENY ? RULE_PERMIT : RULE_NONE;
}

static int parse_type(parser *p, const char *path, const json_t *value, rule_type *out)
{
    const char *t = json_string_value(value);
    if (t != NULL && strcmp(t, "permit") == 0)
        *out = RULE_PERMIT;
    else if (t != NULL && strcmp(t, "deny") == 0)
        *out = RULE_DENY;
    else
        return fail(p, path, "type must be \"permit\" or \"deny\"");
    return 0;
}

static int parse_provision(parser *p, const json_t *o, const char *path, int depth,
                           rule_type parent, provision *out);

static int parse_children(parser *p, const json_t *list, const char *path, int depth,
                          rule_type parent, provision *out)
{
    if (list == NULL)
        return 0;
    if (!json_is_array(list))
        return fail(p, path, "provision must be an array");
    if (depth >= CONSENT_MAX_DEPTH)
        return fail(p, path, "provisions nested deeper than %d", CONSENT_MAX_DEPTH);
    out->nchildren = (uint32_t)json_array_size(list);
    out->children = arena_alloc(p->a, (out->nchildren + 1) * sizeof *out->children);
    if (out->children == NULL)
        return fail(p, path, "out of memory");
    size_t i;
    const json_t *child;
    json_array_foreach(list, i, child)
    {
        char *cpath = path[0] == '\0' ? arena_printf(p->a, "provision[%zu]", i)
                                      : arena_printf(p->a, "%s.provision[%zu]", path, i);
        if (cpath == NULL)
            return fail(p, path, "out of memory");
        if (parse_provision(p, child, cpath, depth + 1, parent, &out->children[i]) != 0)
            return -1;
    }
    return 0;
}

static int parse_provision(parser *p, const json_t *o, const char *path, int depth,
                           rule_type parent, provision *out)
{
    bool r5 = strcmp(p->version, "R5") == 0;
    if (!json_is_object(o))
        return fail(p, path, "not an object");
    out->path = path;
    /* R4: nested rules must carry `type`; one that does not is read as the
     * opposite of its parent, an exception (as LEAP reads every nested
     * rule). R5 has no type: each level flips the one above. */
    const json_t *type = json_object_get(o, "type");
    if (!r5 && type != NULL) {
        if (parse_type(p, path, type, &out->type) != 0)
            return -1;
    } else {
        out->type = flip(parent);
    }
    if (parse_period(p, path, json_object_get(o, "period"), &out->has_period, &out->period_first,
                     &out->period_after) != 0 ||
        parse_actors(p, path, json_object_get(o, "actor"), out) != 0 ||
        add_codes(p, path, "purpose", json_object_get(o, "purpose"), false, &out->purpose) != 0 ||
        add_codes(p, path, "action", json_object_get(o, "action"), true, &out->action) != 0 ||
        add_codes(p, path, "securityLabel", json_object_get(o, "securityLabel"), false,
                  &out->security_label) != 0 ||
        add_codes(p, path, "code", json_object_get(o, "code"), true, &out->code) != 0 ||
        (p->o->confidentiality_order && order_confidentiality(p, path, &out->security_label) != 0))
        return -1;
    if (r5) {
        if (add_codes(p, path, "resourceType", json_object_get(o, "resourceType"), false,
                      &out->class_) != 0 ||
            add_codes(p, path, "documentType", json_object_get(o, "documentType"), false,
                      &out->class_) != 0)
            return -1;
    } else if (add_codes(p, path, "class", json_object_get(o, "class"), false, &out->class_) != 0) {
        return -1;
    }
    static const char *const uncheckable[][2] = {
        {"data", "it restricts `data`, which fhirpam does not check"},
        {"dataPeriod", "it restricts `dataPeriod`, which fhirpam does not check"},
        {"expression", "it has an `expression`, which fhirpam does not evaluate"},
    };
    for (size_t i = 0; i < 3; i++)
        if (json_object_get(o, uncheckable[i][0]) != NULL)
            out->uncheckable = uncheckable[i][1];
    if (redact_text(p, path, out) != 0)
        return -1;
    return parse_children(p, json_object_get(o, "provision"), path, depth, out->type, out);
}

static bool is_status(const char *s)
{
    static const char *const statuses[] = {"draft",    "proposed", "active",           "rejected",
                                           "inactive", "not-done", "entered-in-error", "unknown"};
    for (size_t i = 0; s != NULL && i < sizeof statuses / sizeof statuses[0]; i++)
        if (strcmp(s, statuses[i]) == 0)
            return true;
    return false;
}

/* Every coding of a CodeableConcept (or of each in an array). */
static bool concept_has(const json_t *concept, const char *const *keys, size_t nkeys)
{
    size_t i, j;
    const json_t *c, *coding;
    if (json_is_array(concept)) {
        json_array_foreach(concept, i, c)
        {
            if (concept_has(c, keys, nkeys))
                return true;
        }
        return false;
    }
    json_array_foreach(json_object_get(concept, "coding"), j, coding)
    {
        const char *system = member_string(coding, "system");
        const char *code = member_string(coding, "code");
        if (code == NULL)
            continue;
        size_t slen = system ? strlen(system) : 0;
        for (size_t k = 0; k < nkeys; k++) {
            const char *bar = strchr(keys[k], '|');
            if (bar != NULL && (size_t)(bar - keys[k]) == slen &&
                strncmp(keys[k], system ? system : "", slen) == 0 && strcmp(bar + 1, code) == 0)
                return true;
        }
    }
    return false;
}

/* R4 scope: a consentscope code other than patient-privacy (adr, research,
 * treatment) is not a privacy consent, whatever its category says. */
static bool other_scope(const json_t *scope)
{
    size_t j;
    const json_t *coding;
    json_array_foreach(json_object_get(scope, "coding"), j, coding)
    {
        const char *system = member_string(coding, "system");
        const char *code = member_string(coding, "code");
        if (system != NULL && code != NULL && strcmp(system, SYS_CONSENT_SCOPE) == 0 &&
            strcmp(code, "patient-privacy") != 0)
            return true;
    }
    return false;
}

/* OPTIN / OPTINR permit, OPTOUT / OPTOUTE deny (v3-ActCode). */
static rule_type policy_rule_base(const json_t *rule)
{
    static const char *const permit[] = {SYS_ACT_CODE "|OPTIN", SYS_ACT_CODE "|OPTINR"};
    static const char *const deny[] = {SYS_ACT_CODE "|OPTOUT", SYS_ACT_CODE "|OPTOUTE"};
    bool p = concept_has(rule, permit, 2), d = concept_has(rule, deny, 2);
    return p && !d ? RULE_PERMIT : d && !p ? RULE_DENY : RULE_NONE;
}

/* Which version's Consent r is, by its members (elements.h, from the
 * definitions): one only R4 defines at the root (patient, scope, dateTime,
 * policyRule, ...) or an object provision says R4; one only R5 defines
 * (subject, date, decision, period, ...) or a provision array says R5. Both:
 * NULL, the Consent mixes them. Neither: R4, which the rest then checks. */
static const consent_element_table *version_of(const json_t *r, const char **r4_member,
                                               const char **r5_member)
{
    const char *key;
    const json_t *v;
    *r4_member = *r5_member = NULL;
    json_object_foreach((json_t *)r, key, v)
    {
        const consent_element *in4 = consent_element_find(&consent_elements_r4, -1, key);
        const consent_element *in5 = consent_element_find(&consent_elements_r5, -1, key);
        if (in4 != NULL && in5 == NULL && *r4_member == NULL)
            *r4_member = key;
        else if (in5 != NULL && in4 == NULL && *r5_member == NULL)
            *r5_member = key;
    }
    const json_t *prov = json_object_get(r, "provision");
    if (json_is_object(prov) && *r4_member == NULL)
        *r4_member = "provision (an object)";
    if (json_is_array(prov) && *r5_member == NULL)
        *r5_member = "provision (an array)";
    if (*r4_member != NULL && *r5_member != NULL)
        return NULL;
    return *r5_member != NULL ? &consent_elements_r5 : &consent_elements_r4;
}

int consent_parse(arena *a, const json_t *r, const char *file, const parse_options *o,
                  consent **out, char *err, size_t errlen)
{
    parser p = {a, o, NULL, NULL, err, errlen};
    const char *id = member_string(r, "id");
    if (id == NULL || id[0] == '\0' || strchr(id, '/') != NULL)
        return fail(&p, NULL, "a Consent needs an id");
    if ((p.id = arena_printf(a, "Consent/%s", id)) == NULL)
        return fail(&p, NULL, "out of memory");
    const json_t *prov = json_object_get(r, "provision");
    const char *r4_member, *r5_member;
    const consent_element_table *version = version_of(r, &r4_member, &r5_member);
    if (version == NULL)
        return fail(&p, NULL, "mixes R4 elements (%s) with R5 ones (%s)", r4_member, r5_member);
    bool r5 = version == &consent_elements_r5;
    p.version = version->version;
    char why[300];
    if (consent_elements_check(version, r, why, sizeof why) != 0)
        return fail(&p, NULL, "%s", why);
    const char *status = member_string(r, "status");
    if (!is_status(status))
        return fail(&p, "status", "not a Consent status");
    const json_t *category = json_object_get(r, "category");
    if (category != NULL && !json_is_array(category))
        return fail(&p, "category", "must be an array");

    consent *c = arena_alloc(a, sizeof *c);
    if (c == NULL || (c->file = arena_strdup(a, file)) == NULL)
        return fail(&p, NULL, "out of memory");
    c->id = p.id;
    c->version = p.version;
    const char *subject =
        member_string(json_object_get(r, r5 ? "subject" : "patient"), "reference");
    if (subject == NULL || strncmp(subject, "Patient/", 8) != 0 || subject[8] == '\0' ||
        strchr(subject + 8, '/') != NULL)
        return fail(&p, r5 ? "subject" : "patient", "a privacy Consent needs Patient/<id>");
    if ((c->patient = arena_strdup(a, subject + 8)) == NULL)
        return fail(&p, NULL, "out of memory");
    const json_t *date = json_object_get(r, r5 ? "date" : "dateTime");
    int64_t unused;
    if (date != NULL && !fhirdate_parse(json_string_value(date), &c->date, &unused))
        return fail(&p, r5 ? "date" : "dateTime", "not a FHIR dateTime");
    c->has_date = date != NULL;

    if (r5) {
        const json_t *decision = json_object_get(r, "decision");
        if (decision != NULL && parse_type(&p, "decision", decision, &c->base) != 0)
            return -1;
        if (parse_period(&p, NULL, json_object_get(r, "period"), &c->has_period, &c->period_first,
                         &c->period_after) != 0)
            return -1;
        c->root = (provision){.type = c->base, .path = "decision"};
        if (parse_children(&p, prov, "", 0, c->base, &c->root) != 0)
            return -1;
    } else {
        const json_t *type = prov ? json_object_get(prov, "type") : NULL;
        if (type != NULL && parse_type(&p, "provision", type, &c->base) != 0)
            return -1;
        if (type == NULL)
            c->base = policy_rule_base(json_object_get(r, "policyRule"));
        if (prov != NULL) {
            /* The root's type is the base: flip(flip(base)). */
            if (parse_provision(&p, prov, "provision", 0, flip(c->base), &c->root) != 0)
                return -1;
            /* The root's period is the Consent's validity (R4 has no
             * Consent.period), not a condition. */
            c->has_period = c->root.has_period;
            c->period_first = c->root.period_first;
            c->period_after = c->root.period_after;
            c->root.has_period = false;
        } else {
            c->root = (provision){.type = c->base, .path = "policyRule"};
        }
    }
    /* base == RULE_NONE: not computable; kept, so that it denies rather
     * than vanishes (consent.md §3 rule 3, the module's README). */
    if (strcmp(status, "active") != 0)
        return 0;
    if (!r5 && other_scope(json_object_get(r, "scope")))
        return 0;
    if (!o->any_category) {
        bool in = concept_has(category, o->categories, o->ncategories) ||
                  (!r5 && concept_has(json_object_get(r, "scope"), o->categories, o->ncategories));
        if (!in)
            return 0;
    }
    *out = c;
    return 1;
}

int identifiers_parse(arena *a, const json_t *resource, identifier_set *out, char *err,
                      size_t errlen)
{
    const json_t *ids = json_object_get(resource, "identifier");
    *out = (identifier_set){0};
    if (ids == NULL)
        return 0;
    if (json_is_object(ids)) { /* Patient has an array, a few types one */
        out->ids = arena_alloc(a, sizeof *out->ids);
        const char *value = member_string(ids, "value");
        if (value == NULL) {
            snprintf(err, errlen, "identifier has no value");
            return -1;
        }
        const char *system = member_string(ids, "system");
        if (out->ids == NULL ||
            (out->ids[0] = arena_printf(a, "%s|%s", system ? system : "", value)) == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        out->n = 1;
        return 0;
    }
    if (!json_is_array(ids)) {
        snprintf(err, errlen, "identifier is neither an object nor an array");
        return -1;
    }
    out->ids = arena_alloc(a, (json_array_size(ids) + 1) * sizeof *out->ids);
    if (out->ids == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t i;
    const json_t *id;
    json_array_foreach(ids, i, id)
    {
        const char *value = member_string(id, "value");
        const char *system = member_string(id, "system");
        if (value == NULL || value[0] == '\0') {
            snprintf(err, errlen, "identifier[%zu] has no value", i);
            return -1;
        }
        if ((out->ids[out->n++] = arena_printf(a, "%s|%s", system ? system : "", value)) == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}
