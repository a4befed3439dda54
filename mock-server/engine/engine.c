/*
 * engine.c — one engine's lifecycle, and what it does for the history:
 * reset, import, waiting for runs (see qxm_engine.h).
 */
#include "engine_internal.h"

#include <stdlib.h>
#include <string.h>

#include "qx_clock.h"
#include "qx_log.h"
#include "qx_ndjson.h"

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
    if (e->store == NULL)
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

int qxm_engine_reset(qxm_engine *e, qx_error *err)
{
    pthread_mutex_lock(&e->draw_lock);
    int rc = qxm_store_reset(e->store, err);
    qxm_directory_reset(e->directory);
    qxm_ratelimit_reset(e->ratelimit);
    pthread_mutex_unlock(&e->draw_lock);
    return rc;
}

int64_t qxm_engine_import(qxm_engine *e, FILE *f, int64_t *imported, qx_error *err)
{
    qx_ndjson_reader *r = qx_ndjson_open(f);
    int64_t n = 0;
    int rc = r != NULL ? 0 : -1;
    size_t line = 0;
    json_t *doc = NULL;
    if (r == NULL)
        qx_error_set(err, "out of memory");
    while (r != NULL && (rc = qx_ndjson_next(r, &doc, &line, err)) == 1) {
        int ok = qxm_store_import_run(e->store, doc, err);
        json_decref(doc);
        if (ok != 0) {
            qx_error_prefix(err, "line %zu", line);
            rc = -1;
            break;
        }
        n++;
    }
    qx_ndjson_close(r);
    qxm_scheduler_note_due(&e->sched, INT64_MIN); /* imported RUNNING runs are due now */
    qxm_scheduler_kick(&e->sched);
    if (imported != NULL)
        *imported = n;
    return rc < 0 ? -1 : n;
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
