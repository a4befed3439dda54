/*
 * qxm_whatif.h — what a changed configuration would have done with
 * recorded traffic (`qx-mock whatif`).
 *
 * A history (NDJSON as GET /_qx/v1/export writes it: one run per line;
 * optionally journal entries as GET /_qx/v1/requests lists them, one per
 * line) is replayed in file order through an emulator built from the new
 * config, in this process and without sockets (qxm_engine_event on an
 * engine that is never started, so each run is stored at once). The
 * engine is seeded, so delays and injected faults (only those the config
 * asks for) repeat; the API rate limit is off (the traffic is replayed far
 * faster than it was recorded).
 *
 * Each recorded run is sent under its recorded workflow (found by id in
 * the new config, its urlTokenId taken from there) with its payload and,
 * when it recorded a user, that user's credentials from the new config
 * (a user the new config lacks is sent with an empty token). The new run
 * is compared by content, never by id or time: status, conditionsMet,
 * eventData field by field, tasks (type, status, error), error text. A
 * recorded request that started no run is replayed from its journal entry
 * (its credentials were never kept: one that got past the credential check
 * is sent with the new config's first user's, any other with none) and
 * differs when it now starts a run or gets another HTTP status.
 *
 * Owns: nothing between calls; a report is the caller's. No locks, no
 * threads: one call replays one history. Fails: -1 / NULL with a qx_error
 * naming the file and line (a history or config that cannot be read, a
 * line that is neither a run nor a journal entry, a missing field).
 * Secrets (API tokens) never appear in a report or a line of output.
 */
#ifndef QXM_WHATIF_H
#define QXM_WHATIF_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "qx_error.h"

/* The kinds of difference a changed run can have. */
typedef enum qxm_whatif_kind {
    QXM_WHATIF_STATUS,
    QXM_WHATIF_CONDITIONS,  /* conditionsMet */
    QXM_WHATIF_EVENT_DATA,  /* an eventData field */
    QXM_WHATIF_TASKS,       /* a task's type, status or error, or a task more or less */
    QXM_WHATIF_ERROR,       /* the run's error text */
    QXM_WHATIF_HTTP_STATUS, /* a request without run now answered otherwise */
    QXM_WHATIF_PAYLOAD,     /* a payload leaf (mapping what-if), not a run's */
    QXM_WHATIF_N_KINDS
} qxm_whatif_kind;

/* The kinds a run's difference can be (by_kind counts these). */
#define QXM_WHATIF_N_RUN_KINDS QXM_WHATIF_PAYLOAD

/* The name of a kind as reports write it ("status", "conditionsMet",
 * "eventData", "tasks", "error", "httpStatus", "payload"). Static. */
const char *qxm_whatif_kind_name(qxm_whatif_kind k);

typedef struct qxm_whatif_counts {
    int64_t recorded;  /* entries of the history replayed or skipped */
    int64_t unchanged; /* the same outcome */
    int64_t changed;   /* a run (or request) with another outcome */
    int64_t added;     /* no run recorded, one now ("new") */
    int64_t gone;      /* a run recorded, none now */
    int64_t skipped;   /* journal entries that cannot be replayed (why: in the report) */
    int64_t by_kind[QXM_WHATIF_N_KINDS]; /* changed entries with a difference of each kind */
    int64_t payloads;                    /* mapping what-if: profiles whose payload changed */
} qxm_whatif_counts;

/* What differs in all: changed + added + gone + payloads. */
int64_t qxm_whatif_differing(const qxm_whatif_counts *c);

/* The mapping what-if: the profiles are rendered with both mappings by
 * `SENDER render` (a child process; its standard error tells which profile
 * line is excluded and why). A recorded run whose payload is the old
 * mapping's payload of a profile is replayed with that profile's new
 * payload (GONE when the new mapping excludes it), through the new config,
 * and also with its recorded payload through a second emulator of the new
 * config, so that each changed run names its cause: "mapping" (the config
 * alone changes nothing), "config" (the new payload changes nothing more)
 * or "mapping+config". Runs whose payload no profile renders to are
 * replayed as they are; profiles the old mapping excluded and the new one
 * sends are listed with the payload differences, not replayed (no recorded
 * workflow). */
typedef struct qxm_whatif_mapping {
    const char *sender;      /* the qx-send to run */
    const char *old_mapping; /* required: an export names no mapping */
    const char *new_mapping;
    const char *profiles; /* NDJSON */
} qxm_whatif_mapping;

typedef struct qxm_whatif_options {
    const char *history_path;          /* the recorded history */
    const char *config_path;           /* the new config */
    uint64_t seed;                     /* the emulator's seed */
    FILE *lines;                       /* each difference's line as found, or NULL */
    const qxm_whatif_mapping *mapping; /* NULL: the config alone */
} qxm_whatif_options;

/* Replays the history and compares. Returns the report (owned):
 *   {"history", "config", "seed",
 *    "summary": {"recorded","unchanged","changed","new","gone","skipped",
 *                "changedByKind": {kind: n}},
 *    "entries": [{"line", "kind": "run"|"request", "id", "workflowId",
 *                 "verdict": "unchanged"|"changed"|"new"|"gone"|"skipped",
 *                 "text" (the line's words, not for unchanged),
 *                 "differences": [{"kind","field","old","new"}] (an absent
 *                   side has no key), "recorded", "replayed" (not for
 *                   unchanged: {status, conditionsMet, eventData, tasks:
 *                   [{type,status,error}], error} of a run, {httpStatus,
 *                   reason} of a request without run); with a mapping:
 *                   "profileLine" (the profile the run's payload came
 *                   from), "cause" (of a change: "mapping", "config",
 *                   "mapping+config")}],
 *    with a mapping also "oldMapping", "newMapping", "profiles" and
 *    "payloads": [{"profileLine", "text", "differences", "old", "new"}]
 *    (each side a payload or {"excluded": why}), the profiles whose
 *    payload changed}
 * and fills *counts; NULL with err set. */
QX_MUST_CHECK json_t *qxm_whatif_run(const qxm_whatif_options *o, qxm_whatif_counts *counts,
                                     qx_error *err);

/* The line of one entry that differs ("CHANGED RUN_x (WF_y): status
 * SUCCESS -> FAILURE; ..."), to f. */
void qxm_whatif_print_line(FILE *f, const json_t *entry);

/* The payload differences' lines ("PAYLOAD profile line 3: ..."), to f. */
void qxm_whatif_print_payloads(FILE *f, const json_t *report);

/* The summary table and the closing "N unchanged, N changed" line, to f. */
void qxm_whatif_print_summary(FILE *f, const qxm_whatif_counts *c);

/* JUnit XML: one testcase per entry of the report, failed when it
 * differs, skipped when skipped. Returns 0, or -1 with err set. */
QX_MUST_CHECK int qxm_whatif_write_junit(const char *path, const json_t *report, qx_error *err);

/* The report as indented JSON. Returns 0, or -1 with err set. */
QX_MUST_CHECK int qxm_whatif_write_report(const char *path, const json_t *report, qx_error *err);

#endif
