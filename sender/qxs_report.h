/*
 * qxs_report.h — what happened to every input line, in the terms of the
 * platform's dataflow monitoring: each line read ends as activated (the
 * destination accepted it), excluded (not sent, with a reason) or failed
 * (malformed, refused, or out of retries); read = activated + excluded +
 * failed once a run has finished.
 *
 * The JSON report (`--report FILE`):
 *   {"read", "activated", "excluded", "failed", "retries",
 *    "excludedReasons": {"<reason>": n, ...}, "failedReasons": {"<reason>": n, ...},
 *    "latencyMs": {"p50", "p95", "p99", "max"}, "throughputPerSec", "elapsedMs",
 *    "rateLimitPerMinute", "retryAfterPauses", "retryAfterPausedMs", "alerts": [...]}
 * Latency is the duration of each HTTP call (every attempt, whatever its
 * outcome), percentiles by the nearest-rank method; null when no call was
 * made. Throughput is this run's activated payloads per second of elapsed
 * time.
 * "rateLimitPerMinute" is the pace the calls were held to (--rate or the
 * destination's rateLimitPerMinute), null when they were not paced;
 * "retryAfterPauses" counts the times a 429's Retry-After paused all sending
 * to the destination and "retryAfterPausedMs" how long those pauses held
 * it (overlapping ones counted once, a pause cut short by the end of the run
 * only up to then).
 * "alerts" lists the alerts raised by this process (qxs_alert.h), in the
 * order raised; [] when none.
 * "pending" (lines read and not yet activated, excluded or failed) appears
 * only when it is not 0: a `--state` run stopped by a signal leaves those to
 * the next run.
 * "resumeFromLine" (1-based) appears only when a run without `--state`
 * ended before its input did (a signal, a read error): the first input line
 * not read, where `send --from-line N` continues. Every line before it is
 * counted (and, when failed, dead-lettered); no line from it on was read.
 *
 * With `--state` the counts (read ... failedReasons) are cumulative over
 * every run of the same state file; latency, throughput, elapsed time and
 * the pacing members are this process's own.
 *
 * A report is filled by one thread (the delivery loop).
 *
 * Owns: its counts, reason tables and latency samples.
 * Locks: none; no shared state: a report is filled by one thread (the
 * delivery loop).
 * Fails: -1 (with err where there is one) when memory runs out (the count
 * is still taken), when counts to add are malformed, or when the file
 * cannot be written.
 */
#ifndef QXS_REPORT_H
#define QXS_REPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "qx_error.h"

#define QXS_REPORT_REAL_DIGITS 9

typedef struct qxs_report qxs_report;

/* The counts, readable at any time (e.g. by a progress callback). */
typedef struct qxs_counts {
    int64_t read, activated, excluded, failed, retries;
    int64_t in_flight;         /* read, not yet activated, excluded or failed */
    int64_t earlier_activated; /* of activated: in earlier runs (qxs_report_add_counts) */
    int64_t input_offset;      /* input bytes up to the end of the last line read */
} qxs_counts;

/* A new, empty report (owned: free with qxs_report_free); NULL when memory
 * runs out. The elapsed clock starts now. */
QX_MUST_CHECK qxs_report *qxs_report_new(void);

/* Frees r; NULL is a no-op. */
void qxs_report_free(qxs_report *r);

/* One input line read. */
void qxs_report_read(qxs_report *r);
/* The input is read up to offset (the end of the line just read), for a
 * progress line's share of the file. */
void qxs_report_input_at(qxs_report *r, int64_t offset);
/* One line's payload accepted by the destination. */
void qxs_report_activated(qxs_report *r);
/* One line excluded for reason (e.g. "noMappedIdentity"). Returns 0, -1 when
 * memory runs out (the count is still taken). */
QX_MUST_CHECK int qxs_report_excluded(qxs_report *r, const char *reason);
/* One line failed for reason (e.g. "http401", "malformedInput"). Returns 0, -1
 * when memory runs out (the count is still taken). */
QX_MUST_CHECK int qxs_report_failed(qxs_report *r, const char *reason);
/* One retry scheduled. */
void qxs_report_retry(qxs_report *r);
/* One HTTP call took us microseconds. Returns 0, -1 when memory runs out. */
QX_MUST_CHECK int qxs_report_latency_us(qxs_report *r, int64_t us);

/* The pace of the calls, per minute (0: not paced; written as null). */
void qxs_report_set_rate_limit(qxs_report *r, long per_minute);

/* One pause of all sending for a 429's Retry-After began. */
void qxs_report_retry_after_pause(qxs_report *r);

/* Sending was paused for a Retry-After for ms more milliseconds. */
void qxs_report_retry_after_paused_ms(qxs_report *r, int64_t ms);

/* The first input line not read when the run ended early (a signal, a read
 * error), written as "resumeFromLine"; 0 (the default) when the input was
 * read to its end, and then nothing is written. */
void qxs_report_set_resume_line(qxs_report *r, size_t line);

/* Appends an alert entry (stolen, also on failure). Returns 0, -1 when
 * memory runs out. */
QX_MUST_CHECK int qxs_report_alert(qxs_report *r, json_t *alert);

/* The alerts so far: a borrowed array. */
const json_t *qxs_report_alerts(const qxs_report *r);

/* What qxs_report_set_resume_line set; 0 when nothing. */
size_t qxs_report_resume_line(const qxs_report *r);

/* The counts so far. */
qxs_counts qxs_report_counts(const qxs_report *r);

/* Milliseconds since qxs_report_new (or the last qxs_report_set_elapsed). */
int64_t qxs_report_elapsed_ms(const qxs_report *r);

/* Fixes the elapsed time (tests; the final report). Negative: live clock. */
void qxs_report_set_elapsed_ms(qxs_report *r, int64_t ms);

/* The report document described above. Returns a new reference (owned), NULL
 * when memory runs out. */
QX_MUST_CHECK json_t *qxs_report_to_json(const qxs_report *r);

/* The cumulative part of the report: {"read", "activated", "excluded",
 * "failed", "retries", "excludedReasons", "failedReasons"}. Returns a new
 * reference (owned), NULL when memory runs out. */
QX_MUST_CHECK json_t *qxs_report_counts_to_json(const qxs_report *r);

/* Adds counts written by qxs_report_counts_to_json (a previous run's) to r.
 * Returns 0, or -1 with err naming the bad member (r unchanged on a shape
 * error; counts may be partly added when memory runs out). */
QX_MUST_CHECK int qxs_report_add_counts(qxs_report *r, const json_t *counts, qx_error *err);

/* Writes the report document to path (pretty-printed, reals with at most
 * QXS_REPORT_REAL_DIGITS significant digits). Returns 0, -1 with err set. */
QX_MUST_CHECK int qxs_report_write_file(const qxs_report *r, const char *path, qx_error *err);

/* The nearest-rank p-th percentile (0 < p <= 100) of the n values in sorted
 * (ascending); 0 when n is 0. */
int64_t qxs_percentile(const int64_t *sorted, size_t n, double p);

#endif
