/*
 * admin_api.c — the emulator's own API under /_qx/v1 (Qualtrics has no
 * public API listing workflow runs; this one is ours, documented in README):
 *
 *   GET    /_qx/v1/health             liveness
 *   GET    /_qx/v1/workflows          the configured workflows
 *   GET    /_qx/v1/runs               runs, filtered and paginated
 *   GET    /_qx/v1/runs/wait          long-poll until N runs are finished
 *   GET    /_qx/v1/runs/{id}          one run
 *   DELETE /_qx/v1/runs               clear runs, journal and directory
 *   GET    /_qx/v1/requests           the request journal
 *   GET    /_qx/v1/stats              totals and runs per time bucket (the page's chart)
 *   GET    /_qx/v1/export             the history as NDJSON
 *   POST   /_qx/v1/import             load such a history
 *   GET    /metrics                   Prometheus text
 *
 * Query parameters are validated strictly: a bad value is a 400 naming the
 * parameter, never a silent default.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mock_internal.h"
#include "qx_clock.h"
#include "qx_ndjson.h"

#define ADMIN_PREFIX "/_qx/v1"
#define MAX_PAGE 1000
#define DEFAULT_PAGE 100
#define DEFAULT_WAIT_MS 30000
#define MAX_WAIT_MS 600000
#define EXPORT_PAGE 500

static void bad_request(qxm_answer *ans, const char *fmt, ...) QX_PRINTF(2, 3);
static void bad_request(qxm_answer *ans, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    qxm_answer_error(ans, 400, msg, "QX_BAD_PARAMETER", NULL);
}

/* Parses an integer query parameter in [min, max]. Returns 1 when absent
 * (out untouched), 0 when valid, -1 (ans set to 400) otherwise. */
static int int_param(const qxm_request *req, const char *name, long long min, long long max,
                     long long *out, qxm_answer *ans)
{
    const char *s = req->query(req->query_ctx, name);
    if (s == NULL)
        return 1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
        bad_request(ans, "%s: expected an integer from %lld to %lld", name, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int time_param(const qxm_request *req, const char *name, int64_t *out, qxm_answer *ans)
{
    const char *s = req->query(req->query_ctx, name);
    if (s == NULL)
        return 1;
    if (qx_parse_time(s, out) != 0) {
        bad_request(ans, "%s: expected an RFC 3339 time or milliseconds since the epoch", name);
        return -1;
    }
    return 0;
}

/* Reads workflowId, status, since, until into f. Returns 0 or -1 (400 set). */
static int filter_params(qxm_mock *m, const qxm_request *req, qxm_run_filter *f, qxm_answer *ans)
{
    const char *wf = req->query(req->query_ctx, "workflowId");
    if (wf != NULL) {
        if (qxm_config_find_by_id(m->cfg, wf) == NULL) {
            /* Imported histories may hold other workflows: allow any id of
             * sane length, but say nothing matches rather than erroring. */
            if (strlen(wf) > 200) {
                bad_request(ans, "workflowId: too long");
                return -1;
            }
        }
        f->workflow_id = wf;
    }
    const char *st = req->query(req->query_ctx, "status");
    if (st != NULL) {
        if (strcmp(st, "SUCCESS") != 0 && strcmp(st, "FAILURE") != 0 &&
            strcmp(st, "RUNNING") != 0) {
            bad_request(ans, "status: expected SUCCESS, FAILURE or RUNNING");
            return -1;
        }
        f->status = st;
    }
    if (time_param(req, "since", &f->since_ms, ans) < 0 ||
        time_param(req, "until", &f->until_ms, ans) < 0)
        return -1;
    return 0;
}

static void list_runs(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    qxm_run_filter f = {0};
    long long limit = DEFAULT_PAGE, cursor = 0;
    if (filter_params(m, req, &f, ans) < 0 ||
        int_param(req, "limit", 1, MAX_PAGE, &limit, ans) < 0 ||
        int_param(req, "cursor", 0, INT64_MAX, &cursor, ans) < 0)
        return;
    const char *order = req->query(req->query_ctx, "order");
    if (order != NULL) {
        if (strcmp(order, "desc") == 0) {
            f.newest_first = true;
        } else if (strcmp(order, "asc") != 0) {
            bad_request(ans, "order: expected asc or desc");
            return;
        }
    }
    f.limit = (size_t)limit;
    f.cursor = cursor;
    int64_t next = 0;
    qx_error err;
    json_t *runs = qxm_store_list_runs(m->store, &f, &next, &err);
    if (runs == NULL) {
        qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
        return;
    }
    int64_t total = qxm_store_count_runs(m->store, &f, &err);
    char next_text[32];
    snprintf(next_text, sizeof next_text, "%lld", (long long)next);
    ans->status = 200;
    ans->json = json_pack("{s:o, s:s?, s:I}", "runs", runs, "nextCursor",
                          next != 0 ? next_text : NULL, "total", (json_int_t)total);
}

int qxm_admin_wait_prepare(qxm_mock *m, const qxm_request *req, qxm_waiter *w, qxm_answer *ans)
{
    (void)m;
    long long count = 1, timeout = DEFAULT_WAIT_MS;
    memset(w, 0, sizeof *w);
    if (filter_params(m, req, &w->filter, ans) < 0 ||
        int_param(req, "count", 1, 1000000, &count, ans) < 0 ||
        int_param(req, "timeoutMs", 0, MAX_WAIT_MS, &timeout, ans) < 0)
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

void qxm_admin_wait_answer(qxm_mock *m, const qxm_waiter *w, qxm_answer *ans)
{
    qx_error err;
    qxm_run_filter f = w->filter;
    /* The first count runs: rendering a thousand to answer count=1 made a
     * CI's wait slow at a million runs. */
    f.limit = w->count < MAX_PAGE ? (size_t)w->count : MAX_PAGE;
    int64_t next = 0;
    int64_t total = qxm_store_count_runs(m->store, &f, &err);
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
    json_t *runs = qxm_store_list_runs(m->store, &f, &next, &err);
    if (runs == NULL) {
        qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
        return;
    }
    ans->status = 200;
    ans->json = json_pack("{s:o, s:I}", "runs", runs, "count", (json_int_t)total);
}

static void get_run(qxm_mock *m, const char *id, qxm_answer *ans)
{
    qx_error err;
    qx_error_clear(&err);
    json_t *run = qxm_store_get_run(m->store, id, &err);
    if (run == NULL) {
        if (err.text[0] != '\0')
            qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
        else
            qxm_answer_error(ans, 404, "no run with this id", "QX_RUN_NOT_FOUND", NULL);
        return;
    }
    ans->status = 200;
    ans->json = run;
}

static void list_requests(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    long long limit = DEFAULT_PAGE, cursor = 0;
    if (int_param(req, "limit", 1, MAX_PAGE, &limit, ans) < 0 ||
        int_param(req, "cursor", 0, INT64_MAX, &cursor, ans) < 0)
        return;
    int64_t next = 0;
    qx_error err;
    json_t *list = qxm_store_list_requests(m->store, cursor, (size_t)limit, &next, &err);
    if (list == NULL) {
        qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
        return;
    }
    char next_text[32];
    snprintf(next_text, sizeof next_text, "%lld", (long long)next);
    ans->status = 200;
    ans->json =
        json_pack("{s:o, s:s?}", "requests", list, "nextCursor", next != 0 ? next_text : NULL);
}

/* GET /stats: the page's totals and runs-per-bucket chart, counted by the
 * store so the browser never loads the runs themselves. A chart wider than
 * STATS_MAX_BUCKETS bars is unreadable and slow to draw: over a long range
 * the bucket is widened to the next round size, and the answer says which. */
#define STATS_MAX_BUCKETS 500
#define STATS_DEFAULT_BUCKET_MS 60000
#define STATS_MAX_BUCKET_MS (366LL * 86400000)
#define STATS_MAX_ATTEMPTS 8

static const int64_t round_bucket_ms[] = {
    1000,     2000,     5000,      10000,     15000,      30000,     60000,    120000,
    300000,   600000,   900000,    1800000,   3600000,    7200000,   10800000, 21600000,
    43200000, 86400000, 172800000, 604800000, 1209600000, 2592000000};

/* The smallest round bucket of at least need ms that is wider than current. */
static int64_t wider_bucket(int64_t need, int64_t current)
{
    for (size_t i = 0; i < sizeof round_bucket_ms / sizeof round_bucket_ms[0]; i++)
        if (round_bucket_ms[i] >= need && round_bucket_ms[i] > current)
            return round_bucket_ms[i];
    const int64_t month = 2592000000;
    int64_t w = (need + month - 1) / month * month;
    return w > current ? w : current + month;
}

static json_t *time_or_null(int64_t ms)
{
    char text[QX_TIME_TEXT_MAX];
    return ms != 0 ? json_string(qx_format_time(ms, text)) : json_null();
}

static void stats(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    qxm_run_filter f = {0};
    long long bucket = STATS_DEFAULT_BUCKET_MS;
    if (filter_params(m, req, &f, ans) < 0 ||
        int_param(req, "bucketMs", 1000, STATS_MAX_BUCKET_MS, &bucket, ans) < 0)
        return;
    if (f.since_ms != 0 && f.until_ms != 0 && f.since_ms >= f.until_ms) {
        bad_request(ans, "until: must be after since");
        return;
    }
    /* One bucket more than allowed is enough to tell that there are too many. */
    f.limit = STATS_MAX_BUCKETS + 1;
    qx_error err;
    json_t *hist = NULL;
    json_t *buckets = NULL;
    for (int attempt = 0; attempt < STATS_MAX_ATTEMPTS; attempt++) {
        json_decref(hist);
        hist = qxm_store_histogram(m->store, &f, bucket, &err);
        if (hist == NULL) {
            qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
            return;
        }
        buckets = json_object_get(hist, "buckets");
        size_t n = json_array_size(buckets);
        if (n == 0)
            break;
        bool truncated = n > STATS_MAX_BUCKETS;
        int64_t first = json_integer_value(json_object_get(json_array_get(buckets, 0), "startMs"));
        int64_t last =
            json_integer_value(json_object_get(json_array_get(buckets, n - 1), "startMs"));
        /* The range the chart covers: the filter's ends, else the runs'
         * own; an open end of "since" reaches now (the page's sliding
         * "last hour"), as does a list cut short. */
        int64_t start = f.since_ms != 0 ? f.since_ms / bucket * bucket : first;
        int64_t end = f.until_ms != 0 ? f.until_ms : last + bucket;
        int64_t now = qx_now_ms();
        if (f.until_ms == 0 && (f.since_ms != 0 || truncated) && now > end)
            end = now;
        int64_t need = (end - start + STATS_MAX_BUCKETS - 1) / STATS_MAX_BUCKETS;
        if (!truncated && need <= bucket)
            break;
        if (attempt == STATS_MAX_ATTEMPTS - 1)
            break;
        bucket = wider_bucket(need, bucket);
    }
    while (json_array_size(buckets) > STATS_MAX_BUCKETS)
        json_array_remove(buckets, json_array_size(buckets) - 1);
    /* Bucket starts as RFC 3339 text, like every time in the API. */
    size_t i;
    json_t *b;
    json_array_foreach(buckets, i, b)
    {
        char text[QX_TIME_TEXT_MAX];
        int64_t ms = json_integer_value(json_object_get(b, "startMs"));
        json_object_set_new(b, "start", json_string(qx_format_time(ms, text)));
        json_object_del(b, "startMs");
    }
    ans->status = 200;
    ans->json = json_pack("{s:I, s:o, s:o, s:O, s:O}", "bucketMs", (json_int_t)bucket, "since",
                          time_or_null(f.since_ms), "until", time_or_null(f.until_ms), "totals",
                          json_object_get(hist, "totals"), "buckets", buckets);
    json_decref(hist);
}

static void reset(qxm_mock *m, qxm_answer *ans)
{
    qx_error err;
    pthread_mutex_lock(&m->ingest_lock);
    int rc = qxm_store_reset(m->store, &err);
    qxm_directory_reset(m->directory);
    qxm_ratelimit_reset(m->ratelimit);
    pthread_mutex_unlock(&m->ingest_lock);
    if (rc != 0) {
        qxm_answer_error(ans, 500, err.text, "QX_STORE_ERROR", NULL);
        return;
    }
    ans->status = 200;
    ans->json = json_pack("{s:b}", "reset", 1);
}

/* Imports NDJSON text. Stops at the first bad line and says which. */
static void import_history(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
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
    qx_ndjson_reader *r = qx_ndjson_open(f);
    int64_t imported = 0;
    qx_error err;
    int rc = 0;
    size_t line = 0;
    json_t *doc = NULL;
    while (r != NULL && (rc = qx_ndjson_next(r, &doc, &line, &err)) == 1) {
        int ok = qxm_store_import_run(m->store, doc, &err);
        json_decref(doc);
        if (ok != 0) {
            qx_error_prefix(&err, "line %zu", line);
            rc = -1;
            break;
        }
        imported++;
    }
    qx_ndjson_close(r);
    fclose(f);
    qxm_mock_note_due(m, INT64_MIN); /* imported RUNNING runs are due now */
    qxm_mock_kick(m);
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

char *qxm_admin_export_chunk(qxm_mock *m, int64_t *cursor, size_t *len)
{
    *len = 0;
    if (*cursor < 0)
        return NULL;
    qxm_run_filter f = {.cursor = *cursor, .limit = EXPORT_PAGE};
    int64_t next = 0;
    qx_error err;
    json_t *runs = qxm_store_list_runs(m->store, &f, &next, &err);
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

/* GET: the faults in force, global and per workflow. PUT {faults...,
 * "workflowId"?}: set run-time faults (for one workflow, or all). DELETE:
 * back to the config's faults. */
void qxm_admin_faults(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    if (strcmp(req->method, "PUT") == 0) {
        json_error_t jerr;
        json_t *body = json_loadb(req->body != NULL ? req->body : "", req->body_len, 0, &jerr);
        if (body == NULL) {
            bad_request(ans, "body is not valid JSON: %s", jerr.text);
            return;
        }
        qxm_faults f;
        qx_error err;
        const char *wf = json_string_value(json_object_get(body, "workflowId"));
        const qxm_workflow *w = wf != NULL ? qxm_config_find_by_id(m->cfg, wf) : NULL;
        if (qxm_faults_from_json(body, "faults", true, &f, &err) != 0) {
            json_decref(body);
            qxm_answer_error(ans, 400, err.text, "QX_BAD_PARAMETER", NULL);
            return;
        }
        json_decref(body);
        if (wf != NULL && w == NULL) {
            qxm_answer_error(ans, 404, "workflowId: no such workflow", "QX_NOT_FOUND", NULL);
            return;
        }
        pthread_mutex_lock(&m->faults_lock);
        if (w != NULL)
            m->runtime_faults[w - m->cfg->workflows] = f;
        else
            m->runtime_global = f;
        pthread_mutex_unlock(&m->faults_lock);
    } else if (strcmp(req->method, "DELETE") == 0) {
        pthread_mutex_lock(&m->faults_lock);
        memset(&m->runtime_global, 0, sizeof m->runtime_global);
        memset(m->runtime_faults, 0, m->cfg->n_workflows * sizeof *m->runtime_faults);
        pthread_mutex_unlock(&m->faults_lock);
    } else if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        ans->allow = "GET, PUT, DELETE";
        qxm_answer_error(ans, 405, "method not allowed", "QX_METHOD_NOT_ALLOWED", NULL);
        return;
    }
    json_t *per = json_object();
    for (size_t i = 0; i < m->cfg->n_workflows; i++) {
        qxm_faults f;
        qxm_mock_effective_faults(m, i, &f);
        json_object_set_new(per, m->cfg->workflows[i].id, qxm_faults_to_json(&f));
    }
    pthread_mutex_lock(&m->faults_lock);
    json_t *global =
        qxm_faults_to_json(m->runtime_global.set ? &m->runtime_global : &m->cfg->faults);
    pthread_mutex_unlock(&m->faults_lock);
    ans->status = 200;
    ans->json = json_pack("{s:o, s:o}", "global", global, "workflows", per);
}

bool qxm_admin_authorized(const qxm_mock *m, const qxm_request *req)
{
    if (m->admin_token == NULL)
        return true;
    const char *given = req->admin_token_header;
    if (given == NULL && req->authorization != NULL &&
        strncasecmp(req->authorization, "Bearer ", 7) == 0)
        given = req->authorization + 7;
    return given != NULL && qxm_secret_equals(given, m->admin_token);
}

void qxm_admin_handle(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    const char *path = req->path;
    if (!qxm_admin_authorized(m, req)) {
        qxm_answer_error(ans, 401,
                         "admin token required: send Authorization: Bearer <token> or "
                         "X-QX-ADMIN-TOKEN",
                         "QX_ADMIN_AUTH", NULL);
        return;
    }
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;

    if (strcmp(path, "/metrics") == 0) {
        if (!get)
            goto not_allowed_get;
        ans->text = qxm_metrics_render(m->metrics, m->store, &ans->text_len);
        ans->content_type = "text/plain; version=0.0.4; charset=utf-8";
        ans->status = ans->text != NULL ? 200 : 500;
        return;
    }
    if (strncmp(path, ADMIN_PREFIX "/", sizeof ADMIN_PREFIX) != 0)
        goto not_found;
    const char *rest = path + sizeof ADMIN_PREFIX; /* after "/_qx/v1/" */

    if (strcmp(rest, "faults") == 0) {
        qxm_admin_faults(m, req, ans);
    } else if (strcmp(rest, "health") == 0) {
        if (!get)
            goto not_allowed_get;
        ans->status = 200;
        ans->json = json_pack("{s:s}", "status", "ok");
    } else if (strcmp(rest, "stats") == 0) {
        if (!get)
            goto not_allowed_get;
        stats(m, req, ans);
    } else if (strcmp(rest, "workflows") == 0) {
        if (!get)
            goto not_allowed_get;
        json_t *list = json_array();
        for (size_t i = 0; i < m->cfg->n_workflows; i++)
            json_array_append_new(list, qxm_workflow_to_json(&m->cfg->workflows[i]));
        ans->status = 200;
        ans->json = json_pack("{s:o}", "workflows", list);
    } else if (strcmp(rest, "runs") == 0) {
        if (strcmp(req->method, "DELETE") == 0) {
            reset(m, ans);
        } else if (get) {
            list_runs(m, req, ans);
        } else {
            ans->allow = "GET, DELETE";
            qxm_answer_error(ans, 405, "method not allowed", "QX_METHOD_NOT_ALLOWED", NULL);
        }
    } else if (strcmp(rest, "runs/wait") == 0) {
        /* The server handles long-polls itself (it has to suspend). */
        if (!get)
            goto not_allowed_get;
        ans->wait = true;
    } else if (strncmp(rest, "runs/", 5) == 0 && strchr(rest + 5, '/') == NULL && rest[5] != '\0') {
        if (!get)
            goto not_allowed_get;
        get_run(m, rest + 5, ans);
    } else if (strcmp(rest, "requests") == 0) {
        if (!get)
            goto not_allowed_get;
        list_requests(m, req, ans);
    } else if (strcmp(rest, "export") == 0) {
        if (!get)
            goto not_allowed_get;
        ans->status = 200;
        ans->stream_export = true;
        ans->content_type = "application/x-ndjson";
    } else if (strcmp(rest, "import") == 0) {
        if (strcmp(req->method, "POST") != 0) {
            ans->allow = "POST";
            qxm_answer_error(ans, 405, "method not allowed: POST an NDJSON history",
                             "QX_METHOD_NOT_ALLOWED", NULL);
            return;
        }
        import_history(m, req, ans);
    } else {
        goto not_found;
    }
    return;

not_allowed_get:
    ans->allow = "GET";
    qxm_answer_error(ans, 405, "method not allowed", "QX_METHOD_NOT_ALLOWED", NULL);
    return;
not_found:
    qxm_answer_error(ans, 404, "no such resource", "QX_NOT_FOUND", NULL);
}
