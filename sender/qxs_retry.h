/*
 * qxs_retry.h — when to retry a delivery and how long to wait first.
 *
 * The default is the platform's documented streaming retry policy: HTTP 403,
 * 408, 409, 429, 500, 502, 503 and 504, connection errors and time-outs are
 * retried twice, after 15 s and then 30 s; any other status fails at once
 * (Adobe Experience Platform, Destination SDK, "Rate limiting and retry policy
 * for streaming destinations", best-effort aggregation).
 * `--retry-schedule` replaces the delays and their count ("100ms,200ms";
 * "none" for no retries). Each delay gets up to QXS_RETRY_JITTER_PERCENT
 * added at random so that many failed requests do not come back at the same
 * instant; a Retry-After the server sent (429, 503) wins when it is longer.
 *
 * Pure arithmetic: no clock, no HTTP; the random draw comes from the caller.
 *
 * Owns: nothing. Locks: none; no shared state.
 * Fails: only parsing, -1 with err naming the bad element.
 */
#ifndef QXS_RETRY_H
#define QXS_RETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qx_error.h"

#define QXS_RETRY_MAX_STEPS 16
#define QXS_RETRY_JITTER_PERCENT 10
/* A delay longer than an hour in a schedule is a typo. */
#define QXS_RETRY_MAX_DELAY_MS (3600 * 1000LL)
/* A Retry-After is honoured up to this long; a server asking for more is
 * treated as asking for this (the retry still happens, the stream moves on). */
#define QXS_RETRY_AFTER_MAX_MS (300 * 1000LL)

typedef struct qxs_retry_policy {
    int64_t delays_ms[QXS_RETRY_MAX_STEPS]; /* delay before retry 1, 2, ... */
    size_t n_delays;                        /* number of retries */
} qxs_retry_policy;

typedef enum qxs_retry_verdict {
    QXS_DELIVERED, /* 2xx */
    QXS_RETRY,     /* retryable and retries left */
    QXS_FAILED     /* not retryable, or retries exhausted */
} qxs_retry_verdict;

/* The platform's policy: two retries, after 15 s and 30 s. */
void qxs_retry_policy_default(qxs_retry_policy *p);

/* Parses "100ms,200ms,1s" (units ms or s; "none" = no retries) into p.
 * Returns 0, or -1 with err naming the bad element (p unchanged). */
QX_MUST_CHECK int qxs_retry_schedule_parse(const char *text, qxs_retry_policy *p, qx_error *err);

/* True for the statuses the platform retries; status 0 stands for a
 * connection error or time-out (no HTTP answer), which is retried too. */
bool qxs_retry_is_retryable(long status);

/* What to do after attempt number attempts (1-based) ended with status
 * (0: no HTTP answer). */
qxs_retry_verdict qxs_retry_decide(const qxs_retry_policy *p, long status, int attempts);

/* The wait before retry number retry (1-based, <= p->n_delays): the
 * scheduled delay plus jitter_unit * QXS_RETRY_JITTER_PERCENT % of it
 * (jitter_unit in [0, 1), e.g. qx_rng_unit), or retry_after_ms when that is
 * longer (capped at QXS_RETRY_AFTER_MAX_MS; pass -1 when there was none). */
int64_t qxs_retry_delay_ms(const qxs_retry_policy *p, int retry, double jitter_unit,
                           int64_t retry_after_ms);

#endif
