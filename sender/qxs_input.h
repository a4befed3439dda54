/*
 * qxs_input.h — profiles (or replay records) read as a stream.
 *
 * A reader thread parses the input one NDJSON line at a time, as each line
 * arrives (so `tail -f profiles | qx-send send` delivers line by line, long
 * before any EOF), and hands the records to the delivery loop through a
 * bounded queue: when the loop falls behind, the reader waits instead of
 * filling memory.
 *
 * Stopping (SIGINT/SIGTERM) means: stop reading the descriptor. Lines the
 * reader already took from it are still handed over, so every byte consumed
 * is accounted for; then the input reports its end.
 *
 * Each record carries the input offset just after its line, so that a
 * checkpoint (qxs_state) can say how far the input has been consumed and a
 * later run can continue there (qxs_input_open with that offset).
 */
#ifndef QXS_INPUT_H
#define QXS_INPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qx_error.h"

/* Records the reader may hold ahead of the delivery loop. */
#define QXS_INPUT_QUEUE_MAX 256

typedef struct qxs_input qxs_input;

typedef struct qxs_record {
    json_t *value;                 /* owned; NULL when the line was not valid JSON */
    size_t line_no;                /* 1-based, counting from the start of the input */
    uint64_t end_offset;           /* the input offset just after the line */
    char error[QX_ERROR_TEXT_MAX]; /* why value is NULL ("line 3: invalid JSON: ...") */
} qxs_record;

/* Called from the reader thread when records become available after the
 * queue was empty, and at the end of input. Must be thread-safe (the delivery
 * loop passes curl_multi_wakeup). */
typedef void (*qxs_input_ready_fn)(void *ud);

/* Where reading starts: fd is already positioned at offset, just after line
 * number line (both 0 for the start of the input). */
typedef struct qxs_input_start {
    uint64_t offset;
    size_t line;
} qxs_input_start;

/* Starts reading fd (closed by qxs_input_free when close_fd) from start
 * (NULL: the start of the input). stop_fd, when not -1, is watched too: once
 * it is readable the reader stops reading fd. Returns a new input (owned:
 * free with qxs_input_free), or NULL with err set. */
QX_MUST_CHECK qxs_input *qxs_input_open(int fd, bool close_fd, int stop_fd,
                                        const qxs_input_start *start, qxs_input_ready_fn ready,
                                        void *ud, qx_error *err);

/* Takes the next record without waiting. Returns 1 with *out filled (the
 * caller owns out->value), 0 when none is available yet, -1 when the input
 * has ended and every record was taken. */
int qxs_input_take(qxs_input *in, qxs_record *out);

/* Makes the reader stop reading fd (as stop_fd would). Thread-safe. */
void qxs_input_stop(qxs_input *in);

/* Stops the reader, discards the records not taken, joins the thread and
 * frees in; NULL is a no-op. */
void qxs_input_free(qxs_input *in);

#endif
