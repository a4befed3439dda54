/*
 * qxm_ratelimit.h — the per-user API rate limit of the JSON-event endpoint.
 *
 * Qualtrics limits API calls to 3,000 per minute; the emulator keeps a token
 * bucket per user (capacity = the per-minute limit, refilled continuously),
 * which admits a burst of a minute's worth and then the steady rate. A
 * smaller burst (qxm_ratelimit_set_burst) makes it stricter: a judge of
 * senders uses one second's worth, which only a sender pacing itself
 * smoothly stays under.
 */
#ifndef QXM_RATELIMIT_H
#define QXM_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "qx_error.h"

typedef struct qxm_ratelimit qxm_ratelimit;

/* A limiter admitting per_minute calls per key per minute (0: unlimited).
 * New (owned); NULL when memory runs out. */
QX_MUST_CHECK qxm_ratelimit *qxm_ratelimit_new(unsigned per_minute);

/* Frees rl; NULL is a no-op. */
void qxm_ratelimit_free(qxm_ratelimit *rl);

/* Changes the limit (keeps current buckets). */
void qxm_ratelimit_set(qxm_ratelimit *rl, unsigned per_minute);

/* Takes one call for key at time now_ms (monotonic). Returns true when
 * admitted; false when over the limit, with *retry_after_s the whole seconds
 * until a call will be admitted (at least 1). Thread-safe. */
bool qxm_ratelimit_take(qxm_ratelimit *rl, const char *key, int64_t now_ms,
                        unsigned *retry_after_s);

/* Sets how many calls a full bucket holds: burst (at most the per-minute
 * limit; 0: the per-minute limit, the default). Buckets already full keep
 * their tokens until the next call caps them. */
void qxm_ratelimit_set_burst(qxm_ratelimit *rl, unsigned burst);

/* Forgets every bucket. */
void qxm_ratelimit_reset(qxm_ratelimit *rl);

#endif
