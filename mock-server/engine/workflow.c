/*
 * workflow.c — one run of a workflow: event data, conditions, tasks.
 *
 * The run follows the order a Qualtrics workflow does. The event data is
 * extracted from the JSON-event body with each field's JSONPath (a path that
 * matches nothing gives null). Every condition is evaluated and recorded, even
 * after one fails, so a run's details show all of them; all must hold. Then
 * the tasks run in order: each task's inputs are expanded from piped text
 * (~{aedj://field}) and the task acts on the shared XM Directory. A failed
 * task fails the run; by default the remaining tasks still run ("Continue to
 * run the remaining tasks"), with onTaskFailure "stop" they are skipped.
 *
 * The outcome is a JSON object built from scratch here and handed to the
 * caller, who adds ids and times and stores it.
 */
#include "qxm_workflow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_buf.h"
#include "qx_email.h"
#include "qx_log.h"
#include "qx_utf8.h"

/* The run's records are built member by member, not with json_pack: its
 * format is parsed again for every object, a fifth of a run's JSON work
 * (callgrind). put sets o[key] to v, a new reference stolen even when it
 * fails; a NULL v (memory ran out, a string that is not UTF-8) fails, as
 * json_pack would. Keys are this file's literals. Returns 0, or -1. */
static int put(json_t *o, const char *key, json_t *v)
{
    if (v == NULL)
        return -1;
    return json_object_set_new_nocheck(o, key, v);
}

/* json_pack's "s?": the string, or null. */
static json_t *string_or_null(const char *text)
{
    return text != NULL ? json_string(text) : json_null();
}

/* json_pack's "s*" in an object: the member only when there is a string. */
static int put_if(json_t *o, const char *key, const char *text)
{
    return text != NULL ? put(o, key, json_string(text)) : 0;
}

/* Qualtrics piped text for JSON-event fields: ~{aedj://fieldName}. */
#define PIPE_OPEN "~{aedj://"
/* How much of an offending value a run's error quotes. */
#define QUOTE_MAX 100
/* Enough for the longest "%.17g" rendering of a double. */
#define NUMBER_TEXT_MAX 32
#define WHY_MAX 256

/* ---- piped text ---- */

/* Piped text being built; after a failed append it stays failed. */
typedef struct text_buf {
    qx_buf b;
    bool oom;
} text_buf;

static void buf_add(text_buf *t, const char *s, size_t n)
{
    if (!t->oom && qx_buf_add(&t->b, s, n) != 0)
        t->oom = true;
}

/* A double in the fewest digits that read back as the same number
 * (0.1 -> "0.1", not jansson's default "0.10000000000000001"). */
static void format_real(double d, char *out, size_t size)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

/* Appends a field's value as piped text shows it. */
static void add_value(text_buf *b, const json_t *v)
{
    char num[NUMBER_TEXT_MAX];
    switch (json_typeof(v)) {
    case JSON_STRING:
        buf_add(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        buf_add(b, num, strlen(num));
        break;
    case JSON_REAL:
        format_real(json_real_value(v), num, sizeof num);
        buf_add(b, num, strlen(num));
        break;
    case JSON_TRUE:
        buf_add(b, "true", 4);
        break;
    case JSON_FALSE:
        buf_add(b, "false", 5);
        break;
    case JSON_OBJECT:
    case JSON_ARRAY: {
        char *text = json_dumps(v, JSON_COMPACT);
        if (text == NULL)
            b->oom = true;
        else
            buf_add(b, text, strlen(text));
        free(text);
        break;
    }
    case JSON_NULL:
        break;
    }
}

char *qxm_pipe_expand(const char *template, const json_t *event_data)
{
    text_buf b = {0};
    const char *p = template;
    buf_add(&b, "", 0); /* an empty template still gives a string */
    for (;;) {
        const char *open = strstr(p, PIPE_OPEN);
        const char *name = open != NULL ? open + strlen(PIPE_OPEN) : NULL;
        const char *close = name != NULL ? strchr(name, '}') : NULL;
        if (close == NULL) {
            /* No more piped text (an unclosed "~{aedj://" stays as written). */
            buf_add(&b, p, strlen(p));
            break;
        }
        buf_add(&b, p, (size_t)(open - p));
        json_t *v = json_object_getn(event_data, name, (size_t)(close - name));
        if (v != NULL)
            add_value(&b, v);
        p = close + 1;
    }
    if (b.oom) {
        qx_buf_free(&b.b);
        return NULL;
    }
    return qx_buf_take(&b.b, NULL);
}

/* ---- event data and conditions ---- */

/* {name: value|null} for every eventData field of w. NULL when memory runs out. */
static json_t *extract_event_data(const qxm_workflow *w, json_t *payload)
{
    json_t *data = json_object();
    for (size_t i = 0; data != NULL && i < w->n_event_data; i++) {
        json_t *v = qx_jsonpath_extract(w->event_data[i].path, payload);
        if (json_object_set_new(data, w->event_data[i].name, v) != 0) {
            json_decref(data);
            data = NULL;
        }
    }
    return data;
}

/* "exists" in Qualtrics terms: the field has a value; an empty string
 * (what a missing field pipes to) does not count. */
static bool has_value(const json_t *v)
{
    return v != NULL && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0);
}

static bool contains(const json_t *actual, const json_t *value)
{
    if (json_is_string(actual) && json_is_string(value))
        return strstr(json_string_value(actual), json_string_value(value)) != NULL;
    if (json_is_array(actual)) {
        size_t i;
        json_t *e;
        json_array_foreach(actual, i, e)
        {
            if (json_equal(e, value))
                return true;
        }
    }
    return false;
}

static bool condition_holds(const qxm_condition *c, const json_t *actual)
{
    switch (c->op) {
    case QXM_OP_EXISTS:
        return has_value(actual);
    case QXM_OP_NOT_EXISTS:
        return !has_value(actual);
    case QXM_OP_EQUALS:
        return json_equal(actual, c->value);
    case QXM_OP_NOT_EQUALS:
        return !json_equal(actual, c->value);
    case QXM_OP_CONTAINS:
        return contains(actual, c->value);
    }
    return false;
}

/* Evaluates every condition into records (an array). Returns 1 when all
 * hold, 0 when one does not, -1 when memory runs out. */
static int evaluate_conditions(const qxm_workflow *w, json_t *event_data, json_t *records)
{
    int all = 1;
    for (size_t i = 0; i < w->n_conditions; i++) {
        const qxm_condition *c = &w->conditions[i];
        json_t *actual = json_object_get(event_data, c->field);
        if (actual == NULL)
            actual = json_null();
        bool met = condition_holds(c, actual);
        if (!met)
            all = 0;
        json_t *rec = json_object();
        if (put(rec, "field", json_string(c->field)) != 0 ||
            put(rec, "op", json_string(qxm_cond_op_name(c->op))) != 0 ||
            (c->value != NULL && put(rec, "value", json_incref(c->value)) != 0) ||
            put(rec, "actual", json_incref(actual)) != 0 ||
            put(rec, "met", json_boolean(met)) != 0) {
            json_decref(rec);
            return -1;
        }
        if (json_array_append_new(records, rec) != 0) /* rec released */
            return -1;
    }
    return all;
}

/* ---- tasks ---- */

/* The outcome of one task: 0 done (*result set), 1 failed (why set), -1 out
 * of memory. */
enum { TASK_DONE = 0, TASK_FAILED = 1, TASK_OOM = -1 };

static const char *nonempty(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* The reason names the address, its first QUOTE_MAX bytes at most, cut
 * between two characters: a reason is JSON text, and jansson refuses a
 * string that is not UTF-8 (the run would fail to be recorded). */
static void invalid_email(char *why, const char *email)
{
    size_t n = strlen(email), keep = qx_utf8_prefix_len(email, n, QUOTE_MAX);
    snprintf(why, WHY_MAX, "invalid email \"%.*s%s\"", (int)keep, email, keep < n ? "..." : "");
}

/* The contact inputs the XM Directory has columns for; any other input is
 * stored as embedded data. "externalId" is accepted for "extRef". */
static bool is_contact_column(const char *name)
{
    static const char *const columns[] = {"email",    "extRef", "externalId", "firstName",
                                          "lastName", "phone",  "language",   NULL};
    for (const char *const *c = columns; *c != NULL; c++)
        if (strcmp(*c, name) == 0)
            return true;
    return false;
}

static int run_contact_task(const json_t *inputs, qxm_directory *d, qx_rng *rng, json_t **result,
                            char *why)
{
    int rc = TASK_OOM;
    const char *email = nonempty(inputs, "email");
    const char *ext_ref = nonempty(inputs, "extRef");
    if (ext_ref == NULL)
        ext_ref = nonempty(inputs, "externalId");
    if (email != NULL && !qx_is_valid_email(email)) {
        invalid_email(why, email);
        return TASK_FAILED;
    }
    if (email == NULL && ext_ref == NULL) {
        snprintf(why, WHY_MAX, "needs a valid email or an extRef, and both inputs are empty");
        return TASK_FAILED;
    }
    json_t *fields = json_object();
    if (put_if(fields, "email", email) != 0 || put_if(fields, "extRef", ext_ref) != 0 ||
        put_if(fields, "firstName", nonempty(inputs, "firstName")) != 0 ||
        put_if(fields, "lastName", nonempty(inputs, "lastName")) != 0 ||
        put_if(fields, "phone", nonempty(inputs, "phone")) != 0 ||
        put_if(fields, "language", nonempty(inputs, "language")) != 0 ||
        put(fields, "embeddedData", json_object()) != 0) {
        json_decref(fields);
        return TASK_OOM;
    }
    json_t *embedded = json_object_get(fields, "embeddedData");
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)inputs, name, value)
    {
        if (!is_contact_column(name) && json_string_length(value) > 0 &&
            json_object_set(embedded, name, value) != 0)
            goto out;
    }
    qx_error err;
    qx_error_clear(&err);
    *result = qxm_directory_upsert_contact(d, fields, rng, &err);
    if (*result != NULL)
        rc = TASK_DONE;
    else if (err.text[0] != '\0') /* why it failed, for the log */
        qx_log(QX_LOG_ERROR, "XM Directory: %s", err.text);
out:
    json_decref(fields);
    return rc;
}

static int run_distribution_task(const qxm_task *t, const json_t *inputs, qxm_directory *d,
                                 qx_rng *rng, json_t **result, char *why)
{
    const char *email = nonempty(inputs, "email");
    if (t->survey_id == NULL) {
        snprintf(why, WHY_MAX, "no surveyId: the task has no survey to send");
        return TASK_FAILED;
    }
    if (email == NULL) {
        snprintf(why, WHY_MAX, "no email to send to: input \"email\" is empty");
        return TASK_FAILED;
    }
    if (!qx_is_valid_email(email)) {
        invalid_email(why, email);
        return TASK_FAILED;
    }
    *result =
        qxm_directory_add_distribution(d, t->survey_id, email, nonempty(inputs, "subject"), rng);
    return *result != NULL ? TASK_DONE : TASK_OOM;
}

/* Expands each input of t. New object; NULL when memory runs out. */
static json_t *expand_inputs(const qxm_task *t, const json_t *event_data)
{
    json_t *out = json_object();
    const char *name;
    json_t *tmpl;
    json_object_foreach(t->inputs, name, tmpl)
    {
        char *text = out != NULL ? qxm_pipe_expand(json_string_value(tmpl), event_data) : NULL;
        if (text == NULL || json_object_set_new(out, name, json_string(text)) != 0) {
            free(text);
            json_decref(out);
            return NULL;
        }
        free(text);
    }
    return out;
}

/* Runs w's tasks into records; sets *run_error (new reference) to the first
 * failure's message. Returns 0, -1 when memory runs out. */
static int run_tasks(const qxm_workflow *w, json_t *event_data, qxm_directory *d, qx_rng *rng,
                     json_t *records, json_t **run_error)
{
    bool stopped = false;
    for (size_t i = 0; i < w->n_tasks; i++) {
        const qxm_task *t = &w->tasks[i];
        const char *type = qxm_task_type_name(t->type);
        char why[WHY_MAX] = "";
        json_t *result = NULL;
        const char *status = "SKIPPED";
        json_t *inputs = expand_inputs(t, event_data);
        if (inputs == NULL)
            return -1;
        if (!stopped) {
            int rc = t->type == QXM_TASK_XM_DIRECTORY_CONTACT
                         ? run_contact_task(inputs, d, rng, &result, why)
                         : run_distribution_task(t, inputs, d, rng, &result, why);
            if (rc == TASK_OOM) {
                json_decref(inputs);
                return -1;
            }
            status = rc == TASK_DONE ? "SUCCESS" : "FAILURE";
            if (rc == TASK_FAILED) {
                if (*run_error == NULL &&
                    (*run_error = json_sprintf("task %zu (%s): %s", i + 1, type, why)) == NULL) {
                    json_decref(inputs);
                    json_decref(result);
                    return -1;
                }
                stopped = w->stop_on_task_failure;
            }
        }
        json_t *rec = json_object();
        bool failed = put(rec, "type", json_string(type)) != 0 ||
                      put(rec, "status", json_string(status)) != 0 ||
                      put(rec, "inputs", json_incref(inputs)) != 0 ||
                      put(rec, "error", string_or_null(why[0] != '\0' ? why : NULL)) != 0 ||
                      put(rec, "result", result != NULL ? json_incref(result) : json_null()) != 0;
        json_decref(inputs);
        json_decref(result);
        if (failed) {
            json_decref(rec);
            return -1;
        }
        if (json_array_append_new(records, rec) != 0) /* rec released */
            return -1;
    }
    return 0;
}

json_t *qxm_workflow_execute(const qxm_workflow *w, json_t *payload, qxm_directory *d, qx_rng *rng)
{
    json_t *outcome = NULL, *run_error = NULL;
    json_t *event_data = extract_event_data(w, payload != NULL ? payload : json_null());
    json_t *conditions = json_array();
    json_t *tasks = json_array();
    if (event_data == NULL || conditions == NULL || tasks == NULL)
        goto out;
    int met = evaluate_conditions(w, event_data, conditions);
    if (met < 0 || (met == 1 && run_tasks(w, event_data, d, rng, tasks, &run_error) < 0))
        goto out;
    outcome = json_object();
    if (put(outcome, "status", json_string(run_error != NULL ? "FAILURE" : "SUCCESS")) != 0 ||
        put(outcome, "eventData", json_incref(event_data)) != 0 ||
        put(outcome, "conditionsMet", json_boolean(met == 1)) != 0 ||
        put(outcome, "conditions", json_incref(conditions)) != 0 ||
        put(outcome, "tasks", json_incref(tasks)) != 0 ||
        put(outcome, "error", run_error != NULL ? json_incref(run_error) : json_null()) != 0) {
        json_decref(outcome);
        outcome = NULL;
    }
out:
    json_decref(event_data);
    json_decref(conditions);
    json_decref(tasks);
    json_decref(run_error);
    return outcome;
}
