/*
 * scenario.c — reading a scenario directory:
 *
 * scenario.json: {"name", "description", "workflows", "mapping" | "destinations",
 *                 "profiles", "expect", "seed", "credentials", "concurrency",
 *                 "policy", "marketingActions", "excluded"}
 * "policy" (a policy file, qx-send's --policy) goes with "marketingActions"
 * into every destination file the sender gets; "excluded" ({"consentDenied":
 * 3, ...}) are the counts the sender's reports must give per reason.
 * "destinations" lists {"workflowId", "mapping"} pairs when the profiles go
 * to several workflows (one platform destination per workflow); the sender
 * runs once per destination, in order. A single "mapping" targets
 * "workflowId" (default: the first workflow). Paths are relative to the
 * directory. Strict: an unknown key or a wrong value is an error naming it.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qx_json_file.h"
#include "qx_ndjson.h"
#include "suite_internal.h"

/* snprintf for messages and paths where cutting a long value short is the
 * intended behaviour (vsnprintf keeps -Wformat-truncation for real bugs). */
void suite_text_set(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, size, fmt, ap);
    va_end(ap);
}

static int join_path(char *out, size_t size, const char *dir, const char *name)
{
    int n =
        name[0] == '/' ? snprintf(out, size, "%s", name) : snprintf(out, size, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static const char *const scenario_keys[] = {
    "name",        "description", "workflows",        "mapping",  "destinations",
    "workflowId",  "profiles",    "expect",           "seed",     "credentials",
    "concurrency", "policy",      "marketingActions", "excluded", NULL};

/* Every key of root is known. */
static int check_keys(json_t *root, const char *path, qx_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        bool known = false;
        for (size_t i = 0; scenario_keys[i] != NULL; i++)
            known |= strcmp(key, scenario_keys[i]) == 0;
        if (!known) {
            qx_error_set(err, "%s: unknown key \"%s\"", path, key);
            return -1;
        }
    }
    return 0;
}

/* The name and the files: workflows, profiles, expected runs and requests. */
static int read_files(json_t *root, const char *dir, const char *path, scenario *sc, qx_error *err)
{
    const char *name = json_string_value(json_object_get(root, "name"));
    const char *wf = json_string_value(json_object_get(root, "workflows"));
    const char *profiles = json_string_value(json_object_get(root, "profiles"));
    const char *expect = json_string_value(json_object_get(root, "expect"));
    char base[NAME_MAX + 1];
    suite_text_set(sc->name, sizeof sc->name, "%s",
                   name != NULL ? name : qxm_suite_dir_name(dir, base, sizeof base));
    if (join_path(sc->workflows, sizeof sc->workflows, dir, wf ? wf : "workflows.json") ||
        join_path(sc->profiles, sizeof sc->profiles, dir,
                  profiles ? profiles : "profiles.ndjson") ||
        join_path(sc->expect, sizeof sc->expect, dir, expect ? expect : "expected-runs.ndjson") ||
        join_path(sc->expect_requests, sizeof sc->expect_requests, dir,
                  "expected-requests.ndjson")) {
        qx_error_set(err, "%s: path too long", path);
        return -1;
    }
    if (!file_exists(sc->expect_requests))
        sc->expect_requests[0] = '\0';
    return 0;
}

/* seed, concurrency, credentials. */
static int read_options(json_t *root, const char *path, scenario *sc, qx_error *err)
{
    json_t *seed = json_object_get(root, "seed");
    if (seed != NULL && (!json_is_integer(seed) || json_integer_value(seed) < 0)) {
        qx_error_set(err, "%s: seed: expected a non-negative integer", path);
        return -1;
    }
    sc->seed = seed != NULL ? (uint64_t)json_integer_value(seed) : 1;
    json_t *conc = json_object_get(root, "concurrency");
    sc->concurrency = conc != NULL ? (int)json_integer_value(conc) : 1;
    if (conc != NULL && (!json_is_integer(conc) || sc->concurrency < 1 || sc->concurrency > 64)) {
        qx_error_set(err, "%s: concurrency: expected 1 to 64", path);
        return -1;
    }
    const char *cred = json_string_value(json_object_get(root, "credentials"));
    if (json_object_get(root, "credentials") != NULL &&
        (cred == NULL || (strcmp(cred, "valid") != 0 && strcmp(cred, "wrong-token") != 0))) {
        qx_error_set(err, "%s: credentials: expected \"valid\" or \"wrong-token\"", path);
        return -1;
    }
    sc->wrong_token = cred != NULL && strcmp(cred, "wrong-token") == 0;
    return 0;
}

/* "marketingActions": 1 to MAX_ACTIONS names. */
static int read_actions(json_t *root, const char *path, scenario *sc, qx_error *err)
{
    json_t *a = json_object_get(root, "marketingActions");
    if (a == NULL)
        return 0;
    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > MAX_ACTIONS) {
        qx_error_set(err, "%s: marketingActions: expected 1 to %d names", path, MAX_ACTIONS);
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        const char *name = json_string_value(v);
        if (name == NULL || *name == '\0' || strlen(name) >= sizeof sc->actions[i]) {
            qx_error_set(err, "%s: marketingActions[%zu]: expected a name", path, i);
            return -1;
        }
        suite_text_set(sc->actions[i], sizeof sc->actions[i], "%s", name);
    }
    sc->n_actions = json_array_size(a);
    return 0;
}

/* "policy" with its "marketingActions", and "excluded". */
static int read_governance(json_t *root, const char *dir, const char *path, scenario *sc,
                           qx_error *err)
{
    json_t *policy = json_object_get(root, "policy");
    if (read_actions(root, path, sc, err) != 0)
        return -1;
    if (policy != NULL) {
        if (!json_is_string(policy) ||
            join_path(sc->policy, sizeof sc->policy, dir, json_string_value(policy)) != 0 ||
            !file_exists(sc->policy)) {
            qx_error_set(err, "%s: policy: expected the path of a policy file", path);
            return -1;
        }
        if (sc->n_actions == 0) {
            qx_error_set(err, "%s: policy: needs marketingActions, which it applies to", path);
            return -1;
        }
        /* absolute: the destination file that names it is in the work
         * directory, and qx-send resolves a relative policy against it */
        char resolved[PATH_MAX];
        if (realpath(sc->policy, resolved) == NULL) {
            qx_error_set(err, "%s: policy: %s", path, strerror(errno));
            return -1;
        }
        suite_text_set(sc->policy, sizeof sc->policy, "%s", resolved);
    }
    json_t *ex = json_object_get(root, "excluded");
    if (ex == NULL)
        return 0;
    if (!json_is_object(ex) || json_object_size(ex) > MAX_EXCLUDED_REASONS) {
        qx_error_set(err, "%s: excluded: expected {\"<reason>\": count} (at most %d)", path,
                     MAX_EXCLUDED_REASONS);
        return -1;
    }
    const char *reason;
    json_t *n;
    json_object_foreach(ex, reason, n)
    {
        if (!json_is_integer(n) || json_integer_value(n) < 0 ||
            strlen(reason) >= sizeof sc->excluded_reason[0]) {
            qx_error_set(err, "%s: excluded.%s: expected a count", path, reason);
            return -1;
        }
        suite_text_set(sc->excluded_reason[sc->n_excluded], sizeof sc->excluded_reason[0], "%s",
                       reason);
        sc->excluded_count[sc->n_excluded++] = json_integer_value(n);
    }
    return 0;
}

/* "destinations", else "workflowId" and "mapping". */
static int read_destinations(json_t *root, const char *dir, const char *path, scenario *sc,
                             qx_error *err)
{
    json_t *dests = json_object_get(root, "destinations");
    if (dests == NULL) {
        const char *w = json_string_value(json_object_get(root, "workflowId"));
        const char *mapping = json_string_value(json_object_get(root, "mapping"));
        suite_text_set(sc->dest[0].workflow_id, sizeof sc->dest[0].workflow_id, "%s", w ? w : "");
        sc->n_dest = 1;
        if (join_path(sc->dest[0].mapping, sizeof sc->dest[0].mapping, dir,
                      mapping ? mapping : "mapping.json") != 0) {
            qx_error_set(err, "%s: mapping: path too long", path);
            return -1;
        }
        return 0;
    }
    if (!json_is_array(dests) || json_array_size(dests) == 0 ||
        json_array_size(dests) > MAX_DESTINATIONS) {
        qx_error_set(err, "%s: destinations: expected 1 to %d {workflowId, mapping}", path,
                     MAX_DESTINATIONS);
        return -1;
    }
    size_t i;
    json_t *d;
    json_array_foreach(dests, i, d)
    {
        const char *w = json_string_value(json_object_get(d, "workflowId"));
        const char *m = json_string_value(json_object_get(d, "mapping"));
        if (w == NULL || m == NULL || json_object_size(d) != 2) {
            qx_error_set(err, "%s: destinations[%zu]: expected {\"workflowId\", \"mapping\"}", path,
                         i);
            return -1;
        }
        suite_text_set(sc->dest[i].workflow_id, sizeof sc->dest[i].workflow_id, "%s", w);
        if (join_path(sc->dest[i].mapping, sizeof sc->dest[i].mapping, dir, m) != 0) {
            qx_error_set(err, "%s: destinations[%zu].mapping: path too long", path, i);
            return -1;
        }
    }
    sc->n_dest = json_array_size(dests);
    return 0;
}

int suite_load_scenario(const char *dir, scenario *sc, qx_error *err)
{
    char path[PATH_MAX];
    memset(sc, 0, sizeof *sc);
    if (join_path(path, sizeof path, dir, "scenario.json") != 0) {
        qx_error_set(err, "%s: path too long", dir);
        return -1;
    }
    json_t *root = qx_json_load_file(path, 0, err);
    if (root == NULL)
        return -1;
    int rc = -1;
    if (!json_is_object(root))
        qx_error_set(err, "%s: expected a JSON object", path);
    else if (check_keys(root, path, err) == 0 && read_files(root, dir, path, sc, err) == 0 &&
             read_options(root, path, sc, err) == 0 &&
             read_destinations(root, dir, path, sc, err) == 0 &&
             read_governance(root, dir, path, sc, err) == 0)
        rc = 0;
    json_decref(root);
    return rc;
}

const char *qxm_suite_dir_name(const char *dir, char *buf, size_t size)
{
    size_t end = strlen(dir);
    while (end > 1 && dir[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && dir[start - 1] != '/')
        start--;
    size_t n = end - start;
    if (n >= size)
        n = size - 1;
    memcpy(buf, dir + start, n);
    buf[n] = '\0';
    return buf;
}

int qxm_suite_scenario_name(const char *dir, char *out, size_t size, qx_error *err)
{
    scenario *sc = malloc(sizeof *sc);
    if (sc == NULL) {
        qx_error_set(err, "out of memory");
        return -1;
    }
    int rc = suite_load_scenario(dir, sc, err);
    if (rc == 0)
        suite_text_set(out, size, "%s", sc->name);
    free(sc);
    return rc;
}

/* Reads an NDJSON file into a new array; NULL with err on error. */
json_t *suite_load_ndjson(const char *path, qx_error *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        qx_error_set(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    json_t *all = json_array();
    qx_ndjson_reader *r = qx_ndjson_open(f);
    json_t *v;
    int rc;
    while ((rc = qx_ndjson_next(r, &v, NULL, err)) == 1) {
        if (!json_is_object(v) || json_array_size(all) >= MAX_EXPECTED) {
            json_decref(v);
            qx_error_set(err, "expected one JSON object per line");
            rc = -1;
            break;
        }
        json_array_append_new(all, v);
    }
    qx_ndjson_close(r);
    fclose(f);
    if (rc != 0) {
        qx_error_prefix(err, "%s", path);
        json_decref(all);
        return NULL;
    }
    return all;
}
