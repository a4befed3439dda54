/*
 * config.c — strict loading of the emulator's JSON config.
 *
 * The document is walked once, top down, and every object is checked against
 * the list of keys it may hold before any of its values is read: a typo such
 * as "enabeld" is reported as an unknown key rather than silently ignored and
 * taking the default. Each check names where it is ("workflows[0].tasks[1]
 * .surveyId") so a user can find the line; qxm_config_load_file puts the file
 * path in front.
 *
 * Cross-references are checked here too, not at run time: a condition's field
 * and every ~{aedj://field} in a task input must name one of the workflow's
 * eventData fields (a typo there would otherwise pipe an empty string into
 * every run), and workflow ids, urlTokenIds, usernames and API tokens must be
 * unique (a token selects one workflow, a credential one user). Messages never
 * quote an API token.
 */
#include "qxm_config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_json_file.h"

/* Enough for "workflows[123].tasks[45].inputs.<a long input name>". */
#define LOC_MAX 256
/* A retention beyond a century is a typo (and would overflow in ms). */
#define QXM_MAX_RETENTION_DAYS 36500
/* A run delay longer than an hour is a typo, not a test. */
#define QXM_MAX_DELAY_MS 3600000
/* Far above anything Qualtrics grants; 0 means unlimited. */
#define QXM_MAX_RATE_LIMIT_PER_MINUTE 1000000000
/* Qualtrics piped text for JSON-event fields: ~{aedj://fieldName}. */
#define PIPE_OPEN "~{aedj://"

static const char *const TOP_KEYS[] = {"users",
                                       "workflows",
                                       "rateLimitPerMinute",
                                       "rateLimitBurst",
                                       "faults",
                                       "duplicateWindowMs",
                                       "historyRetentionDays",
                                       "journalMax",
                                       "journalMaxBytes",
                                       "refusedJournalPerMinute",
                                       NULL};
static const char *const USER_KEYS[] = {"username", "apiToken", NULL};
static const char *const WORKFLOW_KEYS[] = {
    "id",    "name",          "enabled",      "urlTokenId", "eventData", "conditions",
    "tasks", "onTaskFailure", "authRequired", "delayMs",    "faults",    NULL};
static const char *const CONDITION_KEYS[] = {"field", "op", "value", NULL};
static const char *const TASK_KEYS[] = {"type", "inputs", "surveyId", NULL};

static const char *const OP_NAMES[] = {
    [QXM_OP_EXISTS] = "exists",     [QXM_OP_NOT_EXISTS] = "not_exists",
    [QXM_OP_EQUALS] = "equals",     [QXM_OP_NOT_EQUALS] = "not_equals",
    [QXM_OP_CONTAINS] = "contains",
};
#define N_OPS (sizeof OP_NAMES / sizeof OP_NAMES[0])

static const char *const TASK_NAMES[] = {
    [QXM_TASK_XM_DIRECTORY_CONTACT] = "xm_directory_contact",
    [QXM_TASK_EMAIL_DISTRIBUTION] = "email_distribution",
};
#define N_TASK_TYPES (sizeof TASK_NAMES / sizeof TASK_NAMES[0])

const char *qxm_cond_op_name(qxm_cond_op op)
{
    return (size_t)op < N_OPS ? OP_NAMES[op] : "?";
}

const char *qxm_task_type_name(qxm_task_type t)
{
    return (size_t)t < N_TASK_TYPES ? TASK_NAMES[t] : "?";
}

/* Sets err to "loc: message" (just the message at the top level). Returns -1
 * so callers can `return fail(...)`. */
static int fail(qx_error *err, const char *loc, const char *fmt, ...) QX_PRINTF(3, 4);
static int fail(qx_error *err, const char *loc, const char *fmt, ...)
{
    char msg[QX_ERROR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (loc[0] != '\0')
        qx_error_set(err, "%s: %s", loc, msg);
    else
        qx_error_set(err, "%s", msg);
    return -1;
}

/* Writes "<parent>.<key>" (or "<key>" at the top level) into out. */
static const char *loc_key(char *out, const char *parent, const char *key)
{
    /* A location past LOC_MAX is cut short; its start still names it. */
    if (snprintf(out, LOC_MAX, "%s%s%s", parent, parent[0] != '\0' ? "." : "", key) < 0)
        out[0] = '\0';
    return out;
}

/* Writes "<parent>[i]" into out. */
static const char *loc_index(char *out, const char *parent, size_t i)
{
    if (snprintf(out, LOC_MAX, "%s[%zu]", parent, i) < 0)
        out[0] = '\0';
    return out;
}

static int check_object(const json_t *v, const char *loc, qx_error *err)
{
    if (!json_is_object(v))
        return fail(err, loc, "expected a JSON object");
    return 0;
}

/* Refuses any key of obj not in allowed (NULL-terminated). */
static int check_keys(json_t *obj, const char *const *allowed, const char *loc, qx_error *err)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        const char *const *a = allowed;
        while (*a != NULL && strcmp(*a, key) != 0)
            a++;
        if (*a != NULL)
            continue;
        /* Listing the known keys makes the typo easy to see. */
        char known[QX_ERROR_TEXT_MAX] = "";
        size_t len = 0;
        for (a = allowed; *a != NULL && len < sizeof known; a++)
            len += (size_t)snprintf(known + len, sizeof known - len, "%s%s",
                                    a == allowed ? "" : ", ", *a);
        return fail(err, loc, "unknown key \"%s\" (known keys: %s)", key, known);
    }
    return 0;
}

static int dup_string(const char *s, char **out, qx_error *err)
{
    *out = strdup(s);
    if (*out == NULL) {
        qx_error_set(err, "out of memory");
        return -1;
    }
    return 0;
}

/* Reads obj[key] as a non-empty string into *out (owned). A missing key is an
 * error when required, else leaves *out NULL. */
static int get_string(json_t *obj, const char *key, bool required, const char *loc, char **out,
                      qx_error *err)
{
    char where[LOC_MAX];
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL) {
        if (required)
            return fail(err, loc, "missing required key \"%s\"", key);
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0)
        return fail(err, loc_key(where, loc, key), "expected a non-empty string");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return fail(err, loc_key(where, loc, key), "must not contain NUL characters");
    return dup_string(json_string_value(v), out, err);
}

/* Reads obj[key] as a boolean, keeping *out (the default) when absent. */
static int get_bool(json_t *obj, const char *key, const char *loc, bool *out, qx_error *err)
{
    char where[LOC_MAX];
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return fail(err, loc_key(where, loc, key), "expected true or false");
    *out = json_is_true(v);
    return 0;
}

/* Reads obj[key] as an array, NULL when absent (and not required). */
static int get_array(json_t *obj, const char *key, bool required, const char *loc, json_t **out,
                     qx_error *err)
{
    char where[LOC_MAX];
    *out = json_object_get(obj, key);
    if (*out == NULL)
        return required ? fail(err, loc, "missing required key \"%s\"", key) : 0;
    if (!json_is_array(*out))
        return fail(err, loc_key(where, loc, key), "expected an array");
    return 0;
}

/* A urlTokenId travels unescaped in a query string: only RFC 3986
 * unreserved characters are allowed. */
static bool is_url_safe(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || c == '~';
        if (!ok)
            return false;
    }
    return true;
}

/* ---- users ---- */

static int parse_users(json_t *root, qxm_config *c, qx_error *err)
{
    json_t *arr;
    char loc[LOC_MAX];
    if (get_array(root, "users", true, "", &arr, err) < 0)
        return -1;
    size_t n = json_array_size(arr);
    if (n > 0) {
        c->users = calloc(n, sizeof *c->users);
        if (c->users == NULL)
            return fail(err, "", "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *u = json_array_get(arr, i);
        qxm_user *user = &c->users[i];
        loc_index(loc, "users", i);
        c->n_users = i + 1; /* so qxm_config_free sees what is filled */
        if (check_object(u, loc, err) < 0 || check_keys(u, USER_KEYS, loc, err) < 0 ||
            get_string(u, "username", true, loc, &user->username, err) < 0 ||
            get_string(u, "apiToken", true, loc, &user->api_token, err) < 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->users[j].username, user->username) == 0)
                return fail(err, loc, "username \"%s\" duplicates users[%zu]", user->username, j);
            /* Never quote the token itself. */
            if (strcmp(c->users[j].api_token, user->api_token) == 0)
                return fail(err, loc, "apiToken is the same as users[%zu]'s", j);
        }
    }
    return 0;
}

/* ---- event data ---- */

static int parse_event_data(json_t *wo, const char *wloc, qxm_workflow *w, qx_error *err)
{
    char loc[LOC_MAX], floc[LOC_MAX];
    json_t *obj = json_object_get(wo, "eventData");
    if (obj == NULL)
        return 0;
    loc_key(loc, wloc, "eventData");
    if (check_object(obj, loc, err) < 0)
        return -1;
    size_t n = json_object_size(obj);
    if (n == 0)
        return 0;
    w->event_data = calloc(n, sizeof *w->event_data);
    if (w->event_data == NULL)
        return fail(err, "", "out of memory");
    const char *name;
    json_t *value;
    json_object_foreach(obj, name, value)
    {
        qxm_event_field *f = &w->event_data[w->n_event_data];
        loc_key(floc, loc, name);
        if (name[0] == '\0')
            return fail(err, loc, "a field name must not be empty");
        /* The name is piped as ~{aedj://name}, which ends at the first '}'. */
        if (strchr(name, '}') != NULL)
            return fail(err, loc, "field name \"%s\" must not contain '}'", name);
        if (!json_is_string(value))
            return fail(err, floc, "expected a JSONPath string such as \"$.person.email\"");
        if (dup_string(name, &f->name, err) < 0)
            return -1;
        w->n_event_data++;
        qx_error perr;
        qx_error_clear(&perr);
        f->path = qx_jsonpath_compile(json_string_value(value), &perr);
        if (f->path == NULL)
            return fail(err, floc, "%s", perr.text);
    }
    return 0;
}

static bool has_event_field(const qxm_workflow *w, const char *name, size_t len)
{
    for (size_t i = 0; i < w->n_event_data; i++)
        if (strlen(w->event_data[i].name) == len && memcmp(w->event_data[i].name, name, len) == 0)
            return true;
    return false;
}

/* ---- conditions ---- */

static int parse_op(json_t *v, const char *loc, qxm_cond_op *op, qx_error *err)
{
    char where[LOC_MAX];
    loc_key(where, loc, "op");
    if (!json_is_string(v))
        return fail(err, where, "expected a string");
    for (size_t i = 0; i < N_OPS; i++) {
        if (strcmp(json_string_value(v), OP_NAMES[i]) == 0) {
            *op = (qxm_cond_op)i;
            return 0;
        }
    }
    return fail(err, where, "\"%s\" is not one of exists, not_exists, equals, not_equals, contains",
                json_string_value(v));
}

static int parse_conditions(json_t *wo, const char *wloc, qxm_workflow *w, qx_error *err)
{
    json_t *arr;
    char aloc[LOC_MAX], loc[LOC_MAX], where[LOC_MAX];
    loc_key(aloc, wloc, "conditions");
    if (get_array(wo, "conditions", false, wloc, &arr, err) < 0)
        return -1;
    size_t n = json_array_size(arr);
    if (n == 0)
        return 0;
    w->conditions = calloc(n, sizeof *w->conditions);
    if (w->conditions == NULL)
        return fail(err, "", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *co = json_array_get(arr, i);
        qxm_condition *cond = &w->conditions[i];
        loc_index(loc, aloc, i);
        w->n_conditions = i + 1;
        if (check_object(co, loc, err) < 0 || check_keys(co, CONDITION_KEYS, loc, err) < 0 ||
            get_string(co, "field", true, loc, &cond->field, err) < 0)
            return -1;
        json_t *op = json_object_get(co, "op");
        if (op == NULL)
            return fail(err, loc, "missing required key \"op\"");
        if (parse_op(op, loc, &cond->op, err) < 0)
            return -1;
        if (!has_event_field(w, cond->field, strlen(cond->field)))
            return fail(err, loc_key(where, loc, "field"), "\"%s\" is not an eventData field",
                        cond->field);
        json_t *value = json_object_get(co, "value");
        bool takes_value = cond->op != QXM_OP_EXISTS && cond->op != QXM_OP_NOT_EXISTS;
        if (takes_value && value == NULL)
            return fail(err, loc, "op \"%s\" needs a \"value\"", OP_NAMES[cond->op]);
        if (!takes_value && value != NULL)
            return fail(err, loc_key(where, loc, "value"), "op \"%s\" takes no value",
                        OP_NAMES[cond->op]);
        /* A copy: the config outlives the parsed document. */
        if (value != NULL && (cond->value = json_deep_copy(value)) == NULL)
            return fail(err, "", "out of memory");
    }
    return 0;
}

/* ---- tasks ---- */

/* Every ~{aedj://name} in text must name an eventData field. */
static int check_piped_fields(const qxm_workflow *w, const char *text, const char *loc,
                              qx_error *err)
{
    const char *p = text;
    while ((p = strstr(p, PIPE_OPEN)) != NULL) {
        const char *name = p + strlen(PIPE_OPEN);
        const char *end = strchr(name, '}');
        if (end == NULL)
            return fail(err, loc, "piped text " PIPE_OPEN "... has no closing '}'");
        if (!has_event_field(w, name, (size_t)(end - name)))
            return fail(err, loc, PIPE_OPEN "%.*s} is not an eventData field", (int)(end - name),
                        name);
        p = end + 1;
    }
    return 0;
}

static int parse_task_type(json_t *v, const char *loc, qxm_task_type *type, qx_error *err)
{
    char where[LOC_MAX];
    loc_key(where, loc, "type");
    if (v == NULL)
        return fail(err, loc, "missing required key \"type\"");
    if (!json_is_string(v))
        return fail(err, where, "expected a string");
    for (size_t i = 0; i < N_TASK_TYPES; i++) {
        if (strcmp(json_string_value(v), TASK_NAMES[i]) == 0) {
            *type = (qxm_task_type)i;
            return 0;
        }
    }
    return fail(err, where, "\"%s\" is not one of xm_directory_contact, email_distribution",
                json_string_value(v));
}

static int parse_task(json_t *to, const char *loc, const qxm_workflow *w, qxm_task *t,
                      qx_error *err)
{
    char iloc[LOC_MAX], where[LOC_MAX];
    if (check_object(to, loc, err) < 0 || check_keys(to, TASK_KEYS, loc, err) < 0 ||
        parse_task_type(json_object_get(to, "type"), loc, &t->type, err) < 0)
        return -1;
    json_t *inputs = json_object_get(to, "inputs");
    loc_key(iloc, loc, "inputs");
    if (inputs != NULL && check_object(inputs, iloc, err) < 0)
        return -1;
    const char *name;
    json_t *value;
    json_object_foreach(inputs, name, value)
    {
        loc_key(where, iloc, name);
        if (!json_is_string(value))
            return fail(err, where, "expected a string (piped text such as \"~{aedj://email}\")");
        if (check_piped_fields(w, json_string_value(value), where, err) < 0)
            return -1;
    }
    t->inputs = inputs != NULL ? json_deep_copy(inputs) : json_object();
    if (t->inputs == NULL)
        return fail(err, "", "out of memory");
    if (get_string(to, "surveyId", false, loc, &t->survey_id, err) < 0)
        return -1;
    if (t->survey_id != NULL && t->type != QXM_TASK_EMAIL_DISTRIBUTION)
        return fail(err, loc_key(where, loc, "surveyId"), "only an email_distribution takes one");
    /* Qualtrics survey ids are "SV_" followed by letters and digits. */
    if (t->survey_id != NULL && strncmp(t->survey_id, "SV_", 3) != 0)
        return fail(err, loc_key(where, loc, "surveyId"),
                    "\"%s\" is not a Qualtrics survey id (\"SV_...\")", t->survey_id);
    return 0;
}

static int parse_tasks(json_t *wo, const char *wloc, qxm_workflow *w, qx_error *err)
{
    json_t *arr;
    char aloc[LOC_MAX], loc[LOC_MAX];
    loc_key(aloc, wloc, "tasks");
    if (get_array(wo, "tasks", false, wloc, &arr, err) < 0)
        return -1;
    size_t n = json_array_size(arr);
    if (n == 0)
        return 0;
    w->tasks = calloc(n, sizeof *w->tasks);
    if (w->tasks == NULL)
        return fail(err, "", "out of memory");
    for (size_t i = 0; i < n; i++) {
        w->n_tasks = i + 1;
        if (parse_task(json_array_get(arr, i), loc_index(loc, aloc, i), w, &w->tasks[i], err) < 0)
            return -1;
    }
    return 0;
}

/* ---- workflows ---- */

static int parse_delay(json_t *wo, const char *wloc, qxm_workflow *w, qx_error *err)
{
    char loc[LOC_MAX];
    json_t *v = json_object_get(wo, "delayMs");
    if (v == NULL)
        return 0;
    loc_key(loc, wloc, "delayMs");
    json_t *lo = json_array_get(v, 0), *hi = json_array_get(v, 1);
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(lo) ||
        !json_is_integer(hi) || json_integer_value(lo) < 0 ||
        json_integer_value(lo) > json_integer_value(hi) ||
        json_integer_value(hi) > QXM_MAX_DELAY_MS)
        return fail(err, loc, "expected [min, max] with 0 <= min <= max <= %d (milliseconds)",
                    QXM_MAX_DELAY_MS);
    w->delay_min_ms = (unsigned)json_integer_value(lo);
    w->delay_max_ms = (unsigned)json_integer_value(hi);
    return 0;
}

static int parse_on_task_failure(json_t *wo, const char *wloc, qxm_workflow *w, qx_error *err)
{
    char loc[LOC_MAX];
    json_t *v = json_object_get(wo, "onTaskFailure");
    if (v == NULL)
        return 0;
    const char *s = json_string_value(v);
    if (s != NULL && strcmp(s, "continue") == 0)
        w->stop_on_task_failure = false;
    else if (s != NULL && strcmp(s, "stop") == 0)
        w->stop_on_task_failure = true;
    else
        return fail(err, loc_key(loc, wloc, "onTaskFailure"), "expected \"continue\" or \"stop\"");
    return 0;
}

static int parse_workflow(json_t *wo, const char *loc, qxm_workflow *w, qx_error *err)
{
    char where[LOC_MAX];
    w->enabled = true;
    w->auth_required = true;
    if (check_object(wo, loc, err) < 0 || check_keys(wo, WORKFLOW_KEYS, loc, err) < 0 ||
        get_string(wo, "id", true, loc, &w->id, err) < 0 ||
        get_string(wo, "urlTokenId", true, loc, &w->url_token_id, err) < 0)
        return -1;
    if (!is_url_safe(w->url_token_id))
        return fail(err, loc_key(where, loc, "urlTokenId"),
                    "\"%s\" may hold only letters, digits, '-', '_', '.' and '~'", w->url_token_id);
    json_t *name = json_object_get(wo, "name");
    if (name != NULL && !json_is_string(name))
        return fail(err, loc_key(where, loc, "name"), "expected a string");
    if (dup_string(name != NULL ? json_string_value(name) : w->id, &w->name, err) < 0 ||
        get_bool(wo, "enabled", loc, &w->enabled, err) < 0 ||
        get_bool(wo, "authRequired", loc, &w->auth_required, err) < 0 ||
        parse_on_task_failure(wo, loc, w, err) < 0 || parse_delay(wo, loc, w, err) < 0 ||
        parse_event_data(wo, loc, w, err) < 0 || parse_conditions(wo, loc, w, err) < 0 ||
        parse_tasks(wo, loc, w, err) < 0)
        return -1;
    json_t *faults = json_object_get(wo, "faults");
    if (faults != NULL &&
        qxm_faults_from_json(faults, loc_key(where, loc, "faults"), false, &w->faults, err) < 0)
        return -1;
    return 0;
}

static int parse_workflows(json_t *root, qxm_config *c, qx_error *err)
{
    json_t *arr;
    char loc[LOC_MAX], where[LOC_MAX];
    if (get_array(root, "workflows", true, "", &arr, err) < 0)
        return -1;
    size_t n = json_array_size(arr);
    if (n > 0) {
        c->workflows = calloc(n, sizeof *c->workflows);
        if (c->workflows == NULL)
            return fail(err, "", "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        qxm_workflow *w = &c->workflows[i];
        loc_index(loc, "workflows", i);
        c->n_workflows = i + 1;
        if (parse_workflow(json_array_get(arr, i), loc, w, err) < 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->workflows[j].id, w->id) == 0)
                return fail(err, loc_key(where, loc, "id"), "\"%s\" duplicates workflows[%zu]",
                            w->id, j);
            if (strcmp(c->workflows[j].url_token_id, w->url_token_id) == 0)
                return fail(err, loc_key(where, loc, "urlTokenId"),
                            "\"%s\" duplicates workflows[%zu] (a token selects one workflow)",
                            w->url_token_id, j);
        }
    }
    return 0;
}

static int parse_rate_limit(json_t *root, qxm_config *c, qx_error *err)
{
    json_t *v = json_object_get(root, "rateLimitPerMinute");
    c->rate_limit_per_minute = QXM_DEFAULT_RATE_LIMIT_PER_MINUTE;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > QXM_MAX_RATE_LIMIT_PER_MINUTE)
        return fail(err, "rateLimitPerMinute", "expected an integer from 0 (no limit) to %d",
                    QXM_MAX_RATE_LIMIT_PER_MINUTE);
    c->rate_limit_per_minute = (unsigned)json_integer_value(v);
    v = json_object_get(root, "rateLimitBurst");
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > (json_int_t)c->rate_limit_per_minute)
        return fail(err, "rateLimitBurst",
                    "expected an integer from 1 to rateLimitPerMinute (%u): the calls a "
                    "full bucket admits at once",
                    c->rate_limit_per_minute);
    c->rate_limit_burst = (unsigned)json_integer_value(v);
    return 0;
}

static int parse_faults_and_window(json_t *root, qxm_config *c, qx_error *err)
{
    json_t *faults = json_object_get(root, "faults");
    if (faults != NULL && qxm_faults_from_json(faults, "faults", false, &c->faults, err) < 0)
        return -1;
    c->duplicate_window_ms = QXM_DEFAULT_DUPLICATE_WINDOW_MS;
    json_t *w = json_object_get(root, "duplicateWindowMs");
    if (w != NULL) {
        if (!json_is_integer(w) || json_integer_value(w) < 0)
            return fail(err, "duplicateWindowMs", "expected whole milliseconds (0: off)");
        c->duplicate_window_ms = json_integer_value(w);
    }
    return 0;
}

/* historyRetentionDays: a number of days, fractions allowed (tests use
 * seconds' worth), 0 keeps the history forever. */
static int parse_retention(json_t *root, qxm_config *c, qx_error *err)
{
    json_t *v = json_object_get(root, "historyRetentionDays");
    c->history_retention_ms = (int64_t)QXM_DEFAULT_RETENTION_DAYS * QXM_MS_PER_DAY;
    if (v == NULL)
        return 0;
    double days = json_number_value(v);
    if (!json_is_number(v) || !(days >= 0) || days > QXM_MAX_RETENTION_DAYS)
        return fail(err, "historyRetentionDays",
                    "expected a number of days from 0 (keep forever) to %d",
                    QXM_MAX_RETENTION_DAYS);
    /* To the nearest millisecond (0.00002 days is 1728 ms, not 1728.0000000000002),
     * but at least one: a positive retention never means "forever". */
    c->history_retention_ms = (int64_t)(days * (double)QXM_MS_PER_DAY + 0.5);
    if (days > 0 && c->history_retention_ms == 0)
        c->history_retention_ms = 1;
    return 0;
}

/* An integer key from min to max, or def when absent. */
static int parse_int_key(json_t *root, const char *key, int64_t min, int64_t max, int64_t def,
                         int64_t *out, qx_error *err)
{
    json_t *v = json_object_get(root, key);
    *out = def;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return fail(err, key, "expected an integer from %" PRId64 " to %" PRId64, min, max);
    *out = json_integer_value(v);
    return 0;
}

/* The request journal's bounds (README: journalMax, journalMaxBytes,
 * refusedJournalPerMinute). */
static int parse_journal(json_t *root, qxm_config *c, qx_error *err)
{
    return parse_int_key(root, "journalMax", 1, QXM_MAX_JOURNAL, QXM_JOURNAL_DEFAULT_MAX,
                         &c->journal_max, err) < 0 ||
                   parse_int_key(root, "journalMaxBytes", QXM_MIN_JOURNAL_BYTES,
                                 QXM_MAX_JOURNAL_BYTES, QXM_JOURNAL_DEFAULT_MAX_BYTES,
                                 &c->journal_max_bytes, err) < 0 ||
                   parse_int_key(root, "refusedJournalPerMinute", 0, QXM_MAX_JOURNAL,
                                 QXM_JOURNAL_DEFAULT_REFUSED_PER_MINUTE,
                                 &c->refused_journal_per_minute, err) < 0
               ? -1
               : 0;
}

qxm_config *qxm_config_from_json(json_t *root, qx_error *err)
{
    qxm_config *c = NULL;
    if (check_object(root, "", err) < 0)
        return NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        qx_error_set(err, "out of memory");
        return NULL;
    }
    if (check_keys(root, TOP_KEYS, "", err) < 0 || parse_rate_limit(root, c, err) < 0 ||
        parse_faults_and_window(root, c, err) < 0 || parse_retention(root, c, err) < 0 ||
        parse_journal(root, c, err) < 0 || parse_users(root, c, err) < 0 ||
        parse_workflows(root, c, err) < 0) {
        qxm_config_free(c);
        return NULL;
    }
    return c;
}

qxm_config *qxm_config_load_file(const char *path, qx_error *err)
{
    /* Duplicate keys are refused: the second "enabled" would silently win. */
    json_t *root = qx_json_load_file(path, JSON_REJECT_DUPLICATES, err);
    if (root == NULL)
        return NULL;
    qxm_config *c = qxm_config_from_json(root, err);
    json_decref(root);
    if (c == NULL)
        qx_error_prefix(err, "%s", path);
    return c;
}

static void workflow_free_fields(qxm_workflow *w)
{
    free(w->id);
    free(w->name);
    free(w->url_token_id);
    for (size_t i = 0; i < w->n_event_data; i++) {
        free(w->event_data[i].name);
        qx_jsonpath_free(w->event_data[i].path);
    }
    free(w->event_data);
    for (size_t i = 0; i < w->n_conditions; i++) {
        free(w->conditions[i].field);
        json_decref(w->conditions[i].value);
    }
    free(w->conditions);
    for (size_t i = 0; i < w->n_tasks; i++) {
        json_decref(w->tasks[i].inputs);
        free(w->tasks[i].survey_id);
    }
    free(w->tasks);
}

void qxm_config_free(qxm_config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_users; i++) {
        free(c->users[i].username);
        free(c->users[i].api_token);
    }
    free(c->users);
    for (size_t i = 0; i < c->n_workflows; i++)
        workflow_free_fields(&c->workflows[i]);
    free(c->workflows);
    free(c);
}

const qxm_workflow *qxm_config_find_by_token(const qxm_config *c, const char *token)
{
    if (c == NULL || token == NULL)
        return NULL;
    for (size_t i = 0; i < c->n_workflows; i++)
        if (strcmp(c->workflows[i].url_token_id, token) == 0)
            return &c->workflows[i];
    return NULL;
}

const qxm_workflow *qxm_config_find_by_id(const qxm_config *c, const char *id)
{
    if (c == NULL || id == NULL)
        return NULL;
    for (size_t i = 0; i < c->n_workflows; i++)
        if (strcmp(c->workflows[i].id, id) == 0)
            return &c->workflows[i];
    return NULL;
}

/* ---- the admin API's view ---- */

static json_t *event_data_to_json(const qxm_workflow *w)
{
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && i < w->n_event_data; i++) {
        if (json_object_set_new(o, w->event_data[i].name,
                                json_string(qx_jsonpath_text(w->event_data[i].path))) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *conditions_to_json(const qxm_workflow *w)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < w->n_conditions; i++) {
        const qxm_condition *c = &w->conditions[i];
        if (json_array_append_new(a, json_pack("{s:s, s:s, s:O*}", "field", c->field, "op",
                                               qxm_cond_op_name(c->op), "value", c->value)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *tasks_to_json(const qxm_workflow *w)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < w->n_tasks; i++) {
        const qxm_task *t = &w->tasks[i];
        if (json_array_append_new(a,
                                  json_pack("{s:s, s:O, s:s*}", "type", qxm_task_type_name(t->type),
                                            "inputs", t->inputs, "surveyId", t->survey_id)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* Users (and their tokens) belong to the config, not to a workflow: nothing
 * here can reveal a credential. */
json_t *qxm_workflow_to_json(const qxm_workflow *w)
{
    if (w == NULL)
        return NULL;
    /* json_pack releases the "o" arguments it was given if it fails. */
    return json_pack(
        "{s:s, s:s, s:b, s:s, s:b, s:s, s:[I,I], s:o, s:o, s:o}", "id", w->id, "name", w->name,
        "enabled", w->enabled, "urlTokenId", w->url_token_id, "authRequired", w->auth_required,
        "onTaskFailure", w->stop_on_task_failure ? "stop" : "continue", "delayMs",
        (json_int_t)w->delay_min_ms, (json_int_t)w->delay_max_ms, "eventData",
        event_data_to_json(w), "conditions", conditions_to_json(w), "tasks", tasks_to_json(w));
}
