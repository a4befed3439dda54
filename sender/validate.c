/*
 * validate.c — the checks behind `qx-send validate`.
 *
 * The workflow's event data is read straight from the qx-mock config file
 * (workflows[].id / eventData) and compiled with core's JSONPath: the sender
 * library does not depend on the emulator's. A path is "satisfied" by a
 * payload when extracting it gives something other than null, which is what
 * the emulator's event data would hold.
 */
#include "qxs_validate.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "qx_email.h"
#include "qx_jsonpath.h"
#include "qx_ndjson.h"
#include "qxs_render.h"

/* Per-line findings beyond this many are summarised, not listed. */
#define MAX_LINE_FINDINGS 20
#define SAMPLE_QUALIFICATION_TIME "2023-09-05T10:43:55.602687Z"

typedef struct event_path {
    const char *name; /* borrowed from the config document */
    qx_jsonpath *path;
    bool satisfied;
    bool unevaluable; /* the query gave up (step limit) or memory ran out */
} event_path;

typedef struct checker {
    const qxs_mapping *m;
    const qxs_policy *policy; /* may be NULL */
    size_t consent_denied;    /* samples excluded as consentDenied */
    json_t *findings;
    bool oom;
    /* per attribute: seen as scalar / seen as array or object */
    bool *attr_scalar, *attr_composite;
    bool *ns_seen, *aud_seen;
    event_path *paths;
    size_t n_paths;
    json_t *idmap_keys; /* identityMap keys of the payloads checked, first seen first */
    size_t samples, rendered, line_findings;
} checker;

static void add(checker *c, const char *severity, const char *fmt, ...) QX_PRINTF(3, 4);

static void add(checker *c, const char *severity, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (json_array_append_new(c->findings,
                              json_pack("{s:s, s:s}", "severity", severity, "message", text)) != 0)
        c->oom = true;
}

/* A finding about one sample line, up to MAX_LINE_FINDINGS of them. */
static bool room_for_line_finding(checker *c)
{
    return c->line_findings++ < MAX_LINE_FINDINGS;
}

bool qxs_is_camel_case_path(const char *name)
{
    const char *p = name;
    for (;;) {
        if (*p == '_')
            p++;
        if (!islower((unsigned char)*p))
            return false;
        while (isalnum((unsigned char)*p))
            p++;
        if (*p == '\0')
            return true;
        if (*p != '.')
            return false;
        p++;
    }
}

size_t qxs_validate_count(const json_t *findings, const char *severity)
{
    size_t n = 0, i;
    json_t *f;
    json_array_foreach(findings, i, f) if (strcmp(json_string_value(json_object_get(f, "severity")),
                                                  severity) == 0) n++;
    return n;
}

/* Label violations are errors: render and send refuse such a mapping. The
 * finding keeps the violation's members (attribute, label, rule,
 * marketingAction) besides its message. */
static void check_labels(checker *c)
{
    json_t *v = qxs_policy_label_violations(c->policy, c->m);
    if (v == NULL) {
        c->oom = true;
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        json_t *f = json_deep_copy(e);
        if (f == NULL || json_object_set_new(f, "severity", json_string("error")) != 0 ||
            json_array_append_new(c->findings, f) != 0)
            c->oom = true;
    }
    json_decref(v);
}

static void check_mapping_itself(checker *c)
{
    if (c->policy != NULL)
        check_labels(c);
    for (size_t i = 0; i < c->m->n_attributes; i++)
        if (!qxs_is_camel_case_path(c->m->attributes[i].target))
            add(c, "warning",
                "mapping.attributes[%zu].target: \"%s\" is not camelCase (recommended for target "
                "names)",
                i, c->m->attributes[i].target);
    if (c->m->n_attributes > QXS_MAPPING_SOFT_MAX_ATTRIBUTES)
        add(c, "warning",
            "mapping.attributes: %zu attributes mapped; the platform's soft limit is %d",
            c->m->n_attributes, QXS_MAPPING_SOFT_MAX_ATTRIBUTES);
}

static void check_payload_paths(checker *c, json_t *payload)
{
    const char *key;
    json_t *entries;
    json_object_foreach(json_object_get(payload, "identityMap"), key, entries)
    {
        (void)entries;
        if (json_object_get(c->idmap_keys, key) == NULL &&
            json_object_set_new(c->idmap_keys, key, json_true()) != 0)
            c->oom = true;
    }
    for (size_t i = 0; i < c->n_paths; i++) {
        if (c->paths[i].satisfied || c->paths[i].unevaluable || c->paths[i].path == NULL)
            continue;
        json_t *v = qx_jsonpath_extract(c->paths[i].path, payload);
        if (v == NULL)
            c->paths[i].unevaluable = true;
        else if (!json_is_null(v))
            c->paths[i].satisfied = true;
        json_decref(v);
    }
}

static void check_sample(checker *c, json_t *profile, size_t line)
{
    const qxs_mapping *m = c->m;
    if (!json_is_object(profile)) {
        add(c, "error", "profiles line %zu: not a JSON object", line);
        return;
    }
    c->samples++;
    for (size_t i = 0; i < m->n_attributes; i++) {
        json_t *v = qxs_path_get(profile, m->attributes[i].source);
        if (v == NULL || json_is_null(v))
            continue;
        if (json_is_array(v) || json_is_object(v))
            c->attr_composite[i] = true;
        else
            c->attr_scalar[i] = true;
    }
    json_t *idmap = json_object_get(profile, "identityMap");
    for (size_t i = 0; i < m->n_identities; i++) {
        json_t *entries = json_object_get(idmap, m->identities[i].source);
        if (json_array_size(entries) > 0)
            c->ns_seen[i] = true;
        if (m->identities[i].target != QXS_TARGET_EMAIL)
            continue;
        size_t k;
        json_t *e;
        json_array_foreach(entries, k, e)
        {
            if (qx_is_hashed_email(json_string_value(json_object_get(e, "id"))) &&
                room_for_line_finding(c))
                add(c, "warning",
                    "profiles line %zu: identityMap.%s[%zu] is a hashed email; the destination "
                    "takes plain-text emails only, so it is not sent",
                    line, m->identities[i].source, k);
        }
    }
    json_t *ups = json_object_get(json_object_get(profile, "segmentMembership"), "ups");
    for (size_t i = 0; i < m->n_audiences; i++)
        if (json_object_get(ups, m->audiences[i]) != NULL)
            c->aud_seen[i] = true;

    qxs_render_result res;
    qx_error err;
    if (qxs_render_governed(m, c->policy, profile, &res, &err) != 0) {
        c->oom = true;
        return;
    }
    if (res.excluded == QXS_EXCLUDED_CONSENT)
        c->consent_denied++;
    if (res.payload != NULL) {
        c->rendered++;
        check_payload_paths(c, res.payload);
    }
    qxs_render_result_clear(&res);
}

static int read_samples(checker *c, FILE *f, qx_error *err)
{
    qx_ndjson_reader *r = qx_ndjson_open(f);
    if (r == NULL) {
        qx_error_set(err, "out of memory");
        return -1;
    }
    int rc = 0;
    for (;;) {
        json_t *v = NULL;
        size_t line = 0;
        qx_error lerr;
        int n = qx_ndjson_next(r, &v, &line, &lerr);
        if (n == 0)
            break;
        if (n == -2) {
            qx_error_set(err, "profiles: %s", lerr.text);
            rc = -1;
            break;
        }
        if (n == -1) {
            add(c, "error", "profiles %s", lerr.text);
            continue;
        }
        check_sample(c, v, line);
        json_decref(v);
    }
    qx_ndjson_close(r);
    return rc;
}

static void report_samples(checker *c)
{
    const qxs_mapping *m = c->m;
    if (c->line_findings > MAX_LINE_FINDINGS)
        add(c, "warning", "profiles: %zu more findings about single lines not shown",
            c->line_findings - MAX_LINE_FINDINGS);
    for (size_t i = 0; i < m->n_attributes; i++) {
        if (c->attr_scalar[i])
            continue;
        if (c->attr_composite[i])
            add(c, "error",
                "mapping.attributes[%zu].source: \"%s\" is an array or object in the samples; "
                "only scalar attributes can be exported",
                i, m->attributes[i].source);
        else
            add(c, "error",
                "mapping.attributes[%zu].source: \"%s\" is in none of the %zu sample "
                "profiles",
                i, m->attributes[i].source, c->samples);
    }
    for (size_t i = 0; i < m->n_identities; i++)
        if (!c->ns_seen[i])
            add(c, "warning",
                "mapping.identities[%zu].source: namespace \"%s\" is in none of the %zu sample "
                "profiles",
                i, m->identities[i].source, c->samples);
    for (size_t i = 0; i < m->n_audiences; i++)
        if (!c->aud_seen[i])
            add(c, "warning",
                "mapping.audiences[%zu]: \"%s\" is in none of the %zu sample profiles' "
                "segmentMembership.ups",
                i, m->audiences[i], c->samples);
    if (c->consent_denied > 0)
        add(c, "warning",
            "profiles: %zu of the %zu sample profiles are excluded by the policy's consent "
            "rules (consentDenied)",
            c->consent_denied, c->samples);
    if (c->samples > 0 && c->rendered == 0)
        add(c, "warning", "profiles: none of the %zu sample profiles would be sent", c->samples);
}

/* A payload with every mapped field present: what the mapping can produce. */
static json_t *synthetic_payload(const qxs_mapping *m)
{
    json_t *p = json_object(), *idmap = json_object(), *ups = json_object();
    if (p == NULL || idmap == NULL || ups == NULL)
        goto fail;
    for (size_t i = 0; i < m->n_attributes; i++)
        if (qxs_path_set(p, m->attributes[i].target, json_string("sample")) != 0)
            goto fail;
    for (size_t i = 0; i < m->n_identities; i++) {
        /* keyed by the target identity, as render does; one entry is enough */
        const char *key = qxs_identity_target_key(m->identities[i].target);
        const char *id = m->identities[i].target == QXS_TARGET_EMAIL ? "sample@example.com"
                                                                     : "sample-external-id";
        if (json_object_get(idmap, key) == NULL &&
            json_object_set_new(idmap, key, json_pack("[{s:s}]", "id", id)) != 0)
            goto fail;
    }
    for (size_t i = 0; i < m->n_audiences; i++)
        if (json_object_set_new(ups, m->audiences[i],
                                json_pack("{s:s, s:s}", "status", "realized",
                                          "lastQualificationTime", SAMPLE_QUALIFICATION_TIME)) != 0)
            goto fail;
    json_object_set_new(p, "identityMap", idmap);
    idmap = NULL;
    if (json_object_set_new(p, "segmentMembership", json_pack("{s:o}", "ups", ups)) != 0) {
        ups = NULL;
        goto fail;
    }
    return p;
fail:
    json_decref(p);
    json_decref(idmap);
    json_decref(ups);
    return NULL;
}

static int load_event_paths(checker *c, const json_t *config, const char *wf_id, qx_error *err)
{
    json_t *wfs = json_object_get(config, "workflows");
    json_t *wf = NULL, *e;
    size_t i;
    json_array_foreach(wfs, i, e)
    {
        const char *id = json_string_value(json_object_get(e, "id"));
        if (id != NULL && strcmp(id, wf_id) == 0) {
            wf = e;
            break;
        }
    }
    if (wf == NULL) {
        qx_error_set(err, "workflow \"%s\" is not in the config's workflows", wf_id);
        return -1;
    }
    json_t *ed = json_object_get(wf, "eventData");
    if (ed != NULL && !json_is_object(ed)) {
        qx_error_set(err, "workflow \"%s\": eventData is not an object", wf_id);
        return -1;
    }
    c->paths = calloc(json_object_size(ed) + 1, sizeof *c->paths);
    if (c->paths == NULL) {
        qx_error_set(err, "out of memory");
        return -1;
    }
    const char *name;
    json_t *expr;
    json_object_foreach(ed, name, expr)
    {
        event_path *ep = &c->paths[c->n_paths++];
        ep->name = name;
        if (!json_is_string(expr)) {
            add(c, "error", "workflow %s eventData.%s: not a JSONPath string", wf_id, name);
            continue;
        }
        qx_error perr;
        ep->path = qx_jsonpath_compile(json_string_value(expr), &perr);
        if (ep->path == NULL)
            add(c, "error", "workflow %s eventData.%s: %s", wf_id, name, perr.text);
    }
    return 0;
}

/* For a path into identityMap that matched nothing, what the payloads have
 * there instead: "; their identityMap has Email, external_id" (the keys in
 * the order first seen), so that a path reading a source namespace such as
 * ECID explains itself. Empty for other paths, or when no payload had one. */
static void identity_hint(const checker *c, const char *path, const char *whose, char *out,
                          size_t size)
{
    out[0] = '\0';
    if (strstr(path, "identityMap") == NULL || json_object_size(c->idmap_keys) == 0)
        return;
    size_t len = (size_t)snprintf(out, size, "; %s identityMap has ", whose);
    const char *key;
    json_t *v;
    bool first = true;
    json_object_foreach(c->idmap_keys, key, v)
    {
        if (len < size)
            len += (size_t)snprintf(out + len, size - len, "%s%s", first ? "" : ", ", key);
        first = false;
    }
}

static void report_event_paths(checker *c, const char *wf_id, bool with_samples)
{
    for (size_t i = 0; i < c->n_paths; i++) {
        event_path *ep = &c->paths[i];
        if (ep->path == NULL || ep->satisfied)
            continue;
        const char *text = qx_jsonpath_text(ep->path);
        char hint[256];
        identity_hint(c, text, with_samples ? "their" : "the payload's", hint, sizeof hint);
        if (ep->unevaluable)
            add(c, "error", "workflow %s eventData.%s: \"%s\" could not be evaluated (too costly)",
                wf_id, ep->name, text);
        else if (with_samples)
            add(c, "error",
                "workflow %s eventData.%s: \"%s\" matches nothing in any of the %zu rendered "
                "payloads%s",
                wf_id, ep->name, text, c->rendered, hint);
        else
            add(c, "error",
                "workflow %s eventData.%s: \"%s\" matches nothing the mapping produces%s", wf_id,
                ep->name, text, hint);
    }
}

json_t *qxs_validate(const qxs_validate_input *in, qx_error *err)
{
    const qxs_mapping *m = in->mapping;
    checker c = {.m = m, .policy = in->policy};
    json_t *out = NULL;
    c.findings = json_array();
    c.idmap_keys = json_object();
    c.attr_scalar = calloc(m->n_attributes + 1, sizeof(bool));
    c.attr_composite = calloc(m->n_attributes + 1, sizeof(bool));
    c.ns_seen = calloc(m->n_identities + 1, sizeof(bool));
    c.aud_seen = calloc(m->n_audiences + 1, sizeof(bool));
    if (c.findings == NULL || c.idmap_keys == NULL || c.attr_scalar == NULL ||
        c.attr_composite == NULL || c.ns_seen == NULL || c.aud_seen == NULL) {
        qx_error_set(err, "out of memory");
        goto out;
    }
    check_mapping_itself(&c);
    if (in->workflow_config != NULL &&
        load_event_paths(&c, in->workflow_config, in->workflow_id, err) != 0)
        goto out;
    if (in->profiles != NULL) {
        if (read_samples(&c, in->profiles, err) != 0)
            goto out;
        report_samples(&c);
    } else if (c.n_paths > 0) {
        json_t *p = synthetic_payload(m);
        if (p == NULL)
            c.oom = true;
        else
            check_payload_paths(&c, p);
        json_decref(p);
    }
    if (in->workflow_config != NULL)
        report_event_paths(&c, in->workflow_id, in->profiles != NULL);
    if (c.oom) {
        qx_error_set(err, "out of memory");
        goto out;
    }
    out = json_incref(c.findings);
out:
    json_decref(c.findings);
    json_decref(c.idmap_keys);
    free(c.attr_scalar);
    free(c.attr_composite);
    free(c.ns_seen);
    free(c.aud_seen);
    for (size_t i = 0; i < c.n_paths; i++)
        qx_jsonpath_free(c.paths[i].path);
    free(c.paths);
    return out;
}
