/*
 * qxm_workflow.h — the workflow engine: what one run of a workflow does.
 *
 * Given a workflow and the JSON-event body that triggered it, the engine
 * extracts the event data (JSONPath), evaluates the conditions, expands the
 * tasks' piped text (~{aedj://field}) and runs the tasks in order against an
 * in-memory XM Directory, exactly as a Qualtrics run would succeed or fail.
 * It knows nothing of HTTP or storage: it returns the outcome as JSON.
 *
 * The directory is shared by all runs of an emulator and is thread-safe.
 */
#ifndef QXM_WORKFLOW_H
#define QXM_WORKFLOW_H

#include <jansson.h>

#include "qx_rng.h"
#include "qxm_config.h"

typedef struct qxm_directory qxm_directory;

/* An empty directory. New (owned); NULL when memory runs out. */
QX_MUST_CHECK qxm_directory *qxm_directory_new(void);

/* Frees d; NULL is a no-op. */
void qxm_directory_free(qxm_directory *d);

/* Removes every contact and distribution. */
void qxm_directory_reset(qxm_directory *d);

/* Number of contacts / of distributions recorded. */
size_t qxm_directory_contacts(qxm_directory *d);
size_t qxm_directory_distributions(qxm_directory *d);

/* The contact keyed by email (case-insensitive) or, when email is NULL, by
 * extRef, as a new JSON object {"contactId","email","extRef","firstName",
 * "lastName",...}; NULL when there is none. */
json_t *qxm_directory_lookup(qxm_directory *d, const char *email, const char *ext_ref);

/* Expands Qualtrics piped text: every "~{aedj://name}" in template is
 * replaced by event_data[name] (strings as they are, numbers and booleans in
 * JSON text, a missing field or null as the empty string). Returns a new
 * malloc'd string (owned: free()), NULL when memory runs out. */
char *qxm_pipe_expand(const char *template, const json_t *event_data);

/* Executes one run of w on payload (borrowed). Returns a new JSON object:
 *   {"status": "SUCCESS"|"FAILURE",
 *    "eventData": {name: value|null, ...},
 *    "conditionsMet": true|false,
 *    "conditions": [{"field","op","value"(if any),"actual","met"}],
 *    "tasks": [{"type","status":"SUCCESS"|"FAILURE"|"SKIPPED",
 *               "inputs":{expanded inputs},"error":string|null,
 *               "result":{...task output, e.g. contactId, distributionId}}],
 *    "error": null | "task 2 (email_distribution): invalid email \"x\""}
 * Conditions not met: status SUCCESS, conditionsMet false, no task runs
 * (tasks is empty). onTaskFailure "stop": tasks after a failed one are
 * SKIPPED. Any failed task makes the run FAILURE; error names the first
 * failed task (1-based index and type) and the reason.
 * rng (may be NULL) draws contact/distribution ids so seeded runs repeat.
 * NULL only when memory runs out. */
json_t *qxm_workflow_execute(const qxm_workflow *w, json_t *payload, qxm_directory *d,
                             qx_rng *rng);

#endif
