/*
 * qxs_input.h — profiles (or replay records) read as a stream, in the
 * delivery loop's own thread.
 *
 * Each line is parsed as soon as it has arrived, so `tail -f profiles |
 * qx-send send` delivers line by line, long before any EOF. The input never
 * blocks its caller: a regular file is read whenever a line is wanted (a
 * read of a regular file does not wait), any other descriptor (a pipe, a
 * terminal, a socket) only when it is readable now. While it has nothing to
 * give, qxs_input_wait_fd names the descriptor to wait for, which the
 * delivery loop polls together with its sockets. There is no reader thread,
 * hence no lock, no hand-off and no wake-up per record.
 *
 * Stopping (SIGINT/SIGTERM) means: read the descriptor no more. Lines
 * already read from it are still handed over (a last incomplete line as it
 * is), so every byte consumed is accounted for; then the input ends.
 *
 * Each record carries the input offset just after its line, so that a
 * checkpoint (qxs_state) can say how far the input has been consumed and a
 * later run can continue there (qxs_input_open with that offset).
 *
 * Owns: the read buffer, the records not yet taken, and the descriptor
 * when opened with close_fd.
 * Locks: none; no shared state (one thread).
 * Fails: a read error is handed over as a last record; memory as ENOMEM
 * there.
 */
#ifndef QXS_INPUT_H
#define QXS_INPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qx_error.h"

/* Bytes asked of the descriptor per read (the buffer grows for longer lines). */
#define QXS_INPUT_CHUNK 65536

typedef struct qxs_input qxs_input;

typedef struct qxs_record {
    json_t *value;       /* owned; NULL when the line was not valid JSON */
    size_t line_no;      /* 1-based, counting from the start of the input; 0: read error */
    uint64_t end_offset; /* the input offset just after the line */
    char error[QX_ERROR_TEXT_MAX]; /* why value is NULL ("line 3: invalid JSON: ...") */
} qxs_record;

/* Where reading starts: fd is already positioned at offset, just after line
 * number line (both 0 for the start of the input). */
typedef struct qxs_input_start {
    uint64_t offset;
    size_t line;
} qxs_input_start;

/* Reads fd (closed by qxs_input_free when close_fd) from start (NULL: the
 * start of the input). Returns a new input (owned: free with
 * qxs_input_free), or NULL with err set. */
QX_MUST_CHECK qxs_input *qxs_input_open(int fd, bool close_fd, const qxs_input_start *start,
                                        qx_error *err);

/* Takes the next record without waiting. Returns 1 with *out filled (the
 * caller owns out->value), 0 when none is available yet, -1 when the input
 * has ended and every record was taken. A read error is handed over as a
 * last record with line_no 0 and value NULL (error: "read error after line
 * N: ..."). Blank lines are skipped (they still count in line numbers). */
int qxs_input_take(qxs_input *in, qxs_record *out);

/* The descriptor to wait for (readable) before qxs_input_take can give more,
 * or -1 when there is none to wait for: a record is ready, the input is a
 * regular file, or it has ended or been stopped. Valid after a take that
 * returned 0. */
int qxs_input_wait_fd(const qxs_input *in);

/* Reads the descriptor no more: what was read is still handed over, then the
 * input ends. */
void qxs_input_stop(qxs_input *in);

/* Frees in and the records not taken; NULL is a no-op. */
void qxs_input_free(qxs_input *in);

#endif
