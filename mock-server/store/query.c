/*
 * query.c — reading runs: one run, pages by keyset on seq (one statement per
 * filter shape, see store_internal.h), counts, status counts, and the
 * histogram behind the page's chart.
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_clock.h"

/* The filter shapes: each has its own listing and counting statements. */
enum shape {
    SHAPE_ALL,
    SHAPE_TIME,
    SHAPE_WORKFLOW,
    SHAPE_STATUS,
    SHAPE_WORKFLOW_STATUS,
    SHAPE_IDENTITY /* with or without the others: the identities lead */
};

static json_t *render_run(qxm_store *s, sqlite3_stmt *stmt, qx_error *err)
{
    json_error_t jerr;
    const char *text = (const char *)sqlite3_column_text(stmt, 1);
    int len = sqlite3_column_bytes(stmt, 1);
    json_t *doc = text != NULL ? json_loadb(text, (size_t)len, 0, &jerr) : NULL;
    const char *status = (const char *)sqlite3_column_text(stmt, 2);
    if (!json_is_object(doc) || status == NULL) {
        qx_error_set(err, "%s: run at seq %lld: stored document is not a JSON object", s->name,
                     (long long)sqlite3_column_int64(stmt, 0));
        json_decref(doc);
        return NULL;
    }
    char finished[QX_TIME_TEXT_MAX];
    json_t *finished_at = json_null();
    if (sqlite3_column_type(stmt, 3) != SQLITE_NULL)
        finished_at = json_string(qx_format_time(sqlite3_column_int64(stmt, 3), finished));
    json_t *status_value = json_string(status);
    json_t *out = json_object();
    bool placed = false, failed = out == NULL || status_value == NULL || finished_at == NULL;
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value)
    {
        if (failed)
            break;
        if (strcmp(key, "receivedAt") == 0) {
            failed = json_object_set(out, "status", status_value) != 0 ||
                     json_object_set(out, key, value) != 0 ||
                     json_object_set(out, "finishedAt", finished_at) != 0;
            placed = true;
        } else if (strcmp(key, "status") != 0 && strcmp(key, "finishedAt") != 0) {
            failed = json_object_set(out, key, value) != 0;
        }
    }
    if (!failed && !placed)
        failed = json_object_set(out, "status", status_value) != 0 ||
                 json_object_set(out, "finishedAt", finished_at) != 0;
    /* Found when the run was stored, so it comes last, as it did when it
     * was part of the document. */
    const char *duplicate_of = (const char *)sqlite3_column_text(stmt, 4);
    if (!failed && duplicate_of != NULL)
        failed = json_object_set_new(out, "duplicateOf", json_string(duplicate_of)) != 0;
    json_decref(status_value);
    json_decref(finished_at);
    json_decref(doc);
    if (failed) {
        json_decref(out);
        qx_error_set(err, "out of memory reading a run");
        return NULL;
    }
    return out;
}

json_t *qxm_store_get_run(qxm_store *s, const char *id, qx_error *err)
{
    json_t *run = NULL;
    qx_error_clear(err);
    if (id == NULL)
        return NULL;
    pthread_mutex_lock(&s->rd->lock);
    sqlite3_stmt *stmt = s->rd->st[ST_GET_RUN];
    store_bind_text(stmt, 1, id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        run = render_run(s, stmt, err);
    else if (rc != SQLITE_DONE)
        store_rd_error(s, err, QXM_STATEMENTS[ST_GET_RUN].name);
    store_done(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    return run;
}

size_t store_page_size(size_t limit)
{
    if (limit == 0)
        return QXM_STORE_DEFAULT_PAGE;
    return limit < QXM_STORE_MAX_PAGE ? limit : QXM_STORE_MAX_PAGE;
}

static enum shape filter_shape(const qxm_run_filter *f)
{
    if (f->identity != NULL)
        return SHAPE_IDENTITY;
    if (f->workflow_id != NULL && f->status != NULL)
        return SHAPE_WORKFLOW_STATUS;
    if (f->workflow_id != NULL)
        return SHAPE_WORKFLOW;
    if (f->status != NULL)
        return SHAPE_STATUS;
    if (f->since_ms != 0 || f->until_ms != 0)
        return SHAPE_TIME;
    return SHAPE_ALL;
}

/* Binds ?1..?5 of a listing or counting statement (see WINDOW), and ?8
 * of an identity statement. */
static void bind_filter(sqlite3_stmt *stmt, const qxm_run_filter *f)
{
    if (f->identity != NULL)
        store_bind_text(stmt, 8, f->identity);
    store_bind_text(stmt, 1, f->workflow_id);
    store_bind_text(stmt, 2, f->status);
    sqlite3_bind_int64(stmt, 3, f->since_ms != 0 ? f->since_ms : INT64_MIN);
    sqlite3_bind_int64(stmt, 4, f->until_ms != 0 ? f->until_ms : INT64_MAX);
    sqlite3_bind_int(stmt, 5, f->finished_only ? 1 : 0);
}

json_t *qxm_store_list_runs(qxm_store *s, const qxm_run_filter *f, int64_t *next_cursor,
                            qx_error *err)
{
    static const qxm_run_filter no_filter;
    if (f == NULL)
        f = &no_filter;
    if (next_cursor != NULL)
        *next_cursor = 0;
    size_t limit = store_page_size(f->limit);
    json_t *runs = json_array();
    if (runs == NULL) {
        qx_error_set(err, "out of memory listing runs");
        return NULL;
    }
    static const int by_shape[][2] = {
        [SHAPE_ALL] = {ST_LIST_ALL, ST_LIST_ALL_DESC},
        [SHAPE_TIME] = {ST_LIST_TIME, ST_LIST_TIME_DESC},
        [SHAPE_WORKFLOW] = {ST_LIST_WORKFLOW, ST_LIST_WORKFLOW_DESC},
        [SHAPE_STATUS] = {ST_LIST_STATUS, ST_LIST_STATUS_DESC},
        [SHAPE_WORKFLOW_STATUS] = {ST_LIST_WORKFLOW_STATUS, ST_LIST_WORKFLOW_STATUS_DESC},
        [SHAPE_IDENTITY] = {ST_LIST_IDENTITY, ST_LIST_IDENTITY_DESC},
    };
    int id = by_shape[filter_shape(f)][f->newest_first ? 1 : 0];
    pthread_mutex_lock(&s->rd->lock);
    sqlite3_stmt *stmt = s->rd->st[id];
    bind_filter(stmt, f);
    int64_t bound = f->cursor;
    if (f->newest_first && f->cursor <= 0)
        bound = INT64_MAX;
    sqlite3_bind_int64(stmt, 6, bound);
    sqlite3_bind_int64(stmt, 7, (int64_t)limit + 1); /* one more: is there a next page? */
    int64_t last_seq = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (json_array_size(runs) == limit) {
            if (next_cursor != NULL)
                *next_cursor = last_seq;
            break;
        }
        json_t *run = render_run(s, stmt, err);
        if (run == NULL || json_array_append_new(runs, run) != 0)
            goto fail;
        last_seq = sqlite3_column_int64(stmt, 0);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_rd_error(s, err, QXM_STATEMENTS[id].name);
        goto fail;
    }
    store_done(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    return runs;
fail:
    store_done(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    if (next_cursor != NULL)
        *next_cursor = 0;
    json_decref(runs);
    return NULL;
}

int64_t qxm_store_count_runs(qxm_store *s, const qxm_run_filter *f, qx_error *err)
{
    static const qxm_run_filter no_filter;
    if (f == NULL)
        f = &no_filter;
    int id = ST_COUNT_TOTAL;
    if (f->identity != NULL) {
        id = ST_COUNT_IDENTITY;
    } else if (f->since_ms != 0 || f->until_ms != 0) {
        static const int by_shape[] = {
            [SHAPE_ALL] = ST_COUNT_TIME,
            [SHAPE_TIME] = ST_COUNT_TIME,
            [SHAPE_WORKFLOW] = ST_COUNT_WORKFLOW,
            [SHAPE_STATUS] = ST_COUNT_STATUS,
            [SHAPE_WORKFLOW_STATUS] = ST_COUNT_WORKFLOW_STATUS,
            [SHAPE_IDENTITY] = ST_COUNT_IDENTITY,
        };
        id = by_shape[filter_shape(f)];
    }
    int64_t n = -1;
    pthread_mutex_lock(&s->rd->lock);
    sqlite3_stmt *stmt = s->rd->st[id];
    bind_filter(stmt, f);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        n = sqlite3_column_int64(stmt, 0);
    else
        store_rd_error(s, err, QXM_STATEMENTS[id].name);
    store_done(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    return n;
}

int qxm_store_status_counts(qxm_store *s, qxm_status_counts *out, qx_error *err)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->rd->lock);
    sqlite3_stmt *stmt = s->rd->st[ST_STATUS_COUNTS];
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *st = (const char *)sqlite3_column_text(stmt, 0);
        int64_t n = sqlite3_column_int64(stmt, 1);
        if (st == NULL)
            continue;
        if (strcmp(st, "RUNNING") == 0)
            out->running = n;
        else if (strcmp(st, "SUCCESS") == 0)
            out->success = n;
        else if (strcmp(st, "FAILURE") == 0)
            out->failure = n;
    }
    if (rc != SQLITE_DONE)
        store_rd_error(s, err, QXM_STATEMENTS[ST_STATUS_COUNTS].name);
    store_done(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    return rc == SQLITE_DONE ? 0 : -1;
}

json_t *qxm_store_histogram(qxm_store *s, const qxm_run_filter *f, int64_t bucket_ms, qx_error *err)
{
    static const qxm_run_filter no_filter;
    if (f == NULL)
        f = &no_filter;
    if (bucket_ms <= 0) {
        qx_error_set(err, "histogram: a bucket of %lld ms", (long long)bucket_ms);
        return NULL;
    }
    json_int_t totals[3] = {0, 0, 0}; /* SUCCESS, FAILURE, RUNNING */
    json_t *out = NULL;
    json_t *buckets = json_array();
    if (buckets == NULL) {
        qx_error_set(err, "out of memory counting runs");
        return NULL;
    }
    sqlite3_stmt *stmt = NULL;
    pthread_mutex_lock(&s->rd->lock);
    const char *sql = f->workflow_id != NULL ? QXM_HISTOGRAM_WORKFLOW_SQL : QXM_HISTOGRAM_SQL;
    if (sqlite3_prepare_v3(s->rd->db, sql, -1, 0, &stmt, NULL) != SQLITE_OK) {
        store_rd_error(s, err, "preparing \"histogram\"");
        goto out;
    }
    bind_filter(stmt, f);
    sqlite3_bind_int64(stmt, 6, bucket_ms);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        json_int_t n[3];
        for (int i = 0; i < 3; i++) {
            n[i] = sqlite3_column_int64(stmt, i + 1);
            totals[i] += n[i];
        }
        if (f->limit != 0 && json_array_size(buckets) >= f->limit)
            continue; /* the totals still count every run */
        json_t *b =
            json_pack("{s:I, s:I, s:I, s:I}", "startMs", (json_int_t)sqlite3_column_int64(stmt, 0),
                      "SUCCESS", n[0], "FAILURE", n[1], "RUNNING", n[2]);
        if (json_array_append_new(buckets, b) != 0) {
            qx_error_set(err, "out of memory counting runs");
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        store_rd_error(s, err, "histogram");
        goto out;
    }
    out = json_pack("{s:{s:I, s:I, s:I}, s:O}", "totals", "SUCCESS", totals[0], "FAILURE",
                    totals[1], "RUNNING", totals[2], "buckets", buckets);
    if (out == NULL)
        qx_error_set(err, "out of memory counting runs");
out:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    json_decref(buckets);
    return out;
}
