/*
 * admin_alerts.c — /_qx/v1/alerts: a local sink for destination alerts
 * (qx-send --alert-webhook), so that a pipeline's alerts are seen beside
 * its runs. POST keeps one (201 {"id"}), GET lists the newest first
 * (?limit=1..1000, default 100), DELETE forgets them all. Behind the admin
 * token when qx-mock has one, like the rest of the admin API; the data is
 * alert_log.c's.
 *
 * A posted alert is a JSON object with a non-empty string "type" of at
 * most 128 bytes; everything else it holds is kept as sent (qx-send's
 * entries: qxs_alert.h), except "id" and "receivedAt", which are ours.
 */
#include <string.h>
#include <strings.h>

#include "http_internal.h"

#define ALERT_TYPE_MAX_BYTES 128
#define ALERTS_DEFAULT_LIMIT 100

void qxm_admin_alerts_post(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    if (req->body_too_large) {
        qxm_answer_error(ans, 413, "an alert is at most 64 KB", "QX_PAYLOAD_TOO_LARGE", NULL);
        return;
    }
    if (req->content_type == NULL || strncasecmp(req->content_type, "application/json", 16) != 0) {
        qxm_answer_error(ans, 415, "POST an alert as application/json", "QX_UNSUPPORTED_MEDIA_TYPE",
                         NULL);
        return;
    }
    json_error_t jerr;
    json_t *alert = json_loadb(req->body != NULL ? req->body : "", req->body_len,
                               JSON_REJECT_DUPLICATES, &jerr);
    if (alert == NULL) {
        qxm_bad_request(ans, "body is not valid JSON: %s", jerr.text);
        return;
    }
    json_t *type = json_object_get(alert, "type");
    if (!json_is_object(alert) || !json_is_string(type) || json_string_length(type) == 0 ||
        json_string_length(type) > ALERT_TYPE_MAX_BYTES) {
        json_decref(alert);
        qxm_bad_request(ans, "expected a JSON object with a \"type\" string of 1 to %d bytes",
                        ALERT_TYPE_MAX_BYTES);
        return;
    }
    int64_t id = qxm_alert_log_add(m->alerts, alert, req->received_ms);
    json_decref(alert);
    if (id < 0) {
        qxm_answer_error(ans, 500, "out of memory", "QX_INTERNAL", NULL);
        return;
    }
    ans->status = 201;
    ans->json = json_pack("{s:I}", "id", (json_int_t)id);
}

void qxm_admin_alerts_list(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    long long limit = ALERTS_DEFAULT_LIMIT;
    if (qxm_param_int(req, "limit", 1, QXM_ALERTS_MAX, &limit, ans) < 0)
        return;
    ans->json = qxm_alert_log_list(m->alerts, (size_t)limit);
    ans->status = ans->json != NULL ? 200 : 500;
}

void qxm_admin_alerts_delete(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    (void)req;
    size_t n = qxm_alert_log_clear(m->alerts);
    ans->status = 200;
    ans->json = json_pack("{s:I}", "deleted", (json_int_t)n);
}
