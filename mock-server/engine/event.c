/*
 * event.c — one JSON event in, one run (or one journal entry) out.
 *
 * The checks run in the order a request meets them at Qualtrics: the URL
 * selects the workflow (404), the workflow's authentication setting decides
 * whether credentials are needed (401), the user's API rate limit (429),
 * injected faults, the body's size (413), type (415) and content (400); a
 * disabled workflow then accepts the request and starts no run. While
 * capture is armed for the workflow (capture.c), the body checks follow the
 * rate limit at once and the request that passes them is kept as the
 * sample, with no fault and no run. Every
 * request that starts no run is written to the request journal with the
 * reason, so "why is there no run?" always has an answer. Secrets never
 * leave this file: reasons name the user, never the token. A tap
 * (qxm_event_tap, set by `qx-mock conform`) sees each event first, under the
 * draw lock, may plan its fault in place of the fault table's, and sees the
 * outcome last.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine_internal.h"
#include "qx_clock.h"
#include "qx_json_read.h"
#include "qx_json_write.h"
#include "qx_log.h"
#include "qx_secret.h"
#include "qx_utf8.h"

/*
 * A run id is "RUN_" and 15 characters. The first RUN_ID_ORDERED count the
 * runs this engine has drawn, in an alphabet whose byte order is its digit
 * order, so ids drawn later sort later; the rest are random. The store finds
 * a run by its id through a unique index: a random key lands on a random
 * page of it, which every commit then writes out whole, while ids in order
 * append to the page last written (qxm-store-bench, 40,000 distinct runs in
 * batches of 8: pwrite64 10.0 -> 7.9 per run). The count starts at the store's
 * last run (engine.c; 0 for a new store, so a seeded emulator draws the
 * same ids for the same requests) and moves past the runs an import
 * brings: a store kept across restarts goes on appending, and a seeded
 * emulator restarted on its own store, or given an export of a run with
 * the same seed, never draws an id the store holds (it would draw the same
 * random characters again). The random characters are drawn as before (all
 * 15, the first overwritten), so every other draw of a seeded run is
 * unchanged.
 */
#define RUN_ID_CHARS 15
#define RUN_ID_ORDERED 6

/* Writes the count n into the first RUN_ID_ORDERED characters after the
 * prefix of id (62^6: 5.7e10 runs before the count wraps). */
static void order_run_id(char *id, uint64_t n)
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    char *p = id + strlen("RUN_");
    for (int i = RUN_ID_ORDERED - 1; i >= 0; i--, n /= 62)
        p[i] = digits[n % 62];
}

/* What the checks before the lock found in the body. */
typedef struct parsed_body {
    bool is_post;
    bool too_deep;
    json_t *payload; /* owned; NULL when not parsed or invalid */
    json_error_t jerr;
} parsed_body;

/* Who is calling. Returns the user, or NULL with *reason set. */
static const qxm_user *authenticate(const qxm_config *cfg, const qxm_event *ev, const char **reason)
{
    if (ev->api_token != NULL) {
        const qxm_user *found = NULL;
        /* Check every user, whatever matches, to keep the time constant. */
        for (size_t i = 0; i < cfg->n_users; i++)
            if (qx_secret_equals_n(ev->api_token, ev->api_token_len, cfg->users[i].api_token,
                                   strlen(cfg->users[i].api_token)) &&
                found == NULL)
                found = &cfg->users[i];
        if (found == NULL)
            *reason = "X-API-TOKEN does not match any user's API token";
        return found;
    }
    if (ev->bad_credentials != NULL) {
        *reason = ev->bad_credentials;
        return NULL;
    }
    if (ev->basic_user != NULL) {
        for (size_t i = 0; i < cfg->n_users; i++) {
            const char *name = cfg->users[i].username, *token = cfg->users[i].api_token;
            if (strlen(name) != ev->basic_user_len ||
                memcmp(name, ev->basic_user, ev->basic_user_len) != 0)
                continue;
            /* With lengths: a NUL inside the password cannot shorten it. */
            if (qx_secret_equals_n(ev->basic_password, ev->basic_password_len, token,
                                   strlen(token)))
                return &cfg->users[i];
            *reason = "wrong API token for the user in Basic auth";
            return NULL;
        }
        *reason = "unknown username in Basic auth";
        return NULL;
    }
    if (ev->has_authorization)
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

_Static_assert(QX_JSON_READ_DEPTH <= QXM_MAX_JSON_DEPTH,
               "a body the reader takes must never be too deep to process");

/* Depth of the deepest array/object nesting, stopping once past limit, so a
 * hostile 10,000-deep document is refused before any parser recursion. */
static bool json_depth_exceeds(const char *s, size_t n, int limit)
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
                return true;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return false;
}

/* Parsing draws nothing, so it happens before the lock, for every POST
 * whose body would be parsed; the checks use the result at the point where
 * a request meets them. */
static void parse_body(const qxm_event *ev, parsed_body *pb)
{
    *pb = (parsed_body){.is_post = strcmp(ev->method, "POST") == 0, .jerr = {.text = ""}};
    if (!pb->is_post || ev->body_too_large || !is_json_content_type(ev->content_type))
        return;
    const char *body = ev->body != NULL ? ev->body : "";
    /* What the in-place reader takes nests QX_JSON_READ_DEPTH levels at
     * most (the limit here): only a body it hands back is scanned for its
     * depth before jansson, whose own limit is deeper, reads it. */
    pb->payload = qx_json_read(body, ev->body_len);
    if (pb->payload != NULL)
        return;
    pb->too_deep = json_depth_exceeds(body, ev->body_len, QXM_MAX_JSON_DEPTH);
    if (!pb->too_deep)
        pb->payload = json_loadb(body, ev->body_len, 0, &pb->jerr);
}

/* ---- the journal entry ---------------------------------------------------
 *
 * What a journal entry keeps of the request (qxm_engine.h): headers without
 * credentials, bounded, as a JSON object (a repeated name's values joined
 * with ", ", as RFC 9110 section 5.3 allows); the body's first 4 KiB. Text
 * that is not UTF-8 (a header's obs-text, a binary body) is kept as UTF-8,
 * each invalid byte shown as U+FFFD, so the entry is always JSON.
 */

static const char *const CREDENTIAL_HEADERS[] = {
    "Authorization", "Proxy-Authorization", "X-API-TOKEN", "X-QX-ADMIN-TOKEN", "Cookie", NULL};

static bool is_credential_header(const qxm_header *h)
{
    for (const char *const *c = CREDENTIAL_HEADERS; *c != NULL; c++)
        if (strlen(*c) == h->name_len && strncasecmp(*c, h->name, h->name_len) == 0)
            return true;
    return false;
}

/* Copies in[0..n) into out as UTF-8 text of at most cap - 1 bytes and a NUL,
 * an invalid byte as U+FFFD, stopping before a character that would not fit
 * whole. Returns the bytes written; *used (may be NULL) the input taken. */
static size_t utf8_copy(const char *in, size_t n, char *out, size_t cap, size_t *used)
{
    static const char REPLACEMENT[] = "\xEF\xBF\xBD";
    const unsigned char *p = (const unsigned char *)in;
    size_t i = 0, o = 0;
    while (i < n) {
        size_t len = qx_utf8_char_len(p + i, n - i);
        const char *from = len > 0 ? in + i : REPLACEMENT;
        size_t out_len = len > 0 ? len : 3;
        if (o + out_len + 1 > cap)
            break;
        memcpy(out + o, from, out_len);
        o += out_len;
        i += len > 0 ? len : 1;
    }
    out[o] = '\0';
    if (used != NULL)
        *used = i;
    return o;
}

/* The headers kept, as a JSON object's text (owned: free()), NULL when none
 * is kept or memory runs out; *truncated when some were left out for size. */
static char *journal_headers(const qxm_event *ev, bool *truncated)
{
    *truncated = ev->more_headers;
    json_t *obj = json_object();
    size_t total = 0, kept = 0;
    char name[256], value[QXM_JOURNAL_HEADER_VALUE_BYTES + 1];
    for (size_t i = 0; i < ev->n_headers && obj != NULL; i++) {
        const qxm_header *h = &ev->headers[i];
        if (is_credential_header(h))
            continue;
        size_t used, name_len = utf8_copy(h->name, h->name_len, name, sizeof name, NULL);
        size_t value_len = utf8_copy(h->value, h->value_len, value, sizeof value, &used);
        if (used < h->value_len || name_len < h->name_len)
            *truncated = true;
        if (kept == QXM_JOURNAL_HEADERS_MAX ||
            total + name_len + value_len > QXM_JOURNAL_HEADER_BYTES) {
            *truncated = true;
            break;
        }
        json_t *old = json_object_get(obj, name);
        json_t *v = old == NULL ? json_string(value)
                                : json_sprintf("%s, %s", json_string_value(old), value);
        if (v == NULL || json_object_set_new(obj, name, v) != 0)
            break;
        total += name_len + value_len;
        kept++;
    }
    char *text = obj != NULL && kept > 0 ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    return text;
}

static void journal(qxm_engine *e, const qxm_event *ev, const char *request_id, int status,
                    const char *reason, const qxm_workflow *wf)
{
    char raw[1024], path[1024], why[sizeof((qxm_event_outcome *)0)->message];
    char body[QXM_JOURNAL_BODY_BYTES + 1];
    /* The urlTokenId is an address, not a secret: it is kept so the entry
     * shows which URL was called. */
    if (ev->url_token != NULL)
        snprintf(raw, sizeof raw, "%s?urlTokenId=%.900s", ev->path, ev->url_token);
    else
        snprintf(raw, sizeof raw, "%s", ev->path);
    utf8_copy(raw, strlen(raw), path, sizeof path, NULL);
    utf8_copy(reason, strlen(reason), why, sizeof why, NULL);
    size_t used = 0;
    /* A refusal counted into its summary keeps no headers or body: a flood
     * pays for neither. */
    bool folds = qxm_store_request_folds(e->store, status, ev->client_address, ev->received_ms);
    bool has_body = !folds && ev->body != NULL && ev->body_len > 0;
    if (has_body)
        utf8_copy(ev->body, ev->body_len, body, sizeof body, &used);
    qxm_request_entry entry = {
        .id = request_id,
        .received_ms = ev->received_ms,
        .method = ev->method,
        .path = path,
        .http_status = status,
        .reason = why,
        .workflow_id = wf != NULL ? wf->id : NULL,
        .client = ev->client_address,
        .body = has_body ? body : NULL,
        /* A body over the limit was dropped as it came: its length is unknown. */
        .body_len = ev->body_too_large ? -1 : (int64_t)ev->body_len,
        .body_truncated = ev->body_too_large || used < ev->body_len,
    };
    char *headers = folds ? NULL : journal_headers(ev, &entry.headers_truncated);
    entry.headers = headers;
    qx_error err;
    if (qxm_store_add_request(e->store, &entry, &err) != 0)
        qx_log(QX_LOG_ERROR, "request journal: %s", err.text);
    free(headers);
    qxm_scheduler_kick(&e->sched);
}

/* The outcome is an error answer; it is journalled. */
static void refuse(qxm_engine *e, const qxm_event *ev, qxm_event_outcome *out, int status,
                   const char *code, const qxm_workflow *wf, const char *fmt, ...) QX_PRINTF(7, 8);
static void refuse(qxm_engine *e, const qxm_event *ev, qxm_event_outcome *out, int status,
                   const char *code, const qxm_workflow *wf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
    out->status = status;
    out->error_code = code;
    journal(e, ev, out->request_id, status, out->message, wf);
}

/* The checks before any fault: method, URL, credentials, the API rate
 * limit. Returns the workflow and *user, or NULL when the outcome is set. */
static const qxm_workflow *admit(qxm_engine *e, const qxm_event *ev, const parsed_body *pb,
                                 const qxm_user **user, qxm_event_outcome *out)
{
    if (!pb->is_post) {
        out->allow = "POST";
        refuse(e, ev, out, 405, "QX_METHOD_NOT_ALLOWED", NULL,
               "method %s not allowed: JSON events are POSTed", ev->method);
        return NULL;
    }
    if (ev->url_token == NULL || *ev->url_token == '\0') {
        refuse(e, ev, out, 404, "QX_TRIGGER_NOT_FOUND", NULL,
               "missing urlTokenId: the URL selects no workflow");
        return NULL;
    }
    const qxm_workflow *wf = qxm_config_find_by_token(e->cfg, ev->url_token);
    if (wf == NULL) {
        refuse(e, ev, out, 404, "QX_TRIGGER_NOT_FOUND", NULL,
               "unknown urlTokenId: no workflow has this JSON event URL");
        return NULL;
    }
    const char *why = NULL;
    if (ev->api_token != NULL || ev->basic_user != NULL || wf->auth_required)
        *user = authenticate(e->cfg, ev, &why);
    if (*user == NULL && wf->auth_required) {
        refuse(e, ev, out, 401, "AUTH_6.0", wf, "%s", why);
        return NULL;
    }
    const char *key = *user != NULL ? (*user)->username : "(anonymous)";
    if (!qxm_ratelimit_take(e->ratelimit, key, qx_mono_ms(), &out->retry_after_s)) {
        refuse(e, ev, out, 429, "QX_RATE_LIMIT", wf,
               "rate limit exceeded: more than %u calls per minute for this user",
               e->cfg->rate_limit_per_minute);
        return NULL;
    }
    out->retry_after_s = 0;
    return wf;
}

/* A tap's planned fault (qxm_event_tap), in place of the fault table's.
 * Returns true when the outcome is set; *drop_after as inject's. */
static bool impose(qxm_engine *e, const qxm_event *ev, const qxm_workflow *wf,
                   const qxm_planned_fault *plan, qxm_event_outcome *out, bool *drop_after)
{
    if (plan->status == 429) {
        out->retry_after_s = plan->retry_after_s > 0 ? plan->retry_after_s : 1;
        refuse(e, ev, out, 429, "QX_RATE_LIMIT", wf, "planned fault: HTTP 429, Retry-After %u s",
               out->retry_after_s);
        return true;
    }
    if (plan->status != 0) {
        refuse(e, ev, out, plan->status, plan->status < 500 ? "QVAL_1" : "QX_INJECTED_FAULT", wf,
               "planned fault: HTTP %d", plan->status);
        return true;
    }
    if (plan->drop_before) {
        out->drop = true;
        out->status = 0;
        journal(e, ev, out->request_id, 0,
                "planned fault: connection dropped before the run was recorded", wf);
        return true;
    }
    *drop_after = plan->drop_after;
    return false;
}

/* Injected faults. Returns true when the outcome is set (refused or
 * dropped); *drop_after when the run is to be recorded, then dropped. */
static bool inject(qxm_engine *e, const qxm_event *ev, const qxm_workflow *wf, const qxm_user *user,
                   const qxm_planned_fault *plan, qxm_event_outcome *out, bool *drop_after)
{
    qxm_fault_draw d;
    size_t wi = (size_t)(wf - e->cfg->workflows);
    const char *key = user != NULL ? user->username : "(anonymous)";
    if (plan->status != 0 || plan->drop_before || plan->drop_after)
        return impose(e, ev, wf, plan, out, drop_after);
    if (!qxm_faults_draw(e->faults, wi, e->rng, key, qx_mono_ms(), &d))
        return false;
    out->delay_ms = d.delay_ms;
    if (d.rate_limited) {
        out->retry_after_s = d.retry_after_s;
        refuse(e, ev, out, 429, "QX_RATE_LIMIT", wf,
               "rate limit exceeded: more than %u calls per minute for this user "
               "(injected limit of this workflow)",
               d.rate_limit);
        return true;
    }
    if (d.error_status != 0) {
        refuse(e, ev, out, d.error_status, "QX_INJECTED_FAULT", wf, "injected fault: HTTP %d",
               d.error_status);
        return true;
    }
    if (d.drop_before) {
        out->drop = true;
        out->status = 0;
        journal(e, ev, out->request_id, 0,
                "injected fault: connection dropped before the run was recorded", wf);
        return true;
    }
    *drop_after = d.drop_after;
    return false;
}

/* The body's checks: size, type, depth, JSON, an object. Returns true when
 * the outcome is set. */
static bool check_body(qxm_engine *e, const qxm_event *ev, const parsed_body *pb,
                       const qxm_workflow *wf, qxm_event_outcome *out)
{
    if (ev->body_too_large) {
        refuse(e, ev, out, 413, "QX_PAYLOAD_TOO_LARGE", wf,
               "payload larger than %d bytes (100 KB) is not processed", QXM_MAX_BODY_BYTES);
    } else if (!is_json_content_type(ev->content_type)) {
        refuse(e, ev, out, 415, "QX_UNSUPPORTED_MEDIA_TYPE", wf,
               "Content-Type %.100s is not JSON: only application/json bodies are processed",
               ev->content_type);
    } else if (pb->too_deep) {
        refuse(e, ev, out, 400, "QVAL_1", wf, "body nests deeper than %d levels",
               QXM_MAX_JSON_DEPTH);
    } else if (pb->payload == NULL) {
        refuse(e, ev, out, 400, "QVAL_1", wf, "body is not valid JSON: %s at position %d",
               pb->jerr.text, pb->jerr.position);
    } else if (!json_is_object(pb->payload)) {
        refuse(e, ev, out, 400, "QVAL_1", wf, "body is not a JSON object");
    } else {
        return false;
    }
    return true;
}

/* Capture event: while capture is armed for wf, its requests meet the body
 * checks right after the rate limit, with no injected fault (a sample is
 * set up by hand, not a reliability test), and the first that passes them
 * becomes the sample: 200, no run, even for a disabled workflow. Returns
 * true when the outcome is set. */
static bool capture(qxm_engine *e, const qxm_event *ev, const parsed_body *pb,
                    const qxm_workflow *wf, qxm_event_outcome *out)
{
    size_t wi = (size_t)(wf - e->cfg->workflows);
    if (!qxm_capture_is_armed(e->capture, wi))
        return false;
    if (check_body(e, ev, pb, wf, out))
        return true;
    if (!qxm_capture_take(e->capture, wi, pb->payload))
        return false; /* expired meanwhile: an ordinary request */
    out->status = 200;
    out->captured = true;
    out->workflow_id = wf->id;
    journal(e, ev, out->request_id, 200, "captured as sample", wf);
    return true;
}

/* What a run is made of that must be drawn in request order: its id, its
 * delay and the workflow's outcome (whose tasks draw contact and
 * distribution ids). Drawn under the draw lock. */
typedef struct run_draws {
    char id[64];
    uint64_t delay_ms;
    json_t *outcome; /* owned */
} run_draws;

/* The slack a run's stored text gets beyond its payload: its own members
 * and the workflow's outcome (~500 bytes for the seed workflow). */
#define RUN_TEXT_SLACK 1024

/* The identity values written after a run's stored text. */
struct identities {
    qx_buf *b;
    size_t n;
};

/* Appends one identity value, with its NUL: a qxm_run_identities callback. */
static int add_identity(void *ud, const char *value, size_t len)
{
    struct identities *ids = ud;
    if (qx_buf_add(ids->b, value, len) != 0 || qx_buf_add(ids->b, "", 1) != 0)
        return -1;
    ids->n++;
    return 0;
}

/* Appends "," key ":" and the string s (or null). Keys are literals. */
static int add_member(qx_buf *b, const char *key, const char *s)
{
    if (qx_buf_add(b, key, strlen(key)) != 0)
        return -1;
    return s != NULL ? qx_json_write_string(b, s, strlen(s)) : qx_buf_add(b, "null", 4);
}

/* The run's stored text (qxm_run_insert, doc NULL), written directly rather
 * than built as a tree and serialised: the members of the run document in
 * its order — id, workflowId, workflowName, requestId, receivedAt, payload,
 * delayMs, user, then the workflow's outcome less its status (a column) —
 * and after it the run's identity values. The payload is the body as
 * received, less the whitespace between its tokens: its key order, number
 * forms and escapes are the sender's. Returns 0, or -1 when memory runs
 * out. */
static int write_run_text(qx_buf *b, const qxm_workflow *wf, const qxm_user *user,
                          const qxm_event *ev, const char *request_id, const run_draws *d,
                          const json_t *payload, size_t *n_identities)
{
    static const char *const columns[] = {"status", "finishedAt", NULL};
    char received[QX_TIME_TEXT_MAX], delay[32];
    qx_format_time(ev->received_ms, received);
    snprintf(delay, sizeof delay, ",\"delayMs\":%" PRIu64, d->delay_ms);
    if (qx_buf_reserve(b, ev->body_len + RUN_TEXT_SLACK) != 0 ||
        add_member(b, "{\"id\":", d->id) != 0 || add_member(b, ",\"workflowId\":", wf->id) != 0 ||
        add_member(b, ",\"workflowName\":", wf->name) != 0 ||
        add_member(b, ",\"requestId\":", request_id) != 0 ||
        add_member(b, ",\"receivedAt\":", received) != 0 ||
        qx_buf_add(b, ",\"payload\":", 11) != 0 || qx_json_minify(b, ev->body, ev->body_len) != 0 ||
        qx_buf_add(b, delay, strlen(delay)) != 0 ||
        add_member(b, ",\"user\":", user != NULL ? user->username : NULL) != 0)
        return -1;
    const char *key;
    size_t key_len;
    json_t *member;
    json_object_keylen_foreach(d->outcome, key, key_len, member)
    {
        bool column = false;
        for (const char *const *c = columns; *c != NULL; c++)
            column = column || strcmp(key, *c) == 0;
        if (column)
            continue;
        if (qx_buf_add(b, ",", 1) != 0 || qx_json_write_string(b, key, key_len) != 0 ||
            qx_buf_add(b, ":", 1) != 0 || qx_json_write(b, member, NULL) != 0)
            return -1;
    }
    /* The text ends with its NUL; the identity values follow it. */
    struct identities ids = {.b = b};
    if (qx_buf_add(b, "}", 2) != 0 ||
        qxm_run_identities(payload, json_object_get(d->outcome, "eventData"), add_identity, &ids) !=
            0)
        return -1;
    *n_identities = ids.n;
    return 0;
}

/* The run to insert from what was drawn: its stored text, payload hash and
 * columns. Returns 0, or -1 with err set. Outside the draw lock. */
static int build_run(qxm_engine *e, const qxm_workflow *wf, const qxm_user *user, json_t *payload,
                     const qxm_event *ev, const char *request_id, const run_draws *d,
                     qxm_run_insert *ins, qx_error *err)
{
    const char *status = json_string_value(json_object_get(d->outcome, "status"));
    *ins = (qxm_run_insert){
        .received_ms = ev->received_ms,
        .due_ms = ev->received_ms + (int64_t)d->delay_ms,
        /* At-least-once delivery made visible: a retried
         * request whose first attempt was recorded (its
         * answer lost) shows up as a duplicate. */
        .mark_duplicate = e->cfg->duplicate_window_ms > 0,
        .duplicate_since_ms = ev->received_ms - e->cfg->duplicate_window_ms,
        .has_payload_hash = true,
        .workflow_id = wf->id,
        /* a literal: the outcome is freed before the insert */
        .final_status = status != NULL && strcmp(status, "FAILURE") == 0 ? "FAILURE" : "SUCCESS"};
    snprintf(ins->id, sizeof ins->id, "%s", d->id);
    qx_buf b = {0};
    ins->payload_hash = qxm_payload_hash(payload);
    if (write_run_text(&b, wf, user, ev, request_id, d, payload, &ins->n_identities) != 0) {
        qx_buf_free(&b);
        qx_error_set(err, "out of memory building run");
        return -1;
    }
    ins->text = qx_buf_take(&b, NULL);
    return 0;
}

/* Hands the run to the group committer (out->commit) while it runs, else
 * stores it at once. Returns 0, or -1 with err set. */
static int store_run(qxm_engine *e, qxm_run_insert *ins, qxm_event_outcome *out, qx_error *err)
{
    int rc = -1;
    if (qxm_committer_accepting(&e->committer)) {
        qxm_commit *c = calloc(1, sizeof *c);
        if (c == NULL) {
            qx_error_set(err, "out of memory");
            goto out;
        }
        c->ins = *ins;
        *ins = (qxm_run_insert){0}; /* now the commit's */
        out->commit = c;
        return 0;
    }
    rc = qxm_store_insert_runs(e->store, ins, 1, err);
    if (rc == 0 && ins->due_ms > ins->received_ms)
        qxm_scheduler_note_due(&e->sched, ins->due_ms);
    qxm_scheduler_kick(&e->sched);
out:
    free(ins->text);
    return rc;
}

/* Everything drawn under the lock: the request id, the checks, the faults,
 * the run's id, delay and outcome. Returns the workflow when a run was
 * drawn (*user, *d, *drop_after set), else NULL with the outcome set. */
static const qxm_workflow *decide(qxm_engine *e, const qxm_event *ev, const parsed_body *pb,
                                  const qxm_user **user, run_draws *d, bool *drop_after,
                                  void **cookie, qxm_event_outcome *out)
{
    qxm_planned_fault plan = {0};
    if (e->has_tap)
        *cookie = e->tap.begin(e->tap.ctx, ev, &plan);
    qx_rng_uuid(e->rng, out->request_id);
    const qxm_workflow *wf = admit(e, ev, pb, user, out);
    if (wf == NULL || capture(e, ev, pb, wf, out) ||
        inject(e, ev, wf, *user, &plan, out, drop_after) || check_body(e, ev, pb, wf, out))
        return NULL;
    if (!wf->enabled) {
        /* Qualtrics answers as usual and no run appears in the history. */
        out->status = 200;
        journal(e, ev, out->request_id, 200,
                "workflow is disabled: request accepted, no run started", wf);
        return NULL;
    }
    qx_rng_id(e->rng, "RUN_", RUN_ID_CHARS, d->id, sizeof d->id);
    order_run_id(d->id, e->runs_drawn++);
    d->delay_ms = qx_rng_range(e->rng, wf->delay_min_ms, wf->delay_max_ms);
    d->outcome = qxm_workflow_execute(wf, pb->payload, e->directory, e->rng);
    if (d->outcome == NULL) {
        qx_log(QX_LOG_ERROR,
               "running workflow %s: out of memory, or a directory error logged above", wf->id);
        refuse(e, ev, out, 500, "QX_STORE_ERROR", wf, "the run could not be recorded");
        return NULL;
    }
    return wf;
}

void qxm_engine_event(qxm_engine *e, const qxm_event *ev, qxm_event_outcome *out)
{
    *out = (qxm_event_outcome){0};
    parsed_body pb;
    parse_body(ev, &pb);
    const qxm_user *user = NULL;
    run_draws d = {.outcome = NULL};
    bool drop_after = false;
    void *cookie = NULL;
    pthread_mutex_lock(&e->draw_lock);
    const qxm_workflow *wf = decide(e, ev, &pb, &user, &d, &drop_after, &cookie, out);
    pthread_mutex_unlock(&e->draw_lock);
    if (wf != NULL) {
        qx_error err;
        qxm_run_insert ins;
        if (build_run(e, wf, user, pb.payload, ev, out->request_id, &d, &ins, &err) == 0 &&
            store_run(e, &ins, out, &err) == 0) {
            out->status = 200;
            out->run_started = true;
            snprintf(out->run_id, sizeof out->run_id, "%s", d.id);
            out->workflow_id = wf->id;
            /* The run is recorded; the answer is lost on the way (the sender
             * sees a dropped connection and retries: the retry is marked
             * duplicateOf). */
            out->drop = drop_after;
        } else {
            qx_log(QX_LOG_ERROR, "storing run for %s: %s", wf->id, err.text);
            refuse(e, ev, out, 500, "QX_STORE_ERROR", wf, "the run could not be recorded");
        }
    }
    if (e->has_tap)
        e->tap.end(e->tap.ctx, cookie, out);
    json_decref(d.outcome);
    json_decref(pb.payload);
}
