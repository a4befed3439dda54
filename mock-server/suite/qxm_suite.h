/*
 * qxm_suite.h — scenario suites: prove end to end that a mapping, the
 * credentials and the payload structure produce the workflow runs a team
 * expects.
 *
 * Each scenario directory holds scenario.json, the workflows, a mapping, the
 * profiles and the expected runs (expected-runs.ndjson, optional
 * expected-requests.ndjson). Running one starts an emulator in this process
 * on a free loopback port, runs the sender against it, waits until the
 * expected number of runs are finished (no sleeps) and compares.
 */
#ifndef QXM_SUITE_H
#define QXM_SUITE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "qx_error.h"

typedef struct qxm_suite_options {
    const char *sender_path;  /* qx-send to run (default sender) */
    const char *sender_cmd;   /* shell command of a team's own sender, or NULL */
    const char *keep_history; /* directory for each scenario's export, or NULL */
    int64_t timeout_ms;       /* per scenario, sender + wait; 0: 120 s */
} qxm_suite_options;

typedef struct qxm_scenario_result {
    char *name; /* owned */
    char *dir;  /* owned: the scenario directory as given */
    bool passed;
    bool error;       /* not passed because the sender could not run or broke (not found,
                         killed, exit status 2 or above 3), not because of a difference */
    char *failure;    /* owned; first difference (or the error), NULL when passed */
    char *sender_out; /* owned: the end of the sender's standard output, or NULL */
    char *sender_err; /* owned: the end of its standard error, or NULL */
    int64_t elapsed_ms;
    int64_t runs; /* runs recorded */
} qxm_scenario_result;

/* Runs the scenario in dir. Returns 0 and fills *out (free with
 * qxm_scenario_result_clear) whether it passed or failed; -1 only when it
 * could not be run at all, with *out still filled (failure names why). */
int qxm_suite_run_scenario(const char *dir, const qxm_suite_options *opt, qxm_scenario_result *out);

/* The last component of a directory path ("fixtures/scenarios/x/" ->
 * "x") into buf. Returns buf. */
const char *qxm_suite_dir_name(const char *dir, char *buf, size_t size);

/* The name of the scenario in dir (its scenario.json's "name", else the
 * directory's name) into out. Returns 0, or -1 with err when the scenario
 * does not load (the run would report the same error). */
QX_MUST_CHECK int qxm_suite_scenario_name(const char *dir, char *out, size_t size, qx_error *err);

/* Frees the strings of r. */
void qxm_scenario_result_clear(qxm_scenario_result *r);

/* Writes JUnit XML for n results to path. Returns 0, or -1 with err set. */
QX_MUST_CHECK int qxm_suite_write_junit(const char *path, const qxm_scenario_result *results,
                                        size_t n, qx_error *err);

/* Writes s to f as XML character data or attribute text: markup
 * characters escaped; control characters XML 1.0 forbids, and bytes that
 * are not UTF-8, shown as '?'. */
void qxm_xml_escaped(FILE *f, const char *s);

/* Runs a sender as a child process: argv[0] (a path) with argv, stdin
 * from /dev/null, stdout to out_path and stderr to err_path (both created
 * 0600; err_path NULL: stderr goes with stdout), in this process's
 * environment without any QX_ variable plus extra_env ("NAME=value"
 * strings, NULL-terminated: how credentials reach it, never its command
 * line). Waits at most timeout_ms, then kills it. Returns its exit status,
 * or -1 with why set: not started, killed by a signal ("killed by signal 9
 * (Killed)"), or timed out. */
int qxm_run_sender_process(const char *const *argv, const char *const *extra_env,
                           const char *out_path, const char *err_path, int64_t timeout_ms,
                           char *why, size_t why_size);

/* A sender's exit status for people: "exited with status 3", "command not
 * found (exit status 127)" (what /bin/sh answers), "... not executable (exit
 * status 126)". Returns buf. */
const char *qxm_sender_exit_text(int status, char *buf, size_t size);

#endif
