/* faults.c — reading and writing fault settings (see qxm_faults.h). */
#include "qxm_faults.h"

#include <string.h>

/* Longest injected delay: well past any sender's timeout, short of forever. */
#define QXM_MAX_FAULT_DELAY_MS 600000

static const char *const FAULT_KEYS[] = {"latencyMs",      "errorRate",  "errorStatus",
                                         "dropRate",       "dropPhase",  "rateLimitPerMinute",
                                         "slowResponseMs", "workflowId", NULL};

static int rate(json_t *obj, const char *key, const char *loc, double *out, qx_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1) {
        qx_error_set(err, "%s.%s: expected a number from 0 to 1", loc, key);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

static int millis(json_t *obj, const char *key, const char *loc, unsigned *out, qx_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > QXM_MAX_FAULT_DELAY_MS) {
        qx_error_set(err, "%s.%s: expected whole milliseconds from 0 to %d", loc, key,
                     QXM_MAX_FAULT_DELAY_MS);
        return -1;
    }
    *out = (unsigned)json_integer_value(v);
    return 0;
}

int qxm_faults_from_json(json_t *obj, const char *loc, bool allow_workflow_id, qxm_faults *out,
                         qx_error *err)
{
    memset(out, 0, sizeof *out);
    out->error_status = 503;
    out->drop_phase = QXM_DROP_BEFORE;
    if (!json_is_object(obj)) {
        qx_error_set(err, "%s: expected a JSON object", loc);
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool known = false;
        for (size_t i = 0; FAULT_KEYS[i] != NULL; i++)
            known |= strcmp(key, FAULT_KEYS[i]) == 0;
        if (!known || (!allow_workflow_id && strcmp(key, "workflowId") == 0)) {
            qx_error_set(err,
                         "%s: unknown key \"%s\" (known: latencyMs, errorRate, errorStatus, "
                         "dropRate, dropPhase, rateLimitPerMinute, slowResponseMs)",
                         loc, key);
            return -1;
        }
    }
    json_t *lat = json_object_get(obj, "latencyMs");
    if (lat != NULL) {
        json_t *lo = json_array_get(lat, 0), *hi = json_array_get(lat, 1);
        if (!json_is_array(lat) || json_array_size(lat) != 2 || !json_is_integer(lo) ||
            !json_is_integer(hi) || json_integer_value(lo) < 0 ||
            json_integer_value(hi) < json_integer_value(lo) ||
            json_integer_value(hi) > QXM_MAX_FAULT_DELAY_MS) {
            qx_error_set(err, "%s.latencyMs: expected [min, max] with 0 <= min <= max <= %d", loc,
                         QXM_MAX_FAULT_DELAY_MS);
            return -1;
        }
        out->latency_min_ms = (unsigned)json_integer_value(lo);
        out->latency_max_ms = (unsigned)json_integer_value(hi);
    }
    if (rate(obj, "errorRate", loc, &out->error_rate, err) < 0 ||
        rate(obj, "dropRate", loc, &out->drop_rate, err) < 0 ||
        millis(obj, "slowResponseMs", loc, &out->slow_response_ms, err) < 0)
        return -1;
    json_t *st = json_object_get(obj, "errorStatus");
    if (st != NULL) {
        json_int_t s = json_integer_value(st);
        if (!json_is_integer(st) || (s != 500 && s != 502 && s != 503 && s != 504)) {
            qx_error_set(err, "%s.errorStatus: expected 500, 502, 503 or 504", loc);
            return -1;
        }
        out->error_status = (int)s;
    }
    json_t *ph = json_object_get(obj, "dropPhase");
    if (ph != NULL) {
        const char *p = json_string_value(ph);
        if (p != NULL && strcmp(p, "before") == 0)
            out->drop_phase = QXM_DROP_BEFORE;
        else if (p != NULL && strcmp(p, "after") == 0)
            out->drop_phase = QXM_DROP_AFTER;
        else if (p != NULL && strcmp(p, "both") == 0)
            out->drop_phase = QXM_DROP_BOTH;
        else {
            qx_error_set(err, "%s.dropPhase: expected \"before\", \"after\" or \"both\"", loc);
            return -1;
        }
    }
    json_t *rl = json_object_get(obj, "rateLimitPerMinute");
    if (rl != NULL) {
        if (!json_is_integer(rl) || json_integer_value(rl) < 1 ||
            json_integer_value(rl) > 1000000000) {
            qx_error_set(err, "%s.rateLimitPerMinute: expected an integer from 1", loc);
            return -1;
        }
        out->has_rate_limit = true;
        out->rate_limit_per_minute = (unsigned)json_integer_value(rl);
    }
    out->set = true;
    return 0;
}

json_t *qxm_faults_to_json(const qxm_faults *f)
{
    if (f == NULL || !f->set)
        return json_null();
    const char *phase = f->drop_phase == QXM_DROP_AFTER  ? "after"
                        : f->drop_phase == QXM_DROP_BOTH ? "both"
                                                         : "before";
    json_t *o = json_pack("{s:[I,I], s:f, s:i, s:f, s:s, s:I}", "latencyMs",
                          (json_int_t)f->latency_min_ms, (json_int_t)f->latency_max_ms, "errorRate",
                          f->error_rate, "errorStatus", f->error_status, "dropRate", f->drop_rate,
                          "dropPhase", phase, "slowResponseMs", (json_int_t)f->slow_response_ms);
    if (o != NULL && f->has_rate_limit)
        json_object_set_new(o, "rateLimitPerMinute", json_integer(f->rate_limit_per_minute));
    return o;
}
