/*
 * envelope.c — the Qualtrics API response envelope:
 *   {"result": {...}, "meta": {"httpStatus": "200 - OK", "requestId": "..."}}
 * with meta.error.{errorMessage, errorCode} on errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"
#include "qx_buf.h"
#include "qx_json_write.h"

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

static json_t *meta(int status, const char *request_id)
{
    char text[64];
    snprintf(text, sizeof text, "%d - %s", status, reason_phrase(status));
    return json_pack("{s:s, s:s?}", "httpStatus", text, "requestId", request_id);
}

json_t *qxm_envelope_ok(json_t *result, const char *request_id, int status)
{
    return json_pack("{s:o, s:o}", "result", result != NULL ? result : json_object(), "meta",
                     meta(status, request_id));
}

static int add_member(qx_buf *b, const char *lead, const char *value)
{
    if (qx_buf_add(b, lead, strlen(lead)) != 0)
        return -1;
    return qx_json_write_string(b, value, strlen(value));
}

char *qxm_envelope_run_text(int status, const char *run_id, const char *workflow_id,
                            const char *request_id, size_t *len)
{
    char text[64];
    snprintf(text, sizeof text, "%d - %s", status, reason_phrase(status));
    qx_buf b = {0};
    if (add_member(&b, "{\"result\":{\"runId\":", run_id) != 0 ||
        add_member(&b, ",\"workflowId\":", workflow_id) != 0 ||
        add_member(&b, "},\"meta\":{\"httpStatus\":", text) != 0 ||
        (request_id != NULL && add_member(&b, ",\"requestId\":", request_id) != 0) ||
        qx_buf_add(&b, "}}\n", 3) != 0) {
        qx_buf_free(&b);
        return NULL;
    }
    return qx_buf_take(&b, len);
}

json_t *qxm_envelope_error(int status, const char *message, const char *code,
                           const char *request_id)
{
    json_t *m = meta(status, request_id);
    if (m == NULL)
        return NULL;
    json_object_set_new(m, "error",
                        json_pack("{s:s, s:s}", "errorMessage", message, "errorCode", code));
    return json_pack("{s:o}", "meta", m);
}

void qxm_answer_error(qxm_answer *ans, int status, const char *message, const char *code,
                      const char *request_id)
{
    ans->status = status;
    json_decref(ans->json);
    free(ans->text); /* an answer written as text (a run's) gives way too */
    ans->text = NULL;
    ans->text_len = 0;
    ans->json = qxm_envelope_error(status, message, code, request_id);
}

void qxm_answer_clear(qxm_answer *ans)
{
    json_decref(ans->json);
    free(ans->text);
    free(ans->waiter);
    qxm_commit_free(ans->commit);
    *ans = (qxm_answer){0};
}
