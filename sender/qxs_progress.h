/*
 * qxs_progress.h — the text of qx-send's progress: the live line a
 * terminal shows while a run goes on (how much of the input is read out of
 * how much, the counts, the rate, the time left, what throttles sending)
 * and the one summary line at its end. Pure formatting: the caller says
 * what is known (a pipe has no size, so no total and no time left).
 *
 * Owns: nothing; locks: none (no state, any thread).
 * Fails: never; a line longer than the caller's buffer is cut (snprintf).
 */
#ifndef QXS_PROGRESS_H
#define QXS_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#include "qxs_deliver.h"
#include "qxs_report.h"

/* A buffer this long holds any line below. */
#define QXS_PROGRESS_LINE_MAX 320

/* What a progress line shows. */
typedef struct qxs_progress {
    qxs_counts counts;    /* input_offset: how much of the input is read */
    int64_t bytes_total;  /* the input's size (a regular file); -1: not known */
    double lines_per_sec; /* lines finished (activated, excluded, failed) per second
                             in this run, for the time left; 0: not known yet */
    double per_sec;       /* payloads activated per second in this run */
    qxs_throttle throttle;
} qxs_progress;

/* The live line, without a newline:
 * "42% 1.2/2.9 MB  read 1200  activated 1100  excluded 50  failed 0
 * retries 2  412.3 payloads/s  ETA 1m05s  paced at 300/min" (one line).
 * The share (of the bytes read) and the sizes only when the total is known.
 * The ETA too, and only while lines are left and the rate is known: the
 * lines the whole file holds are estimated from the bytes the lines read so
 * far took, and those not finished yet are counted at lines_per_sec. The
 * throttle only while one holds. Returns out (borrowed). */
char *qxs_progress_line(const qxs_progress *p, char *out, size_t size);

/* The summary at the end of a run, without a newline: "qx-send send: read
 * 100  activated 98  excluded 1  failed 1  retries 3  in 2.3s  42.6
 * payloads/s". cmd names the command ("send", "replay"). Returns out. */
char *qxs_progress_summary(const char *cmd, const qxs_counts *c, int64_t elapsed_ms, double per_sec,
                           char *out, size_t size);

/* A duration as a person reads it: "45s", "1m05s", "2h03m". Returns out. */
char *qxs_progress_duration(int64_t ms, char *out, size_t size);

#endif
