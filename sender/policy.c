/*
 * policy.c — loading a policy file and applying its rules (qxs_policy.h).
 *
 * A consent value is read by walking objects key by key, never through a
 * dotted path as a whole: under idSpecific the keys are identities, and an
 * email holds dots ("ana@example.com").
 */
#include "qxs_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "qx_json_file.h"

#define CONSENTS_ROOT "consents."

static const char *const top_keys[] = {"name", "description", "consentRules", "labelRules", NULL};
static const char *const consent_keys[] = {"name", "marketingAction", "path",
                                           "in",   "missing",         NULL};
static const char *const label_keys[] = {"name", "marketingAction", "labels", NULL};

static int check_keys(const json_t *obj, const char *const *allowed, const char *where,
                      qx_error *err)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        (void)value;
        bool known = false;
        for (size_t i = 0; allowed[i] != NULL; i++)
            known = known || strcmp(allowed[i], key) == 0;
        if (!known) {
            qx_error_set(err, "%s: unknown key \"%s\"", where, key);
            return -1;
        }
    }
    return 0;
}

/* A required non-empty string member of at most max bytes, copied. */
static char *dup_string(const json_t *obj, const char *key, size_t max, const char *where,
                        qx_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        qx_error_set(err, "%s: missing \"%s\"", where, key);
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max) {
        qx_error_set(err, "%s.%s: expected a non-empty string of at most %zu bytes", where, key,
                     max);
        return NULL;
    }
    char *s = strdup(json_string_value(v));
    if (s == NULL)
        qx_error_set(err, "%s.%s: out of memory", where, key);
    return s;
}

static void free_strings(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

/* A required array of 1 to QXS_POLICY_MAX_VALUES distinct non-empty strings,
 * copied into *out / *n (partly filled on failure: the caller frees). */
static int dup_string_list(const json_t *obj, const char *key, const char *where, char ***out,
                           size_t *n, qx_error *err)
{
    json_t *arr = json_object_get(obj, key);
    if (arr == NULL) {
        qx_error_set(err, "%s: missing \"%s\"", where, key);
        return -1;
    }
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > QXS_POLICY_MAX_VALUES) {
        qx_error_set(err, "%s.%s: expected an array of 1 to %d strings", where, key,
                     QXS_POLICY_MAX_VALUES);
        return -1;
    }
    *out = calloc(json_array_size(arr), sizeof **out);
    if (*out == NULL) {
        qx_error_set(err, "%s.%s: out of memory", where, key);
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) > QXS_POLICY_MAX_NAME_BYTES) {
            qx_error_set(err, "%s.%s[%zu]: expected a non-empty string", where, key, i);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp((*out)[j], json_string_value(v)) == 0) {
                qx_error_set(err, "%s.%s[%zu]: \"%s\" is listed twice", where, key, i,
                             json_string_value(v));
                return -1;
            }
        }
        if (((*out)[i] = strdup(json_string_value(v))) == NULL) {
            qx_error_set(err, "%s.%s: out of memory", where, key);
            return -1;
        }
        *n = i + 1;
    }
    return 0;
}

/* A consent path: "consents." then non-empty segments, none of them
 * idSpecific (that part is the per-identity lookup's own). */
static bool is_consent_path(const char *path)
{
    size_t root = strlen(CONSENTS_ROOT);
    if (strncmp(path, CONSENTS_ROOT, root) != 0 || path[root] == '\0')
        return false;
    const char *rest = path + root;
    size_t n = strlen(rest);
    if (rest[0] == '.' || rest[n - 1] == '.' || strstr(rest, "..") != NULL)
        return false;
    return strncmp(rest, "idSpecific", 10) != 0 || (rest[10] != '\0' && rest[10] != '.');
}

static int load_consent_rule(qxs_consent_rule *r, const json_t *e, const char *where, qx_error *err)
{
    if (!json_is_object(e)) {
        qx_error_set(err, "%s: expected {\"name\", \"marketingAction\", \"path\", \"in\"}", where);
        return -1;
    }
    if (check_keys(e, consent_keys, where, err) != 0 ||
        (r->name = dup_string(e, "name", QXS_POLICY_MAX_NAME_BYTES, where, err)) == NULL ||
        (r->marketing_action =
             dup_string(e, "marketingAction", QXS_POLICY_MAX_NAME_BYTES, where, err)) == NULL ||
        (r->path = dup_string(e, "path", QXS_MAPPING_MAX_PATH_BYTES, where, err)) == NULL)
        return -1;
    if (!is_consent_path(r->path)) {
        qx_error_set(err,
                     "%s.path: \"%s\" is not a dotted path under consents (e.g. "
                     "consents.marketing.email.val; idSpecific is checked for every path)",
                     where, r->path);
        return -1;
    }
    if (dup_string_list(e, "in", where, &r->in, &r->n_in, err) != 0)
        return -1;
    json_t *missing = json_object_get(e, "missing");
    const char *m = json_string_value(missing);
    if (missing != NULL && (m == NULL || (strcmp(m, "allow") != 0 && strcmp(m, "deny") != 0))) {
        qx_error_set(err, "%s.missing: expected \"allow\" or \"deny\"", where);
        return -1;
    }
    r->missing_denies = m != NULL && strcmp(m, "deny") == 0;
    return 0;
}

static int load_label_rule(qxs_label_rule *r, const json_t *e, const char *where, qx_error *err)
{
    if (!json_is_object(e)) {
        qx_error_set(err, "%s: expected {\"name\", \"marketingAction\", \"labels\"}", where);
        return -1;
    }
    if (check_keys(e, label_keys, where, err) != 0 ||
        (r->name = dup_string(e, "name", QXS_POLICY_MAX_NAME_BYTES, where, err)) == NULL ||
        (r->marketing_action =
             dup_string(e, "marketingAction", QXS_POLICY_MAX_NAME_BYTES, where, err)) == NULL)
        return -1;
    return dup_string_list(e, "labels", where, &r->labels, &r->n_labels, err);
}

/* The array at key (absent: none), checked for size; *n its length. */
static int rule_array(const json_t *doc, const char *key, const json_t **arr, size_t *n,
                      qx_error *err)
{
    *arr = json_object_get(doc, key);
    *n = 0;
    if (*arr == NULL)
        return 0;
    if (!json_is_array(*arr) || json_array_size(*arr) > QXS_POLICY_MAX_RULES) {
        qx_error_set(err, "policy.%s: expected an array of at most %d rules", key,
                     QXS_POLICY_MAX_RULES);
        return -1;
    }
    *n = json_array_size(*arr);
    return 0;
}

/* Two rules of the policy with one name: messages name rules by name. */
static int check_unique_names(const qxs_policy *p, qx_error *err)
{
    size_t n = p->n_consent + p->n_label;
    for (size_t i = 0; i < n; i++) {
        const char *a = i < p->n_consent ? p->consent[i].name : p->label[i - p->n_consent].name;
        for (size_t j = 0; j < i; j++) {
            const char *b = j < p->n_consent ? p->consent[j].name : p->label[j - p->n_consent].name;
            if (strcmp(a, b) == 0) {
                qx_error_set(err, "policy: two rules are named \"%s\"", a);
                return -1;
            }
        }
    }
    return 0;
}

static int load_rules(qxs_policy *p, const json_t *doc, qx_error *err)
{
    const json_t *consent, *label;
    size_t n_consent, n_label;
    if (rule_array(doc, "consentRules", &consent, &n_consent, err) != 0 ||
        rule_array(doc, "labelRules", &label, &n_label, err) != 0)
        return -1;
    if (n_consent + n_label == 0) {
        qx_error_set(err, "policy: no rule (consentRules, labelRules)");
        return -1;
    }
    p->consent = n_consent > 0 ? calloc(n_consent, sizeof *p->consent) : NULL;
    p->label = n_label > 0 ? calloc(n_label, sizeof *p->label) : NULL;
    if ((n_consent > 0 && p->consent == NULL) || (n_label > 0 && p->label == NULL)) {
        qx_error_set(err, "policy: out of memory");
        return -1;
    }
    char where[64];
    for (size_t i = 0; i < n_consent; i++) {
        snprintf(where, sizeof where, "policy.consentRules[%zu]", i);
        p->n_consent = i + 1;
        if (load_consent_rule(&p->consent[i], json_array_get(consent, i), where, err) != 0)
            return -1;
    }
    for (size_t i = 0; i < n_label; i++) {
        snprintf(where, sizeof where, "policy.labelRules[%zu]", i);
        p->n_label = i + 1;
        if (load_label_rule(&p->label[i], json_array_get(label, i), where, err) != 0)
            return -1;
    }
    return check_unique_names(p, err);
}

qxs_policy *qxs_policy_from_json(const json_t *doc, qx_error *err)
{
    if (!json_is_object(doc)) {
        qx_error_set(err, "policy: expected a JSON object");
        return NULL;
    }
    if (check_keys(doc, top_keys, "policy", err) != 0)
        return NULL;
    json_t *desc = json_object_get(doc, "description");
    if (desc != NULL && !json_is_string(desc)) {
        qx_error_set(err, "policy.description: expected a string");
        return NULL;
    }
    qxs_policy *p = calloc(1, sizeof *p);
    if (p == NULL) {
        qx_error_set(err, "policy: out of memory");
        return NULL;
    }
    if ((p->name = dup_string(doc, "name", QXS_POLICY_MAX_NAME_BYTES, "policy", err)) == NULL ||
        load_rules(p, doc, err) != 0) {
        qxs_policy_free(p);
        return NULL;
    }
    return p;
}

qxs_policy *qxs_policy_load_file(const char *path, qx_error *err)
{
    json_t *doc = qx_json_load_file(path, JSON_REJECT_DUPLICATES, err);
    if (doc == NULL)
        return NULL;
    qxs_policy *p = qxs_policy_from_json(doc, err);
    json_decref(doc);
    if (p == NULL)
        qx_error_prefix(err, "%s", path);
    return p;
}

void qxs_policy_free(qxs_policy *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_consent; i++) {
        free(p->consent[i].name);
        free(p->consent[i].marketing_action);
        free(p->consent[i].path);
        free_strings(p->consent[i].in, p->consent[i].n_in);
    }
    free(p->consent);
    for (size_t i = 0; i < p->n_label; i++) {
        free(p->label[i].name);
        free(p->label[i].marketing_action);
        free_strings(p->label[i].labels, p->label[i].n_labels);
    }
    free(p->label);
    free_strings(p->actions, p->n_actions);
    free(p->name);
    free(p);
}

int qxs_policy_set_actions(qxs_policy *p, const char *const *actions, size_t n, qx_error *err)
{
    if (n == 0 || n > QXS_POLICY_MAX_ACTIONS) {
        qx_error_set(err, "marketing actions: expected 1 to %d", QXS_POLICY_MAX_ACTIONS);
        return -1;
    }
    char **copy = calloc(n, sizeof *copy);
    if (copy == NULL) {
        qx_error_set(err, "marketing actions: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        bool repeated = false;
        for (size_t j = 0; j < i; j++)
            repeated = repeated || strcmp(actions[i], actions[j]) == 0;
        if (actions[i][0] == '\0' || repeated) {
            qx_error_set(err, "marketing actions: \"%s\" is %s", actions[i],
                         repeated ? "listed twice" : "empty");
            free_strings(copy, i);
            return -1;
        }
        if ((copy[i] = strdup(actions[i])) == NULL) {
            qx_error_set(err, "marketing actions: out of memory");
            free_strings(copy, i);
            return -1;
        }
    }
    free_strings(p->actions, p->n_actions);
    p->actions = copy;
    p->n_actions = n;
    return 0;
}

bool qxs_policy_performs(const qxs_policy *p, const char *action)
{
    for (size_t i = 0; p != NULL && i < p->n_actions; i++)
        if (strcmp(p->actions[i], action) == 0)
            return true;
    return false;
}

/* The value at dotted path below obj, walking one object per segment; NULL
 * when a step is missing or not an object. */
static const json_t *walk(const json_t *obj, const char *dotted)
{
    const char *p = dotted;
    while (obj != NULL && json_is_object(obj)) {
        const char *dot = strchr(p, '.');
        size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
        obj = json_object_getn(obj, p, n);
        if (dot == NULL)
            return obj;
        p = dot + 1;
    }
    return NULL;
}

static bool value_allowed(const qxs_consent_rule *r, const json_t *v)
{
    const char *s = json_string_value(v);
    for (size_t i = 0; s != NULL && i < r->n_in; i++)
        if (strcmp(r->in[i], s) == 0)
            return true;
    return false;
}

const qxs_consent_rule *qxs_policy_profile_denied(const qxs_policy *p, const json_t *profile)
{
    for (size_t i = 0; p != NULL && i < p->n_consent; i++) {
        const qxs_consent_rule *r = &p->consent[i];
        if (!qxs_policy_performs(p, r->marketing_action))
            continue;
        const json_t *v = walk(profile, r->path);
        if ((v == NULL || json_is_null(v)) ? r->missing_denies : !value_allowed(r, v))
            return r;
    }
    return NULL;
}

/* consents.idSpecific.<ns>.<id>, the namespace matched without regard to
 * case; NULL when absent. */
static const json_t *id_specific(const json_t *profile, const char *ns, const char *id)
{
    const json_t *by_ns = walk(profile, "consents.idSpecific");
    const char *key;
    json_t *ids;
    json_object_foreach((json_t *)by_ns, key, ids)
    {
        if (strcasecmp(key, ns) == 0) {
            const json_t *one = json_object_get(ids, id);
            if (one != NULL)
                return one;
        }
    }
    return NULL;
}

const qxs_consent_rule *qxs_policy_identity_denied(const qxs_policy *p, const json_t *profile,
                                                   const char *ns, const char *id)
{
    if (p == NULL || p->n_consent == 0)
        return NULL;
    const json_t *consents = id_specific(profile, ns, id);
    if (!json_is_object(consents))
        return NULL;
    for (size_t i = 0; i < p->n_consent; i++) {
        const qxs_consent_rule *r = &p->consent[i];
        if (!qxs_policy_performs(p, r->marketing_action))
            continue;
        const json_t *v = walk(consents, r->path + strlen(CONSENTS_ROOT));
        if (v != NULL && !json_is_null(v) && !value_allowed(r, v))
            return r;
    }
    return NULL;
}

/* Appends one violation to out. Returns 0 or -1 (memory). */
static int add_violation(json_t *out, size_t i, const qxs_attribute_mapping *a, const char *label,
                         const qxs_label_rule *r)
{
    char attr[64], msg[768];
    snprintf(attr, sizeof attr, "mapping.attributes[%zu]", i);
    snprintf(msg, sizeof msg,
             "%s (source \"%.256s\"): label %s may not reach a destination performing marketing "
             "action \"%s\" (policy rule \"%s\")",
             attr, a->source, label, r->marketing_action, r->name);
    return json_array_append_new(out,
                                 json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "attribute", attr,
                                           "source", a->source, "label", label, "rule", r->name,
                                           "marketingAction", r->marketing_action, "message", msg));
}

json_t *qxs_policy_label_violations(const qxs_policy *p, const qxs_mapping *m)
{
    json_t *out = json_array();
    for (size_t k = 0; out != NULL && p != NULL && k < p->n_label; k++) {
        const qxs_label_rule *r = &p->label[k];
        if (!qxs_policy_performs(p, r->marketing_action))
            continue;
        for (size_t i = 0; i < m->n_attributes; i++) {
            const qxs_attribute_mapping *a = &m->attributes[i];
            for (size_t l = 0; l < a->n_labels; l++) {
                for (size_t j = 0; j < r->n_labels; j++) {
                    if (strcmp(a->labels[l], r->labels[j]) == 0 &&
                        add_violation(out, i, a, a->labels[l], r) != 0) {
                        json_decref(out);
                        return NULL;
                    }
                }
            }
        }
    }
    return out;
}
