/*
 * qxs_render.h — turning one profile into the payload the destination sends,
 * or into the reason it is not sent.
 *
 * The payload has the shape of the seed example (SPEC §2):
 *   - each mapped attribute present in the profile, at its target path
 *     (dotted → nested objects); absent or null attributes are omitted;
 *   - "identityMap": the entries of the mapped namespaces reduced to
 *     {"id": ...}, under their target identity's key ("Email", "external_id";
 *     qxs_identity_target_key), in mapping order; namespaces sharing a target
 *     are concatenated, an id already listed is not repeated;
 *   - "segmentMembership": {"ups": {...}}: the activated audiences present on
 *     the profile, each with its "status" and "lastQualificationTime" as given
 *     (realized, existing and exited are all sent).
 * Keys keep an order: attributes in mapping order, then identityMap, then
 * segmentMembership; ups entries and their keys in the profile's order (the
 * seed profile renders to the seed example's text, key for key).
 * A profile is excluded, with a reason, when it is in no activated audience,
 * has no mapped identity, or when its only email identities are hashed
 * (the destination takes plain-text emails only).
 *
 * With a policy (qxs_render_governed, qxs_policy.h), a profile in an
 * activated audience that fails a consent rule in force is excluded as
 * "consentDenied"; an identity denied through consents.idSpecific is left
 * out of identityMap (a warning says so), and a profile left with no
 * identity because of that is excluded as "consentDenied" too (this
 * outranks "hashedEmailOnly": the customer said no).
 *
 * Only scalar attributes (string, number, boolean) are exported: the platform
 * cannot export array and map attributes other than identityMap, so such a
 * value is left out of the payload and reported as a warning.
 *
 * The module knows nothing of HTTP: it is pure data in, data out.
 *
 * Owns: nothing beyond each result (payload and warnings), which the caller
 * clears.
 * Locks: none; no shared state (the mapping is only read).
 * Fails: -1 with err for a profile that is not an object or when memory
 * runs out; an exclusion is a result, not a failure.
 */
#ifndef QXS_RENDER_H
#define QXS_RENDER_H

#include <jansson.h>

#include "qx_buf.h"
#include "qx_error.h"
#include "qxs_mapping.h"
#include "qxs_policy.h"

typedef enum qxs_exclusion {
    QXS_NOT_EXCLUDED = 0,
    QXS_EXCLUDED_NO_AUDIENCE,  /* "notInActivatedAudience" */
    QXS_EXCLUDED_NO_IDENTITY,  /* "noMappedIdentity" */
    QXS_EXCLUDED_HASHED_EMAIL, /* "hashedEmailOnly" */
    QXS_EXCLUDED_CONSENT,      /* "consentDenied" */
    QXS_EXCLUSION_COUNT
} qxs_exclusion;

typedef struct qxs_render_result {
    json_t *payload;        /* owned; NULL when excluded */
    qxs_exclusion excluded; /* QXS_NOT_EXCLUDED when payload is set */
    char detail[256];       /* why it was excluded, for people */
    json_t *warnings;       /* owned array of strings (possibly empty) */
} qxs_render_result;

/* Renders profile with m into out (which it initialises). Returns 0 with
 * either out->payload or out->excluded set, or -1 with err set when the
 * profile is not a JSON object or memory runs out (out is then empty).
 * Release out with qxs_render_result_clear in every case. */
QX_MUST_CHECK int qxs_render(const qxs_mapping *m, const json_t *profile, qxs_render_result *out,
                             qx_error *err);

/* As qxs_render, applying policy's consent rules in force (NULL: none, as
 * qxs_render). */
QX_MUST_CHECK int qxs_render_governed(const qxs_mapping *m, const qxs_policy *policy,
                                      const json_t *profile, qxs_render_result *out, qx_error *err);

/* Releases what out holds and empties it; safe on an empty result. */
void qxs_render_result_clear(qxs_render_result *out);

/* The exclusion's name in reports ("noMappedIdentity", ...). Borrowed
 * (static); "" for QXS_NOT_EXCLUDED. */
const char *qxs_exclusion_name(qxs_exclusion e);

/* The value at a dotted path through nested objects, or NULL when any step is
 * missing or not an object. Borrowed. */
json_t *qxs_path_get(const json_t *root, const char *dotted);

/* Sets value (stolen, also on failure) at a dotted path in root, creating
 * intermediate objects. Returns 0, or -1 when a step is occupied by a
 * non-object or memory runs out. */
QX_MUST_CHECK int qxs_path_set(json_t *root, const char *dotted, json_t *value);

/* The payload's text as it is sent: compact JSON, no newline, dumped into
 * out in place of what it held (out grows as needed; the caller keeps it for
 * the next call and frees it with qx_buf_free). Returns the length (out->len,
 * the text NUL-terminated after it), or 0 when memory runs out (out is then
 * empty). One buffer write instead of json_dumps' growing string or
 * json_dumpf's write per token. */
QX_MUST_CHECK size_t qxs_payload_dump(const json_t *payload, qx_buf *out);

/* The key that orders deliveries of one identity: "<namespace>:<id>" of the
 * payload's first identityMap entry. Returns a new string (owned: free), or
 * NULL when the payload carries no identity (no ordering constraint). */
char *qxs_payload_identity_key(const json_t *payload);

#endif
