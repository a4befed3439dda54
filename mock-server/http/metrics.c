/*
 * metrics.c — counters behind GET /metrics (Prometheus text format 0.0.4).
 *
 * Request counts by endpoint and status and a latency histogram are kept with
 * C11 atomics on the request path; run counts by status, the runs evicted
 * by retention and the journal entries evicted come from the store when
 * scraped.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"
#include "qx_buf.h"

/* Statuses the emulator answers with; anything else lands in "other". */
static const int tracked_status[] = {200, 400, 401, 404, 405, 408, 410,
                                     413, 415, 429, 500, 502, 503, 504};
#define N_STATUS (sizeof tracked_status / sizeof tracked_status[0])
/* Latency bucket bounds in microseconds (Prometheus wants seconds). */
static const int64_t bucket_us[] = {250,   500,   1000,   2500,   5000,   10000,
                                    25000, 50000, 100000, 250000, 1000000};
#define N_BUCKETS (sizeof bucket_us / sizeof bucket_us[0])

struct qxm_metrics {
    atomic_llong requests[2][N_STATUS + 1]; /* [ingest?][status index] */
    atomic_llong latency_bucket[N_BUCKETS + 1];
    atomic_llong latency_sum_us;
    atomic_llong latency_count;
};

qxm_metrics *qxm_metrics_new(void)
{
    return calloc(1, sizeof(qxm_metrics));
}

void qxm_metrics_free(qxm_metrics *mx)
{
    free(mx);
}

void qxm_metrics_observe(qxm_metrics *mx, bool ingest, int status, int64_t duration_us)
{
    size_t si = N_STATUS;
    for (size_t i = 0; i < N_STATUS; i++)
        if (tracked_status[i] == status)
            si = i;
    atomic_fetch_add(&mx->requests[ingest][si], 1);
    if (!ingest)
        return;
    size_t b = N_BUCKETS;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        if (duration_us <= bucket_us[i]) {
            b = i;
            break;
        }
    }
    atomic_fetch_add(&mx->latency_bucket[b], 1);
    atomic_fetch_add(&mx->latency_sum_us, duration_us);
    atomic_fetch_add(&mx->latency_count, 1);
}

/* The text being rendered; after a failed append it stays failed. */
typedef struct buf {
    qx_buf b;
    bool failed;
} buf;

static void put(buf *b, const char *fmt, ...) QX_PRINTF(2, 3);
static void put(buf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    b->failed = qx_buf_vaddf(&b->b, fmt, ap) != 0;
    va_end(ap);
}

char *qxm_metrics_render(qxm_metrics *mx, qxm_store *store, size_t *len)
{
    buf b = {.failed = false};
    put(&b, "# HELP qxmock_requests_total HTTP requests answered, by endpoint and status.\n"
            "# TYPE qxmock_requests_total counter\n");
    for (int ingest = 1; ingest >= 0; ingest--) {
        for (size_t i = 0; i <= N_STATUS; i++) {
            long long v = atomic_load(&mx->requests[ingest][i]);
            if (v == 0 && !(ingest && i == 0))
                continue;
            char st[16];
            if (i < N_STATUS)
                snprintf(st, sizeof st, "%d", tracked_status[i]);
            else
                snprintf(st, sizeof st, "other");
            put(&b, "qxmock_requests_total{endpoint=\"%s\",status=\"%s\"} %lld\n",
                ingest ? "json_event" : "admin", st, v);
        }
    }
    qxm_status_counts c = {0};
    qx_error err;
    if (qxm_store_status_counts(store, &c, &err) == 0) {
        put(&b,
            "# HELP qxmock_runs Workflow runs in the history, by status.\n"
            "# TYPE qxmock_runs gauge\n"
            "qxmock_runs{status=\"RUNNING\"} %lld\n"
            "qxmock_runs{status=\"SUCCESS\"} %lld\n"
            "qxmock_runs{status=\"FAILURE\"} %lld\n",
            (long long)c.running, (long long)c.success, (long long)c.failure);
    }
    /* Counted by the store since it was created: with --db it goes on
     * across restarts (a counter may start above zero). */
    int64_t evicted = qxm_store_runs_evicted(store, &err);
    if (evicted >= 0)
        put(&b,
            "# HELP qxmock_runs_evicted_total Workflow runs evicted by historyRetentionDays.\n"
            "# TYPE qxmock_runs_evicted_total counter\n"
            "qxmock_runs_evicted_total %lld\n",
            (long long)evicted);
    int64_t journal_evicted = qxm_store_journal_evicted(store, &err);
    if (journal_evicted >= 0)
        put(&b,
            "# HELP qxmock_journal_evicted_total Request-journal entries evicted by journalMax,"
            " journalMaxBytes or historyRetentionDays.\n"
            "# TYPE qxmock_journal_evicted_total counter\n"
            "qxmock_journal_evicted_total %lld\n",
            (long long)journal_evicted);
    put(&b, "# HELP qxmock_json_event_duration_seconds Time to answer a JSON-event request.\n"
            "# TYPE qxmock_json_event_duration_seconds histogram\n");
    long long cumulative = 0;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        cumulative += atomic_load(&mx->latency_bucket[i]);
        put(&b, "qxmock_json_event_duration_seconds_bucket{le=\"%g\"} %lld\n",
            (double)bucket_us[i] / 1e6, cumulative);
    }
    cumulative += atomic_load(&mx->latency_bucket[N_BUCKETS]);
    put(&b, "qxmock_json_event_duration_seconds_bucket{le=\"+Inf\"} %lld\n", cumulative);
    put(&b, "qxmock_json_event_duration_seconds_sum %.6f\n",
        (double)atomic_load(&mx->latency_sum_us) / 1e6);
    put(&b, "qxmock_json_event_duration_seconds_count %lld\n",
        (long long)atomic_load(&mx->latency_count));
    if (b.failed) {
        qx_buf_free(&b.b);
        return NULL;
    }
    return qx_buf_take(&b.b, len);
}
