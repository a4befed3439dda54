/*
 * test_journal.c — the bounded request journal end to end: the real qx-mock
 * on a loopback port.
 *
 * A flood of refused requests (20,000 to an unknown urlTokenId over one
 * keep-alive connection) grows the --db file by well under 4 MB: they are
 * written one by one up to refusedJournalPerMinute, then counted into one
 * summary entry per minute. Under valgrind, where qx-mock runs some thirty
 * times slower, the flood is 2,000 requests against a limit and a size
 * bound scaled by the same tenth, so the test shows the same thing in the
 * same time. Entries keep the headers without credentials and the body's
 * first 4 KiB; journalMax evicts the oldest and counts them (/requests
 * "evicted", /metrics); a run the store refuses is a 500 in the journal.
 *
 * The file is measured after qx-mock's graceful stop, when SQLite has
 * copied the WAL back into it and removed the WAL: the database itself,
 * not a WAL the checkpointer happens to be behind on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "harness.h"
#include "qx_clock.h"

#define TOKEN "QX-JOURNAL-SECRET-1"
#define USERPWD "api-user@example.com:" TOKEN
#define EVENT_PATH "/inbound-event/v1/events/json/triggers?urlTokenId="
/* The flood of issue 15: 20,000 refused requests, well under 4 MB: under
 * 1 MB (they take some 0.2 MB; one entry each took 3.9 MB of database and
 * 31 MB with the WAL). */
#define FLOOD 20000
#define FLOOD_PER_MINUTE 600
#define FLOOD_MAX_GROWTH (1L * 1024 * 1024)

typedef qxt_fixture fixture;

static const char *const json_ct[] = {"Content-Type: application/json", NULL};

/* Starts qx-mock on a config of these extra top-level keys (JSON text
 * after a comma, or ""). */
static void start(fixture *f, const char *keys, const char *const *extra)
{
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"users\": [{\"username\": \"api-user@example.com\", \"apiToken\": \"" TOKEN "\"}],"
             " \"workflows\": [{\"id\": \"WF_auth\", \"urlTokenId\": \"tok-auth\"},"
             " {\"id\": \"WF_off\", \"urlTokenId\": \"tok-off\", \"enabled\": false},"
             " {\"id\": \"WF_open\", \"urlTokenId\": \"tok-open\", \"authRequired\": false}]%s}",
             keys);
    assert_int_equal(qxt_fixture_launch(f, cfg, extra), 0);
}

static long post(const fixture *f, const char *token, const char *body, size_t len,
                 const char *const *headers, const char *userpwd)
{
    char path[256];
    snprintf(path, sizeof path, EVENT_PATH "%s", token);
    qxt_response r;
    assert_int_equal(qxt_http("POST", qxt_url(f, path), body, len, headers, userpwd, &r), 0);
    long status = r.status;
    qxt_response_free(&r);
    return status;
}

static json_t *get_json(const fixture *f, const char *path, char **raw)
{
    qxt_response r;
    assert_int_equal(qxt_http("GET", qxt_url(f, path), NULL, 0, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *j = qxt_response_json(&r);
    assert_non_null(j);
    if (raw != NULL)
        *raw = strdup(r.body);
    qxt_response_free(&r);
    return j;
}

/* The whole journal, oldest first (every page). New reference; *evicted
 * (may be NULL) the answer's "evicted". */
static json_t *journal(const fixture *f, int64_t *evicted)
{
    json_t *all = json_array();
    char path[128] = "/_qx/v1/requests?limit=1000";
    for (;;) {
        json_t *page = get_json(f, path, NULL);
        json_array_extend(all, json_object_get(page, "requests"));
        if (evicted != NULL)
            *evicted = json_integer_value(json_object_get(page, "evicted"));
        const char *next = json_string_value(json_object_get(page, "nextCursor"));
        if (next == NULL) {
            json_decref(page);
            return all;
        }
        snprintf(path, sizeof path, "/_qx/v1/requests?limit=1000&cursor=%s", next);
        json_decref(page);
    }
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* The --db file and its WAL, in bytes. */
static long db_size(const char *db)
{
    char wal[PATH_MAX + 8];
    snprintf(wal, sizeof wal, "%s-wal", db);
    return file_size(db) + file_size(wal);
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* Sends n POSTs to an unknown urlTokenId over one keep-alive connection;
 * returns how many were answered 404. */
static int flood(const fixture *f, int n)
{
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, qxt_url(f, EVENT_PATH "no-such-token"));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    int refused = 0;
    for (int i = 0; i < n; i++) {
        long status = 0;
        if (curl_easy_perform(c) == CURLE_OK &&
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 404)
            refused++;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return refused;
}

static int64_t int_of(json_t *e, const char *key)
{
    return json_integer_value(json_object_get(e, key));
}

/* Issue 15: 20,000 refused requests grew the store by 31 MB. Now the first
 * refusedJournalPerMinute of a minute are written one by one and the rest
 * counted into the minute's summary entry: every request is accounted for,
 * and the file grows by well under 4 MB. */
static void test_a_flood_of_refused_requests_stays_small(void **state)
{
    fixture *f = *state;
    int scale = RUNNING_ON_VALGRIND ? 10 : 1;
    int n = FLOOD / scale, per_minute = FLOOD_PER_MINUTE / scale;
    long max_growth = FLOOD_MAX_GROWTH / scale;
    char keys[64], db[512];
    /* The default limit goes without saying (as a user's config would). */
    keys[0] = '\0';
    if (per_minute != FLOOD_PER_MINUTE)
        snprintf(keys, sizeof keys, ", \"refusedJournalPerMinute\": %d", per_minute);
    snprintf(db, sizeof db, "%s/journal.db", f->dir);
    const char *const args[] = {"--db", db, NULL};
    start(f, keys, args);
    assert_int_equal(post(f, "tok-off", "{}", 2, json_ct, USERPWD), 200);
    qxt_fixture_stop(f);
    long before = db_size(db);

    start(f, keys, args);
    int64_t t0 = qx_mono_ms();
    assert_int_equal(flood(f, n), n);
    int64_t ms = qx_mono_ms() - t0;
    json_t *list = journal(f, NULL);
    int64_t total = 0, one_by_one = 0, summaries = 0, others = 0;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (int_of(e, "httpStatus") != 404)
            continue;
        const char *client = json_string_value(json_object_get(e, "clientAddress"));
        others += client == NULL || strcmp(client, "127.0.0.1") != 0;
        total += int_of(e, "count");
        if (json_is_true(json_object_get(e, "summary")))
            summaries++;
        else
            one_by_one++;
    }
    json_decref(list);
    long live = db_size(db) - before; /* with the WAL as it is: for the record */
    qxt_fixture_stop(f);
    long growth = db_size(db) - before;
    printf("%d refused requests in %lld ms: %lld entries one by one, %lld summaries; "
           "the store grew by %ld bytes (%ld with the WAL before the stop)\n",
           n, (long long)ms, (long long)one_by_one, (long long)summaries, growth, live);
    assert_true(growth < max_growth);
    assert_int_equal(total, n);
    assert_int_equal(others, 0);
    /* One minute, or two when the flood crosses a minute's end. */
    assert_true(one_by_one >= per_minute && one_by_one <= 2 * per_minute);
    assert_true(summaries >= 1 && summaries <= 2);
}

/* A journal entry keeps every header but the credentials, and the body's
 * first 4 KiB with its length as sent. */
static void test_entries_keep_headers_without_credentials_and_4_kib_of_body(void **state)
{
    fixture *f = *state;
    start(f, "", NULL);
    static const char *const headers[] = {"Content-Type: application/json",
                                          "X-Trace: keep-me",
                                          "X-API-TOKEN: wrong-" TOKEN,
                                          "Cookie: session=" TOKEN,
                                          "Proxy-Authorization: Basic " TOKEN,
                                          "x-qx-admin-token: admin-" TOKEN,
                                          NULL};
    size_t len = 10000;
    char *body = malloc(len + 1);
    assert_non_null(body);
    memset(body, 'a', len);
    body[0] = '"';
    body[len - 1] = '"';
    body[len] = '\0';
    /* Basic credentials too (a wrong token for the user): 401. */
    assert_int_equal(post(f, "tok-auth", body, len, headers, "api-user@example.com:wrong-" TOKEN),
                     401);
    free(body);
    char *raw = NULL;
    json_t *j = get_json(f, "/_qx/v1/requests", &raw);
    assert_null(strstr(raw, TOKEN)); /* no credential, in any header */
    free(raw);
    json_t *e = json_array_get(json_object_get(j, "requests"), 0);
    assert_int_equal(int_of(e, "httpStatus"), 401);
    json_t *h = json_object_get(e, "headers");
    assert_true(json_is_object(h));
    assert_string_equal(json_string_value(json_object_get(h, "X-Trace")), "keep-me");
    assert_string_equal(json_string_value(json_object_get(h, "Content-Type")), "application/json");
    const char *name;
    json_t *v;
    json_object_foreach(h, name, v)
    {
        assert_true(strcasecmp(name, "Authorization") != 0);
        assert_true(strcasecmp(name, "X-API-TOKEN") != 0);
        assert_true(strcasecmp(name, "Cookie") != 0);
        assert_true(strcasecmp(name, "Proxy-Authorization") != 0);
        assert_true(strcasecmp(name, "X-QX-ADMIN-TOKEN") != 0);
    }
    assert_false(json_is_true(json_object_get(e, "headersTruncated")));
    assert_int_equal(json_string_length(json_object_get(e, "body")), 4096);
    assert_true(json_is_true(json_object_get(e, "bodyTruncated")));
    assert_int_equal(int_of(e, "bodyBytes"), 10000);
    assert_string_equal(json_string_value(json_object_get(e, "clientAddress")), "127.0.0.1");
    assert_int_equal(int_of(e, "count"), 1);
    json_decref(j);
}

/* Past refusedJournalPerMinute, one summary entry per minute, address and
 * status counts the refusals (the count is updated, not re-inserted); other
 * answers are still written one by one. */
static void test_refusals_past_the_limit_go_into_one_summary_with_a_count(void **state)
{
    fixture *f = *state;
    start(f, ", \"refusedJournalPerMinute\": 2", NULL);
    for (int i = 0; i < 7; i++)
        assert_int_equal(post(f, "no-such-token", "{}", 2, json_ct, NULL), 404);
    for (int i = 0; i < 3; i++)
        assert_int_equal(post(f, "tok-off", "{}", 2, json_ct, USERPWD), 200);
    json_t *list = journal(f, NULL);
    int64_t refused = 0, summaries = 0, disabled = 0;
    size_t i;
    json_t *e;
    const char *first = NULL, *last = NULL;
    json_array_foreach(list, i, e)
    {
        if (int_of(e, "httpStatus") == 200) {
            assert_false(json_is_true(json_object_get(e, "summary")));
            disabled++;
            continue;
        }
        const char *at = json_string_value(json_object_get(e, "receivedAt"));
        first = first != NULL ? first : at;
        last = at;
        refused += int_of(e, "count");
        if (json_is_true(json_object_get(e, "summary"))) {
            summaries++;
            assert_string_equal(json_string_value(json_object_get(e, "path")),
                                "/inbound-event/v1/events/json/triggers?urlTokenId=no-such-token");
        }
    }
    assert_int_equal(refused, 7);
    assert_int_equal(disabled, 3);
    /* Within one minute (the usual case): 2 entries and a summary of 5. */
    if (strncmp(first, last, 16) == 0) {
        assert_int_equal(json_array_size(list), 2 + 1 + 3);
        assert_int_equal(summaries, 1);
        assert_int_equal(int_of(json_array_get(list, 2), "count"), 5);
    }
    json_decref(list);
}

/* journalMax: the oldest entries are evicted, counted in /requests and
 * /metrics. */
static void test_journal_max_evicts_the_oldest_and_counts_them(void **state)
{
    fixture *f = *state;
    start(f, ", \"journalMax\": 5", NULL);
    for (int i = 0; i < 8; i++) {
        char body[32];
        int n = snprintf(body, sizeof body, "{\"n\": %d}", i);
        assert_int_equal(post(f, "tok-off", body, (size_t)n, json_ct, USERPWD), 200);
    }
    int64_t evicted = -1;
    json_t *list = journal(f, &evicted);
    assert_int_equal(json_array_size(list), 5);
    assert_int_equal(evicted, 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "body")),
                        "{\"n\": 3}");
    json_decref(list);
    qxt_response r;
    assert_int_equal(qxt_http("GET", qxt_url(f, "/metrics"), NULL, 0, NULL, NULL, &r), 0);
    assert_non_null(strstr(r.body, "\nqxmock_journal_evicted_total 3\n"));
    qxt_response_free(&r);
}

/* A seeded qx-mock given the export of a run with the same seed draws the
 * same random characters again; its run ids count on past the runs it
 * loaded, so the store never meets an id twice (it used to refuse it: a
 * 500 and a lost run). The request is answered 200 and not journalled. */
static void test_a_seeded_run_after_its_own_history_is_recorded(void **state)
{
    fixture *f = *state;
    const char *const seeded[] = {"--seed", "7", NULL};
    start(f, "", seeded);
    qxt_response r;
    assert_int_equal(
        qxt_http("POST", qxt_url(f, EVENT_PATH "tok-open"), "{}", 2, json_ct, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *j = qxt_response_json(&r);
    char first[64];
    snprintf(first, sizeof first, "%s",
             json_string_value(json_object_get(json_object_get(j, "result"), "runId")));
    json_decref(j);
    qxt_response_free(&r);
    assert_int_equal(qxt_http("GET", qxt_url(f, "/_qx/v1/export"), NULL, 0, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    char *history = qxt_write_file(f->dir, "history.ndjson", r.body);
    qxt_response_free(&r);
    qxt_fixture_stop(f);

    const char *const again[] = {"--seed", "7", "--history", history, NULL};
    start(f, "", again);
    assert_int_equal(
        qxt_http("POST", qxt_url(f, EVENT_PATH "tok-open"), "{}", 2, json_ct, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    j = qxt_response_json(&r);
    const char *id = json_string_value(json_object_get(json_object_get(j, "result"), "runId"));
    assert_non_null(id);
    assert_true(strcmp(id, first) > 0);
    assert_string_equal(id + 10, first + 10); /* the same random characters */
    json_decref(j);
    qxt_response_free(&r);
    free(history);
    json_t *list = journal(f, NULL);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_flood_of_refused_requests_stays_small,
                                        qxt_fixture_setup, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_entries_keep_headers_without_credentials_and_4_kib_of_body, qxt_fixture_setup,
            qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_refusals_past_the_limit_go_into_one_summary_with_a_count, qxt_fixture_setup,
            qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_journal_max_evicts_the_oldest_and_counts_them,
                                        qxt_fixture_setup, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_seeded_run_after_its_own_history_is_recorded,
                                        qxt_fixture_setup, qxt_fixture_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
