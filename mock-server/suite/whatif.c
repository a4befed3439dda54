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
    const qxm_config *cfg;  /* the engine's */
    qxm_engine *e_old;      /* mapping what-if: the recorded payloads; else NULL */
    json_t *old_by_payload; /* mapping what-if: old payload's sorted text -> line */
    json_t *now_by_line;    /* mapping what-if: line -> new payload or {excluded} */
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

/* What became of one request: a run's outcome, or the answer without run
 * ({httpStatus, reason}, or {reason} when it was not sent). Both new
 * references; both NULL on failure. */
typedef struct replayed {
    json_t *outcome, *answer;
} replayed;

static void replayed_clear(replayed *p)
{
    json_decref(p->outcome);
    json_decref(p->answer);
    *p = (replayed){NULL, NULL};
}

/* Sends s through e. Returns 0 with *p filled, or -1 with err set. */
static int send_event(replay *r, qxm_engine *e, sent *s, replayed *p, qx_error *err)
{
    qxm_event_outcome out;
    *p = (replayed){NULL, NULL};
    qxm_engine_event(e, &s->ev, &out);
    qxm_commit_free(out.commit); /* never set: the engine is not started */
    if (!out.run_started) {
        /* The two answers without a message: journalled with these words. */
        const char *reason = out.message[0] != '\0' ? out.message
                             : out.status == 0
                                 ? "injected fault: connection dropped before the run was recorded"
                                 : "workflow is disabled: request accepted, no run started";
        p->answer = json_pack("{s:i, s:s}", "httpStatus", out.status, "reason", reason);
        return p->answer != NULL ? 0 : (qx_error_set(err, "out of memory"), -1);
    }
    qxm_store *st = qxm_engine_store(e);
    json_t *run = qxm_store_get_run(st, out.run_id, err);
    const char *status = json_string_value(json_object_get(run, "status"));
    if (status != NULL && strcmp(status, "RUNNING") == 0) {
        /* Delayed: finish it now to read its final status. */
        json_decref(run);
        run = qxm_store_finish_due(st, INT64_MAX, err) < 0 ? NULL
                                                           : qxm_store_get_run(st, out.run_id, err);
    }
    if (run == NULL)
        return line_error(r, err, "the replayed run %s cannot be read", out.run_id);
    p->outcome = whatif_run_outcome(run);
    json_decref(run);
    return p->outcome != NULL ? 0 : (qx_error_set(err, "out of memory"), -1);
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

/* Sends payload (borrowed) to wf through e as a run recorded at
 * received_ms by user (may be NULL). Returns 0 with *p, or -1 with err. */
static int send_payload(replay *r, qxm_engine *e, const qxm_workflow *wf, const json_t *payload,
                        const char *user, int64_t received_ms, replayed *p, qx_error *err)
{
    sent s = {.ev = {.method = "POST",
                     .path = EVENT_PATH,
                     .content_type = "application/json",
                     .url_token = wf->url_token_id,
                     .received_ms = received_ms,
                     .client_address = "whatif"}};
    set_user(&s, qxm_engine_config(e), user);
    s.body = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s.body == NULL) {
        qx_error_set(err, "out of memory");
        return -1;
    }
    set_body(&s, s.body, strlen(s.body));
    int rc = send_event(r, e, &s, p, err);
    free(s.body);
    return rc;
}

/* Mapping what-if: what caused a change, given the recorded payload's
 * replay through the new config (old). */
static const char *cause(const json_t *recorded, const replayed *now, const replayed *old)
{
    bool kinds[QXM_WHATIF_N_KINDS] = {false};
    json_t *diffs = json_array();
    bool config = old->outcome == NULL ||
                  whatif_compare(recorded, old->outcome, diffs, kinds) != 0 ||
                  json_array_size(diffs) > 0;
    json_decref(diffs);
    bool same = now->outcome != NULL ? json_equal(now->outcome, old->outcome)
                                     : json_equal(now->answer, old->answer);
    return !config ? "mapping" : same ? "config" : "mapping+config";
}

/* Compares a recorded run's replay and files the entry; old (may be NULL)
 * is the recorded payload's replay in a mapping what-if. */
static int judge_run(replay *r, json_t *entry, json_t *recorded, const replayed *now,
                     const replayed *old)
{
    bool kinds[QXM_WHATIF_N_KINDS] = {false};
    json_t *diffs = json_array(), *answer = now->answer;
    int rc = -1;
    json_object_set(entry, "recorded", recorded);
    json_object_set(entry, "replayed", now->outcome != NULL ? now->outcome : answer);
    const char *verdict = "gone";
    if (now->outcome == NULL) {
        json_t *status = json_object_get(answer, "httpStatus");
        const char *why = json_string_value(json_object_get(answer, "reason"));
        json_object_set_new(entry, "text",
                            status != NULL ? json_sprintf("no run now: HTTP %d: %s",
                                                          (int)json_integer_value(status), why)
                                           : json_sprintf("no run now: %s", why));
    } else if (whatif_compare(recorded, now->outcome, diffs, kinds) == 0) {
        verdict = json_array_size(diffs) == 0 ? "unchanged" : "changed";
    } else {
        verdict = NULL;
    }
    if (verdict != NULL && old != NULL && strcmp(verdict, "unchanged") != 0)
        json_object_set_new(entry, "cause", json_string(cause(recorded, now, old)));
    if (verdict != NULL)
        rc = file_entry(r, entry, verdict, diffs, kinds);
    json_decref(diffs);
    return rc;
}

/* Mapping what-if: the profile line whose old payload is payload, or NULL. */
static const char *profile_of(const replay *r, const json_t *payload)
{
    char *key = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    const char *line =
        key != NULL ? json_string_value(json_object_get(r->old_by_payload, key)) : NULL;
    free(key);
    return line;
}

/* Replays the recorded run through the new config (and, in a mapping
 * what-if, the recorded payload through the second engine into *old; the
 * profile's new payload, or none when the new mapping excludes it, into
 * *now). Returns 0, or -1 with err set. */
static int replay_payloads(replay *r, const qxm_workflow *wf, json_t *doc, json_t *entry,
                           int64_t received_ms, replayed *now, replayed *old, qx_error *err)
{
    const json_t *payload = json_object_get(doc, "payload");
    const char *user = json_string_value(json_object_get(doc, "user"));
    const char *line = r->e_old != NULL ? profile_of(r, payload) : NULL;
    if (r->e_old != NULL &&
        send_payload(r, r->e_old, wf, payload, user, received_ms, old, err) != 0)
        return -1;
    if (line != NULL) {
        const json_t *p = json_object_get(r->now_by_line, line);
        json_object_set_new(entry, "profileLine", json_integer(strtoll(line, NULL, 10)));
        const json_t *excluded = json_object_get(p, "excluded");
        if (excluded != NULL) {
            now->answer = json_sprintf("not sent: the new mapping excludes profile line %s: %s",
                                       line, json_string_value(excluded));
            now->answer = json_pack("{s:o}", "reason", now->answer);
            return now->answer != NULL ? 0 : (qx_error_set(err, "out of memory"), -1);
        }
        payload = p;
    }
    return send_payload(r, r->e, wf, payload, user, received_ms, now, err);
}

static int replay_run(replay *r, json_t *doc, json_t *entry, qx_error *err)
{
    const char *wf_id = json_string_value(json_object_get(entry, "workflowId"));
    json_t *user = json_object_get(doc, "user");
    int64_t received_ms;
    if (json_object_get(doc, "payload") == NULL)
        return line_error(r, err, "a run needs its \"payload\"");
    if (user != NULL && !json_is_null(user) && !json_is_string(user))
        return line_error(r, err, "\"user\" is not a string");
    if (received_at(r, doc, "a run", &received_ms, err) != 0)
        return -1;
    json_t *recorded = whatif_run_outcome(doc);
    if (recorded == NULL) {
        qx_error_set(err, "out of memory");
        return -1;
    }
    const qxm_workflow *wf = qxm_config_find_by_id(r->cfg, wf_id);
    replayed now = {NULL, NULL}, old = {NULL, NULL};
    int rc = 0;
    if (wf == NULL) {
        now.answer = json_pack("{s:s}", "reason", "the workflow is not in the new config");
        old.answer = json_incref(now.answer);
    } else {
        rc = replay_payloads(r, wf, doc, entry, received_ms, &now, &old, err);
    }
    if (rc == 0)
        rc = judge_run(r, entry, recorded, &now, r->e_old != NULL ? &old : NULL);
    if (rc != 0 && err->text[0] == '\0')
        qx_error_set(err, "out of memory");
    json_decref(recorded);
    replayed_clear(&now);
    replayed_clear(&old);
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
    replayed now;
    int rc = send_event(r, r->e, &s, &now, err);
    if (rc == 0)
        rc = judge_request(r, entry, doc, now.outcome, now.answer);
    replayed_clear(&now);
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
    for (int k = 0; k < QXM_WHATIF_N_RUN_KINDS; k++)
        json_object_set_new(by_kind, qxm_whatif_kind_name((qxm_whatif_kind)k),
                            json_integer(c->by_kind[k]));
    json_t *summary = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "recorded", c->recorded,
                                "unchanged", c->unchanged, "changed", c->changed, "new", c->added,
                                "gone", c->gone, "skipped", c->skipped, "changedByKind", by_kind);
    if (summary != NULL && o->mapping != NULL)
        json_object_set_new(summary, "payloadsChanged", json_integer(c->payloads));
    return json_pack("{s:s, s:s, s:I, s:o, s:O}", "history", o->history_path, "config",
                     o->config_path, "seed", (json_int_t)o->seed, "summary", summary, "entries",
                     entries);
}

/* Mapping what-if: renders the profiles, indexes the old payloads, starts
 * the second engine; the payload differences go into the report's
 * "payloads" (*payloads, new). Returns 0, or -1 with err set. */
static int start_mapping(replay *r, json_t **payloads, qx_error *err)
{
    json_t *old = NULL;
    if (whatif_render_profiles(r->o->mapping, &old, &r->now_by_line, payloads, err) != 0)
        return -1;
    r->c->payloads = (int64_t)json_array_size(*payloads);
    r->old_by_payload = json_object();
    const char *line;
    json_t *p;
    json_object_foreach(old, line, p)
    {
        char *key = json_object_get(p, "excluded") == NULL
                        ? json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
                        : NULL;
        /* The first profile of a payload several profiles render to. */
        json_t *seen = key != NULL ? json_object_get(r->old_by_payload, key) : NULL;
        if (key != NULL &&
            (seen == NULL || strtoll(json_string_value(seen), NULL, 10) > strtoll(line, NULL, 10)))
            json_object_set_new(r->old_by_payload, key, json_string(line));
        free(key);
    }
    json_decref(old);
    if (r->o->lines != NULL) {
        json_t *shown = json_pack("{s:O}", "payloads", *payloads);
        qxm_whatif_print_payloads(r->o->lines, shown);
        json_decref(shown);
    }
    r->e_old = new_engine(r->o, err);
    return r->e_old != NULL ? 0 : -1;
}

static json_t *replay_all(replay *r, FILE *f, qx_error *err)
{
    json_t *payloads = NULL, *report = NULL;
    if (r->o->mapping != NULL && start_mapping(r, &payloads, err) != 0)
        return NULL;
    if (replay_file(r, f, err) == 0 && (report = new_report(r->o, r->c, r->entries)) == NULL)
        qx_error_set(err, "out of memory");
    if (report != NULL && payloads != NULL) {
        const qxm_whatif_mapping *m = r->o->mapping;
        json_object_set_new(report, "oldMapping", json_string(m->old_mapping));
        json_object_set_new(report, "newMapping", json_string(m->new_mapping));
        json_object_set_new(report, "profiles", json_string(m->profiles));
        json_object_set(report, "payloads", payloads);
    }
    json_decref(payloads);
    return report;
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
        report = replay_all(&r, f, &e);
    }
    fclose(f);
    qxm_engine_free(r.e);
    qxm_engine_free(r.e_old);
    json_decref(r.entries);
    json_decref(r.old_by_payload);
    json_decref(r.now_by_line);
    if (report == NULL)
        qx_error_set(err, "%s", e.text[0] != '\0' ? e.text : "out of memory");
    return report;
}
