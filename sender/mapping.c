/*
 * mapping.c — loading and checking a mapping file.
 *
 * Every check names the entry it refuses with a JSON-ish path from the
 * document root ("mapping.attributes[2].target"), so a mapping with fifty
 * attributes can be fixed from the message alone. Two attribute targets
 * collide when one is the other or a prefix of it at a dot ("person" and
 * "person.name"): one would overwrite the other in the payload. The payload's
 * own keys, identityMap and segmentMembership, are filled from identities and
 * audiences and cannot be attribute targets.
 */
#include "qxs_mapping.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_json_file.h"

static const char *const top_keys[] = {"audiences", "identities", "attributes", NULL};
static const char *const identity_keys[] = {"source", "target", NULL};
static const char *const attribute_keys[] = {"source", "target", "labels", NULL};

/* Payload members the sender builds itself (SPEC §2). */
static const char *const reserved_roots[] = {"identityMap", "segmentMembership", NULL};

static bool in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* Refuses any key of obj not in allowed; where names obj in the message. */
static int check_keys(const json_t *obj, const char *const *allowed, const char *where,
                      qx_error *err)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        (void)value;
        if (!in_list(allowed, key)) {
            qx_error_set(err, "%s: unknown key \"%s\"", where, key);
            return -1;
        }
    }
    return 0;
}

/* A dotted path: non-empty segments separated by single dots. */
static bool is_dotted_path(const char *s)
{
    if (*s == '\0' || *s == '.')
        return false;
    size_t n = strlen(s);
    if (s[n - 1] == '.' || strstr(s, "..") != NULL)
        return false;
    for (const char *p = s; *p; p++)
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            return false;
    return true;
}

/* Refuses a path longer or deeper than the limits; the message quotes only
 * the start of it. */
static int check_path_size(const char *path, const char *where, const char *member, qx_error *err)
{
    size_t n = strlen(path), segments = 1;
    for (const char *p = path; *p; p++)
        segments += *p == '.';
    if (n > QXS_MAPPING_MAX_PATH_BYTES) {
        qx_error_set(err, "%s.%s: \"%.32s...\" is %zu bytes long; at most %d", where, member, path,
                     n, QXS_MAPPING_MAX_PATH_BYTES);
        return -1;
    }
    if (segments > QXS_MAPPING_MAX_PATH_SEGMENTS) {
        qx_error_set(err, "%s.%s: \"%.32s...\" has %zu segments; at most %d", where, member, path,
                     segments, QXS_MAPPING_MAX_PATH_SEGMENTS);
        return -1;
    }
    return 0;
}

/* The first segment of a dotted path equals root. */
static bool path_has_root(const char *path, const char *root)
{
    size_t n = strlen(root);
    return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '.');
}

/* a equals b, or one is a dotted prefix of the other. */
static bool paths_collide(const char *a, const char *b)
{
    return path_has_root(a, b) || path_has_root(b, a);
}

static char *dup_string_member(const json_t *obj, const char *key, const char *where, qx_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        qx_error_set(err, "%s: missing \"%s\"", where, key);
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        qx_error_set(err, "%s.%s: expected a non-empty string", where, key);
        return NULL;
    }
    char *s = strdup(json_string_value(v));
    if (s == NULL)
        qx_error_set(err, "%s.%s: out of memory", where, key);
    return s;
}

static int load_audiences(qxs_mapping *m, const json_t *arr, qx_error *err)
{
    if (!json_is_array(arr)) {
        qx_error_set(err, "mapping.audiences: expected an array of segment ids");
        return -1;
    }
    if (json_array_size(arr) == 0) {
        qx_error_set(err, "mapping.audiences: at least one activated audience is required");
        return -1;
    }
    m->audiences = calloc(json_array_size(arr), sizeof *m->audiences);
    if (m->audiences == NULL) {
        qx_error_set(err, "mapping.audiences: out of memory");
        return -1;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v) || json_string_length(v) == 0) {
            qx_error_set(err, "mapping.audiences[%zu]: expected a non-empty segment id string", i);
            return -1;
        }
        if (qxs_mapping_is_activated(m, json_string_value(v))) {
            qx_error_set(err, "mapping.audiences[%zu]: \"%s\" is listed twice", i,
                         json_string_value(v));
            return -1;
        }
        m->audiences[i] = strdup(json_string_value(v));
        if (m->audiences[i] == NULL) {
            qx_error_set(err, "mapping.audiences[%zu]: out of memory", i);
            return -1;
        }
        m->n_audiences = i + 1;
    }
    return 0;
}

static int load_identities(qxs_mapping *m, const json_t *arr, qx_error *err)
{
    if (!json_is_array(arr)) {
        qx_error_set(err, "mapping.identities: expected an array of {\"source\", \"target\"}");
        return -1;
    }
    /* Streaming activation needs a mapped target identity (Destination SDK). */
    if (json_array_size(arr) == 0) {
        qx_error_set(err, "mapping.identities: at least one identity mapping is required");
        return -1;
    }
    m->identities = calloc(json_array_size(arr), sizeof *m->identities);
    if (m->identities == NULL) {
        qx_error_set(err, "mapping.identities: out of memory");
        return -1;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        char where[64];
        snprintf(where, sizeof where, "mapping.identities[%zu]", i);
        if (!json_is_object(e)) {
            qx_error_set(err, "%s: expected {\"source\", \"target\"}", where);
            return -1;
        }
        if (check_keys(e, identity_keys, where, err) != 0)
            return -1;
        char *target = dup_string_member(e, "target", where, err);
        if (target == NULL)
            return -1;
        qxs_identity_target t;
        /* "Email" is the identity's name in the destination's documentation and
         * the payload's identityMap key: accepted as the email target too */
        if (strcmp(target, "email") == 0 || strcmp(target, "Email") == 0) {
            t = QXS_TARGET_EMAIL;
        } else if (strcmp(target, "external_id") == 0) {
            t = QXS_TARGET_EXTERNAL_ID;
        } else {
            qx_error_set(err, "%s.target: \"%s\" is not email or external_id", where, target);
            free(target);
            return -1;
        }
        free(target);
        char *source = dup_string_member(e, "source", where, err);
        if (source == NULL)
            return -1;
        for (size_t j = 0; j < m->n_identities; j++) {
            if (strcmp(m->identities[j].source, source) == 0) {
                qx_error_set(err,
                             "%s.source: namespace \"%s\" is already mapped by identities[%zu]",
                             where, source, j);
                free(source);
                return -1;
            }
        }
        m->identities[i].source = source;
        m->identities[i].target = t;
        m->n_identities = i + 1;
    }
    return 0;
}

/* An attribute's data usage labels (e.g. "C2"): 1 to QXS_MAPPING_MAX_LABELS
 * distinct non-empty strings; absent: none. */
static int load_labels(qxs_attribute_mapping *a, const json_t *arr, const char *where,
                       qx_error *err)
{
    if (arr == NULL)
        return 0;
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > QXS_MAPPING_MAX_LABELS) {
        qx_error_set(err, "%s.labels: expected an array of 1 to %d data usage labels", where,
                     QXS_MAPPING_MAX_LABELS);
        return -1;
    }
    a->labels = calloc(json_array_size(arr), sizeof *a->labels);
    if (a->labels == NULL) {
        qx_error_set(err, "%s.labels: out of memory", where);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 64) {
            qx_error_set(err, "%s.labels[%zu]: expected a label such as \"C2\"", where, i);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(a->labels[j], json_string_value(v)) == 0) {
                qx_error_set(err, "%s.labels[%zu]: \"%s\" is listed twice", where, i,
                             json_string_value(v));
                return -1;
            }
        }
        if ((a->labels[i] = strdup(json_string_value(v))) == NULL) {
            qx_error_set(err, "%s.labels: out of memory", where);
            return -1;
        }
        a->n_labels = i + 1;
    }
    return 0;
}

static int load_attributes(qxs_mapping *m, const json_t *arr, qx_error *err)
{
    if (arr == NULL)
        return 0;
    if (!json_is_array(arr)) {
        qx_error_set(err, "mapping.attributes: expected an array of {\"source\", \"target\"}");
        return -1;
    }
    if (json_array_size(arr) == 0)
        return 0;
    if (json_array_size(arr) > QXS_MAPPING_MAX_ATTRIBUTES) {
        qx_error_set(err, "mapping.attributes: %zu entries; at most %d", json_array_size(arr),
                     QXS_MAPPING_MAX_ATTRIBUTES);
        return -1;
    }
    m->attributes = calloc(json_array_size(arr), sizeof *m->attributes);
    if (m->attributes == NULL) {
        qx_error_set(err, "mapping.attributes: out of memory");
        return -1;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        char where[64];
        snprintf(where, sizeof where, "mapping.attributes[%zu]", i);
        if (!json_is_object(e)) {
            qx_error_set(err, "%s: expected {\"source\", \"target\"}", where);
            return -1;
        }
        if (check_keys(e, attribute_keys, where, err) != 0)
            return -1;
        qxs_attribute_mapping *a = &m->attributes[i];
        a->source = dup_string_member(e, "source", where, err);
        if (a->source == NULL)
            return -1;
        m->n_attributes = i + 1; /* so that qxs_mapping_free sees a partial entry */
        a->target = dup_string_member(e, "target", where, err);
        if (a->target == NULL || load_labels(a, json_object_get(e, "labels"), where, err) != 0)
            return -1;
        if (check_path_size(a->source, where, "source", err) != 0 ||
            check_path_size(a->target, where, "target", err) != 0)
            return -1;
        if (!is_dotted_path(a->source)) {
            qx_error_set(err, "%s.source: \"%s\" is not a dotted path (e.g. person.name.firstName)",
                         where, a->source);
            return -1;
        }
        if (!is_dotted_path(a->target)) {
            qx_error_set(err, "%s.target: \"%s\" is not a dotted path (e.g. person.name.firstName)",
                         where, a->target);
            return -1;
        }
        for (size_t r = 0; reserved_roots[r] != NULL; r++) {
            if (path_has_root(a->source, reserved_roots[r])) {
                qx_error_set(err, "%s.source: \"%s\" is filled from %s, not from attributes", where,
                             a->source, r == 0 ? "mapping.identities" : "mapping.audiences");
                return -1;
            }
            if (path_has_root(a->target, reserved_roots[r])) {
                qx_error_set(err, "%s.target: \"%s\" would overwrite the payload's %s", where,
                             a->target, reserved_roots[r]);
                return -1;
            }
        }
        for (size_t j = 0; j < i; j++) {
            if (paths_collide(a->target, m->attributes[j].target)) {
                qx_error_set(err, "%s.target: \"%s\" collides with attributes[%zu].target \"%s\"",
                             where, a->target, j, m->attributes[j].target);
                return -1;
            }
        }
    }
    return 0;
}

qxs_mapping *qxs_mapping_from_json(const json_t *doc, qx_error *err)
{
    if (!json_is_object(doc)) {
        qx_error_set(err, "mapping: expected a JSON object");
        return NULL;
    }
    if (check_keys(doc, top_keys, "mapping", err) != 0)
        return NULL;
    qxs_mapping *m = calloc(1, sizeof *m);
    if (m == NULL) {
        qx_error_set(err, "mapping: out of memory");
        return NULL;
    }
    json_t *aud = json_object_get(doc, "audiences");
    json_t *ids = json_object_get(doc, "identities");
    if (aud == NULL) {
        qx_error_set(err, "mapping: missing \"audiences\"");
        goto fail;
    }
    if (ids == NULL) {
        qx_error_set(err, "mapping: missing \"identities\"");
        goto fail;
    }
    if (load_audiences(m, aud, err) != 0 || load_identities(m, ids, err) != 0 ||
        load_attributes(m, json_object_get(doc, "attributes"), err) != 0)
        goto fail;
    return m;
fail:
    qxs_mapping_free(m);
    return NULL;
}

qxs_mapping *qxs_mapping_load_file(const char *path, qx_error *err)
{
    json_t *doc = qx_json_load_file(path, JSON_REJECT_DUPLICATES, err);
    if (doc == NULL)
        return NULL;
    qxs_mapping *m = qxs_mapping_from_json(doc, err);
    json_decref(doc);
    if (m == NULL)
        qx_error_prefix(err, "%s", path);
    return m;
}

void qxs_mapping_free(qxs_mapping *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n_audiences; i++)
        free(m->audiences[i]);
    free(m->audiences);
    for (size_t i = 0; i < m->n_identities; i++)
        free(m->identities[i].source);
    free(m->identities);
    for (size_t i = 0; i < m->n_attributes; i++) {
        free(m->attributes[i].source);
        free(m->attributes[i].target);
        for (size_t l = 0; l < m->attributes[i].n_labels; l++)
            free(m->attributes[i].labels[l]);
        free(m->attributes[i].labels);
    }
    free(m->attributes);
    free(m);
}

const char *qxs_identity_target_name(qxs_identity_target t)
{
    return t == QXS_TARGET_EMAIL ? "email" : "external_id";
}

const char *qxs_identity_target_key(qxs_identity_target t)
{
    /* The destination's identities: "IdentityMap: Email -> Identity: email"
     * appears in the payload as "Email" (the seed example), "IdentityMap: ECID
     * -> Identity: external_id" as "external_id". */
    return t == QXS_TARGET_EMAIL ? "Email" : "external_id";
}

bool qxs_mapping_is_activated(const qxs_mapping *m, const char *segment_id)
{
    for (size_t i = 0; i < m->n_audiences; i++)
        if (m->audiences[i] != NULL && strcmp(m->audiences[i], segment_id) == 0)
            return true;
    return false;
}
