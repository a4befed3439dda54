/*
 * evict.c — retention: evicting runs and journal entries that entered the
 * store longer ago than the retention, the tombstones they leave, and the
 * store's counters (see RETENTION in store_internal.h).
 *
 * A sweep is a loop of batches, each one short transaction on the writer
 * (at most EVICT_BATCH runs, as many journal entries and as many
 * tombstones dropped), the lock released between them, so that the group
 * commit waits for one batch at most, never for a whole sweep.
 */
#include "store_internal.h"

#include <sched.h>

/* Rows per batch and kind: deleting a run touches eight indexes, so a batch
 * holds the writer for a few milliseconds. */
#define EVICT_BATCH 256

/* The counter name's value, read on connection c (its lock held). */
static int counter_get(qxm_store *s, struct conn *c, const char *name, int64_t *out, qx_error *err)
{
    sqlite3_stmt *stmt = c->st[ST_COUNTER_GET];
    store_bind_text(stmt, 1, name);
    int rc = sqlite3_step(stmt);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        qx_error_set(err, "%s: %s: %s", s->name, QXM_STATEMENTS[ST_COUNTER_GET].name,
                     sqlite3_errmsg(c->db));
    store_done(stmt);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_counter_add(qxm_store *s, const char *name, int64_t delta, qx_error *err)
{
    if (delta == 0)
        return 0;
    store_bind_text(s->w.st[ST_COUNTER_ADD], 1, name);
    sqlite3_bind_int64(s->w.st[ST_COUNTER_ADD], 2, delta);
    return store_exec_stmt(s, ST_COUNTER_ADD, err);
}

/* Runs an eviction statement with ?1 cutoff, ?2 limit, ?3 now (those it
 * names); *changes receives the rows it changed. The caller holds the
 * writer. */
static int evict_step(qxm_store *s, enum stmt_id id, int64_t cutoff, int64_t limit, int64_t now,
                      int64_t *changes, qx_error *err)
{
    sqlite3_stmt *stmt = s->w.st[id];
    int n = sqlite3_bind_parameter_count(stmt);
    sqlite3_bind_int64(stmt, 1, cutoff);
    if (n >= 2)
        sqlite3_bind_int64(stmt, 2, limit);
    if (n >= 3)
        sqlite3_bind_int64(stmt, 3, now);
    if (store_exec_stmt(s, id, err) != 0)
        return -1;
    if (changes != NULL)
        *changes = sqlite3_changes64(s->w.db);
    return 0;
}

/* Evicts the batch's journal entries (ST_EVICT_REQUESTS), following the
 * journal's running size with what each gives back. The caller holds the
 * writer. */
static int evict_requests(qxm_store *s, int64_t cutoff, int64_t *rows, int64_t *bytes,
                          int64_t *max_seq, qx_error *err)
{
    sqlite3_stmt *stmt = s->w.st[ST_EVICT_REQUESTS];
    sqlite3_bind_int64(stmt, 1, cutoff);
    sqlite3_bind_int64(stmt, 2, EVICT_BATCH);
    int rc;
    *rows = *bytes = *max_seq = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        (*rows)++;
        *bytes += sqlite3_column_int64(stmt, 0);
        if (sqlite3_column_int64(stmt, 1) > *max_seq)
            *max_seq = sqlite3_column_int64(stmt, 1);
    }
    if (rc != SQLITE_DONE)
        store_db_error(s, err, QXM_STATEMENTS[ST_EVICT_REQUESTS].name);
    store_done(stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* One batch, in one transaction; the caller holds the writer. Adds what it
 * did to out; *more is set when a kind filled its batch. */
static int evict_batch(qxm_store *s, const qxm_evict_options *o, qxm_evict_result *out, bool *more,
                       qx_error *err)
{
    int64_t cutoff = o->now_ms - o->retention_ms;
    int64_t max_tombs = o->max_tombstones > 0 ? o->max_tombstones : QXM_MAX_TOMBSTONES;
    int64_t new_run_tombs = 0, new_req_tombs = 0, runs = 0, reqs = 0, expired = 0, over_cap = 0;
    int64_t tombs = 0, req_bytes = 0, req_max_seq = 0;
    if (store_exec_stmt(s, ST_BEGIN, err) != 0)
        return -1;
    /* Tombstones and counts first: they read the rows the delete removes. */
    if (evict_step(s, ST_EVICT_RUN_TOMBSTONES, cutoff, EVICT_BATCH, o->now_ms, &new_run_tombs,
                   err) != 0 ||
        evict_step(s, ST_EVICT_RUN_RENEW, cutoff, EVICT_BATCH, o->now_ms, NULL, err) != 0 ||
        evict_step(s, ST_EVICT_RUN_COUNTS, cutoff, EVICT_BATCH, o->now_ms, NULL, err) != 0 ||
        evict_step(s, ST_EVICT_RUN_IDENTITIES, cutoff, EVICT_BATCH, o->now_ms, NULL, err) != 0 ||
        evict_step(s, ST_EVICT_RUNS, cutoff, EVICT_BATCH, o->now_ms, &runs, err) != 0 ||
        evict_step(s, ST_EVICT_REQUEST_TOMBSTONES, cutoff, EVICT_BATCH, o->now_ms, &new_req_tombs,
                   err) != 0 ||
        evict_step(s, ST_EVICT_REQUEST_RENEW, cutoff, EVICT_BATCH, o->now_ms, NULL, err) != 0 ||
        evict_requests(s, cutoff, &reqs, &req_bytes, &req_max_seq, err) != 0)
        goto fail;
    /* A tombstone lasts one more retention period, and only the newest
     * max_tombs are kept. */
    if (evict_step(s, ST_DROP_TOMBSTONES, cutoff, EVICT_BATCH, 0, &expired, err) != 0 ||
        counter_get(s, &s->w, QXM_COUNTER_TOMBSTONES, &tombs, err) != 0)
        goto fail;
    tombs += new_run_tombs + new_req_tombs - expired;
    if (tombs > max_tombs &&
        evict_step(s, ST_DROP_TOMBSTONES, INT64_MAX,
                   tombs - max_tombs < EVICT_BATCH ? tombs - max_tombs : EVICT_BATCH, 0, &over_cap,
                   err) != 0)
        goto fail;
    if (store_counter_add(s, QXM_COUNTER_RUNS_EVICTED, runs, err) != 0 ||
        store_counter_add(s, QXM_COUNTER_TOMBSTONES,
                          new_run_tombs + new_req_tombs - expired - over_cap, err) != 0 ||
        store_counter_add(s, QXM_COUNTER_JOURNAL_EVICTED, reqs, err) != 0 ||
        store_exec_stmt(s, ST_COMMIT, err) != 0)
        goto fail;
    if (reqs > 0)
        store_journal_evicted(s, reqs, req_bytes, req_max_seq);
    out->runs += runs;
    out->requests += reqs;
    out->tombstones_dropped += expired + over_cap;
    *more = runs == EVICT_BATCH || reqs == EVICT_BATCH || expired == EVICT_BATCH ||
            over_cap == EVICT_BATCH;
    return 0;
fail:
    store_rollback(s);
    return -1;
}

int qxm_store_evict(qxm_store *s, const qxm_evict_options *o, qxm_evict_result *out, qx_error *err)
{
    qxm_evict_result done = {0};
    bool more = o->retention_ms > 0;
    int rc = 0;
    while (more && rc == 0) {
        pthread_mutex_lock(&s->w.lock);
        rc = evict_batch(s, o, &done, &more, err);
        pthread_mutex_unlock(&s->w.lock);
        if (more)
            sched_yield(); /* let a waiting commit take the writer between batches */
    }
    if (out != NULL)
        *out = done;
    return rc;
}

int qxm_store_find_tombstone(qxm_store *s, qxm_entry_kind kind, const char *id, int64_t *evicted_ms,
                             qx_error *err)
{
    qx_error_clear(err);
    if (id == NULL)
        return 0;
    pthread_mutex_lock(&s->rd->lock);
    sqlite3_stmt *stmt = s->rd->st[ST_FIND_TOMBSTONE];
    store_bind_text(stmt, 1, id);
    store_bind_text(stmt, 2, kind == QXM_ENTRY_RUN ? "run" : "request");
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW && evicted_ms != NULL)
        *evicted_ms = sqlite3_column_int64(stmt, 0);
    else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        store_rd_error(s, err, QXM_STATEMENTS[ST_FIND_TOMBSTONE].name);
    store_done(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int64_t qxm_store_runs_evicted(qxm_store *s, qx_error *err)
{
    int64_t n = 0;
    pthread_mutex_lock(&s->rd->lock);
    int rc = counter_get(s, s->rd, QXM_COUNTER_RUNS_EVICTED, &n, err);
    pthread_mutex_unlock(&s->rd->lock);
    return rc == 0 ? n : -1;
}

int64_t qxm_store_journal_evicted(qxm_store *s, qx_error *err)
{
    int64_t n = 0;
    pthread_mutex_lock(&s->rd->lock);
    int rc = counter_get(s, s->rd, QXM_COUNTER_JOURNAL_EVICTED, &n, err);
    pthread_mutex_unlock(&s->rd->lock);
    return rc == 0 ? n : -1;
}

int64_t qxm_store_tombstones(qxm_store *s, qx_error *err)
{
    int64_t n = 0;
    pthread_mutex_lock(&s->rd->lock);
    int rc = counter_get(s, s->rd, QXM_COUNTER_TOMBSTONES, &n, err);
    pthread_mutex_unlock(&s->rd->lock);
    return rc == 0 ? n : -1;
}
