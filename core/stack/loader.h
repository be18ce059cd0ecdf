/*
 * loader.h - loading module shared objects.
 *
 * A module file is opened with trusted_open() (trusted.h), checked on the
 * descriptor, and loaded through that descriptor, so that nothing can be
 * swapped between the check and the use (pam-semantics §11).
 */
#ifndef FHIRPAM_CORE_LOADER_H
#define FHIRPAM_CORE_LOADER_H

#include <fhirpam/module.h>
#include <stddef.h>
#include <sys/types.h>

#include "trusted.h"

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
