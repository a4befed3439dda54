/*
 * qxs_policy.h — data usage and consent policies, as the platform applies
 * them to a destination before it activates anything: a policy file, the
 * marketing actions the destination performs, and the checks render and
 * validate make with them.
 *
 *   {"name": "Email surveys", "description": "...",
 *    "consentRules": [{"name": "email-consent", "marketingAction": "emailTargeting",
 *                      "path": "consents.marketing.email.val", "in": ["y"],
 *                      "missing": "allow"}],
 *    "labelRules":   [{"name": "no-third-party-export",
 *                      "marketingAction": "exportToThirdParty", "labels": ["C2"]}]}
 *
 * The platform has the same two kinds of data usage policy (Experience
 * League, "Data usage policies overview"): a consent policy filters the
 * profiles that may be activated by the customer's consent, a data
 * governance policy forbids a marketing action on data that carries given
 * data usage labels. A rule is in force only when its marketing action is
 * one the destination performs (qxs_policy_set_actions): a destination's
 * marketing actions are what policies are evaluated against.
 *
 * Consent rules. `path` is a dotted path under "consents" in the profile
 * (the XDM "Consents and Preferences" field group: consents.share.val,
 * consents.marketing.any.val, consents.marketing.email.val, values "y" /
 * "n"); `in` lists the values that allow the use; `missing` ("allow", the
 * default, or "deny") says what an absent field means. A value present and
 * not in `in` (whatever its type) denies. The same path is looked up per
 * identity under consents.idSpecific.<namespace>.<id> (the rest of the path
 * after "consents."; the namespace as the profile's identityMap names it,
 * e.g. "Email", "ECID", matched without regard to case since the field
 * group's own example writes "email"): an identity whose value is present
 * and not in `in` is denied; an absent per-identity value means no override
 * (the profile's own consent, already checked, stands).
 *
 * Label rules. `labels` are data usage labels (e.g. "C2": no export to
 * third parties) that must not reach a destination performing
 * `marketingAction`; mapping attributes carry theirs in "labels"
 * (qxs_mapping.h).
 *
 * Loading is strict as every file here: unknown keys, wrong types, empty
 * lists, a path outside "consents", an unknown `missing`, two rules with
 * one name are errors naming the rule ("policy.consentRules[1].in: ...").
 *
 * Owns: the policy's strings and arrays, and a copy of the marketing
 * actions set on it.
 * Locks: none; no shared state (immutable once loaded and its actions set;
 * render reads it from one thread).
 * Fails: NULL / -1 with err naming the file and the entry.
 */
#ifndef QXS_POLICY_H
#define QXS_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "qx_error.h"
#include "qxs_mapping.h"

/* Hard limits: far above any real policy; a larger file is a wrong one. */
#define QXS_POLICY_MAX_RULES 256
#define QXS_POLICY_MAX_VALUES 32
#define QXS_POLICY_MAX_ACTIONS 16
#define QXS_POLICY_MAX_NAME_BYTES 128

typedef struct qxs_consent_rule {
    char *name;
    char *marketing_action;
    char *path; /* "consents.marketing.email.val" */
    char **in;  /* values that allow the use */
    size_t n_in;
    bool missing_denies; /* "missing": "deny" */
} qxs_consent_rule;

typedef struct qxs_label_rule {
    char *name;
    char *marketing_action;
    char **labels;
    size_t n_labels;
} qxs_label_rule;

typedef struct qxs_policy {
    char *name;
    qxs_consent_rule *consent;
    size_t n_consent;
    qxs_label_rule *label;
    size_t n_label;
    char **actions; /* the marketing actions in force (qxs_policy_set_actions) */
    size_t n_actions;
} qxs_policy;

/* Builds a policy from a parsed document (not modified). Returns a new
 * policy (owned: free with qxs_policy_free) with no marketing action in
 * force yet, or NULL with err naming the entry. */
QX_MUST_CHECK qxs_policy *qxs_policy_from_json(const json_t *doc, qx_error *err);

/* Reads and builds the policy in path. Returns a new policy (owned), or
 * NULL with err prefixed by the file name. */
QX_MUST_CHECK qxs_policy *qxs_policy_load_file(const char *path, qx_error *err);

/* Frees p; NULL is a no-op. */
void qxs_policy_free(qxs_policy *p);

/* Sets the marketing actions the destination performs (copied), replacing
 * earlier ones. Returns 0, or -1 with err (none given, an empty or repeated
 * name, more than QXS_POLICY_MAX_ACTIONS, memory). */
QX_MUST_CHECK int qxs_policy_set_actions(qxs_policy *p, const char *const *actions, size_t n,
                                         qx_error *err);

/* True when action is one of the marketing actions in force. */
bool qxs_policy_performs(const qxs_policy *p, const char *action);

/* The first consent rule in force that profile fails, or NULL when it
 * passes them all (or p is NULL). Borrowed. */
const qxs_consent_rule *qxs_policy_profile_denied(const qxs_policy *p, const json_t *profile);

/* The first consent rule in force that denies the identity id of
 * namespace ns through consents.idSpecific, or NULL. Borrowed. */
const qxs_consent_rule *qxs_policy_identity_denied(const qxs_policy *p, const json_t *profile,
                                                   const char *ns, const char *id);

/* The mapping's attributes whose labels a label rule in force forbids.
 * Returns a new array (owned) of {"attribute": "mapping.attributes[i]",
 * "source", "label", "rule", "marketingAction", "message"}, empty when
 * none; NULL when memory runs out. */
QX_MUST_CHECK json_t *qxs_policy_label_violations(const qxs_policy *p, const qxs_mapping *m);

#endif
