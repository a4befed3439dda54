/*
 * whatif_diff.c — comparing a recorded run with its replay by content
 * (whatif_internal.h): status, conditionsMet, eventData field by field,
 * tasks by position (type, status, error), error text. Ids, times, inputs
 * and task results (contact and distribution ids) are never compared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_buf.h"
#include "whatif_internal.h"

#define VALUE_TEXT_MAX 80

static const char *const KIND_NAMES[QXM_WHATIF_N_KINDS] = {
    "status", "conditionsMet", "eventData", "tasks", "error", "httpStatus", "payload"};

const char *qxm_whatif_kind_name(qxm_whatif_kind k)
{
    return k < QXM_WHATIF_N_KINDS ? KIND_NAMES[k] : "?";
}

int64_t qxm_whatif_differing(const qxm_whatif_counts *c)
{
    return c->changed + c->added + c->gone + c->payloads;
}

/* A RUNNING run (exported before its delay passed) ends as its record
 * implies: FAILURE with an error or a failed task, else SUCCESS (as an
 * import finishes it). */
static const char *final_status(const json_t *run)
{
    const char *s = json_string_value(json_object_get(run, "status"));
    if (s == NULL || strcmp(s, "RUNNING") != 0)
        return s;
    if (json_is_string(json_object_get(run, "error")))
        return "FAILURE";
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(run, "tasks"), i, t)
    {
        const char *ts = json_string_value(json_object_get(t, "status"));
        if (ts != NULL && strcmp(ts, "FAILURE") == 0)
            return "FAILURE";
    }
    return "SUCCESS";
}

/* v, or JSON null when absent. New reference. */
static json_t *or_null(json_t *v)
{
    return v != NULL ? json_incref(v) : json_null();
}

json_t *whatif_run_outcome(const json_t *run)
{
    json_t *tasks = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(run, "tasks"), i, t)
    {
        json_array_append_new(tasks, json_pack("{s:o, s:o, s:o}", "type",
                                               or_null(json_object_get(t, "type")), "status",
                                               or_null(json_object_get(t, "status")), "error",
                                               or_null(json_object_get(t, "error"))));
    }
    const char *status = final_status(run);
    json_t *ed = json_object_get(run, "eventData");
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "status",
                     status != NULL ? json_string(status) : json_null(), "conditionsMet",
                     or_null(json_object_get(run, "conditionsMet")), "eventData",
                     json_is_object(ed) ? json_incref(ed) : json_object(), "tasks", tasks, "error",
                     or_null(json_object_get(run, "error")));
}

int whatif_add_diff(json_t *diffs, qxm_whatif_kind kind, const char *field, const json_t *old,
                    const json_t *now)
{
    json_t *d = json_pack("{s:s, s:s}", "kind", qxm_whatif_kind_name(kind), "field", field);
    if (d == NULL)
        return -1;
    if (old != NULL)
        json_object_set_new(d, "old", json_deep_copy(old));
    if (now != NULL)
        json_object_set_new(d, "new", json_deep_copy(now));
    return json_array_append_new(diffs, d);
}

/* Adds a difference of field when old and now (either may be NULL) differ. */
static int compare_value(json_t *diffs, bool *kinds, qxm_whatif_kind kind, const char *field,
                         const json_t *old, const json_t *now)
{
    if ((old == NULL && now == NULL) || (old != NULL && now != NULL && json_equal(old, now)))
        return 0;
    kinds[kind] = true;
    return whatif_add_diff(diffs, kind, field, old, now);
}

static int compare_event_data(const json_t *old, const json_t *now, json_t *diffs, bool *kinds)
{
    char field[512];
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)old, key, v)
    {
        snprintf(field, sizeof field, "eventData.%s", key);
        if (compare_value(diffs, kinds, QXM_WHATIF_EVENT_DATA, field, v,
                          json_object_get(now, key)) != 0)
            return -1;
    }
    json_object_foreach((json_t *)now, key, v)
    {
        snprintf(field, sizeof field, "eventData.%s", key);
        if (json_object_get(old, key) == NULL &&
            compare_value(diffs, kinds, QXM_WHATIF_EVENT_DATA, field, NULL, v) != 0)
            return -1;
    }
    return 0;
}

static int compare_tasks(const json_t *old, const json_t *now, json_t *diffs, bool *kinds)
{
    static const char *const PARTS[] = {"type", "status", "error"};
    size_t n_old = json_array_size(old), n_now = json_array_size(now);
    char field[64];
    for (size_t i = 0; i < n_old || i < n_now; i++) {
        json_t *a = json_array_get(old, i), *b = json_array_get(now, i);
        if (a == NULL || b == NULL) {
            snprintf(field, sizeof field, "tasks[%zu]", i);
            if (compare_value(diffs, kinds, QXM_WHATIF_TASKS, field, a, b) != 0)
                return -1;
            continue;
        }
        for (size_t p = 0; p < sizeof PARTS / sizeof *PARTS; p++) {
            snprintf(field, sizeof field, "tasks[%zu].%s", i, PARTS[p]);
            if (compare_value(diffs, kinds, QXM_WHATIF_TASKS, field, json_object_get(a, PARTS[p]),
                              json_object_get(b, PARTS[p])) != 0)
                return -1;
        }
    }
    return 0;
}

int whatif_compare(const json_t *old, const json_t *now, json_t *diffs,
                   bool kinds[QXM_WHATIF_N_KINDS])
{
    if (compare_value(diffs, kinds, QXM_WHATIF_STATUS, "status", json_object_get(old, "status"),
                      json_object_get(now, "status")) != 0 ||
        compare_value(diffs, kinds, QXM_WHATIF_CONDITIONS, "conditionsMet",
                      json_object_get(old, "conditionsMet"),
                      json_object_get(now, "conditionsMet")) != 0 ||
        compare_event_data(json_object_get(old, "eventData"), json_object_get(now, "eventData"),
                           diffs, kinds) != 0 ||
        compare_tasks(json_object_get(old, "tasks"), json_object_get(now, "tasks"), diffs, kinds) !=
            0)
        return -1;
    return compare_value(diffs, kinds, QXM_WHATIF_ERROR, "error", json_object_get(old, "error"),
                         json_object_get(now, "error"));
}

/* Whether field is a status (the run's or a task's): shown bare. */
static bool is_status_field(const char *field)
{
    size_t n = strlen(field);
    return strcmp(field, "status") == 0 || (n > 7 && strcmp(field + n - 7, ".status") == 0);
}

/* One side of a difference in words: a status bare, a task as "type
 * STATUS", anything else as compact JSON; "(absent)" when there is none.
 * Returns 0, or -1 when memory runs out. */
static int value_text(qx_buf *b, const char *field, const json_t *v)
{
    if (v == NULL)
        return qx_buf_addf(b, "(absent)");
    if (json_is_string(v) && is_status_field(field))
        return qx_buf_addf(b, "%s", json_string_value(v));
    if (json_is_object(v) && json_is_string(json_object_get(v, "type"))) {
        const char *st = json_string_value(json_object_get(v, "status"));
        return qx_buf_addf(b, "%s %s", json_string_value(json_object_get(v, "type")),
                           st != NULL ? st : "?");
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL)
        return -1;
    int rc = strlen(s) > VALUE_TEXT_MAX ? qx_buf_addf(b, "%.*s...", VALUE_TEXT_MAX, s)
                                        : qx_buf_addf(b, "%s", s);
    free(s);
    return rc;
}

char *whatif_diff_text(const json_t *diffs)
{
    qx_buf b = {0};
    int rc = 0;
    size_t i;
    json_t *d;
    json_array_foreach(diffs, i, d)
    {
        const char *field = json_string_value(json_object_get(d, "field"));
        if (rc == 0 && i > 0)
            rc = qx_buf_addf(&b, "; ");
        if (rc == 0)
            rc = qx_buf_addf(&b, "%s ", field);
        if (rc == 0)
            rc = value_text(&b, field, json_object_get(d, "old"));
        if (rc == 0)
            rc = qx_buf_addf(&b, " -> ");
        if (rc == 0)
            rc = value_text(&b, field, json_object_get(d, "new"));
    }
    if (rc != 0) {
        qx_buf_free(&b);
        return NULL;
    }
    char *text = qx_buf_take(&b, NULL);
    return text != NULL ? text : strdup("");
}
