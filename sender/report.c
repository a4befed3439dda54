/*
 * report.c — counts, latency percentiles and throughput of one run.
 *
 * Latencies are kept as a growing array of microseconds and sorted once when
 * the report is written: exact percentiles at 8 bytes per HTTP call (a
 * million calls cost 8 MB), simpler and more honest than a histogram at the
 * sizes qx-send handles.
 */
#include "qxs_report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_clock.h"

struct qxs_report {
    qxs_counts c;
    json_t *excluded_reasons; /* reason -> integer */
    json_t *failed_reasons;
    int64_t *lat_us;
    size_t n_lat, cap_lat;
    int64_t started_mono_ms;
    int64_t fixed_elapsed_ms; /* -1: live */
    size_t resume_line;       /* 0: the input was read to its end */
    long rate_per_minute;     /* 0: not paced */
    int64_t pauses, paused_ms;
    json_t *alerts; /* array of alert entries (qxs_alert.h) */
};

qxs_report *qxs_report_new(void)
{
    qxs_report *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->excluded_reasons = json_object();
    r->failed_reasons = json_object();
    r->alerts = json_array();
    if (r->excluded_reasons == NULL || r->failed_reasons == NULL || r->alerts == NULL) {
        qxs_report_free(r);
        return NULL;
    }
    r->started_mono_ms = qx_mono_ms();
    r->fixed_elapsed_ms = -1;
    return r;
}

void qxs_report_free(qxs_report *r)
{
    if (r == NULL)
        return;
    json_decref(r->excluded_reasons);
    json_decref(r->failed_reasons);
    json_decref(r->alerts);
    free(r->lat_us);
    free(r);
}

static int bump(json_t *reasons, const char *reason)
{
    json_t *v = json_object_get(reasons, reason);
    if (v != NULL)
        return json_integer_set(v, json_integer_value(v) + 1);
    return json_object_set_new(reasons, reason, json_integer(1));
}

void qxs_report_read(qxs_report *r)
{
    r->c.read++;
    r->c.in_flight++;
}

void qxs_report_input_at(qxs_report *r, int64_t offset)
{
    r->c.input_offset = offset;
}

void qxs_report_activated(qxs_report *r)
{
    r->c.activated++;
    r->c.in_flight--;
}

int qxs_report_excluded(qxs_report *r, const char *reason)
{
    r->c.excluded++;
    r->c.in_flight--;
    return bump(r->excluded_reasons, reason);
}

int qxs_report_failed(qxs_report *r, const char *reason)
{
    r->c.failed++;
    r->c.in_flight--;
    return bump(r->failed_reasons, reason);
}

void qxs_report_retry(qxs_report *r)
{
    r->c.retries++;
}

int qxs_report_latency_us(qxs_report *r, int64_t us)
{
    if (r->n_lat == r->cap_lat) {
        size_t cap = r->cap_lat ? r->cap_lat * 2 : 1024;
        int64_t *p = realloc(r->lat_us, cap * sizeof *p);
        if (p == NULL)
            return -1;
        r->lat_us = p;
        r->cap_lat = cap;
    }
    r->lat_us[r->n_lat++] = us < 0 ? 0 : us;
    return 0;
}

qxs_counts qxs_report_counts(const qxs_report *r)
{
    return r->c;
}

int64_t qxs_report_elapsed_ms(const qxs_report *r)
{
    if (r->fixed_elapsed_ms >= 0)
        return r->fixed_elapsed_ms;
    return qx_mono_ms() - r->started_mono_ms;
}

void qxs_report_set_elapsed_ms(qxs_report *r, int64_t ms)
{
    r->fixed_elapsed_ms = ms;
}

void qxs_report_set_rate_limit(qxs_report *r, long per_minute)
{
    r->rate_per_minute = per_minute > 0 ? per_minute : 0;
}

void qxs_report_retry_after_pause(qxs_report *r)
{
    r->pauses++;
}

void qxs_report_retry_after_paused_ms(qxs_report *r, int64_t ms)
{
    if (ms > 0)
        r->paused_ms += ms;
}

void qxs_report_set_resume_line(qxs_report *r, size_t line)
{
    r->resume_line = line;
}

size_t qxs_report_resume_line(const qxs_report *r)
{
    return r->resume_line;
}

int qxs_report_alert(qxs_report *r, json_t *alert)
{
    return json_array_append_new(r->alerts, alert);
}

const json_t *qxs_report_alerts(const qxs_report *r)
{
    return r->alerts;
}

int64_t qxs_percentile(const int64_t *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    /* nearest rank: the smallest value with at least p % of values <= it */
    double rank = ceil(p / 100.0 * (double)n);
    size_t i = rank < 1 ? 0 : (size_t)rank - 1;
    return sorted[i < n ? i : n - 1];
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Microseconds as milliseconds with three decimals. */
static json_t *ms_value(int64_t us)
{
    return json_real((double)us / 1000.0);
}

json_t *qxs_report_to_json(const qxs_report *r)
{
    json_t *lat = NULL;
    if (r->n_lat == 0) {
        lat = json_pack("{s:n, s:n, s:n, s:n}", "p50", "p95", "p99", "max");
    } else {
        int64_t *sorted = malloc(r->n_lat * sizeof *sorted);
        if (sorted == NULL)
            return NULL;
        memcpy(sorted, r->lat_us, r->n_lat * sizeof *sorted);
        qsort(sorted, r->n_lat, sizeof *sorted, cmp_i64);
        lat = json_pack(
            "{s:o, s:o, s:o, s:o}", "p50", ms_value(qxs_percentile(sorted, r->n_lat, 50)), "p95",
            ms_value(qxs_percentile(sorted, r->n_lat, 95)), "p99",
            ms_value(qxs_percentile(sorted, r->n_lat, 99)), "max", ms_value(sorted[r->n_lat - 1]));
        free(sorted);
    }
    if (lat == NULL)
        return NULL;
    int64_t elapsed = qxs_report_elapsed_ms(r);
    int64_t here = r->c.activated - r->c.earlier_activated;
    double throughput = elapsed > 0 ? (double)here * 1000.0 / (double)elapsed : 0.0;
    /* two decimals are all a rate needs, and they keep the file readable */
    throughput = round(throughput * 100.0) / 100.0;
    json_t *doc = qxs_report_counts_to_json(r);
    if (doc == NULL || json_object_set_new(doc, "latencyMs", lat) != 0 ||
        json_object_set_new(doc, "throughputPerSec", json_real(throughput)) != 0 ||
        json_object_set_new(doc, "elapsedMs", json_integer((json_int_t)elapsed)) != 0 ||
        json_object_set_new(doc, "rateLimitPerMinute",
                            r->rate_per_minute > 0 ? json_integer(r->rate_per_minute)
                                                   : json_null()) != 0 ||
        json_object_set_new(doc, "retryAfterPauses", json_integer((json_int_t)r->pauses)) != 0 ||
        json_object_set_new(doc, "retryAfterPausedMs", json_integer((json_int_t)r->paused_ms)) !=
            0 ||
        json_object_set(doc, "alerts", r->alerts) != 0 ||
        (r->c.in_flight != 0 &&
         json_object_set_new(doc, "pending", json_integer((json_int_t)r->c.in_flight)) != 0) ||
        (r->resume_line != 0 &&
         json_object_set_new(doc, "resumeFromLine", json_integer((json_int_t)r->resume_line)) !=
             0)) {
        if (doc == NULL)
            json_decref(lat);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

json_t *qxs_report_counts_to_json(const qxs_report *r)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:O, s:O}", "read", (json_int_t)r->c.read,
                     "activated", (json_int_t)r->c.activated, "excluded", (json_int_t)r->c.excluded,
                     "failed", (json_int_t)r->c.failed, "retries", (json_int_t)r->c.retries,
                     "excludedReasons", r->excluded_reasons, "failedReasons", r->failed_reasons);
}

/* Checks that every member of reasons is a non-negative integer. */
static int check_reasons(const json_t *reasons, const char *name, qx_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)reasons, key, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            qx_error_set(err, "counts.%s.%s: expected a count", name, key);
            return -1;
        }
    }
    return 0;
}

static int add_reasons(json_t *into, const json_t *from)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)from, key, v)
    {
        json_t *old = json_object_get(into, key);
        json_int_t n = json_integer_value(v) + (old != NULL ? json_integer_value(old) : 0);
        if (json_object_set_new(into, key, json_integer(n)) != 0)
            return -1;
    }
    return 0;
}

int qxs_report_add_counts(qxs_report *r, const json_t *counts, qx_error *err)
{
    json_int_t read, activated, excluded, failed, retries;
    json_t *ex, *fa;
    json_error_t jerr;
    if (json_unpack_ex((json_t *)counts, &jerr, JSON_STRICT, "{s:I, s:I, s:I, s:I, s:I, s:o, s:o}",
                       "read", &read, "activated", &activated, "excluded", &excluded, "failed",
                       &failed, "retries", &retries, "excludedReasons", &ex, "failedReasons",
                       &fa) != 0) {
        qx_error_set(err, "counts: %s", jerr.text);
        return -1;
    }
    if (read < 0 || activated < 0 || excluded < 0 || failed < 0 || retries < 0 ||
        activated + excluded + failed > read) {
        qx_error_set(err, "counts: negative, or more lines ended than were read");
        return -1;
    }
    if (!json_is_object(ex) || !json_is_object(fa)) {
        qx_error_set(err, "counts: excludedReasons and failedReasons must be objects");
        return -1;
    }
    if (check_reasons(ex, "excludedReasons", err) != 0 ||
        check_reasons(fa, "failedReasons", err) != 0)
        return -1;
    r->c.read += read;
    r->c.activated += activated;
    r->c.earlier_activated += activated;
    r->c.excluded += excluded;
    r->c.failed += failed;
    r->c.retries += retries;
    r->c.in_flight += read - activated - excluded - failed;
    if (add_reasons(r->excluded_reasons, ex) != 0 || add_reasons(r->failed_reasons, fa) != 0) {
        qx_error_set(err, "counts: out of memory");
        return -1;
    }
    return 0;
}

int qxs_report_write_file(const qxs_report *r, const char *path, qx_error *err)
{
    json_t *doc = qxs_report_to_json(r);
    if (doc == NULL) {
        qx_error_set(err, "%s: out of memory", path);
        return -1;
    }
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        qx_error_set(err, "%s: %s", path, strerror(errno));
        json_decref(doc);
        return -1;
    }
    int rc = json_dumpf(doc, f, JSON_INDENT(2) | JSON_REAL_PRECISION(QXS_REPORT_REAL_DIGITS));
    if (rc == 0 && fputc('\n', f) == EOF)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    json_decref(doc);
    if (rc != 0)
        qx_error_set(err, "%s: write failed", path);
    return rc;
}
