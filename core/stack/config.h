/*
 * config.h - a loaded configuration: the parsed file, the modules and their
 * instances, the flattened stacks, the audit sink and the token verifier.
 *
 * A config is immutable once loaded and is shared by every request that
 * started while it was current (see context.c for how it is swapped).
 */
#ifndef FHIRPAM_CORE_CONFIG_H
#define FHIRPAM_CORE_CONFIG_H

#include <fhirpam/module.h>
#include <libconfig.h>
#include <stdbool.h>

#include "config_limits.h"
#include "loader.h"
#include "source.h"
#include "stack.h"

struct audit_sink;
struct isolated_pool;
struct token_verifier;

/* What the modules a configuration opens see of it (module.h:
 * fhirpam_token_limits, fhirpam_source_new). */
typedef struct module_env {
    bool has_token_limits; /* the configuration verifies tokens */
    int64_t leeway, max_ttl;
    source_list sources; /* registered by the modules, owned by them */
} module_env;

struct fhirpam_args {
    const config_setting_t *group; /* NULL when the line gives no args */
    module_env *env;               /* NULL outside a configuration (module tests) */
    char *where;                   /* "file:line" */
    struct fhirpam_args *children; /* one per group-typed member, in member order */
    size_t nchildren;
};

/* One `{ control; module; args }` line: one module instance. */
typedef struct config_line {
    const char *stack_name; /* the stack the line is written in */
    size_t index;           /* its 0-based position there */
    int source_line;
    char *control_text;
    stack_control control;
    char *module_name; /* as written in the config */
    const module_file *file;
    struct fhirpam_args args;
    void *instance;
    bool opened;
    struct isolated_pool *pool; /* isolation = "process": the module runs there, not here */
    /* "stack\0module\0control\0": what every trace entry of the line names,
     * copied into a decision in one piece (module_at, control_at: offsets). */
    char *labels;
    size_t labels_len;
    size_t module_at, control_at;
} config_line;

/* A named stack flattened for the engine: entries[i] and lines[i] go together
 * (lines[i] is NULL for a substack marker). */
typedef struct flat_stack {
    char *name;
    bool token_required;
    uint64_t deadline_us; /* each module call's budget (limits.module_deadline_ms) */
    size_t n;
    stack_entry *entries;
    const config_line **lines;
} flat_stack;

typedef struct config {
    char *path;
    config_t cfg; /* kept: module args point into it */
    char *text;   /* the file as read: isolation workers parse it too */
    size_t text_len;
    int worker_fd;         /* the isolation worker program, once a line needs it; else -1 */
    const char *fhir_base; /* absolute base URL requests may carry, or NULL */
    module_file *files;
    config_line **lines;
    size_t nlines;
    flat_stack *stacks;
    size_t nstacks;
    size_t max_flat; /* the longest flattened stack, to size per-request arrays */
    config_limits limits;
    struct audit_sink *audit;
    struct token_verifier *verifier; /* NULL when the config has no `token` group */
    struct config *retired_next;     /* context.c: replaced, waiting for its last request */
    module_env env;
} config;

/* Reads `token.leeway` and `token.max_ttl` from the configuration file at
 * path, as fhirpam_open() would, without loading anything else (for tools
 * that must use the same times: `fhirpam revoke compact`). 1 with out set,
 * 0 when the file has no `token` group, -1 with err filled. */
int config_read_token_limits(const char *path, int64_t *leeway, int64_t *max_ttl,
                             fhirpam_error *err);

/* Load and check everything; NULL with "file:line: message" on any error.
 * modules_dir may be NULL (then the config's, then the compiled-in one). */
config *config_load(const char *path, const char *modules_dir, fhirpam_error *err);
void config_free(config *c);

const flat_stack *config_find_stack(const config *c, const char *name);

/* Build the args of one line (recursively for group members). */
int args_build(struct fhirpam_args *args, const config_setting_t *group, const char *file,
               int line);
void args_free(struct fhirpam_args *args);
/* Every argument a line gives must be declared by its module (spec), with
 * its type; else -1 with "file:line: message" in err. */
int args_check(const fhirpam_arg_spec *spec, const char *module_name, const config_setting_t *args,
               const char *file, fhirpam_error *err);

#endif
