/* elements.c - see elements.h. Runs at load, never on the request path. */
#include "elements.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

const consent_element *consent_element_find(const consent_element_table *t, int parent,
                                            const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->rows[i].parent == parent && strcmp(t->rows[i].name, name) == 0)
            return &t->rows[i];
    return NULL;
}

/* The modifiers the parser reads (parse.c): every other one present refuses
 * the Consent, since its meaning would be changed in a way fhirpam ignores
 * (FHIR R4 conformance-rules.html#isModifier). */
static bool understood_modifier(const char *name, int parent)
{
    return parent == -1 && (strcmp(name, "status") == 0 || strcmp(name, "scope") == 0 ||
                            strcmp(name, "decision") == 0);
}

static bool holds_member(const json_t *v, const char *name, int depth)
{
    if (depth > 2 * CONSENT_MAX_DEPTH + 32)
        return true; /* deeper than any Consent this module reads: refused */
    size_t i;
    const char *key;
    const json_t *item;
    if (json_is_array(v)) {
        json_array_foreach(v, i, item)
        {
            if (holds_member(item, name, depth + 1))
                return true;
        }
        return false;
    }
    json_object_foreach((json_t *)v, key, item)
    {
        if (strcmp(key, name) == 0 || holds_member(item, name, depth + 1))
            return true;
    }
    return false;
}

typedef struct checker {
    const consent_element_table *t;
    char *err;
    size_t errlen;
} checker;

static int refuse(checker *c, const char *path, const char *name, const char *what)
{
    snprintf(c->err, c->errlen, "%s%s%s: %s", path, path[0] ? "." : "", name, what);
    return -1;
}

static bool shape_ok(const consent_element *e, const json_t *v)
{
    if (e->flags & ELEMENT_PRIMITIVE)
        return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
    return json_is_object(v);
}

/* The `_name` member of a primitive (its id and extensions, R4 json.html
 * #primitive): an object, or for a repeating one an array of objects and
 * nulls. */
static bool primitive_extra_ok(const consent_element *e, const json_t *v)
{
    if (!(e->flags & ELEMENT_MANY))
        return json_is_object(v);
    if (!json_is_array(v))
        return false;
    size_t i;
    const json_t *item;
    json_array_foreach(v, i, item)
    {
        if (!json_is_object(item) && !json_is_null(item))
            return false;
    }
    return true;
}

static int check_object(checker *c, const json_t *o, int backbone, const char *path, int depth);

static int check_value(checker *c, const consent_element *e, const json_t *v, const char *path,
                       int depth)
{
    if (!shape_ok(e, v))
        return refuse(c, path, e->name, "not of the JSON type its definition gives");
    if (!(e->flags & ELEMENT_BACKBONE))
        return 0;
    char sub[256];
    snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", e->name);
    return check_object(c, v, e->members, sub, depth + 1);
}

static int check_object(checker *c, const json_t *o, int backbone, const char *path, int depth)
{
    if (depth > CONSENT_MAX_DEPTH + 2) {
        snprintf(c->err, c->errlen, "provisions nested deeper than %d", CONSENT_MAX_DEPTH);
        return -1;
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        if (backbone == -1 && strcmp(key, "resourceType") == 0)
            continue;
        bool extra = key[0] == '_';
        const consent_element *e = consent_element_find(c->t, backbone, extra ? key + 1 : key);
        if (e == NULL || (extra && !(e->flags & ELEMENT_PRIMITIVE))) {
            char what[96];
            snprintf(what, sizeof what, "not an element of an %s Consent", c->t->version);
            return refuse(c, path, key, what);
        }
        if ((e->flags & ELEMENT_MODIFIER) && !understood_modifier(e->name, e->parent))
            return refuse(c, path, key, "a modifier element fhirpam does not understand");
        if (extra) {
            if (!primitive_extra_ok(e, v))
                return refuse(c, path, key, "not an object of id and extensions");
            continue;
        }
        if (!(e->flags & ELEMENT_MANY)) {
            if (check_value(c, e, v, path, depth) != 0)
                return -1;
            continue;
        }
        if (!json_is_array(v))
            return refuse(c, path, key, "repeats, so it must be an array");
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item)
        {
            if (check_value(c, e, item, path, depth) != 0)
                return -1;
        }
    }
    return 0;
}

int consent_elements_check(const consent_element_table *t, const json_t *resource, char *err,
                           size_t errlen)
{
    checker c = {t, err, errlen};
    if (holds_member(resource, "modifierExtension", 0)) {
        snprintf(err, errlen,
                 "modifierExtension is not understood (refused anywhere in a Consent)");
        return -1;
    }
    return check_object(&c, resource, -1, "", 0);
}
