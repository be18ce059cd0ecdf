/*
 * loader.c - module loading (the files it trusts are opened by trusted.c).
 */
#include "loader.h"
#include "trusted.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The smallest descriptor a 1.0 module can have: up to and including close. */
#define MODULE_DESC_MIN_SIZE (offsetof(fhirpam_module, close) + sizeof(void (*)(void *)))

static int check_module_descriptor(const fhirpam_module *desc, char *why, size_t whylen)
{
    if (desc->abi_major != FHIRPAM_ABI_MAJOR) {
        snprintf(why, whylen, "was built for module ABI %u.%u; this fhirpam speaks ABI %d.x",
                 desc->abi_major, desc->abi_minor, FHIRPAM_ABI_MAJOR);
        return -1;
    }
    if (desc->size < MODULE_DESC_MIN_SIZE) {
        snprintf(why, whylen, "has a descriptor of %u bytes, smaller than ABI %d.0 requires",
                 desc->size, FHIRPAM_ABI_MAJOR);
        return -1;
    }
    if (desc->name == NULL || desc->authorize == NULL) {
        snprintf(why, whylen, "has a descriptor without a name or an authorize callback");
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

/*
 * glibc's dlopen() first looks for an already loaded object by the path
 * *string*. Every module is loaded as "/proc/self/fd/N", and descriptor
 * numbers are reused, so a later, different module opened on the same N would
 * silently get the earlier module. To make a name always mean one file, the
 * descriptor a module was first loaded through stays open (reserved) while the
 * object is loaded, in a process-wide registry keyed by device and inode.
 */
typedef struct loaded_object {
    dev_t dev;
    ino_t ino;
    int fd; /* reserved: "/proc/self/fd/<fd>" names this object */
    unsigned refs;
    struct loaded_object *next;
} loaded_object;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static loaded_object *registry;

static void fd_path(char *buf, size_t len, int fd)
{
    snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/* True when some loaded object already answers to this name. */
static bool name_taken(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (h == NULL)
        return false;
    dlclose(h);
    return true;
}

/* dlopen the checked descriptor fd (which it takes). */
static void *open_object(int fd, const struct stat *st, char *why, size_t whylen)
{
    char path[64];
    void *handle = NULL;
    pthread_mutex_lock(&registry_lock);
    loaded_object *o = registry;
    while (o != NULL && !(o->dev == st->st_dev && o->ino == st->st_ino))
        o = o->next;
    if (o != NULL) {
        /* Loaded already (by another configuration): its reserved name
         * still designates this very file. */
        close(fd);
        fd_path(path, sizeof path, o->fd);
    } else {
        /* A name left by an object loaded outside this registry (or one
         * that could not be unloaded) must not be reused. */
        for (int tries = 0; fd >= 0 && tries < 16; tries++) {
            fd_path(path, sizeof path, fd);
            if (!name_taken(path))
                break;
            int other = fcntl(fd, F_DUPFD_CLOEXEC, fd + 1);
            close(fd);
            fd = other;
        }
        o = calloc(1, sizeof *o);
        if (fd < 0 || o == NULL) {
            snprintf(why, whylen, "cannot be given a unique name to load");
            free(o);
            if (fd >= 0)
                close(fd);
            pthread_mutex_unlock(&registry_lock);
            return NULL;
        }
        fd_path(path, sizeof path, fd);
        o->dev = st->st_dev;
        o->ino = st->st_ino;
        o->fd = fd;
    }
    dlerror();
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *e = dlerror();
        snprintf(why, whylen, "cannot be loaded: %s", e ? e : "unknown dlopen error");
        if (o->refs == 0) {
            close(o->fd);
            free(o);
        }
    } else if (o->refs++ == 0) {
        o->next = registry;
        registry = o;
    }
    pthread_mutex_unlock(&registry_lock);
    return handle;
}

static void close_object(void *handle, dev_t dev, ino_t ino)
{
    pthread_mutex_lock(&registry_lock);
    dlclose(handle);
    for (loaded_object **p = &registry; *p != NULL; p = &(*p)->next) {
        loaded_object *o = *p;
        if (o->dev != dev || o->ino != ino)
            continue;
        if (--o->refs == 0) {
            char path[64];
            fd_path(path, sizeof path, o->fd);
            /* An object that stays mapped after its last dlclose keeps its
             * name, so it keeps its descriptor too. */
            if (!name_taken(path)) {
                close(o->fd);
                *p = o->next;
                free(o);
            }
        }
        break;
    }
    pthread_mutex_unlock(&registry_lock);
}

module_file *module_load(module_file **files, const char *path, char *why, size_t whylen)
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

    /* glibc has no fdlopen(): loading the checked descriptor through /proc
     * closes the window between the check and the load. */
    void *handle = open_object(fd, &st, why, whylen);
    if (handle == NULL)
        return NULL;
    const fhirpam_module *desc = dlsym(handle, FHIRPAM_MODULE_SYMBOL);
    if (desc == NULL) {
        snprintf(why, whylen, "exports no %s: not a fhirpam module", FHIRPAM_MODULE_SYMBOL);
        close_object(handle, st.st_dev, st.st_ino);
        return NULL;
    }
    if (check_module_descriptor(desc, why, whylen) != 0) {
        close_object(handle, st.st_dev, st.st_ino);
        return NULL;
    }
    module_file *f = calloc(1, sizeof *f);
    if (f == NULL || (f->path = strdup(path)) == NULL) {
        free(f);
        close_object(handle, st.st_dev, st.st_ino);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->handle = handle;
    f->desc = desc;
    f->flags = descriptor_flags(desc);
    f->next = *files;
    *files = f;
    return f;
}

void module_unload_all(module_file *files)
{
    while (files != NULL) {
        module_file *next = files->next;
        close_object(files->handle, files->dev, files->ino);
        free(files->path);
        free(files);
        files = next;
    }
}
