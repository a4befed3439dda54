/*
 * qxs_send.h — the `send` and `replay` runs: input stream → payloads →
 * delivery → report.
 *
 * send:   each input line is a profile; it is rendered with the mapping and
 *         either delivered or counted as excluded with its reason.
 * replay: each input line is a dead-letter record or an exported run; its
 *         "payload" is delivered as recorded, in file order.
 * Either way, every non-blank input line ends as activated, excluded or
 * failed (a line that is not valid JSON, or has nothing to send, is failed
 * and named by its line number in the log and the dead-letter file), and the
 * counts add up to the lines read.
 *
 * Interruption: when stop_fd becomes readable (main.c's signal self-pipe),
 * no further line is taken from the input (not even one already read, whole
 * or half), payloads not yet sent or waiting for a retry are dead-lettered
 * as interrupted (with their payloads), requests in flight finish (without
 * retries), and the run returns normally so the caller can write the
 * report. The report's resume line (qxs_report_resume_line) is then the
 * first line not taken: every line before it is activated, excluded or
 * failed, and a later run with from_line set to it reads on from there.
 *
 * from_line: lines before it are read and skipped, neither sent nor
 * counted (the input may be a pipe: they are skipped as they arrive).
 *
 * Alerts (send, with o->alerts): each rendered profile is counted; an
 * alert raised (a window's, as it closes; the run's, at the end of a run
 * whose input was read to its end) is delivered to the webhook, logged as
 * a warning and appended to the report. It changes nothing else.
 *
 * With a state (--state, qxs_state.h) the run starts where the state says:
 * its pending payloads are sent again first, then the input (a regular
 * file) is read from the state's offset, and the report's counts continue
 * the state's. An interruption then pauses instead: reading stops at once,
 * requests in flight finish, and whatever is unfinished (not yet sent, or
 * waiting for a retry) stays pending in the state for the next run — it is
 * neither failed nor dead-lettered.
 *
 * Pacing: with rate_per_minute the calls are paced by the deliverer's
 * bucket (qxs_deliver.h), and the report says so (rateLimitPerMinute).
 *
 * Owns: during a run, the input reader and the deliverer; borrows
 * everything in qxs_send_options.
 * Locks: none; no shared state: the whole run is one thread (stop_fd is
 * how a signal handler reaches it).
 * Fails: what fails per line is counted in the report; -1 with err only
 * when the run cannot go on (see qxs_send_run).
 */
#ifndef QXS_SEND_H
#define QXS_SEND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "qx_error.h"
#include "qxs_alert.h"
#include "qxs_deliver.h"
#include "qxs_destination.h"
#include "qxs_mapping.h"
#include "qxs_policy.h"
#include "qxs_report.h"
#include "qxs_retry.h"
#include "qxs_state.h"

/* How often the progress callback is called, at most. */
#define QXS_PROGRESS_INTERVAL_MS 250

/* Called on the delivery thread with the counts so far, the activation
 * rate per second and what throttles sending now (pacing, a Retry-After
 * pause); final is true for the last call of the run. */
typedef void (*qxs_progress_fn)(const qxs_counts *c, double per_sec, const qxs_throttle *t,
                                bool final, void *ud);

typedef struct qxs_send_options {
    const qxs_mapping *mapping;    /* send: required; replay: NULL */
    const qxs_destination *dest;   /* required */
    int input_fd;                  /* not closed */
    int concurrency;               /* 0: QXS_DEFAULT_CONCURRENCY */
    long timeout_ms;               /* 0: QXS_DEFAULT_TIMEOUT_MS */
    const qxs_retry_policy *retry; /* NULL: the platform's default */
    FILE *dead_letter;             /* may be NULL */
    FILE *trace;                   /* may be NULL */
    int stop_fd;                   /* -1: never interrupted */
    qxs_progress_fn progress;      /* may be NULL */
    void *progress_ud;
    const char *ca_file;      /* CA certificates (PEM) for https; NULL: the system's */
    qxs_state *state;         /* borrowed; may be NULL; input_fd must then be a regular file */
    size_t from_line;         /* the first input line sent; 0 or 1: all; not with a state */
    long rate_per_minute;     /* pace the calls (qxs_pace.h); 0: not paced */
    const qxs_policy *policy; /* send: consent rules applied in render; may be NULL */
    qxs_alerts *alerts;       /* send: counted and raised (qxs_alert.h); may be NULL */
} qxs_send_options;

/* Runs a send (o->mapping set) or a replay (o->mapping NULL) to the end of
 * the input or an interruption, filling report (without a state, also its
 * resume line when the input was not read to its end). Returns 0 when the run went
 * through (whatever failed is in the report), -1 with err set when it could
 * not run at all (e.g. libcurl could not start) or the input could not be
 * read to its end (what was read is still delivered and reported). */
QX_MUST_CHECK int qxs_send_run(const qxs_send_options *o, qxs_report *report, qx_error *err);

#endif
