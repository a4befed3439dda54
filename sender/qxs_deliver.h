/*
 * qxs_deliver.h — delivering payloads to the JSON-event URL: concurrency,
 * connection reuse, per-identity ordering, retries, dead letters, traces.
 *
 * One POST per payload (the platform's best-effort aggregation with
 * maxUsersPerRequest 1: one JSON event, one workflow run), with
 * Content-Type: application/json and Basic auth username:apiToken. Up to
 * `concurrency` requests are in flight at once over kept-alive connections
 * (libcurl multi interface, one connection cache). Payloads of the same
 * identity (the first identityMap entry) never overtake each other: the next
 * one starts only after the previous one has finally succeeded or failed,
 * retries included. Redirects are not followed: a 3xx is a failure, and
 * credentials never travel to another host. TLS certificates are always
 * verified (against ca_file when given, else the system's store): there is
 * no switch to turn that off.
 *
 * What no HTTP answer explains is classified: "timeout" and
 * "connectionError" (refused, reset, closed mid-response) and
 * "invalidResponse" (bytes that are not HTTP) are retried like a retryable
 * status; "certificateError" (the server's certificate cannot be verified)
 * fails at once, since waiting does not fix it.
 *
 * Pacing (rate_per_minute, off by default): every request, retries
 * included, takes a token from a smooth bucket (qxs_pace.h: one
 * call, refilled continuously, on the monotonic clock) before it starts; a
 * request without a token waits, and the loop's wait is cut to the time
 * until the next token, so it neither busy-waits nor oversleeps.
 * A 429 with Retry-After pauses the whole destination: no request and no
 * retry starts until the Retry-After has passed (the longest one when
 * several come), counting from when the 429 was read; requests already in
 * flight go on. A 503's Retry-After delays only its own retry.
 *
 * The deliverer is driven by its owner's loop (qxs_deliverer_run_once) from
 * one thread, which also waits there for its own descriptors (the input,
 * the signal pipe).
 * Every submitted payload ends, exactly once, as activated or failed in the
 * report; failed payloads go to the dead-letter file. The report also gets
 * the Retry-After pauses and their time (a pause cut short by the end of
 * the run is counted when the deliverer is freed). With a state (--state)
 * each ending is recorded there too, and the state is flushed before each
 * round of network I/O, so no request goes out while an earlier outcome is
 * still unrecorded.
 *
 * Owns: the libcurl multi and easy handles, their connections, and every
 * submitted payload until it ends; borrows the report, state, files and rng.
 * Locks: none; no shared state: one thread drives a deliverer.
 * Fails: a payload's failure is an outcome (report, dead letter), never an
 * error return; calls return -1 with err only when libcurl, memory or the
 * state fails.
 */
#ifndef QXS_DELIVER_H
#define QXS_DELIVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "qx_error.h"
#include "qx_rng.h"
#include "qxs_multi_poll.h"
#include "qxs_report.h"
#include "qxs_retry.h"
#include "qxs_state.h"

#define QXS_DEFAULT_CONCURRENCY 8
#define QXS_MAX_CONCURRENCY 256
/* The platform expects the endpoint to answer within 2 s. */
#define QXS_DEFAULT_TIMEOUT_MS 2000
/* Response bodies are kept up to this size (for reasons and traces). */
#define QXS_MAX_RESPONSE_BYTES 65536

typedef struct qxs_deliverer qxs_deliverer;

typedef struct qxs_deliver_options {
    const char *url;      /* borrowed for the deliverer's lifetime */
    const char *username; /* borrowed */
    const char *password; /* borrowed; never logged or traced */
    int concurrency;      /* 1..QXS_MAX_CONCURRENCY */
    long timeout_ms;      /* per HTTP call */
    qxs_retry_policy retry;
    FILE *dead_letter;    /* may be NULL; not owned */
    FILE *trace;          /* may be NULL; not owned */
    qxs_report *report;   /* borrowed; required */
    qx_rng *rng;          /* borrowed; jitter draws; required */
    const char *ca_file;  /* borrowed; CA certificates (PEM) to verify with; NULL: the system's */
    qxs_state *state;     /* borrowed; may be NULL */
    long rate_per_minute; /* pace: 1..QXS_PACE_MAX_PER_MINUTE; 0: not paced */
} qxs_deliver_options;

/* Why sending is slower than it could be right now, for a progress line. */
typedef struct qxs_throttle {
    long rate_per_minute;  /* the pace; 0: not paced */
    bool paced;            /* a request that could start waits for a token */
    int64_t pause_left_ms; /* a Retry-After pause: time left; 0: none */
    long retry_after_s;    /* the Retry-After that set the pause */
} qxs_throttle;

/* Creates a deliverer (curl_global_init must have been called). Returns a
 * new deliverer (owned: free with qxs_deliverer_free), NULL with err set. */
QX_MUST_CHECK qxs_deliverer *qxs_deliverer_new(const qxs_deliver_options *opt, qx_error *err);

/* Frees d; payloads not finished are dropped uncounted (call
 * qxs_deliverer_cancel and run until idle first); the time of a Retry-After
 * pause still running is added to the report up to now. NULL is a no-op. */
void qxs_deliverer_free(qxs_deliverer *d);

/* Queues payload (stolen, also on failure) read from input line line_no.
 * After qxs_deliverer_cancel the payload is dead-lettered at once as
 * interrupted. Returns 0, or -1 with err set when memory runs out (the
 * payload is then counted as failed). */
QX_MUST_CHECK int qxs_deliverer_submit(qxs_deliverer *d, json_t *payload, size_t line_no,
                                       qx_error *err);

/* Payloads submitted and not yet finished (queued, in flight or waiting to
 * be retried). */
size_t qxs_deliverer_pending(const qxs_deliverer *d);

/* Requests in flight now. */
size_t qxs_deliverer_in_flight(const qxs_deliverer *d);

/* Flushes the state, starts what may start, waits up to max_wait_ms for
 * network activity, a due retry or one of the n_watch descriptors in watch
 * becoming readable, then finishes what completed and sets watch[i].ready.
 * Returns 0, or -1 with err set on a libcurl failure or when the state
 * cannot be written. */
QX_MUST_CHECK int qxs_deliverer_run_once(qxs_deliverer *d, int max_wait_ms, qxs_watch *watch,
                                         size_t n_watch, qx_error *err);

/* What holds sending back now (see qxs_throttle). */
qxs_throttle qxs_deliverer_throttle(const qxs_deliverer *d);

/* Stops delivering: every queued payload and every one waiting for a retry
 * is dead-lettered now as interrupted; requests in flight finish, and fail
 * without retry if they fail. */
void qxs_deliverer_cancel(qxs_deliverer *d);

/* After a fatal error (the loop cannot go on: the state cannot be written,
 * libcurl fails): every unfinished payload — in flight (its transfer is
 * dropped), queued, waiting for a retry or behind an earlier one of its
 * identity — is failed now with reason_key "internalError" and reason,
 * counted and dead-lettered, so that `replay` can send it again and the
 * report adds up. With a state (o->state) nothing is touched: the state
 * keeps them pending for the next run. */
void qxs_deliverer_abandon(qxs_deliverer *d, const char *reason);

/* Stops starting requests, for a run that keeps its unfinished payloads in a
 * state: requests in flight finish (a success or a final failure is counted;
 * one that would be retried stays unfinished); nothing else starts. Run
 * until qxs_deliverer_in_flight is 0, then free: what is left is dropped
 * uncounted, and the state still holds it as pending. */
void qxs_deliverer_pause(qxs_deliverer *d);

#endif
