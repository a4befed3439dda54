/* deadletter.c — writing dead-letter records and reading payloads back. */
#include "qxs_deadletter.h"

#include "qx_clock.h"
#include "qx_ndjson.h"

int qxs_dead_letter_write(FILE *f, const json_t *payload, const char *reason, long status,
                          int attempts, int64_t last_attempt_ms, size_t line_no)
{
    if (f == NULL)
        return 0;
    char when[QX_TIME_TEXT_MAX];
    json_t *rec = json_pack("{s:O?, s:s, s:o, s:i, s:s?, s:I}", "payload", payload, "reason",
                            reason, "httpStatus", status > 0 ? json_integer(status) : json_null(),
                            "attempts", attempts, "lastAttemptAt",
                            last_attempt_ms > 0 ? qx_format_time(last_attempt_ms, when) : NULL,
                            "line", (json_int_t)line_no);
    if (rec == NULL)
        return -1;
    int rc = qx_ndjson_write(f, rec);
    json_decref(rec);
    if (rc == 0 && fflush(f) != 0)
        rc = -1;
    return rc;
}

json_t *qxs_replay_payload(const json_t *record, qx_error *err)
{
    if (!json_is_object(record)) {
        qx_error_set(err, "not a JSON object");
        return NULL;
    }
    json_t *p = json_object_get(record, "payload");
    if (p == NULL) {
        qx_error_set(err,
                     "no \"payload\" member (expected a dead-letter record or an exported run)");
        return NULL;
    }
    if (!json_is_object(p)) {
        qx_error_set(err, "\"payload\" is not a JSON object");
        return NULL;
    }
    return p;
}
