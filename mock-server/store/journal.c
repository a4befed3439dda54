/*
 * journal.c — the request journal: requests that started no run, bounded
 * (see JOURNAL BOUNDS in store_internal.h).
 *
 * An insert costs one INSERT while the journal is within its bounds; past
 * one, the same transaction evicts the oldest entries (a batch, down to 1 %
 * below the bound) and adds them to the journal_evicted counter. Refusals
 * are counted per client and minute in struct fold_slot; past the limit a
 * request is counted in memory into its summary entry, whose row is
 * updated with what was counted at most once a FOLD_FLUSH_MS, before the
 * journal is read, and at close: a flood of refusals costs no write per
 * request (a kill -9 loses at most a second of those counts).
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_clock.h"
#include "qx_log.h"

#define MS_PER_MINUTE 60000
/* Rows one eviction statement deletes at most. */
#define TRIM_BATCH 256

static int64_t text_bytes(const char *s)
{
    return s != NULL ? (int64_t)strlen(s) : 0;
}

/* What an entry counts against max_bytes: as JOURNAL_ENTRY_BYTES in SQL. */
static int64_t entry_bytes(const qxm_request_entry *e)
{
    return JOURNAL_ROW_BYTES + text_bytes(e->id) + text_bytes(e->method) + text_bytes(e->path) +
           text_bytes(e->reason) + text_bytes(e->workflow_id) + text_bytes(e->run_id) +
           text_bytes(e->client) + text_bytes(e->headers) + text_bytes(e->body);
}

/* The class a refusal is folded by, or -1 when the status is no refusal.
 * By status, not by reason text: the reasons of 405 and 415 quote the
 * method and Content-Type the client chose, which would make each request
 * a summary of its own. */
static int fold_class(int status)
{
    switch (status) {
    case 401:
        return 0;
    case 404:
        return 1;
    case 405:
        return 2;
    case 415:
        return 3;
    default:
        return -1;
    }
}

static uint64_t hash_text(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The client's slot for this minute, NULL when it has none; *reuse (may be
 * NULL) the first probed slot that holds another minute. */
static struct fold_slot *fold_find(qxm_store *s, const char *client, int64_t minute,
                                   struct fold_slot **reuse)
{
    uint64_t h = hash_text(client);
    struct fold_slot *free_slot = NULL;
    for (uint64_t i = 0; i < FOLD_PROBES; i++) {
        struct fold_slot *f = &s->fold[(h + i) % FOLD_SLOTS];
        if (f->minute == minute && strcmp(f->client, client) == 0)
            return f;
        if (f->minute != minute && free_slot == NULL)
            free_slot = f;
    }
    if (reuse != NULL)
        *reuse = free_slot;
    /* No slot to take: the client shares the last one with every such client. */
    struct fold_slot *shared = &s->fold[FOLD_SLOTS];
    return reuse == NULL && free_slot == NULL && shared->minute == minute ? shared : NULL;
}

/* The client's slot for this minute, started afresh when it held another
 * minute. The caller holds the writer. */
static struct fold_slot *fold_slot(qxm_store *s, const char *client, int64_t minute)
{
    if (client == NULL)
        client = "";
    struct fold_slot *reuse = NULL;
    struct fold_slot *found = fold_find(s, client, minute, &reuse);
    if (found != NULL)
        return found;
    /* Every probed slot is another client's this minute: share the last. */
    struct fold_slot *f = reuse != NULL ? reuse : &s->fold[FOLD_SLOTS];
    if (f->minute != minute) {
        qx_error err;
        /* Its counts go to their summaries before the slot is reused. */
        if (s->fold_dirty && store_journal_flush(s, &err) != 0)
            qx_log(QX_LOG_ERROR, "request journal: %s", err.text);
        memset(f, 0, sizeof *f);
        f->minute = minute;
        snprintf(f->client, sizeof f->client, "%s", reuse != NULL ? client : "*");
    }
    return f;
}

void store_journal_forget(qxm_store *s)
{
    memset(s->fold, 0, sizeof s->fold);
    s->fold_dirty = false;
    s->j_entries = 0;
    s->j_bytes = 0;
}

void store_journal_evicted(qxm_store *s, int64_t rows, int64_t bytes, int64_t max_seq)
{
    s->j_entries -= rows;
    s->j_bytes -= bytes;
    if (max_seq >= s->j_evicted_below)
        s->j_evicted_below = max_seq + 1;
    if (s->j_entries <= 0) {
        /* Empty, SQLite may hand out the same seqs again: every summary is
         * gone, and none must be taken for a new entry of the same seq. */
        for (size_t i = 0; i <= FOLD_SLOTS; i++) {
            memset(s->fold[i].summary, 0, sizeof s->fold[i].summary);
            memset(s->fold[i].pending, 0, sizeof s->fold[i].pending);
        }
        s->j_entries = 0;
        s->j_bytes = 0;
        s->j_evicted_below = 0;
    }
}

int store_journal_measure(qxm_store *s, qx_error *err)
{
    sqlite3_stmt *stmt = s->w.st[ST_JOURNAL_SIZE];
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        s->j_entries = sqlite3_column_int64(stmt, 0);
        s->j_bytes = sqlite3_column_int64(stmt, 1);
    } else {
        store_db_error(s, err, QXM_STATEMENTS[ST_JOURNAL_SIZE].name);
    }
    store_done(stmt);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* How many of the oldest entries to evict next, 0 when within target. */
static int64_t trim_count(const qxm_store *s, int64_t target_entries, int64_t target_bytes)
{
    int64_t n = s->j_entries > target_entries ? s->j_entries - target_entries : 0;
    if (s->j_bytes > target_bytes && s->j_entries > 0) {
        /* As many entries of the average size as the excess holds, rounded up. */
        int64_t avg = s->j_bytes / s->j_entries + 1;
        int64_t by_size = (s->j_bytes - target_bytes + avg - 1) / avg;
        n = by_size > n ? by_size : n;
        n = n > 0 ? n : 1;
    }
    return n < TRIM_BATCH ? n : TRIM_BATCH;
}

/* Evicts the oldest entries past the bounds, inside the caller's
 * transaction (writer held); *evicted receives how many. */
static int trim_in_transaction(qxm_store *s, int64_t *evicted, qx_error *err)
{
    const qxm_journal_limits *l = &s->jlimits;
    int64_t slack = l->max_entries / 100 < TRIM_BATCH ? l->max_entries / 100 : TRIM_BATCH;
    int64_t target_entries = l->max_entries - slack;
    int64_t target_bytes = l->max_bytes - l->max_bytes / 100;
    *evicted = 0;
    int64_t n;
    while (s->j_entries > 0 && (n = trim_count(s, target_entries, target_bytes)) > 0) {
        sqlite3_stmt *stmt = s->w.st[ST_TRIM_REQUESTS];
        sqlite3_bind_int64(stmt, 1, n);
        int64_t rows = 0, bytes = 0, max_seq = 0;
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            rows++;
            bytes += sqlite3_column_int64(stmt, 0);
            if (sqlite3_column_int64(stmt, 1) > max_seq)
                max_seq = sqlite3_column_int64(stmt, 1);
        }
        if (rc != SQLITE_DONE) {
            store_db_error(s, err, QXM_STATEMENTS[ST_TRIM_REQUESTS].name);
            store_done(stmt);
            return -1;
        }
        store_done(stmt);
        *evicted += rows;
        /* No row at all: the counts drifted from the table, which is empty. */
        store_journal_evicted(s, rows > 0 ? rows : s->j_entries, rows > 0 ? bytes : s->j_bytes,
                              max_seq);
    }
    return store_counter_add(s, QXM_COUNTER_JOURNAL_EVICTED, *evicted, err);
}

int store_journal_trim(qxm_store *s, qx_error *err)
{
    int64_t entries = s->j_entries, bytes = s->j_bytes, evicted;
    if (store_exec_stmt(s, ST_BEGIN, err) != 0)
        return -1;
    if (trim_in_transaction(s, &evicted, err) != 0 || store_exec_stmt(s, ST_COMMIT, err) != 0) {
        store_rollback(s);
        s->j_entries = entries;
        s->j_bytes = bytes;
        return -1;
    }
    return 0;
}

/* Inserts e (a summary entry when summary), evicting in the same
 * transaction when the bounds leave no room for it. The caller holds the
 * writer. */
static int insert_entry(qxm_store *s, const qxm_request_entry *e, bool summary, qx_error *err)
{
    int64_t size = entry_bytes(e);
    int64_t entries = s->j_entries, bytes = s->j_bytes, evicted;
    bool over = entries + 1 > s->jlimits.max_entries || bytes + size > s->jlimits.max_bytes;
    if (over && store_exec_stmt(s, ST_BEGIN, err) != 0)
        return -1;
    sqlite3_stmt *stmt = s->w.st[ST_ADD_REQUEST];
    store_bind_text(stmt, 1, e->id);
    sqlite3_bind_int64(stmt, 2, e->received_ms);
    store_bind_text(stmt, 3, e->method);
    store_bind_text(stmt, 4, e->path);
    sqlite3_bind_int(stmt, 5, e->http_status);
    store_bind_text(stmt, 6, e->reason);
    store_bind_text(stmt, 7, e->workflow_id);
    store_bind_text(stmt, 8, e->run_id);
    sqlite3_bind_int64(stmt, 9, qx_now_ms()); /* entered: retention counts from it */
    store_bind_text(stmt, 10, e->client);
    store_bind_text(stmt, 11, e->headers);
    store_bind_text(stmt, 12, e->body);
    if (e->body_len >= 0)
        sqlite3_bind_int64(stmt, 13, e->body_len);
    sqlite3_bind_int(stmt, 14,
                     (e->body_truncated ? JOURNAL_FLAG_BODY_TRUNCATED : 0) |
                         (e->headers_truncated ? JOURNAL_FLAG_HEADERS_TRUNCATED : 0) |
                         (summary ? JOURNAL_FLAG_SUMMARY : 0));
    if (store_exec_stmt(s, ST_ADD_REQUEST, err) != 0)
        goto fail;
    s->j_entries++;
    s->j_bytes += size;
    if (over &&
        (trim_in_transaction(s, &evicted, err) != 0 || store_exec_stmt(s, ST_COMMIT, err) != 0))
        goto fail;
    return 0;
fail:
    if (over)
        store_rollback(s);
    s->j_entries = entries;
    s->j_bytes = bytes;
    return -1;
}

/* Adds the pending counts to their summary entries, in one transaction. A
 * summary evicted meanwhile takes its count with it, and the client's next
 * refusal starts a new one. The caller holds the writer. */
int store_journal_flush(qxm_store *s, qx_error *err)
{
    s->fold_flush_ms = qx_mono_ms();
    if (!s->fold_dirty)
        return 0;
    if (store_exec_stmt(s, ST_BEGIN, err) != 0)
        return -1;
    for (size_t i = 0; i <= FOLD_SLOTS; i++) {
        struct fold_slot *f = &s->fold[i];
        for (int c = 0; c < FOLD_CLASSES; c++) {
            if (f->pending[c] == 0)
                continue;
            sqlite3_bind_int64(s->w.st[ST_FOLD_REQUEST], 1, f->summary[c]);
            sqlite3_bind_int64(s->w.st[ST_FOLD_REQUEST], 2, f->pending[c]);
            if (store_exec_stmt(s, ST_FOLD_REQUEST, err) != 0) {
                store_rollback(s);
                return -1;
            }
            if (sqlite3_changes64(s->w.db) == 0)
                f->summary[c] = 0;
        }
    }
    if (store_exec_stmt(s, ST_COMMIT, err) != 0) {
        store_rollback(s);
        return -1;
    }
    for (size_t i = 0; i <= FOLD_SLOTS; i++)
        memset(s->fold[i].pending, 0, sizeof s->fold[i].pending);
    s->fold_dirty = false;
    return 0;
}

int qxm_store_add_request(qxm_store *s, const qxm_request_entry *e, qx_error *err)
{
    int rc = 0;
    pthread_mutex_lock(&s->w.lock);
    int cls = fold_class(e->http_status);
    struct fold_slot *slot = NULL;
    if (cls >= 0) {
        int64_t minute = e->received_ms / MS_PER_MINUTE;
        slot = fold_slot(s, e->client, minute);
        if (slot->written < s->jlimits.refused_per_minute) {
            slot->written++;
            slot = NULL; /* written one by one */
        } else if (slot->summary[cls] != 0 && slot->summary[cls] < s->j_evicted_below) {
            slot->summary[cls] = 0; /* evicted, and what it had counted since */
            slot->pending[cls] = 0;
        }
        if (slot != NULL && slot->summary[cls] != 0) {
            /* Counted in memory; written with the others at most once a
             * FOLD_FLUSH_MS. */
            slot->pending[cls]++;
            s->fold_dirty = true;
            if (qx_mono_ms() - s->fold_flush_ms >= FOLD_FLUSH_MS)
                rc = store_journal_flush(s, err);
            goto out;
        }
    }
    rc = insert_entry(s, e, slot != NULL, err);
    if (rc == 0 && slot != NULL)
        slot->summary[cls] = sqlite3_last_insert_rowid(s->w.db);
out:
    pthread_mutex_unlock(&s->w.lock);
    return rc < 0 ? -1 : 0;
}

bool qxm_store_request_folds(qxm_store *s, int http_status, const char *client, int64_t received_ms)
{
    int cls = fold_class(http_status);
    if (cls < 0)
        return false;
    pthread_mutex_lock(&s->w.lock);
    const struct fold_slot *f =
        fold_find(s, client != NULL ? client : "", received_ms / MS_PER_MINUTE, NULL);
    bool folds = f != NULL && f->written >= s->jlimits.refused_per_minute && f->summary[cls] != 0 &&
                 f->summary[cls] >= s->j_evicted_below;
    pthread_mutex_unlock(&s->w.lock);
    return folds;
}

int qxm_store_set_journal_limits(qxm_store *s, const qxm_journal_limits *l, qx_error *err)
{
    pthread_mutex_lock(&s->w.lock);
    s->jlimits = *l;
    if (s->jlimits.max_entries < 1)
        s->jlimits.max_entries = 1;
    if (s->jlimits.max_bytes < 1)
        s->jlimits.max_bytes = 1;
    int rc = 0;
    if (s->j_entries > s->jlimits.max_entries || s->j_bytes > s->jlimits.max_bytes)
        rc = store_journal_trim(s, err);
    pthread_mutex_unlock(&s->w.lock);
    return rc;
}

int qxm_store_journal_stats(qxm_store *s, qxm_journal_stats *out, qx_error *err)
{
    pthread_mutex_lock(&s->w.lock);
    out->entries = s->j_entries;
    out->bytes = s->j_bytes;
    pthread_mutex_unlock(&s->w.lock);
    out->evicted = qxm_store_journal_evicted(s, err);
    return out->evicted >= 0 ? 0 : -1;
}

/* A text column as a JSON string, or null. New reference. */
static json_t *text_or_null(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    json_t *v = text != NULL ? json_stringn(text, (size_t)sqlite3_column_bytes(stmt, col)) : NULL;
    return v != NULL ? v : json_null(); /* absent, or not UTF-8 */
}

/* The stored headers object, or null (none kept, or not JSON). New
 * reference. */
static json_t *headers_or_null(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    json_t *h =
        text != NULL ? json_loadb(text, (size_t)sqlite3_column_bytes(stmt, col), 0, NULL) : NULL;
    return h != NULL ? h : json_null();
}

/* One row of REQUEST_COLUMNS (sql.c) as the admin API shows it. New reference;
 * NULL when memory runs out. */
static json_t *entry_json(sqlite3_stmt *stmt)
{
    char received[QX_TIME_TEXT_MAX];
    qx_format_time(sqlite3_column_int64(stmt, 2), received);
    int flags = sqlite3_column_int(stmt, 13);
    json_t *body_len = sqlite3_column_type(stmt, 12) == SQLITE_NULL
                           ? json_null()
                           : json_integer(sqlite3_column_int64(stmt, 12));
    return json_pack(
        "{s:o, s:s, s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:b, s:I, "
        "s:b}",
        "id", text_or_null(stmt, 1), "receivedAt", received, "method", text_or_null(stmt, 3),
        "path", text_or_null(stmt, 4), "httpStatus", (json_int_t)sqlite3_column_int64(stmt, 5),
        "reason", text_or_null(stmt, 6), "workflowId", text_or_null(stmt, 7), "runId",
        text_or_null(stmt, 8), "clientAddress", text_or_null(stmt, 9), "headers",
        headers_or_null(stmt, 10), "headersTruncated",
        (flags & JOURNAL_FLAG_HEADERS_TRUNCATED) != 0, "body", text_or_null(stmt, 11), "bodyBytes",
        body_len, "bodyTruncated", (flags & JOURNAL_FLAG_BODY_TRUNCATED) != 0, "count",
        (json_int_t)sqlite3_column_int64(stmt, 14), "summary", (flags & JOURNAL_FLAG_SUMMARY) != 0);
}

/* Binds the journal filter's ?3..?7 (see JOURNAL_WHERE in sql.c). */
static void bind_request_filter(sqlite3_stmt *stmt, const qxm_request_filter *f)
{
    if (f->match_status)
        sqlite3_bind_int(stmt, 3, f->http_status);
    store_bind_text(stmt, 4, f->workflow_id);
    store_bind_text(stmt, 5, f->reason);
    sqlite3_bind_int64(stmt, 6, f->since_ms != 0 ? f->since_ms : INT64_MIN);
    sqlite3_bind_int64(stmt, 7, f->until_ms != 0 ? f->until_ms : INT64_MAX);
}

static bool is_filtered(const qxm_request_filter *f)
{
    return f->match_status || f->workflow_id != NULL || f->reason != NULL || f->since_ms != 0 ||
           f->until_ms != 0;
}

/* What f matches in all, with the reader held. Without a filter, the
 * journal's entries (entries: the writer's running count, read by the
 * caller before it took the reader, as no function holds both) plus what
 * the summary entries stand for beyond themselves (read from
 * requests_summary): no pass over every entry's row. */
static int count_requests(qxm_store *s, const qxm_request_filter *f, int64_t entries,
                          qxm_request_totals *out, qx_error *err)
{
    bool filtered = is_filtered(f);
    enum stmt_id id = filtered ? ST_COUNT_REQUESTS : ST_JOURNAL_SUMMARISED;
    sqlite3_stmt *stmt = s->rd->st[id];
    if (filtered)
        bind_request_filter(stmt, f);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW && filtered) {
        out->entries = sqlite3_column_int64(stmt, 0);
        out->requests = sqlite3_column_int64(stmt, 1);
    } else if (rc == SQLITE_ROW) {
        out->entries = entries;
        out->requests = entries + sqlite3_column_int64(stmt, 0);
    } else {
        store_rd_error(s, err, QXM_STATEMENTS[id].name);
    }
    store_done(stmt);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* Flushes what the summaries counted since the last flush, so that a read
 * sees it; *entries (may be NULL) receives the journal's entries then.
 * 0 or -1 with err set. */
static int flush_for_reading(qxm_store *s, int64_t *entries, qx_error *err)
{
    pthread_mutex_lock(&s->w.lock);
    int flushed = store_journal_flush(s, err);
    if (entries != NULL)
        *entries = s->j_entries;
    pthread_mutex_unlock(&s->w.lock);
    return flushed;
}

json_t *qxm_store_find_requests(qxm_store *s, const qxm_request_filter *f, int64_t *next_cursor,
                                qxm_request_totals *totals, qx_error *err)
{
    static const qxm_request_filter no_filter;
    if (f == NULL)
        f = &no_filter;
    if (next_cursor != NULL)
        *next_cursor = 0;
    size_t limit = store_page_size(f->limit);
    json_t *list = json_array();
    if (list == NULL) {
        qx_error_set(err, "out of memory listing the journal");
        return NULL;
    }
    int64_t entries = 0;
    if (flush_for_reading(s, &entries, err) != 0) {
        json_decref(list);
        return NULL;
    }
    enum stmt_id id = f->newest_first ? ST_LIST_REQUESTS_DESC : ST_LIST_REQUESTS;
    pthread_mutex_lock(&s->rd->lock);
    sqlite3_stmt *stmt = s->rd->st[id];
    int64_t bound = f->cursor;
    if (f->newest_first && f->cursor <= 0)
        bound = INT64_MAX;
    sqlite3_bind_int64(stmt, 1, bound);
    sqlite3_bind_int64(stmt, 2, (int64_t)limit + 1);
    bind_request_filter(stmt, f);
    int64_t last_seq = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (json_array_size(list) == limit) {
            if (next_cursor != NULL)
                *next_cursor = last_seq;
            break;
        }
        json_t *entry = entry_json(stmt);
        if (entry == NULL || json_array_append_new(list, entry) != 0) {
            qx_error_set(err, "out of memory listing the journal");
            goto fail;
        }
        last_seq = sqlite3_column_int64(stmt, 0);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_rd_error(s, err, QXM_STATEMENTS[id].name);
        goto fail;
    }
    store_done(stmt);
    if (totals != NULL && count_requests(s, f, entries, totals, err) != 0) {
        stmt = NULL;
        goto fail;
    }
    pthread_mutex_unlock(&s->rd->lock);
    return list;
fail:
    if (stmt != NULL)
        store_done(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    if (next_cursor != NULL)
        *next_cursor = 0;
    json_decref(list);
    return NULL;
}

json_t *qxm_store_list_requests(qxm_store *s, int64_t cursor, size_t limit, int64_t *next_cursor,
                                qx_error *err)
{
    qxm_request_filter f = {.cursor = cursor, .limit = limit};
    return qxm_store_find_requests(s, &f, next_cursor, NULL, err);
}

json_t *qxm_store_get_request(qxm_store *s, const char *id, qx_error *err)
{
    json_t *entry = NULL;
    qx_error_clear(err);
    if (id == NULL || flush_for_reading(s, NULL, err) != 0)
        return NULL;
    pthread_mutex_lock(&s->rd->lock);
    sqlite3_stmt *stmt = s->rd->st[ST_GET_REQUEST];
    store_bind_text(stmt, 1, id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW && (entry = entry_json(stmt)) == NULL)
        qx_error_set(err, "out of memory reading a journal entry");
    else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        store_rd_error(s, err, QXM_STATEMENTS[ST_GET_REQUEST].name);
    store_done(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    return entry;
}
