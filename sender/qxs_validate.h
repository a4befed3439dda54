/*
 * qxs_validate.h — `qx-send validate`: checking a mapping before it is
 * activated, against sample profiles and the workflow it will trigger.
 *
 * Findings (each an error or a warning, with a message naming the entry):
 *   - attribute target names that are not camelCase (warning: the platform
 *     recommends camelCase; dotted XDM-style paths such as
 *     "person.name.firstName" and tenant segments "_acme" are fine);
 *   - more mapped attributes than the platform's soft limit (warning);
 * with a policy (its marketing actions set, qxs_policy.h):
 *   - attributes whose data usage labels a label rule in force forbids
 *     (error; the finding also has "attribute", "source", "label", "rule"
 *     and "marketingAction");
 *   - sample profiles the consent rules exclude (warning, counted);
 * with sample profiles:
 *   - lines that are not JSON objects (error);
 *   - attribute source paths found in none of the samples (error), or found
 *     only as arrays/objects, which cannot be exported (error);
 *   - identity namespaces and audiences found in none of the samples
 *     (warning); hashed emails in mapped email namespaces (warning: those
 *     entries are not sent, and a profile with nothing else is excluded);
 *   - no sample would be sent at all (warning);
 * with a workflow (a qx-mock config file and a workflow id):
 *   - event-data JSONPaths that do not compile (error), or that no rendered
 *     payload satisfies (error) — without samples, a payload with every
 *     mapped field present stands in, so the finding means "the mapping never
 *     produces this field"; for a path into identityMap the message lists
 *     the keys the payloads' identityMap has instead, first seen first
 *     ("...; their identityMap has Email, external_id").
 *
 * Owns: nothing beyond the findings it returns.
 * Locks: none; no shared state.
 * Fails: NULL with err when the checks cannot run; what is wrong with the
 * mapping is a finding, not a failure.
 */
#ifndef QXS_VALIDATE_H
#define QXS_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "qx_error.h"
#include "qxs_mapping.h"
#include "qxs_policy.h"

typedef struct qxs_validate_input {
    const qxs_mapping *mapping;    /* required */
    FILE *profiles;                /* NDJSON samples, may be NULL; not closed */
    const json_t *workflow_config; /* a qx-mock config document, may be NULL */
    const char *workflow_id;       /* required with workflow_config */
    const qxs_policy *policy;      /* may be NULL */
} qxs_validate_input;

/* Runs the checks. Returns a new array (owned) of findings
 * {"severity": "error"|"warning", "message": "..."} in the order found, or
 * NULL with err set when the checks cannot run (the workflow id is not in the
 * config, the profiles cannot be read, memory). */
QX_MUST_CHECK json_t *qxs_validate(const qxs_validate_input *in, qx_error *err);

/* The number of findings of severity ("error" or "warning") in findings. */
size_t qxs_validate_count(const json_t *findings, const char *severity);

/* True when every dotted segment of name is camelCase (an optional leading
 * underscore, a lower-case letter, then letters and digits). */
bool qxs_is_camel_case_path(const char *name);

#endif
