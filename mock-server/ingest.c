/*
 * ingest.c — the JSON-event endpoint: one request in, one run (or one
 * journal entry) out.
 *
 * The checks run in the order a request meets them at Qualtrics: the URL
 * selects the workflow (404), the workflow's authentication setting decides
 * whether credentials are needed (401), the user's API rate limit (429), the
 * body's size (413), type (415) and content (400); a disabled workflow then
 * accepts the request and starts no run. Every request that starts no run is
 * written to the request journal with the reason, so "why is there no run?"
 * always has an answer. Secrets never leave this file: reasons name the user,
 * never the token.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "commit.h"
#include "mock_internal.h"
#include "qx_clock.h"
#include "qx_log.h"

#define INGEST_PREFIX "/inbound-event/v1/events/"
#define RUN_ID_CHARS 15

bool qxm_ingest_is_path(const char *path)
{
    /* Current form .../events/json/triggers; the older form writes JSON. */
    return strcmp(path, INGEST_PREFIX "json/triggers") == 0 ||
           strcmp(path, INGEST_PREFIX "JSON/triggers") == 0;
}

/* Compares secrets without an early exit, so the time taken does not tell an
 * attacker how many leading characters were right. */
bool qxm_secret_equals(const char *given, const char *expected)
{
    size_t lg = strlen(given), le = strlen(expected);
    size_t n = lg > le ? lg : le;
    unsigned char diff = (unsigned char)(lg != le);
    for (size_t i = 0; i < n; i++) {
        unsigned char a = i < lg ? (unsigned char)given[i] : 0;
        unsigned char b = i < le ? (unsigned char)expected[i] : 0;
        diff |= (unsigned char)(a ^ b);
    }
    return diff == 0;
}

/* Who is calling. Returns the user, or NULL with *reason set. */
static const qxm_user *authenticate(const qxm_config *cfg, const qxm_request *req,
                                    const char **reason)
{
    if (req->api_token_header != NULL) {
        const qxm_user *found = NULL;
        /* Check every user, whatever matches, to keep the time constant. */
        for (size_t i = 0; i < cfg->n_users; i++)
            if (qxm_secret_equals(req->api_token_header, cfg->users[i].api_token) && found == NULL)
                found = &cfg->users[i];
        if (found == NULL)
            *reason = "X-API-TOKEN does not match any user's API token";
        return found;
    }
    if (req->basic_user != NULL) {
        for (size_t i = 0; i < cfg->n_users; i++) {
            if (strcmp(cfg->users[i].username, req->basic_user) != 0)
                continue;
            if (req->basic_password != NULL &&
                qxm_secret_equals(req->basic_password, cfg->users[i].api_token))
                return &cfg->users[i];
            *reason = "wrong API token for the user in Basic auth";
            return NULL;
        }
        *reason = "unknown username in Basic auth";
        return NULL;
    }
    if (req->has_authorization)
        *reason = "unsupported Authorization header (only Basic username:apiToken or "
                  "X-API-TOKEN are accepted)";
    else
        *reason = "missing credentials (Basic auth or X-API-TOKEN required)";
    return NULL;
}

static bool is_json_content_type(const char *ct)
{
    if (ct == NULL)
        return true; /* documented choice: no Content-Type is read as JSON */
    while (*ct == ' ')
        ct++;
    size_t n = strcspn(ct, "; ");
    return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
           (n == 9 && strncasecmp(ct, "text/json", 9) == 0);
}

/* Depth of the deepest array/object nesting, stopping once past limit, so a
 * hostile 10,000-deep document is refused before any parser recursion. */
static int json_depth_exceeds(const char *s, size_t n, int limit)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > limit)
                return 1;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 0;
}

static void journal(qxm_mock *m, const qxm_request *req, const char *request_id, int status,
                    const char *reason, const qxm_workflow *wf)
{
    const char *token = req->query(req->query_ctx, "urlTokenId");
    if (token == NULL)
        token = req->query(req->query_ctx, "triggerId");
    char path[1024];
    /* The urlTokenId is an address, not a secret: it is kept so the entry
     * shows which URL was called. */
    if (token != NULL)
        snprintf(path, sizeof path, "%s?urlTokenId=%.900s", req->path, token);
    else
        snprintf(path, sizeof path, "%s", req->path);
    qxm_request_entry e = {
        .id = request_id,
        .received_ms = req->received_ms,
        .method = req->method,
        .path = path,
        .http_status = status,
        .reason = reason,
        .workflow_id = wf != NULL ? wf->id : NULL,
    };
    qx_error err;
    if (qxm_store_add_request(m->store, &e, &err) != 0)
        qx_log(QX_LOG_ERROR, "request journal: %s", err.text);
    qxm_mock_kick(m);
}

/* Answers with an error and journals it. */
static void refuse(qxm_mock *m, const qxm_request *req, qxm_answer *ans, const char *request_id,
                   int status, const char *message, const char *code, const qxm_workflow *wf)
{
    qxm_answer_error(ans, status, message, code, request_id);
    journal(m, req, request_id, status, message, wf);
}

/* What a run is made of that must be drawn in request order: its id, its
 * delay and the workflow's outcome (whose tasks draw contact and
 * distribution ids). Drawn under the ingest lock. */
struct run_draws {
    char id[64];
    uint64_t delay_ms;
    json_t *outcome; /* owned */
};

/* Builds the run document from what was drawn, serialises it, and either
 * hands it to the group committer (ans->commit) or stores it at once.
 * Runs outside the ingest lock. Returns 0, or -1 with err set. */
static int store_run(qxm_mock *m, const qxm_workflow *wf, const qxm_user *user, json_t *payload,
                     const qxm_request *req, const char *request_id, const struct run_draws *d,
                     qxm_answer *ans, qx_error *err)
{
    int rc = -1;
    char received[QX_TIME_TEXT_MAX];
    qx_format_time(req->received_ms, received);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:I, s:s?}", "id", d->id, "workflowId",
                            wf->id, "workflowName", wf->name, "requestId", request_id, "receivedAt",
                            received, "payload", payload, "delayMs", (json_int_t)d->delay_ms,
                            "user", user != NULL ? user->username : NULL);
    if (doc == NULL || json_object_update(doc, d->outcome) != 0) {
        qx_error_set(err, "out of memory building run");
        json_decref(doc);
        return -1;
    }
    qxm_run_insert ins = {.doc = doc,
                          .received_ms = req->received_ms,
                          .due_ms = req->received_ms + (int64_t)d->delay_ms,
                          /* At-least-once delivery made visible: a retried
                           * request whose first attempt was recorded (its
                           * answer lost) shows up as a duplicate. */
                          .mark_duplicate = m->cfg->duplicate_window_ms > 0,
                          .duplicate_since_ms = req->received_ms - m->cfg->duplicate_window_ms};
    if (qxm_run_insert_prepare(&ins, err) != 0)
        goto out;
    if (m->committer_running) {
        /* The HTTP front suspends the connection and hands this to the
         * group committer; the 200 goes out once it is committed. */
        qxm_commit *c = calloc(1, sizeof *c);
        if (c == NULL) {
            qx_error_set(err, "out of memory");
            goto out;
        }
        c->ins = ins;
        ins.doc = NULL; /* now the commit's */
        ins.text = NULL;
        ans->commit = c;
        return 0;
    }
    rc = qxm_store_insert_runs(m->store, &ins, 1, err);
    if (rc == 0 && ins.due_ms > ins.received_ms)
        qxm_mock_note_due(m, ins.due_ms);
    qxm_mock_kick(m);
out:
    free(ins.text);
    json_decref(ins.doc);
    return rc;
}

void qxm_ingest_handle(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    char request_id[QX_UUID_LEN + 1];
    const qxm_workflow *wf = NULL;
    const qxm_user *user = NULL;
    json_t *payload = NULL;
    char reason[512];
    struct run_draws draws = {.outcome = NULL};
    bool run_drawn = false;

    /* Parsing draws nothing, so it happens before the lock, for every POST
     * whose body would be parsed; the checks below use the result at the
     * point where a request meets them. */
    bool is_post = strcmp(req->method, "POST") == 0;
    bool too_deep = false;
    json_error_t jerr = {.text = ""};
    if (is_post && !req->body_too_large && is_json_content_type(req->content_type)) {
        too_deep = json_depth_exceeds(req->body, req->body_len, QXM_MAX_JSON_DEPTH);
        if (!too_deep)
            payload = json_loadb(req->body != NULL ? req->body : "", req->body_len, 0, &jerr);
    }

    /* The lock covers every draw of the seeded generator (request id, fault
     * draws, run id, delay, the workflow's ids), so that with a seed the
     * same request order gives the same history; the run is serialised and
     * committed outside it. */
    pthread_mutex_lock(&m->ingest_lock);
    qx_rng_uuid(m->rng, request_id);

    if (!is_post) {
        ans->allow = "POST";
        snprintf(reason, sizeof reason, "method %s not allowed: JSON events are POSTed",
                 req->method);
        refuse(m, req, ans, request_id, 405, reason, "QX_METHOD_NOT_ALLOWED", NULL);
        goto out;
    }
    const char *token = req->query(req->query_ctx, "urlTokenId");
    if (token == NULL)
        token = req->query(req->query_ctx, "triggerId");
    if (token == NULL || *token == '\0') {
        refuse(m, req, ans, request_id, 404, "missing urlTokenId: the URL selects no workflow",
               "QX_TRIGGER_NOT_FOUND", NULL);
        goto out;
    }
    wf = qxm_config_find_by_token(m->cfg, token);
    if (wf == NULL) {
        refuse(m, req, ans, request_id, 404,
               "unknown urlTokenId: no workflow has this JSON event URL", "QX_TRIGGER_NOT_FOUND",
               NULL);
        goto out;
    }
    const char *why = NULL;
    if (req->api_token_header != NULL || req->basic_user != NULL || wf->auth_required)
        user = authenticate(m->cfg, req, &why);
    if (user == NULL && wf->auth_required) {
        refuse(m, req, ans, request_id, 401, why, "AUTH_6.0", wf);
        goto out;
    }
    unsigned retry_after = 0;
    if (!qxm_ratelimit_take(m->ratelimit, user != NULL ? user->username : "(anonymous)",
                            qx_mono_ms(), &retry_after)) {
        ans->retry_after_s = retry_after;
        snprintf(reason, sizeof reason,
                 "rate limit exceeded: more than %u calls per minute for this user",
                 m->cfg->rate_limit_per_minute);
        refuse(m, req, ans, request_id, 429, reason, "QX_RATE_LIMIT", wf);
        goto out;
    }
    /* Injected faults: every draw is made whatever the outcome, so a seeded
     * emulator makes the same choices for the same request sequence. */
    bool drop_after = false;
    qxm_faults f;
    size_t wi = (size_t)(wf - m->cfg->workflows);
    qxm_mock_effective_faults(m, wi, &f);
    if (f.set) {
        uint64_t latency = qx_rng_range(m->rng, f.latency_min_ms, f.latency_max_ms);
        bool error_hit = qx_rng_chance(m->rng, f.error_rate);
        bool drop_hit = qx_rng_chance(m->rng, f.drop_rate);
        bool after = f.drop_phase == QXM_DROP_AFTER ||
                     (f.drop_phase == QXM_DROP_BOTH && (qx_rng_next(m->rng) & 1) != 0);
        ans->delay_ms = (unsigned)latency + f.slow_response_ms;
        if (f.has_rate_limit) {
            qxm_ratelimit_set(m->fault_limits[wi], f.rate_limit_per_minute);
            if (!qxm_ratelimit_take(m->fault_limits[wi],
                                    user != NULL ? user->username : "(anonymous)", qx_mono_ms(),
                                    &retry_after)) {
                ans->retry_after_s = retry_after;
                snprintf(reason, sizeof reason,
                         "rate limit exceeded: more than %u calls per minute for this user "
                         "(injected limit of this workflow)",
                         f.rate_limit_per_minute);
                refuse(m, req, ans, request_id, 429, reason, "QX_RATE_LIMIT", wf);
                goto out;
            }
        }
        if (error_hit) {
            snprintf(reason, sizeof reason, "injected fault: HTTP %d", f.error_status);
            refuse(m, req, ans, request_id, f.error_status, reason, "QX_INJECTED_FAULT", wf);
            goto out;
        }
        if (drop_hit && !after) {
            ans->drop = true;
            ans->status = 0;
            journal(m, req, request_id, 0,
                    "injected fault: connection dropped before the run was recorded", wf);
            goto out;
        }
        drop_after = drop_hit;
    }
    if (req->body_too_large) {
        snprintf(reason, sizeof reason, "payload larger than %d bytes (100 KB) is not processed",
                 QXM_MAX_BODY_BYTES);
        refuse(m, req, ans, request_id, 413, reason, "QX_PAYLOAD_TOO_LARGE", wf);
        goto out;
    }
    if (!is_json_content_type(req->content_type)) {
        snprintf(reason, sizeof reason,
                 "Content-Type %.100s is not JSON: only application/json bodies are processed",
                 req->content_type);
        refuse(m, req, ans, request_id, 415, reason, "QX_UNSUPPORTED_MEDIA_TYPE", wf);
        goto out;
    }
    if (too_deep) {
        snprintf(reason, sizeof reason, "body nests deeper than %d levels", QXM_MAX_JSON_DEPTH);
        refuse(m, req, ans, request_id, 400, reason, "QVAL_1", wf);
        goto out;
    }
    if (payload == NULL) {
        snprintf(reason, sizeof reason, "body is not valid JSON: %s at position %d", jerr.text,
                 jerr.position);
        refuse(m, req, ans, request_id, 400, reason, "QVAL_1", wf);
        goto out;
    }
    if (!json_is_object(payload)) {
        refuse(m, req, ans, request_id, 400, "body is not a JSON object", "QVAL_1", wf);
        goto out;
    }
    if (!wf->enabled) {
        /* Qualtrics answers as usual and no run appears in the history. */
        ans->status = 200;
        ans->json = qxm_envelope_ok(json_object(), request_id, 200);
        journal(m, req, request_id, 200, "workflow is disabled: request accepted, no run started",
                wf);
        goto out;
    }
    qx_rng_id(m->rng, "RUN_", RUN_ID_CHARS, draws.id, sizeof draws.id);
    draws.delay_ms = qx_rng_range(m->rng, wf->delay_min_ms, wf->delay_max_ms);
    draws.outcome = qxm_workflow_execute(wf, payload, m->directory, m->rng);
    if (draws.outcome == NULL) {
        qx_log(QX_LOG_ERROR,
               "running workflow %s: out of memory, or a directory error logged above", wf->id);
        refuse(m, req, ans, request_id, 500, "the run could not be recorded", "QX_STORE_ERROR", wf);
        goto out;
    }
    run_drawn = true;
    /* The run is recorded; the answer is lost on the way (the sender sees a
     * dropped connection and retries: the retry is marked duplicateOf). */
    ans->drop = drop_after;
out:
    pthread_mutex_unlock(&m->ingest_lock);
    if (run_drawn) {
        qx_error err;
        if (store_run(m, wf, user, payload, req, request_id, &draws, ans, &err) == 0) {
            ans->status = 200;
            ans->json = qxm_envelope_ok(
                json_pack("{s:s, s:s}", "runId", draws.id, "workflowId", wf->id), request_id, 200);
        } else {
            qx_log(QX_LOG_ERROR, "storing run for %s: %s", wf->id, err.text);
            ans->drop = false;
            refuse(m, req, ans, request_id, 500, "the run could not be recorded", "QX_STORE_ERROR",
                   wf);
        }
    }
    json_decref(draws.outcome);
    json_decref(payload);
}
