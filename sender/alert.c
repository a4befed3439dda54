/*
 * alert.c — the "Activation Skipped Rate Exceeded" alert (qxs_alert.h):
 * counting activations per window and per run, building an entry, and
 * POSTing it to a webhook with libcurl's easy interface.
 *
 * The webhook is called from the delivery loop's thread and holds it for
 * at most QXS_ALERT_WEBHOOK_ATTEMPTS × timeout plus 1.5 s of pauses: a
 * window alert is rare (one per 10,000 activations at most), and a
 * separate thread for it would be more machinery than the wait costs.
 */
#include "qxs_alert.h"

#include <curl/curl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_clock.h"

/* The skip reasons the alert counts, in the entry's order. */
static const qxs_exclusion skip_reasons[] = {QXS_EXCLUDED_NO_IDENTITY, QXS_EXCLUDED_HASHED_EMAIL,
                                             QXS_EXCLUDED_CONSENT};
#define N_SKIP_REASONS (sizeof skip_reasons / sizeof skip_reasons[0])
#define RETRY_PAUSE_MS 500

typedef struct tally {
    int64_t activations, skipped;
    int64_t by_reason[N_SKIP_REASONS];
    int64_t first; /* 1-based number of the first activation counted */
} tally;

struct qxs_alerts {
    double threshold_pct;
    int64_t window_size;
    char *destination, *url, *token, *ca_file;
    long timeout_ms;
    tally run, window;
};

static char *dup_or_null(const char *s, bool *oom)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    *oom = *oom || d == NULL;
    return d;
}

/* An http(s) URL with a host and no credentials (they would end in logs). */
static int check_webhook_url(const char *url, qx_error *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL;
    int rc = -1;
    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        qx_error_set(err, "--alert-webhook: not an http or https URL");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
        qx_error_set(err, "--alert-webhook: credentials do not belong in the URL; use "
                          "--alert-token-env");
        goto out;
    }
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_url_cleanup(u);
    return rc;
}

qxs_alerts *qxs_alerts_new(const qxs_alert_options *o, qx_error *err)
{
    if (o->threshold_pct < 0 || o->threshold_pct > 100) {
        qx_error_set(err, "--alert-skipped-rate: expected 0 to 100");
        return NULL;
    }
    if (o->webhook_url != NULL && check_webhook_url(o->webhook_url, err) != 0)
        return NULL;
    qxs_alerts *a = calloc(1, sizeof *a);
    if (a == NULL) {
        qx_error_set(err, "out of memory");
        return NULL;
    }
    bool oom = false;
    a->threshold_pct = o->threshold_pct;
    a->window_size = o->window > 0 ? o->window : QXS_ALERT_WINDOW;
    a->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : QXS_ALERT_WEBHOOK_TIMEOUT_MS;
    a->destination = dup_or_null(o->destination, &oom);
    a->url = dup_or_null(o->webhook_url, &oom);
    a->token = dup_or_null(o->webhook_token, &oom);
    a->ca_file = dup_or_null(o->ca_file, &oom);
    a->run.first = a->window.first = 1;
    if (oom) {
        qxs_alerts_free(a);
        qx_error_set(err, "out of memory");
        return NULL;
    }
    return a;
}

void qxs_alerts_free(qxs_alerts *a)
{
    if (a == NULL)
        return;
    if (a->token != NULL) {
        volatile char *p = a->token; /* volatile: the wipe is not elided */
        while (*p)
            *p++ = '\0';
    }
    free(a->token);
    free(a->destination);
    free(a->url);
    free(a->ca_file);
    free(a);
}

static void count(tally *t, qxs_exclusion e)
{
    t->activations++;
    for (size_t i = 0; i < N_SKIP_REASONS; i++) {
        if (skip_reasons[i] == e) {
            t->skipped++;
            t->by_reason[i]++;
        }
    }
}

/* The entry for t when its rate is above the threshold, else NULL. */
static json_t *evaluate(const qxs_alerts *a, const tally *t, const char *scope)
{
    if (a->threshold_pct <= 0 || t->activations == 0)
        return NULL;
    double rate = (double)t->skipped * 100.0 / (double)t->activations;
    if (!(rate > a->threshold_pct))
        return NULL;
    json_t *reasons = json_object();
    for (size_t i = 0; reasons != NULL && i < N_SKIP_REASONS; i++)
        json_object_set_new(reasons, qxs_exclusion_name(skip_reasons[i]),
                            json_integer((json_int_t)t->by_reason[i]));
    char at[QX_TIME_TEXT_MAX];
    /* two decimals: a rate, not a measurement */
    return json_pack("{s:s, s:s, s:s?, s:f, s:f, s:s, s:I, s:I, s:o, s:I, s:I}", "type",
                     QXS_ALERT_SKIPPED_RATE, "scope", scope, "destination", a->destination, "rate",
                     round(rate * 100.0) / 100.0, "threshold", a->threshold_pct, "at",
                     qx_format_time(qx_now_ms(), at), "activations", (json_int_t)t->activations,
                     "skipped", (json_int_t)t->skipped, "skippedReasons", reasons,
                     "firstActivation", (json_int_t)t->first, "lastActivation",
                     (json_int_t)(t->first + t->activations - 1));
}

json_t *qxs_alerts_observe(qxs_alerts *a, qxs_exclusion e)
{
    if (a == NULL || e == QXS_EXCLUDED_NO_AUDIENCE)
        return NULL;
    count(&a->run, e);
    count(&a->window, e);
    if (a->window.activations < a->window_size)
        return NULL;
    json_t *alert = evaluate(a, &a->window, "window");
    int64_t next = a->window.first + a->window.activations;
    memset(&a->window, 0, sizeof a->window);
    a->window.first = next;
    return alert;
}

json_t *qxs_alerts_finish(qxs_alerts *a)
{
    return a != NULL ? evaluate(a, &a->run, "run") : NULL;
}

static size_t discard_body(char *data, size_t size, size_t n, void *ud)
{
    (void)data;
    (void)ud;
    return size * n;
}

/* One POST. Returns the HTTP status, or 0 with err on a transport error. */
static long post_once(const qxs_alerts *a, const char *body, size_t len, qx_error *err)
{
    CURL *h = curl_easy_init();
    if (h == NULL) {
        qx_error_set(err, "webhook: libcurl could not start");
        return 0;
    }
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, a->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, a->timeout_ms);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (a->ca_file != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, a->ca_file);
    if (a->token != NULL) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
        curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, a->token);
    }
    long status = 0;
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    else
        qx_error_set(err, "webhook: %s", curl_easy_strerror(rc));
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return status;
}

static bool is_retried(long status)
{
    return status == 0 || status == 408 || status == 429 || status >= 500;
}

int qxs_alerts_deliver(const qxs_alerts *a, json_t *alert, qx_error *err)
{
    if (a == NULL || a->url == NULL)
        return 0;
    char *body = json_dumps(alert, JSON_COMPACT);
    if (body == NULL) {
        qx_error_set(err, "webhook: out of memory");
        return -1;
    }
    long status = 0;
    int attempts = 0;
    qx_error last = {{0}};
    while (attempts < QXS_ALERT_WEBHOOK_ATTEMPTS) {
        if (attempts > 0)
            qx_sleep_ms((int64_t)RETRY_PAUSE_MS * attempts);
        attempts++;
        status = post_once(a, body, strlen(body), &last);
        if (!is_retried(status))
            break;
    }
    free(body);
    bool delivered = status >= 200 && status < 300;
    if (!delivered && status != 0)
        qx_error_set(&last, "webhook: HTTP %ld", status);
    json_t *w = json_pack("{s:b, s:i}", "delivered", delivered, "attempts", attempts);
    if (w != NULL && status != 0)
        json_object_set_new(w, "status", json_integer(status));
    if (w != NULL && !delivered)
        json_object_set_new(w, "error", json_string(last.text));
    json_object_set_new(alert, "webhook", w);
    if (!delivered)
        qx_error_set(err, "%s after %d attempt%s", last.text, attempts, attempts == 1 ? "" : "s");
    return delivered ? 0 : -1;
}

char *qxs_alert_text(const json_t *alert, char *out, size_t size)
{
    snprintf(out, size,
             "alert %s (%s): %lld of %lld activations skipped (%.2f %% > %.2f %%; "
             "noMappedIdentity %lld, hashedEmailOnly %lld, consentDenied %lld)",
             json_string_value(json_object_get(alert, "type")),
             json_string_value(json_object_get(alert, "scope")),
             (long long)json_integer_value(json_object_get(alert, "skipped")),
             (long long)json_integer_value(json_object_get(alert, "activations")),
             json_real_value(json_object_get(alert, "rate")),
             json_number_value(json_object_get(alert, "threshold")),
             (long long)json_integer_value(
                 json_object_get(json_object_get(alert, "skippedReasons"), "noMappedIdentity")),
             (long long)json_integer_value(
                 json_object_get(json_object_get(alert, "skippedReasons"), "hashedEmailOnly")),
             (long long)json_integer_value(
                 json_object_get(json_object_get(alert, "skippedReasons"), "consentDenied")));
    return out;
}
