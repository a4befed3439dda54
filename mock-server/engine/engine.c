/*
 * engine.c — one engine's lifecycle, and what it does for the history:
 * reset, import, waiting for runs (see qxm_engine.h).
 */
#include "engine_internal.h"

#include <stdlib.h>
#include <string.h>

#include "qx_buf.h"
#include "qx_clock.h"
#include "qx_log.h"
#include "qx_utf8.h"

/* At shutdown, runs still in their delay are waited for at most this long
 * before they are finished early. */
#define SHUTDOWN_RUN_GRACE_MS 10000
/* Longest a wait sleeps before it looks at the store again. */
#define WAIT_SLICE_MS 200

qxm_engine *qxm_engine_new(qxm_config *cfg, const qxm_engine_options *opt, qx_error *err)
{
    qxm_engine *e = calloc(1, sizeof *e);
    if (e == NULL) {
        qxm_config_free(cfg);
        qx_error_set(err, "out of memory");
        return NULL;
    }
    e->cfg = cfg;
    pthread_mutex_init(&e->draw_lock, NULL);
    e->store = qxm_store_open(opt->db_path, err);
    qxm_journal_limits limits = {.max_entries = cfg->journal_max,
                                 .max_bytes = cfg->journal_max_bytes,
                                 .refused_per_minute = cfg->refused_journal_per_minute};
    if (e->store == NULL || qxm_store_set_journal_limits(e->store, &limits, err) != 0)
        goto fail;
    if (qxm_scheduler_init(&e->sched, e->store, cfg->history_retention_ms) != 0 ||
        qxm_committer_init(&e->committer, e->store, &e->sched) != 0) {
        qx_error_set(err, "cannot create the engine's locks");
        goto fail;
    }
    e->directory = qxm_directory_new();
    e->rng = opt->seeded ? qx_rng_new(opt->seed) : qx_rng_new_random();
    e->ratelimit = qxm_ratelimit_new(cfg->rate_limit_per_minute);
    e->faults = qxm_fault_table_new(cfg);
    e->capture = qxm_capture_new(cfg->n_workflows);
    if (e->directory == NULL || e->rng == NULL || e->ratelimit == NULL || e->faults == NULL ||
        e->capture == NULL) {
        qx_error_set(err, "out of memory");
        goto fail;
    }
    qxm_ratelimit_set_burst(e->ratelimit, cfg->rate_limit_burst);
    /* Run ids count on from the runs already stored (see event.c). */
    int64_t last = qxm_store_last_run_seq(e->store);
    e->runs_drawn = last > 0 ? (uint64_t)last : 0;
    return e;
fail:
    qxm_engine_free(e);
    return NULL;
}

int qxm_engine_start(qxm_engine *e, qxm_resume_fn *resume, qx_error *err)
{
    if (qxm_scheduler_start(&e->sched, resume) != 0) {
        qx_error_set(err, "cannot start the scheduler thread");
        return -1;
    }
    e->started = true;
    if (qxm_committer_start(&e->committer, resume) != 0) {
        qx_error_set(err, "cannot start the committer thread");
        qxm_engine_stop_intake(e);
        return -1;
    }
    return 0;
}

void qxm_engine_stop_intake(qxm_engine *e)
{
    if (!e->started)
        return;
    e->started = false;
    /* Runs already accepted are committed and answered before anything
     * else stops. */
    qxm_committer_stop(&e->committer);
    qxm_scheduler_stop(&e->sched);
}

void qxm_engine_finish_runs(qxm_engine *e)
{
    /* Wait out the delays of runs in flight (bounded), then finish the rest
     * at their due times. */
    int64_t give_up = qx_now_ms() + SHUTDOWN_RUN_GRACE_MS;
    qx_error err;
    for (;;) {
        int64_t due = qxm_store_next_due(e->store);
        int64_t now = qx_now_ms();
        if (due == INT64_MAX || now >= give_up)
            break;
        if (due > now)
            qx_sleep_ms((due < give_up ? due : give_up) - now);
        if (qxm_store_finish_due(e->store, qx_now_ms(), &err) < 0)
            break;
    }
    if (qxm_store_finish_due(e->store, INT64_MAX, &err) < 0)
        qx_log(QX_LOG_ERROR, "finishing runs at shutdown: %s", err.text);
}

void qxm_engine_free(qxm_engine *e)
{
    if (e == NULL)
        return;
    qxm_engine_stop_intake(e);
    if (e->store != NULL) {
        qxm_committer_destroy(&e->committer);
        qxm_scheduler_destroy(&e->sched);
    }
    qxm_store_close(e->store);
    qxm_directory_free(e->directory);
    qx_rng_free(e->rng);
    qxm_ratelimit_free(e->ratelimit);
    qxm_fault_table_free(e->faults);
    qxm_capture_free(e->capture);
    qxm_config_free(e->cfg);
    pthread_mutex_destroy(&e->draw_lock);
    free(e);
}

const qxm_config *qxm_engine_config(const qxm_engine *e)
{
    return e->cfg;
}

qxm_store *qxm_engine_store(qxm_engine *e)
{
    return e->store;
}

qxm_fault_table *qxm_engine_faults(qxm_engine *e)
{
    return e->faults;
}

qxm_capture *qxm_engine_capture(qxm_engine *e)
{
    return e->capture;
}

void qxm_engine_set_tap(qxm_engine *e, const qxm_event_tap *tap)
{
    e->has_tap = tap != NULL;
    e->tap = tap != NULL ? *tap : (qxm_event_tap){0};
}

void qxm_engine_commit(qxm_engine *e, qxm_commit *c, void *conn)
{
    c->conn = conn;
    qxm_committer_submit(&e->committer, c);
}

int qxm_commit_result(const qxm_commit *c)
{
    return c->rc;
}

void qxm_commit_free(qxm_commit *c)
{
    if (c == NULL)
        return;
    json_decref(c->ins.doc);
    free(c->ins.text);
    free(c);
}

void qxm_engine_add_waiter(qxm_engine *e, qxm_waiter *w)
{
    qxm_scheduler_add_waiter(&e->sched, w);
}

bool qxm_engine_drop_waiter(qxm_engine *e, bool (*gone)(void *conn, void *ud), void *ud)
{
    return qxm_scheduler_drop_waiter(&e->sched, gone, ud);
}

int qxm_engine_reset(qxm_engine *e, qx_error *err)
{
    pthread_mutex_lock(&e->draw_lock);
    int rc = qxm_store_reset(e->store, err);
    qxm_directory_reset(e->directory);
    qxm_ratelimit_reset(e->ratelimit);
    pthread_mutex_unlock(&e->draw_lock);
    return rc;
}

/* ---- import -------------------------------------------------------------
 *
 * Lines are cut from the pieces as they arrive; a line that arrives whole
 * within one piece is parsed in place, only one split across pieces is
 * copied (into `line`, bounded by QXM_IMPORT_MAX_LINE_BYTES). Each run is
 * staged in the store at once (qxm_store_import_add), so a history of any
 * size costs one line of memory; finish commits them all in one go. */
struct qxm_import {
    qxm_engine *e;
    qxm_store_import *staged;
    qx_buf line;    /* the start of a line split across pieces */
    size_t line_no; /* lines taken so far */
    bool failed;    /* err says why; the rest is dropped */
    qx_error err;
};

qxm_import *qxm_engine_import_begin(qxm_engine *e, qx_error *err)
{
    qxm_import *imp = calloc(1, sizeof *imp);
    if (imp == NULL) {
        qx_error_set(err, "out of memory");
        return NULL;
    }
    imp->e = e;
    if ((imp->staged = qxm_store_import_begin(e->store, err)) == NULL) {
        free(imp);
        return NULL;
    }
    return imp;
}

static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* Parses and stages one line (without its newline). */
static void import_line(qxm_import *imp, const char *text, size_t n)
{
    imp->line_no++;
    if (imp->line_no == 1) { /* a byte order mark may start it (qx_utf8.h) */
        size_t bom = qx_utf8_bom_len(text, n);
        text += bom;
        n -= bom;
    }
    if (is_blank(text, n))
        return;
    json_error_t jerr;
    json_t *doc = json_loadb(text, n, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &jerr);
    if (doc == NULL) {
        qx_error_set(&imp->err, "line %zu: invalid JSON: %s (column %d)", imp->line_no, jerr.text,
                     jerr.column);
        imp->failed = true;
        return;
    }
    /* Anything but whitespace after the value is a second value. */
    size_t end = (size_t)jerr.position;
    if (end < n && !is_blank(text + end, n - end)) {
        qx_error_set(&imp->err, "line %zu: unexpected text after the JSON value (column %d)",
                     imp->line_no, jerr.position + 1);
        imp->failed = true;
    } else if (qxm_store_import_add(imp->staged, doc, (int64_t)imp->line_no, &imp->err) != 0) {
        qx_error_prefix(&imp->err, "line %zu", imp->line_no);
        imp->failed = true;
    }
    json_decref(doc);
}

/* Adds n bytes to the split line; false (imp failed) past the bound. */
static bool keep_partial(qxm_import *imp, const char *data, size_t n)
{
    if (imp->line.len + n > QXM_IMPORT_MAX_LINE_BYTES) {
        qx_error_set(&imp->err, "line %zu: longer than %d bytes", imp->line_no + 1,
                     QXM_IMPORT_MAX_LINE_BYTES);
        imp->failed = true;
        return false;
    }
    if (qx_buf_add(&imp->line, data, n) != 0) {
        qx_error_set(&imp->err, "line %zu: out of memory", imp->line_no + 1);
        imp->failed = true;
        return false;
    }
    return true;
}

void qxm_import_feed(qxm_import *imp, const char *data, size_t n)
{
    while (n > 0 && !imp->failed) {
        const char *nl = memchr(data, '\n', n);
        if (nl == NULL) {
            keep_partial(imp, data, n);
            return;
        }
        size_t len = (size_t)(nl - data);
        if (imp->line.len == 0) {
            import_line(imp, data, len);
        } else if (keep_partial(imp, data, len)) {
            import_line(imp, imp->line.data, imp->line.len);
            imp->line.len = 0;
        }
        data = nl + 1;
        n -= len + 1;
    }
}

int64_t qxm_import_finish(qxm_import *imp, qx_error *err)
{
    if (!imp->failed && imp->line.len > 0) {
        import_line(imp, imp->line.data, imp->line.len);
        imp->line.len = 0;
    }
    if (imp->failed) {
        *err = imp->err;
        return -1;
    }
    int64_t n = qxm_store_import_commit(imp->staged, err);
    if (n > 0) {
        /* Ids drawn from now on count on past the imported runs, which may
         * carry ids this emulator's own count would draw (an export of a
         * run with the same seed). */
        int64_t last = qxm_store_last_run_seq(imp->e->store);
        pthread_mutex_lock(&imp->e->draw_lock);
        if (last > 0 && (uint64_t)last > imp->e->runs_drawn)
            imp->e->runs_drawn = (uint64_t)last;
        pthread_mutex_unlock(&imp->e->draw_lock);
    }
    qxm_scheduler_note_due(&imp->e->sched, INT64_MIN); /* imported RUNNING runs are due now */
    qxm_scheduler_kick(&imp->e->sched);
    return n;
}

void qxm_import_free(qxm_import *imp)
{
    if (imp == NULL)
        return;
    qxm_store_import_free(imp->staged);
    qx_buf_free(&imp->line);
    free(imp);
}

int64_t qxm_engine_import(qxm_engine *e, FILE *f, int64_t *imported, qx_error *err)
{
    if (imported != NULL)
        *imported = 0;
    qxm_import *imp = qxm_engine_import_begin(e, err);
    if (imp == NULL)
        return -1;
    char piece[64 * 1024];
    size_t got;
    while ((got = fread(piece, 1, sizeof piece, f)) > 0)
        qxm_import_feed(imp, piece, got);
    int64_t n;
    if (ferror(f)) {
        qx_error_set(err, "read error after line %zu", imp->line_no);
        n = -1;
    } else {
        n = qxm_import_finish(imp, err);
    }
    qxm_import_free(imp);
    if (n >= 0 && imported != NULL)
        *imported = n;
    return n;
}

/* Journal entries recorded, up to want (a page of the journal is read). */
static int64_t journal_count(qxm_store *s, int64_t want, qx_error *err)
{
    if (want <= 0)
        return 0;
    int64_t next = 0;
    json_t *list = qxm_store_list_requests(s, 0, (size_t)want, &next, err);
    if (list == NULL)
        return -1;
    int64_t n = (int64_t)json_array_size(list);
    json_decref(list);
    return n;
}

int qxm_engine_wait(qxm_engine *e, int64_t count, int64_t requests, int64_t timeout_ms,
                    qx_error *err)
{
    int64_t deadline = qx_mono_ms() + timeout_ms;
    qxm_run_filter finished = {.finished_only = true};
    qxm_scheduler_kick(&e->sched); /* a fresh pass finishes whatever is already due */
    for (;;) {
        int64_t n = qxm_store_count_runs(e->store, &finished, err);
        int64_t r = n < 0 ? -1 : journal_count(e->store, requests, err);
        if (n < 0 || r < 0)
            return -1;
        if (n >= count && r >= requests)
            return 0;
        int64_t left = deadline - qx_mono_ms();
        if (left <= 0)
            return 1;
        /* Until the scheduler's next pass (it runs after every stored run
         * and whenever a delayed run falls due). */
        qxm_scheduler_await_pass(&e->sched, left < WAIT_SLICE_MS ? left : WAIT_SLICE_MS);
    }
}

int qxm_engine_wait_idle(qxm_engine *e, int64_t timeout_ms, qx_error *err)
{
    int64_t deadline = qx_mono_ms() + timeout_ms;
    qxm_run_filter running = {.status = "RUNNING"};
    qxm_scheduler_kick(&e->sched);
    for (;;) {
        int64_t n = qxm_store_count_runs(e->store, &running, err);
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        int64_t left = deadline - qx_mono_ms();
        if (left <= 0)
            return 1;
        qxm_scheduler_await_pass(&e->sched, left < WAIT_SLICE_MS ? left : WAIT_SLICE_MS);
    }
}
