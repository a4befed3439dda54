/*
 * admin_faults.c — the injected faults in force, changed at run time:
 *
 *   GET    /_qx/v1/faults   {"global": ..., "workflows": {id: ...}}
 *   PUT    /_qx/v1/faults   {faults..., "workflowId"?}: for one workflow, or all
 *   DELETE /_qx/v1/faults   back to the config's faults
 *
 * Each answers with the faults then in force. The fault table itself
 * (engine/faults.c) owns the settings and their lock.
 */
#include "http_internal.h"

static void show(qxm_mock *m, qxm_answer *ans)
{
    ans->status = 200;
    ans->json = qxm_faults_state_json(qxm_engine_faults(m->engine));
}

void qxm_admin_faults_get(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    (void)req;
    show(m, ans);
}

void qxm_admin_faults_put(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body != NULL ? req->body : "", req->body_len, 0, &jerr);
    if (body == NULL) {
        qxm_bad_request(ans, "body is not valid JSON: %s", jerr.text);
        return;
    }
    qxm_faults f;
    qx_error err;
    const qxm_config *cfg = qxm_engine_config(m->engine);
    const char *wf = json_string_value(json_object_get(body, "workflowId"));
    const qxm_workflow *w = wf != NULL ? qxm_config_find_by_id(cfg, wf) : NULL;
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
    qxm_faults_set(qxm_engine_faults(m->engine),
                   w != NULL ? (size_t)(w - cfg->workflows) : QXM_FAULTS_ALL, &f);
    show(m, ans);
}

void qxm_admin_faults_delete(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    (void)req;
    qxm_faults_clear(qxm_engine_faults(m->engine));
    show(m, ans);
}
