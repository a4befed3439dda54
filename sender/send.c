/*
 * send.c — the loop that ties the input stream, rendering and delivery.
 *
 * One thread runs this loop: it takes the lines the input has (reading it
 * as it goes), renders and submits them, then lets the deliverer wait for
 * its sockets, the input descriptor (when it is not a regular file and has
 * nothing more now) and the stop descriptor at once. The loop takes input
 * only while fewer than pending_limit payloads are unfinished, so a slow or
 * failing endpoint slows the reading down instead of filling memory.
 */
#include "qxs_send.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qx_clock.h"
#include "qx_log.h"
#include "qx_rng.h"
#include "qxs_deadletter.h"
#include "qxs_deliver.h"
#include "qxs_input.h"
#include "qxs_render.h"

/* Unfinished payloads per request slot before reading pauses. */
#define PENDING_PER_SLOT 16
#define PENDING_MIN 256

typedef struct run {
    const qxs_send_options *o;
    qxs_report *report;
    qxs_deliverer *d;
    qxs_input *in;
    size_t pending_limit; /* reading pauses at this many unfinished payloads */
    bool input_done, stopping;
    char input_error[QX_ERROR_TEXT_MAX + 16]; /* why the input ended early */
} run;

static void count_failed(run *r, const char *reason_key)
{
    if (qxs_report_failed(r->report, reason_key) != 0)
        qx_log(QX_LOG_ERROR, "report: out of memory");
}

/* A line that yields nothing to send: failed, logged, dead-lettered. */
static void fail_line(run *r, const json_t *payload, const qxs_record *rec, const char *reason_key,
                      const char *reason)
{
    count_failed(r, reason_key);
    qx_log(QX_LOG_WARN, "%s", reason); /* the reason names the line */
    if (qxs_dead_letter_write(r->o->dead_letter, payload, reason, 0, 0, 0, rec->line_no) != 0)
        qx_log(QX_LOG_ERROR, "line %zu: cannot write the dead-letter record", rec->line_no);
    qxs_state_rejected(r->o->state, rec->line_no, rec->end_offset, reason_key);
}

static void submit(run *r, json_t *payload, size_t line_no)
{
    qx_error err;
    if (qxs_deliverer_submit(r->d, payload, line_no, &err) != 0)
        qx_log(QX_LOG_ERROR, "%s", err.text);
}

/* A new line's payload: recorded in the state, then queued for delivery. */
static void submit_line(run *r, json_t *payload, const qxs_record *rec)
{
    qxs_state_queued(r->o->state, rec->line_no, rec->end_offset, payload);
    submit(r, payload, rec->line_no);
}

/* An alert raised: to the webhook, the log and the report. */
static void raise_alert(run *r, json_t *alert)
{
    if (alert == NULL)
        return;
    qx_error err;
    if (qxs_alerts_deliver(r->o->alerts, alert, &err) != 0)
        qx_log(QX_LOG_ERROR, "alert: %s", err.text);
    char text[512];
    qx_log(QX_LOG_WARN, "%s", qxs_alert_text(alert, text, sizeof text));
    if (qxs_report_alert(r->report, alert) != 0)
        qx_log(QX_LOG_ERROR, "report: out of memory");
}

static void handle_profile(run *r, json_t *profile, const qxs_record *rec)
{
    size_t line_no = rec->line_no;
    qxs_render_result res;
    qx_error err;
    if (qxs_render_governed(r->o->mapping, r->o->policy, profile, &res, &err) != 0) {
        char reason[600];
        snprintf(reason, sizeof reason, "line %zu: %s", line_no, err.text);
        fail_line(r, NULL, rec, "malformedInput", reason);
        qxs_render_result_clear(&res);
        return;
    }
    size_t i;
    json_t *w;
    json_array_foreach(res.warnings, i, w)
        qx_log(QX_LOG_INFO, "line %zu: %s", line_no, json_string_value(w));
    raise_alert(r, qxs_alerts_observe(r->o->alerts, res.excluded));
    if (res.payload == NULL) {
        if (qxs_report_excluded(r->report, qxs_exclusion_name(res.excluded)) != 0)
            qx_log(QX_LOG_ERROR, "report: out of memory");
        qxs_state_excluded(r->o->state, line_no, rec->end_offset, qxs_exclusion_name(res.excluded));
        qx_log(QX_LOG_INFO, "line %zu: excluded (%s): %s", line_no,
               qxs_exclusion_name(res.excluded), res.detail);
    } else {
        submit_line(r, json_incref(res.payload), rec);
    }
    qxs_render_result_clear(&res);
}

static void handle_replay(run *r, json_t *record, const qxs_record *rec)
{
    qx_error err;
    json_t *payload = qxs_replay_payload(record, &err);
    if (payload == NULL) {
        char reason[600];
        snprintf(reason, sizeof reason, "line %zu: %s", rec->line_no, err.text);
        fail_line(r, NULL, rec, "noPayload", reason);
        return;
    }
    submit_line(r, json_incref(payload), rec);
}

static void handle_record(run *r, qxs_record *rec)
{
    qxs_report_read(r->report);
    if (rec->value == NULL) {
        fail_line(r, NULL, rec, "malformedInput", rec->error);
        return;
    }
    if (r->o->mapping != NULL)
        handle_profile(r, rec->value, rec);
    else
        handle_replay(r, rec->value, rec);
    json_decref(rec->value);
}

/* A resumed run: the state's pending payloads go first, in line order (so
 * that one identity's payloads keep their order), and the input is read on
 * from the state's offset. */
static int resume(run *r, qxs_input_start *start, qx_error *err)
{
    qxs_state *st = r->o->state;
    start->offset = qxs_state_offset(st);
    start->line = qxs_state_line(st);
    if (lseek(r->o->input_fd, (off_t)start->offset, SEEK_SET) < 0) {
        qx_error_set(err, "input: cannot seek to offset %llu: %s",
                     (unsigned long long)start->offset, strerror(errno));
        return -1;
    }
    size_t n = qxs_state_pending_count(st);
    if (start->line > 0)
        qx_log(QX_LOG_INFO, "resuming after line %zu (offset %llu); %zu payload%s sent again",
               start->line, (unsigned long long)start->offset, n, n == 1 ? "" : "s");
    /* collected first: a submit may end a line (out of memory), which
     * changes what the state holds */
    json_t **payloads = n > 0 ? calloc(n, sizeof *payloads) : NULL;
    size_t *lines = n > 0 ? calloc(n, sizeof *lines) : NULL;
    if (n > 0 && (payloads == NULL || lines == NULL)) {
        free(payloads);
        free(lines);
        qx_error_set(err, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        lines[i] = qxs_state_pending_at(st, i, &payloads[i]);
        json_incref(payloads[i]);
    }
    for (size_t i = 0; i < n; i++)
        submit(r, payloads[i], lines[i]);
    free(payloads);
    free(lines);
    return 0;
}

static void progress(run *r, int64_t *last_ms, bool final)
{
    if (r->o->progress == NULL)
        return;
    int64_t now = qx_mono_ms();
    if (!final && now - *last_ms < QXS_PROGRESS_INTERVAL_MS)
        return;
    *last_ms = now;
    qxs_counts c = qxs_report_counts(r->report);
    int64_t el = qxs_report_elapsed_ms(r->report);
    double here = (double)(c.activated - c.earlier_activated);
    qxs_throttle t = qxs_deliverer_throttle(r->d);
    r->o->progress(&c, el > 0 ? here * 1000.0 / (double)el : 0.0, &t, final, r->o->progress_ud);
}

/* True while the loop takes lines from the input. */
static bool wants_input(const run *r)
{
    return !r->input_done && qxs_deliverer_pending(r->d) < r->pending_limit;
}

/* Takes and handles the lines the input has now, while it may. */
static void take_lines(run *r)
{
    while (wants_input(r)) {
        qxs_record rec;
        int t = qxs_input_take(r->in, &rec);
        if (t == 0)
            break;
        if (t < 0) {
            r->input_done = true;
            break;
        }
        if (rec.value == NULL && rec.line_no == 0) {
            /* a read error: the input ends here; what was read is still delivered */
            snprintf(r->input_error, sizeof r->input_error, "input: %s", rec.error);
            continue;
        }
        qxs_report_input_at(r->report, (int64_t)rec.end_offset);
        handle_record(r, &rec);
    }
}

/* The stop descriptor became readable: reading stops; with a state the run
 * pauses, without one the rest is dead-lettered. */
static void stop(run *r)
{
    r->stopping = true;
    /* no line is taken from now on, not even one already read: lines not
     * taken are after the state's offset (the next run reads them again),
     * or, without a state, at and after the report's resumeFromLine */
    qxs_input_stop(r->in);
    r->input_done = true;
    if (r->o->state != NULL) {
        qx_log(QX_LOG_WARN, "interrupted: finishing the requests in flight; the rest "
                            "stays pending in the state for the next run");
        qxs_deliverer_pause(r->d);
    } else {
        qx_log(QX_LOG_WARN, "interrupted: no more input is read; finishing the requests "
                            "in flight, dead-lettering the rest with their payloads");
        qxs_deliverer_cancel(r->d);
    }
}

int qxs_send_run(const qxs_send_options *o, qxs_report *report, qx_error *err)
{
    int rc = -1;
    qx_rng *rng = qx_rng_new_random();
    qxs_deliver_options dopt = {
        .url = o->dest->url,
        .username = o->dest->username,
        .password = o->dest->password,
        .concurrency = o->concurrency > 0 ? o->concurrency : QXS_DEFAULT_CONCURRENCY,
        .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : QXS_DEFAULT_TIMEOUT_MS,
        .dead_letter = o->dead_letter,
        .trace = o->trace,
        .report = report,
        .rng = rng,
        .ca_file = o->ca_file,
        .state = o->state,
        .rate_per_minute = o->rate_per_minute,
    };
    qxs_report_set_rate_limit(report, o->rate_per_minute);
    if (o->retry != NULL)
        dopt.retry = *o->retry;
    else
        qxs_retry_policy_default(&dopt.retry);
    run r = {.o = o, .report = report};
    if (rng == NULL) {
        qx_error_set(err, "out of memory");
        goto out;
    }
    r.d = qxs_deliverer_new(&dopt, err);
    if (r.d == NULL)
        goto out;
    qxs_input_start start = {.from_line = o->from_line};
    if (o->state != NULL && o->from_line > 1) {
        qx_error_set(err, "a state says where to resume: a start line cannot be given too");
        goto out;
    }
    if (o->state != NULL && resume(&r, &start, err) != 0)
        goto out;
    r.in = qxs_input_open(o->input_fd, false, &start, err);
    if (r.in == NULL)
        goto out;

    r.pending_limit = (size_t)dopt.concurrency * PENDING_PER_SLOT;
    if (r.pending_limit < PENDING_MIN)
        r.pending_limit = PENDING_MIN;
    int64_t last_progress = qx_mono_ms();
    for (;;) {
        take_lines(&r);
        if (r.input_done && qxs_deliverer_pending(r.d) == 0)
            break;
        if (r.stopping && o->state != NULL && qxs_deliverer_in_flight(r.d) == 0)
            break; /* paused: the rest stays pending in the state */
        qxs_watch watch[2] = {{.fd = r.stopping ? -1 : o->stop_fd}, {.fd = -1}};
        if (wants_input(&r))
            watch[1].fd = qxs_input_wait_fd(r.in);
        if (qxs_deliverer_run_once(r.d, QXS_PROGRESS_INTERVAL_MS, watch, 2, err) != 0) {
            /* nothing unfinished is lost silently: failed and dead-lettered
             * (or, with a state, left pending there) */
            char why[QX_ERROR_TEXT_MAX + 32];
            snprintf(why, sizeof why, "not delivered: %s", err->text);
            qxs_deliverer_abandon(r.d, why);
            goto out;
        }
        if (watch[0].ready && !r.stopping)
            stop(&r);
        progress(&r, &last_progress, false);
    }
    progress(&r, &last_progress, true);
    if (!r.stopping && r.input_error[0] == '\0')
        raise_alert(&r, qxs_alerts_finish(o->alerts));
    if (r.input_error[0] != '\0') {
        qx_error_set(err, "%s", r.input_error);
        goto out;
    }
    rc = 0;
out:
    /* with a state, the state says where the next run goes on */
    if (o->state == NULL)
        qxs_report_set_resume_line(report, r.in != NULL       ? qxs_input_next_line(r.in)
                                           : o->from_line > 1 ? o->from_line
                                                              : 1);
    qxs_input_free(r.in);
    qxs_deliverer_free(r.d);
    qx_rng_free(rng);
    return rc;
}
