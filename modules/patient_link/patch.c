/*
 * patch.c - see patch.h. JSON Patch follows RFC 6902 (operations) and
 * RFC 6901 (pointers); FHIRPath Patch follows the FHIR R4 "FHIRPath Patch"
 * page: a Parameters resource whose `operation` parameters have the parts
 * type, path, name, value, index, source and destination.
 */
#include "patch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKEN 128

static json_t *fail(char *why, size_t whylen, const char *msg)
{
    snprintf(why, whylen, "%s", msg);
    return NULL;
}

/* ---- JSON Patch ---- */

/* Reads the next reference token of an RFC 6901 pointer into out,
 * unescaping ~1 and ~0; false on a bad escape or an overlong token. */
static bool next_token(const char **p, char *out)
{
    const char *s = *p + 1; /* past the '/' */
    size_t n = 0;
    for (; *s != '\0' && *s != '/'; s++) {
        char c = *s;
        if (c == '~') {
            if (s[1] != '0' && s[1] != '1')
                return false;
            c = *++s == '0' ? '~' : '/';
        }
        if (n + 1 >= MAX_TOKEN)
            return false;
        out[n++] = c;
    }
    out[n] = '\0';
    *p = s;
    return true;
}

/* An array index as RFC 6901 writes it: digits, no leading zero. */
static bool array_index(const char *token, size_t *out)
{
    if (token[0] == '\0' || (token[0] == '0' && token[1] != '\0') || strlen(token) > 9)
        return false;
    size_t v = 0;
    for (const char *c = token; *c; c++) {
        if (*c < '0' || *c > '9')
            return false;
        v = v * 10 + (size_t)(*c - '0');
    }
    *out = v;
    return true;
}

static json_t *child(json_t *node, const char *token)
{
    size_t i;
    if (json_is_object(node))
        return json_object_get(node, token);
    if (json_is_array(node) && array_index(token, &i))
        return json_array_get(node, i);
    return NULL;
}

/* The node a pointer names, or NULL. */
static json_t *pointer_get(json_t *doc, const char *ptr)
{
    char token[MAX_TOKEN];
    if (*ptr != '\0' && *ptr != '/')
        return NULL;
    while (doc != NULL && *ptr == '/')
        doc = next_token(&ptr, token) ? child(doc, token) : NULL;
    return doc;
}

/* The container holding the pointer's last token, and that token. NULL for
 * the root pointer "" or a parent that does not exist. */
static json_t *pointer_parent(json_t *doc, const char *ptr, char *last)
{
    if (*ptr != '/')
        return NULL;
    const char *slash = strrchr(ptr, '/');
    json_t *parent = doc;
    char token[MAX_TOKEN];
    while (parent != NULL && ptr < slash)
        parent = next_token(&ptr, token) ? child(parent, token) : NULL;
    return parent != NULL && next_token(&ptr, last) ? parent : NULL;
}

/* add: a member is set, an array element inserted ("-": appended). Takes a
 * reference to value. */
static int pointer_add(json_t **doc, const char *ptr, json_t *value)
{
    char last[MAX_TOKEN];
    size_t i;
    if (*ptr == '\0') {
        json_decref(*doc);
        *doc = value;
        return 0;
    }
    json_t *parent = pointer_parent(*doc, ptr, last);
    if (json_is_object(parent))
        return json_object_set_new(parent, last, value);
    if (json_is_array(parent)) {
        if (strcmp(last, "-") == 0)
            return json_array_append_new(parent, value);
        if (array_index(last, &i) && i <= json_array_size(parent))
            return json_array_insert_new(parent, i, value);
    }
    json_decref(value);
    return -1;
}

/* remove: the member or element must exist. */
static int pointer_remove(json_t *doc, const char *ptr)
{
    char last[MAX_TOKEN];
    size_t i;
    json_t *parent = pointer_parent(doc, ptr, last);
    if (json_is_object(parent) && json_object_get(parent, last) != NULL)
        return json_object_del(parent, last);
    if (json_is_array(parent) && array_index(last, &i) && i < json_array_size(parent))
        return json_array_remove(parent, i);
    return -1;
}

/* One operation on *doc; -1 when the server would refuse the patch. */
static int json_patch_op(json_t **doc, const json_t *op, char *why, size_t whylen)
{
    const char *name = json_string_value(json_object_get(op, "op"));
    const char *path = json_string_value(json_object_get(op, "path"));
    const char *from = json_string_value(json_object_get(op, "from"));
    json_t *value = json_object_get(op, "value");
    if (name == NULL || path == NULL) {
        snprintf(why, whylen, "a JSON Patch operation without \"op\" and \"path\"");
        return -1;
    }
    bool ok;
    if (strcmp(name, "add") == 0) {
        ok = value != NULL && pointer_add(doc, path, json_deep_copy(value)) == 0;
    } else if (strcmp(name, "remove") == 0) {
        ok = *path != '\0' && pointer_remove(*doc, path) == 0;
    } else if (strcmp(name, "replace") == 0) {
        ok = value != NULL && pointer_get(*doc, path) != NULL &&
             (*path == '\0' || pointer_remove(*doc, path) == 0) &&
             pointer_add(doc, path, json_deep_copy(value)) == 0;
    } else if (strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) {
        json_t *src = from != NULL ? pointer_get(*doc, from) : NULL;
        size_t flen = from != NULL ? strlen(from) : 0;
        bool into_itself = from != NULL && strncmp(path, from, flen) == 0 && path[flen] == '/';
        json_t *moved = src != NULL ? json_deep_copy(src) : NULL;
        ok = moved != NULL && !(name[0] == 'm' && into_itself) &&
             (name[0] == 'c' || (*from != '\0' && pointer_remove(*doc, from) == 0));
        if (ok)
            ok = pointer_add(doc, path, moved) == 0;
        else
            json_decref(moved);
    } else if (strcmp(name, "test") == 0) {
        json_t *at = pointer_get(*doc, path);
        ok = value != NULL && at != NULL && json_equal(at, value);
    } else {
        snprintf(why, whylen, "JSON Patch has no operation \"%.40s\"", name);
        return -1;
    }
    if (!ok)
        snprintf(why, whylen, "the JSON Patch operation \"%.16s\" at \"%.80s\" does not apply",
                 name, path);
    return ok ? 0 : -1;
}

json_t *json_patch_apply(const json_t *doc, const json_t *ops, char *why, size_t whylen)
{
    if (!json_is_array(ops))
        return fail(why, whylen, "a JSON Patch is an array of operations");
    json_t *out = json_deep_copy(doc);
    size_t i;
    const json_t *op;
    json_array_foreach(ops, i, op)
    {
        if (out == NULL || json_patch_op(&out, op, why, whylen) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* ---- FHIRPath Patch ---- */

typedef struct fp_op {
    const char *type, *path, *name;
    const json_t *value; /* value[x], or the value's parts */
    bool value_is_parts;
    json_int_t index;
    bool has_index;
} fp_op;

/* The value of a part: its value[x] member (FHIR JSON puts the type in the
 * key), NULL when there is none. */
static const json_t *part_value(const json_t *part)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)part, key, v)
    {
        if (strncmp(key, "value", 5) == 0 && key[5] >= 'A' && key[5] <= 'Z')
            return v;
    }
    return NULL;
}

static bool read_op(const json_t *param, fp_op *op)
{
    memset(op, 0, sizeof *op);
    const char *pname = json_string_value(json_object_get(param, "name"));
    const json_t *parts = json_object_get(param, "part");
    if (pname == NULL || strcmp(pname, "operation") != 0 || !json_is_array(parts))
        return false;
    size_t i;
    const json_t *part;
    json_array_foreach(parts, i, part)
    {
        const char *n = json_string_value(json_object_get(part, "name"));
        const json_t *v = part_value(part);
        if (n == NULL)
            return false;
        if (strcmp(n, "type") == 0)
            op->type = json_string_value(v);
        else if (strcmp(n, "path") == 0)
            op->path = json_string_value(v);
        else if (strcmp(n, "name") == 0)
            op->name = json_string_value(v);
        else if (strcmp(n, "index") == 0 && json_is_integer(v))
            op->index = json_integer_value(v), op->has_index = true;
        else if (strcmp(n, "value") == 0) {
            op->value = v != NULL ? v : json_object_get(part, "part");
            op->value_is_parts = v == NULL;
        }
    }
    return op->type != NULL && op->path != NULL;
}

/* A value given as parts (a backbone element): {name: value, ...}. */
static json_t *parts_to_json(const json_t *parts, int depth)
{
    if (!json_is_array(parts) || depth > 8)
        return NULL;
    json_t *obj = json_object();
    size_t i;
    const json_t *part;
    json_array_foreach(parts, i, part)
    {
        const char *n = json_string_value(json_object_get(part, "name"));
        const json_t *v = part_value(part);
        json_t *val =
            v ? json_deep_copy(v) : parts_to_json(json_object_get(part, "part"), depth + 1);
        if (n == NULL || val == NULL || json_object_set_new(obj, n, val) != 0) {
            if (n == NULL)
                json_decref(val); /* json_object_set_new takes it otherwise */
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

static json_t *op_value(const fp_op *op)
{
    if (op->value == NULL)
        return NULL;
    return op->value_is_parts ? parts_to_json(op->value, 0) : json_deep_copy(op->value);
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* The path's first element after the resource type ("" when there is none
 * or it cannot be read), and whether the whole path is a plain chain of
 * names (`Type.a.b`). */
static bool plain_path(const char *path, const char *type, char *first, size_t firstlen)
{
    first[0] = '\0';
    size_t tlen = strlen(type);
    if (strncmp(path, type, tlen) != 0 || (path[tlen] != '\0' && path[tlen] != '.'))
        return false;
    const char *s = path + tlen;
    if (*s == '\0')
        return true;
    size_t n = 0;
    for (s++; is_name_char(*s) && n + 1 < firstlen; s++)
        first[n++] = *s;
    first[n] = '\0';
    if (*s == '(')
        first[0] = '\0'; /* a function on the resource: may reach anything */
    if (n == 0 || (*s != '\0' && *s != '.'))
        return false;
    for (; *s == '.'; s++) {
        if (!is_name_char(s[1]))
            return false;
        while (is_name_char(s[1]))
            s++;
    }
    return *s == '\0';
}

static bool guarded_name(const char *const *guarded, const char *name)
{
    if (name[0] == '\0')
        return true; /* unknown: assume the worst */
    for (; guarded != NULL && *guarded != NULL; guarded++)
        if (strcmp(*guarded, name) == 0)
            return true;
    return false;
}

/* The single node a plain path names (arrays of one element are stepped
 * through; more than one is ambiguous), with its parent and key, for
 * replace and delete. *node is NULL when nothing is there. -1: ambiguous. */
static int resolve(json_t *doc, const char *path, json_t **parent, char *key, json_t **node)
{
    const char *s = strchr(path, '.');
    json_t *cur = doc;
    *parent = NULL;
    *node = doc;
    while (s != NULL) {
        const char *e = strchr(s + 1, '.');
        size_t len = e ? (size_t)(e - s - 1) : strlen(s + 1);
        if (len >= MAX_TOKEN)
            return -1;
        memcpy(key, s + 1, len);
        key[len] = '\0';
        if (json_is_array(cur)) {
            if (json_array_size(cur) != 1)
                return -1;
            cur = json_array_get(cur, 0);
        }
        *parent = cur;
        cur = json_object_get(cur, key);
        if (cur == NULL) {
            *node = NULL;
            if (e != NULL)
                *parent = NULL; /* an element on the way is missing */
            return 0;
        }
        s = e;
    }
    if (json_is_array(cur) && json_array_size(cur) > 1)
        return -1;
    *node = cur;
    return 0;
}

static int fp_apply(json_t *doc, const fp_op *op, char *why, size_t whylen)
{
    json_t *parent, *node;
    char key[MAX_TOKEN];
    if (resolve(doc, op->path, &parent, key, &node) != 0) {
        snprintf(why, whylen, "FHIRPath Patch path %.80s names more than one element", op->path);
        return -1;
    }
    const char *t = op->type;
    if (strcmp(t, "move") == 0)
        return 0; /* reorders a list: no element enters or leaves */
    if (strcmp(t, "delete") == 0) {
        if (node != NULL && parent != NULL)
            json_object_del(parent, key);
        return node == NULL || parent != NULL ? 0 : -1;
    }
    json_t *value = op_value(op);
    int rc = -1;
    if (value == NULL) {
        snprintf(why, whylen, "FHIRPath Patch %.16s without a value", t);
        return -1;
    }
    if (strcmp(t, "replace") == 0 && node != NULL && parent != NULL) {
        rc = json_object_set_new(parent, key, value), value = NULL;
    } else if (strcmp(t, "add") == 0 && json_is_object(node) && op->name != NULL) {
        json_t *existing = json_object_get(node, op->name);
        if (json_is_array(existing))
            rc = json_array_append_new(existing, value);
        else
            rc = existing == NULL ? json_object_set_new(node, op->name, value) : -1;
        value = rc == 0 ? NULL : value;
    } else if (strcmp(t, "insert") == 0 && parent != NULL && op->has_index && op->index >= 0) {
        json_t *list = node;
        if (list == NULL && op->index == 0)
            json_object_set_new(parent, key, list = json_array());
        if (json_is_array(list) && (size_t)op->index <= json_array_size(list))
            rc = json_array_insert_new(list, (size_t)op->index, value), value = NULL;
    }
    json_decref(value);
    if (rc != 0)
        snprintf(why, whylen, "the FHIRPath Patch %.16s at %.80s does not apply", t, op->path);
    return rc;
}

json_t *fhirpath_patch_apply(const json_t *doc, const json_t *params, const char *const *guarded,
                             char *why, size_t whylen)
{
    const char *rt = json_string_value(json_object_get(params, "resourceType"));
    const char *type = json_string_value(json_object_get(doc, "resourceType"));
    const json_t *list = json_object_get(params, "parameter");
    if (rt == NULL || strcmp(rt, "Parameters") != 0 || type == NULL || !json_is_array(list))
        return fail(why, whylen, "a FHIRPath Patch is a Parameters resource");
    json_t *out = json_deep_copy(doc);
    size_t i;
    const json_t *param;
    json_array_foreach(list, i, param)
    {
        fp_op op;
        char first[MAX_TOKEN];
        if (!read_op(param, &op)) {
            json_decref(out);
            return fail(why, whylen, "a FHIRPath Patch operation without type and path");
        }
        bool plain = plain_path(op.path, type, first, sizeof first);
        if (plain && first[0] == '\0' && op.name != NULL) /* add to the resource */
            snprintf(first, sizeof first, "%s", op.name);
        if (!plain || (first[0] == '\0' && strcmp(op.type, "add") != 0)) {
            if (!guarded_name(guarded, first))
                continue; /* cannot move the resource: not evaluated */
            json_decref(out);
            snprintf(why, whylen, "the FHIRPath Patch path %.80s is not evaluated here", op.path);
            return NULL;
        }
        if (fp_apply(out, &op, why, whylen) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* ---- elements touched, without the resource ---- */

bool patch_touched(const json_t *patch, const char *type, void (*fn)(const char *, void *),
                   void *arg)
{
    size_t i;
    const json_t *item;
    char first[MAX_TOKEN];
    if (json_is_array(patch)) {
        json_array_foreach(patch, i, item)
        {
            const char *ptrs[2] = {json_string_value(json_object_get(item, "path")),
                                   json_string_value(json_object_get(item, "from"))};
            for (int k = 0; k < 2; k++) {
                const char *p = ptrs[k];
                if (p == NULL && k == 1)
                    continue;
                if (p == NULL || *p != '/' || !next_token(&p, first))
                    first[0] = '\0';
                fn(first, arg);
            }
        }
        return true;
    }
    const char *rt = json_string_value(json_object_get(patch, "resourceType"));
    const json_t *list = json_object_get(patch, "parameter");
    if (rt == NULL || strcmp(rt, "Parameters") != 0 || !json_is_array(list))
        return false;
    json_array_foreach(list, i, item)
    {
        fp_op op;
        if (!read_op(item, &op)) {
            fn("", arg);
            continue;
        }
        bool plain = plain_path(op.path, type, first, sizeof first);
        if (plain && first[0] == '\0' && op.name != NULL)
            snprintf(first, sizeof first, "%s", op.name);
        /* An unreadable path still names its first element when it starts
         * `Type.name`; otherwise it may touch anything. */
        fn(first, arg);
    }
    return true;
}
