/*
 * alert_log.h — the alerts a local pipeline posts to qx-mock
 * (POST /_qx/v1/alerts, e.g. qx-send --alert-webhook), kept in memory so
 * that they are listed beside the runs (GET /_qx/v1/alerts, the page).
 *
 * Bounded: at most QXM_ALERTS_MAX alerts are kept; a newer one evicts the
 * oldest (counted as "dropped"). They are not in the store: an alert is a
 * harness event, not a Qualtrics run, so it is neither exported nor
 * imported and does not survive a restart.
 *
 * Owns: copies of the alerts, each with the "id" and "receivedAt" it adds.
 * Locks: its own mutex guards every field; every function takes it, so any
 * thread (libmicrohttpd's pool) may call them.
 * Fails: -1 / NULL when memory runs out; nothing is half added.
 */
#ifndef QXM_ALERT_LOG_H
#define QXM_ALERT_LOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "qx_error.h"

#define QXM_ALERTS_MAX 1000
/* An alert is a small JSON object: qx-send's are under 1 KB. */
#define QXM_MAX_ALERT_BODY_BYTES 65536

typedef struct qxm_alert_log qxm_alert_log;

/* A new, empty log (owned: free with qxm_alert_log_free); NULL when memory
 * runs out. */
QX_MUST_CHECK qxm_alert_log *qxm_alert_log_new(void);

/* Frees l and its alerts; NULL is a no-op. */
void qxm_alert_log_free(qxm_alert_log *l);

/* Keeps a copy of alert (a JSON object; borrowed) with "id" (from 1, never
 * reused) and "receivedAt" (RFC 3339 of received_ms) set, evicting the
 * oldest when QXM_ALERTS_MAX are kept. Returns the id, or -1 when memory
 * runs out. */
QX_MUST_CHECK int64_t qxm_alert_log_add(qxm_alert_log *l, const json_t *alert, int64_t received_ms);

/* {"alerts": [the newest first, at most limit], "kept", "received",
 * "dropped"}: a new reference (owned), NULL when memory runs out. */
QX_MUST_CHECK json_t *qxm_alert_log_list(qxm_alert_log *l, size_t limit);

/* Forgets every alert kept. Returns how many there were. */
size_t qxm_alert_log_clear(qxm_alert_log *l);

#endif
