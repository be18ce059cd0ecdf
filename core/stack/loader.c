/*
 * loader.c - loading module shared objects (design §2, §3).
 *
 * A module goes through four steps, and none of its code runs before the
 * last:
 *  1. trusted_open(): the file and every directory above it are checked,
 *     and the file is opened once (trusted.c);
 *  2. a private copy: the bytes of that descriptor go into a sealed memfd,
 *     so that rewriting the file on disk (`cp` over it keeps the inode, and
 *     the dynamic linker maps what it loads) can neither change the code
 *     that runs nor crash the process that mapped it;
 *  3. the descriptor's ABI words are read from the copy's ELF dynamic symbol
 *     table (elf_desc.c): a module built for another ABI is refused before
 *     its constructors could run;
 *  4. dlopen("/proc/self/fd/N") of the copy (glibc has no fdlopen), and the
 *     descriptor checked again as the dynamic linker resolved it.
 */
#include "loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trusted.h"

/* The smallest descriptor a 1.0 module can have: up to and including close. */
#define MODULE_DESC_MIN_SIZE (offsetof(fhirpam_module, close) + sizeof(void (*)(void *)))
/* A module larger than this is not a policy module. */
#define MODULE_MAX_BYTES (256L * 1024 * 1024)

int module_abi_check(unsigned abi_major, unsigned abi_minor, uint64_t size, char *why,
                     size_t whylen)
{
    if (abi_major != FHIRPAM_ABI_MAJOR) {
        snprintf(why, whylen, "was built for module ABI %u.%u; this fhirpam speaks ABI %d.x",
                 abi_major, abi_minor, FHIRPAM_ABI_MAJOR);
        return -1;
    }
    if (size < MODULE_DESC_MIN_SIZE) {
        snprintf(why, whylen, "has a descriptor of %u bytes, smaller than ABI %d.0 requires",
                 (unsigned)size, FHIRPAM_ABI_MAJOR);
        return -1;
    }
    return 0;
}

/* The descriptor's flags: a member of ABI 1.1, read only from a descriptor
 * that says it is at least that new and large enough to hold it. */
static uint32_t descriptor_flags(const fhirpam_module *desc)
{
    if (desc->abi_minor < 1 || desc->size < offsetof(fhirpam_module, flags) + sizeof desc->flags)
        return 0;
    return desc->flags;
}

int module_descriptor_check(const fhirpam_module *desc, const elf_descriptor *elf, char *why,
                            size_t whylen)
{
    if (module_abi_check(desc->abi_major, desc->abi_minor, desc->size, why, whylen) != 0)
        return -1;
    /* What the dynamic linker resolved must be what the file said. */
    if (desc->abi_major != elf->abi_major || desc->abi_minor != elf->abi_minor ||
        desc->size != elf->size || descriptor_flags(desc) != elf->flags) {
        snprintf(why, whylen, "has a descriptor that changed while it was loaded");
        return -1;
    }
    if (desc->name == NULL || desc->authorize == NULL) {
        snprintf(why, whylen, "has a descriptor without a name or an authorize callback");
        return -1;
    }
    return 0;
}

/* Copy the file open on fd into a sealed memfd (memfd_create(2): with
 * F_SEAL_WRITE, F_SEAL_GROW and F_SEAL_SHRINK nobody, ourselves included,
 * can change it again). Returns the memfd, or -1 with why filled. */
static int sealed_copy(int fd, size_t *size, char *why, size_t whylen)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size > MODULE_MAX_BYTES) {
        snprintf(why, whylen, "is larger than %ld bytes", MODULE_MAX_BYTES);
        return -1;
    }
    int copy = memfd_create("fhirpam-module", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (copy < 0) {
        snprintf(why, whylen, "cannot be copied for loading: memfd_create: %s", strerror(errno));
        return -1;
    }
    size_t total = 0;
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(why, whylen, "cannot be read: %s", strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        total += (size_t)n;
        if (total > (size_t)MODULE_MAX_BYTES) {
            snprintf(why, whylen, "is larger than %ld bytes", MODULE_MAX_BYTES);
            goto fail;
        }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(copy, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                snprintf(why, whylen, "cannot be copied for loading: %s", strerror(errno));
                goto fail;
            }
            done += w;
        }
    }
    if (fcntl(copy, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
        snprintf(why, whylen, "cannot be sealed for loading: %s", strerror(errno));
        goto fail;
    }
    *size = total;
    return copy;
fail:
    close(copy);
    return -1;
}

/* Step 3 on the sealed copy. */
static int read_descriptor(int image, size_t size, elf_descriptor *elf, char *why, size_t whylen)
{
    if (size == 0) {
        snprintf(why, whylen, "is not an ELF file");
        return -1;
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, image, 0);
    if (map == MAP_FAILED) {
        snprintf(why, whylen, "cannot be mapped: %s", strerror(errno));
        return -1;
    }
    int rc = elf_read_descriptor(map, size, FHIRPAM_MODULE_SYMBOL, elf, why, whylen);
    munmap(map, size);
    if (rc != 0)
        return -1;
    if (module_abi_check(elf->abi_major, elf->abi_minor, elf->size, why, whylen) != 0)
        return -1;
    if (elf->symbol_size < elf->size) {
        snprintf(why, whylen, "has a descriptor symbol of %llu bytes that says it has %u",
                 (unsigned long long)elf->symbol_size, elf->size);
        return -1;
    }
    return 0;
}

module_file *module_image(module_file **files, const char *path, char *why, size_t whylen)
{
    int fd = trusted_open(path, why, whylen);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(why, whylen, "cannot stat: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    for (module_file *f = *files; f != NULL; f = f->next) {
        if (f->dev == st.st_dev && f->ino == st.st_ino) {
            close(fd);
            return f;
        }
    }
    size_t size = 0;
    int image = sealed_copy(fd, &size, why, whylen);
    close(fd);
    if (image < 0)
        return NULL;
    module_file *f = calloc(1, sizeof *f);
    if (f == NULL || (f->path = strdup(path)) == NULL) {
        free(f);
        close(image);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->image_fd = image;
    if (read_descriptor(image, size, &f->elf, why, whylen) != 0) {
        close(image);
        free(f->path);
        free(f);
        return NULL;
    }
    f->flags = f->elf.flags;
    f->next = *files;
    *files = f;
    return f;
}

int module_from_image(int image_fd, module_file *f, char *why, size_t whylen)
{
    memset(f, 0, sizeof *f);
    f->image_fd = image_fd;
    struct stat st;
    if (fstat(image_fd, &st) != 0) {
        snprintf(why, whylen, "cannot stat its image: %s", strerror(errno));
        return -1;
    }
    if (read_descriptor(image_fd, (size_t)st.st_size, &f->elf, why, whylen) != 0)
        return -1;
    f->flags = f->elf.flags;
    return 0;
}

/*
 * glibc's dlopen() first looks for an already loaded object by the path
 * *string*. Every module is loaded as "/proc/self/fd/N", so N must not be a
 * name some loaded object already answers to (one loaded outside fhirpam, or
 * one that stayed mapped after its dlclose): such an N would silently give
 * back that object. The copy's descriptor stays open while its object is
 * loaded, which keeps N reserved; dl_lock keeps the check and the load
 * together.
 */
static pthread_mutex_t dl_lock = PTHREAD_MUTEX_INITIALIZER;

static void fd_path(char *buf, size_t len, int fd)
{
    snprintf(buf, len, "/proc/self/fd/%d", fd);
}

static bool name_taken(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (h == NULL)
        return false;
    dlclose(h);
    return true;
}

int module_dlopen(module_file *f, char *why, size_t whylen)
{
    if (f->handle != NULL)
        return 0;
    char path[64];
    pthread_mutex_lock(&dl_lock);
    for (int tries = 0; f->image_fd >= 0; tries++) {
        fd_path(path, sizeof path, f->image_fd);
        if (!name_taken(path))
            break;
        int other = tries < 16 ? fcntl(f->image_fd, F_DUPFD_CLOEXEC, f->image_fd + 1) : -1;
        close(f->image_fd);
        f->image_fd = other;
    }
    if (f->image_fd < 0) {
        pthread_mutex_unlock(&dl_lock);
        snprintf(why, whylen, "cannot be given a unique name to load");
        return -1;
    }
    dlerror();
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    const char *e = handle == NULL ? dlerror() : NULL;
    pthread_mutex_unlock(&dl_lock);
    if (handle == NULL) {
        snprintf(why, whylen, "cannot be loaded: %s", e ? e : "unknown dlopen error");
        return -1;
    }
    const fhirpam_module *desc = dlsym(handle, FHIRPAM_MODULE_SYMBOL);
    if (desc == NULL) {
        snprintf(why, whylen, "exports no %s: not a fhirpam module", FHIRPAM_MODULE_SYMBOL);
        dlclose(handle);
        return -1;
    }
    if (module_descriptor_check(desc, &f->elf, why, whylen) != 0) {
        dlclose(handle);
        return -1;
    }
    f->handle = handle;
    f->desc = desc;
    return 0;
}

module_file *module_load(module_file **files, const char *path, char *why, size_t whylen)
{
    module_file *f = module_image(files, path, why, whylen);
    if (f == NULL)
        return NULL;
    if (module_dlopen(f, why, whylen) != 0) {
        /* Not kept half-loaded: the list holds only what loaded. */
        for (module_file **p = files; *p != NULL; p = &(*p)->next) {
            if (*p == f) {
                *p = f->next;
                break;
            }
        }
        f->next = NULL;
        module_unload_all(f);
        return NULL;
    }
    return f;
}

void module_unload_all(module_file *files)
{
    while (files != NULL) {
        module_file *next = files->next;
        pthread_mutex_lock(&dl_lock);
        bool keep_name = false;
        if (files->handle != NULL) {
            dlclose(files->handle);
            char path[64];
            fd_path(path, sizeof path, files->image_fd);
            /* An object that stays mapped after its last dlclose keeps its
             * name, so it keeps its descriptor too. */
            keep_name = name_taken(path);
        }
        if (!keep_name && files->image_fd >= 0)
            close(files->image_fd);
        pthread_mutex_unlock(&dl_lock);
        free(files->path);
        free(files);
        files = next;
    }
}
