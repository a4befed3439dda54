/*
 * admin_history.c — the history as NDJSON, one run per line, oldest first:
 *
 *   GET  /_qx/v1/export   streamed a page of runs at a time
 *   POST /_qx/v1/import   streamed into the engine; all lines or none
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_internal.h"
#include "qx_log.h"
#include "qx_ndjson.h"

#define EXPORT_PAGE 500

/* The media types an NDJSON history may come as. Anything else, text/plain
 * above all (a "simple" request another web page may send without a CORS
 * preflight), is refused 415. */
static bool is_history_type(const char *type)
{
    if (type == NULL)
        return false;
    size_t n = strcspn(type, "; \t");
    return (n == 20 && strncasecmp(type, "application/x-ndjson", n) == 0) ||
           (n == 16 && strncasecmp(type, "application/json", n) == 0);
}

static void *import_open(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    if (!is_history_type(req->content_type)) {
        qxm_answer_error(ans, 415,
                         "unsupported Content-Type: send the history as application/x-ndjson",
                         "QX_UNSUPPORTED_MEDIA_TYPE", NULL);
        return NULL;
    }
    qx_error err;
    qxm_import *imp = qxm_engine_import_begin(m->engine, &err);
    if (imp == NULL)
        qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
    return imp;
}

static void import_feed(void *ctx, const char *data, size_t n)
{
    qxm_import_feed(ctx, data, n);
}

static void import_close(void *ctx)
{
    qxm_import_free(ctx);
}

const qxm_body_sink qxm_import_sink = {import_open, import_feed, import_close};

/* Imports an NDJSON history, all of it or, at the first bad line, nothing
 * (the 400 names the line). server.c streams the body into the import as it
 * arrives (qxm_import_sink); a caller that has the body whole (the fuzz
 * target) gets the same through a sink of its own. */
void qxm_admin_import(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    if (req->body_too_large) {
        qxm_answer_error(ans, 413, "history larger than the import limit", "QX_PAYLOAD_TOO_LARGE",
                         NULL);
        return;
    }
    qxm_import *imp = req->sink_ctx, *own = NULL;
    if (imp == NULL) {
        if ((imp = own = import_open(m, req, ans)) == NULL)
            return;
        qxm_import_feed(imp, req->body != NULL ? req->body : "", req->body_len);
    }
    qx_error err;
    int64_t imported = qxm_import_finish(imp, &err);
    qxm_import_free(own);
    if (imported < 0) {
        char msg[QX_ERROR_TEXT_MAX + 32];
        snprintf(msg, sizeof msg, "%s (nothing imported)", err.text);
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
    if (runs == NULL) {
        /* The client sees a stream cut short (no last chunk); say why here. */
        qx_log(QX_LOG_ERROR, "export cut short after run seq %lld: %s", (long long)*cursor,
               err.text);
        return NULL;
    }
    char *text = NULL;
    size_t cap = 0;
    FILE *out = open_memstream(&text, &cap);
    if (out == NULL) {
        qx_log(QX_LOG_ERROR, "export cut short after run seq %lld: out of memory",
               (long long)*cursor);
        json_decref(runs);
        return NULL;
    }
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run)
    {
        if (qx_ndjson_write(out, run) != 0) {
            qx_log(QX_LOG_ERROR, "export: a run could not be written (out of memory)");
            break;
        }
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
