/*
 * tool_governance.h — the tool's side of policies and alerts: loading the
 * policy a command is given, setting the marketing actions it applies to,
 * refusing a mapping whose labels a rule forbids, and building the alert
 * counter from the options (the webhook's token read from the environment
 * variable --alert-token-env names, never from a command line).
 *
 * Owns: nothing; what it returns is the caller's.
 * Locks: none; no shared state.
 * Fails: by printing to standard error and returning TOOL_EXIT_USAGE or
 * NULL.
 */
#ifndef TOOL_GOVERNANCE_H
#define TOOL_GOVERNANCE_H

#include <stddef.h>

#include "qxs_alert.h"
#include "qxs_mapping.h"
#include "qxs_policy.h"
#include "tool_options.h"

/* Loads the policy at path (NULL: none, *out NULL) and sets the n marketing
 * actions on it; where_actions names where they come from in the message
 * when there are none ("--marketing-action", "the destination's
 * marketingActions"). Returns 0 with *out owned by the caller, or
 * TOOL_EXIT_USAGE after printing why. */
int tool_policy_open(const char *cmd, const char *path, const char *const *actions, size_t n,
                     const char *where_actions, qxs_policy **out);

/* Prints every label violation of m under p ("qx-send CMD: ..."). Returns
 * 0 when there is none (or p is NULL), TOOL_EXIT_USAGE otherwise. */
int tool_policy_check_labels(const char *cmd, const qxs_policy *p, const qxs_mapping *m);

/* The alert counter of a send: --alert-skipped-rate (default 1),
 * --alert-webhook and the token --alert-token-env names. Returns it (owned),
 * or NULL after printing why. */
qxs_alerts *tool_alerts_open(const char *cmd, const tool_options *o, const char *destination);

#endif
