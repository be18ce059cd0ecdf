/*
 * loader.h - opening trusted files and loading module shared objects.
 *
 * Every file fhirpam trusts (the config, modules, key sets, deny lists) is
 * opened once, checked on the descriptor, and then used through that
 * descriptor, so that nothing can be swapped between the check and the use
 * (pam-semantics §11).
 */
#ifndef FHIRPAM_CORE_LOADER_H
#define FHIRPAM_CORE_LOADER_H

#include <fhirpam/module.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Open `path` read-only without following a final symlink, and require on the
 * descriptor: a regular file, owned by root or the effective user, not group-
 * or world-writable. Returns the descriptor (O_CLOEXEC), or -1 with a sentence
 * in why ("is world-writable", ...).
 */
int trusted_open(const char *path, char *why, size_t whylen);

/* Read a trusted file whole, refusing more than max_bytes. Returns a
 * NUL-terminated buffer the caller frees, or NULL with why filled. */
char *trusted_read(const char *path, size_t max_bytes, size_t *len, char *why, size_t whylen);

typedef struct module_file {
    char *path;
    dev_t dev;
    ino_t ino;
    void *handle;
    const fhirpam_module *desc;
    uint32_t flags; /* the descriptor's flags (ABI 1.1); 0 for an older module */
    struct module_file *next;
} module_file;

/*
 * Load the module at `path` into the list *files unless the same file (same
 * device and inode) is there already. Checks ownership and mode on the
 * descriptor, dlopen()s it through /proc/self/fd (RTLD_NOW|RTLD_LOCAL), and
 * checks the descriptor: present, ABI major equal to ours, size and callbacks.
 * Returns the entry, or NULL with why filled.
 */
module_file *module_load(module_file **files, const char *path, char *why, size_t whylen);

/* dlclose and free every entry. */
void module_unload_all(module_file *files);

#endif
