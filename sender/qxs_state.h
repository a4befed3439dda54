/*
 * qxs_state.h — `send --state FILE`: the checkpoint that lets a killed
 * sender resume where it was.
 *
 * The state says how far the input has been read (a byte offset just after
 * a line, and that line's number), which of the lines read are still
 * pending (their payloads, so they can be sent again without the mapping),
 * and the cumulative counts of the report. Every line before the offset is
 * either counted (activated, excluded, failed) or pending. A new run with
 * the same state sends the pending payloads again, seeks the input to the
 * offset and goes on.
 *
 * On disk it is NDJSON: a snapshot line, then one event line per change:
 *
 *   {"qxSendState": 1, "command": "send", "input": {"fingerprint": "<hex>",
 *    "fingerprintBytes": 4096}, "offset": 8123, "line": 40,
 *    "counts": {...}, "pending": [{"line": 38, "payload": {...}}, ...]}
 *   {"e": "queued",    "line": 41, "offset": 8330, "payload": {...}}
 *   {"e": "excluded",  "line": 42, "offset": 8511, "reason": "noMappedIdentity"}
 *   {"e": "rejected",  "line": 43, "offset": 8520, "reason": "malformedInput"}
 *   {"e": "retry",     "line": 41}
 *   {"e": "activated", "line": 41}
 *   {"e": "failed",    "line": 38, "reason": "http401"}
 *
 * Events are appended with write(2) at qxs_state_flush, which the deliverer
 * calls before each round of network I/O: an outcome is in the file (in the
 * kernel, so it survives kill -9 of the process) before any further request
 * can go out. The file is fdatasync'ed at most every QXS_STATE_SYNC_MS (and
 * at the end), so after a power loss at most that much is sent again. When
 * the events grow past QXS_STATE_COMPACT_BYTES, and at open and close, a new
 * snapshot replaces the file atomically (write FILE.tmp, fsync, rename,
 * fsync the directory). A torn last line (killed during a write) is ignored.
 *
 * The input must be a regular file (it is seeked); the first
 * QXS_STATE_FINGERPRINT_BYTES of it are fingerprinted so that a state is
 * not resumed on another input. FILE.lock is held (flock) while a run uses
 * the state, so that two runs cannot share one.
 *
 * Owns: the state file, FILE.tmp and FILE.lock (flock'ed, so two runs cannot
 * share a state), the pending payloads, and the events not yet written.
 * Locks: no in-process lock: one thread uses a state; FILE.lock guards the
 * file against another process.
 * Fails: open and close return NULL / -1 with err; an event that cannot be
 * recorded marks the state broken, and the next flush returns -1 with err:
 * the run must stop rather than trust it.
 */
#ifndef QXS_STATE_H
#define QXS_STATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "qx_error.h"
#include "qxs_report.h"

#define QXS_STATE_VERSION 1
#define QXS_STATE_SYNC_MS 200
#define QXS_STATE_COMPACT_BYTES (8 * 1024 * 1024)
#define QXS_STATE_FINGERPRINT_BYTES 4096

typedef struct qxs_state qxs_state;

/* Opens (or creates) the state at path for command ("send" or "replay") on
 * the regular file input_fd. An existing state must be for the same command
 * and input; its counts are added to report (borrowed: the state reads the
 * counts from it for each snapshot, so it must outlive the state). A fresh
 * snapshot is written before this returns. Returns a new state (owned: close
 * with qxs_state_close), or NULL with err set (the state file is untouched). */
QX_MUST_CHECK qxs_state *qxs_state_open(const char *path, const char *command, int input_fd,
                                        qxs_report *report, qx_error *err);

/* Writes a final snapshot, syncs and frees st; NULL is a no-op. Returns 0,
 * or -1 with err set when the state could not be written (or an earlier
 * write failed). */
QX_MUST_CHECK int qxs_state_close(qxs_state *st, qx_error *err);

/* The input offset to continue reading at, and the number of the last line
 * before it (0 for a new state). */
uint64_t qxs_state_offset(const qxs_state *st);
size_t qxs_state_line(const qxs_state *st);

/* Pending payloads, in line order: *payload borrowed (valid until the line
 * ends). Returns the line number of the i-th one, 0 when i is past the end. */
size_t qxs_state_pending_at(const qxs_state *st, size_t i, json_t **payload);
size_t qxs_state_pending_count(const qxs_state *st);

/* Events. Lines (queued, excluded, rejected) come in increasing order,
 * offset being the input offset just after the line. payload is borrowed
 * (a reference is kept until the line ends). NULL st: no-op. An event that
 * cannot be recorded (out of memory) makes the next flush fail. */
void qxs_state_queued(qxs_state *st, size_t line, uint64_t offset, json_t *payload);
void qxs_state_excluded(qxs_state *st, size_t line, uint64_t offset, const char *reason);
void qxs_state_rejected(qxs_state *st, size_t line, uint64_t offset, const char *reason);
void qxs_state_retry(qxs_state *st, size_t line);
void qxs_state_activated(qxs_state *st, size_t line);
void qxs_state_failed(qxs_state *st, size_t line, const char *reason);

/* Writes the events recorded since the last flush (and syncs or compacts
 * when due). Returns 0 (also for NULL st), or -1 with err set: the state can
 * no longer be trusted to resume from, and the run should stop. */
QX_MUST_CHECK int qxs_state_flush(qxs_state *st, qx_error *err);

#endif
