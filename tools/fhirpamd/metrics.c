/*
 * metrics.c - the counters behind /metrics. Decisions are counted per (stack,
 * code, module) in a small hash table behind one mutex, held for a lookup and
 * an increment; everything else is an atomic.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DECISION_BUCKETS 256
/* Label sets beyond this are counted under stack="(other)": the stack and
 * module names come from the configuration, but bound the table anyway. */
#define DECISION_MAX_SERIES 4096

typedef struct series {
    struct series *next;
    char *stack, *code, *module;
    uint64_t count;
} series;

/* Upper bounds of the latency histogram, in microseconds. */
static const uint64_t latency_bounds_us[] = {
    10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};
#define LATENCY_BUCKETS (sizeof latency_bounds_us / sizeof latency_bounds_us[0])

static const unsigned tracked_statuses[] = {200, 400, 401, 403, 404, 405, 413, 500, 503};
#define STATUS_COUNT (sizeof tracked_statuses / sizeof tracked_statuses[0])

static const char *const refusal_names[REFUSE_COUNT] = {
    "untrusted_peer", "bad_request", "no_route",      "body_too_large",
    "obligations",    "internal",    "body_unjudged", "timeout",
};

static struct {
    pthread_mutex_t lock;
    series *buckets[DECISION_BUCKETS];
    size_t nseries;
    _Atomic uint64_t latency[LATENCY_BUCKETS + 1]; /* the last: +Inf only */
    _Atomic uint64_t latency_sum_us;
    _Atomic uint64_t latency_count;
    _Atomic uint64_t refusals[REFUSE_COUNT];
    _Atomic uint64_t statuses[STATUS_COUNT + 1]; /* the last: any other */
    _Atomic uint64_t reloads, reload_failures;
    _Atomic int64_t last_reload_ok; /* epoch seconds */
    _Atomic int64_t in_flight;
    int64_t started;
} m = {.lock = PTHREAD_MUTEX_INITIALIZER};

int metrics_init(void)
{
    m.started = (int64_t)time(NULL);
    atomic_store(&m.last_reload_ok, m.started);
    return 0;
}

void metrics_free(void)
{
    for (size_t i = 0; i < DECISION_BUCKETS; i++) {
        series *s = m.buckets[i];
        while (s != NULL) {
            series *next = s->next;
            free(s->stack);
            free(s->code);
            free(s->module);
            free(s);
            s = next;
        }
        m.buckets[i] = NULL;
    }
    m.nseries = 0;
}

static uint32_t fnv1a(uint32_t h, const char *s)
{
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return (h ^ 0xffu) * 16777619u;
}

void metrics_decision(const char *stack, const char *code, const char *module,
                      uint64_t microseconds)
{
    size_t b = 0;
    while (b < LATENCY_BUCKETS && microseconds > latency_bounds_us[b])
        b++;
    atomic_fetch_add_explicit(&m.latency[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m.latency_sum_us, microseconds, memory_order_relaxed);
    atomic_fetch_add_explicit(&m.latency_count, 1, memory_order_relaxed);

    uint32_t h = fnv1a(fnv1a(fnv1a(2166136261u, stack), code), module) % DECISION_BUCKETS;
    pthread_mutex_lock(&m.lock);
    for (int attempt = 0; attempt < 2; attempt++) {
        for (series *s = m.buckets[h]; s != NULL; s = s->next) {
            if (strcmp(s->stack, stack) == 0 && strcmp(s->code, code) == 0 &&
                strcmp(s->module, module) == 0) {
                s->count++;
                pthread_mutex_unlock(&m.lock);
                return;
            }
        }
        if (m.nseries < DECISION_MAX_SERIES)
            break;
        stack = "(other)";
        code = "(other)";
        module = "(other)";
        h = fnv1a(fnv1a(fnv1a(2166136261u, stack), code), module) % DECISION_BUCKETS;
    }
    series *s = calloc(1, sizeof *s);
    if (s != NULL) {
        s->stack = strdup(stack);
        s->code = strdup(code);
        s->module = strdup(module);
        if (s->stack == NULL || s->code == NULL || s->module == NULL) {
            free(s->stack);
            free(s->code);
            free(s->module);
            free(s);
        } else {
            s->count = 1;
            s->next = m.buckets[h];
            m.buckets[h] = s;
            m.nseries++;
        }
    }
    pthread_mutex_unlock(&m.lock);
}

void metrics_refusal_add(metrics_refusal why)
{
    if ((unsigned)why < REFUSE_COUNT)
        atomic_fetch_add_explicit(&m.refusals[why], 1, memory_order_relaxed);
}

void metrics_response(unsigned status)
{
    size_t i = 0;
    while (i < STATUS_COUNT && tracked_statuses[i] != status)
        i++;
    atomic_fetch_add_explicit(&m.statuses[i], 1, memory_order_relaxed);
}

void metrics_reload(int ok)
{
    atomic_fetch_add(&m.reloads, 1);
    if (ok)
        atomic_store(&m.last_reload_ok, (int64_t)time(NULL));
    else
        atomic_fetch_add(&m.reload_failures, 1);
}

void metrics_in_flight(int delta)
{
    atomic_fetch_add(&m.in_flight, delta);
}

/* A growing text buffer; on allocation failure it stays failed. */
typedef struct text {
    char *buf;
    size_t len, cap;
    bool failed;
} text;

__attribute__((format(printf, 2, 3))) static void add(text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *bigger = realloc(t->buf, cap);
        if (bigger == NULL) {
            t->failed = true;
            return;
        }
        t->buf = bigger;
        t->cap = cap;
    }
}

/* A label value with \, " and newline escaped (exposition format). */
static void add_label(text *t, const char *value)
{
    for (const char *c = value; *c != '\0'; c++) {
        if (*c == '\\' || *c == '"')
            add(t, "\\%c", *c);
        else if (*c == '\n')
            add(t, "\\n");
        else
            add(t, "%c", *c);
    }
}

/* Each module data source (the revocation deny list): how long since its
 * data in force was known to match it, whether it is stale, and why. A
 * refused reload shows here even where syslog goes nowhere. */
static void add_sources(text *t, fhirpam_context *ctx)
{
    fhirpam_source_info info[16];
    size_t n = fhirpam_sources(ctx, info, 16);
    if (n > 16)
        n = 16;
    add(t, "# HELP fhirpamd_source_age_seconds Seconds since a module's data in force (the "
           "revocation deny list) was last known to match its file.\n"
           "# TYPE fhirpamd_source_age_seconds gauge\n");
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < n; i++) {
        add(t, "fhirpamd_source_age_seconds{kind=\"%s\",name=\"", info[i].kind);
        add_label(t, info[i].name);
        add(t, "\"} %lld\n", (long long)(now - info[i].fresh_at));
    }
    add(t, "# HELP fhirpamd_source_stale 1 while the file's latest change could not be loaded "
           "(the previous data stays in force); error is the reason.\n"
           "# TYPE fhirpamd_source_stale gauge\n");
    for (size_t i = 0; i < n; i++) {
        add(t, "fhirpamd_source_stale{kind=\"%s\",name=\"", info[i].kind);
        add_label(t, info[i].name);
        add(t, "\",error=\"");
        add_label(t, info[i].error);
        add(t, "\"} %d\n", info[i].stale_since != 0);
    }
}

char *metrics_render(fhirpam_context *ctx, uint64_t cache_hits, size_t cache_entries, size_t *len)
{
    text t = {malloc(4096), 0, 4096, false};
    if (t.buf == NULL)
        return NULL;
    t.buf[0] = '\0';
    add(&t, "# HELP fhirpamd_decisions_total fhirpam decisions by stack, final code and "
            "deciding module (\"\" when the core decided).\n"
            "# TYPE fhirpamd_decisions_total counter\n");
    pthread_mutex_lock(&m.lock);
    for (size_t i = 0; i < DECISION_BUCKETS; i++) {
        for (const series *s = m.buckets[i]; s != NULL; s = s->next) {
            add(&t, "fhirpamd_decisions_total{stack=\"");
            add_label(&t, s->stack);
            add(&t, "\",code=\"");
            add_label(&t, s->code);
            add(&t, "\",module=\"");
            add_label(&t, s->module);
            add(&t, "\"} %llu\n", (unsigned long long)s->count);
        }
    }
    pthread_mutex_unlock(&m.lock);

    add(&t, "# HELP fhirpamd_decision_seconds Time spent in fhirpam_authorize.\n"
            "# TYPE fhirpamd_decision_seconds histogram\n");
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= LATENCY_BUCKETS; i++) {
        cumulative += atomic_load_explicit(&m.latency[i], memory_order_relaxed);
        if (i < LATENCY_BUCKETS)
            add(&t, "fhirpamd_decision_seconds_bucket{le=\"%g\"} %llu\n",
                (double)latency_bounds_us[i] / 1e6, (unsigned long long)cumulative);
        else
            add(&t, "fhirpamd_decision_seconds_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long)cumulative);
    }
    add(&t, "fhirpamd_decision_seconds_sum %.6f\n", (double)atomic_load(&m.latency_sum_us) / 1e6);
    add(&t, "fhirpamd_decision_seconds_count %llu\n",
        (unsigned long long)atomic_load(&m.latency_count));

    add(&t, "# HELP fhirpamd_refusals_total Requests fhirpamd denied itself, by reason.\n"
            "# TYPE fhirpamd_refusals_total counter\n");
    for (size_t i = 0; i < REFUSE_COUNT; i++)
        add(&t, "fhirpamd_refusals_total{reason=\"%s\"} %llu\n", refusal_names[i],
            (unsigned long long)atomic_load(&m.refusals[i]));

    add(&t, "# HELP fhirpamd_responses_total Answers of the decision endpoints, by HTTP "
            "status.\n"
            "# TYPE fhirpamd_responses_total counter\n");
    for (size_t i = 0; i <= STATUS_COUNT; i++) {
        uint64_t n = atomic_load(&m.statuses[i]);
        if (i < STATUS_COUNT)
            add(&t, "fhirpamd_responses_total{status=\"%u\"} %llu\n", tracked_statuses[i],
                (unsigned long long)n);
        else
            add(&t, "fhirpamd_responses_total{status=\"other\"} %llu\n", (unsigned long long)n);
    }

    add(&t,
        "# HELP fhirpamd_token_cache_hits_total Verified-token cache hits of the current "
        "configuration (a reload starts a new cache).\n"
        "# TYPE fhirpamd_token_cache_hits_total counter\n"
        "fhirpamd_token_cache_hits_total %llu\n"
        "# HELP fhirpamd_token_cache_entries Tokens in the verified-token cache.\n"
        "# TYPE fhirpamd_token_cache_entries gauge\n"
        "fhirpamd_token_cache_entries %zu\n"
        "# HELP fhirpamd_reloads_total Configuration reloads (SIGHUP), successful or not.\n"
        "# TYPE fhirpamd_reloads_total counter\n"
        "fhirpamd_reloads_total %llu\n"
        "# HELP fhirpamd_reload_failures_total Reloads refused; the previous configuration "
        "stayed.\n"
        "# TYPE fhirpamd_reload_failures_total counter\n"
        "fhirpamd_reload_failures_total %llu\n"
        "# HELP fhirpamd_config_loaded_timestamp_seconds When the configuration in force was "
        "loaded.\n"
        "# TYPE fhirpamd_config_loaded_timestamp_seconds gauge\n"
        "fhirpamd_config_loaded_timestamp_seconds %lld\n"
        "# HELP fhirpamd_in_flight_requests Requests being answered.\n"
        "# TYPE fhirpamd_in_flight_requests gauge\n"
        "fhirpamd_in_flight_requests %lld\n"
        "# HELP fhirpamd_start_time_seconds When fhirpamd started.\n"
        "# TYPE fhirpamd_start_time_seconds gauge\n"
        "fhirpamd_start_time_seconds %lld\n",
        (unsigned long long)cache_hits, cache_entries, (unsigned long long)atomic_load(&m.reloads),
        (unsigned long long)atomic_load(&m.reload_failures),
        (long long)atomic_load(&m.last_reload_ok), (long long)atomic_load(&m.in_flight),
        (long long)m.started);
    add_sources(&t, ctx);
    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    *len = t.len;
    return t.buf;
}
