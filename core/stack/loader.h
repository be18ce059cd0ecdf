/*
 * loader.h - loading module shared objects: from a trusted file, through a
 * private sealed copy whose descriptor is checked before any code runs.
 * See loader.c for the steps and why.
 */
#ifndef FHIRPAM_CORE_LOADER_H
#define FHIRPAM_CORE_LOADER_H

#include <fhirpam/module.h>
#include <stddef.h>
#include <sys/types.h>

#include "elf_desc.h"
#include "trusted.h"

typedef struct module_file {
    char *path;
    dev_t dev;                  /* the file on disk: a file named twice in one */
    ino_t ino;                  /* configuration is loaded once */
    int image_fd;               /* the sealed private copy (a memfd) */
    elf_descriptor elf;         /* the descriptor's ABI words, from the copy's ELF */
    void *handle;               /* after module_dlopen(), else NULL */
    const fhirpam_module *desc; /* likewise */
    uint32_t flags; /* the descriptor's flags (ABI 1.1; from the ELF, checked again after
                     * dlopen, so an isolated module's are known here); 0 for an older module */
    struct module_file *next;
} module_file;

/*
 * Steps 1 to 3 for the module at `path` (absolute), into the list *files
 * unless the same file (same device and inode) is there already: the file
 * and its directories checked (trusted_open), its bytes copied into a sealed
 * memfd, and the ABI major and descriptor size read from the copy's ELF. No
 * code of the module runs. Returns the entry, or NULL with why filled.
 */
module_file *module_image(module_file **files, const char *path, char *why, size_t whylen);

/* Steps 3 and 4 for a copy made elsewhere: an isolation worker gets its
 * module's sealed image as a descriptor (isolate_serve.c). Fills f (not
 * in any list) from the image's ELF; 0, or -1 with why filled. */
int module_from_image(int image_fd, module_file *f, char *why, size_t whylen);

/* Step 4: dlopen the copy (RTLD_NOW|RTLD_LOCAL) and check the descriptor as
 * resolved: the same ABI words as the ELF said, a name, an authorize
 * callback. Runs the module's constructors. 0, or -1 with why filled. */
int module_dlopen(module_file *f, char *why, size_t whylen);

/* module_image() then module_dlopen(): the entry, or NULL with why filled
 * (and nothing added to the list). */
module_file *module_load(module_file **files, const char *path, char *why, size_t whylen);

/* The ABI checks on descriptor words, shared by the steps before and after
 * dlopen (and by the isolation worker). 0, or -1 with why filled. */
int module_abi_check(unsigned abi_major, unsigned abi_minor, uint64_t size, char *why,
                     size_t whylen);
int module_descriptor_check(const fhirpam_module *desc, const elf_descriptor *elf, char *why,
                            size_t whylen);

/* dlclose and free every entry, and close its copy. */
void module_unload_all(module_file *files);

#endif
