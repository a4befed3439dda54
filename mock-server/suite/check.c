/*
 * check.c — comparing what the emulator recorded with what a scenario
 * expects: the runs one by one (each expected key equal; "error" as a
 * substring), the requests that started no run, and the sender's own
 * report against both.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_json_file.h"
#include "suite_internal.h"

static bool str_contains(json_t *hay, const char *needle)
{
    const char *h = json_string_value(hay);
    return h != NULL && strstr(h, needle) != NULL;
}

/* Compares one run with its expectation; writes the first difference. */
static bool run_matches(size_t i, json_t *run, json_t *exp, char *diff, size_t size)
{
    const char *key;
    json_t *want;
    json_object_foreach(exp, key, want)
    {
        json_t *got = json_object_get(run, key);
        if (strcmp(key, "error") == 0) {
            if (json_is_null(want) ? !json_is_null(got) && got != NULL
                                   : !str_contains(got, json_string_value(want))) {
                char *g = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
                suite_text_set(diff, size, "run %zu (%s): error %s, expected it to contain %s",
                               i + 1, json_string_value(json_object_get(run, "id")), g ? g : "null",
                               json_string_value(want) ? json_string_value(want) : "null");
                free(g);
                return false;
            }
            continue;
        }
        if (got == NULL || !json_equal(got, want)) {
            char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            char *w = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT);
            const char *err = json_string_value(json_object_get(run, "error"));
            suite_text_set(diff, size, "run %zu (%s): %s is %s, expected %s%s%s", i + 1,
                           json_string_value(json_object_get(run, "id")), key, g ? g : "absent",
                           w ? w : "?", err ? " — run error: " : "", err ? err : "");
            free(g);
            free(w);
            return false;
        }
    }
    return true;
}

static bool request_matches(size_t i, json_t *entry, json_t *exp, char *diff, size_t size)
{
    json_t *st = json_object_get(exp, "httpStatus");
    const char *reason = json_string_value(json_object_get(exp, "reason"));
    const char *wf = json_string_value(json_object_get(exp, "workflowId"));
    json_int_t got = json_integer_value(json_object_get(entry, "httpStatus"));
    if (st != NULL && got != json_integer_value(st)) {
        suite_text_set(diff, size, "request %zu: httpStatus %lld, expected %lld (reason: %s)",
                       i + 1, (long long)got, (long long)json_integer_value(st),
                       json_string_value(json_object_get(entry, "reason")));
        return false;
    }
    if (reason != NULL && !str_contains(json_object_get(entry, "reason"), reason)) {
        suite_text_set(diff, size, "request %zu: reason \"%s\", expected it to contain \"%s\"",
                       i + 1, json_string_value(json_object_get(entry, "reason")), reason);
        return false;
    }
    if (wf != NULL && !str_contains(json_object_get(entry, "workflowId"), wf)) {
        suite_text_set(diff, size, "request %zu: workflowId %s, expected %s", i + 1,
                       json_string_value(json_object_get(entry, "workflowId")), wf);
        return false;
    }
    return true;
}

/* Sum of a report field over the destinations' reports; -1 if unreadable. */
static int64_t report_sum(const char *workdir, size_t n, const char *field)
{
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        suite_text_set(path, sizeof path, "%s/report-%zu.json", workdir, i);
        json_t *r = qx_json_load_file(path, 0, NULL);
        json_t *v = json_object_get(r, field);
        if (!json_is_integer(v)) {
            json_decref(r);
            return -1;
        }
        sum += json_integer_value(v);
        json_decref(r);
    }
    return sum;
}

/* The journal entry that explains a missing run, appended to diff. */
static void explain_missing(json_t *journal, char *diff, size_t size)
{
    json_t *e = json_array_get(journal, 0);
    size_t len = strlen(diff);
    if (e == NULL || len >= size)
        return;
    suite_text_set(diff + len, size - len, "; first request without a run: %lld %s",
                   (long long)json_integer_value(json_object_get(e, "httpStatus")),
                   json_string_value(json_object_get(e, "reason")));
}

/* A recorded run for people: its id, workflow, status and first identity. */
static void describe_run(json_t *run, char *out, size_t size)
{
    json_t *im = json_object_get(json_object_get(run, "payload"), "identityMap");
    const char *ns = NULL, *id = NULL;
    json_t *ids;
    json_object_foreach(im, ns, ids)
    {
        id = json_string_value(json_object_get(json_array_get(ids, 0), "id"));
        if (id != NULL)
            break;
    }
    const char *run_id = json_string_value(json_object_get(run, "id"));
    const char *wf = json_string_value(json_object_get(run, "workflowId"));
    const char *status = json_string_value(json_object_get(run, "status"));
    if (id != NULL)
        suite_text_set(out, size, "%s (%s, %s, %s:%s)", run_id, wf, status, ns, id);
    else
        suite_text_set(out, size, "%s (%s, %s)", run_id, wf, status);
}

/* When the counts differ: which expected runs are missing and which
 * recorded runs are extra, matching each expected run, in order, with the
 * first recorded run not yet taken that has every expected key. Appends
 * the first of each to diff. */
static void name_mismatch(json_t *runs, json_t *expected, char *diff, size_t size)
{
    size_t nr = json_array_size(runs), ne = json_array_size(expected);
    bool *taken = calloc(nr + 1, sizeof *taken);
    if (taken == NULL)
        return;
    char scratch[256], text[512];
    size_t missing = 0, first_missing = 0, extra = 0;
    for (size_t e = 0; e < ne; e++) {
        size_t r = 0;
        while (r < nr &&
               (taken[r] || !run_matches(r, json_array_get(runs, r), json_array_get(expected, e),
                                         scratch, sizeof scratch)))
            r++;
        if (r < nr)
            taken[r] = true;
        else if (missing++ == 0)
            first_missing = e;
    }
    size_t len = strlen(diff);
    if (missing > 0 && len < size) {
        char *want = json_dumps(json_array_get(expected, first_missing), JSON_COMPACT);
        suite_text_set(diff + len, size - len, "; missing: expected run %zu %.200s%s",
                       first_missing + 1, want != NULL ? want : "", missing > 1 ? " and more" : "");
        free(want);
    }
    for (size_t r = 0; r < nr; r++) {
        if (taken[r] || extra++ > 0)
            continue;
        describe_run(json_array_get(runs, r), text, sizeof text);
        len = strlen(diff);
        if (len < size)
            suite_text_set(diff + len, size - len, "; extra: run %zu %s", r + 1, text);
    }
    if (extra > 1 && (len = strlen(diff)) < size)
        suite_text_set(diff + len, size - len, " and %zu more", extra - 1);
    free(taken);
}

bool suite_compare(json_t *runs, json_t *journal, int64_t n_running, json_t *expected,
                   json_t *expected_req, char *diff, size_t size)
{
    size_t n_exp = json_array_size(expected);
    if (json_array_size(runs) != n_exp || n_running > 0) {
        size_t nr = json_array_size(runs);
        suite_text_set(diff, size, "%zu run%s recorded (%lld still RUNNING), expected %zu", nr,
                       nr == 1 ? "" : "s", (long long)n_running, n_exp);
        name_mismatch(runs, expected, diff, size);
        if (nr < n_exp)
            explain_missing(journal, diff, size);
        return false;
    }
    for (size_t i = 0; i < n_exp; i++)
        if (!run_matches(i, json_array_get(runs, i), json_array_get(expected, i), diff, size))
            return false;
    if (expected_req == NULL)
        return true;
    size_t n_req = json_array_size(expected_req);
    if (json_array_size(journal) != n_req) {
        size_t nj = json_array_size(journal);
        suite_text_set(diff, size, "%zu request%s started no run, expected %zu", nj,
                       nj == 1 ? "" : "s", n_req);
        return false;
    }
    for (size_t i = 0; i < n_req; i++)
        if (!request_matches(i, json_array_get(journal, i), json_array_get(expected_req, i), diff,
                             size))
            return false;
    return true;
}

bool suite_check_reports(const char *workdir, size_t n_dest, json_t *expected, json_t *expected_req,
                         char *diff, size_t size)
{
    /* The sender's own account must agree with what the emulator saw:
     * everything it delivered (2xx) is a run or a journalled 200. */
    size_t n_exp = json_array_size(expected);
    size_t n_req = json_array_size(expected_req); /* 0 when NULL */
    int64_t delivered = report_sum(workdir, n_dest, "activated");
    int64_t failed = report_sum(workdir, n_dest, "failed");
    size_t n_req_ok = 0;
    for (size_t i = 0; i < n_req; i++)
        n_req_ok += json_integer_value(
                        json_object_get(json_array_get(expected_req, i), "httpStatus")) == 200;
    if (delivered < 0) {
        suite_text_set(diff, size, "the sender wrote no readable report");
        return false;
    }
    if ((size_t)delivered != n_exp + n_req_ok) {
        suite_text_set(diff, size,
                       "sender report: activated %lld, expected %zu (runs %zu + accepted requests "
                       "without a run %zu)",
                       (long long)delivered, n_exp + n_req_ok, n_exp, n_req_ok);
        return false;
    }
    if ((size_t)(delivered + failed) != n_exp + n_req) {
        suite_text_set(diff, size,
                       "sender report: activated + failed = %lld, expected %zu requests",
                       (long long)(delivered + failed), n_exp + n_req);
        return false;
    }
    return true;
}

bool suite_check_excluded(const char *workdir, const scenario *sc, char *diff, size_t size)
{
    for (size_t k = 0; k < sc->n_excluded; k++) {
        int64_t sum = 0;
        for (size_t i = 0; i < sc->n_dest; i++) {
            char path[PATH_MAX];
            suite_text_set(path, sizeof path, "%s/report-%zu.json", workdir, i);
            json_t *r = qx_json_load_file(path, 0, NULL);
            sum += json_integer_value(
                json_object_get(json_object_get(r, "excludedReasons"), sc->excluded_reason[k]));
            json_decref(r);
        }
        if (sum != sc->excluded_count[k]) {
            suite_text_set(diff, size, "sender report: excluded %s %lld, expected %lld",
                           sc->excluded_reason[k], (long long)sum,
                           (long long)sc->excluded_count[k]);
            return false;
        }
    }
    return true;
}
