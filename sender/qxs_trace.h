/*
 * qxs_trace.h — `qx-send send --trace FILE`: every HTTP call as one NDJSON
 * record, like the platform's "test destination" tool shows each call's
 * request and response:
 *
 *   {"line": 3, "attempt": 1, "startedAt": "...", "durationMs": 1.234,
 *    "request":  {"method": "POST", "url": "...", "headers": {...}, "body": {...}},
 *    "response": {"status": 200, "headers": {...}, "body": {...}},
 *    "error": "..."}                       -- only when no HTTP answer came
 *
 * Header blocks are those actually sent and received. The Authorization
 * header's value is replaced by QXS_TRACE_REDACTED: the trace never holds
 * the token. Bodies that are JSON appear as JSON, others as strings.
 *
 * Owns: nothing; records go to the caller's FILE.
 * Locks: none; no shared state.
 * Fails: -1 on a write error, NULL when memory runs out.
 */
#ifndef QXS_TRACE_H
#define QXS_TRACE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "qx_error.h"

#define QXS_TRACE_REDACTED "[redacted]"

typedef struct qxs_trace_call {
    size_t line_no;
    int attempt;
    int64_t started_at_ms; /* wall clock */
    int64_t duration_us;
    const char *method;
    const char *url;
    const char *request_headers; /* raw block as sent, may be NULL */
    const char *request_body;
    size_t request_body_len;
    long status;                  /* 0: no HTTP answer */
    const char *response_headers; /* raw block as received, may be NULL */
    const char *response_body;
    size_t response_body_len;
    const char *error; /* transport error, NULL when an answer came */
} qxs_trace_call;

/* Parses a raw header block ("POST / HTTP/1.1\r\nName: value\r\n...") into
 * an object name -> value (repeated names joined with ", "), skipping the
 * request/status line and redacting Authorization and Proxy-Authorization.
 * Returns a new reference (owned), NULL when memory runs out. */
QX_MUST_CHECK json_t *qxs_trace_headers(const char *raw);

/* Appends one record for c to f and flushes. Returns 0, -1 on error; NULL f:
 * does nothing. */
QX_MUST_CHECK int qxs_trace_write(FILE *f, const qxs_trace_call *c);

#endif
