/*
 * ingest.c — the JSON-event endpoint over HTTP:
 *   POST /inbound-event/v1/events/json/triggers?urlTokenId=<token>
 * (or the older .../JSON/triggers?...&triggerId=<token>). It hands the
 * request to the engine (qxm_engine_event decides everything: checks,
 * faults, the run) and answers in the Qualtrics API envelope.
 */
#include <stdio.h>

#include "http_internal.h"

void qxm_ingest_handle(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    const char *token = req->query(req->query_ctx, "urlTokenId");
    if (token == NULL)
        token = req->query(req->query_ctx, "triggerId");
    qxm_event ev = {
        .method = req->method,
        .path = req->path,
        .url_token = token,
        .content_type = req->content_type,
        .has_authorization = req->has_authorization,
        .basic_user = req->basic_user,
        .basic_password = req->basic_password,
        .api_token = req->api_token_header,
        .body = req->body,
        .body_len = req->body_len,
        .body_too_large = req->body_too_large,
        .received_ms = req->received_ms,
    };
    qxm_event_outcome out;
    qxm_engine_event(m->engine, &ev, &out);
    ans->delay_ms = out.delay_ms;
    ans->drop = out.drop;
    ans->retry_after_s = out.retry_after_s;
    if (out.allow != NULL)
        snprintf(ans->allow, sizeof ans->allow, "%s", out.allow);
    if (out.drop && out.status == 0)
        return; /* closed before the run: nothing is sent */
    ans->status = out.status;
    ans->commit = out.commit;
    if (out.error_code != NULL) {
        qxm_answer_error(ans, out.status, out.message, out.error_code, out.request_id);
        return;
    }
    json_t *result =
        out.run_started
            ? json_pack("{s:s, s:s}", "runId", out.run_id, "workflowId", out.workflow_id)
        : out.captured ? json_pack("{s:b, s:s}", "captured", 1, "workflowId", out.workflow_id)
                       : json_object();
    ans->json = qxm_envelope_ok(result, out.request_id, out.status);
}
