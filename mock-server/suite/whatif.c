/*
 * whatif.c — replaying a recorded history through an emulator built from a
 * new config, in process, and comparing run by run (qxm_whatif.h).
 *
 * The engine is never started: qxm_engine_event stores each run at once,
 * on this thread, so the history replays at the speed of the workflow
 * engine and SQLite, with no socket and no committer in between.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "qx_clock.h"
#include "qx_ndjson.h"
#include "qxm_engine.h"
#include "whatif_internal.h"

#define EVENT_PATH "/inbound-event/v1/events/json/triggers"

typedef struct replay {
    const qxm_whatif_options *o;
    qxm_engine *e;
    const qxm_config *cfg; /* the engine's */
    json_t *entries;
    qxm_whatif_counts *c;
    size_t line;
} replay;

/* The request sent for one entry of the history. */
typedef struct sent {
    qxm_event ev;
    char *body; /* owned */
    char token[256];
} sent;

static int line_error(const replay *r, qx_error *err, const char *fmt, ...) QX_PRINTF(3, 4);
static int line_error(const replay *r, qx_error *err, const char *fmt, ...)
{
    char why[QX_ERROR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    qx_error_set(err, "%s: line %zu: %s", r->o->history_path, r->line, why);
    return -1;
}

/* A string member of doc, or NULL (with err naming it) when it is not one. */
static const char *need_string(const replay *r, const json_t *doc, const char *what,
                               const char *key, qx_error *err)
{
    const char *s = json_string_value(json_object_get(doc, key));
    if (s == NULL)
        line_error(r, err, "%s needs a string \"%s\"", what, key);
    return s;
}

static int received_at(const replay *r, const json_t *doc, const char *what, int64_t *ms,
                       qx_error *err)
{
    const char *t = need_string(r, doc, what, "receivedAt", err);
    if (t == NULL)
        return -1;
    if (qx_parse_time(t, ms) != 0)
        return line_error(r, err, "\"receivedAt\" is not an RFC 3339 time: %.64s", t);
    return 0;
}

/* Files a finished entry: counts it, prints its line when it differs. */
static int file_entry(replay *r, json_t *entry, const char *verdict, json_t *diffs,
                      const bool *kinds)
{
    if (strcmp(verdict, "unchanged") == 0) {
        r->c->unchanged++;
    } else if (strcmp(verdict, "changed") == 0) {
        r->c->changed++;
        for (int k = 0; k < QXM_WHATIF_N_KINDS; k++)
            r->c->by_kind[k] += kinds[k] ? 1 : 0;
    } else if (strcmp(verdict, "new") == 0) {
        r->c->added++;
    } else if (strcmp(verdict, "gone") == 0) {
        r->c->gone++;
    } else {
        r->c->skipped++;
    }
    r->c->recorded++;
    json_object_set_new(entry, "verdict", json_string(verdict));
    if (diffs != NULL && strcmp(verdict, "unchanged") != 0)
        json_object_set(entry, "differences", diffs);
    if (strcmp(verdict, "changed") == 0) {
        char *text = whatif_diff_text(diffs);
        if (text == NULL)
            return -1;
        json_object_set_new(entry, "text", json_string(text));
        free(text);
    }
    if (r->o->lines != NULL && strcmp(verdict, "unchanged") != 0 && strcmp(verdict, "skipped") != 0)
        qxm_whatif_print_line(r->o->lines, entry);
    if (strcmp(verdict, "unchanged") == 0) {
        json_object_del(entry, "recorded");
        json_object_del(entry, "replayed");
    }
    return json_array_append(r->entries, entry);
}

/* Sends s through the engine. Returns the new run's outcome (new
 * reference) when one started, else NULL with *answer {httpStatus, reason}
 * (new), or NULL with err set. */
static json_t *send_event(replay *r, sent *s, json_t **answer, qx_error *err)
{
    qxm_event_outcome out;
    *answer = NULL;
    qxm_engine_event(r->e, &s->ev, &out);
    qxm_commit_free(out.commit); /* never set: the engine is not started */
    if (!out.run_started) {
        /* The two answers without a message: journalled with these words. */
        const char *reason = out.message[0] != '\0' ? out.message
                             : out.status == 0
                                 ? "injected fault: connection dropped before the run was recorded"
                                 : "workflow is disabled: request accepted, no run started";
        *answer = json_pack("{s:i, s:s}", "httpStatus", out.status, "reason", reason);
        if (*answer == NULL)
            qx_error_set(err, "out of memory");
        return NULL;
    }
    qxm_store *st = qxm_engine_store(r->e);
    json_t *run = qxm_store_get_run(st, out.run_id, err);
    const char *status = json_string_value(json_object_get(run, "status"));
    if (status != NULL && strcmp(status, "RUNNING") == 0) {
        /* Delayed: finish it now to read its final status. */
        json_decref(run);
        run = qxm_store_finish_due(st, INT64_MAX, err) < 0 ? NULL
                                                           : qxm_store_get_run(st, out.run_id, err);
    }
    if (run == NULL) {
        line_error(r, err, "the replayed run %s cannot be read", out.run_id);
        return NULL;
    }
    json_t *outcome = whatif_run_outcome(run);
    json_decref(run);
    if (outcome == NULL)
        qx_error_set(err, "out of memory");
    return outcome;
}

/* The recorded user's credentials, from the new config: a user it no
 * longer has is sent with an empty token. */
static void set_user(sent *s, const qxm_config *cfg, const char *user)
{
    if (user == NULL)
        return;
    s->ev.has_authorization = true;
    s->ev.basic_user = user;
    s->ev.basic_user_len = strlen(user);
    s->ev.basic_password = "";
    for (size_t i = 0; i < cfg->n_users; i++) {
        if (strcmp(cfg->users[i].username, user) == 0)
            s->ev.basic_password = cfg->users[i].api_token;
    }
    s->ev.basic_password_len = strlen(s->ev.basic_password);
}

static void set_body(sent *s, const char *body, size_t len)
{
    s->ev.body = body;
    s->ev.body_len = len;
    s->ev.body_too_large = len > QXM_MAX_BODY_BYTES;
}

/* Compares a recorded run's replay (outcome, or NULL with answer) and
 * files the entry. */
static int judge_run(replay *r, json_t *entry, json_t *recorded, json_t *outcome, json_t *answer)
{
    bool kinds[QXM_WHATIF_N_KINDS] = {false};
    json_t *diffs = json_array();
    int rc = -1;
    json_object_set(entry, "recorded", recorded);
    json_object_set(entry, "replayed", outcome != NULL ? outcome : answer);
    if (outcome == NULL) {
        json_object_set_new(
            entry, "text",
            json_sprintf("no run now: HTTP %d: %s",
                         (int)json_integer_value(json_object_get(answer, "httpStatus")),
                         json_string_value(json_object_get(answer, "reason"))));
        rc = file_entry(r, entry, "gone", diffs, kinds);
    } else if (whatif_compare(recorded, outcome, diffs, kinds) == 0) {
        rc = file_entry(r, entry, json_array_size(diffs) == 0 ? "unchanged" : "changed", diffs,
                        kinds);
    }
    json_decref(diffs);
    return rc;
}

static int replay_run(replay *r, json_t *doc, json_t *entry, qx_error *err)
{
    const char *wf_id = json_string_value(json_object_get(entry, "workflowId"));
    json_t *payload = json_object_get(doc, "payload");
    json_t *user = json_object_get(doc, "user");
    sent s = {.ev = {.method = "POST",
                     .path = EVENT_PATH,
                     .content_type = "application/json",
                     .client_address = "whatif"}};
    if (payload == NULL)
        return line_error(r, err, "a run needs its \"payload\"");
    if (user != NULL && !json_is_null(user) && !json_is_string(user))
        return line_error(r, err, "\"user\" is not a string");
    if (received_at(r, doc, "a run", &s.ev.received_ms, err) != 0)
        return -1;
    json_t *recorded = whatif_run_outcome(doc), *outcome = NULL, *answer = NULL;
    const qxm_workflow *wf = qxm_config_find_by_id(r->cfg, wf_id);
    if (recorded == NULL) {
        qx_error_set(err, "out of memory");
        return -1;
    }
    if (wf == NULL) {
        answer = json_pack("{s:i, s:s}", "httpStatus", 404, "reason",
                           "the workflow is not in the new config");
    } else {
        s.ev.url_token = wf->url_token_id;
        set_user(&s, r->cfg, json_string_value(user));
        s.body = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s.body != NULL) {
            set_body(&s, s.body, strlen(s.body));
            outcome = send_event(r, &s, &answer, err);
        }
    }
    int rc =
        outcome != NULL || answer != NULL ? judge_run(r, entry, recorded, outcome, answer) : -1;
    if (rc != 0 && err->text[0] == '\0')
        qx_error_set(err, "out of memory");
    free(s.body);
    json_decref(recorded);
    json_decref(outcome);
    json_decref(answer);
    return rc;
}

/* Why a journal entry cannot be replayed, or NULL when it can. */
static const char *unreplayable(const json_t *doc)
{
    const char *reason = json_string_value(json_object_get(doc, "reason"));
    json_int_t status = json_integer_value(json_object_get(doc, "httpStatus"));
    if (json_is_true(json_object_get(doc, "summary")))
        return "a summary of refused requests: they were not kept one by one";
    if (status == 429)
        return "refused by the API rate limit, which the replay does not apply";
    if (status == 0 || (reason != NULL && strncmp(reason, "injected fault", 14) == 0))
        return "an injected fault: the replay draws its own";
    if (reason != NULL && strncmp(reason, "captured as sample", 18) == 0)
        return "a capture sample";
    if (json_is_true(json_object_get(doc, "bodyTruncated")))
        return "the journal kept only part of its body";
    return NULL;
}

/* The urlTokenId (or triggerId) of a journalled path, into token. */
static void token_of_path(const char *path, char *token, size_t cap)
{
    const char *q = strchr(path, '?');
    token[0] = '\0';
    for (const char *p = q; p != NULL; p = strchr(p + 1, '&')) {
        const char *v = NULL;
        if (strncmp(p + 1, "urlTokenId=", 11) == 0)
            v = p + 12;
        else if (strncmp(p + 1, "triggerId=", 10) == 0)
            v = p + 11;
        if (v != NULL) {
            snprintf(token, cap, "%.*s", (int)strcspn(v, "&"), v);
            return;
        }
    }
}

/* The request as journalled: its method, path, Content-Type and body. The
 * recorded workflow's token when the new config has it, else the
 * journalled one. Credentials are never journalled: a request that got past
 * the credential check (answered neither 401, 404 nor 405) is sent with
 * the new config's first user's, any other with none. */
static void journalled_request(replay *r, const json_t *doc, sent *s, const char *path,
                               char *path_buf, size_t cap)
{
    const char *wf_id = json_string_value(json_object_get(doc, "workflowId"));
    const qxm_workflow *wf = wf_id != NULL ? qxm_config_find_by_id(r->cfg, wf_id) : NULL;
    snprintf(path_buf, cap, "%.*s", (int)strcspn(path, "?"), path);
    s->ev.path = path_buf;
    token_of_path(path, s->token, sizeof s->token);
    if (wf != NULL)
        snprintf(s->token, sizeof s->token, "%s", wf->url_token_id);
    s->ev.url_token = s->token[0] != '\0' ? s->token : NULL;
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(doc, "headers"), key, v)
    {
        if (strcasecmp(key, "Content-Type") == 0)
            s->ev.content_type = json_string_value(v);
    }
    const char *body = json_string_value(json_object_get(doc, "body"));
    set_body(s, body != NULL ? body : "", body != NULL ? strlen(body) : 0);
    json_int_t status = json_integer_value(json_object_get(doc, "httpStatus"));
    if (status != 401 && status != 404 && status != 405 && r->cfg->n_users > 0)
        set_user(s, r->cfg, r->cfg->users[0].username);
}

static int judge_request(replay *r, json_t *entry, const json_t *doc, json_t *outcome,
                         json_t *answer)
{
    bool kinds[QXM_WHATIF_N_KINDS] = {false};
    json_t *diffs = json_array();
    json_t *recorded = json_pack("{s:O, s:O}", "httpStatus", json_object_get(doc, "httpStatus"),
                                 "reason", json_object_get(doc, "reason"));
    const char *verdict = "unchanged";
    json_object_set(entry, "recorded", recorded);
    json_object_set(entry, "replayed", outcome != NULL ? outcome : answer);
    if (outcome != NULL) {
        verdict = "new";
        json_object_set_new(
            entry, "text",
            json_sprintf("a run now: %s, where the request was answered HTTP %d: %s",
                         json_string_value(json_object_get(outcome, "status")),
                         (int)json_integer_value(json_object_get(doc, "httpStatus")),
                         json_string_value(json_object_get(doc, "reason"))));
    } else if (!json_equal(json_object_get(doc, "httpStatus"),
                           json_object_get(answer, "httpStatus"))) {
        verdict = "changed";
        kinds[QXM_WHATIF_HTTP_STATUS] = true;
        whatif_add_diff(diffs, QXM_WHATIF_HTTP_STATUS, "httpStatus",
                        json_object_get(doc, "httpStatus"), json_object_get(answer, "httpStatus"));
    }
    int rc = file_entry(r, entry, verdict, diffs, kinds);
    json_decref(recorded);
    json_decref(diffs);
    return rc;
}

static int replay_request(replay *r, json_t *doc, json_t *entry, qx_error *err)
{
    const char *method = need_string(r, doc, "a journal entry", "method", err);
    const char *path = method != NULL ? need_string(r, doc, "a journal entry", "path", err) : NULL;
    sent s = {.ev = {.client_address = "whatif"}};
    if (path == NULL || received_at(r, doc, "a journal entry", &s.ev.received_ms, err) != 0)
        return -1;
    if (!json_is_integer(json_object_get(doc, "httpStatus")))
        return line_error(r, err, "\"httpStatus\" is not an integer");
    const char *why = unreplayable(doc);
    if (why != NULL) {
        json_object_set_new(entry, "text", json_string(why));
        return file_entry(r, entry, "skipped", NULL, NULL);
    }
    char path_buf[1024];
    s.ev.method = method;
    journalled_request(r, doc, &s, path, path_buf, sizeof path_buf);
    json_t *answer = NULL, *outcome = send_event(r, &s, &answer, err);
    int rc = outcome != NULL || answer != NULL ? judge_request(r, entry, doc, outcome, answer) : -1;
    json_decref(outcome);
    json_decref(answer);
    return rc;
}

/* One line of the history: a run, or a journal entry (it has
 * "httpStatus"). */
static int replay_line(replay *r, json_t *doc, qx_error *err)
{
    if (!json_is_object(doc))
        return line_error(r, err, "not a JSON object (a run or a journal entry)");
    bool request = json_object_get(doc, "httpStatus") != NULL;
    const char *what = request ? "a journal entry" : "a run";
    const char *id = need_string(r, doc, what, "id", err);
    json_t *wf = json_object_get(doc, "workflowId");
    if (id == NULL)
        return -1;
    if (!request && !json_is_string(wf))
        return line_error(r, err, "a run needs a string \"workflowId\"");
    json_t *entry = json_pack("{s:I, s:s, s:s, s:O?}", "line", (json_int_t)r->line, "kind",
                              request ? "request" : "run", "id", id, "workflowId",
                              json_is_string(wf) ? wf : NULL);
    if (entry == NULL) {
        qx_error_set(err, "out of memory");
        return -1;
    }
    int rc = request ? replay_request(r, doc, entry, err) : replay_run(r, doc, entry, err);
    json_decref(entry);
    return rc;
}

static int replay_file(replay *r, FILE *f, qx_error *err)
{
    qx_ndjson_reader *rd = qx_ndjson_open(f);
    if (rd == NULL) {
        qx_error_set(err, "out of memory");
        return -1;
    }
    int rc = 0;
    for (;;) {
        json_t *doc = NULL;
        int got = qx_ndjson_next(rd, &doc, &r->line, err);
        if (got == 0)
            break;
        if (got < 0) {
            qx_error_prefix(err, "%s", r->o->history_path);
            rc = -1;
            break;
        }
        rc = replay_line(r, doc, err);
        json_decref(doc);
        if (rc != 0)
            break;
    }
    qx_ndjson_close(rd);
    return rc;
}

/* The new config, with the API rate limit off: the history is replayed
 * far faster than it was recorded. */
static qxm_engine *new_engine(const qxm_whatif_options *o, qx_error *err)
{
    qxm_config *cfg = qxm_config_load_file(o->config_path, err);
    if (cfg == NULL)
        return NULL;
    cfg->rate_limit_per_minute = 0;
    qxm_engine_options eo = {.seeded = true, .seed = o->seed};
    return qxm_engine_new(cfg, &eo, err);
}

static json_t *new_report(const qxm_whatif_options *o, const qxm_whatif_counts *c, json_t *entries)
{
    json_t *by_kind = json_object();
    for (int k = 0; k < QXM_WHATIF_N_KINDS; k++)
        json_object_set_new(by_kind, qxm_whatif_kind_name((qxm_whatif_kind)k),
                            json_integer(c->by_kind[k]));
    json_t *summary = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "recorded", c->recorded,
                                "unchanged", c->unchanged, "changed", c->changed, "new", c->added,
                                "gone", c->gone, "skipped", c->skipped, "changedByKind", by_kind);
    return json_pack("{s:s, s:s, s:I, s:o, s:O}", "history", o->history_path, "config",
                     o->config_path, "seed", (json_int_t)o->seed, "summary", summary, "entries",
                     entries);
}

json_t *qxm_whatif_run(const qxm_whatif_options *o, qxm_whatif_counts *counts, qx_error *err)
{
    qx_error e;
    qx_error_clear(&e);
    *counts = (qxm_whatif_counts){0};
    FILE *f = fopen(o->history_path, "r");
    if (f == NULL) {
        qx_error_set(err, "%s: cannot open: %s", o->history_path, strerror(errno));
        return NULL;
    }
    replay r = {.o = o, .c = counts, .entries = json_array()};
    r.e = new_engine(o, &e);
    json_t *report = NULL;
    if (r.e != NULL && r.entries != NULL) {
        r.cfg = qxm_engine_config(r.e);
        if (replay_file(&r, f, &e) == 0 && (report = new_report(o, counts, r.entries)) == NULL)
            qx_error_set(&e, "out of memory");
    }
    fclose(f);
    qxm_engine_free(r.e);
    json_decref(r.entries);
    if (report == NULL)
        qx_error_set(err, "%s", e.text[0] != '\0' ? e.text : "out of memory");
    return report;
}
