/*
 * qxs_mapping.h — the mapping file: which audiences are activated, which
 * identity namespaces become which target identity, and which profile
 * attributes are exported at which target path.
 *
 *   {"audiences":  ["<segmentId>", ...],
 *    "identities": [{"source": "Email", "target": "email"},
 *                   {"source": "ECID",  "target": "external_id"}],
 *    "attributes": [{"source": "person.name.firstName", "target": "person.name.firstName"},
 *                   {"source": "person.birthDate", "target": "birthDate", "labels": ["C2"]}]}
 *
 * An attribute's "labels" are the data usage labels its field carries in the
 * platform (e.g. "C2", no export to third parties); a policy's label rules
 * refuse a mapping that would send them to a destination whose marketing
 * action they forbid (qxs_policy.h).
 *
 * Several namespaces may share a target (their entries are concatenated in
 * the payload's identityMap under the target's key); "Email" is accepted as
 * the email target's name too.
 *
 * Loading is strict, in the manner of the platform's mapping step: unknown keys,
 * wrong types, an identity target other than `email` / `external_id`, no
 * identity mapping at all, malformed dotted paths and two targets that would
 * overwrite each other are errors, and each message names the entry
 * (`mapping.identities[1].target: "phone" is not email or external_id`).
 * So are mappings beyond the hard limits below (attributes, path length and
 * depth).
 *
 * The structure is plain data, immutable once loaded: render and validate read
 * its fields directly.
 *
 * Owns: the mapping's strings and arrays.
 * Locks: none; no shared state (immutable once loaded).
 * Fails: NULL with err naming the file and the entry.
 */
#ifndef QXS_MAPPING_H
#define QXS_MAPPING_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "qx_error.h"

/* The platform's soft limit on mapped attributes (a warning, not an error). */
#define QXS_MAPPING_SOFT_MAX_ATTRIBUTES 50
/* Hard limits, far above any real mapping, so that a hostile or broken file
 * is refused at load instead of costing quadratic checks or a payload
 * nested thousands deep (which receivers' JSON parsers refuse anyway). */
#define QXS_MAPPING_MAX_ATTRIBUTES 1000
#define QXS_MAPPING_MAX_PATH_BYTES 1024
#define QXS_MAPPING_MAX_PATH_SEGMENTS 32
#define QXS_MAPPING_MAX_LABELS 32

typedef enum qxs_identity_target {
    QXS_TARGET_EMAIL,      /* "email" (or "Email"): plain-text email only */
    QXS_TARGET_EXTERNAL_ID /* "external_id": a custom user id */
} qxs_identity_target;

typedef struct qxs_identity_mapping {
    char *source; /* identity namespace in the profile's identityMap, e.g. "Email" */
    qxs_identity_target target;
} qxs_identity_mapping;

typedef struct qxs_attribute_mapping {
    char *source;  /* dotted path in the profile, e.g. "loyalty.tier" */
    char *target;  /* dotted path in the payload, e.g. "loyaltyTier" */
    char **labels; /* data usage labels, e.g. "C2"; NULL when none */
    size_t n_labels;
} qxs_attribute_mapping;

typedef struct qxs_mapping {
    char **audiences; /* activated segment ids */
    size_t n_audiences;
    qxs_identity_mapping *identities;
    size_t n_identities;
    qxs_attribute_mapping *attributes;
    size_t n_attributes;
} qxs_mapping;

/* Builds a mapping from a parsed document (not modified, not stolen).
 * Returns a new mapping (owned: free with qxs_mapping_free), or NULL with err
 * naming the offending entry. */
QX_MUST_CHECK qxs_mapping *qxs_mapping_from_json(const json_t *doc, qx_error *err);

/* Reads and builds the mapping in path. Returns a new mapping (owned), or NULL
 * with err prefixed by the file name. */
QX_MUST_CHECK qxs_mapping *qxs_mapping_load_file(const char *path, qx_error *err);

/* Frees m; NULL is a no-op. */
void qxs_mapping_free(qxs_mapping *m);

/* The target's name as written in mapping files ("email", "external_id").
 * Borrowed (static). */
const char *qxs_identity_target_name(qxs_identity_target t);

/* The target's key in the payload's identityMap: "Email" for the email
 * target (as the seed example), "external_id" for the custom-id target.
 * Borrowed (static). */
const char *qxs_identity_target_key(qxs_identity_target t);

/* True when id is one of the mapping's activated audiences. */
bool qxs_mapping_is_activated(const qxs_mapping *m, const char *segment_id);

#endif
