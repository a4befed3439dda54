/*
 * admin.c — the emulator's own API under /_qx/v1 (Qualtrics has no public
 * API listing workflow runs; this one is ours, documented in README): the
 * strict parameter checks every admin handler shares, and the small
 * handlers (health, workflows, metrics). The routes are in routes.c; runs,
 * the journal and long-polls in admin_runs.c, statistics in admin_stats.c,
 * import and export in admin_history.c, injected faults in admin_faults.c.
 *
 * Query parameters are validated strictly: a bad value is a 400 naming the
 * parameter, never a silent default.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"
#include "qx_clock.h"

void qxm_bad_request(qxm_answer *ans, const char *fmt, ...)
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
int qxm_param_int(const qxm_request *req, const char *name, long long min, long long max,
                  long long *out, qxm_answer *ans)
{
    const char *s = req->query(req->query_ctx, name);
    if (s == NULL)
        return 1;
    char *end;
    errno = 0;
    /* Digits only (strtoll alone would take leading blanks and a '+'). */
    bool digits = (s[0] >= '0' && s[0] <= '9') || (s[0] == '-' && s[1] >= '0' && s[1] <= '9');
    long long v = digits ? strtoll(s, &end, 10) : 0;
    if (!digits || *end != '\0' || errno != 0 || v < min || v > max) {
        qxm_bad_request(ans, "%s: expected an integer from %lld to %lld", name, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* A time parameter, within [QXM_PARAM_TIME_MIN_MS, QXM_PARAM_TIME_MAX_MS]:
 * every sum and difference of two such times fits an int64_t with room to
 * spare, so the handlers' arithmetic on them (/stats' buckets) cannot
 * overflow. */
int qxm_param_time(const qxm_request *req, const char *name, int64_t *out, qxm_answer *ans)
{
    const char *s = req->query(req->query_ctx, name);
    if (s == NULL)
        return 1;
    int64_t ms;
    if (qx_parse_time(s, &ms) != 0 || ms < QXM_PARAM_TIME_MIN_MS || ms > QXM_PARAM_TIME_MAX_MS) {
        qxm_bad_request(ans,
                        "%s: expected an RFC 3339 time or milliseconds since the epoch, "
                        "from 1970 to 9999",
                        name);
        return -1;
    }
    *out = ms;
    return 0;
}

/* Reads workflowId, status, since, until into f. Returns 0 or -1 (400 set). */
int qxm_param_filter(qxm_mock *m, const qxm_request *req, qxm_run_filter *f, qxm_answer *ans)
{
    const char *wf = req->query(req->query_ctx, "workflowId");
    if (wf != NULL) {
        if (qxm_config_find_by_id(qxm_engine_config(m->engine), wf) == NULL) {
            /* Imported histories may hold other workflows: allow any id of
             * sane length, but say nothing matches rather than erroring. */
            if (strlen(wf) > 200) {
                qxm_bad_request(ans, "workflowId: too long");
                return -1;
            }
        }
        f->workflow_id = wf;
    }
    const char *st = req->query(req->query_ctx, "status");
    if (st != NULL) {
        if (strcmp(st, "SUCCESS") != 0 && strcmp(st, "FAILURE") != 0 &&
            strcmp(st, "RUNNING") != 0) {
            qxm_bad_request(ans, "status: expected SUCCESS, FAILURE or RUNNING");
            return -1;
        }
        f->status = st;
    }
    if (qxm_param_time(req, "since", &f->since_ms, ans) < 0 ||
        qxm_param_time(req, "until", &f->until_ms, ans) < 0)
        return -1;
    return 0;
}

void qxm_admin_health(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    (void)m;
    (void)req;
    ans->status = 200;
    ans->json = json_pack("{s:s}", "status", "ok");
}

void qxm_admin_workflows(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    (void)req;
    const qxm_config *cfg = qxm_engine_config(m->engine);
    json_t *list = json_array();
    for (size_t i = 0; i < cfg->n_workflows; i++)
        json_array_append_new(list, qxm_workflow_to_json(&cfg->workflows[i]));
    ans->status = 200;
    ans->json = json_pack("{s:o}", "workflows", list);
}

void qxm_admin_metrics(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    (void)req;
    ans->text = qxm_metrics_render(m->metrics, qxm_engine_store(m->engine), &ans->text_len);
    ans->content_type = "text/plain; version=0.0.4; charset=utf-8";
    ans->status = ans->text != NULL ? 200 : 500;
}
