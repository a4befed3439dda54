/*
 * qxm_capture.h — "capture event": a workflow listens for one sample request
 * and offers the sample's fields to pick as event data, as Qualtrics' JSON
 * event editor does in its test mode.
 *
 * This module owns, for each workflow of one engine, whether capture is
 * armed and until when, and the last sample captured. The engine's event
 * path (event.c) offers it each request that passed the checks before
 * faults and the body checks; when capture is armed the request becomes the
 * sample and starts no run, and capture disarms. The admin API
 * (http/admin_capture.c) arms, shows and disarms it; `qx-mock capture`
 * waits on it.
 *
 * It also lists a sample's leaves as JSONPath expressions (capture_fields.c),
 * which the same evaluator (core/jsonpath.c) reads back to the same value,
 * and names them for a ready-to-paste "eventData" object.
 *
 * Locks: the capture's own mutex guards every slot (armed, deadline,
 * sample); its condition variable is broadcast when a slot changes. It
 * takes no other lock, so callers may hold theirs (the engine holds its
 * draw lock while offering a request). Waits use the monotonic clock; an
 * armed capture expires at its deadline, noticed lazily by the next call
 * and by waiters, which wake at it.
 *
 * Failures: functions taking a workflow index require one below the count
 * given to qxm_capture_new (callers look the workflow up first); the JSON
 * builders return NULL only when memory runs out.
 */
#ifndef QXM_CAPTURE_H
#define QXM_CAPTURE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qx_error.h"

/* Armed capture waits this long for its sample unless told otherwise. */
#define QXM_CAPTURE_DEFAULT_TIMEOUT_MS 300000
/* And at most this long (an hour): a forgotten capture must not swallow a
 * sender's requests the next day. */
#define QXM_CAPTURE_MAX_TIMEOUT_MS 3600000

typedef struct qxm_capture qxm_capture;

/* How a wait for one arming ended. */
typedef enum qxm_capture_end {
    QXM_CAPTURE_CAPTURED = 0, /* that arming captured its sample */
    QXM_CAPTURE_EXPIRED = 1,  /* it timed out */
    QXM_CAPTURE_DISARMED = 2  /* disarmed (DELETE, or armed anew) before a sample came */
} qxm_capture_end;

/* A capture for n_workflows workflows, none armed. New (owned), or NULL
 * when memory runs out. */
QX_MUST_CHECK qxm_capture *qxm_capture_new(size_t n_workflows);

/* Frees c (and its samples); NULL is a no-op. No thread may wait on it. */
void qxm_capture_free(qxm_capture *c);

/* Arms capture for workflow wi for timeout_ms (1 to
 * QXM_CAPTURE_MAX_TIMEOUT_MS), replacing an arming in force. The last
 * sample stays until a new one is captured. Returns this arming's number,
 * for qxm_capture_wait. */
uint64_t qxm_capture_arm(qxm_capture *c, size_t wi, int64_t timeout_ms);

/* Disarms capture for workflow wi, keeping its sample. Returns true when it
 * was armed. */
bool qxm_capture_disarm(qxm_capture *c, size_t wi);

/* True when capture is armed for workflow wi and not expired. */
bool qxm_capture_is_armed(qxm_capture *c, size_t wi);

/* When armed for workflow wi: keeps a copy of payload as its sample,
 * disarms and wakes waiters; returns true. Else (or when the copy cannot be
 * made) false: the request goes on as usual. */
bool qxm_capture_take(qxm_capture *c, size_t wi, json_t *payload);

/* Waits until arming number arm of workflow wi ends. Returns how. */
qxm_capture_end qxm_capture_wait(qxm_capture *c, size_t wi, uint64_t arm);

/* Workflow wi's capture as the admin API shows it:
 *   {"armed": bool, "expiresAt": RFC 3339|null, "sample": object|null,
 *    "fields": [{"path", "value", "type"}, ...]}
 * New reference, or NULL when memory runs out. */
json_t *qxm_capture_state(qxm_capture *c, size_t wi);

/* The sample of workflow wi (a new reference to a copy), or NULL when none
 * was captured. */
json_t *qxm_capture_sample(qxm_capture *c, size_t wi);

/* ---- capture_fields.c ---------------------------------------------------- */

/* Every leaf of doc (a scalar, or an empty object or array) in document
 * order as {"path", "value", "type"}: path a normalized JSONPath
 * ("$.identityMap.Email[0].id"; a member whose name is not a plain ASCII
 * identifier in bracket notation, "$['a b']", with RFC 9535 escapes), type
 * one of "string", "number", "boolean", "null", "object", "array". A scalar
 * doc is one leaf, "$". New reference (an array), or NULL when memory runs
 * out. */
json_t *qxm_capture_fields(json_t *doc);

/* A ready-to-paste "eventData" object for fields (as qxm_capture_fields
 * lists them): one field name per leaf, from the last member name on its
 * path, made a camelCase identifier ("first name" -> "firstName"; "field"
 * when nothing is left; "field" before a leading digit) and made unique in
 * order ("id", "id2", "id3"), mapped to the leaf's path. New reference, or
 * NULL when memory runs out. */
json_t *qxm_capture_event_data(json_t *fields);

#endif
