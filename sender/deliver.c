/*
 * deliver.c — the delivery engine: a libcurl multi handle (driven by
 * qxs_multi_poll), a pool of easy handles, and three kinds of waiting
 * payloads.
 *
 * Each easy handle ("slot") is configured once for the destination; a call
 * only sets its body. What libcurl would otherwise redo for every call is
 * done once here: the URL is parsed once (CURLOPT_CURLU), the Basic
 * Authorization header is built once into the header list, and, when the
 * environment names no proxy, libcurl is told so once.
 *
 * A payload is dumped to its body when submitted and its JSON tree freed at
 * once: the body is what is sent, traced, and (parsed back) dead-lettered.
 * The answer of a 2xx is read and dropped unless a trace wants it: only a
 * failure's body explains anything.
 *
 * A job (one payload) is always in exactly one place:
 *   - the FIFO of its identity key, behind an earlier payload of the same
 *     identity that has not finished (this is the ordering guarantee);
 *   - the ready list, free to start when a slot is free;
 *   - in flight, attached to the multi handle;
 *   - the waiting list, until its retry is due.
 * A key is "busy" while one of its jobs is ready, in flight or waiting; when
 * that job finishes for good, the next job of the key (if any) becomes ready.
 * Keys live in a small chained hash table and disappear when idle.
 *
 * Retries follow qxs_retry (the platform's policy by default). Every job ends
 * exactly once, in finish(): activated in the report, or failed in the
 * report and the dead-letter file.
 *
 * Throttling sits in one place, may_start(), asked before every start (first
 * attempts and retries alike): a Retry-After pause of the destination (set
 * by a 429 in on_done) holds everything back; otherwise, when paced, the
 * request takes a token from the bucket. What is held back stays at the
 * head of the ready list, and throttle_wait_ms() tells run_once how long to
 * wait before it can start, which becomes the poll time-out.
 */
#include "qxs_deliver.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "qx_buf.h"
#include "qx_clock.h"
#include "qx_log.h"
#include "qxs_deadletter.h"
#include "qxs_multi_poll.h"
#include "qxs_pace.h"
#include "qxs_render.h"
#include "qxs_trace.h"

#define KEY_BUCKETS_MIN 256
#define HEADER_BLOCK_MAX 16384
#define REASON_MAX 512

typedef struct keyq keyq;
typedef struct slot slot;

typedef struct job {
    struct job *next; /* in the ready list, the waiting list or its key's FIFO */
    json_t *payload;  /* until body is made; then again for a dead-letter record */
    char *body;
    size_t body_len;
    keyq *kq; /* NULL: no identity, no ordering constraint */
    size_t line_no;
    int attempts;
    long status;             /* of the last attempt; 0: no HTTP answer */
    char reason[REASON_MAX]; /* of the last failed attempt */
    int64_t due_mono_ms;
    int64_t attempt_at_ms; /* wall clock, last attempt start */
    int64_t started_us;
} job;

/* An easy handle, configured once for the destination, and what one call on
 * it collects. A job borrows a slot for each attempt. */
struct slot {
    CURL *easy;
    job *j;                         /* the call in flight on it; NULL when idle */
    qx_buf resp, resp_hdr, req_hdr; /* each kept up to its limit */
    bool body_decided, keep_body;
    bool tracing;
    char errbuf[CURL_ERROR_SIZE];
};

struct keyq {
    char *key;
    keyq *hnext;
    job *head, *tail; /* jobs waiting behind the busy one */
};

struct qxs_deliverer {
    qxs_deliver_options o;
    CURLM *multi;
    qxs_multi_poll *poller; /* waits for libcurl's sockets and the owner's fds */
    struct curl_slist *headers;
    CURLU *url;        /* the URL parsed once for every call; NULL: given as text */
    bool no_proxy_env; /* no proxy variable set: libcurl would use no proxy */
    qx_buf scratch;    /* where bodies are dumped */
    slot *slots;       /* concurrency of them, created as needed */
    size_t n_slots;
    slot **idle; /* the slots not in flight */
    size_t n_idle;
    job *ready_head, *ready_tail;
    job *waiting;
    size_t in_flight, pending;
    keyq **buckets;
    size_t n_buckets, n_keys;
    bool cancelled;
    bool paused;
    bool pacing;                      /* o.rate_per_minute > 0 */
    qxs_pace pace;                    /* the bucket, when pacing */
    bool ra_active;                   /* a Retry-After pause not yet counted in full */
    int64_t ra_since_us, ra_until_us; /* the pause (monotonic µs) */
    long ra_seconds;                  /* the Retry-After that set ra_until_us */
};

/* ---- small helpers ---------------------------------------------------- */

/* Appends what fits of data below limit bytes; the rest is dropped, not an
 * error. Returns 0, or -1 when memory runs out. */
static int add_limited(qx_buf *b, const char *data, size_t n, size_t limit)
{
    if (b->len >= limit)
        return 0;
    if (n > limit - b->len)
        n = limit - b->len;
    return qx_buf_add(b, data, n);
}

static size_t hash_key(const char *s)
{
    size_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* ---- identity keys ------------------------------------------------------ */

static int keys_grow(qxs_deliverer *d)
{
    size_t n = d->n_buckets ? d->n_buckets * 2 : KEY_BUCKETS_MIN;
    keyq **b = calloc(n, sizeof *b);
    if (b == NULL)
        return -1;
    for (size_t i = 0; i < d->n_buckets; i++) {
        keyq *k = d->buckets[i];
        while (k != NULL) {
            keyq *next = k->hnext;
            size_t at = hash_key(k->key) % n;
            k->hnext = b[at];
            b[at] = k;
            k = next;
        }
    }
    free(d->buckets);
    d->buckets = b;
    d->n_buckets = n;
    return 0;
}

/* The key's entry; *created tells whether it was idle (absent) before. */
static keyq *key_acquire(qxs_deliverer *d, const char *key, bool *created)
{
    *created = false;
    if (d->n_keys >= d->n_buckets && keys_grow(d) != 0)
        return NULL;
    size_t at = hash_key(key) % d->n_buckets;
    for (keyq *k = d->buckets[at]; k != NULL; k = k->hnext)
        if (strcmp(k->key, key) == 0)
            return k;
    keyq *k = calloc(1, sizeof *k);
    if (k == NULL || (k->key = strdup(key)) == NULL) {
        free(k);
        return NULL;
    }
    k->hnext = d->buckets[at];
    d->buckets[at] = k;
    d->n_keys++;
    *created = true;
    return k;
}

static void key_remove(qxs_deliverer *d, keyq *k)
{
    keyq **pp = &d->buckets[hash_key(k->key) % d->n_buckets];
    while (*pp != k)
        pp = &(*pp)->hnext;
    *pp = k->hnext;
    d->n_keys--;
    free(k->key);
    free(k);
}

/* ---- lists -------------------------------------------------------------- */

static void ready_push(qxs_deliverer *d, job *j, bool front)
{
    j->next = NULL;
    if (d->ready_head == NULL) {
        d->ready_head = d->ready_tail = j;
    } else if (front) {
        j->next = d->ready_head;
        d->ready_head = j;
    } else {
        d->ready_tail->next = j;
        d->ready_tail = j;
    }
}

static job *ready_pop(qxs_deliverer *d)
{
    job *j = d->ready_head;
    if (j != NULL) {
        d->ready_head = j->next;
        if (d->ready_head == NULL)
            d->ready_tail = NULL;
        j->next = NULL;
    }
    return j;
}

static void job_free(job *j)
{
    json_decref(j->payload);
    free(j->body);
    free(j);
}

/* ---- the end of a job --------------------------------------------------- */

/* The job is done for good: its key's next job (if any) becomes ready. */
static void release(qxs_deliverer *d, job *j)
{
    keyq *k = j->kq;
    if (k != NULL) {
        job *next = k->head;
        if (next != NULL) {
            k->head = next->next;
            if (k->head == NULL)
                k->tail = NULL;
            ready_push(d, next, false);
        } else {
            key_remove(d, k);
        }
    }
    d->pending--;
    job_free(j);
}

static void finish_delivered(qxs_deliverer *d, job *j)
{
    qxs_report_activated(d->o.report);
    qxs_state_activated(d->o.state, j->line_no);
    qx_log(QX_LOG_DEBUG, "line %zu: delivered (HTTP %ld, attempt %d)", j->line_no, j->status,
           j->attempts);
    release(d, j);
}

static void finish_failed(qxs_deliverer *d, job *j, const char *reason_key, const char *reason)
{
    if (qxs_report_failed(d->o.report, reason_key) != 0)
        qx_log(QX_LOG_ERROR, "report: out of memory");
    qx_log(QX_LOG_WARN, "line %zu: failed after %d attempt%s: %s", j->line_no, j->attempts,
           j->attempts == 1 ? "" : "s", reason);
    if (d->o.dead_letter != NULL && j->payload == NULL && j->body != NULL)
        j->payload = json_loadb(j->body, j->body_len, JSON_ALLOW_NUL, NULL); /* as dumped */
    if ((d->o.dead_letter != NULL && j->payload == NULL) ||
        qxs_dead_letter_write(d->o.dead_letter, j->payload, reason, j->status, j->attempts,
                              j->attempts > 0 ? j->attempt_at_ms : 0, j->line_no) != 0)
        qx_log(QX_LOG_ERROR, "line %zu: cannot write the dead-letter record", j->line_no);
    /* after the dead-letter record (written and flushed): a kill between the
     * two re-sends the payload rather than losing it */
    qxs_state_failed(d->o.state, j->line_no, reason_key);
    release(d, j);
}

static void fail_interrupted(qxs_deliverer *d, job *j)
{
    char reason[REASON_MAX + 64];
    if (j->attempts == 0)
        snprintf(reason, sizeof reason, "interrupted before delivery");
    else
        snprintf(reason, sizeof reason, "interrupted before retry; last attempt: %s", j->reason);
    finish_failed(d, j, "interrupted", reason);
}

/* ---- libcurl callbacks -------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    slot *s = ud;
    size_t n = size * nmemb;
    if (!s->body_decided) {
        /* the body of a success explains nothing: kept only for a trace */
        long status = 0;
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
        s->keep_body = s->tracing || status < 200 || status >= 300;
        s->body_decided = true;
    }
    if (!s->keep_body)
        return n;
    /* beyond the limit the rest is read and dropped, not an error */
    return add_limited(&s->resp, data, n, QXS_MAX_RESPONSE_BYTES) == 0 ? n : 0;
}

/* Only with a trace: the answer's header block, as received. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    slot *s = ud;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0)
        qx_buf_reset(&s->resp_hdr); /* a new response (after a 1xx) */
    return add_limited(&s->resp_hdr, data, n, HEADER_BLOCK_MAX) == 0 ? n : 0;
}

/* Only with a trace: the request's header block, as sent. */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *ud)
{
    (void)h;
    slot *s = ud;
    if (type == CURLINFO_HEADER_OUT)
        (void)add_limited(&s->req_hdr, data, size, HEADER_BLOCK_MAX);
    return 0;
}

/* ---- starting and finishing HTTP calls ---------------------------------- */

typedef struct transport_failure {
    const char *key;  /* failedReasons key */
    const char *text; /* start of the reason */
    bool retryable;
} transport_failure;

/* Why no usable HTTP answer came. */
static transport_failure classify(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return (transport_failure){"timeout", "timeout", true};
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL: /* "Received HTTP/0.9 when not allowed": not HTTP */
    case CURLE_BAD_CONTENT_ENCODING:
        return (transport_failure){"invalidResponse", "invalid response", true};
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        /* waiting does not make a certificate valid */
        return (transport_failure){"certificateError", "TLS certificate error", false};
    default:
        return (transport_failure){"connectionError", "connection error", true};
    }
}

/* Sets everything that is the same for every call: per call only the body
 * changes (suggested by libcurl's own advice to reuse easy handles: the
 * options, the connection cache and the buffers stay). */
static void slot_configure(qxs_deliverer *d, slot *s)
{
    CURL *h = s->easy;
    s->tracing = d->o.trace != NULL;
    /* parsed once: a call then copies its parts instead of parsing the text */
    if (d->url != NULL)
        curl_easy_setopt(h, CURLOPT_CURLU, d->url);
    else
        curl_easy_setopt(h, CURLOPT_URL, d->o.url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, d->headers);
    /* Basic auth is in the header list (add_basic_auth): the same header,
     * not rebuilt by libcurl for every call */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, d->o.timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    /* never follow: a redirect would carry the credentials elsewhere */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (d->o.ca_file != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, d->o.ca_file);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    if (d->no_proxy_env) {
        /* what libcurl would find in the environment, said once: it would
         * otherwise read its proxy variables again for every call */
        curl_easy_setopt(h, CURLOPT_PROXY, "");
        curl_easy_setopt(h, CURLOPT_NOPROXY, "");
    }
    curl_easy_setopt(h, CURLOPT_USERAGENT, "qx-send/" QX_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(h, CURLOPT_PRIVATE, s);
    if (s->tracing) {
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, s);
        /* libcurl hands over the header block it really sent only through
         * its debug callback, which needs VERBOSE */
        curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
        curl_easy_setopt(h, CURLOPT_DEBUGDATA, s);
        curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
    }
}

/* An idle slot; a new one while fewer than concurrency exist. */
static slot *take_slot(qxs_deliverer *d)
{
    if (d->n_idle > 0)
        return d->idle[--d->n_idle];
    if (d->n_slots == (size_t)d->o.concurrency)
        return NULL; /* not reached: in_flight < concurrency when starting */
    slot *s = &d->slots[d->n_slots];
    if ((s->easy = curl_easy_init()) == NULL)
        return NULL;
    slot_configure(d, s);
    d->n_slots++;
    return s;
}

static int start(qxs_deliverer *d, job *j)
{
    slot *s = take_slot(d);
    if (s == NULL)
        return -1;
    qx_buf_reset(&s->resp);
    qx_buf_reset(&s->resp_hdr);
    qx_buf_reset(&s->req_hdr);
    s->body_decided = false;
    s->errbuf[0] = '\0';
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body_len);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, j->body);
    if (curl_multi_add_handle(d->multi, s->easy) != CURLM_OK) {
        d->idle[d->n_idle++] = s;
        return -1;
    }
    s->j = j;
    j->attempts++;
    j->attempt_at_ms = qx_now_ms();
    j->started_us = qx_mono_us();
    d->in_flight++;
    return 0;
}

/* ---- Retry-After pauses and pacing ------------------------------------------- */

/* Ends the record of a Retry-After pause that is over at now_us (or, with
 * force, cut short now): its time goes to the report. */
static void pause_close(qxs_deliverer *d, int64_t now_us, bool force)
{
    if (!d->ra_active || (!force && now_us < d->ra_until_us))
        return;
    int64_t end = now_us < d->ra_until_us ? now_us : d->ra_until_us;
    qxs_report_retry_after_paused_ms(d->o.report, (end - d->ra_since_us) / 1000);
    d->ra_active = false;
}

/* True while a Retry-After pause holds every start back. */
static bool pause_holds(qxs_deliverer *d, int64_t now_us)
{
    pause_close(d, now_us, false);
    return now_us < d->ra_until_us;
}

/* A 429 asked to wait retry_after_s: nothing starts until then (a pause
 * already running is lengthened, never shortened). */
static void pause_for(qxs_deliverer *d, curl_off_t retry_after_s, size_t line_no)
{
    /* capped before multiplying: a server may send any number */
    int64_t ms = retry_after_s > QXS_RETRY_AFTER_MAX_MS / 1000 ? QXS_RETRY_AFTER_MAX_MS
                                                               : (int64_t)retry_after_s * 1000;
    int64_t now = qx_mono_us(), until = now + ms * 1000;
    if (ms <= 0 || until <= d->ra_until_us)
        return;
    if (!pause_holds(d, now)) {
        qxs_report_retry_after_pause(d->o.report);
        d->ra_active = true;
        d->ra_since_us = now;
    }
    d->ra_until_us = until;
    d->ra_seconds = (long)(ms / 1000);
    qx_log(QX_LOG_INFO, "line %zu: HTTP 429 with Retry-After %lld s: no request starts for %lld ms",
           line_no, (long long)retry_after_s, (long long)ms);
}

/* Whether a request may start now; when paced, it takes its token. */
static bool may_start(qxs_deliverer *d)
{
    int64_t now = qx_mono_us();
    if (pause_holds(d, now))
        return false;
    return !d->pacing || qxs_pace_take(&d->pace, now);
}

/* Microseconds as poll milliseconds, rounded up: waking before the token
 * is there would only wake again. */
static int64_t ceil_ms(int64_t us)
{
    return us <= 0 ? 0 : (us + 999) / 1000;
}

/* How long a ready job that has a free slot waits for the pause to end or
 * for its token; INT64_MAX when none waits for either. */
static int64_t throttle_wait_ms(qxs_deliverer *d)
{
    if (d->paused || d->cancelled || d->ready_head == NULL ||
        d->in_flight >= (size_t)d->o.concurrency)
        return INT64_MAX;
    int64_t now = qx_mono_us();
    if (pause_holds(d, now))
        return ceil_ms(d->ra_until_us - now);
    if (d->pacing)
        return ceil_ms(qxs_pace_wait_us(&d->pace, now));
    return INT64_MAX;
}

/* Starts ready jobs while slots are free and the throttle lets them; after
 * a cancel, fails them. */
static void start_ready(qxs_deliverer *d)
{
    job *j;
    if (d->paused)
        return;
    while (d->ready_head != NULL && (d->cancelled || d->in_flight < (size_t)d->o.concurrency)) {
        if (!d->cancelled && !may_start(d))
            break;
        j = ready_pop(d);
        if (d->cancelled) {
            fail_interrupted(d, j);
            continue;
        }
        if (start(d, j) != 0) {
            snprintf(j->reason, sizeof j->reason, "cannot start an HTTP request");
            finish_failed(d, j, "internalError", j->reason);
        }
    }
}

/* Moves waiting jobs whose retry is due to the front of the ready list.
 * Returns the time until the next one is due (INT64_MAX: none). */
static int64_t promote_due(qxs_deliverer *d)
{
    int64_t now = qx_mono_ms(), next = INT64_MAX;
    if (d->paused)
        return next;
    job **pp = &d->waiting;
    while (*pp != NULL) {
        job *j = *pp;
        if (d->cancelled || j->due_mono_ms <= now) {
            *pp = j->next;
            ready_push(d, j, true);
        } else {
            if (j->due_mono_ms - now < next)
                next = j->due_mono_ms - now;
            pp = &j->next;
        }
    }
    return next;
}

/* "HTTP 401: <the envelope's errorMessage>"; for a 3xx, where it pointed. */
static void describe_status(job *j, const slot *s)
{
    const char *msg = NULL;
    if (j->status >= 300 && j->status < 400) {
        char *to = NULL;
        curl_easy_getinfo(s->easy, CURLINFO_REDIRECT_URL, &to);
        if (snprintf(j->reason, sizeof j->reason,
                     "HTTP %ld: redirect to %s not followed (credentials are only sent to the "
                     "destination's URL)",
                     j->status, to != NULL ? to : "(no Location)") < 0)
            j->reason[0] = '\0';
        return;
    }
    json_t *body = s->resp.data != NULL ? json_loadb(s->resp.data, s->resp.len, 0, NULL) : NULL;
    json_t *m =
        json_object_get(json_object_get(json_object_get(body, "meta"), "error"), "errorMessage");
    msg = json_string_value(m);
    if (msg != NULL)
        snprintf(j->reason, sizeof j->reason, "HTTP %ld: %s", j->status, msg);
    else
        snprintf(j->reason, sizeof j->reason, "HTTP %ld", j->status);
    json_decref(body);
}

static void write_trace(qxs_deliverer *d, const slot *s, int64_t duration_us, CURLcode rc)
{
    const job *j = s->j;
    qxs_trace_call c = {
        .line_no = j->line_no,
        .attempt = j->attempts,
        .started_at_ms = j->attempt_at_ms,
        .duration_us = duration_us,
        .method = "POST",
        .url = d->o.url,
        .request_headers = s->req_hdr.data,
        .request_body = j->body,
        .request_body_len = j->body_len,
        .status = j->status,
        .response_headers = s->resp_hdr.data,
        .response_body = s->resp.data,
        .response_body_len = s->resp.len,
        .error = rc == CURLE_OK ? NULL : j->reason,
    };
    if (qxs_trace_write(d->o.trace, &c) != 0)
        qx_log(QX_LOG_ERROR, "line %zu: cannot write the trace record", j->line_no);
}

static void on_done(qxs_deliverer *d, CURL *h, CURLcode rc)
{
    slot *s = NULL;
    curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&s);
    job *j = s->j;
    int64_t duration_us = qx_mono_us() - j->started_us;
    j->status = 0;
    curl_off_t retry_after_s = -1;
    const char *reason_key;
    char key_buf[32] = "";
    bool retryable = true;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &j->status);
        if (j->status == 429 || j->status == 503)
            curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after_s);
        if (j->status < 200 || j->status >= 300) {
            describe_status(j, s); /* parsing the answer only when it explains a failure */
            snprintf(key_buf, sizeof key_buf, "http%ld", j->status);
        }
        reason_key = key_buf; /* "http<status>": named only for a failure */
    } else {
        transport_failure f = classify(rc);
        if (snprintf(j->reason, sizeof j->reason, "%s: %s", f.text,
                     s->errbuf[0] != '\0' ? s->errbuf : curl_easy_strerror(rc)) < 0)
            j->reason[0] = '\0';
        reason_key = f.key;
        retryable = f.retryable;
    }
    if (qxs_report_latency_us(d->o.report, duration_us) != 0)
        qx_log(QX_LOG_ERROR, "report: out of memory");
    if (d->o.trace != NULL)
        write_trace(d, s, duration_us, rc);
    curl_multi_remove_handle(d->multi, h);
    s->j = NULL;
    d->idle[d->n_idle++] = s;
    d->in_flight--;
    /* whatever becomes of this payload: the destination asked for quiet */
    if (j->status == 429 && retry_after_s > 0)
        pause_for(d, retry_after_s, j->line_no);

    qxs_retry_verdict v = qxs_retry_decide(&d->o.retry, j->status, j->attempts);
    if (v == QXS_RETRY && !retryable)
        v = QXS_FAILED;
    if (v == QXS_DELIVERED) {
        finish_delivered(d, j);
    } else if (v == QXS_RETRY && d->paused) {
        /* stays unfinished: the state keeps it for the next run */
        j->due_mono_ms = 0;
        j->next = d->waiting;
        d->waiting = j;
    } else if (v == QXS_RETRY && !d->cancelled) {
        int64_t ra_ms = retry_after_s >= 0 ? (int64_t)retry_after_s * 1000 : -1;
        int64_t delay = qxs_retry_delay_ms(&d->o.retry, j->attempts, qx_rng_unit(d->o.rng), ra_ms);
        qxs_report_retry(d->o.report);
        qxs_state_retry(d->o.state, j->line_no);
        qx_log(QX_LOG_INFO, "line %zu: %s; retry %d in %lld ms", j->line_no, j->reason, j->attempts,
               (long long)delay);
        j->due_mono_ms = qx_mono_ms() + delay;
        j->next = d->waiting;
        d->waiting = j;
    } else if (v == QXS_RETRY) {
        fail_interrupted(d, j);
    } else {
        finish_failed(d, j, reason_key, j->reason);
    }
}

/* Finishes the transfers libcurl has completed. Returns how many. */
static size_t reap(qxs_deliverer *d)
{
    CURLMsg *msg;
    int left;
    size_t n = 0;
    while ((msg = curl_multi_info_read(d->multi, &left)) != NULL)
        if (msg->msg == CURLMSG_DONE) {
            on_done(d, msg->easy_handle, msg->data.result);
            n++;
        }
    return n;
}

/* ---- the Authorization header -------------------------------------------- */

/* Zeroes n bytes at p in a way the compiler keeps (the memory is freed next). */
static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n-- > 0)
        *v++ = 0;
}

static void wipe_buf(qx_buf *b)
{
    if (b->data != NULL)
        wipe(b->data, b->cap);
    qx_buf_free(b);
}

/* Appends base64 (RFC 4648, padded) of in[0..n) to out. */
static int add_base64(qx_buf *out, const unsigned char *in, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        char q[4] = {abc[v >> 18], abc[(v >> 12) & 63], i + 1 < n ? abc[(v >> 6) & 63] : '=',
                     i + 2 < n ? abc[v & 63] : '='};
        if (qx_buf_add(out, q, 4) != 0)
            return -1;
    }
    return 0;
}

/* Appends "Authorization: Basic base64(username:password)" to the header
 * list: the header libcurl's CURLAUTH_BASIC would send, built once instead
 * of for every call. The working copies are wiped; the list entry is wiped
 * when the deliverer is freed. Returns 0, or -1 when memory runs out. */
static int add_basic_auth(qxs_deliverer *d)
{
    const char *user = d->o.username != NULL ? d->o.username : "";
    const char *pass = d->o.password != NULL ? d->o.password : "";
    qx_buf plain = {0}, hdr = {0};
    int rc = -1;
    /* Both buffers sized once: growing one would free an unwiped copy. */
    size_t n = strlen(user) + 1 + strlen(pass);
    if (qx_buf_reserve(&plain, n) == 0 && qx_buf_reserve(&hdr, 21 + 4 * ((n + 2) / 3) + 1) == 0 &&
        qx_buf_add(&plain, user, strlen(user)) == 0 && qx_buf_add(&plain, ":", 1) == 0 &&
        qx_buf_add(&plain, pass, strlen(pass)) == 0 &&
        qx_buf_add(&hdr, "Authorization: Basic ", 21) == 0 &&
        add_base64(&hdr, (const unsigned char *)plain.data, plain.len) == 0 &&
        qx_buf_add(&hdr, "", 1) == 0) {
        struct curl_slist *l = curl_slist_append(d->headers, hdr.data);
        if (l != NULL) {
            d->headers = l;
            rc = 0;
        }
    }
    wipe_buf(&plain);
    wipe_buf(&hdr);
    return rc;
}

/* True when none of the variables libcurl reads to pick a proxy is set
 * (https_proxy and HTTPS_PROXY for https, http_proxy for http, all_proxy,
 * ALL_PROXY; no_proxy and NO_PROXY): then libcurl uses no proxy. */
static bool no_proxy_variables(void)
{
    static const char *const vars[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy",
                                       "ALL_PROXY",  "no_proxy",    "NO_PROXY"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]) != NULL)
            return false;
    return true;
}

/* ---- public interface ----------------------------------------------------- */

qxs_deliverer *qxs_deliverer_new(const qxs_deliver_options *opt, qx_error *err)
{
    if (opt->concurrency < 1 || opt->concurrency > QXS_MAX_CONCURRENCY) {
        qx_error_set(err, "concurrency %d: expected 1 to %d", opt->concurrency,
                     QXS_MAX_CONCURRENCY);
        return NULL;
    }
    if (opt->rate_per_minute < 0 || opt->rate_per_minute > QXS_PACE_MAX_PER_MINUTE) {
        qx_error_set(err, "rate %ld a minute: expected 1 to %ld", opt->rate_per_minute,
                     QXS_PACE_MAX_PER_MINUTE);
        return NULL;
    }
    qxs_deliverer *d = calloc(1, sizeof *d);
    if (d == NULL)
        goto oom;
    d->o = *opt;
    d->slots = calloc((size_t)opt->concurrency, sizeof *d->slots);
    d->idle = calloc((size_t)opt->concurrency, sizeof *d->idle);
    d->multi = curl_multi_init();
    if (d->slots == NULL || d->idle == NULL || d->multi == NULL || keys_grow(d) != 0)
        goto oom;
    /* a socket per request in flight, and a few being closed */
    if ((d->poller = qxs_multi_poll_new(d->multi, (size_t)opt->concurrency + 8)) == NULL)
        goto oom;
    /* "Expect:" turns off 100-continue: one round trip per event */
    const char *hdrs[] = {"Content-Type: application/json", "Accept: application/json", "Expect:"};
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
        struct curl_slist *l = curl_slist_append(d->headers, hdrs[i]);
        if (l == NULL)
            goto oom;
        d->headers = l;
    }
    if (add_basic_auth(d) != 0)
        goto oom;
    d->no_proxy_env = no_proxy_variables();
    if ((d->url = curl_url()) != NULL &&
        curl_url_set(d->url, CURLUPART_URL, opt->url, 0) != CURLUE_OK) {
        curl_url_cleanup(d->url); /* libcurl says why, call by call */
        d->url = NULL;
    }
    if (opt->rate_per_minute > 0) {
        d->pacing = true;
        qxs_pace_init(&d->pace, opt->rate_per_minute, qx_mono_us());
    }
    curl_multi_setopt(d->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)opt->concurrency);
    curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)opt->concurrency);
    return d;
oom:
    qx_error_set(err, "deliverer: out of memory");
    qxs_deliverer_free(d);
    return NULL;
}

void qxs_deliverer_free(qxs_deliverer *d)
{
    if (d == NULL)
        return;
    pause_close(d, qx_mono_us(), true);
    /* drop whatever is left: in flight, ready, waiting, queued behind keys */
    for (size_t i = 0; i < d->n_slots; i++) {
        slot *s = &d->slots[i];
        if (s->j != NULL) {
            curl_multi_remove_handle(d->multi, s->easy);
            job_free(s->j);
        }
    }
    for (job *j = ready_pop(d); j != NULL; j = ready_pop(d))
        job_free(j);
    while (d->waiting != NULL) {
        job *j = d->waiting;
        d->waiting = j->next;
        job_free(j);
    }
    for (size_t i = 0; i < d->n_buckets; i++) {
        while (d->buckets[i] != NULL) {
            keyq *k = d->buckets[i];
            d->buckets[i] = k->hnext;
            while (k->head != NULL) {
                job *j = k->head;
                k->head = j->next;
                job_free(j);
            }
            free(k->key);
            free(k);
        }
    }
    free(d->buckets);
    for (size_t i = 0; i < d->n_slots; i++) {
        curl_easy_cleanup(d->slots[i].easy);
        qx_buf_free(&d->slots[i].resp);
        qx_buf_free(&d->slots[i].resp_hdr);
        qx_buf_free(&d->slots[i].req_hdr);
    }
    free(d->slots);
    free(d->idle);
    for (struct curl_slist *l = d->headers; l != NULL; l = l->next)
        if (strncmp(l->data, "Authorization:", 14) == 0)
            wipe(l->data, strlen(l->data)); /* the credentials */
    curl_slist_free_all(d->headers);
    curl_url_cleanup(d->url);
    if (d->multi != NULL)
        curl_multi_cleanup(d->multi); /* tells the poller its sockets are gone */
    qxs_multi_poll_free(d->poller);
    qx_buf_free(&d->scratch);
    free(d);
}

/* The request body, in a block of its exact size (dumped into the
 * deliverer's scratch buffer first: one allocation per payload). */
static int dump_body(qxs_deliverer *d, const json_t *payload, job *j)
{
    size_t n = qxs_payload_dump(payload, &d->scratch);
    if (n == 0 || (j->body = malloc(n + 1)) == NULL)
        return -1;
    memcpy(j->body, d->scratch.data, n + 1); /* with its NUL */
    j->body_len = n;
    return 0;
}

int qxs_deliverer_submit(qxs_deliverer *d, json_t *payload, size_t line_no, qx_error *err)
{
    char *key = NULL;
    job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        json_decref(payload);
        goto oom;
    }
    j->payload = payload;
    j->line_no = line_no;
    d->pending++;
    if (dump_body(d, payload, j) != 0)
        goto oom;
    key = qxs_payload_identity_key(payload);
    /* from here on the body is the payload: the tree is freed now, while it
     * is still in the cache, rather than after the call (a failure parses
     * the body again for its dead-letter record) */
    json_decref(payload);
    j->payload = NULL;
    if (key != NULL) {
        bool idle;
        j->kq = key_acquire(d, key, &idle);
        if (j->kq == NULL)
            goto oom;
        free(key);
        key = NULL;
        if (!idle) {
            /* an earlier payload of this identity has not finished */
            if (j->kq->tail != NULL)
                j->kq->tail->next = j;
            else
                j->kq->head = j;
            j->kq->tail = j;
            return 0;
        }
    }
    ready_push(d, j, false);
    if (d->cancelled)
        start_ready(d);
    return 0;
oom:
    free(key);
    qx_error_set(err, "line %zu: out of memory", line_no);
    if (j != NULL) {
        snprintf(j->reason, sizeof j->reason, "out of memory");
        j->kq = NULL;
        finish_failed(d, j, "internalError", j->reason);
    } else {
        if (qxs_report_failed(d->o.report, "internalError") != 0)
            qx_log(QX_LOG_ERROR, "report: out of memory");
        qxs_state_failed(d->o.state, line_no, "internalError");
    }
    return -1;
}

size_t qxs_deliverer_pending(const qxs_deliverer *d)
{
    return d->pending;
}

size_t qxs_deliverer_in_flight(const qxs_deliverer *d)
{
    return d->in_flight;
}

void qxs_deliverer_pause(qxs_deliverer *d)
{
    d->paused = true;
}

int qxs_deliverer_run_once(qxs_deliverer *d, int max_wait_ms, qxs_watch *watch, size_t n_watch,
                           qx_error *err)
{
    /* every outcome and every queued line so far is recorded before libcurl
     * may send anything more: after a kill, only requests in flight now can
     * be sent twice */
    if (qxs_state_flush(d->o.state, err) != 0)
        return -1;
    int64_t next_due = promote_due(d);
    start_ready(d);
    /* new transfers start now (their requests go out before the wait); a
     * fast answer may already have completed one: then no waiting */
    if (qxs_multi_poll_run_timer(d->poller, err) != 0)
        return -1;
    int64_t wait = max_wait_ms < 0 ? 0 : max_wait_ms;
    if (reap(d) > 0)
        wait = 0;
    if (next_due < wait)
        wait = next_due;
    int64_t throttled = throttle_wait_ms(d); /* the pause, or the next token */
    if (throttled < wait)
        wait = throttled;
    if (qxs_multi_poll_wait(d->poller, wait, watch, n_watch, err) != 0)
        return -1;
    reap(d);
    promote_due(d);
    start_ready(d);
    return 0;
}

qxs_throttle qxs_deliverer_throttle(const qxs_deliverer *d)
{
    qxs_throttle t = {.rate_per_minute = d->pacing ? d->o.rate_per_minute : 0};
    int64_t now = qx_mono_us();
    if (now < d->ra_until_us) {
        t.pause_left_ms = ceil_ms(d->ra_until_us - now);
        t.retry_after_s = d->ra_seconds;
    } else if (d->pacing && !d->paused && !d->cancelled && d->ready_head != NULL &&
               d->in_flight < (size_t)d->o.concurrency) {
        t.paced = qxs_pace_wait_us(&d->pace, now) > 0;
    }
    return t;
}

void qxs_deliverer_abandon(qxs_deliverer *d, const char *reason)
{
    if (d == NULL || d->o.state != NULL)
        return;
    for (size_t i = 0; i < d->n_slots; i++) {
        slot *s = &d->slots[i];
        job *j = s->j;
        if (j == NULL)
            continue;
        curl_multi_remove_handle(d->multi, s->easy);
        s->j = NULL;
        d->idle[d->n_idle++] = s;
        d->in_flight--;
        snprintf(j->reason, sizeof j->reason, "%s", reason);
        finish_failed(d, j, "internalError", j->reason);
    }
    d->cancelled = true;
    promote_due(d); /* every retry is due now */
    job *j;
    while ((j = ready_pop(d)) != NULL) { /* release() readies an identity's next */
        snprintf(j->reason, sizeof j->reason, "%s", reason);
        finish_failed(d, j, "internalError", j->reason);
    }
}

void qxs_deliverer_cancel(qxs_deliverer *d)
{
    d->cancelled = true;
    promote_due(d);
    start_ready(d);
}
