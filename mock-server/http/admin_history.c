/*
 * admin_history.c — the history as NDJSON, one run per line, oldest first:
 *
 *   GET  /_qx/v1/export   streamed a page of runs at a time
 *   POST /_qx/v1/import   loaded, stopping at the first bad line
 */
#include <stdio.h>
#include <stdlib.h>

#include "http_internal.h"
#include "qx_ndjson.h"

#define EXPORT_PAGE 500

/* Imports NDJSON text. Stops at the first bad line and says which. */
void qxm_admin_import(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    if (req->body_too_large) {
        qxm_answer_error(ans, 413, "history larger than the import limit", "QX_PAYLOAD_TOO_LARGE",
                         NULL);
        return;
    }
    FILE *f = fmemopen((void *)(req->body != NULL ? req->body : ""), req->body_len, "r");
    if (f == NULL) {
        qxm_answer_error(ans, 500, "cannot read the body", "QX_INTERNAL", NULL);
        return;
    }
    int64_t imported = 0;
    qx_error err;
    int64_t rc = qxm_engine_import(m->engine, f, &imported, &err);
    fclose(f);
    if (rc < 0) {
        char msg[QX_ERROR_TEXT_MAX + 64];
        snprintf(msg, sizeof msg, "%s (%lld runs imported before it)", err.text,
                 (long long)imported);
        qxm_answer_error(ans, 400, msg, "QX_BAD_HISTORY", NULL);
        return;
    }
    ans->status = 200;
    ans->json = json_pack("{s:I}", "imported", (json_int_t)imported);
}

static char *export_chunk(qxm_mock *m, int64_t *cursor, size_t *len)
{
    *len = 0;
    if (*cursor < 0)
        return NULL;
    qxm_run_filter f = {.cursor = *cursor, .limit = EXPORT_PAGE};
    int64_t next = 0;
    qx_error err;
    json_t *runs = qxm_store_list_runs(qxm_engine_store(m->engine), &f, &next, &err);
    if (runs == NULL)
        return NULL;
    char *text = NULL;
    size_t cap = 0;
    FILE *out = open_memstream(&text, &cap);
    if (out == NULL) {
        json_decref(runs);
        return NULL;
    }
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run)
    {
        if (qx_ndjson_write(out, run) != 0)
            break;
    }
    fclose(out);
    json_decref(runs);
    *len = cap;
    /* -1 marks "the last page was sent" so the next call ends the stream. */
    *cursor = next != 0 ? next : -1;
    if (cap == 0) {
        free(text);
        return NULL;
    }
    return text;
}

void qxm_admin_export(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    (void)m;
    (void)req;
    ans->status = 200;
    ans->chunk = export_chunk;
    ans->content_type = "application/x-ndjson";
}
