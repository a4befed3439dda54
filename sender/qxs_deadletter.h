/*
 * qxs_deadletter.h — the dead-letter file: one NDJSON record per payload that
 * finally failed, in a shape `qx-send replay` reads back:
 *
 *   {"payload": {...}, "reason": "HTTP 401: ...", "httpStatus": 401,
 *    "attempts": 3, "lastAttemptAt": "2026-11-29T03:41:14.123Z", "line": 7}
 *
 * httpStatus is null when no HTTP answer came (connection error, time-out,
 * never attempted); lastAttemptAt is null when no attempt was made; payload
 * is null for an input line that was not valid JSON (its reason says which
 * line and why). "line" is the input line the payload came from.
 *
 * Owns: nothing; records go to the caller's FILE.
 * Locks: none; no shared state.
 * Fails: a write error is returned (-1), a record that is not one is named
 * in err; nothing is retried.
 */
#ifndef QXS_DEADLETTER_H
#define QXS_DEADLETTER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "qx_error.h"

/* Appends one record to f and flushes it (a crash loses nothing written).
 * payload may be NULL; status 0 = no HTTP answer; last_attempt_ms 0 = never
 * attempted. Returns 0, -1 on a write error. NULL f: does nothing, returns 0. */
QX_MUST_CHECK int qxs_dead_letter_write(FILE *f, const json_t *payload, const char *reason,
                                        long status, int attempts, int64_t last_attempt_ms,
                                        size_t line_no);

/* The payload to re-send from one replay record: the "payload" member of a
 * dead-letter record or of a run in a qx-mock history export. Returns a
 * borrowed reference to a JSON object, or NULL with err saying why. */
json_t *qxs_replay_payload(const json_t *record, qx_error *err);

#endif
