/*
 * test_retention.c — historyRetentionDays end to end: the real qx-mock on a
 * loopback port with a retention of seconds. A run recorded, then evicted
 * by the scheduler's sweep, answers 410 Gone naming when; an id that never
 * existed stays 404; /stats and /metrics count the eviction; an old history
 * loaded with --history or POST /_qx/v1/import is kept a full retention
 * from its load, not from its receivedAt; a store reopened after its runs
 * expired evicts them before it serves.
 *
 * Waiting is polling a condition until a deadline (GET /_qx/v1/runs/{id}
 * until it stops answering 200), never a fixed sleep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "qx_clock.h"

/* A workflow that needs no credentials and finishes at once. */
#define WORKFLOWS                                                                                  \
    "\"users\": [], \"workflows\": [{\"id\": \"WF_open\", \"urlTokenId\": \"tok-open\", "          \
    "\"authRequired\": false}]"
/* 0.00005 days = 4.32 s: a run goes ~4 s after it is recorded, and its
 * tombstone stays 4 s more, ample for a poll to see the 410. */
#define SHORT_RETENTION "0.00005"
#define EVICTION_DEADLINE_MS 60000
#define POLL_MS 20

/* An exported run received in 2020: far beyond any retention by receivedAt. */
#define OLD_RUN(id)                                                                                \
    "{\"id\": \"" id "\", \"workflowId\": \"WF_open\", \"requestId\": \"REQ-" id "\","             \
    " \"status\": \"SUCCESS\", \"receivedAt\": \"2020-01-02T03:04:05.000Z\","                      \
    " \"finishedAt\": \"2020-01-02T03:04:05.000Z\", \"payload\": {}, \"tasks\": []}\n"

typedef qxt_fixture fixture;

static const char *const json_ct[] = {"Content-Type: application/json", NULL};

/* Starts qx-mock on a config with this retention (days as JSON text). */
static void start(fixture *f, const char *days, const char *const *extra)
{
    char cfg[512];
    snprintf(cfg, sizeof cfg, "{%s, \"historyRetentionDays\": %s}", WORKFLOWS, days);
    assert_int_equal(qxt_fixture_launch(f, cfg, extra), 0);
}

/* GET path; the status, and the body as JSON in *out (may be NULL). */
static long get(const fixture *f, const char *path, json_t **out)
{
    qxt_response r;
    assert_int_equal(qxt_http("GET", qxt_url(f, path), NULL, 0, NULL, NULL, &r), 0);
    long st = r.status;
    if (out != NULL)
        *out = qxt_response_json(&r);
    qxt_response_free(&r);
    return st;
}

static char *get_text(const fixture *f, const char *path)
{
    qxt_response r;
    assert_int_equal(qxt_http("GET", qxt_url(f, path), NULL, 0, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    char *body = r.body;
    r.body = NULL;
    qxt_response_free(&r);
    return body;
}

/* Records a run through the JSON-event endpoint; its id into id. */
static void record_run(const fixture *f, char *id, size_t size)
{
    const char *u = qxt_url(f, "/inbound-event/v1/events/json/triggers?urlTokenId=tok-open");
    qxt_response r;
    assert_int_equal(qxt_http("POST", u, "{\"a\": 1}", 8, json_ct, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *j = qxt_response_json(&r);
    const char *run_id = json_string_value(json_object_get(json_object_get(j, "result"), "runId"));
    assert_non_null(run_id);
    snprintf(id, size, "%s", run_id);
    json_decref(j);
    qxt_response_free(&r);
}

static void import(const fixture *f, const char *ndjson)
{
    const char *u = qxt_url(f, "/_qx/v1/import");
    qxt_response r;
    const char *const ct[] = {"Content-Type: application/x-ndjson", NULL};
    assert_int_equal(qxt_http("POST", u, ndjson, strlen(ndjson), ct, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    qxt_response_free(&r);
}

/* Polls GET /_qx/v1/runs/{id} until it stops answering 200 (the sweep
 * evicted it) or the deadline passes; returns the last status and body. */
static long poll_until_gone(const fixture *f, const char *id, json_t **out)
{
    char path[256];
    snprintf(path, sizeof path, "/_qx/v1/runs/%s", id);
    int64_t deadline = qx_mono_ms() + EVICTION_DEADLINE_MS;
    for (;;) {
        json_t *j = NULL;
        long st = get(f, path, &j);
        if (st != 200 || qx_mono_ms() >= deadline) {
            *out = j;
            return st;
        }
        json_decref(j);
        qx_sleep_ms(POLL_MS);
    }
}

static const char *error_field(json_t *j, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(j, "meta"), "error"), key));
}

static json_int_t stats_evicted(const fixture *f)
{
    json_t *j = NULL;
    assert_int_equal(get(f, "/_qx/v1/stats", &j), 200);
    json_t *n = json_object_get(j, "evicted");
    assert_true(json_is_integer(n));
    json_int_t v = json_integer_value(n);
    json_decref(j);
    return v;
}

static void test_evicted_run_answers_410_and_unknown_id_404(void **state)
{
    fixture *f = *state;
    start(f, SHORT_RETENTION, NULL);
    char id[128];
    record_run(f, id, sizeof id);
    /* Imported now, its clock starts now: it goes like a new run. */
    import(f, OLD_RUN("RUN_imported_2020"));
    assert_int_equal(stats_evicted(f), 0);

    json_t *j = NULL;
    long st = poll_until_gone(f, id, &j);
    assert_int_equal(st, 410);
    assert_string_equal(error_field(j, "errorCode"), "QX_RUN_EVICTED");
    assert_non_null(strstr(error_field(j, "errorMessage"), "evicted at "));
    int64_t at = 0;
    assert_int_equal(qx_parse_time(error_field(j, "evictedAt"), &at), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "meta"), "httpStatus")), "410 - Gone");
    json_decref(j);
    st = poll_until_gone(f, "RUN_imported_2020", &j);
    assert_int_equal(st, 410);
    json_decref(j);

    assert_int_equal(get(f, "/_qx/v1/runs/RUN_never_existed", &j), 404);
    assert_string_equal(error_field(j, "errorCode"), "QX_RUN_NOT_FOUND");
    json_decref(j);

    /* Listing, counts and the chart agree: nothing left. */
    assert_int_equal(get(f, "/_qx/v1/runs", &j), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "runs")), 0);
    json_decref(j);
    assert_int_equal(stats_evicted(f), 2);
    char *metrics = get_text(f, "/metrics");
    assert_non_null(strstr(metrics, "# TYPE qxmock_runs_evicted_total counter\n"));
    assert_non_null(strstr(metrics, "\nqxmock_runs_evicted_total 2\n"));
    assert_non_null(strstr(metrics, "qxmock_runs{status=\"SUCCESS\"} 0\n"));
    free(metrics);
}

/* A history from 2020 loaded with --history, or imported, is kept: a day's
 * retention counts from the load, not from receivedAt. */
static void test_old_history_survives_load(void **state)
{
    fixture *f = *state;
    char *history = qxt_write_file(f->dir, "history.ndjson", OLD_RUN("RUN_from_ci"));
    const char *const args[] = {"--history", history, NULL};
    start(f, "1", args);
    json_t *j = NULL;
    assert_int_equal(get(f, "/_qx/v1/runs/RUN_from_ci", &j), 200);
    assert_string_equal(json_string_value(json_object_get(j, "receivedAt")),
                        "2020-01-02T03:04:05.000Z");
    json_decref(j);
    import(f, OLD_RUN("RUN_imported"));
    assert_int_equal(get(f, "/_qx/v1/runs/RUN_imported", NULL), 200);
    assert_int_equal(get(f, "/_qx/v1/runs", &j), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 2);
    json_decref(j);
    assert_int_equal(stats_evicted(f), 0);
    free(history);
}

/* A --db store reopened with a retention its runs have outlived evicts
 * them at start, before it answers; the count of evicted runs is the
 * store's, kept across the restart. */
static void test_reopened_store_evicts_at_start(void **state)
{
    fixture *f = *state;
    char *db = qxt_write_file(f->dir, "history.db", "");
    const char *const args[] = {"--db", db, NULL};
    start(f, "30", args);
    char id[128];
    record_run(f, id, sizeof id);
    qxt_fixture_stop(f);
    /* 1e-8 days rounds to 1 ms: the run, recorded before the stop, is past it. */
    start(f, "1e-8", args);
    json_t *j = NULL;
    assert_int_equal(get(f, "/_qx/v1/runs", &j), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 0);
    json_decref(j);
    assert_int_equal(stats_evicted(f), 1);
    qxt_fixture_stop(f);
    start(f, "30", args);
    assert_int_equal(stats_evicted(f), 1);
    free(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_evicted_run_answers_410_and_unknown_id_404,
                                        qxt_fixture_setup, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_old_history_survives_load, qxt_fixture_setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_reopened_store_evicts_at_start, qxt_fixture_setup,
                                        qxt_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
