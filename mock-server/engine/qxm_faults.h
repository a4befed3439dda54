/*
 * qxm_faults.h — injected faults, for reliability tests of a sender.
 *
 * The real JSON-event endpoint answers 5xx, is slow, rate-limits and drops
 * connections now and then; a sender must survive all of it. Faults are set
 * per workflow or for all of them, in the config file ("faults") or at run
 * time (PUT /_qx/v1/faults), and every choice is drawn from the emulator's
 * seeded generator, so a seeded run injects the same faults each time.
 *
 * This module owns all of it: parsing and printing a faults object, and the
 * fault table of one emulator — the faults in force for each workflow (run
 * time over config, a workflow's own over the global ones), changing them
 * at run time, and drawing one request's faults.
 *
 * Locks: the table's mutex guards the run-time settings (set, clear, read
 * by effective and draw). The generator passed to qxm_faults_draw is the
 * caller's: it must hold whatever lock serialises its draws (the engine's
 * draw lock), so that a seeded emulator draws the same faults in the same
 * request order. The injected rate limiters are thread-safe themselves.
 */
#ifndef QXM_FAULTS_H
#define QXM_FAULTS_H

#include <jansson.h>
#include <stdbool.h>

#include "qx_error.h"
#include "qx_rng.h"

typedef enum qxm_drop_phase {
    QXM_DROP_BEFORE = 1, /* close the connection before the run is recorded */
    QXM_DROP_AFTER = 2,  /* record the run, then close without answering */
    QXM_DROP_BOTH = 3    /* either, half the drops each */
} qxm_drop_phase;

typedef struct qxm_faults {
    bool set;                /* false: no faults configured here */
    unsigned latency_min_ms; /* added before answering, seeded in [min, max] */
    unsigned latency_max_ms;
    double error_rate; /* share of requests answered error_status */
    int error_status;  /* 500, 502, 503 or 504 */
    double drop_rate;  /* share of connections closed without an answer */
    qxm_drop_phase drop_phase;
    bool has_rate_limit;
    unsigned rate_limit_per_minute; /* per user, for this workflow */
    unsigned slow_response_ms;      /* fixed delay after the run is recorded */
} qxm_faults;

/* Parses a faults object (strict keys: latencyMs, errorRate, errorStatus,
 * dropRate, dropPhase, rateLimitPerMinute, slowResponseMs; plus workflowId
 * when allow_workflow_id). loc names it in errors ("workflows[0].faults").
 * Returns 0 and fills *out (set = true), or -1 with err set. */
QX_MUST_CHECK int qxm_faults_from_json(json_t *obj, const char *loc, bool allow_workflow_id,
                                       qxm_faults *out, qx_error *err);

/* The faults as JSON (null when not set). New reference. */
json_t *qxm_faults_to_json(const qxm_faults *f);

struct qxm_config;
typedef struct qxm_fault_table qxm_fault_table;

/* The fault table of an emulator of cfg (borrowed: it must outlive the
 * table). New (owned), or NULL when memory runs out. */
QX_MUST_CHECK qxm_fault_table *qxm_fault_table_new(const struct qxm_config *cfg);

/* Frees t; NULL is a no-op. */
void qxm_fault_table_free(qxm_fault_table *t);

/* Copies into *out the faults in force for workflow index wf: its run-time
 * faults, else the global run-time ones, else its config's, else the
 * config's global ones (out->set false: none). */
void qxm_faults_effective(qxm_fault_table *t, size_t wf, qxm_faults *out);

/* Sets run-time faults for workflow index wf, or for all workflows when wf
 * is QXM_FAULTS_ALL. */
#define QXM_FAULTS_ALL ((size_t)-1)
void qxm_faults_set(qxm_fault_table *t, size_t wf, const qxm_faults *f);

/* Forgets every run-time fault: the config's are in force again. */
void qxm_faults_clear(qxm_fault_table *t);

/* What GET /_qx/v1/faults shows: {"global": faults|null, "workflows":
 * {id: faults|null}} with the faults in force. New reference; NULL when
 * memory runs out. */
json_t *qxm_faults_state_json(qxm_fault_table *t);

/* One request's injected faults, drawn in a fixed order (latency, error,
 * drop, drop phase), then the injected rate limit taken. */
typedef struct qxm_fault_draw {
    unsigned delay_ms;      /* latency + slowResponseMs, before answering */
    bool rate_limited;      /* over the workflow's injected rate limit */
    unsigned rate_limit;    /* that limit (calls per minute) */
    unsigned retry_after_s; /* with rate_limited */
    int error_status;       /* an injected 5xx, or 0 */
    bool drop_before;       /* close before the run is recorded */
    bool drop_after;        /* record the run, then close unanswered */
} qxm_fault_draw;

/* Draws the faults of one request to workflow index wf by user key (the
 * rate limit's bucket) at now_ms (monotonic), with rng (see Locks). Returns
 * false, drawing nothing, when no fault is in force for the workflow. */
bool qxm_faults_draw(qxm_fault_table *t, size_t wf, qx_rng *rng, const char *key, int64_t now_ms,
                     qxm_fault_draw *out);

#endif
