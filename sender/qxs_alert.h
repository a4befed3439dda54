/*
 * qxs_alert.h — the destination alert the platform offers streaming
 * destinations, "Activation Skipped Rate Exceeded": raised when the
 * identities skipped during activation exceed a share (1 % by default) of
 * the activations.
 *
 * What is counted: every profile of an activated audience is one
 * activation; it is skipped when it was not sent for a missing identity or
 * attribute, a hashed-only email, or consent ("noMappedIdentity",
 * "hashedEmailOnly", "consentDenied"). A profile in no activated audience
 * ("notInActivatedAudience") is no activation at all and is not counted.
 * The rate (skipped / activations, in percent) is evaluated over each
 * window of QXS_ALERT_WINDOW activations as it closes (scope "window") and
 * over the whole run at its end (scope "run"); an alert is raised when it
 * is above the threshold. One entry:
 *
 *   {"type": "activationSkippedRateExceeded", "scope": "run", "destination": "...",
 *    "rate": 2.5, "threshold": 1, "at": "2026-12-01T18:00:00.000Z",
 *    "activations": 400, "skipped": 10,
 *    "skippedReasons": {"noMappedIdentity": 0, "hashedEmailOnly": 2, "consentDenied": 8},
 *    "firstActivation": 1, "lastActivation": 400,
 *    "webhook": {"delivered": true, "attempts": 1, "status": 201}}   -- with a webhook
 *
 * With a webhook URL the entry (without "webhook") is POSTed as JSON,
 * bounded: QXS_ALERT_WEBHOOK_ATTEMPTS attempts of at most timeout_ms each,
 * retried after a connection failure, 408, 429 or 5xx, 500 ms then 1 s
 * apart; a bearer token, when given, goes in "Authorization: Bearer" and
 * nowhere else (not in the entry, logs or errors). A webhook that fails is
 * recorded in the entry ("delivered": false, "error") and changes nothing
 * else: an alert never changes a run's outcome.
 *
 * Owns: its counts and copies of the options' strings (the token wiped
 * when freed).
 * Locks: none; no shared state (the delivery loop's thread only).
 * Fails: qxs_alerts_new: NULL with err (a bad URL, memory); the others
 * return NULL / a recorded failure, never abort the run.
 */
#ifndef QXS_ALERT_H
#define QXS_ALERT_H

#include <jansson.h>
#include <stdint.h>

#include "qx_error.h"
#include "qxs_render.h"

#define QXS_ALERT_SKIPPED_RATE "activationSkippedRateExceeded"
/* The platform's threshold: "more than 1% of activations skipped". */
#define QXS_ALERT_DEFAULT_THRESHOLD_PCT 1.0
#define QXS_ALERT_WINDOW 10000
#define QXS_ALERT_WEBHOOK_ATTEMPTS 3
#define QXS_ALERT_WEBHOOK_TIMEOUT_MS 5000

typedef struct qxs_alerts qxs_alerts;

typedef struct qxs_alert_options {
    double threshold_pct;      /* 0 < pct <= 100; 0 disables the alert */
    int64_t window;            /* activations per window; 0: QXS_ALERT_WINDOW */
    const char *destination;   /* its name, in each entry; may be NULL */
    const char *webhook_url;   /* http(s), no credentials in it; NULL: none */
    const char *webhook_token; /* bearer token; NULL: none; secret */
    const char *ca_file;       /* for an https webhook; NULL: the system's */
    long timeout_ms;           /* per attempt; 0: QXS_ALERT_WEBHOOK_TIMEOUT_MS */
} qxs_alert_options;

/* A new alert counter (owned: free with qxs_alerts_free; strings copied),
 * or NULL with err when the webhook URL is not an http(s) URL or holds
 * credentials, or memory runs out. */
QX_MUST_CHECK qxs_alerts *qxs_alerts_new(const qxs_alert_options *o, qx_error *err);

/* Wipes the token and frees a; NULL is a no-op. */
void qxs_alerts_free(qxs_alerts *a);

/* Counts one rendered profile: QXS_NOT_EXCLUDED is an activation sent,
 * the skip reasons an activation skipped, QXS_EXCLUDED_NO_AUDIENCE nothing.
 * Returns a new entry (owned) when this closes a window whose rate is over
 * the threshold, else NULL. */
json_t *qxs_alerts_observe(qxs_alerts *a, qxs_exclusion e);

/* The run's own evaluation, at its end. Returns a new entry (owned) when
 * the rate over the run is above the threshold, else NULL. */
json_t *qxs_alerts_finish(qxs_alerts *a);

/* POSTs alert to the webhook (when there is one) and records the outcome
 * in alert's "webhook" member. Returns 0 when delivered or when there is
 * no webhook, -1 when it was not (recorded, and in err without the token). */
QX_MUST_CHECK int qxs_alerts_deliver(const qxs_alerts *a, json_t *alert, qx_error *err);

/* The one-line text of an entry for people. Writes into out (size bytes);
 * returns out. */
char *qxs_alert_text(const json_t *alert, char *out, size_t size);

#endif
