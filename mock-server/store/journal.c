/* journal.c — the request journal: requests that started no run. */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "qx_clock.h"

int qxm_store_add_request(qxm_store *s, const qxm_request_entry *e, qx_error *err)
{
    pthread_mutex_lock(&s->w.lock);
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
    int rc = store_exec_stmt(s, ST_ADD_REQUEST, err);
    pthread_mutex_unlock(&s->w.lock);
    return rc;
}

/* A text column as a JSON string, or null. New reference. */
static json_t *text_or_null(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    return text != NULL ? json_string(text) : json_null();
}

json_t *qxm_store_list_requests(qxm_store *s, int64_t cursor, size_t limit, int64_t *next_cursor,
                                qx_error *err)
{
    if (next_cursor != NULL)
        *next_cursor = 0;
    limit = store_page_size(limit);
    json_t *list = json_array();
    if (list == NULL) {
        qx_error_set(err, "out of memory listing the journal");
        return NULL;
    }
    pthread_mutex_lock(&s->rd->lock);
    sqlite3_stmt *stmt = s->rd->st[ST_LIST_REQUESTS];
    sqlite3_bind_int64(stmt, 1, cursor);
    sqlite3_bind_int64(stmt, 2, (int64_t)limit + 1);
    int64_t last_seq = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (json_array_size(list) == limit) {
            if (next_cursor != NULL)
                *next_cursor = last_seq;
            break;
        }
        char received[QX_TIME_TEXT_MAX];
        qx_format_time(sqlite3_column_int64(stmt, 2), received);
        json_t *entry = json_pack(
            "{s:o, s:s, s:o, s:o, s:I, s:o, s:o, s:o}", "id", text_or_null(stmt, 1), "receivedAt",
            received, "method", text_or_null(stmt, 3), "path", text_or_null(stmt, 4), "httpStatus",
            (json_int_t)sqlite3_column_int64(stmt, 5), "reason", text_or_null(stmt, 6),
            "workflowId", text_or_null(stmt, 7), "runId", text_or_null(stmt, 8));
        if (entry == NULL || json_array_append_new(list, entry) != 0) {
            qx_error_set(err, "out of memory listing the journal");
            goto fail;
        }
        last_seq = sqlite3_column_int64(stmt, 0);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_rd_error(s, err, QXM_STATEMENTS[ST_LIST_REQUESTS].name);
        goto fail;
    }
    store_done(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    return list;
fail:
    store_done(stmt);
    pthread_mutex_unlock(&s->rd->lock);
    if (next_cursor != NULL)
        *next_cursor = 0;
    json_decref(list);
    return NULL;
}
