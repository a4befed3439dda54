/*
 * qxm_engine.h — one emulated Qualtrics JSON-event service, without HTTP.
 *
 * The engine owns the workflows (its config), the run store, the emulated
 * XM Directory, the seeded generator, the per-user API rate limit, the
 * injected faults, the group committer of accepted runs and the scheduler
 * that finishes delayed runs and answers long-polls. The HTTP front
 * (mock-server/http/) turns requests into calls here and answers with what
 * they return; the engine calls back into it only through the resume
 * function it is started with, to wake a suspended connection.
 *
 * A JSON event goes through qxm_engine_event: the checks in the order a
 * request meets them at Qualtrics (README, "The JSON-event endpoint"), the
 * injected faults, the workflow's run. Every request that starts no run is
 * journalled with its reason. Secrets never leave the engine: reasons name
 * the user, never the token.
 *
 * Locks: `draw lock` (engine.c) serialises every draw of the seeded
 * generator — request ids, fault draws, run ids, delays, the directory ids
 * a workflow's tasks draw — so that with a seed the same request order
 * gives the same history; runs are serialised and committed outside it.
 * The store, directory, rate limiter and fault table are thread-safe
 * themselves; the committer and scheduler have their own locks (commit.h,
 * scheduler.h). Every function here may be called from any thread, except
 * new/start/stop/free, which belong to the owner.
 *
 * Failures: functions that can fail return -1 (or NULL) with a qx_error
 * naming what failed; an event never fails as a call — a store or memory
 * failure becomes a 500 outcome.
 */
#ifndef QXM_ENGINE_H
#define QXM_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "qx_error.h"
#include "qxm_capture.h"
#include "qxm_config.h"
#include "qxm_faults.h"
#include "qxm_store.h"

/* Qualtrics does not process JSON-event payloads over 100 KB
 * (counted as 102,400 bytes). */
#define QXM_MAX_BODY_BYTES 102400
/* Nesting deeper than this is refused with 400 before parsing. */
#define QXM_MAX_JSON_DEPTH 64
/* Request ids are UUIDs: 36 characters. */
#define QXM_REQUEST_ID_LEN 36

typedef struct qxm_engine qxm_engine;

/* Wakes the suspended connection conn (the HTTP front's). */
typedef void qxm_resume_fn(void *conn);

typedef struct qxm_engine_options {
    const char *db_path; /* SQLite file; NULL: private temporary store */
    bool seeded;         /* draw ids, delays and faults from seed */
    uint64_t seed;
} qxm_engine_options;

/* Creates an engine for cfg (ownership passes to the engine, also on
 * failure) and opens its store. Nothing runs yet: events are stored at once
 * until started. Returns a new engine (owned), or NULL with err set. */
QX_MUST_CHECK qxm_engine *qxm_engine_new(qxm_config *cfg, const qxm_engine_options *opt,
                                         qx_error *err);

/* Starts the scheduler and committer threads. Returns 0, or -1 with err. */
QX_MUST_CHECK int qxm_engine_start(qxm_engine *e, qxm_resume_fn *resume, qx_error *err);

/* Stops taking runs through the committer (what is queued is committed and
 * its connections resumed), answers every waiting long-poll with what there
 * is, and stops the scheduler. Runs in their delay keep RUNNING. Safe to
 * call twice, and when not started. */
void qxm_engine_stop_intake(qxm_engine *e);

/* Waits out the delays of RUNNING runs (at most 10 s), then finishes every
 * run at its due time. For shutdown, after stop_intake. */
void qxm_engine_finish_runs(qxm_engine *e);

/* Stops if needed and frees; NULL is a no-op. */
void qxm_engine_free(qxm_engine *e);

/* The config and the store. Borrowed. */
const qxm_config *qxm_engine_config(const qxm_engine *e);
qxm_store *qxm_engine_store(qxm_engine *e);

/* The injected faults in force (read, set at run time). Borrowed. */
qxm_fault_table *qxm_engine_faults(qxm_engine *e);

/* Capture event (qxm_capture.h): armed per workflow index, the next request
 * that passes the body checks becomes the sample and starts no run.
 * Borrowed. */
qxm_capture *qxm_engine_capture(qxm_engine *e);

/* ---- JSON events --------------------------------------------------------- */

/* A request header as sent: name and value with their lengths (not
 * NUL-terminated). */
typedef struct qxm_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} qxm_header;

/* Headers the HTTP front passes at most; more set qxm_event.more_headers. */
#define QXM_EVENT_MAX_HEADERS 64

/* What the request journal keeps of a request that started no run: every
 * header but the credentials (Authorization, Proxy-Authorization,
 * X-API-TOKEN, X-QX-ADMIN-TOKEN, Cookie), at most
 * QXM_JOURNAL_HEADERS_MAX of them, each value cut at
 * QXM_JOURNAL_HEADER_VALUE_BYTES, QXM_JOURNAL_HEADER_BYTES of names and values
 * in all; and the body's first QXM_JOURNAL_BODY_BYTES (as UTF-8 text: an
 * invalid byte or a NUL shown as U+FFFD). */
#define QXM_JOURNAL_HEADERS_MAX 32
#define QXM_JOURNAL_HEADER_VALUE_BYTES 1024
#define QXM_JOURNAL_HEADER_BYTES 4096
#define QXM_JOURNAL_BODY_BYTES 4096

/* One request to the JSON-event endpoint, as the HTTP front read it. All
 * strings are borrowed for the call. */
typedef struct qxm_event {
    const char *method;
    const char *path;           /* without the query, for the journal */
    const char *url_token;      /* urlTokenId (or triggerId), NULL when absent */
    const char *content_type;   /* NULL when absent */
    bool has_authorization;     /* an Authorization header was sent */
    const char *basic_user;     /* decoded Basic credentials, NULL when none; */
    size_t basic_user_len;      /* both with their lengths, not NUL-terminated */
    const char *basic_password; /* secret */
    size_t basic_password_len;
    const char *bad_credentials; /* static: why a Basic Authorization header could
                                    not be read (401 reason); NULL when it could */
    const char *api_token;       /* X-API-TOKEN, NULL when absent; secret */
    size_t api_token_len;        /* its length: not NUL-terminated */
    const char *body;
    size_t body_len;
    bool body_too_large;        /* more than QXM_MAX_BODY_BYTES arrived */
    int64_t received_ms;        /* wall clock */
    const char *client_address; /* the client's IP address as text, NULL when unknown */
    const qxm_header *headers;  /* every header as sent, credentials too (the
                                   journal leaves them out); NULL when none */
    size_t n_headers;
    bool more_headers;            /* more than QXM_EVENT_MAX_HEADERS were sent */
    const qxm_header *query_args; /* the URL's query arguments as sent (decoded),
                                     the first QXM_EVENT_MAX_QUERY_ARGS; NULL when none */
    size_t n_query_args;
} qxm_event;

/* Query arguments the HTTP front passes at most. */
#define QXM_EVENT_MAX_QUERY_ARGS 16

/* A run accepted and waiting to be committed (see qxm_engine_commit). */
typedef struct qxm_commit qxm_commit;

/* What became of an event: the answer the service gives. */
typedef struct qxm_event_outcome {
    int status; /* HTTP status; 0 with drop: closed before any run */
    char request_id[QXM_REQUEST_ID_LEN + 1];
    const char *error_code; /* static; NULL unless status is an error */
    char message[512];      /* the error message (== journal reason) */
    const char *allow;      /* static; the methods allowed, with 405 */
    unsigned retry_after_s; /* > 0: with 429 */
    unsigned delay_ms;      /* injected latency: answer this much later */
    bool drop;              /* injected: close without answering */
    bool run_started;       /* a run was made: run_id, workflow_id */
    bool captured;          /* kept as the workflow's sample, no run: workflow_id */
    char run_id[64];
    const char *workflow_id; /* borrowed from the config */
    qxm_commit *commit;      /* owned: commit before answering, or NULL */
} qxm_event_outcome;

/* Handles one JSON event. When the outcome carries a commit, the run is
 * not stored yet: the caller suspends its connection and hands it to
 * qxm_engine_commit, and answers once it is resumed (200 if
 * qxm_commit_result is 0, else 500). Otherwise the run (if any) is stored
 * and the outcome final. */
void qxm_engine_event(qxm_engine *e, const qxm_event *ev, qxm_event_outcome *out);

/* Commits c through the group committer; conn is resumed once it is done
 * (at once on the caller's thread when the committer has stopped). c stays
 * the caller's. */
void qxm_engine_commit(qxm_engine *e, qxm_commit *c, void *conn);

/* 0 when c was committed, -1 when it could not be stored (logged). */
int qxm_commit_result(const qxm_commit *c);

/* Frees c; NULL is a no-op. */
void qxm_commit_free(qxm_commit *c);

/* ---- a tap on JSON events ------------------------------------------------
 *
 * For a judge of senders (`qx-mock conform`): it sees every JSON event in
 * the order the engine decides them, may impose a fault on each, and sees
 * each outcome. */

/* A fault imposed on one request by a tap; all zero: none. */
typedef struct qxm_planned_fault {
    int status;             /* answer this 4xx or 5xx status, 0: none */
    unsigned retry_after_s; /* with 429: the Retry-After to give (at least 1) */
    bool drop_before;       /* close the connection before the run is recorded */
    bool drop_after;        /* record the run, then close without answering */
} qxm_planned_fault;

typedef struct qxm_event_tap {
    /* Called first for every JSON event, under the draw lock (so in the
     * order the engine decides them, which follows the order a client's
     * causally ordered requests arrive in). It may set *fault: the fault is
     * imposed when the request passes the checks before faults (method,
     * URL, credentials, the rate limit), in place of the fault table's draw.
     * Returns a cookie handed to end. Must not call into the engine. */
    void *(*begin)(void *ctx, const qxm_event *ev, qxm_planned_fault *fault);
    /* Called once the outcome is decided, on the request's thread, outside
     * the engine's locks, before the answer is sent; a run still waiting
     * for its commit shows as status 200 (a failed commit is then answered
     * 500 and not told to the tap). */
    void (*end)(void *ctx, void *cookie, const qxm_event_outcome *out);
    void *ctx;
} qxm_event_tap;

/* Sets the tap (copied; NULL: none). Before qxm_engine_start only. */
void qxm_engine_set_tap(qxm_engine *e, const qxm_event_tap *tap);

/* ---- history ------------------------------------------------------------- */

/* A long-poll waiting for runs (GET /_qx/v1/runs/wait). */
typedef struct qxm_waiter {
    qxm_run_filter filter;
    char workflow_id[256]; /* filter's strings point here */
    char status[16];
    int64_t count;
    int64_t deadline_ms; /* monotonic */
    bool done;           /* condition met or timed out: answer */
    bool dropped;        /* its client hung up: resumed only to be closed (done set too) */
    void *conn;          /* the suspended connection */
    struct qxm_waiter *next;
} qxm_waiter;

/* Registers w (borrowed until its connection is resumed, w->done set). */
void qxm_engine_add_waiter(qxm_engine *e, qxm_waiter *w);

/* Resumes the first registered waiter whose client gone(conn, ud) says has
 * hung up, with done and dropped set, so that its connection is closed at
 * once rather than held to its deadline. gone is called with the
 * scheduler's lock held, on a suspended connection; it must not call back
 * into the engine. Returns true when one was dropped. */
bool qxm_engine_drop_waiter(qxm_engine *e, bool (*gone)(void *conn, void *ud), void *ud);

/* Clears runs, journal, the contact directory and rate-limit buckets.
 * Returns 0, or -1 with err set. */
QX_MUST_CHECK int qxm_engine_reset(qxm_engine *e, qx_error *err);

/* Loads an exported history (NDJSON of runs, as GET /_qx/v1/export writes
 * it) from f into the store, all of it or, at the first bad line, nothing
 * (through a qxm_import). Returns the number of runs imported, or -1 with
 * err "line N: why" (*imported, which may be NULL, is then 0). */
QX_MUST_CHECK int64_t qxm_engine_import(qxm_engine *e, FILE *f, int64_t *imported, qx_error *err);

/* An exported history fed piece by piece as it arrives (POST
 * /_qx/v1/import streams its body here): each line is parsed and staged as
 * soon as it is whole, so memory holds one line at a time (at most
 * QXM_IMPORT_MAX_LINE_BYTES), and the runs enter the history together at
 * finish, or not at all. After the first bad line the rest is dropped. */
typedef struct qxm_import qxm_import;
#define QXM_IMPORT_MAX_LINE_BYTES (8 * 1024 * 1024)

/* Starts one. Returns a new import (owned: qxm_import_free), or NULL with
 * err set. */
QX_MUST_CHECK qxm_import *qxm_engine_import_begin(qxm_engine *e, qx_error *err);

/* Takes the next n bytes of the NDJSON text. A bad line is remembered and
 * told by qxm_import_finish. */
void qxm_import_feed(qxm_import *imp, const char *data, size_t n);

/* Ends the text (a last line without a newline counts) and moves every
 * run into the history in one transaction. Returns how many, or -1 with err
 * "line N: why" and the history unchanged. Call once. */
QX_MUST_CHECK int64_t qxm_import_finish(qxm_import *imp, qx_error *err);

/* Frees imp, dropping what it staged unless it was finished; NULL is a no-op. */
void qxm_import_free(qxm_import *imp);

/* Waits until at least count runs are finished and at least requests
 * journal entries are recorded, or timeout_ms passes. Returns 0 when the
 * condition holds, 1 on time-out, -1 with err set on a store error. */
QX_MUST_CHECK int qxm_engine_wait(qxm_engine *e, int64_t count, int64_t requests,
                                  int64_t timeout_ms, qx_error *err);

/* Waits until no run is RUNNING, or timeout_ms passes. Returns 0, 1 on
 * time-out, -1 with err set. */
QX_MUST_CHECK int qxm_engine_wait_idle(qxm_engine *e, int64_t timeout_ms, qx_error *err);

#endif
