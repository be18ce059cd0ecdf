/* watch.c - see watch.h. */
#include "watch.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

struct watcher {
    int64_t interval_ms;
    void (*check)(void *arg);
    void *arg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping, poked;
};

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
    watcher *w = p;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        struct timespec until = deadline(w->interval_ms);
        while (!w->stopping && !w->poked && pthread_cond_timedwait(&w->wake, &w->lock, &until) == 0)
            ;
        if (w->stopping)
            break;
        w->poked = false;
        pthread_mutex_unlock(&w->lock);
        w->check(w->arg);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

watcher *watcher_start(int64_t interval_ms, void (*check)(void *arg), void *arg)
{
    watcher *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    *w = (watcher){.interval_ms = interval_ms, .check = check, .arg = arg};
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&w->thread, NULL, watch_loop, w) != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    return w;
}

void watcher_poke(watcher *w)
{
    pthread_mutex_lock(&w->lock);
    w->poked = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

void watcher_stop(watcher *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
