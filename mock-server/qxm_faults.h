/*
 * qxm_faults.h — injected faults, for reliability tests of a sender.
 *
 * The real JSON-event endpoint answers 5xx, is slow, rate-limits and drops
 * connections now and then; a sender must survive all of it. Faults are set
 * per workflow or for all of them, in the config file ("faults") or at run
 * time (PUT /_qx/v1/faults), and every choice is drawn from the emulator's
 * seeded generator, so a seeded run injects the same faults each time.
 */
#ifndef QXM_FAULTS_H
#define QXM_FAULTS_H

#include <jansson.h>
#include <stdbool.h>

#include "qx_error.h"

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

#endif
