/*
 * whatif_internal.h — the parts of `qx-mock whatif` (qxm_whatif.h) shared
 * between its files: whatif.c replays, whatif_diff.c compares outcomes and
 * words the differences, whatif_mapping.c renders profiles with two
 * mappings, whatif_out.c writes the summary, JUnit and report.
 *
 * Owns: nothing; every function returns new references or fills the
 * caller's. No locks. Fails: NULL / -1 only when memory runs out.
 */
#ifndef WHATIF_INTERNAL_H
#define WHATIF_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "qxm_whatif.h"

/* What is compared of a run document (borrowed): a new object {status (a
 * RUNNING run's final status as its record implies it), conditionsMet,
 * eventData, tasks: [{type, status, error}], error}; NULL when memory runs
 * out. */
json_t *whatif_run_outcome(const json_t *run);

/* Appends to diffs (an array) every difference between the outcomes old and
 * now (as whatif_run_outcome makes them) and sets kinds[k] for each kind
 * found. Returns 0, or -1 when memory runs out. */
int whatif_compare(const json_t *old, const json_t *now, json_t *diffs,
                   bool kinds[QXM_WHATIF_N_KINDS]);

/* Appends one difference {kind, field, old, new} to diffs; old or now
 * (borrowed) NULL: that side has no key (absent). Returns 0 or -1. */
int whatif_add_diff(json_t *diffs, qxm_whatif_kind kind, const char *field, const json_t *old,
                    const json_t *now);

/* The differences in words: "status SUCCESS -> FAILURE; eventData.email
 * \"a@x\" -> null" (values cut at 80 characters). New malloc'd text
 * (owned: free()), NULL when memory runs out. */
char *whatif_diff_text(const json_t *diffs);

/* whatif_mapping.c: renders m's profiles with both mappings into *old and
 * *now (objects: profile line -> payload, or {"excluded": why}) and lists
 * the profiles whose payload differs in *payloads (as the report's
 * "payloads"). All new; returns 0, or -1 with err set (and all NULL). */
int whatif_render_profiles(const qxm_whatif_mapping *m, json_t **old, json_t **now,
                           json_t **payloads, qx_error *err);

#endif
