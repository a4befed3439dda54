/*
 * qxs_pace.h — client-side pacing: a smooth token bucket, and the text of a
 * rate ("300/min", "5/s").
 *
 * Qualtrics allows 3,000 API calls a minute per user and answers 429 beyond
 * (Qualtrics API docs, "Rate limits"). qx-send paces itself only when asked
 * (`--rate`, or the destination's rateLimitPerMinute): by default nothing is
 * slower than before.
 *
 * The bucket is smooth: it holds one call and refills continuously at N a
 * minute, so calls are spaced evenly, 60/N seconds apart, and it starts
 * full. A server's bucket of the same rate, measured when calls arrive,
 * starts later than ours and sees network jitter: were ours to hold a
 * second's worth like a strict server's, our next token would come before
 * the server's and the call would be refused. Holding one call, we never
 * empty a server bucket of the same rate that holds more than one (a
 * second's worth, as `qx-mock conform` uses, or Qualtrics' minute).
 *
 * Exact integer arithmetic: one token is QXS_PACE_UNITS_PER_TOKEN units and
 * the bucket gains N units per microsecond, so N calls a minute are N tokens
 * in 60,000,000 µs with no rounding drift.
 *
 * Pure: the caller passes the time (monotonic microseconds); no clock, no
 * I/O, so tests drive it deterministically.
 *
 * Owns: nothing (the caller owns the bucket struct). Locks: none; a bucket
 * is used by one thread.
 * Fails: only parsing, -1 with err naming the text and what is expected.
 */
#ifndef QXS_PACE_H
#define QXS_PACE_H

#include <stdbool.h>
#include <stdint.h>

#include "qx_error.h"

/* rateLimitPerMinute and --rate accept 1 to this many calls a minute. */
#define QXS_PACE_MAX_PER_MINUTE 1000000L
/* Microseconds in a minute: one token in bucket units. */
#define QXS_PACE_UNITS_PER_TOKEN 60000000LL

/* A token bucket. Read and change it only through the functions below. */
typedef struct qxs_pace {
    int64_t per_minute; /* refill: per_minute units per microsecond */
    int64_t capacity;   /* units: one token */
    int64_t units;      /* units held at updated_us */
    int64_t updated_us;
} qxs_pace;

/* A full bucket for per_minute calls a minute (1..QXS_PACE_MAX_PER_MINUTE)
 * at time now_us. */
void qxs_pace_init(qxs_pace *b, long per_minute, int64_t now_us);

/* Takes one token at now_us. True when there was one (the call may start
 * now); false, and nothing taken, when the bucket is short of one. */
bool qxs_pace_take(qxs_pace *b, int64_t now_us);

/* Microseconds from now_us until a token is there (0: one is there now).
 * Nothing is taken. */
int64_t qxs_pace_wait_us(const qxs_pace *b, int64_t now_us);

/* Tokens the bucket holds at most: 1. */
int64_t qxs_pace_burst(const qxs_pace *b);

/* Parses a rate: "N/min" or "N/s" (N a decimal integer, no spaces), at most
 * QXS_PACE_MAX_PER_MINUTE a minute. Returns 0 with *per_minute set, or -1
 * with err saying what is expected (*per_minute unchanged). */
QX_MUST_CHECK int qxs_pace_parse_rate(const char *text, long *per_minute, qx_error *err);

#endif
