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
 * A line is the bytes up to its newline; a last line without one is a line
 * only at a real end of input (read returned 0), never because reading
 * stopped: half a line written to a pipe when a signal comes is not a line.
 *
 * Stopping (SIGINT/SIGTERM) means: hand over nothing more. Whatever was read
 * and not yet taken (whole lines as well as an incomplete one) is left
 * untouched, and qxs_input_next_line names the first line not taken, where
 * a later run starts (`send --from-line N`): every line before it was
 * handed over, none after it was.
 *
 * Lines before a start line (from_line) are read and skipped like blank
 * lines — the input may be a pipe that cannot seek — and count only in
 * line numbers.
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
    size_t from_line; /* the first line handed over; 0 or 1: every line */
} qxs_input_start;

/* Reads fd (closed by qxs_input_free when close_fd) from start (NULL: the
 * start of the input). Returns a new input (owned: free with
 * qxs_input_free), or NULL with err set. */
QX_MUST_CHECK qxs_input *qxs_input_open(int fd, bool close_fd, const qxs_input_start *start,
                                        qx_error *err);

/* Takes the next record without waiting. Returns 1 with *out filled (the
 * caller owns out->value), 0 when none is available yet, -1 when the input
 * has ended and every record was taken, or was stopped. A read error is handed over as a
 * last record with line_no 0 and value NULL (error: "read error after line
 * N: ..."). Blank lines, and lines before the start's from_line, are
 * skipped (they still count in line numbers). */
int qxs_input_take(qxs_input *in, qxs_record *out);

/* The descriptor to wait for (readable) before qxs_input_take can give more,
 * or -1 when there is none to wait for: a record is ready, the input is a
 * regular file, or it has ended or been stopped. Valid after a take that
 * returned 0. */
int qxs_input_wait_fd(const qxs_input *in);

/* Hands over nothing more: qxs_input_take returns -1 from now on, and what
 * was read and not taken stays untaken (see qxs_input_next_line). */
void qxs_input_stop(qxs_input *in);

/* The number (1-based, in the whole input) of the first line not handed
 * over and not skipped — the line a later run starts at with --from-line —,
 * or 0 when the input was read to its real end and every line was taken.
 * Never less than the start's from_line. */
size_t qxs_input_next_line(const qxs_input *in);

/* Frees in and the records not taken; NULL is a no-op. */
void qxs_input_free(qxs_input *in);

#endif
