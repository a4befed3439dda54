/*
 * admin_capture.c — capture event over the admin API:
 *
 *   POST   /_qx/v1/workflows/{id}/capture   arm: {"timeoutMs": N}, optional
 *   GET    /_qx/v1/workflows/{id}/capture   {armed, expiresAt, sample, fields}
 *   DELETE /_qx/v1/workflows/{id}/capture   disarm (the sample stays)
 *
 * Each answers with the capture's state then. The engine's capture module
 * (engine/capture.c) owns the state and its lock; this file only reads the
 * request and shows the answer.
 */
#include <string.h>

#include "http_internal.h"

#define WORKFLOWS_PREFIX "/_qx/v1/workflows/"
#define CAPTURE_SUFFIX "/capture"

/* The workflow the path names, or NULL with ans set to 404. */
static const qxm_workflow *workflow_of(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    const char *id = req->path + strlen(WORKFLOWS_PREFIX);
    size_t n = strlen(id) - strlen(CAPTURE_SUFFIX); /* the route matched both */
    const qxm_config *cfg = qxm_engine_config(m->engine);
    for (size_t i = 0; i < cfg->n_workflows; i++)
        if (strlen(cfg->workflows[i].id) == n && strncmp(cfg->workflows[i].id, id, n) == 0)
            return &cfg->workflows[i];
    qxm_answer_error(ans, 404, "no workflow with this id", "QX_WORKFLOW_NOT_FOUND", NULL);
    return NULL;
}

static void show(qxm_mock *m, const qxm_workflow *wf, qxm_answer *ans)
{
    const qxm_config *cfg = qxm_engine_config(m->engine);
    json_t *state = qxm_capture_state(qxm_engine_capture(m->engine), (size_t)(wf - cfg->workflows));
    if (state == NULL) {
        qxm_answer_error(ans, 500, "out of memory", "QX_INTERNAL", NULL);
        return;
    }
    ans->status = 200;
    ans->json = state;
}

/* The arming's timeout from the body (strict). Returns 0, or -1 with ans
 * set to a 400 that names the key or the problem. */
static int read_timeout(const qxm_request *req, long long *timeout_ms, qxm_answer *ans)
{
    *timeout_ms = QXM_CAPTURE_DEFAULT_TIMEOUT_MS;
    if (req->body_len == 0)
        return 0;
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
    int rc = -1;
    const char *key;
    json_t *v;
    if (body == NULL) {
        qxm_bad_request(ans, "body is not valid JSON: %s", jerr.text);
        return -1;
    }
    if (!json_is_object(body)) {
        qxm_bad_request(ans, "body: expected a JSON object");
        goto out;
    }
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "timeoutMs") != 0) {
            qxm_bad_request(ans, "unknown key \"%.100s\" (expected timeoutMs)", key);
            goto out;
        }
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > QXM_CAPTURE_MAX_TIMEOUT_MS) {
            qxm_bad_request(ans, "timeoutMs: expected an integer from 1 to %d",
                            QXM_CAPTURE_MAX_TIMEOUT_MS);
            goto out;
        }
        *timeout_ms = json_integer_value(v);
    }
    rc = 0;
out:
    json_decref(body);
    return rc;
}

void qxm_admin_capture_arm(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    long long timeout_ms;
    const qxm_workflow *wf = workflow_of(m, req, ans);
    if (wf == NULL || read_timeout(req, &timeout_ms, ans) != 0)
        return;
    const qxm_config *cfg = qxm_engine_config(m->engine);
    (void)qxm_capture_arm(qxm_engine_capture(m->engine), (size_t)(wf - cfg->workflows), timeout_ms);
    show(m, wf, ans);
}

void qxm_admin_capture_get(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    const qxm_workflow *wf = workflow_of(m, req, ans);
    if (wf != NULL)
        show(m, wf, ans);
}

void qxm_admin_capture_delete(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    const qxm_workflow *wf = workflow_of(m, req, ans);
    if (wf == NULL)
        return;
    const qxm_config *cfg = qxm_engine_config(m->engine);
    (void)qxm_capture_disarm(qxm_engine_capture(m->engine), (size_t)(wf - cfg->workflows));
    show(m, wf, ans);
}
