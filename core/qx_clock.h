/*
 * qx_clock.h — wall-clock and monotonic time, and the timestamp format.
 *
 * Times in records are UTC ISO 8601 with milliseconds ("2026-11-29T03:41:14.123Z"),
 * as Qualtrics' API writes them; durations use the monotonic clock.
 */
#ifndef QX_CLOCK_H
#define QX_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define QX_TIME_TEXT_MAX 64

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t qx_now_ms(void);

/* Milliseconds from an arbitrary fixed point (CLOCK_MONOTONIC). */
int64_t qx_mono_ms(void);

/* Microseconds from an arbitrary fixed point (CLOCK_MONOTONIC). */
int64_t qx_mono_us(void);

/* Formats ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" into out
 * (at least QX_TIME_TEXT_MAX bytes). Returns out. */
char *qx_format_time(int64_t ms, char *out);

/* Parses an RFC 3339 timestamp ("2026-11-29T03:41:14Z", fractional seconds
 * and a "+hh:mm" offset allowed) or a plain integer of ms since the epoch.
 * Returns 0 and sets *ms, or -1 when text is not such a time. */
__attribute__((warn_unused_result)) int qx_parse_time(const char *text, int64_t *ms);

/* Sleeps for ms milliseconds (restarting on signals). */
void qx_sleep_ms(int64_t ms);

#endif
