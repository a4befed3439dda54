/*
 * render.c — profile → payload, or profile → exclusion reason.
 *
 * The order of the checks follows the platform's: a profile is a candidate
 * for a segment export only when it is a member (any status) of an activated
 * audience; then it needs at least one mapped identity it can send. Hashed
 * email entries are dropped one by one (plain-text email only), so a profile
 * with a hashed email and a mapped ECID is still sent, by its ECID; it is
 * excluded as "hashedEmailOnly" only when nothing else is left.
 *
 * identityMap is keyed by the target identity, not the source namespace: the
 * destination's documentation maps "IdentityMap: ECID" to "Identity:
 * external_id", and the Destination SDK's "Message format" page shows the
 * exported identityMap keyed by the destination's target identities. An ECID
 * is sent as "external_id": [{"id": ...}], an email as "Email" (the seed
 * example's key).
 */
#include "qxs_render.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_email.h"
#include "qx_json_write.h"

static const char *const exclusion_names[QXS_EXCLUSION_COUNT] = {
    "", "notInActivatedAudience", "noMappedIdentity", "hashedEmailOnly", "consentDenied"};

const char *qxs_exclusion_name(qxs_exclusion e)
{
    return (unsigned)e < QXS_EXCLUSION_COUNT ? exclusion_names[e] : "";
}

json_t *qxs_path_get(const json_t *root, const char *dotted)
{
    const json_t *cur = root;
    const char *p = dotted;
    while (cur != NULL) {
        if (!json_is_object(cur))
            return NULL;
        const char *dot = strchr(p, '.');
        size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
        cur = json_object_getn(cur, p, n);
        if (dot == NULL)
            return (json_t *)cur;
        p = dot + 1;
    }
    return NULL;
}

int qxs_path_set(json_t *root, const char *dotted, json_t *value)
{
    json_t *cur = root;
    const char *p = dotted;
    for (;;) {
        const char *dot = strchr(p, '.');
        if (!json_is_object(cur))
            break;
        if (dot == NULL)
            return json_object_set_new(cur, p, value) == 0 ? 0 : -1;
        size_t n = (size_t)(dot - p);
        json_t *next = json_object_getn(cur, p, n);
        if (next == NULL) {
            next = json_object();
            if (next == NULL || json_object_setn_new(cur, p, n, next) != 0)
                break;
        }
        cur = next;
        p = dot + 1;
    }
    json_decref(value);
    return -1;
}

size_t qxs_payload_dump(const json_t *payload, qx_buf *out)
{
    qx_buf_reset(out);
    /* qx_json_write: json_dumps(JSON_COMPACT)'s text without its per-dump
     * hash table of containers and callback per token. */
    if (qx_json_write(out, payload, NULL) != 0) {
        qx_buf_reset(out);
        return 0;
    }
    return out->len;
}

char *qxs_payload_identity_key(const json_t *payload)
{
    json_t *map = json_object_get(payload, "identityMap");
    const char *ns;
    json_t *entries;
    json_object_foreach(map, ns, entries)
    {
        const char *id = json_string_value(json_object_get(json_array_get(entries, 0), "id"));
        if (id == NULL)
            continue;
        size_t ns_len = strlen(ns), id_len = strlen(id);
        char *key = malloc(ns_len + id_len + 2); /* "ns:id" */
        if (key != NULL) {
            memcpy(key, ns, ns_len);
            key[ns_len] = ':';
            memcpy(key + ns_len + 1, id, id_len + 1);
        }
        return key;
    }
    return NULL;
}

static int warn(qxs_render_result *out, const char *fmt, ...) QX_PRINTF(2, 3);

static int warn(qxs_render_result *out, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return json_array_append_new(out->warnings, json_string(text));
}

/* Copies the activated audiences the profile is a member of into ups, in the
 * profile's order. Returns the number copied, or -1 when memory runs out. */
static int render_audiences(const qxs_mapping *m, const json_t *profile, json_t *ups,
                            qxs_render_result *out)
{
    json_t *src = qxs_path_get(profile, "segmentMembership.ups");
    const char *seg;
    json_t *entry;
    int n = 0;
    json_object_foreach(src, seg, entry)
    {
        if (!qxs_mapping_is_activated(m, seg))
            continue;
        if (!json_is_object(entry)) {
            if (warn(out, "segmentMembership.ups.%s: not an object (audience skipped)", seg) != 0)
                return -1;
            continue;
        }
        json_t *copy = json_object();
        if (copy == NULL || json_object_set_new(ups, seg, copy) != 0)
            return -1;
        /* the kept keys in the profile's order, as the seed example has them
         * (lastQualificationTime, then status) */
        const char *key;
        json_t *v;
        json_object_foreach(entry, key, v)
        {
            bool kept = strcmp(key, "status") == 0 || strcmp(key, "lastQualificationTime") == 0;
            if (kept && json_object_set(copy, key, v) != 0)
                return -1;
        }
        n++;
    }
    return n;
}

/* True when list (an array of {"id": ...}) already holds id. */
static bool has_id(const json_t *list, const char *id)
{
    size_t k;
    json_t *e;
    json_array_foreach(list, k, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "id")), id) == 0)
            return true;
    }
    return false;
}

/* "identityMap.ECID[0]": where an identity entry is, for a warning (buf
 * holds 128 bytes). */
static const char *where_of(char *buf, const qxs_identity_mapping *im, size_t k)
{
    snprintf(buf, 128, "identityMap.%s[%zu]", im->source, k);
    return buf;
}

/* {"id": id}, built directly rather than by json_pack, which reads its
 * format every time. NULL when memory runs out. */
static json_t *id_entry(const char *id)
{
    json_t *e = json_object();
    /* json_object_set_new_nocheck takes the string, also when it fails
     * (and fails on NULL). */
    if (e == NULL || json_object_set_new_nocheck(e, "id", json_string(id)) != 0) {
        json_decref(e);
        return NULL;
    }
    return e;
}

/* What render_identities left out. */
typedef struct dropped {
    int hashed; /* hashed emails */
    int denied; /* identities whose consent denies the use */
} dropped;

/* Copies the mapped identities into idmap, under their target identity's key
 * ("Email", "external_id"): keys and entries in mapping order, then input
 * order; namespaces sharing a target are concatenated, an id already there is
 * not repeated; an identity policy denies is left out. Returns the number of
 * entries copied, or -1 when memory runs out; *drop counts what was left
 * out. */
static int render_identities(const qxs_mapping *m, const qxs_policy *policy, const json_t *profile,
                             json_t *idmap, dropped *drop, qxs_render_result *out)
{
    json_t *src = json_object_get(profile, "identityMap");
    int n = 0;
    memset(drop, 0, sizeof *drop);
    for (size_t i = 0; i < m->n_identities; i++) {
        const qxs_identity_mapping *im = &m->identities[i];
        const char *key = qxs_identity_target_key(im->target);
        json_t *entries = json_object_get(src, im->source);
        if (!json_is_array(entries))
            continue;
        size_t k;
        json_t *e;
        json_array_foreach(entries, k, e)
        {
            const char *id = json_string_value(json_object_get(e, "id"));
            char where[128]; /* named only in a warning */
            if (id == NULL || *id == '\0') {
                if (warn(out, "%s: no string \"id\" (entry skipped)", where_of(where, im, k)) != 0)
                    return -1;
                continue;
            }
            const qxs_consent_rule *denied =
                qxs_policy_identity_denied(policy, profile, im->source, id);
            if (denied != NULL) {
                drop->denied++;
                if (warn(out, "%s: consent denied for this identity (rule \"%s\"); not sent",
                         where_of(where, im, k), denied->name) != 0)
                    return -1;
                continue;
            }
            if (im->target == QXS_TARGET_EMAIL && qx_is_hashed_email(id)) {
                drop->hashed++;
                if (warn(out, "%s: hashed email not sent (plain-text email only)",
                         where_of(where, im, k)) != 0)
                    return -1;
                continue;
            }
            json_t *list = json_object_get(idmap, key);
            if (list == NULL) {
                list = json_array();
                if (list == NULL || json_object_set_new(idmap, key, list) != 0)
                    return -1;
            }
            if (has_id(list, id))
                continue;
            if (json_array_append_new(list, id_entry(id)) != 0)
                return -1;
            n++;
        }
    }
    return n;
}

static int render_attributes(const qxs_mapping *m, const json_t *profile, json_t *payload,
                             qxs_render_result *out)
{
    for (size_t i = 0; i < m->n_attributes; i++) {
        const qxs_attribute_mapping *a = &m->attributes[i];
        json_t *v = qxs_path_get(profile, a->source);
        if (v == NULL || json_is_null(v))
            continue; /* absent attributes are omitted, never sent as null */
        if (json_is_array(v) || json_is_object(v)) {
            if (warn(out, "%s: %s value not exported (only scalar attributes can be)", a->source,
                     json_is_array(v) ? "array" : "object") != 0)
                return -1;
            continue;
        }
        if (qxs_path_set(payload, a->target, json_incref(v)) != 0)
            return -1;
    }
    return 0;
}

static void exclude(qxs_render_result *out, qxs_exclusion why, const char *detail)
{
    json_decref(out->payload);
    out->payload = NULL;
    out->excluded = why;
    snprintf(out->detail, sizeof out->detail, "%s", detail);
}

int qxs_render(const qxs_mapping *m, const json_t *profile, qxs_render_result *out, qx_error *err)
{
    return qxs_render_governed(m, NULL, profile, out, err);
}

/* The exclusion of a profile left with no identity to send. */
static void exclude_no_identity(qxs_render_result *out, const dropped *drop)
{
    if (drop->denied > 0)
        exclude(out, QXS_EXCLUDED_CONSENT, "consent denied for every identity it could be sent by");
    else if (drop->hashed > 0)
        exclude(out, QXS_EXCLUDED_HASHED_EMAIL,
                "its only email identity is hashed (plain-text email only)");
    else
        exclude(out, QXS_EXCLUDED_NO_IDENTITY, "no identity in the mapped namespaces");
}

int qxs_render_governed(const qxs_mapping *m, const qxs_policy *policy, const json_t *profile,
                        qxs_render_result *out, qx_error *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(profile)) {
        qx_error_set(err, "profile is not a JSON object");
        return -1;
    }
    json_t *idmap = json_object(), *ups = json_object();
    out->payload = json_object();
    out->warnings = json_array();
    if (idmap == NULL || ups == NULL || out->payload == NULL || out->warnings == NULL)
        goto oom;

    int n_aud = render_audiences(m, profile, ups, out);
    if (n_aud < 0)
        goto oom;
    if (n_aud == 0) {
        exclude(out, QXS_EXCLUDED_NO_AUDIENCE, "not a member of any activated audience");
        goto done;
    }
    const qxs_consent_rule *denied = qxs_policy_profile_denied(policy, profile);
    if (denied != NULL) {
        char why[sizeof out->detail];
        snprintf(why, sizeof why,
                 "consent rule \"%.48s\" (%.80s) denies marketing action \"%.48s\"", denied->name,
                 denied->path, denied->marketing_action);
        exclude(out, QXS_EXCLUDED_CONSENT, why);
        goto done;
    }
    dropped drop;
    int n_ids = render_identities(m, policy, profile, idmap, &drop, out);
    if (n_ids < 0)
        goto oom;
    if (n_ids == 0) {
        exclude_no_identity(out, &drop);
        goto done;
    }
    if (render_attributes(m, profile, out->payload, out) != 0)
        goto oom;
    if (json_object_set_new(out->payload, "identityMap", idmap) != 0) {
        idmap = NULL;
        goto oom;
    }
    idmap = NULL;
    json_t *membership = json_object(); /* {"ups": ups} */
    if (membership == NULL)
        goto oom;
    int rc = json_object_set_new_nocheck(membership, "ups", ups); /* ups taken, also on failure */
    ups = NULL;
    if (rc != 0 || json_object_set_new(out->payload, "segmentMembership", membership) != 0) {
        if (rc != 0)
            json_decref(membership);
        goto oom;
    }
done:
    json_decref(idmap);
    json_decref(ups);
    return 0;
oom:
    json_decref(idmap);
    json_decref(ups);
    qxs_render_result_clear(out);
    qx_error_set(err, "out of memory while rendering");
    return -1;
}

void qxs_render_result_clear(qxs_render_result *out)
{
    json_decref(out->payload);
    json_decref(out->warnings);
    memset(out, 0, sizeof *out);
}
