/*
 * watcher.h - the core's side of module.h's fhirpam_watcher: restarting the
 * watchers' threads in a child after fork() (watcher.c says why it is not
 * done in the fork handler).
 */
#ifndef FHIRPAM_CORE_WATCHER_H
#define FHIRPAM_CORE_WATCHER_H

#include <stdatomic.h>

/* Set in a child whose parent had watchers, until their threads run again. */
extern atomic_bool watchers_forked;

/* Starts, once per fork, the threads of the watchers a child inherited. */
void watchers_restart_after_fork(void);

/* Called on every entry into a context: one relaxed load when nothing forked. */
static inline void watchers_resume(void)
{
    if (atomic_load_explicit(&watchers_forked, memory_order_relaxed))
        watchers_restart_after_fork();
}

#endif
