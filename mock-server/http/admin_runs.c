/*
 * admin_runs.c — runs and the request journal over the admin API:
 *
 *   GET    /_qx/v1/runs          runs, filtered and paginated, with the total;
 *                                 fields=summary leaves out what only a run's
 *                                 detail shows (a list the page polls stays small)
 *   GET    /_qx/v1/runs/{id}     one run (410 once evicted by retention)
 *   GET    /_qx/v1/runs/wait     long-poll until N runs are finished
 *   DELETE /_qx/v1/runs          clear runs, journal and directory
 *   GET    /_qx/v1/requests      the request journal, filtered and paginated, with totals
 *   GET    /_qx/v1/requests/{id} one journal entry (410 once evicted)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"
#include "qx_clock.h"

#define MAX_PAGE 1000
#define DEFAULT_PAGE 100
#define DEFAULT_WAIT_MS 30000
#define MAX_WAIT_MS 600000
#define RUNS_PREFIX "/_qx/v1/runs/"
#define REQUESTS_PREFIX "/_qx/v1/requests/"
/* The longest identity= or reason= text searched for. */
#define MAX_SEARCH_TEXT 200

/* order=asc|desc into *newest_first. Returns 0, or -1 with a 400 in ans. */
static int order_param(const qxm_request *req, bool *newest_first, qxm_answer *ans)
{
    const char *order = req->query(req->query_ctx, "order");
    if (order == NULL || strcmp(order, "asc") == 0)
        return 0;
    if (strcmp(order, "desc") == 0) {
        *newest_first = true;
        return 0;
    }
    qxm_bad_request(ans, "order: expected asc or desc");
    return -1;
}

/* A text to search for, non-empty and at most MAX_SEARCH_TEXT bytes, into
 * *out (untouched when absent). Returns 0, or -1 with a 400 in ans. */
static int search_param(const qxm_request *req, const char *name, const char **out, qxm_answer *ans)
{
    const char *v = req->query(req->query_ctx, name);
    if (v == NULL)
        return 0;
    size_t n = strlen(v);
    if (n == 0 || n > MAX_SEARCH_TEXT) {
        qxm_bad_request(ans, "%s: expected 1 to %d bytes of text", name, MAX_SEARCH_TEXT);
        return -1;
    }
    *out = v;
    return 0;
}

/* fields=summary|all into *summary. Returns 0, or -1 with a 400 in ans. */
static int fields_param(const qxm_request *req, bool *summary, qxm_answer *ans)
{
    const char *fields = req->query(req->query_ctx, "fields");
    if (fields == NULL || strcmp(fields, "all") == 0)
        return 0;
    if (strcmp(fields, "summary") == 0) {
        *summary = true;
        return 0;
    }
    qxm_bad_request(ans, "fields: expected summary or all");
    return -1;
}

/* The string a run's identity is shown as (the page's "Identity" column):
 * its event data's email, externalId or extRef, else the first id of its
 * payload's identityMap; NULL when it has none. Borrowed from run. */
static const char *identity_of(json_t *run)
{
    static const char *const keys[] = {"email", "externalId", "extRef"};
    json_t *ed = json_object_get(run, "eventData");
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = json_string_value(json_object_get(ed, keys[i]));
        if (v != NULL && v[0] != '\0')
            return v;
    }
    json_t *map = json_object_get(json_object_get(run, "payload"), "identityMap");
    const char *ns;
    json_t *list;
    json_object_foreach(map, ns, list)
    {
        const char *id = json_string_value(json_object_get(json_array_get(list, 0), "id"));
        if (id != NULL)
            return id;
    }
    return NULL;
}

/* Each run of runs as a summary: without its payload, conditions and tasks
 * (the bulk of a run), with "identity" (identity_of) instead. */
static void summarise_runs(json_t *runs)
{
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run)
    {
        const char *identity = identity_of(run);
        if (identity != NULL)
            json_object_set_new(run, "identity", json_string(identity));
        json_object_del(run, "payload");
        json_object_del(run, "conditions");
        json_object_del(run, "tasks");
    }
}

void qxm_admin_list_runs(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    qxm_run_filter f = {0};
    long long limit = DEFAULT_PAGE, cursor = 0;
    bool summary = false;
    if (qxm_param_filter(m, req, &f, ans) < 0 || fields_param(req, &summary, ans) < 0 ||
        qxm_param_int(req, "limit", 1, MAX_PAGE, &limit, ans) < 0 ||
        qxm_param_int(req, "cursor", 0, INT64_MAX, &cursor, ans) < 0 ||
        order_param(req, &f.newest_first, ans) < 0 ||
        search_param(req, "identity", &f.identity, ans) < 0)
        return;
    f.limit = (size_t)limit;
    f.cursor = cursor;
    int64_t next = 0;
    qx_error err;
    json_t *runs = qxm_store_list_runs(qxm_engine_store(m->engine), &f, &next, &err);
    if (runs == NULL) {
        qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
        return;
    }
    if (summary)
        summarise_runs(runs);
    int64_t total = qxm_store_count_runs(qxm_engine_store(m->engine), &f, &err);
    char next_text[32];
    snprintf(next_text, sizeof next_text, "%lld", (long long)next);
    ans->status = 200;
    ans->json = json_pack("{s:o, s:s?, s:I}", "runs", runs, "nextCursor",
                          next != 0 ? next_text : NULL, "total", (json_int_t)total);
}

static int wait_prepare(qxm_mock *m, const qxm_request *req, qxm_waiter *w, qxm_answer *ans)
{
    long long count = 1, timeout = DEFAULT_WAIT_MS;
    memset(w, 0, sizeof *w);
    if (qxm_param_filter(m, req, &w->filter, ans) < 0 ||
        qxm_param_int(req, "count", 1, 1000000, &count, ans) < 0 ||
        qxm_param_int(req, "timeoutMs", 0, MAX_WAIT_MS, &timeout, ans) < 0)
        return -1;
    /* The request's strings die with it; the waiter keeps copies. */
    if (w->filter.workflow_id != NULL) {
        snprintf(w->workflow_id, sizeof w->workflow_id, "%s", w->filter.workflow_id);
        w->filter.workflow_id = w->workflow_id;
    }
    if (w->filter.status != NULL) {
        snprintf(w->status, sizeof w->status, "%s", w->filter.status);
        w->filter.status = w->status;
    }
    w->filter.finished_only = true;
    w->count = count;
    w->deadline_ms = qx_mono_ms() + timeout;
    return 0;
}

/* GET /runs/wait: the waiter goes to the server, which suspends the
 * connection until the engine's scheduler says it is done. */
void qxm_admin_wait(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    qxm_waiter *w = calloc(1, sizeof *w);
    if (w == NULL) {
        qxm_answer_error(ans, 500, "out of memory", "QX_INTERNAL", NULL);
        return;
    }
    if (wait_prepare(m, req, w, ans) != 0) {
        free(w);
        return;
    }
    ans->waiter = w;
}

void qxm_admin_wait_answer(qxm_mock *m, const qxm_waiter *w, qxm_answer *ans)
{
    qx_error err;
    qxm_run_filter f = w->filter;
    /* The first count runs: rendering a thousand to answer count=1 made a
     * CI's wait slow at a million runs. */
    f.limit = w->count < MAX_PAGE ? (size_t)w->count : MAX_PAGE;
    int64_t next = 0;
    int64_t total = qxm_store_count_runs(qxm_engine_store(m->engine), &f, &err);
    if (total < 0) {
        qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
        return;
    }
    if (total < w->count) {
        char msg[160];
        snprintf(msg, sizeof msg, "timed out: %lld of %lld runs finished", (long long)total,
                 (long long)w->count);
        qxm_answer_error(ans, 408, msg, "QX_WAIT_TIMEOUT", NULL);
        json_object_set_new(ans->json, "count", json_integer(total));
        return;
    }
    json_t *runs = qxm_store_list_runs(qxm_engine_store(m->engine), &f, &next, &err);
    if (runs == NULL) {
        qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
        return;
    }
    ans->status = 200;
    ans->json = json_pack("{s:o, s:I}", "runs", runs, "count", (json_int_t)total);
}

/* No run with this id: 410 while its tombstone says it was evicted by
 * retention (meta.error.evictedAt says when), else 404. */
static void answer_missing_run(qxm_store *store, const char *id, qxm_answer *ans)
{
    qx_error err;
    int64_t at = 0;
    int found = qxm_store_find_tombstone(store, QXM_ENTRY_RUN, id, &at, &err);
    if (found < 0) {
        qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
        return;
    }
    if (found == 0) {
        qxm_answer_error(ans, 404, "no run with this id", "QX_RUN_NOT_FOUND", NULL);
        return;
    }
    char when[QX_TIME_TEXT_MAX], msg[128];
    qx_format_time(at, when);
    snprintf(msg, sizeof msg, "run evicted at %s (historyRetentionDays)", when);
    qxm_answer_error(ans, 410, msg, "QX_RUN_EVICTED", NULL);
    json_t *error = json_object_get(json_object_get(ans->json, "meta"), "error");
    json_object_set_new(error, "evictedAt", json_string(when));
}

void qxm_admin_get_run(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    const char *id = req->path + strlen(RUNS_PREFIX);
    qx_error err;
    qx_error_clear(&err);
    json_t *run = qxm_store_get_run(qxm_engine_store(m->engine), id, &err);
    if (run == NULL) {
        if (err.text[0] != '\0')
            qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
        else
            answer_missing_run(qxm_engine_store(m->engine), id, ans);
        return;
    }
    ans->status = 200;
    ans->json = run;
}

/* The journal's filters: httpStatus, reason, workflowId, since, until,
 * order, limit, cursor. Returns 0, or -1 with a 400 in ans. */
static int request_filter(const qxm_request *req, qxm_request_filter *f, qxm_answer *ans)
{
    long long status = -1, limit = DEFAULT_PAGE, cursor = 0;
    qxm_run_filter window = {0};
    if (qxm_param_int(req, "httpStatus", 0, 599, &status, ans) < 0 ||
        qxm_param_int(req, "limit", 1, MAX_PAGE, &limit, ans) < 0 ||
        qxm_param_int(req, "cursor", 0, INT64_MAX, &cursor, ans) < 0 ||
        qxm_param_time(req, "since", &window.since_ms, ans) < 0 ||
        qxm_param_time(req, "until", &window.until_ms, ans) < 0 ||
        order_param(req, &f->newest_first, ans) < 0 ||
        search_param(req, "reason", &f->reason, ans) < 0 ||
        search_param(req, "workflowId", &f->workflow_id, ans) < 0)
        return -1;
    /* 0 is a status of its own: a connection dropped before any answer. */
    f->match_status = status >= 0;
    f->http_status = status >= 0 ? (int)status : 0;
    f->since_ms = window.since_ms;
    f->until_ms = window.until_ms;
    f->limit = (size_t)limit;
    f->cursor = cursor;
    return 0;
}

void qxm_admin_requests(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    qxm_request_filter f = {0};
    if (request_filter(req, &f, ans) < 0)
        return;
    int64_t next = 0;
    qx_error err;
    qxm_request_totals totals;
    json_t *list = qxm_store_find_requests(qxm_engine_store(m->engine), &f, &next, &totals, &err);
    if (list == NULL) {
        qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
        return;
    }
    /* Entries evicted by the journal's bounds or by retention, since the
     * store was created: a journal that is missing its oldest entries says so. */
    int64_t evicted = qxm_store_journal_evicted(qxm_engine_store(m->engine), &err);
    if (evicted < 0) {
        json_decref(list);
        qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
        return;
    }
    char next_text[32];
    snprintf(next_text, sizeof next_text, "%lld", (long long)next);
    ans->status = 200;
    /* "total": the entries matching; "totalRequests": the requests they
     * stand for (a summary entry counts its count). */
    ans->json =
        json_pack("{s:o, s:s?, s:I, s:I, s:I}", "requests", list, "nextCursor",
                  next != 0 ? next_text : NULL, "total", (json_int_t)totals.entries,
                  "totalRequests", (json_int_t)totals.requests, "evicted", (json_int_t)evicted);
}

/* GET /requests/{id}: the entry whose request id (the answer's
 * meta.requestId) is id; 410 while its tombstone says retention evicted
 * it, else 404 (the journal's own bounds leave no tombstone). */
void qxm_admin_get_request(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    const char *id = req->path + strlen(REQUESTS_PREFIX);
    qxm_store *store = qxm_engine_store(m->engine);
    qx_error err;
    json_t *entry = qxm_store_get_request(store, id, &err);
    if (entry != NULL) {
        ans->status = 200;
        ans->json = entry;
        return;
    }
    if (err.text[0] != '\0') {
        qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
        return;
    }
    int64_t at = 0;
    int found = qxm_store_find_tombstone(store, QXM_ENTRY_REQUEST, id, &at, &err);
    if (found < 0) {
        qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
    } else if (found == 0) {
        qxm_answer_error(ans, 404, "no journal entry with this request id", "QX_REQUEST_NOT_FOUND",
                         NULL);
    } else {
        char when[QX_TIME_TEXT_MAX], msg[128];
        snprintf(msg, sizeof msg, "journal entry evicted at %s", qx_format_time(at, when));
        qxm_answer_error(ans, 410, msg, "QX_REQUEST_EVICTED", NULL);
    }
}

void qxm_admin_reset(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    (void)req;
    qx_error err;
    if (qxm_engine_reset(m->engine, &err) != 0) {
        qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
        return;
    }
    ans->status = 200;
    ans->json = json_pack("{s:b}", "reset", 1);
}
