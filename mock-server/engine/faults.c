/*
 * faults.c — injected faults: reading and writing fault settings, and the
 * fault table of one emulator (see qxm_faults.h).
 */
#include "qxm_faults.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "qxm_config.h"
#include "qxm_ratelimit.h"

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

struct qxm_fault_table {
    const qxm_config *cfg;     /* borrowed */
    pthread_mutex_t lock;      /* guards runtime_global and runtime[] */
    qxm_faults runtime_global; /* PUT without workflowId */
    qxm_faults *runtime;       /* per workflow */
    qxm_ratelimit **limits;    /* per workflow: faults.rateLimitPerMinute */
};

qxm_fault_table *qxm_fault_table_new(const qxm_config *cfg)
{
    qxm_fault_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->cfg = cfg;
    pthread_mutex_init(&t->lock, NULL);
    t->runtime = calloc(cfg->n_workflows + 1, sizeof *t->runtime);
    t->limits = calloc(cfg->n_workflows + 1, sizeof *t->limits);
    if (t->runtime == NULL || t->limits == NULL)
        goto fail;
    for (size_t i = 0; i < cfg->n_workflows; i++)
        if ((t->limits[i] = qxm_ratelimit_new(0)) == NULL)
            goto fail;
    return t;
fail:
    qxm_fault_table_free(t);
    return NULL;
}

void qxm_fault_table_free(qxm_fault_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; t->limits != NULL && i < t->cfg->n_workflows; i++)
        qxm_ratelimit_free(t->limits[i]);
    free(t->limits);
    free(t->runtime);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

void qxm_faults_effective(qxm_fault_table *t, size_t wf, qxm_faults *out)
{
    pthread_mutex_lock(&t->lock);
    if (t->runtime[wf].set)
        *out = t->runtime[wf];
    else if (t->runtime_global.set)
        *out = t->runtime_global;
    else if (t->cfg->workflows[wf].faults.set)
        *out = t->cfg->workflows[wf].faults;
    else
        *out = t->cfg->faults;
    pthread_mutex_unlock(&t->lock);
}

void qxm_faults_set(qxm_fault_table *t, size_t wf, const qxm_faults *f)
{
    pthread_mutex_lock(&t->lock);
    if (wf == QXM_FAULTS_ALL)
        t->runtime_global = *f;
    else
        t->runtime[wf] = *f;
    pthread_mutex_unlock(&t->lock);
}

void qxm_faults_clear(qxm_fault_table *t)
{
    pthread_mutex_lock(&t->lock);
    memset(&t->runtime_global, 0, sizeof t->runtime_global);
    memset(t->runtime, 0, t->cfg->n_workflows * sizeof *t->runtime);
    pthread_mutex_unlock(&t->lock);
}

json_t *qxm_faults_state_json(qxm_fault_table *t)
{
    json_t *per = json_object();
    for (size_t i = 0; per != NULL && i < t->cfg->n_workflows; i++) {
        qxm_faults f;
        qxm_faults_effective(t, i, &f);
        json_object_set_new(per, t->cfg->workflows[i].id, qxm_faults_to_json(&f));
    }
    pthread_mutex_lock(&t->lock);
    json_t *global =
        qxm_faults_to_json(t->runtime_global.set ? &t->runtime_global : &t->cfg->faults);
    pthread_mutex_unlock(&t->lock);
    return json_pack("{s:o?, s:o?}", "global", global, "workflows", per);
}

bool qxm_faults_draw(qxm_fault_table *t, size_t wf, qx_rng *rng, const char *key, int64_t now_ms,
                     qxm_fault_draw *out)
{
    memset(out, 0, sizeof *out);
    qxm_faults f;
    qxm_faults_effective(t, wf, &f);
    if (!f.set)
        return false;
    /* Every draw is made whatever the outcome, so that a seeded emulator
     * makes the same choices for the same request sequence. */
    uint64_t latency = qx_rng_range(rng, f.latency_min_ms, f.latency_max_ms);
    bool error_hit = qx_rng_chance(rng, f.error_rate);
    bool drop_hit = qx_rng_chance(rng, f.drop_rate);
    bool after = f.drop_phase == QXM_DROP_AFTER ||
                 (f.drop_phase == QXM_DROP_BOTH && (qx_rng_next(rng) & 1) != 0);
    out->delay_ms = (unsigned)latency + f.slow_response_ms;
    if (f.has_rate_limit) {
        qxm_ratelimit_set(t->limits[wf], f.rate_limit_per_minute);
        out->rate_limit = f.rate_limit_per_minute;
        out->rate_limited = !qxm_ratelimit_take(t->limits[wf], key, now_ms, &out->retry_after_s);
    }
    out->error_status = error_hit ? f.error_status : 0;
    out->drop_before = drop_hit && !after;
    out->drop_after = drop_hit && after;
    return true;
}
