/* test_store.c — the SQLite run history and request journal (mock-server/store/).
 *
 * Every test but the temporary-store one uses a real database file in a
 * fresh mkdtemp directory, so WAL mode and reopening are exercised. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qx_buf.h"
#include "qx_clock.h"
#include "qx_json_write.h"
#include "qxm_store.h"

#define T0 1764387674000LL /* 2025-11-29T03:41:14.000Z */

typedef struct fixture {
    char dir[64];
    char path[128];
    qxm_store *store;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (fx == NULL)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/qx-test-store-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    snprintf(fx->path, sizeof fx->path, "%s/runs.db", fx->dir);
    qx_error err;
    fx->store = qxm_store_open(fx->path, &err);
    if (fx->store == NULL) {
        fprintf(stderr, "open: %s\n", err.text);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    qxm_store_close(fx->store);
    DIR *d = opendir(fx->dir);
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", fx->dir, de->d_name);
        unlink(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* A run document as the ingest path builds it; status is the final one. */
static json_t *run_doc(const char *id, const char *workflow, const char *final_status,
                       int64_t received_ms, json_t *payload)
{
    char received[QX_TIME_TEXT_MAX];
    qx_format_time(received_ms, received);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:[]}", "id", id, "workflowId", workflow,
                     "requestId", "REQ", "status", final_status, "receivedAt", received, "payload",
                     payload != NULL ? payload : json_object(), "conditionsMet", 1, "tasks");
}

static void insert(qxm_store *s, const char *id, const char *workflow, const char *final_status,
                   int64_t received_ms, int64_t due_ms)
{
    qx_error err;
    json_t *doc = run_doc(id, workflow, final_status, received_ms, NULL);
    qxm_run_insert in = {.doc = doc, .received_ms = received_ms, .due_ms = due_ms};
    int rc = qxm_store_insert_runs(s, &in, 1, &err);
    if (rc != 0)
        fail_msg("insert %s: %s", id, err.text);
    json_decref(doc);
}

static json_t *get(qxm_store *s, const char *id)
{
    qx_error err;
    json_t *run = qxm_store_get_run(s, id, &err);
    if (run == NULL)
        fail_msg("get %s: %s", id, err.text);
    return run;
}

static const char *str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static void test_insert_then_get_round_trips_the_document(void **state)
{
    fixture *fx = *state;
    qx_error err;
    json_t *payload = json_pack("{s:s, s:{s:i}}", "email", "a@example.com", "n", "k", 7);
    json_t *doc = run_doc("RUN_1", "WF_a", "FAILURE", T0, payload);
    json_object_set_new(doc, "error", json_string("task 1 failed"));
    qxm_run_insert in = {.doc = doc, .received_ms = T0, .due_ms = T0};
    assert_int_equal(qxm_store_insert_runs(fx->store, &in, 1, &err), 0);

    json_t *run = get(fx->store, "RUN_1");
    /* What went in comes back, with the visible status and finishedAt. */
    json_t *expected = json_deep_copy(doc);
    char finished[QX_TIME_TEXT_MAX];
    json_object_set_new(expected, "finishedAt", json_string(qx_format_time(T0, finished)));
    assert_true(json_equal(run, expected));
    /* In the documented order: ..., status, receivedAt, finishedAt, ... */
    const char *keys[8];
    size_t n = 0;
    const char *key;
    json_t *value;
    json_object_foreach(run, key, value)
    {
        if (n < 8)
            keys[n++] = key;
    }
    assert_string_equal(keys[3], "status");
    assert_string_equal(keys[4], "receivedAt");
    assert_string_equal(keys[5], "finishedAt");
    json_decref(expected);
    json_decref(run);
    json_decref(doc);
}

static void test_get_unknown_run_is_null_with_empty_error(void **state)
{
    fixture *fx = *state;
    qx_error err;
    qx_error_set(&err, "stale");
    assert_null(qxm_store_get_run(fx->store, "RUN_nope", &err));
    assert_string_equal(err.text, "");
}

static void test_delayed_run_is_running_until_finish_due(void **state)
{
    fixture *fx = *state;
    qx_error err;
    insert(fx->store, "RUN_1", "WF_a", "FAILURE", T0, T0 + 5000);

    json_t *run = get(fx->store, "RUN_1");
    assert_string_equal(str(run, "status"), "RUNNING");
    assert_true(json_is_null(json_object_get(run, "finishedAt")));
    json_decref(run);

    assert_int_equal(qxm_store_finish_due(fx->store, T0 + 4999, &err), 0);
    assert_int_equal(qxm_store_finish_due(fx->store, T0 + 9000, &err), 1);
    assert_int_equal(qxm_store_finish_due(fx->store, T0 + 9000, &err), 0);

    run = get(fx->store, "RUN_1");
    assert_string_equal(str(run, "status"), "FAILURE");
    /* finishedAt is the due time, not the time finish_due ran. */
    char due[QX_TIME_TEXT_MAX];
    assert_string_equal(str(run, "finishedAt"), qx_format_time(T0 + 5000, due));
    json_decref(run);
}

static void test_next_due_is_the_earliest_running_run(void **state)
{
    fixture *fx = *state;
    qx_error err;
    assert_true(qxm_store_next_due(fx->store) == INT64_MAX);
    insert(fx->store, "RUN_done", "WF_a", "SUCCESS", T0, T0);
    assert_true(qxm_store_next_due(fx->store) == INT64_MAX);
    insert(fx->store, "RUN_late", "WF_a", "SUCCESS", T0, T0 + 3000);
    insert(fx->store, "RUN_soon", "WF_a", "SUCCESS", T0, T0 + 1000);
    assert_true(qxm_store_next_due(fx->store) == T0 + 1000);
    assert_int_equal(qxm_store_finish_due(fx->store, T0 + 1000, &err), 1);
    assert_true(qxm_store_next_due(fx->store) == T0 + 3000);
    assert_int_equal(qxm_store_finish_due(fx->store, T0 + 3000, &err), 1);
    assert_true(qxm_store_next_due(fx->store) == INT64_MAX);
}

static void test_batch_with_an_existing_id_inserts_nothing(void **state)
{
    fixture *fx = *state;
    qx_error err;
    insert(fx->store, "RUN_1", "WF_a", "SUCCESS", T0, T0);
    qxm_run_insert batch[2] = {
        {.doc = run_doc("RUN_2", "WF_a", "SUCCESS", T0, NULL), .received_ms = T0, .due_ms = T0},
        {.doc = run_doc("RUN_1", "WF_a", "SUCCESS", T0, NULL), .received_ms = T0, .due_ms = T0},
    };
    assert_int_equal(qxm_store_insert_runs(fx->store, batch, 2, &err), -1);
    assert_string_equal(err.text, "run \"RUN_1\" already exists");
    assert_null(qxm_store_get_run(fx->store, "RUN_2", &err));
    assert_int_equal(qxm_store_count_runs(fx->store, NULL, &err), 1);
    json_decref(batch[0].doc);
    json_decref(batch[1].doc);
}

static void test_insert_requires_a_final_status(void **state)
{
    fixture *fx = *state;
    qx_error err;
    json_t *doc = run_doc("RUN_1", "WF_a", "RUNNING", T0, NULL);
    qxm_run_insert in = {.doc = doc, .received_ms = T0, .due_ms = T0};
    assert_int_equal(qxm_store_insert_runs(fx->store, &in, 1, &err), -1);
    assert_non_null(strstr(err.text, "RUN_1"));
    json_decref(doc);
}

/* 30 runs: workflow WF_a for even i, WF_b for odd; FAILURE every third;
 * received one second apart; the last two still RUNNING. */
#define MANY 30
static void insert_many(qxm_store *s)
{
    qxm_run_insert batch[MANY] = {{0}};
    for (int i = 0; i < MANY; i++) {
        char id[16];
        snprintf(id, sizeof id, "RUN_%02d", i);
        int64_t received = T0 + i * 1000;
        batch[i].doc = run_doc(id, i % 2 == 0 ? "WF_a" : "WF_b", i % 3 == 0 ? "FAILURE" : "SUCCESS",
                               received, NULL);
        batch[i].received_ms = received;
        batch[i].due_ms = i >= MANY - 2 ? received + 60000 : received;
    }
    qx_error err;
    int rc = qxm_store_insert_runs(s, batch, MANY, &err);
    for (int i = 0; i < MANY; i++)
        json_decref(batch[i].doc);
    if (rc != 0)
        fail_msg("insert: %s", err.text);
}

/* The visible status of RUN_<i> in insert_many's history. */
static const char *many_status(int i)
{
    if (i >= MANY - 2)
        return "RUNNING";
    return i % 3 == 0 ? "FAILURE" : "SUCCESS";
}

static bool many_matches(int i, const qxm_run_filter *f)
{
    int64_t received = T0 + i * 1000;
    if (f->workflow_id != NULL && strcmp(f->workflow_id, i % 2 == 0 ? "WF_a" : "WF_b") != 0)
        return false;
    if (f->status != NULL && strcmp(f->status, many_status(i)) != 0)
        return false;
    if (f->finished_only && strcmp(many_status(i), "RUNNING") == 0)
        return false;
    if (f->since_ms != 0 && received < f->since_ms)
        return false;
    if (f->until_ms != 0 && received >= f->until_ms)
        return false;
    return true;
}

/* Pages through f with page size 4 and checks the ids are exactly the
 * expected ones, in order, each once. */
static void check_walk(qxm_store *s, qxm_run_filter f)
{
    char expected[MANY][16];
    int n_expected = 0;
    for (int k = 0; k < MANY; k++) {
        int i = f.newest_first ? MANY - 1 - k : k;
        if (many_matches(i, &f))
            snprintf(expected[n_expected++], 16, "RUN_%02d", i);
    }
    qx_error err;
    int seen = 0, pages = 0;
    f.limit = 4;
    f.cursor = 0;
    do {
        int64_t next = -1;
        json_t *page = qxm_store_list_runs(s, &f, &next, &err);
        if (page == NULL)
            fail_msg("list: %s", err.text);
        assert_true(json_array_size(page) <= 4);
        size_t i;
        json_t *run;
        json_array_foreach(page, i, run)
        {
            assert_true(seen < n_expected);
            assert_string_equal(str(run, "id"), expected[seen]);
            seen++;
        }
        /* A full page is followed by a cursor unless nothing is left. */
        assert_true(next == 0 || json_array_size(page) == 4);
        json_decref(page);
        f.cursor = next;
        assert_true(++pages <= MANY + 1);
    } while (f.cursor != 0);
    assert_int_equal(seen, n_expected);
    assert_int_equal(qxm_store_count_runs(s, &f, &err), n_expected);
}

static void test_cursor_walks_every_filter_shape_without_gaps_or_repeats(void **state)
{
    fixture *fx = *state;
    insert_many(fx->store);
    const qxm_run_filter filters[] = {
        {0},
        {.workflow_id = "WF_b"},
        {.status = "FAILURE"},
        {.status = "RUNNING"},
        {.workflow_id = "WF_a", .status = "SUCCESS"},
        {.since_ms = T0 + 5000},
        {.until_ms = T0 + 11000},
        {.since_ms = T0 + 5000, .until_ms = T0 + 20000},
        {.workflow_id = "WF_a", .since_ms = T0 + 7000, .finished_only = true},
        {.status = "FAILURE", .until_ms = T0 + 13000},
        {.workflow_id = "WF_b", .status = "SUCCESS", .since_ms = T0 + 3000},
        {.finished_only = true},
        {.since_ms = T0 + 20000, .finished_only = true},
        {.workflow_id = "WF_none"},
    };
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        qxm_run_filter f = filters[i];
        check_walk(fx->store, f);
        f.newest_first = true;
        check_walk(fx->store, f);
    }
}

static void test_list_shows_visible_status_and_finished_at(void **state)
{
    fixture *fx = *state;
    qx_error err;
    insert_many(fx->store);
    qxm_run_filter f = {.workflow_id = "WF_b", .newest_first = true, .limit = 1};
    int64_t next = 0;
    json_t *page = qxm_store_list_runs(fx->store, &f, &next, &err);
    assert_non_null(page);
    json_t *run = json_array_get(page, 0);
    assert_string_equal(str(run, "id"), "RUN_29");
    assert_string_equal(str(run, "status"), "RUNNING");
    assert_true(json_is_null(json_object_get(run, "finishedAt")));
    assert_true(next != 0);
    json_decref(page);
}

static void test_limit_defaults_to_100_and_is_capped_at_1000(void **state)
{
    fixture *fx = *state;
    qx_error err;
    enum { N = 1005 };
    qxm_run_insert *batch = calloc(N, sizeof *batch);
    assert_non_null(batch);
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "RUN_%04d", i);
        batch[i].doc = run_doc(id, "WF_a", "SUCCESS", T0 + i, NULL);
        batch[i].received_ms = batch[i].due_ms = T0 + i;
    }
    assert_int_equal(qxm_store_insert_runs(fx->store, batch, N, &err), 0);
    for (int i = 0; i < N; i++)
        json_decref(batch[i].doc);
    free(batch);

    int64_t next = 0;
    qxm_run_filter f = {0};
    json_t *page = qxm_store_list_runs(fx->store, &f, &next, &err);
    assert_int_equal(json_array_size(page), 100);
    json_decref(page);
    f.limit = 5000;
    page = qxm_store_list_runs(fx->store, &f, &next, &err);
    assert_int_equal(json_array_size(page), 1000);
    json_decref(page);
    f.cursor = next;
    page = qxm_store_list_runs(fx->store, &f, &next, &err);
    assert_int_equal(json_array_size(page), 5);
    assert_true(next == 0);
    json_decref(page);
}

static void test_count_and_status_counts_follow_finishing(void **state)
{
    fixture *fx = *state;
    qx_error err;
    insert_many(fx->store);
    qxm_status_counts c;
    assert_int_equal(qxm_store_status_counts(fx->store, &c, &err), 0);
    assert_true(c.running == 2 && c.failure == 10 && c.success == 18);

    qxm_run_filter finished = {.finished_only = true};
    qxm_run_filter running_b = {.workflow_id = "WF_b", .status = "RUNNING"};
    assert_int_equal(qxm_store_count_runs(fx->store, &finished, &err), 28);
    assert_int_equal(qxm_store_count_runs(fx->store, &running_b, &err), 1);

    /* RUN_28 (WF_a, SUCCESS) and RUN_29 (WF_b, SUCCESS) finish. */
    assert_int_equal(qxm_store_finish_due(fx->store, INT64_MAX, &err), 2);
    assert_int_equal(qxm_store_status_counts(fx->store, &c, &err), 0);
    assert_true(c.running == 0 && c.failure == 10 && c.success == 20);
    assert_int_equal(qxm_store_count_runs(fx->store, &finished, &err), 30);
    assert_int_equal(qxm_store_count_runs(fx->store, &running_b, &err), 0);
    /* The same with a time window, which counts from the indexes. */
    finished.since_ms = T0 + 28000;
    assert_int_equal(qxm_store_count_runs(fx->store, &finished, &err), 2);
}

static void test_finished_only_excludes_running_runs(void **state)
{
    fixture *fx = *state;
    qx_error err;
    insert(fx->store, "RUN_done", "WF_a", "SUCCESS", T0, T0);
    insert(fx->store, "RUN_busy", "WF_a", "SUCCESS", T0, T0 + 1000);
    qxm_run_filter f = {.finished_only = true};
    int64_t next = 0;
    json_t *page = qxm_store_list_runs(fx->store, &f, &next, &err);
    assert_int_equal(json_array_size(page), 1);
    assert_string_equal(str(json_array_get(page, 0), "id"), "RUN_done");
    json_decref(page);
    f.status = "RUNNING";
    assert_int_equal(qxm_store_count_runs(fx->store, &f, &err), 0);
}

static void insert_with_payload(qxm_store *s, const char *id, const char *workflow,
                                int64_t received_ms, const char *payload_text)
{
    qx_error err;
    json_t *doc = run_doc(id, workflow, "SUCCESS", received_ms, json_loads(payload_text, 0, NULL));
    qxm_run_insert in = {.doc = doc, .received_ms = received_ms, .due_ms = received_ms};
    if (qxm_store_insert_runs(s, &in, 1, &err) != 0)
        fail_msg("insert %s: %s", id, err.text);
    json_decref(doc);
}

static void test_find_duplicate_matches_workflow_payload_and_time(void **state)
{
    fixture *fx = *state;
    insert_with_payload(fx->store, "RUN_old", "WF_a", T0, "{\"email\": \"a@x.io\", \"n\": 1}");
    insert_with_payload(fx->store, "RUN_new", "WF_a", T0 + 10, "{\"n\": 1, \"email\": \"a@x.io\"}");
    insert_with_payload(fx->store, "RUN_other", "WF_b", T0 + 20,
                        "{\"email\": \"a@x.io\", \"n\": 1}");
    insert_with_payload(fx->store, "RUN_diff", "WF_a", T0 + 30,
                        "{\"email\": \"b@x.io\", \"n\": 1}");

    /* Compared as JSON: spacing and key order do not matter; the most recent wins. */
    char *id = qxm_store_find_duplicate(fx->store, "WF_a", "{\"email\":\"a@x.io\",\"n\":1}", T0);
    assert_non_null(id);
    assert_string_equal(id, "RUN_new");
    free(id);
    id = qxm_store_find_duplicate(fx->store, "WF_b", "{\"n\":1,\"email\":\"a@x.io\"}", 0);
    assert_non_null(id);
    assert_string_equal(id, "RUN_other");
    free(id);
    assert_null(
        qxm_store_find_duplicate(fx->store, "WF_a", "{\"email\":\"a@x.io\",\"n\":1}", T0 + 11));
    assert_null(qxm_store_find_duplicate(fx->store, "WF_a", "{\"email\":\"c@x.io\",\"n\":1}", 0));
    assert_null(qxm_store_find_duplicate(fx->store, "WF_c", "{\"email\":\"a@x.io\",\"n\":1}", 0));
    assert_null(qxm_store_find_duplicate(fx->store, "WF_a", "not json", 0));
}

/* Payloads equal as JSON hash alike whatever their key order; payloads
 * that differ — values swapped between keys, array order, types, where a
 * key's boundary falls, a member moved to another level — do not. */
static void test_payload_hash_is_of_the_value(void **state)
{
    (void)state;
    static const char *const same[][2] = {
        {"{\"a\":1,\"b\":{\"c\":[1,{\"d\":null,\"e\":true}],\"f\":\"g\"}}",
         "{\"b\":{\"f\":\"g\",\"c\":[1,{\"e\":true,\"d\":null}]},\"a\":1}"},
        {"{}", "{ }"},
    };
    static const char *const differ[][2] = {
        {"{\"a\":1,\"b\":2}", "{\"a\":2,\"b\":1}"},
        {"{\"a\":[1,2]}", "{\"a\":[2,1]}"},
        {"{\"a\":\"1\"}", "{\"a\":1}"},
        {"{\"a\":1}", "{\"a\":1.0}"},
        {"{\"a\":{}}", "{\"a\":[]}"},
        {"{\"ab\":\"c\"}", "{\"a\":\"bc\"}"},
        {"{\"a\":{\"b\":1},\"c\":2}", "{\"a\":{\"c\":2},\"b\":1}"},
        {"{\"a\":1,\"a2\":1}", "{\"a\":1}"},
        {"{\"a\":null}", "{\"a\":false}"},
    };
    for (size_t k = 0; k < 2; k++) {
        const char *const(*pairs)[2] = k == 0 ? same : differ;
        size_t n = k == 0 ? sizeof same / sizeof same[0] : sizeof differ / sizeof differ[0];
        for (size_t i = 0; i < n; i++) {
            json_t *a = json_loads(pairs[i][0], 0, NULL), *b = json_loads(pairs[i][1], 0, NULL);
            assert_non_null(a);
            assert_non_null(b);
            if (k == 0)
                assert_true(qxm_payload_hash(a) == qxm_payload_hash(b));
            else if (qxm_payload_hash(a) == qxm_payload_hash(b))
                fail_msg("%s and %s hash alike", pairs[i][0], pairs[i][1]);
            json_decref(a);
            json_decref(b);
        }
    }
}

/* Duplicates are marked at insert, inside the committing transaction: a
 * batch holding the same payload twice marks the second, and a payload
 * differing only in key order counts as the same. */
static void test_mark_duplicate_sees_earlier_runs_of_the_same_batch(void **state)
{
    fixture *fx = *state;
    qx_error err;
    insert_with_payload(fx->store, "RUN_before", "WF_a", T0 - 5000, "{\"a\": 1, \"b\": [true]}");
    const char *payloads[] = {"{\"a\": 1, \"b\": [true]}", "{\"b\": [true], \"a\": 1}",
                              "{\"a\": 2}", "{\"a\": 1.0, \"b\": [true]}"};
    qxm_run_insert batch[4] = {{0}};
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "RUN_b%d", i);
        batch[i].doc = run_doc(id, "WF_a", "SUCCESS", T0 + i, json_loads(payloads[i], 0, NULL));
        batch[i].received_ms = batch[i].due_ms = T0 + i;
        batch[i].mark_duplicate = true;
        batch[i].duplicate_since_ms = T0; /* RUN_before is outside the window */
        if (i % 2 == 1)                   /* half prepared beforehand, as ingest does */
            assert_int_equal(qxm_run_insert_prepare(&batch[i], &err), 0);
    }
    assert_int_equal(qxm_store_insert_runs(fx->store, batch, 4, &err), 0);
    for (int i = 0; i < 4; i++) {
        json_decref(batch[i].doc);
        free(batch[i].text);
    }
    json_t *run = get(fx->store, "RUN_b0");
    assert_null(json_object_get(run, "duplicateOf"));
    json_decref(run);
    run = get(fx->store, "RUN_b1");
    assert_string_equal(str(run, "duplicateOf"), "RUN_b0");
    /* It comes last, and the stored document is otherwise untouched. */
    const char *last_key = NULL, *key;
    json_t *value;
    json_object_foreach(run, key, value) last_key = key;
    assert_string_equal(last_key, "duplicateOf");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(run, "payload"), "a")), 1);
    json_decref(run);
    run = get(fx->store, "RUN_b2");
    assert_null(json_object_get(run, "duplicateOf"));
    json_decref(run);
    run = get(fx->store, "RUN_b3"); /* 1.0 is not 1 */
    assert_null(json_object_get(run, "duplicateOf"));
    json_decref(run);
    /* Without mark_duplicate nothing is looked up. */
    insert_with_payload(fx->store, "RUN_plain", "WF_a", T0 + 10, "{\"a\": 2}");
    run = get(fx->store, "RUN_plain");
    assert_null(json_object_get(run, "duplicateOf"));
    json_decref(run);
}

static void test_journal_lists_entries_with_nulls_and_pages(void **state)
{
    fixture *fx = *state;
    qx_error err;
    qxm_request_entry e = {.id = "REQ_1",
                           .received_ms = T0,
                           .method = "POST",
                           .path = "/inbound-event/v1/events/json/triggers?urlTokenId=x",
                           .http_status = 404,
                           .reason = "unknown urlTokenId"};
    assert_int_equal(qxm_store_add_request(fx->store, &e, &err), 0);
    e.id = "REQ_2";
    e.http_status = 200;
    e.reason = "workflow disabled";
    e.workflow_id = "WF_off";
    assert_int_equal(qxm_store_add_request(fx->store, &e, &err), 0);
    e.id = "REQ_3";
    assert_int_equal(qxm_store_add_request(fx->store, &e, &err), 0);

    int64_t next = 0;
    json_t *page = qxm_store_list_requests(fx->store, 0, 2, &next, &err);
    assert_int_equal(json_array_size(page), 2);
    json_t *first = json_array_get(page, 0);
    json_t *expected = json_pack(
        "{s:s, s:s, s:s, s:s, s:i, s:s, s:n, s:n, s:n, s:n, s:b, s:n, s:i, s:b, s:i, s:b}", "id",
        "REQ_1", "receivedAt", "2025-11-29T03:41:14.000Z", "method", "POST", "path",
        "/inbound-event/v1/events/json/triggers?urlTokenId=x", "httpStatus", 404, "reason",
        "unknown urlTokenId", "workflowId", "runId", "clientAddress", "headers", "headersTruncated",
        0, "body", "bodyBytes", 0, "bodyTruncated", 0, "count", 1, "summary", 0);
    assert_true(json_equal(first, expected));
    assert_string_equal(str(json_array_get(page, 1), "workflowId"), "WF_off");
    assert_true(next != 0);
    json_decref(expected);
    json_decref(page);

    page = qxm_store_list_requests(fx->store, next, 2, &next, &err);
    assert_int_equal(json_array_size(page), 1);
    assert_string_equal(str(json_array_get(page, 0), "id"), "REQ_3");
    assert_true(next == 0);
    json_decref(page);
}

static void test_reset_clears_runs_counts_and_journal(void **state)
{
    fixture *fx = *state;
    qx_error err;
    insert_many(fx->store);
    qxm_request_entry e = {.id = "REQ_1", .received_ms = T0, .http_status = 401};
    assert_int_equal(qxm_store_add_request(fx->store, &e, &err), 0);
    assert_int_equal(qxm_store_reset(fx->store, &err), 0);

    qxm_status_counts c;
    assert_int_equal(qxm_store_status_counts(fx->store, &c, &err), 0);
    assert_true(c.running == 0 && c.success == 0 && c.failure == 0);
    assert_int_equal(qxm_store_count_runs(fx->store, NULL, &err), 0);
    assert_true(qxm_store_next_due(fx->store) == INT64_MAX);
    int64_t next = 0;
    json_t *list = qxm_store_list_runs(fx->store, NULL, &next, &err);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    list = qxm_store_list_requests(fx->store, 0, 0, &next, &err);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    /* The same ids can be stored again. */
    insert_many(fx->store);
    assert_int_equal(qxm_store_count_runs(fx->store, NULL, &err), MANY);
}

static json_t *exported(const char *id, const char *status, const char *finished_at)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:{s:s}, s:[{s:s, s:s}]}", "id", id,
                     "workflowId", "WF_a", "requestId", "REQ", "status", status, "receivedAt",
                     "2025-11-29T03:41:14.000Z", "finishedAt", finished_at, "payload", "k", "v",
                     "tasks", "type", "email_distribution", "status", "FAILURE");
}

static void test_import_keeps_a_finished_runs_status_and_times(void **state)
{
    fixture *fx = *state;
    qx_error err;
    json_t *doc = exported("RUN_1", "SUCCESS", "2025-11-29T03:41:15.250Z");
    assert_int_equal(qxm_store_import_run(fx->store, doc, &err), 0);
    json_t *run = get(fx->store, "RUN_1");
    assert_true(json_equal(run, doc));
    json_decref(run);
    json_decref(doc);

    /* Imported runs are found by time like any other. */
    qxm_run_filter f = {.since_ms = T0, .until_ms = T0 + 1};
    assert_int_equal(qxm_store_count_runs(fx->store, &f, &err), 1);
}

static void test_import_of_a_running_run_finishes_when_next_due(void **state)
{
    fixture *fx = *state;
    qx_error err;
    json_t *doc = exported("RUN_1", "RUNNING", NULL);
    assert_int_equal(qxm_store_import_run(fx->store, doc, &err), 0);
    json_decref(doc);
    json_t *run = get(fx->store, "RUN_1");
    assert_string_equal(str(run, "status"), "RUNNING");
    json_decref(run);
    assert_true(qxm_store_next_due(fx->store) <= qx_now_ms());
    assert_int_equal(qxm_store_finish_due(fx->store, qx_now_ms(), &err), 1);
    run = get(fx->store, "RUN_1");
    /* Its task had failed, so the run did. */
    assert_string_equal(str(run, "status"), "FAILURE");
    assert_non_null(str(run, "finishedAt"));
    json_decref(run);
}

static void test_import_refuses_duplicates_and_bad_documents(void **state)
{
    fixture *fx = *state;
    qx_error err;
    json_t *doc = exported("RUN_1", "FAILURE", "2025-11-29T03:41:15Z");
    assert_int_equal(qxm_store_import_run(fx->store, doc, &err), 0);
    assert_int_equal(qxm_store_import_run(fx->store, doc, &err), -1);
    assert_string_equal(err.text, "run \"RUN_1\" already exists");
    json_decref(doc);

    doc = exported("RUN_2", "DONE", "2025-11-29T03:41:15Z");
    assert_int_equal(qxm_store_import_run(fx->store, doc, &err), -1);
    assert_string_equal(err.text, "run \"RUN_2\": \"status\" must be SUCCESS, FAILURE or RUNNING");
    json_decref(doc);

    doc = exported("RUN_3", "SUCCESS", NULL);
    assert_int_equal(qxm_store_import_run(fx->store, doc, &err), -1);
    assert_string_equal(err.text, "run \"RUN_3\": \"finishedAt\" is missing or not a string");
    json_decref(doc);

    doc = exported("RUN_4", "SUCCESS", "yesterday");
    assert_int_equal(qxm_store_import_run(fx->store, doc, &err), -1);
    assert_string_equal(err.text,
                        "run \"RUN_4\": finishedAt \"yesterday\" is not an RFC 3339 time");
    json_decref(doc);

    doc = json_pack("{s:s, s:s}", "workflowId", "WF_a", "status", "SUCCESS");
    assert_int_equal(qxm_store_import_run(fx->store, doc, &err), -1);
    assert_string_equal(err.text, "a run without an \"id\" string");
    json_decref(doc);

    assert_int_equal(qxm_store_count_runs(fx->store, NULL, &err), 1);
}

static void test_reopening_the_file_keeps_the_history(void **state)
{
    fixture *fx = *state;
    qx_error err;
    insert_many(fx->store);
    qxm_request_entry e = {.id = "REQ_1", .received_ms = T0, .http_status = 401};
    assert_int_equal(qxm_store_add_request(fx->store, &e, &err), 0);
    qxm_store_close(fx->store);

    fx->store = qxm_store_open(fx->path, &err);
    assert_non_null(fx->store);
    assert_int_equal(qxm_store_count_runs(fx->store, NULL, &err), MANY);
    json_t *run = get(fx->store, "RUN_29");
    assert_string_equal(str(run, "status"), "RUNNING");
    json_decref(run);
    /* Runs left RUNNING finish when due in the new process. */
    assert_true(qxm_store_next_due(fx->store) == T0 + 28000 + 60000);
    assert_int_equal(qxm_store_finish_due(fx->store, INT64_MAX, &err), 2);
    int64_t next = 0;
    json_t *list = qxm_store_list_requests(fx->store, 0, 0, &next, &err);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    insert(fx->store, "RUN_after", "WF_a", "SUCCESS", T0 + 99000, T0 + 99000);
    assert_int_equal(qxm_store_count_runs(fx->store, NULL, &err), MANY + 1);
}

static void test_temporary_store_works_and_forgets(void **state)
{
    (void)state;
    qx_error err;
    const char *paths[] = {NULL, ""};
    for (int i = 0; i < 2; i++) {
        qxm_store *s = qxm_store_open(paths[i], &err);
        assert_non_null(s);
        assert_int_equal(qxm_store_count_runs(s, NULL, &err), 0);
        insert_many(s);
        assert_int_equal(qxm_store_finish_due(s, INT64_MAX, &err), 2);
        qxm_run_filter f = {.status = "FAILURE"};
        assert_int_equal(qxm_store_count_runs(s, &f, &err), 10);
        check_walk(s, f);
        qxm_store_close(s);
    }
    qxm_store_close(NULL);
}

static void test_open_errors_name_the_path(void **state)
{
    fixture *fx = *state;
    qx_error err;
    char path[256];
    snprintf(path, sizeof path, "%s/no/such/dir/runs.db", fx->dir);
    assert_null(qxm_store_open(path, &err));
    assert_non_null(strstr(err.text, path));

    /* A file that is not a database. */
    snprintf(path, sizeof path, "%s/notes.txt", fx->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database, just some text\n", f);
    fclose(f);
    assert_null(qxm_store_open(path, &err));
    assert_non_null(strstr(err.text, path));
    assert_non_null(strstr(err.text, "not a database"));
}

static long long user_version(const char *path);

/* A store written by a qx-mock of schema version 1 (the schema as it was,
 * with its insert trigger and one run) opens, keeps its run and counts,
 * and takes new runs with duplicate marking. */
static void test_version_1_store_is_upgraded_in_place(void **state)
{
    fixture *fx = *state;
    qx_error err;
    char path[160];
    snprintf(path, sizeof path, "%s/v1.db", fx->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    const char *v1 =
        "PRAGMA journal_mode = WAL;"
        "CREATE TABLE runs (seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,"
        " workflow_id TEXT NOT NULL, status TEXT NOT NULL, final_status TEXT NOT NULL,"
        " received_ms INTEGER NOT NULL, due_ms INTEGER NOT NULL, finished_ms INTEGER,"
        " payload_hash INTEGER, doc TEXT NOT NULL);"
        "CREATE INDEX runs_workflow ON runs (workflow_id, seq, received_ms);"
        "CREATE INDEX runs_status ON runs (status, seq, received_ms);"
        "CREATE INDEX runs_workflow_status ON runs (workflow_id, status, seq, received_ms);"
        "CREATE INDEX runs_received ON runs (received_ms, status);"
        "CREATE INDEX runs_due ON runs (due_ms) WHERE status = 'RUNNING';"
        "CREATE INDEX runs_payload ON runs (payload_hash);"
        "CREATE TABLE run_counts (workflow_id TEXT NOT NULL, status TEXT NOT NULL,"
        " n INTEGER NOT NULL, PRIMARY KEY (workflow_id, status)) WITHOUT ROWID;"
        "CREATE TRIGGER runs_counted AFTER INSERT ON runs BEGIN"
        "  INSERT INTO run_counts (workflow_id, status, n) VALUES (NEW.workflow_id, NEW.status, 1)"
        "    ON CONFLICT (workflow_id, status) DO UPDATE SET n = n + 1;"
        "END;"
        "CREATE TRIGGER runs_recounted AFTER UPDATE OF workflow_id, status ON runs BEGIN"
        "  UPDATE run_counts SET n = n - 1 WHERE workflow_id = OLD.workflow_id AND status = "
        "OLD.status;"
        "  INSERT INTO run_counts (workflow_id, status, n) VALUES (NEW.workflow_id, NEW.status, 1)"
        "    ON CONFLICT (workflow_id, status) DO UPDATE SET n = n + 1;"
        "END;"
        "CREATE TABLE requests (seq INTEGER PRIMARY KEY, id TEXT, received_ms INTEGER NOT NULL,"
        " method TEXT, path TEXT, http_status INTEGER NOT NULL, reason TEXT, workflow_id TEXT,"
        " run_id TEXT);"
        "INSERT INTO runs (id, workflow_id, status, final_status, received_ms, due_ms,"
        " finished_ms, payload_hash, doc) VALUES ('RUN_v1', 'WF_a', 'SUCCESS', 'SUCCESS',"
        " 1764387674000, 1764387674000, 1764387674000, 1,"
        " '{\"id\":\"RUN_v1\",\"workflowId\":\"WF_a\",\"receivedAt\":\"2025-11-29T03:41:14.000Z\"}'"
        ");"
        "PRAGMA user_version = 1;";
    char *msg = NULL;
    assert_int_equal(sqlite3_exec(db, v1, NULL, NULL, &msg), SQLITE_OK);
    sqlite3_close(db);

    qxm_store *s = qxm_store_open(path, &err);
    if (s == NULL)
        fail_msg("open: %s", err.text);
    assert_int_equal(qxm_store_count_runs(s, NULL, &err), 1);
    json_t *run = qxm_store_get_run(s, "RUN_v1", &err);
    assert_non_null(run);
    assert_string_equal(str(run, "status"), "SUCCESS");
    assert_null(json_object_get(run, "duplicateOf"));
    json_decref(run);
    /* New runs are counted once each (the old trigger is gone). */
    insert_with_payload(s, "RUN_a", "WF_a", T0 + 1, "{\"x\": 1}");
    json_t *doc = run_doc("RUN_b", "WF_a", "SUCCESS", T0 + 2, json_pack("{s:i}", "x", 1));
    qxm_run_insert in = {.doc = doc,
                         .received_ms = T0 + 2,
                         .due_ms = T0 + 2,
                         .mark_duplicate = true,
                         .duplicate_since_ms = T0};
    assert_int_equal(qxm_store_insert_runs(s, &in, 1, &err), 0);
    json_decref(doc);
    assert_int_equal(qxm_store_count_runs(s, NULL, &err), 3);
    qxm_run_filter wf = {.workflow_id = "WF_a", .status = "SUCCESS"};
    assert_int_equal(qxm_store_count_runs(s, &wf, &err), 3);
    run = qxm_store_get_run(s, "RUN_b", &err);
    assert_string_equal(str(run, "duplicateOf"), "RUN_a");
    json_decref(run);
    qxm_store_close(s);

    /* Reopened, it is a current store: nothing to upgrade. */
    s = qxm_store_open(path, &err);
    assert_non_null(s);
    assert_int_equal(qxm_store_count_runs(s, NULL, &err), 3);
    assert_int_equal(user_version(path), 6);
    /* Through version 2 to 3: its run entered at the upgrade, and goes with
     * the others a retention later, counts following. */
    qxm_evict_options o = {.now_ms = qx_now_ms() + 86400000, .retention_ms = 86400000};
    qxm_evict_result r;
    assert_int_equal(qxm_store_evict(s, &o, &r, &err), 0);
    assert_int_equal(r.runs, 3);
    assert_int_equal(qxm_store_count_runs(s, &wf, &err), 0);
    qxm_store_close(s);
    for (const char *suffix = ""; suffix != NULL; suffix = *suffix == '\0' ? "-wal" : NULL) {
        char p[200];
        snprintf(p, sizeof p, "%s%s", path, suffix);
        unlink(p);
    }
    char shm[200];
    snprintf(shm, sizeof shm, "%s-shm", path);
    unlink(shm);
}

/* ---- retention ----------------------------------------------------------- */

#define DAY_MS 86400000LL

/* The wall clock's next millisecond, waited for: what is stored after this
 * returns entered the store strictly later than what was stored before. */
static int64_t after_this_ms(void)
{
    int64_t t = qx_now_ms();
    while (qx_now_ms() <= t)
        ;
    return t;
}

static qxm_evict_result evict_at(qxm_store *s, int64_t now_ms, int64_t retention_ms,
                                 int64_t max_tombstones)
{
    qx_error err;
    qxm_evict_result r;
    qxm_evict_options o = {
        .now_ms = now_ms, .retention_ms = retention_ms, .max_tombstones = max_tombstones};
    if (qxm_store_evict(s, &o, &r, &err) != 0)
        fail_msg("evict: %s", err.text);
    return r;
}

/* 1 with *at when id's tombstone is kept, else 0. */
static int tombstone(qxm_store *s, qxm_entry_kind kind, const char *id, int64_t *at)
{
    qx_error err;
    int rc = qxm_store_find_tombstone(s, kind, id, at, &err);
    if (rc < 0)
        fail_msg("tombstone: %s", err.text);
    return rc;
}

/* A run received long ago (T0, 2025) but stored now is kept for the whole
 * retention counted from now; then it goes, leaving a tombstone that says
 * when, and no count, page or bucket shows it any more. */
static void test_eviction_counts_from_entry_not_received_time(void **state)
{
    fixture *fx = *state;
    qx_error err;
    int64_t before = qx_now_ms();
    insert(fx->store, "RUN_old", "WF_a", "SUCCESS", T0, T0);
    json_t *doc = exported("RUN_imported", "SUCCESS", "2025-11-29T03:41:15.250Z");
    assert_int_equal(qxm_store_import_run(fx->store, doc, &err), 0);
    json_decref(doc);
    int64_t after = qx_now_ms();

    /* Entered at or after `before`: a day's retention keeps both until
     * before + 1 day, however old their receivedAt. */
    qxm_evict_result r = evict_at(fx->store, before + DAY_MS - 1, DAY_MS, 0);
    assert_int_equal(r.runs, 0);
    assert_int_equal(qxm_store_count_runs(fx->store, NULL, &err), 2);
    assert_int_equal(tombstone(fx->store, QXM_ENTRY_RUN, "RUN_old", NULL), 0);

    int64_t sweep = after + DAY_MS;
    r = evict_at(fx->store, sweep, DAY_MS, 0);
    assert_int_equal(r.runs, 2);
    assert_null(qxm_store_get_run(fx->store, "RUN_old", &err));
    assert_string_equal(err.text, "");
    int64_t at = 0;
    assert_int_equal(tombstone(fx->store, QXM_ENTRY_RUN, "RUN_old", &at), 1);
    assert_true(at == sweep);
    assert_int_equal(tombstone(fx->store, QXM_ENTRY_RUN, "RUN_imported", NULL), 1);
    assert_int_equal(tombstone(fx->store, QXM_ENTRY_RUN, "RUN_never", NULL), 0);
    assert_int_equal(qxm_store_runs_evicted(fx->store, &err), 2);
    assert_int_equal(qxm_store_count_runs(fx->store, NULL, &err), 0);
    qxm_status_counts c;
    assert_int_equal(qxm_store_status_counts(fx->store, &c, &err), 0);
    assert_true(c.success == 0 && c.failure == 0 && c.running == 0);
    json_t *page = qxm_store_list_runs(fx->store, NULL, NULL, &err);
    assert_int_equal(json_array_size(page), 0);
    json_decref(page);
    json_t *h = qxm_store_histogram(fx->store, NULL, 60000, &err);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(h, "totals"), "SUCCESS")),
                     0);
    assert_int_equal(json_array_size(json_object_get(h, "buckets")), 0);
    json_decref(h);
    /* Nothing left to do: a second sweep changes nothing. */
    r = evict_at(fx->store, sweep, DAY_MS, 0);
    assert_int_equal(r.runs + r.requests + r.tombstones_dropped, 0);
    assert_int_equal(qxm_store_runs_evicted(fx->store, &err), 2);
}

/* Counts every filter shape can ask for, against the runs listed. */
static void check_counts_match_listing(qxm_store *s, int64_t want_total)
{
    static const char *const workflows[] = {NULL, "WF_a", "WF_b"};
    static const char *const statuses[] = {NULL, "SUCCESS", "FAILURE", "RUNNING"};
    qx_error err;
    int64_t total = 0;
    for (size_t w = 0; w < 3; w++) {
        for (size_t st = 0; st < 4; st++) {
            for (int fin = 0; fin < 2; fin++) {
                qxm_run_filter f = {.workflow_id = workflows[w],
                                    .status = statuses[st],
                                    .finished_only = fin == 1,
                                    .limit = 1000};
                json_t *page = qxm_store_list_runs(s, &f, NULL, &err);
                int64_t listed = (int64_t)json_array_size(page);
                json_decref(page);
                if (qxm_store_count_runs(s, &f, &err) != listed)
                    fail_msg("count %s/%s/%d: %lld, listed %lld", workflows[w] ? workflows[w] : "*",
                             statuses[st] ? statuses[st] : "*", fin,
                             (long long)qxm_store_count_runs(s, &f, &err), (long long)listed);
                f.since_ms = 1; /* the same with a time window (scans, not the tally) */
                assert_int_equal(qxm_store_count_runs(s, &f, &err), listed);
                if (w == 0 && st == 0 && fin == 0)
                    total = listed;
            }
        }
    }
    assert_int_equal(total, want_total);
    qxm_status_counts c;
    assert_int_equal(qxm_store_status_counts(s, &c, &err), 0);
    assert_int_equal(c.success + c.failure + c.running, want_total);
    json_t *h = qxm_store_histogram(s, NULL, 1000, &err);
    json_t *t = json_object_get(h, "totals");
    assert_int_equal(json_integer_value(json_object_get(t, "SUCCESS")), c.success);
    assert_int_equal(json_integer_value(json_object_get(t, "FAILURE")), c.failure);
    assert_int_equal(json_integer_value(json_object_get(t, "RUNNING")), c.running);
    json_decref(h);
}

/* More runs than one batch entered first, then insert_many's: a sweep
 * between the two evicts exactly the first, over several batches, and
 * run_counts is decremented so that every count agrees with the listing. */
static void test_eviction_keeps_counts_consistent(void **state)
{
    fixture *fx = *state;
    qx_error err;
    enum { OLD = 700 };
    for (int i = 0; i < OLD; i++) {
        char id[16];
        snprintf(id, sizeof id, "OLD_%03d", i);
        /* RUNNING ones too: due long after the sweep */
        insert(fx->store, id, i % 2 == 0 ? "WF_a" : "WF_b", i % 5 == 0 ? "FAILURE" : "SUCCESS",
               T0 + i, i % 7 == 0 ? INT64_MAX / 2 : T0 + i);
    }
    qxm_request_entry e = {.id = "REQ_old", .received_ms = T0, .http_status = 401};
    assert_int_equal(qxm_store_add_request(fx->store, &e, &err), 0);
    int64_t cut = after_this_ms();
    insert_many(fx->store);
    e.id = "REQ_new";
    assert_int_equal(qxm_store_add_request(fx->store, &e, &err), 0);
    check_counts_match_listing(fx->store, OLD + MANY);

    qxm_evict_result r = evict_at(fx->store, cut + DAY_MS, DAY_MS, 0);
    assert_int_equal(r.runs, OLD);
    assert_int_equal(r.requests, 1);
    check_counts_match_listing(fx->store, MANY);
    assert_int_equal(qxm_store_tombstones(fx->store, &err), OLD + 1);
    assert_int_equal(tombstone(fx->store, QXM_ENTRY_REQUEST, "REQ_old", NULL), 1);
    assert_int_equal(tombstone(fx->store, QXM_ENTRY_RUN, "REQ_old", NULL), 0);
    assert_int_equal(tombstone(fx->store, QXM_ENTRY_REQUEST, "REQ_new", NULL), 0);
    json_t *journal = qxm_store_list_requests(fx->store, 0, 10, NULL, &err);
    assert_int_equal(json_array_size(journal), 1);
    assert_string_equal(str(json_array_get(journal, 0), "id"), "REQ_new");
    json_decref(journal);
    /* The next due run is one that is still stored. */
    assert_true(qxm_store_next_due(fx->store) == T0 + (MANY - 2) * 1000 + 60000);
    /* New runs are counted on top of the decremented tally. */
    insert(fx->store, "RUN_late", "WF_a", "SUCCESS", T0, T0);
    check_counts_match_listing(fx->store, MANY + 1);
}

/* Tombstones last one more retention period and at most max_tombstones
 * are kept, the oldest dropped first; an id evicted again (imported back,
 * then evicted) gets a fresh tombstone, counted once. */
static void test_tombstones_expire_and_are_capped_oldest_first(void **state)
{
    fixture *fx = *state;
    qx_error err;
    enum { N = 5, CAP = 3 };
    int64_t entered[N];
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "RUN_%d", i);
        insert(fx->store, id, "WF_a", "SUCCESS", T0, T0);
        entered[i] = after_this_ms();
    }
    /* One sweep per run, each evicting just that one. */
    for (int i = 0; i < N; i++)
        assert_int_equal(evict_at(fx->store, entered[i] + DAY_MS, DAY_MS, CAP).runs, 1);
    assert_int_equal(qxm_store_tombstones(fx->store, &err), CAP);
    assert_int_equal(qxm_store_runs_evicted(fx->store, &err), N);
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "RUN_%d", i);
        int64_t at = 0;
        assert_int_equal(tombstone(fx->store, QXM_ENTRY_RUN, id, &at), i >= N - CAP);
        if (i >= N - CAP)
            assert_true(at == entered[i] + DAY_MS);
    }
    /* RUN_2 was evicted at entered[2] + 1 day: its tombstone goes one day
     * later, RUN_3's not yet. */
    qxm_evict_result r = evict_at(fx->store, entered[2] + 2 * DAY_MS, DAY_MS, CAP);
    assert_int_equal(r.tombstones_dropped, 1);
    assert_int_equal(tombstone(fx->store, QXM_ENTRY_RUN, "RUN_2", NULL), 0);
    assert_int_equal(tombstone(fx->store, QXM_ENTRY_RUN, "RUN_3", NULL), 1);
    assert_int_equal(qxm_store_tombstones(fx->store, &err), CAP - 1);

    /* RUN_4 comes back (imported), is evicted again: one tombstone, renewed. */
    json_t *doc = exported("RUN_4", "SUCCESS", "2025-11-29T03:41:15.250Z");
    assert_int_equal(qxm_store_import_run(fx->store, doc, &err), 0);
    json_decref(doc);
    json_t *run = get(fx->store, "RUN_4"); /* the run, not its tombstone, answers */
    json_decref(run);
    int64_t back = after_this_ms();
    assert_int_equal(evict_at(fx->store, back + DAY_MS, DAY_MS, CAP).runs, 1);
    int64_t at = 0;
    assert_int_equal(tombstone(fx->store, QXM_ENTRY_RUN, "RUN_4", &at), 1);
    assert_true(at == back + DAY_MS);
    assert_int_equal(qxm_store_tombstones(fx->store, &err), 2); /* RUN_3 and RUN_4 */

    /* Reset forgets runs and tombstones, not how many were evicted. */
    assert_int_equal(qxm_store_reset(fx->store, &err), 0);
    assert_int_equal(tombstone(fx->store, QXM_ENTRY_RUN, "RUN_4", NULL), 0);
    assert_int_equal(qxm_store_tombstones(fx->store, &err), 0);
    assert_int_equal(qxm_store_runs_evicted(fx->store, &err), N + 1);
}

/* Retention off (0): nothing is evicted, however old. */
static void test_zero_retention_keeps_everything(void **state)
{
    fixture *fx = *state;
    qx_error err;
    insert(fx->store, "RUN_a", "WF_a", "SUCCESS", T0, T0);
    qxm_evict_result r = evict_at(fx->store, INT64_MAX / 2, 0, 0);
    assert_int_equal(r.runs, 0);
    assert_int_equal(qxm_store_count_runs(fx->store, NULL, &err), 1);
}

/* The schema of version 2 exactly as mock-server/store/sql.c created it
 * (QXM_SCHEMA_SQL before retention). */
static const char V2_SCHEMA_SQL[] =
    "CREATE TABLE runs ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT UNIQUE NOT NULL,"
    "  workflow_id TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('RUNNING', 'SUCCESS', 'FAILURE')),"
    "  final_status TEXT NOT NULL CHECK (final_status IN ('SUCCESS', 'FAILURE')),"
    "  received_ms INTEGER NOT NULL,"
    "  due_ms INTEGER NOT NULL,"
    "  finished_ms INTEGER,"
    "  payload_hash INTEGER,"
    "  doc TEXT NOT NULL,"
    "  duplicate_of TEXT);"
    "CREATE INDEX runs_workflow ON runs (workflow_id, seq, received_ms);"
    "CREATE INDEX runs_status ON runs (status, seq, received_ms);"
    "CREATE INDEX runs_workflow_status ON runs (workflow_id, status, seq, received_ms);"
    "CREATE INDEX runs_received ON runs (received_ms, status);"
    "CREATE INDEX runs_due ON runs (due_ms) WHERE status = 'RUNNING';"
    "CREATE INDEX runs_payload ON runs (workflow_id, payload_hash, received_ms);"
    "CREATE TABLE run_counts ("
    "  workflow_id TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  PRIMARY KEY (workflow_id, status)) WITHOUT ROWID;"
    "CREATE TRIGGER runs_recounted AFTER UPDATE OF workflow_id, status ON runs BEGIN"
    "  UPDATE run_counts SET n = n - 1"
    "    WHERE workflow_id = OLD.workflow_id AND status = OLD.status;"
    "  INSERT INTO run_counts (workflow_id, status, n) VALUES (NEW.workflow_id, NEW.status, 1)"
    "    ON CONFLICT (workflow_id, status) DO UPDATE SET n = n + 1;"
    "END;"
    "CREATE TABLE requests ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT,"
    "  received_ms INTEGER NOT NULL,"
    "  method TEXT,"
    "  path TEXT,"
    "  http_status INTEGER NOT NULL,"
    "  reason TEXT,"
    "  workflow_id TEXT,"
    "  run_id TEXT);"
    "PRAGMA user_version = 2;";

/* The schema of version 3 exactly as mock-server/store/sql.c created it
 * (QXM_SCHEMA_SQL and RETENTION_TABLES before the bounded journal, copied
 * verbatim). */
#define V3_RETENTION_TABLES                                                                        \
    "CREATE TABLE tombstones ("                                                                    \
    "  id TEXT NOT NULL,"                                                                          \
    "  kind TEXT NOT NULL CHECK (kind IN ('run', 'request')),"                                     \
    "  evicted_ms INTEGER NOT NULL,"                                                               \
    "  PRIMARY KEY (id, kind));"                                                                   \
    "CREATE INDEX tombstones_evicted ON tombstones (evicted_ms);"                                  \
    "CREATE TABLE store_counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"       \
    "INSERT INTO store_counters (name, n) VALUES ('"                                               \
    "runs_evicted"                                                                                 \
    "', 0),"                                                                                       \
    " ('"                                                                                          \
    "tombstones"                                                                                   \
    "', 0);"
static const char V3_SCHEMA_SQL[] =
    "CREATE TABLE runs ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT UNIQUE NOT NULL,"
    "  workflow_id TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('RUNNING', 'SUCCESS', 'FAILURE')),"
    "  final_status TEXT NOT NULL CHECK (final_status IN ('SUCCESS', 'FAILURE')),"
    "  received_ms INTEGER NOT NULL,"
    "  due_ms INTEGER NOT NULL,"
    "  finished_ms INTEGER,"
    "  payload_hash INTEGER,"
    "  doc TEXT NOT NULL,"
    "  duplicate_of TEXT,"
    "  entered_ms INTEGER NOT NULL);"
    "CREATE INDEX runs_workflow ON runs (workflow_id, seq, received_ms);"
    "CREATE INDEX runs_status ON runs (status, seq, received_ms);"
    "CREATE INDEX runs_workflow_status ON runs (workflow_id, status, seq, received_ms);"
    "CREATE INDEX runs_received ON runs (received_ms, status);"
    "CREATE INDEX runs_due ON runs (due_ms) WHERE status = 'RUNNING';"
    "CREATE INDEX runs_payload ON runs (workflow_id, payload_hash, received_ms);"
    "CREATE TABLE run_counts ("
    "  workflow_id TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  PRIMARY KEY (workflow_id, status)) WITHOUT ROWID;"
    "CREATE TRIGGER runs_recounted AFTER UPDATE OF workflow_id, status ON runs BEGIN"
    "  UPDATE run_counts SET n = n - 1"
    "    WHERE workflow_id = OLD.workflow_id AND status = OLD.status;"
    "  INSERT INTO run_counts (workflow_id, status, n) VALUES (NEW.workflow_id, NEW.status, 1)"
    "    ON CONFLICT (workflow_id, status) DO UPDATE SET n = n + 1;"
    "END;"
    "CREATE TABLE requests ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT,"
    "  received_ms INTEGER NOT NULL,"
    "  method TEXT,"
    "  path TEXT,"
    "  http_status INTEGER NOT NULL,"
    "  reason TEXT,"
    "  workflow_id TEXT,"
    "  run_id TEXT,"
    "  entered_ms INTEGER NOT NULL);" V3_RETENTION_TABLES "PRAGMA user_version = 3;";

static void remove_db(const char *path);

/* A store written by a qx-mock of schema version 3 (a run, a journal entry)
 * opens as version 4: the entry lists with the new fields empty and counts
 * in the journal's size, new entries keep headers and bodies, and reopening
 * upgrades nothing. */
static void test_version_3_store_is_upgraded_in_place(void **state)
{
    fixture *fx = *state;
    qx_error err;
    char path[160];
    snprintf(path, sizeof path, "%s/v3.db", fx->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL;", NULL, NULL, &msg), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, V3_SCHEMA_SQL, NULL, NULL, &msg), SQLITE_OK);
    const char *rows =
        "INSERT INTO runs (id, workflow_id, status, final_status, received_ms, due_ms,"
        " finished_ms, payload_hash, doc, entered_ms) VALUES ('RUN_v3', 'WF_a', 'SUCCESS',"
        " 'SUCCESS', 1764387674000, 1764387674000, 1764387674000, 1,"
        " '{\"id\":\"RUN_v3\",\"workflowId\":\"WF_a\",\"receivedAt\":\"2025-11-29T03:41:14.000Z\"}'"
        ","
        " 1764387674000);"
        "INSERT INTO run_counts VALUES ('WF_a', 'SUCCESS', 1);"
        "INSERT INTO requests (id, received_ms, method, path, http_status, reason, entered_ms)"
        " VALUES ('REQ_v3', 1764387674000, 'POST', '/p', 401, 'no credentials', 1764387674000);";
    assert_int_equal(sqlite3_exec(db, rows, NULL, NULL, &msg), SQLITE_OK);
    sqlite3_close(db);

    qxm_store *s = qxm_store_open(path, &err);
    if (s == NULL)
        fail_msg("open: %s", err.text);
    assert_int_equal(user_version(path), 6);
    assert_int_equal(qxm_store_count_runs(s, NULL, &err), 1);
    qxm_journal_stats st;
    assert_int_equal(qxm_store_journal_stats(s, &st, &err), 0);
    assert_int_equal(st.entries, 1);
    /* 64 + "REQ_v3" + "POST" + "/p" + "no credentials" */
    assert_int_equal(st.bytes, 64 + 6 + 4 + 2 + 14);
    assert_int_equal(st.evicted, 0);
    json_t *list = qxm_store_list_requests(s, 0, 0, NULL, &err);
    json_t *old = json_array_get(list, 0);
    assert_string_equal(str(old, "id"), "REQ_v3");
    assert_true(json_is_null(json_object_get(old, "headers")));
    assert_true(json_is_null(json_object_get(old, "body")));
    assert_true(json_is_null(json_object_get(old, "bodyBytes")));
    assert_int_equal(json_integer_value(json_object_get(old, "count")), 1);
    json_decref(list);
    qxm_request_entry e = {.id = "REQ_new",
                           .received_ms = T0,
                           .method = "POST",
                           .http_status = 200,
                           .reason = "disabled",
                           .client = "10.0.0.1",
                           .headers = "{\"Host\":\"x\"}",
                           .body = "{}",
                           .body_len = 2};
    assert_int_equal(qxm_store_add_request(s, &e, &err), 0);
    qxm_store_close(s);

    s = qxm_store_open(path, &err);
    assert_non_null(s);
    list = qxm_store_list_requests(s, 0, 0, NULL, &err);
    assert_int_equal(json_array_size(list), 2);
    json_t *fresh = json_array_get(list, 1);
    assert_string_equal(str(fresh, "clientAddress"), "10.0.0.1");
    assert_string_equal(str(json_object_get(fresh, "headers"), "Host"), "x");
    assert_string_equal(str(fresh, "body"), "{}");
    json_decref(list);
    /* Through the old rows too, retention keeps counting and evicting. */
    qxm_evict_result r = evict_at(s, qx_now_ms() + DAY_MS, DAY_MS, 0);
    assert_int_equal(r.requests, 2);
    assert_int_equal(qxm_store_journal_stats(s, &st, &err), 0);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.evicted, 2);
    qxm_store_close(s);
    remove_db(path);
}

/* ---- the bounded journal ------------------------------------------------- */

static void set_limits(qxm_store *s, int64_t max_entries, int64_t max_bytes, int64_t per_minute)
{
    qx_error err;
    qxm_journal_limits l = {
        .max_entries = max_entries, .max_bytes = max_bytes, .refused_per_minute = per_minute};
    if (qxm_store_set_journal_limits(s, &l, &err) != 0)
        fail_msg("limits: %s", err.text);
}

static void add_entry(qxm_store *s, const char *id, int64_t received_ms, int status,
                      const char *client, const char *body)
{
    qx_error err;
    qxm_request_entry e = {.id = id,
                           .received_ms = received_ms,
                           .method = "POST",
                           .path = "/p",
                           .http_status = status,
                           .reason = "why",
                           .client = client,
                           .body = body,
                           .body_len = body != NULL ? (int64_t)strlen(body) : 0};
    if (qxm_store_add_request(s, &e, &err) != 0)
        fail_msg("add: %s", err.text);
}

static qxm_journal_stats stats(qxm_store *s)
{
    qx_error err;
    qxm_journal_stats st;
    if (qxm_store_journal_stats(s, &st, &err) != 0)
        fail_msg("stats: %s", err.text);
    return st;
}

/* The whole journal, oldest first. New reference. */
static json_t *all_requests(qxm_store *s)
{
    qx_error err;
    json_t *list = qxm_store_list_requests(s, 0, 1000, NULL, &err);
    if (list == NULL)
        fail_msg("list: %s", err.text);
    return list;
}

/* Past journalMax the oldest entries go first, each counted; the counts
 * survive a reset and a restart. */
static void test_journal_is_bounded_by_count_oldest_first(void **state)
{
    fixture *fx = *state;
    qx_error err;
    set_limits(fx->store, 10, 1 << 30, 1000);
    for (int i = 1; i <= 15; i++) {
        char id[16];
        snprintf(id, sizeof id, "REQ_%d", i);
        add_entry(fx->store, id, T0 + i, 200, "10.0.0.1", NULL);
    }
    qxm_journal_stats st = stats(fx->store);
    assert_int_equal(st.entries, 10);
    assert_int_equal(st.evicted, 5);
    json_t *list = all_requests(fx->store);
    assert_int_equal(json_array_size(list), 10);
    assert_string_equal(str(json_array_get(list, 0), "id"), "REQ_6");
    assert_string_equal(str(json_array_get(list, 9), "id"), "REQ_15");
    json_decref(list);
    assert_int_equal(qxm_store_reset(fx->store, &err), 0);
    st = stats(fx->store);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.evicted, 5);
    qxm_store_close(fx->store);
    fx->store = qxm_store_open(fx->path, &err);
    assert_non_null(fx->store);
    assert_int_equal(stats(fx->store).evicted, 5);
}

/* A bound of 1,000 entries evicts down to 1 % below it, ten at a time: the
 * journal never holds more than the bound. */
static void test_journal_evicts_in_batches_below_the_bound(void **state)
{
    fixture *fx = *state;
    set_limits(fx->store, 1000, 1 << 30, 1000);
    for (int i = 1; i <= 1001; i++)
        add_entry(fx->store, NULL, T0 + i, 200, "10.0.0.1", NULL);
    qxm_journal_stats st = stats(fx->store);
    assert_int_equal(st.entries, 990);
    assert_int_equal(st.evicted, 11);
    for (int i = 0; i < 10; i++)
        add_entry(fx->store, NULL, T0 + 2000 + i, 200, "10.0.0.1", NULL);
    assert_int_equal(stats(fx->store).entries, 1000);
    add_entry(fx->store, NULL, T0 + 3000, 200, "10.0.0.1", NULL);
    assert_int_equal(stats(fx->store).entries, 990);
}

/* journalMaxBytes counts each entry's text plus 64; the running total the
 * inserts and evictions keep equals what SQLite sums at the next open. */
static void test_journal_is_bounded_by_bytes(void **state)
{
    fixture *fx = *state;
    qx_error err;
    char body[301];
    memset(body, 'b', 300);
    body[300] = '\0';
    /* One entry: 64 + "POST" + "/p" + "why" + "10.0.0.1" + 300 = 381 bytes. */
    add_entry(fx->store, NULL, T0, 200, "10.0.0.1", body);
    assert_int_equal(stats(fx->store).bytes, 381);
    set_limits(fx->store, 1000, 381 * 5, 1000);
    for (int i = 1; i < 20; i++)
        add_entry(fx->store, NULL, T0 + i, 200, "10.0.0.1", body);
    qxm_journal_stats st = stats(fx->store);
    assert_true(st.bytes <= 381 * 5);
    assert_int_equal(st.bytes, st.entries * 381);
    assert_int_equal(st.entries + st.evicted, 20);
    json_t *list = all_requests(fx->store);
    assert_int_equal((int64_t)json_array_size(list), st.entries);
    json_decref(list);
    qxm_store_close(fx->store);
    fx->store = qxm_store_open(fx->path, &err);
    assert_non_null(fx->store);
    qxm_journal_stats again = stats(fx->store);
    assert_int_equal(again.entries, st.entries);
    assert_int_equal(again.bytes, st.bytes);
}

static const char *entry_client(json_t *e)
{
    return str(e, "clientAddress");
}

/* Refusals (401, 404, 405, 415) are written one by one up to the limit per
 * client and minute; beyond it, one summary entry per client, minute and
 * status counts them; other statuses are never folded. */
static void test_refusals_fold_into_summaries_per_client_minute_and_status(void **state)
{
    fixture *fx = *state;
    set_limits(fx->store, 1000, 1 << 30, 3);
    int64_t minute = (T0 / 60000 + 1) * 60000; /* the start of a minute */
    for (int i = 0; i < 10; i++)
        add_entry(fx->store, NULL, minute + i, 401, "10.0.0.1", NULL);
    for (int i = 0; i < 2; i++)
        add_entry(fx->store, NULL, minute + 20 + i, 404, "10.0.0.1", NULL);
    for (int i = 0; i < 5; i++)
        add_entry(fx->store, NULL, minute + 30 + i, 401, "10.0.0.2", NULL);
    for (int i = 0; i < 4; i++)
        add_entry(fx->store, NULL, minute + 40 + i, 429, "10.0.0.1", NULL);
    add_entry(fx->store, NULL, minute + 60000, 401, "10.0.0.1", NULL); /* the next minute */
    json_t *list = all_requests(fx->store);
    /* 10.0.0.1: 3 written, a 401 summary of 7, a 404 summary of 2, 4 429s, 1 next minute;
     * 10.0.0.2: 3 written, a 401 summary of 2. */
    assert_int_equal(json_array_size(list), 3 + 1 + 1 + 3 + 1 + 4 + 1);
    int64_t total = 0;
    int summaries = 0;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        int64_t count = json_integer_value(json_object_get(e, "count"));
        total += count;
        if (!json_is_true(json_object_get(e, "summary"))) {
            assert_int_equal(count, 1);
            continue;
        }
        summaries++;
        int64_t status = json_integer_value(json_object_get(e, "httpStatus"));
        if (strcmp(entry_client(e), "10.0.0.2") == 0)
            assert_int_equal(count, 2);
        else
            assert_int_equal(count, status == 401 ? 7 : 2);
    }
    assert_int_equal(summaries, 3);
    assert_int_equal(total, 10 + 2 + 5 + 4 + 1);
    /* In order: the fourth entry is 10.0.0.1's 401 summary. */
    assert_true(json_is_true(json_object_get(json_array_get(list, 3), "summary")));
    assert_false(json_is_true(json_object_get(json_array_get(list, 13), "summary")));
    json_decref(list);
    assert_int_equal(stats(fx->store).entries, 14);
}

/* A summary evicted by the bounds is started again by the next refusal. */
static void test_an_evicted_summary_is_started_again(void **state)
{
    fixture *fx = *state;
    set_limits(fx->store, 3, 1 << 30, 1);
    add_entry(fx->store, "A1", T0, 404, "10.0.0.1", NULL);
    add_entry(fx->store, "A2", T0, 404, "10.0.0.1", NULL); /* the summary */
    add_entry(fx->store, "A3", T0, 404, "10.0.0.1", NULL); /* counted into it */
    add_entry(fx->store, "B1", T0, 200, "10.0.0.1", NULL);
    add_entry(fx->store, "B2", T0, 200, "10.0.0.1", NULL); /* A1 evicted */
    add_entry(fx->store, "B3", T0, 200, "10.0.0.1", NULL); /* A2, the summary, evicted */
    add_entry(fx->store, "A4", T0, 404, "10.0.0.1", NULL); /* a new summary; B1 evicted */
    json_t *list = all_requests(fx->store);
    assert_int_equal(json_array_size(list), 3);
    assert_string_equal(str(json_array_get(list, 0), "id"), "B2");
    json_t *last = json_array_get(list, 2);
    assert_string_equal(str(last, "id"), "A4");
    assert_true(json_is_true(json_object_get(last, "summary")));
    assert_int_equal(json_integer_value(json_object_get(last, "count")), 1);
    json_decref(list);
    assert_int_equal(stats(fx->store).evicted, 3);
}

static void remove_db(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        unlink(p);
    }
}

static long long user_version(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* A store written by a qx-mock of schema version 2 (a run long received, a
 * journal entry, their tally) opens as version 3: its rows entered the
 * store at the upgrade, so retention keeps them a full period from then;
 * then they are evicted, counts follow, and new runs are stored. */
static void test_version_2_store_is_upgraded_in_place(void **state)
{
    fixture *fx = *state;
    qx_error err;
    char path[160];
    snprintf(path, sizeof path, "%s/v2.db", fx->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL;", NULL, NULL, &msg), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, V2_SCHEMA_SQL, NULL, NULL, &msg), SQLITE_OK);
    const char *rows =
        "INSERT INTO runs (id, workflow_id, status, final_status, received_ms, due_ms,"
        " finished_ms, payload_hash, doc) VALUES ('RUN_v2', 'WF_a', 'FAILURE', 'FAILURE',"
        " 1764387674000, 1764387674000, 1764387674000, 1,"
        " '{\"id\":\"RUN_v2\",\"workflowId\":\"WF_a\",\"receivedAt\":\"2025-11-29T03:41:14.000Z\"}'"
        ");"
        "INSERT INTO run_counts VALUES ('WF_a', 'FAILURE', 1);"
        "INSERT INTO requests (id, received_ms, http_status, reason)"
        " VALUES ('REQ_v2', 1764387674000, 401, 'no credentials');";
    assert_int_equal(sqlite3_exec(db, rows, NULL, NULL, &msg), SQLITE_OK);
    sqlite3_close(db);

    int64_t before = qx_now_ms();
    qxm_store *s = qxm_store_open(path, &err);
    if (s == NULL)
        fail_msg("open: %s", err.text);
    int64_t after = qx_now_ms();
    assert_int_equal(user_version(path), 6);
    json_t *run = qxm_store_get_run(s, "RUN_v2", &err);
    assert_non_null(run);
    assert_string_equal(str(run, "status"), "FAILURE");
    json_decref(run);
    assert_int_equal(qxm_store_runs_evicted(s, &err), 0);

    /* Entered at the upgrade, not in 2025. */
    assert_int_equal(evict_at(s, before + DAY_MS - 1, DAY_MS, 0).runs, 0);
    assert_int_equal(qxm_store_count_runs(s, NULL, &err), 1);
    insert(s, "RUN_new", "WF_a", "FAILURE", T0, T0);
    int64_t cut = after_this_ms();
    qxm_evict_result r = evict_at(s, (cut > after ? cut : after) + DAY_MS, DAY_MS, 0);
    assert_int_equal(r.runs, 2);
    assert_int_equal(r.requests, 1);
    qxm_run_filter wf = {.workflow_id = "WF_a", .status = "FAILURE"};
    assert_int_equal(qxm_store_count_runs(s, &wf, &err), 0);
    assert_int_equal(tombstone(s, QXM_ENTRY_RUN, "RUN_v2", NULL), 1);
    assert_int_equal(tombstone(s, QXM_ENTRY_REQUEST, "REQ_v2", NULL), 1);
    insert(s, "RUN_newer", "WF_a", "FAILURE", T0, T0);
    assert_int_equal(qxm_store_count_runs(s, &wf, &err), 1);
    qxm_store_close(s);

    /* Reopened: nothing to upgrade, the counter kept. */
    s = qxm_store_open(path, &err);
    assert_non_null(s);
    assert_int_equal(qxm_store_runs_evicted(s, &err), 2);
    assert_int_equal(qxm_store_count_runs(s, NULL, &err), 1);
    qxm_store_close(s);
    remove_db(path);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Inserts batches of PER_BATCH runs, each with a 2,000-byte payload, as the
 * committer would. With wal, returns the largest size the file at wal had
 * after a batch; else 0. */
enum { PER_BATCH = 40 };
static long insert_filled_batches(qxm_store *s, int batches, const char *wal)
{
    qx_error err;
    char filler[2001];
    memset(filler, 'x', sizeof filler - 1);
    filler[sizeof filler - 1] = '\0';
    long largest = 0;
    for (int b = 0; b < batches; b++) {
        qxm_run_insert batch[PER_BATCH] = {{0}};
        for (int i = 0; i < PER_BATCH; i++) {
            char id[32];
            snprintf(id, sizeof id, "RUN_%d_%d", b, i);
            int64_t t = T0 + b * PER_BATCH + i;
            batch[i].doc = run_doc(id, "WF_a", "SUCCESS", t, json_pack("{s:s}", "f", filler));
            batch[i].received_ms = batch[i].due_ms = t;
        }
        if (qxm_store_insert_runs(s, batch, PER_BATCH, &err) != 0)
            fail_msg("batch %d: %s", b, err.text);
        for (int i = 0; i < PER_BATCH; i++)
            json_decref(batch[i].doc);
        long size = wal != NULL ? file_size(wal) : 0;
        largest = size > largest ? size : largest;
    }
    return largest;
}

/* The WAL is copied back into the database file while the store is open,
 * by the checkpointer (the writer only steps in past 32,768 pages): 12 MB
 * of runs go in, and the database file grows before the store closes. */
static void test_checkpoints_run_while_the_store_is_open(void **state)
{
    fixture *fx = *state;
    qx_error err;
    enum { BATCHES = 150 };
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", fx->path);
    insert_filled_batches(fx->store, BATCHES, NULL);
    /* The checkpointer copies beside the writer: wait until it has (30 s
     * at most, for valgrind on a loaded machine). */
    long db_size = 0;
    for (int i = 0; i < 600 && (db_size = file_size(fx->path)) < 4L << 20; i++)
        usleep(50 * 1000);
    long written = (long)BATCHES * PER_BATCH * 2000;
    assert_true(db_size >= 4L << 20);
    /* Bounded by the size where the writer starts it over (32,768 pages). */
    assert_true(file_size(wal) < 32768L * 4096 + written / 4);
    assert_int_equal(qxm_store_count_runs(fx->store, NULL, &err), BATCHES * PER_BATCH);
}

/* Under a steady load the writer starts the WAL over once it holds the
 * restart size (lowered here to 1,024 pages, 4 MiB) and the checkpointer is
 * near its end, and at the latest past twice that, waiting for a
 * checkpointer pass in progress (whose checkpoint lock would make its own
 * copy fail: under valgrind, or on a busy machine, the WAL once grew past
 * 11 MB so). 24 MB of runs go in: the WAL file stays within twice the
 * restart size, the tail and a commit; without the restart it reaches
 * 80 MB. */
static void test_the_wal_starts_over_at_its_restart_size(void **state)
{
    fixture *fx = *state;
    qx_error err;
    assert_int_equal(qxm_store_set_wal_restart(fx->store, 100, &err), -1);
    assert_int_equal(qxm_store_set_wal_restart(fx->store, 1024, &err), 0);
    enum { BATCHES = 300 };
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", fx->path);
    long largest = insert_filled_batches(fx->store, BATCHES, wal);
    /* At most twice the restart size and the tail, and the commit that
     * passed it, whatever the checkpointer is doing meanwhile (it never
     * blocks a restart past twice the size); 80 MB without restarts. */
    long bound = (2 * 1024 + 200 + 100) * (4096 + 24);
    if (largest > bound)
        fail_msg("the WAL reached %ld bytes (bound %ld)", largest, bound);
    assert_int_equal(qxm_store_count_runs(fx->store, NULL, &err), BATCHES * PER_BATCH);
}

#define THREADS 4
#define PER_THREAD 50

static void *insert_from_thread(void *arg)
{
    qxm_store *s = *(qxm_store **)((void **)arg)[0];
    int t = (int)(intptr_t)((void **)arg)[1];
    for (int i = 0; i < PER_THREAD; i++) {
        char id[32];
        snprintf(id, sizeof id, "RUN_t%d_%d", t, i);
        json_t *doc = run_doc(id, "WF_a", "SUCCESS", T0 + i, NULL);
        qxm_run_insert in = {.doc = doc, .received_ms = T0 + i, .due_ms = T0 + i + (i % 2)};
        qx_error err;
        if (qxm_store_insert_runs(s, &in, 1, &err) != 0)
            fprintf(stderr, "thread insert: %s\n", err.text);
        json_decref(doc);
        if (qxm_store_finish_due(s, T0 + i, &err) < 0)
            fprintf(stderr, "thread finish: %s\n", err.text);
    }
    return NULL;
}

static void test_concurrent_inserts_are_all_stored(void **state)
{
    fixture *fx = *state;
    qx_error err;
    pthread_t th[THREADS];
    void *args[THREADS][2];
    for (int t = 0; t < THREADS; t++) {
        args[t][0] = &fx->store;
        args[t][1] = (void *)(intptr_t)t;
        assert_int_equal(pthread_create(&th[t], NULL, insert_from_thread, args[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    assert_int_equal(qxm_store_count_runs(fx->store, NULL, &err), THREADS * PER_THREAD);
    qxm_status_counts c;
    assert_int_equal(qxm_store_status_counts(fx->store, &c, &err), 0);
    assert_int_equal(c.running + c.success, THREADS * PER_THREAD);
}

/* ---- search: identities and the journal's filters ------------------------ */

/* A run whose payload carries identityMap ids and whose event data has an
 * email and an external id. */
static json_t *identity_doc(const char *id, const char *status, int64_t received_ms,
                            const char *email, const char *ext)
{
    json_t *payload =
        json_pack("{s:{s:[{s:s}], s:[{s:s}, {s:i}]}, s:s}", "identityMap", "Email", "id", email,
                  "external_id", "id", ext, "id", 7, "note", "not-an-identity@x.org");
    json_t *doc = run_doc(id, "WF_a", status, received_ms, payload);
    json_object_set_new(doc, "eventData",
                        json_pack("{s:s, s:s, s:s}", "email", email, "extRef", "ref-of-shared",
                                  "firstName", "Zed"));
    return doc;
}

static void insert_identity(qxm_store *s, const char *id, const char *status, int64_t received_ms,
                            const char *email, const char *ext)
{
    qx_error err;
    json_t *doc = identity_doc(id, status, received_ms, email, ext);
    qxm_run_insert in = {.doc = doc, .received_ms = received_ms, .due_ms = received_ms};
    if (qxm_run_insert_prepare(&in, &err) != 0 || qxm_store_insert_runs(s, &in, 1, &err) != 0)
        fail_msg("insert %s: %s", id, err.text);
    free(in.text);
    json_decref(doc);
}

/* The ids of the runs whose identity holds needle, in the order listed. */
static void expect_identity(qxm_store *s, const char *needle, bool newest_first, const char *status,
                            const char *expected)
{
    qx_error err;
    qxm_run_filter f = {.identity = needle, .newest_first = newest_first, .status = status};
    json_t *runs = qxm_store_list_runs(s, &f, NULL, &err);
    if (runs == NULL)
        fail_msg("list: %s", err.text);
    char got[256] = "";
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run)
    {
        size_t n = strlen(got);
        snprintf(got + n, sizeof got - n, "%s%s", n > 0 ? " " : "", str(run, "id"));
    }
    json_decref(runs);
    assert_string_equal(got, expected);
    int64_t n = expected[0] != '\0';
    for (const char *c = expected; *c != '\0'; c++)
        n += *c == ' ';
    assert_int_equal(qxm_store_count_runs(s, &f, &err), n);
}

static long long count_rows(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long n = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Appends one identity value and its NUL (qxm_run_insert's text form). */
static int append_identity(void *ud, const char *value, size_t len)
{
    qx_buf *b = ud;
    return qx_buf_add(b, value, len) != 0 || qx_buf_add(b, "", 1) != 0 ? -1 : 0;
}

/* doc as the engine hands a run over: its stored text with the identity
 * values after it, its payload's hash and its columns, and no document. */
static void insert_as_text(qxm_store *s, json_t *doc, bool mark_duplicate)
{
    static const char *const columns[] = {"status", "finishedAt", NULL};
    qx_error err;
    qx_buf b = {0};
    assert_int_equal(qx_json_write(&b, doc, columns), 0);
    assert_int_equal(qx_buf_add(&b, "", 1), 0);
    size_t text_len = b.len;
    assert_int_equal(qxm_run_identities(json_object_get(doc, "payload"),
                                        json_object_get(doc, "eventData"), append_identity, &b),
                     0);
    qxm_run_insert in = {.received_ms = T0,
                         .due_ms = T0,
                         .mark_duplicate = mark_duplicate,
                         .duplicate_since_ms = T0 - 1000,
                         .has_payload_hash = true,
                         .workflow_id = str(doc, "workflowId"),
                         .final_status = str(doc, "status")};
    snprintf(in.id, sizeof in.id, "%s", str(doc, "id"));
    for (size_t i = text_len; i < b.len; i++)
        in.n_identities += b.data[i] == '\0';
    in.payload_hash = qxm_payload_hash(json_object_get(doc, "payload"));
    in.text = b.data;
    if (qxm_store_insert_runs(s, &in, 1, &err) != 0)
        fail_msg("insert %s: %s", in.id, err.text);
    qx_buf_free(&b);
}

/* A run handed over as text (doc NULL) is the same run as one handed over
 * as its document: read back alike, found by the same identities, counted
 * by its status, and marked a duplicate of the same payload. */
static void test_a_run_given_as_text_is_stored_as_its_document(void **state)
{
    fixture *fx = *state;
    qx_error err;
    json_t *as_doc = identity_doc("RUN_1", "FAILURE", T0, "Ann@Example.com", "ext-42");
    json_t *as_text = identity_doc("RUN_2", "FAILURE", T0, "Ann@Example.com", "ext-42");
    qxm_run_insert in = {.doc = as_doc, .received_ms = T0, .due_ms = T0};
    assert_int_equal(qxm_store_insert_runs(fx->store, &in, 1, &err), 0);
    insert_as_text(fx->store, as_text, true);

    json_t *one = get(fx->store, "RUN_1"), *two = get(fx->store, "RUN_2");
    assert_string_equal(str(two, "duplicateOf"), "RUN_1");
    json_object_del(two, "duplicateOf");
    json_object_set_new(two, "id", json_string("RUN_1"));
    assert_true(json_equal(one, two));
    expect_identity(fx->store, "ann@example", false, NULL, "RUN_1 RUN_2");
    expect_identity(fx->store, "EXT-42", false, "FAILURE", "RUN_1 RUN_2");
    expect_identity(fx->store, "ref-of-shared", false, NULL, "RUN_1 RUN_2");
    expect_identity(fx->store, "not-an-identity", false, NULL, "");
    qxm_run_filter f = {.status = "FAILURE"};
    assert_int_equal(qxm_store_count_runs(fx->store, &f, &err), 2);
    json_decref(one);
    json_decref(two);
    json_decref(as_doc);
    json_decref(as_text);
}

/* identity= matches any case of a substring of an identityMap id or of the
 * event data's email / external id, and nothing else of the document. */
static void test_runs_are_found_by_a_substring_of_an_identity(void **state)
{
    fixture *fx = *state;
    insert_identity(fx->store, "RUN_1", "SUCCESS", T0 + 1, "Ann@Example.com", "ext-42");
    insert_identity(fx->store, "RUN_2", "FAILURE", T0 + 2, "bob@example.org", "ext-43");
    insert(fx->store, "RUN_3", "WF_a", "SUCCESS", T0 + 3, T0 + 3);
    expect_identity(fx->store, "ann@EXAMPLE", false, NULL, "RUN_1");
    expect_identity(fx->store, "example", false, NULL, "RUN_1 RUN_2");
    expect_identity(fx->store, "example", true, NULL, "RUN_2 RUN_1");
    expect_identity(fx->store, "example", false, "FAILURE", "RUN_2");
    expect_identity(fx->store, "EXT-43", false, NULL, "RUN_2");
    expect_identity(fx->store, "ref-of-shared", false, NULL, "RUN_1 RUN_2"); /* extRef */
    expect_identity(fx->store, "zed", false, NULL, "");                      /* firstName */
    expect_identity(fx->store, "not-an-identity", false, NULL, "");          /* other payload */
    /* Each run keeps its values once: email twice, ext id, extRef. */
    assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM run_identities"), 6);
    /* Evicted runs take their identities with them, as does a reset. */
    evict_at(fx->store, qx_now_ms() + DAY_MS, DAY_MS, 0);
    assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM run_identities"), 0);
    insert_identity(fx->store, "RUN_4", "SUCCESS", T0 + 4, "carl@example.com", "ext-44");
    qx_error err;
    assert_int_equal(qxm_store_reset(fx->store, &err), 0);
    expect_identity(fx->store, "carl", false, NULL, "");
    assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM run_identities"), 0);
}

/* Imported runs are found by identity, one by one or streamed. */
static void test_imported_runs_are_found_by_identity(void **state)
{
    fixture *fx = *state;
    qx_error err;
    json_t *one = identity_doc("RUN_one", "SUCCESS", T0, "one@example.com", "ext-1");
    json_object_set_new(one, "finishedAt", json_string("2025-11-29T03:41:14.000Z"));
    assert_int_equal(qxm_store_import_run(fx->store, one, &err), 0);
    json_decref(one);
    qxm_store_import *imp = qxm_store_import_begin(fx->store, &err);
    assert_non_null(imp);
    for (int i = 0; i < 2; i++) {
        char id[16], email[32];
        snprintf(id, sizeof id, "RUN_s%d", i);
        snprintf(email, sizeof email, "streamed%d@example.com", i);
        json_t *doc = identity_doc(id, "SUCCESS", T0 + 1 + i, email, "ext-s");
        json_object_set_new(doc, "finishedAt", json_string("2025-11-29T03:41:15.000Z"));
        assert_int_equal(qxm_store_import_add(imp, doc, i + 1, &err), 0);
        json_decref(doc);
    }
    assert_int_equal(qxm_store_import_commit(imp, &err), 2);
    qxm_store_import_free(imp);
    expect_identity(fx->store, "one@", false, NULL, "RUN_one");
    expect_identity(fx->store, "streamed", false, NULL, "RUN_s0 RUN_s1");
    expect_identity(fx->store, "streamed1", false, NULL, "RUN_s1");
}

/* How many temporary b-trees SQLite opens to insert a run into the store
 * at path (EXPLAIN): each is built and dropped on every insert. */
static long long temp_btrees_per_insert(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long n = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db,
                           "EXPLAIN INSERT INTO runs (id, workflow_id, status, final_status,"
                           " received_ms, due_ms, doc, entered_ms)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                           -1, &st, NULL) == SQLITE_OK) {
        n = 0;
        while (sqlite3_step(st) == SQLITE_ROW)
            n += strcmp((const char *)sqlite3_column_text(st, 1), "OpenEphemeral") == 0;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Runs sql on the file at path; fails the test on an error. */
static void exec_on(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* A new store checks a run's status without a temporary b-tree per insert;
 * a store of version 5, whose CHECK used an IN list of three, opens as
 * version 6 with the same CHECK in its cheaper form, its runs kept and the
 * check still enforced. */
static void test_version_5_store_checks_statuses_in_place(void **state)
{
    fixture *fx = *state;
    qx_error err;
    char path[160];
    snprintf(path, sizeof path, "%s/v5.db", fx->dir);
    qxm_store *s = qxm_store_open(path, &err);
    if (s == NULL)
        fail_msg("open: %s", err.text);
    insert(s, "RUN_v5", "WF_a", "SUCCESS", T0, T0);
    qxm_store_close(s);
    assert_int_equal(temp_btrees_per_insert(path), 0);
    /* Back to version 5's text, as a qx-mock of version 5 created it. */
    exec_on(path, "PRAGMA writable_schema = ON;"
                  "UPDATE sqlite_schema SET sql = replace(sql,"
                  " 'CHECK (status = ''RUNNING'' OR status IN (''SUCCESS'', ''FAILURE''))',"
                  " 'CHECK (status IN (''RUNNING'', ''SUCCESS'', ''FAILURE''))')"
                  " WHERE name = 'runs';"
                  "PRAGMA writable_schema = OFF;"
                  "PRAGMA user_version = 5;");
    assert_int_equal(count_rows(path, "SELECT COUNT(*) FROM sqlite_schema WHERE sql LIKE"
                                      " '%status IN (''RUNNING'', ''SUCCESS'', ''FAILURE'')%'"),
                     1);
    assert_int_equal(temp_btrees_per_insert(path), 1);

    s = qxm_store_open(path, &err);
    if (s == NULL)
        fail_msg("open: %s", err.text);
    assert_int_equal(user_version(path), 6);
    assert_int_equal(temp_btrees_per_insert(path), 0);
    json_t *run = get(s, "RUN_v5");
    assert_string_equal(str(run, "status"), "SUCCESS");
    json_decref(run);
    insert(s, "RUN_v6", "WF_a", "FAILURE", T0 + 1, T0 + 1);
    assert_int_equal(qxm_store_count_runs(s, NULL, &err), 2);
    qxm_store_close(s);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO runs (id, workflow_id, status, final_status,"
                                  " received_ms, due_ms, doc, entered_ms)"
                                  " VALUES ('RUN_x', 'WF_a', 'DONE', 'SUCCESS', 1, 1, '{}', 1)",
                                  NULL, NULL, NULL),
                     SQLITE_CONSTRAINT);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
    remove_db(path);
}

/* A store of schema version 4 opens as version 5, the identities of its
 * runs read from their documents at the upgrade. */
static void test_version_4_store_is_upgraded_with_identities(void **state)
{
    fixture *fx = *state;
    qx_error err;
    char path[160];
    snprintf(path, sizeof path, "%s/v4.db", fx->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    assert_int_equal(sqlite3_exec(db, V3_SCHEMA_SQL, NULL, NULL, &msg), SQLITE_OK);
    /* Version 4 as mock-server/store/sql.c's QXM_MIGRATE_3_SQL made it. */
    const char *v4 = "ALTER TABLE requests ADD COLUMN client TEXT;"
                     "ALTER TABLE requests ADD COLUMN headers TEXT;"
                     "ALTER TABLE requests ADD COLUMN body TEXT;"
                     "ALTER TABLE requests ADD COLUMN body_len INTEGER;"
                     "ALTER TABLE requests ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;"
                     "ALTER TABLE requests ADD COLUMN count INTEGER NOT NULL DEFAULT 1;"
                     "INSERT OR IGNORE INTO store_counters (name, n) VALUES ('journal_evicted', 0);"
                     "PRAGMA user_version = 4;";
    assert_int_equal(sqlite3_exec(db, v4, NULL, NULL, &msg), SQLITE_OK);
    const char *rows =
        "INSERT INTO runs (id, workflow_id, status, final_status, received_ms, due_ms,"
        " finished_ms, payload_hash, doc, entered_ms) VALUES ('RUN_v4', 'WF_a', 'SUCCESS',"
        " 'SUCCESS', 1764387674000, 1764387674000, 1764387674000, 1,"
        " '{\"id\":\"RUN_v4\",\"workflowId\":\"WF_a\",\"receivedAt\":\"2025-11-29T03:41:14.000Z\","
        "\"payload\":{\"identityMap\":{\"Email\":[{\"id\":\"Old@Example.com\"}],\"ECID\":\"x\"}},"
        "\"eventData\":{\"externalId\":\"EXT-OLD\"}}', 1764387674000),"
        " ('RUN_odd', 'WF_a', 'SUCCESS', 'SUCCESS', 1764387675000, 1764387675000, 1764387675000,"
        " 2, '{\"id\":\"RUN_odd\",\"payload\":{\"identityMap\":[1,\"a\"]},\"eventData\":[\"b\"]}',"
        " 1764387675000);"
        "INSERT INTO run_counts VALUES ('WF_a', 'SUCCESS', 2);";
    assert_int_equal(sqlite3_exec(db, rows, NULL, NULL, &msg), SQLITE_OK);
    sqlite3_close(db);

    qxm_store *s = qxm_store_open(path, &err);
    if (s == NULL)
        fail_msg("open: %s", err.text);
    assert_int_equal(user_version(path), 6);
    expect_identity(s, "old@example", false, NULL, "RUN_v4");
    expect_identity(s, "ext-old", false, NULL, "RUN_v4");
    assert_int_equal(count_rows(path, "SELECT COUNT(*) FROM run_identities"), 2);
    qxm_store_close(s);
    remove_db(path);
}

static void add_refusal(qxm_store *s, const char *id, int64_t received_ms, int status,
                        const char *reason, const char *workflow_id)
{
    qx_error err;
    qxm_request_entry e = {.id = id,
                           .received_ms = received_ms,
                           .method = "POST",
                           .path = "/p",
                           .http_status = status,
                           .reason = reason,
                           .workflow_id = workflow_id,
                           .client = "10.0.0.9",
                           .body_len = -1};
    if (qxm_store_add_request(s, &e, &err) != 0)
        fail_msg("add: %s", err.text);
}

/* The ids a journal filter lists, and its totals. */
static void expect_requests(qxm_store *s, const qxm_request_filter *f, const char *expected,
                            int64_t entries, int64_t requests)
{
    qx_error err;
    qxm_request_totals t = {-1, -1};
    json_t *list = qxm_store_find_requests(s, f, NULL, &t, &err);
    if (list == NULL)
        fail_msg("list: %s", err.text);
    char got[256] = "";
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        size_t n = strlen(got);
        snprintf(got + n, sizeof got - n, "%s%s", n > 0 ? " " : "", str(e, "id"));
    }
    json_decref(list);
    assert_string_equal(got, expected);
    assert_int_equal(t.entries, entries);
    assert_int_equal(t.requests, requests);
}

/* The journal is filtered by status, workflow, reason (any case) and time,
 * listed either way, and counts entries and the requests their summaries
 * stand for; one entry is found by its id. */
static void test_journal_filters_order_and_totals(void **state)
{
    fixture *fx = *state;
    qx_error err;
    set_limits(fx->store, 1000, 1 << 30, 2);
    add_refusal(fx->store, "R1", T0, 200, "Workflow disabled", "WF_a");
    add_refusal(fx->store, "R2", T0 + 1, 429, "rate limit", "WF_b");
    for (int i = 0; i < 5; i++) { /* 2 written, then a summary of 3 */
        char id[16];
        snprintf(id, sizeof id, "U%d", i);
        add_refusal(fx->store, id, T0 + 2 + i, 401, "wrong credentials", "WF_a");
    }
    qxm_request_filter all = {0};
    expect_requests(fx->store, &all, "R1 R2 U0 U1 U2", 5, 7);
    qxm_request_filter desc = {.newest_first = true, .limit = 2};
    expect_requests(fx->store, &desc, "U2 U1", 5, 7);
    qxm_request_filter status = {.match_status = true, .http_status = 401};
    expect_requests(fx->store, &status, "U0 U1 U2", 3, 5);
    qxm_request_filter wf = {.workflow_id = "WF_a", .newest_first = true};
    expect_requests(fx->store, &wf, "U2 U1 U0 R1", 4, 6);
    qxm_request_filter reason = {.reason = "DISABLED"};
    expect_requests(fx->store, &reason, "R1", 1, 1);
    qxm_request_filter window = {.since_ms = T0 + 1, .until_ms = T0 + 3};
    expect_requests(fx->store, &window, "R2 U0", 2, 2);
    qxm_request_filter none = {.match_status = true, .http_status = 404};
    expect_requests(fx->store, &none, "", 0, 0);
    /* Pages newest first walk back without gaps. */
    int64_t next = 0;
    json_t *page = qxm_store_find_requests(fx->store, &desc, &next, NULL, &err);
    json_decref(page);
    assert_true(next > 0);
    qxm_request_filter rest = {.newest_first = true, .cursor = next};
    expect_requests(fx->store, &rest, "U0 R2 R1", 5, 7);

    json_t *one = qxm_store_get_request(fx->store, "U2", &err);
    assert_non_null(one);
    assert_true(json_is_true(json_object_get(one, "summary")));
    assert_int_equal(json_integer_value(json_object_get(one, "count")), 3);
    json_decref(one);
    assert_null(qxm_store_get_request(fx->store, "nope", &err));
    assert_string_equal(err.text, "");
}

/* The values of one run's identities, sorted, joined with '|'. New
 * malloc'd text. */
static char *identity_values(const char *path, const char *run_id)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT COALESCE(group_concat(value, '|'), '') FROM"
                                        " (SELECT value FROM run_identities WHERE run_seq ="
                                        " (SELECT seq FROM runs WHERE id = ?1) ORDER BY value)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* A run stored one at a time (identities read from its parsed document)
 * and the same run imported (read by SQL from its text) record the same
 * values, whatever odd shapes its identityMap and event data take. */
static void test_stored_and_imported_runs_record_the_same_identities(void **state)
{
    fixture *fx = *state;
    qx_error err;
    static const char *const shapes[][2] = {
        {"{\"identityMap\": {\"Email\": [{\"id\": \"A@X.com\"}, {\"id\": \"\"}, {\"id\": 5},"
         " \"str\", {\"noid\": 1}, {\"id\": \"A@X.com\"}], \"ECID\": \"notarray\","
         " \"Other\": [{\"id\": \"\\u00dcn\\u00ef-CASE\"}]}}",
         "{\"email\": \"E@x.COM\", \"extRef\": 7, \"externalId\": \"Ext\", \"firstName\": \"F\"}"},
        {"{\"identityMap\": [[{\"id\": \"arr@X\"}], {\"id\": \"not-in-array\"}]}", "[\"email\"]"},
        {"\"no payload object\"", "{\"extRef\": \"\"}"},
    };
    qxm_store_import *imp = qxm_store_import_begin(fx->store, &err);
    assert_non_null(imp);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        char id[32];
        snprintf(id, sizeof id, "RUN_stored%zu", i);
        json_t *payload = json_loads(shapes[i][0], JSON_DECODE_ANY, NULL);
        assert_non_null(payload);
        json_t *doc = run_doc(id, "WF_a", "SUCCESS", T0 + (int64_t)i, payload);
        json_object_set_new(doc, "eventData", json_loads(shapes[i][1], 0, NULL));
        qxm_run_insert in = {.doc = doc, .received_ms = T0 + (int64_t)i, .due_ms = T0};
        assert_int_equal(qxm_store_insert_runs(fx->store, &in, 1, &err), 0);
        snprintf(id, sizeof id, "RUN_imported%zu", i);
        json_object_set_new(doc, "id", json_string(id));
        json_object_set_new(doc, "finishedAt", json_string("2025-11-29T03:41:14.000Z"));
        assert_int_equal(qxm_store_import_add(imp, doc, (int64_t)i + 1, &err), 0);
        json_decref(doc);
    }
    assert_int_equal(qxm_store_import_commit(imp, &err), 3);
    qxm_store_import_free(imp);
    static const char *const expected[] = {"a@x.com|e@x.com|ext|Ün\xc3\xaf-case", "arr@x", ""};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        char stored_id[32], imported_id[32];
        snprintf(stored_id, sizeof stored_id, "RUN_stored%zu", i);
        snprintf(imported_id, sizeof imported_id, "RUN_imported%zu", i);
        char *stored = identity_values(fx->path, stored_id);
        char *imported = identity_values(fx->path, imported_id);
        assert_string_equal(stored, imported);
        assert_string_equal(stored, expected[i]);
        free(stored);
        free(imported);
    }
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_insert_then_get_round_trips_the_document),
        T(test_get_unknown_run_is_null_with_empty_error),
        T(test_delayed_run_is_running_until_finish_due),
        T(test_next_due_is_the_earliest_running_run),
        T(test_batch_with_an_existing_id_inserts_nothing),
        T(test_insert_requires_a_final_status),
        T(test_cursor_walks_every_filter_shape_without_gaps_or_repeats),
        T(test_list_shows_visible_status_and_finished_at),
        T(test_limit_defaults_to_100_and_is_capped_at_1000),
        T(test_count_and_status_counts_follow_finishing),
        T(test_finished_only_excludes_running_runs),
        T(test_find_duplicate_matches_workflow_payload_and_time),
        T(test_mark_duplicate_sees_earlier_runs_of_the_same_batch),
        T(test_version_1_store_is_upgraded_in_place),
        T(test_checkpoints_run_while_the_store_is_open),
        T(test_the_wal_starts_over_at_its_restart_size),
        T(test_journal_lists_entries_with_nulls_and_pages),
        T(test_reset_clears_runs_counts_and_journal),
        T(test_import_keeps_a_finished_runs_status_and_times),
        T(test_import_of_a_running_run_finishes_when_next_due),
        T(test_import_refuses_duplicates_and_bad_documents),
        T(test_reopening_the_file_keeps_the_history),
        T(test_temporary_store_works_and_forgets),
        T(test_open_errors_name_the_path),
        T(test_concurrent_inserts_are_all_stored),
        T(test_eviction_counts_from_entry_not_received_time),
        T(test_eviction_keeps_counts_consistent),
        T(test_tombstones_expire_and_are_capped_oldest_first),
        T(test_zero_retention_keeps_everything),
        T(test_version_2_store_is_upgraded_in_place),
        T(test_version_3_store_is_upgraded_in_place),
        T(test_journal_is_bounded_by_count_oldest_first),
        T(test_journal_evicts_in_batches_below_the_bound),
        T(test_journal_is_bounded_by_bytes),
        T(test_refusals_fold_into_summaries_per_client_minute_and_status),
        T(test_an_evicted_summary_is_started_again),
        T(test_runs_are_found_by_a_substring_of_an_identity),
        T(test_a_run_given_as_text_is_stored_as_its_document),
        T(test_payload_hash_is_of_the_value),
        T(test_imported_runs_are_found_by_identity),
        T(test_stored_and_imported_runs_record_the_same_identities),
        T(test_version_4_store_is_upgraded_with_identities),
        T(test_version_5_store_checks_statuses_in_place),
        T(test_journal_filters_order_and_totals),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
