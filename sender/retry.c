/* retry.c — the retry policy: decisions, schedule parsing, delays with jitter. */
#include "qxs_retry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* AEP streaming destinations: "retried twice, after 15 s and 30 s". */
static const int64_t platform_delays_ms[] = {15000, 30000};

void qxs_retry_policy_default(qxs_retry_policy *p)
{
    memset(p, 0, sizeof *p);
    p->n_delays = sizeof platform_delays_ms / sizeof platform_delays_ms[0];
    memcpy(p->delays_ms, platform_delays_ms, sizeof platform_delays_ms);
}

/* One element "<digits>ms" or "<digits>s" of length n. */
static int parse_delay(const char *s, size_t n, int64_t *ms)
{
    char buf[32];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (buf[0] < '0' || buf[0] > '9')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno != 0)
        return -1;
    int64_t scale;
    if (strcmp(end, "ms") == 0)
        scale = 1;
    else if (strcmp(end, "s") == 0)
        scale = 1000;
    else
        return -1;
    if (v > QXS_RETRY_MAX_DELAY_MS / scale)
        return -1;
    *ms = (int64_t)v * scale;
    return 0;
}

int qxs_retry_schedule_parse(const char *text, qxs_retry_policy *p, qx_error *err)
{
    qxs_retry_policy out;
    memset(&out, 0, sizeof out);
    if (strcmp(text, "none") == 0) {
        *p = out;
        return 0;
    }
    const char *s = text;
    for (size_t i = 0;; i++) {
        const char *comma = strchr(s, ',');
        size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
        if (i >= QXS_RETRY_MAX_STEPS) {
            qx_error_set(err, "retry schedule \"%s\": at most %d retries", text,
                         QXS_RETRY_MAX_STEPS);
            return -1;
        }
        if (parse_delay(s, n, &out.delays_ms[i]) != 0) {
            qx_error_set(err,
                         "retry schedule \"%s\": element %zu \"%.*s\" is not a delay like 100ms "
                         "or 15s (at most 1 hour)",
                         text, i + 1, (int)(n < 40 ? n : 40), s);
            return -1;
        }
        out.n_delays = i + 1;
        if (comma == NULL)
            break;
        s = comma + 1;
    }
    *p = out;
    return 0;
}

bool qxs_retry_is_retryable(long status)
{
    switch (status) {
    case 0: /* connection error or time-out */
    case 403:
    case 408:
    case 409:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
        return true;
    default:
        return false;
    }
}

qxs_retry_verdict qxs_retry_decide(const qxs_retry_policy *p, long status, int attempts)
{
    if (status >= 200 && status < 300)
        return QXS_DELIVERED;
    if (!qxs_retry_is_retryable(status) || attempts < 1 || (size_t)attempts > p->n_delays)
        return QXS_FAILED;
    return QXS_RETRY;
}

int64_t qxs_retry_delay_ms(const qxs_retry_policy *p, int retry, double jitter_unit,
                           int64_t retry_after_ms)
{
    int64_t base = 0;
    if (retry >= 1 && (size_t)retry <= p->n_delays)
        base = p->delays_ms[retry - 1];
    if (jitter_unit < 0)
        jitter_unit = 0;
    if (jitter_unit >= 1)
        jitter_unit = 0.999999;
    int64_t delay = base + (int64_t)((double)base * QXS_RETRY_JITTER_PERCENT / 100.0 * jitter_unit);
    if (retry_after_ms > QXS_RETRY_AFTER_MAX_MS)
        retry_after_ms = QXS_RETRY_AFTER_MAX_MS;
    return retry_after_ms > delay ? retry_after_ms : delay;
}
