/*
 * qxm_workflow.h — the workflow engine: what one run of a workflow does.
 *
 * Given a workflow and the JSON-event body that triggered it, the engine
 * extracts the event data (JSONPath), evaluates the conditions, expands the
 * tasks' piped text (~{aedj://field}) and runs the tasks in order against an
 * emulated XM Directory, exactly as a Qualtrics run would succeed or fail.
 * It knows nothing of HTTP or of the run store: it returns the outcome as
 * JSON.
 *
 * The directory is shared by all runs of an emulator and is thread-safe. It
 * keeps its contacts in a private temporary SQLite database (its memory is
 * bounded by SQLite's page cache however many it holds) and counts the
 * distributions; nothing of it survives the process.
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

/* Removes every contact and zeroes the distribution count (a failure is
 * logged). */
void qxm_directory_reset(qxm_directory *d);

/* Number of contacts kept / of distributions counted. */
size_t qxm_directory_contacts(qxm_directory *d);
size_t qxm_directory_distributions(qxm_directory *d);

/* The contact keyed by email (case-insensitive) or, when email is NULL, by
 * extRef, as a new JSON object (owned: a copy) {"contactId","email","extRef",
 * "firstName","lastName",...}; NULL when there is none (or when it cannot be
 * read, which is logged). */
json_t *qxm_directory_lookup(qxm_directory *d, const char *email, const char *ext_ref);

/* Creates or updates a contact. fields (borrowed) holds what to set:
 * "email", "extRef", "firstName", "lastName", "phone", "language" (non-empty
 * strings; empty ones are ignored) and "embeddedData" (an object merged into
 * the contact's). The contact is found by email (case-insensitive), else by
 * extRef; a new one gets an id "CID_" + 15 characters drawn from rng, or from
 * the directory's own counter when rng is NULL. Returns a new object
 * {"contactId", "action": "created"|"updated"}, or NULL with err set when
 * fields has neither an email nor an extRef, memory runs out (the
 * directory is then unchanged) or the directory cannot be written. The
 * caller checks the email's syntax first. */
QX_MUST_CHECK json_t *qxm_directory_upsert_contact(qxm_directory *d, const json_t *fields,
                                                   qx_rng *rng, qx_error *err);

/* Counts that survey_id was "sent" to email; subject may be NULL. The id is
 * "EMD_" + 15 characters, drawn as for contacts. Returns a new object
 * {"distributionId", "surveyId", "email", "subject" (when not NULL)}, NULL
 * (and nothing counted) when memory runs out. */
QX_MUST_CHECK json_t *qxm_directory_add_distribution(qxm_directory *d, const char *survey_id,
                                                     const char *email, const char *subject,
                                                     qx_rng *rng);

/* Expands Qualtrics piped text: every "~{aedj://name}" in template is
 * replaced by event_data[name] (strings as they are, numbers, booleans,
 * arrays and objects in compact JSON text, a missing field or null as the
 * empty string; an unclosed "~{aedj://" stays as written). Returns a new
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
json_t *qxm_workflow_execute(const qxm_workflow *w, json_t *payload, qxm_directory *d, qx_rng *rng);

#endif
