/*
 * qxm_config.h — the emulator's configuration: API users and workflows.
 *
 * Loaded from the JSON file given to `qx-mock --config` (and from scenario
 * directories by `qx-mock suite`). Loading is strict: an unknown key is an
 * error naming the key and where it is, and so is a missing required one
 * (`users`, `workflows`, each workflow's `id` and `urlTokenId`). Everything
 * else has the defaults documented in README.md.
 *
 * The structures are plain data: the workflow engine and the HTTP front read
 * their fields directly. They are immutable once loaded.
 */
#ifndef QXM_CONFIG_H
#define QXM_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qx_error.h"
#include "qx_jsonpath.h"
#include "qxm_faults.h"
#include "qxm_store.h"

/* The journal's bounds (journalMax, journalMaxBytes): at least one entry of
 * the largest size fits in QXM_MIN_JOURNAL_BYTES (a body of 4 KiB, headers
 * of 4 KiB, a path of 1 KiB and a reason of 512 bytes, as JSON text). */
#define QXM_MAX_JOURNAL 1000000000LL
#define QXM_MIN_JOURNAL_BYTES 65536LL
#define QXM_MAX_JOURNAL_BYTES (1LL << 40)

/* Qualtrics' documented API rate limit: 3,000 calls per minute. */
#define QXM_DEFAULT_RATE_LIMIT_PER_MINUTE 3000

typedef enum qxm_cond_op {
    QXM_OP_EXISTS,
    QXM_OP_NOT_EXISTS,
    QXM_OP_EQUALS,
    QXM_OP_NOT_EQUALS,
    QXM_OP_CONTAINS
} qxm_cond_op;

typedef struct qxm_condition {
    char *field; /* event-data field name */
    qxm_cond_op op;
    json_t *value; /* owned; NULL for exists / not_exists */
} qxm_condition;

typedef enum qxm_task_type {
    QXM_TASK_XM_DIRECTORY_CONTACT,
    QXM_TASK_EMAIL_DISTRIBUTION
} qxm_task_type;

typedef struct qxm_task {
    qxm_task_type type;
    json_t *inputs;  /* owned object: input name -> piped-text template string */
    char *survey_id; /* email_distribution: required at run time; NULL if absent */
} qxm_task;

typedef struct qxm_event_field {
    char *name;
    qx_jsonpath *path; /* owned */
} qxm_event_field;

typedef struct qxm_workflow {
    char *id;
    char *name;
    char *url_token_id;
    bool enabled;
    bool auth_required;
    bool stop_on_task_failure; /* onTaskFailure: "stop" */
    qxm_event_field *event_data;
    size_t n_event_data;
    qxm_condition *conditions;
    size_t n_conditions;
    qxm_task *tasks;
    size_t n_tasks;
    unsigned delay_min_ms;
    unsigned delay_max_ms;
    qxm_faults faults; /* injected faults of this workflow (set = false: none) */
} qxm_workflow;

typedef struct qxm_user {
    char *username;
    char *api_token; /* secret: never logged, stored or exported */
} qxm_user;

typedef struct qxm_config {
    qxm_user *users;
    size_t n_users;
    qxm_workflow *workflows;
    size_t n_workflows;
    unsigned rate_limit_per_minute;
    unsigned rate_limit_burst;          /* rateLimitBurst: calls a full bucket admits at once;
                                           0: a minute's worth (Qualtrics') */
    qxm_faults faults;                  /* faults of every workflow without its own */
    int64_t duplicate_window_ms;        /* identical payloads within it are marked */
    int64_t history_retention_ms;       /* runs and journal entries are evicted this long
                                           after they entered the store; 0: kept forever */
    int64_t journal_max;                /* journalMax: entries kept at most */
    int64_t journal_max_bytes;          /* journalMaxBytes: their size at most */
    int64_t refused_journal_per_minute; /* refusals written one by one per client
                                           address and minute, beyond: a summary */
} qxm_config;

/* Qualtrics keeps a workflow's run history for 30 days
 * (historyRetentionDays). */
#define QXM_DEFAULT_RETENTION_DAYS 30
#define QXM_MS_PER_DAY 86400000LL

/* Runs whose payload repeats one recorded for the same workflow within this
 * window carry "duplicateOf": at-least-once delivery made visible. */
#define QXM_DEFAULT_DUPLICATE_WINDOW_MS 600000

/* Loads and validates a config file. Returns a new config (owned: free with
 * qxm_config_free), or NULL with err naming the file and the problem
 * (e.g. "demo.json: workflows[0]: unknown key \"enabeld\""). */
QX_MUST_CHECK qxm_config *qxm_config_load_file(const char *path, qx_error *err);

/* Same from an already parsed document (borrowed). */
QX_MUST_CHECK qxm_config *qxm_config_from_json(json_t *root, qx_error *err);

/* Frees c; NULL is a no-op. */
void qxm_config_free(qxm_config *c);

/* The workflow whose urlTokenId is token, or NULL. Borrowed. */
const qxm_workflow *qxm_config_find_by_token(const qxm_config *c, const char *token);

/* The workflow with this id, or NULL. Borrowed. */
const qxm_workflow *qxm_config_find_by_id(const qxm_config *c, const char *id);

/* The workflow as the admin API shows it (id, name, enabled, urlTokenId,
 * authRequired, onTaskFailure, delayMs, eventData, conditions, tasks).
 * New reference; NULL when memory runs out. */
json_t *qxm_workflow_to_json(const qxm_workflow *w);

/* Name of op as written in config ("exists", ...). Static string. */
const char *qxm_cond_op_name(qxm_cond_op op);

/* Name of a task type as written in config. Static string. */
const char *qxm_task_type_name(qxm_task_type t);

#endif
