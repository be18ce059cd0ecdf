/*
 * watcher.c - module.h's fhirpam_watcher: a thread per module data source
 * that checks it every interval, and survives fork().
 *
 * fork() copies only the calling thread, so a host that opens its context
 * and then forks workers (a pre-forking server's master) would leave every worker without
 * the threads that re-read deny lists and consent stores: revocations would
 * never apply there. The core therefore keeps every watcher in one list and
 * registers fork handlers once (pthread_atfork): before the fork it takes
 * each watcher's locks, so that no check is half done in the copy; the
 * parent releases them; the child makes fresh wake-ups and marks its
 * watchers as having no thread. The child's threads are started by the
 * child's first call into a context (watcher.h: watchers_resume), not in
 * the fork handler: after a fork only async-signal-safe calls are allowed
 * until the handlers return (POSIX fork()), and pthread_create there
 * deadlocks where the allocator's locks are still held (ASan's are, until
 * its fork interceptor returns).
 *
 * Lock order: the list, then a watcher's `busy`, then its `lock`. The thread
 * holds `busy` only while check() runs, and `lock` only around its flags and
 * its timed wait, never both at once.
 */
#include "watcher.h"

#include <fhirpam/module.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct fhirpam_watcher {
    struct fhirpam_watcher *next;
    int64_t interval_ms;
    void (*check)(void *arg);
    void *arg;
    pthread_t thread;
    bool running; /* a thread was started for this process and not joined */
    pthread_mutex_t busy;
    pthread_mutex_t lock; /* guards stopping, poked */
    pthread_cond_t wake;
    bool stopping, poked;
};

static pthread_mutex_t watchers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fhirpam_watcher *watchers;
static pthread_once_t fork_handlers_once = PTHREAD_ONCE_INIT;
atomic_bool watchers_forked; /* watcher.h */

static struct timespec deadline(int64_t interval_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(interval_ms / 1000);
    until.tv_nsec += (long)(interval_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    return until;
}

static void *watch_loop(void *p)
{
    struct fhirpam_watcher *w = p;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        struct timespec until = deadline(w->interval_ms);
        while (!w->stopping && !w->poked && pthread_cond_timedwait(&w->wake, &w->lock, &until) == 0)
            ;
        if (w->stopping)
            break;
        w->poked = false;
        pthread_mutex_unlock(&w->lock);
        pthread_mutex_lock(&w->busy);
        w->check(w->arg);
        pthread_mutex_unlock(&w->busy);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void init_wake(struct fhirpam_watcher *w)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &attr);
    pthread_condattr_destroy(&attr);
}

/* Starts w's thread with every signal blocked: a host's signals (SIGHUP,
 * SIGTERM, SIGPIPE) are for its own threads. */
static bool start_thread(struct fhirpam_watcher *w)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    w->running = pthread_create(&w->thread, NULL, watch_loop, w) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return w->running;
}

static void before_fork(void)
{
    pthread_mutex_lock(&watchers_lock);
    for (struct fhirpam_watcher *w = watchers; w != NULL; w = w->next) {
        pthread_mutex_lock(&w->busy);
        pthread_mutex_lock(&w->lock);
    }
}

static void after_fork_parent(void)
{
    for (struct fhirpam_watcher *w = watchers; w != NULL; w = w->next) {
        pthread_mutex_unlock(&w->lock);
        pthread_mutex_unlock(&w->busy);
    }
    pthread_mutex_unlock(&watchers_lock);
}

static void after_fork_child(void)
{
    /* Only this thread exists now, and it holds every lock (before_fork).
     * The condition variable may still count the parent's waiting thread:
     * make a new one rather than reuse it. */
    for (struct fhirpam_watcher *w = watchers; w != NULL; w = w->next) {
        init_wake(w);
        w->stopping = w->poked = false;
        w->running = false;
        pthread_mutex_unlock(&w->lock);
        pthread_mutex_unlock(&w->busy);
    }
    atomic_store(&watchers_forked, watchers != NULL);
    pthread_mutex_unlock(&watchers_lock);
}

void watchers_restart_after_fork(void)
{
    pthread_mutex_lock(&watchers_lock);
    if (atomic_exchange(&watchers_forked, false)) {
        for (struct fhirpam_watcher *w = watchers; w != NULL; w = w->next) {
            if (!w->running)
                start_thread(w); /* when this fails, stop() has nothing to join */
        }
    }
    pthread_mutex_unlock(&watchers_lock);
}

static void register_fork_handlers(void)
{
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

FHIRPAM_API fhirpam_watcher *fhirpam_watcher_start(int64_t interval_ms, void (*check)(void *arg),
                                                   void *arg)
{
    if (check == NULL || interval_ms <= 0)
        return NULL;
    pthread_once(&fork_handlers_once, register_fork_handlers);
    struct fhirpam_watcher *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->interval_ms = interval_ms;
    w->check = check;
    w->arg = arg;
    pthread_mutex_init(&w->busy, NULL);
    pthread_mutex_init(&w->lock, NULL);
    init_wake(w);
    /* Under the list lock, so that a fork sees the watcher with its thread
     * or not at all. */
    pthread_mutex_lock(&watchers_lock);
    if (!start_thread(w)) {
        pthread_mutex_unlock(&watchers_lock);
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        pthread_mutex_destroy(&w->busy);
        free(w);
        return NULL;
    }
    w->next = watchers;
    watchers = w;
    pthread_mutex_unlock(&watchers_lock);
    return w;
}

FHIRPAM_API void fhirpam_watcher_poke(fhirpam_watcher *w)
{
    pthread_mutex_lock(&w->lock);
    w->poked = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

FHIRPAM_API void fhirpam_watcher_stop(fhirpam_watcher *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&watchers_lock);
    for (struct fhirpam_watcher **p = &watchers; *p != NULL; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    pthread_mutex_unlock(&watchers_lock);
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    if (w->running)
        pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->busy);
    free(w);
}
