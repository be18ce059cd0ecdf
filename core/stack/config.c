/*
 * config.c - load a configuration file (design §4).
 *
 * Every problem refuses the whole file with "file:line: message": fhirpam is
 * stricter than Linux-PAM here on purpose (design §3). Nothing is half-loaded:
 * on error everything already opened is closed again.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "cfgread.h"
#include "isolate.h"
#include "token.h"

#ifndef FHIRPAM_MODULES_DIR
#define FHIRPAM_MODULES_DIR "/usr/local/lib/fhirpam"
#endif
#ifndef FHIRPAM_WORKER_PATH
#define FHIRPAM_WORKER_PATH "/usr/local/libexec/fhirpam-worker"
#endif

#define CONFIG_MAX_BYTES (1024 * 1024)
/* A flattened stack longer than this is a mistake (or include fan-out). */
#define CONFIG_MAX_FLAT_LINES 1024

enum item_kind { ITEM_LINE, ITEM_INCLUDE, ITEM_SUBSTACK };

typedef struct stack_item {
    enum item_kind kind;
    config_line *line;  /* ITEM_LINE */
    const char *target; /* ITEM_INCLUDE, ITEM_SUBSTACK */
    int source_line;
} stack_item;

typedef struct stack_def {
    const char *name;
    int source_line;
    bool token_required;
    long long deadline_ms; /* 0: the limits group's */
    stack_item *items;
    size_t nitems;
    bool on_path; /* being flattened: seeing it again is a cycle */
} stack_def;

typedef struct loader_state {
    config *c;
    const char *file;
    const char *modules_dir;
    const char *worker_path;
    stack_def *defs;
    size_t ndefs;
    fhirpam_error *err;
} loader_state;

static int fail(loader_state *st, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(loader_state *st, int line, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        fhirpam_error_set(st->err, "%s:%d: %s", st->file, line, msg);
    else
        fhirpam_error_set(st->err, "%s: %s", st->file, msg);
    return -1;
}

static int line_of(const config_setting_t *s)
{
    return s != NULL ? config_setting_source_line(s) : 0;
}

/* Refuse any member of `group` whose name is not in `allowed` (NULL-ended). */
static int check_keys(loader_state *st, const config_setting_t *group, const char *what,
                      const char *const *allowed)
{
    return cfg_check_keys(group, what, allowed, st->file, st->err);
}

/* A string member, or NULL when absent; -1 (via *bad) when of another type. */
static const char *string_member(loader_state *st, const config_setting_t *group, const char *name,
                                 bool *bad)
{
    const config_setting_t *s = config_setting_get_member(group, name);
    if (s == NULL)
        return NULL;
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        fail(st, line_of(s), "'%s' must be a string", name);
        *bad = true;
        return NULL;
    }
    return config_setting_get_string(s);
}

/* libconfig would open @include'd files itself, behind our ownership checks:
 * the configuration is one file (design §4). */
static int refuse_includes(loader_state *st, const char *text)
{
    int line = 1;
    for (const char *p = text; *p != '\0'; line++) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "@include", 8) == 0)
            return fail(st, line, "@include is not supported: the configuration is one file");
        p = strchr(p, '\n');
        if (p == NULL)
            break;
        p++;
    }
    return 0;
}

static bool valid_module_name(const char *name)
{
    if (*name == '\0')
        return false;
    for (const char *p = name; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return false;
    }
    return true;
}

/*
 * isolation = "process": the module is copied and its ELF checked here as
 * for any module, but its code runs only in isolation workers (isolate.h),
 * which check its arguments and open it; their refusal is this line's.
 */
static int open_isolated(loader_state *st, config_line *l, const config_setting_t *g,
                         const char *path)
{
    long long workers = 4;
    if (cfg_int(g, "workers", 1, 64, &workers, st->file, st->err) != 0)
        return -1;
    char why[1024];
    l->file = module_image(&st->c->files, path, why, sizeof why);
    if (l->file == NULL)
        return fail(st, l->source_line, "module '%s' (%s) %s", l->module_name, path, why);
    if (st->c->worker_fd < 0) {
        st->c->worker_fd = trusted_open(st->worker_path, why, sizeof why);
        if (st->c->worker_fd < 0)
            return fail(st, l->source_line, "the isolation worker %s %s", st->worker_path, why);
    }
    isolate_spec spec = {
        .worker_fd = st->c->worker_fd,
        .image_fd = l->file->image_fd,
        .config_path = st->file,
        .config_text = st->c->text,
        .config_len = st->c->text_len,
        .stack = l->stack_name,
        .index = l->index,
        .module = l->module_name,
        .fhir_base = st->c->fhir_base,
        .workers = (unsigned)workers,
    };
    l->pool = isolated_pool_new(&spec, why, sizeof why);
    if (l->pool == NULL) {
        fhirpam_error_set(st->err, "%s", why);
        return -1;
    }
    return 0;
}

static int open_line_module(loader_state *st, config_line *l, const config_setting_t *g,
                            const config_setting_t *args)
{
    char path[4096];
    if (strchr(l->module_name, '/') != NULL) {
        if (l->module_name[0] != '/')
            return fail(st, l->source_line, "module path '%s' must be absolute", l->module_name);
        snprintf(path, sizeof path, "%s", l->module_name);
    } else {
        if (!valid_module_name(l->module_name))
            return fail(st, l->source_line,
                        "module name '%s' may only contain letters, digits, '_' and '-'",
                        l->module_name);
        snprintf(path, sizeof path, "%s/%s.so", st->modules_dir, l->module_name);
    }
    bool bad = false;
    const char *isolation = string_member(st, g, "isolation", &bad);
    if (bad)
        return -1;
    if (isolation != NULL && strcmp(isolation, "process") == 0)
        return open_isolated(st, l, g, path);
    if (isolation != NULL && strcmp(isolation, "none") != 0)
        return fail(st, line_of(config_setting_get_member(g, "isolation")),
                    "isolation must be \"none\" or \"process\", not \"%s\"", isolation);
    if (config_setting_get_member(g, "workers") != NULL)
        return fail(st, line_of(config_setting_get_member(g, "workers")),
                    "'workers' goes only with isolation = \"process\"");
    char why[512];
    l->file = module_load(&st->c->files, path, why, sizeof why);
    if (l->file == NULL)
        return fail(st, l->source_line, "module '%s' (%s) %s", l->module_name, path, why);
    if (args_check(l->file->desc->args, l->module_name, args, st->file, st->err) != 0)
        return -1;
    if (args_build(&l->args, args, st->file, args ? line_of(args) : l->source_line) != 0)
        return fail(st, l->source_line, "out of memory");
    l->args.env = &st->c->env;
    if (l->file->desc->open != NULL) {
        fhirpam_error e = {{0}};
        if (l->file->desc->open(&l->args, &l->instance, &e) != 0)
            return fail(st, l->source_line, "module '%s': %s", l->module_name,
                        e.text[0] ? e.text : "refused its arguments");
    }
    l->opened = true;
    return 0;
}

static int parse_line(loader_state *st, stack_def *def, const config_setting_t *g, size_t index)
{
    static const char *const line_keys[] = {"control",   "module",  "args", "stack",
                                            "isolation", "workers", NULL};
    int line = line_of(g);
    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return fail(st, line, "each line of stack '%s' must be a group { control = ...; }",
                    def->name);
    if (check_keys(st, g, "a stack line", line_keys) != 0)
        return -1;
    bool bad = false;
    const char *control = string_member(st, g, "control", &bad);
    const char *module = string_member(st, g, "module", &bad);
    const char *target = string_member(st, g, "stack", &bad);
    if (bad)
        return -1;
    const config_setting_t *args = config_setting_get_member(g, "args");
    if (control == NULL)
        return fail(st, line, "stack line without 'control'");

    stack_item *item = &def->items[def->nitems++];
    item->source_line = line;
    if (strcmp(control, "include") == 0 || strcmp(control, "substack") == 0) {
        if (target == NULL)
            return fail(st, line, "'%s' needs 'stack = \"name\"'", control);
        if (module != NULL || args != NULL)
            return fail(st, line, "'%s' takes only 'stack', not 'module' or 'args'", control);
        item->kind = control[0] == 'i' ? ITEM_INCLUDE : ITEM_SUBSTACK;
        item->target = target;
        return 0;
    }
    if (target != NULL)
        return fail(st, line, "'stack' goes only with control \"include\" or \"substack\"");
    if (module == NULL)
        return fail(st, line, "stack line without 'module'");
    if (args != NULL && config_setting_type(args) != CONFIG_TYPE_GROUP)
        return fail(st, line_of(args), "'args' must be a group { name = value; ... }");

    config_line *l = calloc(1, sizeof *l);
    if (l == NULL)
        return fail(st, line, "out of memory");
    st->c->lines[st->c->nlines++] = l;
    item->kind = ITEM_LINE;
    item->line = l;
    l->stack_name = def->name;
    l->index = index;
    l->source_line = line;
    l->control_text = strdup(control);
    l->module_name = strdup(module);
    size_t slen = strlen(def->name), mlen = strlen(module), clen = strlen(control);
    l->labels_len = slen + mlen + clen + 3;
    l->labels = malloc(l->labels_len);
    if (l->control_text == NULL || l->module_name == NULL || l->labels == NULL)
        return fail(st, line, "out of memory");
    l->module_at = slen + 1;
    l->control_at = slen + mlen + 2;
    memcpy(l->labels, def->name, slen + 1);
    memcpy(l->labels + l->module_at, module, mlen + 1);
    memcpy(l->labels + l->control_at, control, clen + 1);
    char why[256];
    if (stack_control_parse(control, &l->control, why, sizeof why) != 0)
        return fail(st, line, "control \"%s\": %s", control, why);
    return open_line_module(st, l, g, args);
}

static int parse_stack(loader_state *st, stack_def *def, const config_setting_t *s)
{
    def->name = config_setting_name(s);
    def->source_line = line_of(s);
    def->token_required = true;
    const config_setting_t *list = s;
    if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
        /* The long form: { token = "none"; lines = ( ... ); } */
        static const char *const keys[] = {"token", "lines", "module_deadline_ms", NULL};
        if (check_keys(st, s, "a stack", keys) != 0)
            return -1;
        bool bad = false;
        const char *token = string_member(st, s, "token", &bad);
        if (bad)
            return -1;
        if (token != NULL && strcmp(token, "none") == 0)
            def->token_required = false;
        else if (token != NULL && strcmp(token, "required") != 0)
            return fail(st, def->source_line,
                        "stack '%s': token must be \"required\" or \"none\", not \"%s\"", def->name,
                        token);
        if (cfg_int(s, "module_deadline_ms", 1, LIMITS_MODULE_DEADLINE_MAX_MS, &def->deadline_ms,
                    st->file, st->err) != 0)
            return -1;
        list = config_setting_get_member(s, "lines");
        if (list == NULL)
            return fail(st, def->source_line, "stack '%s' has no 'lines'", def->name);
    }
    if (config_setting_type(list) != CONFIG_TYPE_LIST)
        return fail(st, line_of(list), "stack '%s' must be a list ( { ... }, ... )", def->name);
    size_t n = (size_t)config_setting_length(list);
    def->items = calloc(n ? n : 1, sizeof *def->items);
    if (def->items == NULL)
        return fail(st, def->source_line, "out of memory");
    config_line **grown = realloc(st->c->lines, (st->c->nlines + n + 1) * sizeof *grown);
    if (grown == NULL)
        return fail(st, def->source_line, "out of memory");
    st->c->lines = grown;
    for (size_t i = 0; i < n; i++) {
        if (parse_line(st, def, config_setting_get_elem(list, (unsigned)i), i) != 0)
            return -1;
    }
    return 0;
}

static stack_def *find_def(loader_state *st, const char *name)
{
    for (size_t i = 0; i < st->ndefs; i++) {
        if (strcmp(st->defs[i].name, name) == 0)
            return &st->defs[i];
    }
    return NULL;
}

static int flat_append(loader_state *st, flat_stack *fs, size_t *cap, unsigned level,
                       const config_line *line, int source_line)
{
    if (fs->n == CONFIG_MAX_FLAT_LINES)
        return fail(st, source_line, "stack '%s' expands to more than %d lines", fs->name,
                    CONFIG_MAX_FLAT_LINES);
    if (fs->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        stack_entry *e = realloc(fs->entries, ncap * sizeof *e);
        if (e != NULL)
            fs->entries = e;
        const config_line **l = realloc(fs->lines, ncap * sizeof *l);
        if (l != NULL)
            fs->lines = l;
        if (e == NULL || l == NULL)
            return fail(st, source_line, "out of memory");
        *cap = ncap;
    }
    stack_entry *e = &fs->entries[fs->n];
    memset(e, 0, sizeof *e);
    e->level = level;
    e->substack_marker = line == NULL;
    if (line != NULL)
        e->control = line->control;
    fs->lines[fs->n++] = line;
    return 0;
}

/* Splice `def` into `fs` at `level`. `depth` counts includes and substacks
 * together, as Linux-PAM does since 1.6.0. */
static int flatten(loader_state *st, flat_stack *fs, size_t *cap, stack_def *def, unsigned level,
                   unsigned depth)
{
    def->on_path = true;
    for (size_t i = 0; i < def->nitems; i++) {
        stack_item *it = &def->items[i];
        if (it->kind == ITEM_LINE) {
            if (flat_append(st, fs, cap, level, it->line, it->source_line) != 0)
                return -1;
            continue;
        }
        stack_def *t = find_def(st, it->target);
        if (t == NULL)
            return fail(st, it->source_line, "unknown stack '%s'", it->target);
        if (t->on_path)
            return fail(st, it->source_line, "include cycle: stack '%s' reaches itself via '%s'",
                        t->name, def->name);
        if (depth + 1 >= STACK_MAX_DEPTH)
            return fail(st, it->source_line, "stacks nest deeper than %d levels", STACK_MAX_DEPTH);
        unsigned inner = level;
        if (it->kind == ITEM_SUBSTACK) {
            if (flat_append(st, fs, cap, level, NULL, it->source_line) != 0)
                return -1;
            inner = level + 1;
        }
        if (flatten(st, fs, cap, t, inner, depth + 1) != 0)
            return -1;
    }
    def->on_path = false;
    return 0;
}

static int load_stacks(loader_state *st, const config_setting_t *stacks)
{
    if (stacks == NULL)
        return fail(st, 0, "no 'stacks' group: nothing to authorize with");
    if (config_setting_type(stacks) != CONFIG_TYPE_GROUP)
        return fail(st, line_of(stacks), "'stacks' must be a group of named stacks");
    size_t n = (size_t)config_setting_length(stacks);
    st->defs = calloc(n ? n : 1, sizeof *st->defs);
    st->c->stacks = calloc(n ? n : 1, sizeof *st->c->stacks);
    if (st->defs == NULL || st->c->stacks == NULL)
        return fail(st, line_of(stacks), "out of memory");
    for (size_t i = 0; i < n; i++) {
        st->ndefs++;
        if (parse_stack(st, &st->defs[i], config_setting_get_elem(stacks, (unsigned)i)) != 0)
            return -1;
    }
    for (size_t i = 0; i < n; i++) {
        flat_stack *fs = &st->c->stacks[st->c->nstacks++];
        size_t cap = 0;
        fs->name = strdup(st->defs[i].name);
        if (fs->name == NULL)
            return fail(st, st->defs[i].source_line, "out of memory");
        fs->token_required = st->defs[i].token_required;
        unsigned long long ms = st->defs[i].deadline_ms
                                    ? (unsigned long long)st->defs[i].deadline_ms
                                    : st->c->limits.module_deadline_ms;
        fs->deadline_us = ms * 1000u;
        if (fs->token_required && st->c->verifier == NULL)
            return fail(st, st->defs[i].source_line,
                        "stack '%s' requires a token (the default), but the configuration has "
                        "no 'token' group to verify one; public stacks say token = \"none\"",
                        fs->name);
        if (flatten(st, fs, &cap, &st->defs[i], 0, 0) != 0)
            return -1;
        if (fs->n > st->c->max_flat)
            st->c->max_flat = fs->n;
    }
    return 0;
}

config *config_load(const char *path, const char *modules_dir, fhirpam_error *err)
{
    static const char *const top_keys[] = {"modules_dir", "fhir_base", "worker", "audit",
                                           "token",       "limits",    "stacks", NULL};
    loader_state st = {.file = path, .err = err};
    config *c = calloc(1, sizeof *c);
    if (c == NULL || (c->path = strdup(path)) == NULL) {
        free(c);
        fhirpam_error_set(err, "%s: out of memory", path);
        return NULL;
    }
    st.c = c;
    c->worker_fd = -1;
    config_init(&c->cfg);

    char why[512];
    c->text = trusted_read(path, CONFIG_MAX_BYTES, &c->text_len, why, sizeof why);
    if (c->text == NULL) {
        fail(&st, 0, "%s", why);
        goto fail;
    }
    if (refuse_includes(&st, c->text) != 0)
        goto fail;
    if (!config_read_string(&c->cfg, c->text)) {
        fail(&st, config_error_line(&c->cfg), "%s", config_error_text(&c->cfg));
        goto fail;
    }
    const config_setting_t *root = config_root_setting(&c->cfg);
    if (check_keys(&st, root, "the configuration", top_keys) != 0)
        goto fail;

    bool bad = false;
    const char *dir = string_member(&st, root, "modules_dir", &bad);
    if (bad)
        goto fail;
    if (dir != NULL && dir[0] != '/') {
        /* Relative to what? The answer would depend on the host's working
         * directory, which the configuration's author does not control. */
        fail(&st, line_of(config_setting_get_member(root, "modules_dir")),
             "modules_dir '%s' must be an absolute path", dir);
        goto fail;
    }
    st.modules_dir = modules_dir ? modules_dir : dir ? dir : FHIRPAM_MODULES_DIR;
    c->fhir_base = string_member(&st, root, "fhir_base", &bad);
    const char *worker = string_member(&st, root, "worker", &bad);
    if (bad)
        goto fail;
    st.worker_path = worker ? worker : FHIRPAM_WORKER_PATH;

    if (limits_read(config_setting_get_member(root, "limits"), path, &c->limits, err) != 0)
        goto fail;
    c->audit = audit_sink_open(config_setting_get_member(root, "audit"), path, err);
    if (c->audit == NULL)
        goto fail;
    const config_setting_t *token = config_setting_get_member(root, "token");
    if (token != NULL) {
        c->verifier = token_verifier_new_from_config(token, path, err);
        if (c->verifier == NULL)
            goto fail;
        token_limits limits = token_verifier_limits(c->verifier);
        c->env.has_token_limits = true;
        c->env.leeway = limits.leeway;
        c->env.max_ttl = limits.max_ttl;
    }
    if (load_stacks(&st, config_setting_get_member(root, "stacks")) != 0)
        goto fail;
    for (size_t i = 0; i < st.ndefs; i++)
        free(st.defs[i].items);
    free(st.defs);
    return c;

fail:
    for (size_t i = 0; i < st.ndefs; i++)
        free(st.defs[i].items);
    free(st.defs);
    config_free(c);
    return NULL;
}

void config_free(config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nstacks; i++) {
        free(c->stacks[i].name);
        free(c->stacks[i].entries);
        free(c->stacks[i].lines);
    }
    free(c->stacks);
    for (size_t i = 0; i < c->nlines; i++) {
        config_line *l = c->lines[i];
        isolated_pool_free(l->pool);
        if (l->opened && l->file->desc->close != NULL)
            l->file->desc->close(l->instance);
        args_free(&l->args);
        free(l->control_text);
        free(l->module_name);
        free(l->labels);
        free(l);
    }
    free(c->lines);
    source_list_free(&c->env.sources);
    if (c->audit != NULL)
        audit_sink_close(c->audit);
    if (c->verifier != NULL)
        token_verifier_free(c->verifier);
    module_unload_all(c->files);
    if (c->worker_fd >= 0)
        close(c->worker_fd);
    free(c->text);
    config_destroy(&c->cfg);
    free(c->path);
    free(c);
}

int config_read_token_limits(const char *path, int64_t *leeway, int64_t *max_ttl,
                             fhirpam_error *err)
{
    char why[512];
    char *text = trusted_read(path, CONFIG_MAX_BYTES, NULL, why, sizeof why);
    if (text == NULL) {
        fhirpam_error_set(err, "%s: %s", path, why);
        return -1;
    }
    loader_state st = {.file = path, .err = err};
    if (refuse_includes(&st, text) != 0) {
        free(text);
        return -1;
    }
    config_t cfg;
    config_init(&cfg);
    int rc = -1;
    if (!config_read_string(&cfg, text)) {
        fhirpam_error_set(err, "%s:%d: %s", path, config_error_line(&cfg), config_error_text(&cfg));
    } else {
        const config_setting_t *token = config_lookup(&cfg, "token");
        token_limits limits;
        if (token == NULL)
            rc = 0;
        else if (config_setting_type(token) != CONFIG_TYPE_GROUP)
            cfg_fail(err, path, token, "'token' must be a group");
        else if (token_limits_read(token, path, &limits, err) == 0) {
            *leeway = limits.leeway;
            *max_ttl = limits.max_ttl;
            rc = 1;
        }
    }
    config_destroy(&cfg);
    free(text);
    return rc;
}

const flat_stack *config_find_stack(const config *c, const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < c->nstacks; i++) {
        if (strcmp(c->stacks[i].name, name) == 0)
            return &c->stacks[i];
    }
    return NULL;
}
