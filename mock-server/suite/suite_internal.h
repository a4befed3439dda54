/*
 * suite_internal.h — what the files of the scenario runner share (not for
 * main.c: it uses qxm_suite.h).
 *
 * scenario.c reads a scenario directory, sender.c runs the sender for one
 * destination, check.c compares what the emulator recorded with what the
 * scenario expects, suite.c runs one scenario from start to end, junit.c
 * writes the results. No shared state, no locks: one scenario runs at a
 * time on the caller's thread.
 */
#ifndef QXM_SUITE_INTERNAL_H
#define QXM_SUITE_INTERNAL_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qx_error.h"
#include "qxm_suite.h"

#define MAX_DESTINATIONS 16
#define MAX_EXPECTED 100000
#define MAX_ACTIONS 16
#define MAX_EXCLUDED_REASONS 8

typedef struct destination {
    char workflow_id[256];
    char mapping[PATH_MAX];
} destination;

typedef struct scenario {
    char name[256];
    char workflows[PATH_MAX];
    char profiles[PATH_MAX];
    char expect[PATH_MAX];
    char expect_requests[PATH_MAX]; /* "" when absent */
    destination dest[MAX_DESTINATIONS];
    size_t n_dest;
    uint64_t seed;
    bool wrong_token;
    int concurrency;
    char policy[PATH_MAX];          /* "" when the scenario gives none */
    char actions[MAX_ACTIONS][128]; /* marketingActions, with a policy */
    size_t n_actions;
    /* "excluded": the sender reports' excludedReasons counts expected */
    char excluded_reason[MAX_EXCLUDED_REASONS][64];
    int64_t excluded_count[MAX_EXCLUDED_REASONS];
    size_t n_excluded;
} scenario;

/* snprintf for messages and paths where cutting a long value short is the
 * intended behaviour (vsnprintf keeps -Wformat-truncation for real bugs). */
void suite_text_set(char *out, size_t size, const char *fmt, ...) QX_PRINTF(3, 4);

/* scenario.c: reads dir/scenario.json into *sc. Returns 0, or -1 with err
 * naming the file and the key. */
int suite_load_scenario(const char *dir, scenario *sc, qx_error *err);

/* scenario.c: an NDJSON file of objects as a new array; NULL with err. */
json_t *suite_load_ndjson(const char *path, qx_error *err);

/* sender.c: runs the sender for destination d (its log and report in
 * workdir, numbered index); returns its exit status, or -1 with why set
 * (not started, killed after timeout_ms). */
int suite_run_sender(const qxm_suite_options *opt, const scenario *sc, const destination *d,
                     const char *url, const char *username, const char *token,
                     unsigned rate_limit_per_minute, const char *workdir, size_t index,
                     int64_t timeout_ms, char *why, size_t why_size);

/* check.c: the first difference between what was recorded (runs, journal)
 * and what is expected (expected_req may be NULL), written to diff; true
 * when there is none. The sender's reports in workdir are checked too
 * when they were written by qx-send (check_reports). */
bool suite_compare(json_t *runs, json_t *journal, int64_t n_running, json_t *expected,
                   json_t *expected_req, char *diff, size_t size);
bool suite_check_reports(const char *workdir, size_t n_dest, json_t *expected, json_t *expected_req,
                         char *diff, size_t size);
/* check.c: the scenario's "excluded" counts against the sum of the
 * reports' excludedReasons; true when each matches (or none is given). */
bool suite_check_excluded(const char *workdir, const scenario *sc, char *diff, size_t size);

#endif
