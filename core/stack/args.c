/*
 * args.c - module arguments: the typed `args = { ... }` group of a stack line.
 */
#include "config.h"

#include "cfgread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int args_build(struct fhirpam_args *args, const config_setting_t *group, const char *file, int line)
{
    memset(args, 0, sizeof *args);
    args->group = group;
    int n = snprintf(NULL, 0, "%s:%d", file, line);
    args->where = malloc((size_t)n + 1);
    if (args->where == NULL)
        return -1;
    snprintf(args->where, (size_t)n + 1, "%s:%d", file, line);
    if (group == NULL)
        return 0;
    int count = config_setting_length(group);
    for (int i = 0; i < count; i++) {
        if (config_setting_type(config_setting_get_elem(group, (unsigned)i)) == CONFIG_TYPE_GROUP)
            args->nchildren++;
    }
    if (args->nchildren == 0)
        return 0;
    args->children = calloc(args->nchildren, sizeof *args->children);
    if (args->children == NULL)
        return -1;
    size_t c = 0;
    for (int i = 0; i < count; i++) {
        const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
        if (config_setting_type(m) != CONFIG_TYPE_GROUP)
            continue;
        if (args_build(&args->children[c++], m, file, config_setting_source_line(m)) != 0)
            return -1;
    }
    return 0;
}

void args_free(struct fhirpam_args *args)
{
    for (size_t i = 0; i < args->nchildren; i++)
        args_free(&args->children[i]);
    free(args->children);
    free(args->where);
    memset(args, 0, sizeof *args);
}

FHIRPAM_API bool fhirpam_token_limits(const fhirpam_args *args, int64_t *leeway, int64_t *max_ttl)
{
    if (args == NULL || args->env == NULL || !args->env->has_token_limits)
        return false;
    *leeway = args->env->leeway;
    *max_ttl = args->env->max_ttl;
    return true;
}

static const config_setting_t *member(const fhirpam_args *args, const char *name)
{
    if (args == NULL || args->group == NULL || name == NULL)
        return NULL;
    return config_setting_get_member(args->group, name);
}

FHIRPAM_API const char *fhirpam_args_string(const fhirpam_args *args, const char *name,
                                            const char *fallback)
{
    const config_setting_t *s = member(args, name);
    if (s == NULL || config_setting_type(s) != CONFIG_TYPE_STRING)
        return fallback;
    return config_setting_get_string(s);
}

FHIRPAM_API int64_t fhirpam_args_int(const fhirpam_args *args, const char *name, int64_t fallback)
{
    const config_setting_t *s = member(args, name);
    if (s == NULL)
        return fallback;
    int type = config_setting_type(s);
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return fallback;
    return (int64_t)config_setting_get_int64(s);
}

FHIRPAM_API bool fhirpam_args_bool(const fhirpam_args *args, const char *name, bool fallback)
{
    const config_setting_t *s = member(args, name);
    if (s == NULL || config_setting_type(s) != CONFIG_TYPE_BOOL)
        return fallback;
    return config_setting_get_bool(s) != 0;
}

static bool is_list(const config_setting_t *s)
{
    return s != NULL && (config_setting_type(s) == CONFIG_TYPE_LIST ||
                         config_setting_type(s) == CONFIG_TYPE_ARRAY);
}

FHIRPAM_API size_t fhirpam_args_list_size(const fhirpam_args *args, const char *name)
{
    const config_setting_t *s = member(args, name);
    return is_list(s) ? (size_t)config_setting_length(s) : 0;
}

FHIRPAM_API const char *fhirpam_args_list_item(const fhirpam_args *args, const char *name, size_t i)
{
    const config_setting_t *s = member(args, name);
    if (!is_list(s) || i >= (size_t)config_setting_length(s))
        return NULL;
    const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
    if (e == NULL || config_setting_type(e) != CONFIG_TYPE_STRING)
        return NULL;
    return config_setting_get_string(e);
}

FHIRPAM_API const fhirpam_args *fhirpam_args_group(const fhirpam_args *args, const char *name)
{
    const config_setting_t *s = member(args, name);
    if (s == NULL || config_setting_type(s) != CONFIG_TYPE_GROUP)
        return NULL;
    for (size_t i = 0; i < args->nchildren; i++) {
        if (args->children[i].group == s)
            return &args->children[i];
    }
    return NULL;
}

FHIRPAM_API const char *fhirpam_args_member_name(const fhirpam_args *args, size_t i)
{
    if (args == NULL || args->group == NULL || i >= (size_t)config_setting_length(args->group))
        return NULL;
    return config_setting_name(config_setting_get_elem(args->group, (unsigned)i));
}

FHIRPAM_API const char *fhirpam_args_where(const fhirpam_args *args)
{
    return args != NULL && args->where != NULL ? args->where : "";
}

static const char *arg_type_name(fhirpam_arg_type type)
{
    switch (type) {
    case FHIRPAM_ARG_STRING:
        return "a string";
    case FHIRPAM_ARG_INT:
        return "an integer";
    case FHIRPAM_ARG_BOOL:
        return "a boolean";
    case FHIRPAM_ARG_LIST:
        return "a list of strings";
    case FHIRPAM_ARG_GROUP:
        return "a group";
    }
    return "?";
}

static bool arg_has_type(const config_setting_t *s, fhirpam_arg_type type)
{
    int t = config_setting_type(s);
    switch (type) {
    case FHIRPAM_ARG_STRING:
        return t == CONFIG_TYPE_STRING;
    case FHIRPAM_ARG_INT:
        return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
    case FHIRPAM_ARG_BOOL:
        return t == CONFIG_TYPE_BOOL;
    case FHIRPAM_ARG_GROUP:
        return t == CONFIG_TYPE_GROUP;
    case FHIRPAM_ARG_LIST:
        if (t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY)
            return false;
        for (int i = 0; i < config_setting_length(s); i++) {
            if (config_setting_type(config_setting_get_elem(s, (unsigned)i)) != CONFIG_TYPE_STRING)
                return false;
        }
        return true;
    }
    return false;
}

/* Every argument the line gives must be declared by the module, with its type
 * (STYLE: arguments are declared once, in a table, like nginx directives). */
int args_check(const fhirpam_arg_spec *spec, const char *module_name, const config_setting_t *args,
               const char *file, fhirpam_error *err)
{
    if (args == NULL)
        return 0;
    int n = config_setting_length(args);
    for (int i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(args, (unsigned)i);
        const char *name = config_setting_name(m);
        const fhirpam_arg_spec *found = NULL;
        for (const fhirpam_arg_spec *a = spec; a != NULL && a->name != NULL; a++) {
            if (strcmp(a->name, name) == 0)
                found = a;
        }
        if (found == NULL) {
            char list[512] = "";
            for (const fhirpam_arg_spec *a = spec; a != NULL && a->name != NULL; a++) {
                strncat(list, a->name, sizeof list - strlen(list) - 1);
                if (a[1].name != NULL)
                    strncat(list, ", ", sizeof list - strlen(list) - 1);
            }
            return cfg_fail(err, file, m, "module '%s' has no argument '%s' (it takes: %s)",
                            module_name, name, list[0] ? list : "no arguments");
        }
        if (!arg_has_type(m, found->type))
            return cfg_fail(err, file, m, "argument '%s' of module '%s' must be %s", name,
                            module_name, arg_type_name(found->type));
    }
    return 0;
}
