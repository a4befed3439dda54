/*
 * admin_stats.c — GET /_qx/v1/stats: the page's totals and runs-per-bucket
 * chart, and how many runs retention has evicted since the store was
 * created (`evicted`).
 */
#include <stdio.h>
#include <stdlib.h>

#include "http_internal.h"
#include "qx_clock.h"

/* GET /stats: the page's totals and runs-per-bucket chart, counted by the
 * store so the browser never loads the runs themselves. A chart wider than
 * STATS_MAX_BUCKETS bars is unreadable and slow to draw: over a long range
 * the bucket is widened to the next round size, and the answer says which. */
#define STATS_MAX_BUCKETS 500
#define STATS_DEFAULT_BUCKET_MS 60000
#define STATS_MAX_BUCKET_MS (366LL * 86400000)
#define STATS_MAX_ATTEMPTS 8

static const int64_t round_bucket_ms[] = {
    1000,     2000,     5000,      10000,     15000,      30000,     60000,    120000,
    300000,   600000,   900000,    1800000,   3600000,    7200000,   10800000, 21600000,
    43200000, 86400000, 172800000, 604800000, 1209600000, 2592000000};

/* The smallest round bucket of at least need ms that is wider than current. */
static int64_t wider_bucket(int64_t need, int64_t current)
{
    for (size_t i = 0; i < sizeof round_bucket_ms / sizeof round_bucket_ms[0]; i++)
        if (round_bucket_ms[i] >= need && round_bucket_ms[i] > current)
            return round_bucket_ms[i];
    const int64_t month = 2592000000;
    int64_t w = (need + month - 1) / month * month;
    return w > current ? w : current + month;
}

static json_t *time_or_null(int64_t ms)
{
    char text[QX_TIME_TEXT_MAX];
    return ms != 0 ? json_string(qx_format_time(ms, text)) : json_null();
}

void qxm_admin_stats(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    qxm_run_filter f = {0};
    long long bucket = STATS_DEFAULT_BUCKET_MS;
    if (qxm_param_filter(m, req, &f, ans) < 0 ||
        qxm_param_int(req, "bucketMs", 1000, STATS_MAX_BUCKET_MS, &bucket, ans) < 0)
        return;
    if (f.since_ms != 0 && f.until_ms != 0 && f.since_ms >= f.until_ms) {
        qxm_bad_request(ans, "until: must be after since");
        return;
    }
    /* One bucket more than allowed is enough to tell that there are too many. */
    f.limit = STATS_MAX_BUCKETS + 1;
    qx_error err;
    json_t *hist = NULL;
    json_t *buckets = NULL;
    for (int attempt = 0; attempt < STATS_MAX_ATTEMPTS; attempt++) {
        json_decref(hist);
        hist = qxm_store_histogram(qxm_engine_store(m->engine), &f, bucket, &err);
        if (hist == NULL) {
            qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
            return;
        }
        buckets = json_object_get(hist, "buckets");
        size_t n = json_array_size(buckets);
        if (n == 0)
            break;
        bool truncated = n > STATS_MAX_BUCKETS;
        int64_t first = json_integer_value(json_object_get(json_array_get(buckets, 0), "startMs"));
        int64_t last =
            json_integer_value(json_object_get(json_array_get(buckets, n - 1), "startMs"));
        /* The range the chart covers: the filter's ends, else the runs'
         * own; an open end of "since" reaches now (the page's sliding
         * "last hour"), as does a list cut short. */
        int64_t start = f.since_ms != 0 ? f.since_ms / bucket * bucket : first;
        int64_t end = f.until_ms != 0 ? f.until_ms : last + bucket;
        int64_t now = qx_now_ms();
        if (f.until_ms == 0 && (f.since_ms != 0 || truncated) && now > end)
            end = now;
        int64_t need = (end - start + STATS_MAX_BUCKETS - 1) / STATS_MAX_BUCKETS;
        if (!truncated && need <= bucket)
            break;
        if (attempt == STATS_MAX_ATTEMPTS - 1)
            break;
        bucket = wider_bucket(need, bucket);
    }
    while (json_array_size(buckets) > STATS_MAX_BUCKETS)
        json_array_remove(buckets, json_array_size(buckets) - 1);
    /* Bucket starts as RFC 3339 text, like every time in the API. */
    size_t i;
    json_t *b;
    json_array_foreach(buckets, i, b)
    {
        char text[QX_TIME_TEXT_MAX];
        int64_t ms = json_integer_value(json_object_get(b, "startMs"));
        json_object_set_new(b, "start", json_string(qx_format_time(ms, text)));
        json_object_del(b, "startMs");
    }
    int64_t evicted = qxm_store_runs_evicted(qxm_engine_store(m->engine), &err);
    if (evicted < 0) {
        json_decref(hist);
        qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
        return;
    }
    ans->status = 200;
    ans->json = json_pack("{s:I, s:o, s:o, s:O, s:O, s:I}", "bucketMs", (json_int_t)bucket, "since",
                          time_or_null(f.since_ms), "until", time_or_null(f.until_ms), "totals",
                          json_object_get(hist, "totals"), "buckets", buckets, "evicted",
                          (json_int_t)evicted);
    json_decref(hist);
}
