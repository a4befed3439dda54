/*
 * pace.c — the smooth token bucket and the rate text (see qxs_pace.h).
 *
 * Units: a minute has 60,000,000 µs, so a bucket of N calls a minute gains
 * exactly N units per µs when a token is 60,000,000 units; the bucket holds
 * one token, and with N at most 10^6 nothing overflows.
 */
#include "qxs_pace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The units held at now_us (never more than the capacity). */
static int64_t units_at(const qxs_pace *b, int64_t now_us)
{
    int64_t elapsed = now_us - b->updated_us;
    if (elapsed <= 0)
        return b->units;
    /* compared before multiplying: a long idle time must not overflow */
    int64_t room = b->capacity - b->units;
    if (elapsed >= room / b->per_minute + 1)
        return b->capacity;
    int64_t units = b->units + elapsed * b->per_minute;
    return units < b->capacity ? units : b->capacity;
}

void qxs_pace_init(qxs_pace *b, long per_minute, int64_t now_us)
{
    if (per_minute < 1)
        per_minute = 1;
    if (per_minute > QXS_PACE_MAX_PER_MINUTE)
        per_minute = QXS_PACE_MAX_PER_MINUTE;
    b->per_minute = per_minute;
    /* One call: requests are spaced evenly (see qxs_pace.h). */
    b->capacity = QXS_PACE_UNITS_PER_TOKEN;
    b->units = b->capacity;
    b->updated_us = now_us;
}

bool qxs_pace_take(qxs_pace *b, int64_t now_us)
{
    int64_t units = units_at(b, now_us);
    if (now_us > b->updated_us) {
        b->units = units;
        b->updated_us = now_us;
    }
    if (units < QXS_PACE_UNITS_PER_TOKEN)
        return false;
    b->units -= QXS_PACE_UNITS_PER_TOKEN;
    return true;
}

int64_t qxs_pace_wait_us(const qxs_pace *b, int64_t now_us)
{
    int64_t missing = QXS_PACE_UNITS_PER_TOKEN - units_at(b, now_us);
    if (missing <= 0)
        return 0;
    return (missing + b->per_minute - 1) / b->per_minute; /* rounded up */
}

int64_t qxs_pace_burst(const qxs_pace *b)
{
    return b->capacity / QXS_PACE_UNITS_PER_TOKEN;
}

int qxs_pace_parse_rate(const char *text, long *per_minute, qx_error *err)
{
    static const char expected[] = "expected N/min (1 to 1000000) or N/s (1 to 16666)";
    const char *slash = text != NULL ? strchr(text, '/') : NULL;
    long factor = 0;
    if (slash != NULL && strcmp(slash, "/min") == 0)
        factor = 1;
    else if (slash != NULL && strcmp(slash, "/s") == 0)
        factor = 60;
    if (factor == 0 || slash == text || text[0] < '0' || text[0] > '9') {
        qx_error_set(err, "\"%s\": %s", text != NULL ? text : "", expected);
        return -1;
    }
    char *end;
    errno = 0;
    long n = strtol(text, &end, 10);
    if (errno != 0 || end != slash || n < 1 || n > QXS_PACE_MAX_PER_MINUTE / factor) {
        qx_error_set(err, "\"%s\": %s", text, expected);
        return -1;
    }
    *per_minute = n * factor;
    return 0;
}
