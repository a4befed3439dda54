/*
 * qxm_conform.h — the conformance kit (`qx-mock conform`): grades any
 * sender against the contract of the platform's streaming destination to a
 * Qualtrics JSON-event URL.
 *
 * A run starts an emulator in this process on a free loopback port, with
 * one workflow that needs credentials and a per-user rate limit whose
 * bucket holds one second's worth of calls (rateLimitBurst), chosen with
 * the number of payloads so that a sender pacing itself at
 * QX_RATE_LIMIT_PER_MINUTE finishes in about ten seconds. It renders the
 * profiles with the mapping (qx-send's renderer: the payloads the
 * destination must send), draws a seeded plan of faults over those
 * payloads (a 503 or 500 once, two failures in a row, a 502, a 504, a 408,
 * a 429 with Retry-After, a connection dropped before and one after the run
 * is recorded, and one 400 answered every time), runs the sender as a
 * child process with the URL and credentials in its environment only, and
 * grades what the emulator saw (a tap on its JSON events, qxm_engine.h)
 * against the rules listed in README.md, "Conformance kit".
 *
 * Owns: everything of one run (emulator, scratch directory, records),
 * released before qxm_conform_run returns, but the result.
 * Locks: the records are guarded by the kit's own mutex (the tap is called
 * from the emulator's threads); nothing is shared between runs.
 * Fails: qxm_conform_run returns -1 with err only when it cannot run at
 * all (unreadable profiles or mapping, no payload to send, no emulator);
 * a sender that crashes, hangs or sends nothing is graded, not an error.
 */
#ifndef QXM_CONFORM_H
#define QXM_CONFORM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "qx_error.h"

typedef struct qxm_conform_options {
    const char *sender_path; /* qx-send (the default sender) */
    const char *sender_cmd;  /* a team's own sender (run by /bin/sh -c), or NULL */
    const char *profiles;    /* NDJSON profiles; NULL: the built-in ones */
    const char *mapping;     /* qx-send mapping; NULL: the built-in one (both or neither) */
    uint64_t seed;           /* the fault plan and the emulator's draws */
    int64_t timeout_ms;      /* the sender's; 0: 120 s */
} qxm_conform_options;

#define QXM_CONFORM_RULES 10

typedef struct qxm_rule_result {
    const char *rule;   /* static: "auth", "payload", ... */
    const char *source; /* static: where the rule comes from */
    bool passed;
    char *summary;    /* owned: one line (the evidence when failed, what was checked when passed) */
    json_t *evidence; /* owned array: {"requestId", "atMs", "identity", "status", "detail"} */
} qxm_rule_result;

typedef struct qxm_conform_result {
    qxm_rule_result rules[QXM_CONFORM_RULES];
    size_t n_rules;
    int sender_status;        /* exit status; -1 when killed or not started */
    char sender_problem[512]; /* why, with -1 */
    char *sender_output;      /* owned: the last lines of its output, or NULL */
    unsigned rate_limit_per_minute;
    int64_t payloads;   /* distinct payloads expected */
    int64_t requests;   /* requests the emulator saw */
    int64_t elapsed_ms; /* the sender's run */
} qxm_conform_result;

/* Runs the kit with opt. Returns 0 with *out filled (free with
 * qxm_conform_result_clear) whether the sender passed or not, or -1 with
 * err set (and *out empty) when it could not run. */
QX_MUST_CHECK int qxm_conform_run(const qxm_conform_options *opt, qxm_conform_result *out,
                                  qx_error *err);

/* True when every rule passed. */
bool qxm_conform_passed(const qxm_conform_result *r);

/* Frees what r holds. */
void qxm_conform_result_clear(qxm_conform_result *r);

/* JUnit XML, one testcase per rule, to path. Returns 0, or -1 with err. */
QX_MUST_CHECK int qxm_conform_write_junit(const char *path, const qxm_conform_result *r,
                                          qx_error *err);

/* The JSON report (rules with verdict, summary, evidence and source; the
 * run's figures) to path. Returns 0, or -1 with err. */
QX_MUST_CHECK int qxm_conform_write_report(const char *path, const qxm_conform_result *r,
                                           qx_error *err);

#endif
