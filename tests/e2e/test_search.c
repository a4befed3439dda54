/*
 * test_search.c — finding things over the admin API, end to end on the real
 * qx-mock: the journal's filters (httpStatus, reason, workflowId, since,
 * until), its order and totals (entries, and the requests summaries stand
 * for), one journal entry by request id; runs by identity, recorded as they
 * are stored or imported; every admin route's 400 for a query parameter it
 * does not take; the health check open behind an admin token, and /metrics
 * behind its own token only when given one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness.h"

#define TOKEN "QX-SEARCH-SECRET-1"
#define USERPWD "api-user@example.com:" TOKEN
#define EVENT_PATH "/inbound-event/v1/events/json/triggers?urlTokenId="
#define ADMIN_TOKEN "QX-SEARCH-ADMIN-1"
#define METRICS_TOKEN "QX-SEARCH-METRICS-1"

typedef qxt_fixture fixture;

static const char *const json_ct[] = {"Content-Type: application/json", NULL};

static const char config_text[] =
    "{\"users\": [{\"username\": \"api-user@example.com\", \"apiToken\": \"" TOKEN "\"}],"
    " \"refusedJournalPerMinute\": 2,"
    " \"workflows\": [{\"id\": \"WF_auth\", \"urlTokenId\": \"tok-auth\","
    "   \"eventData\": {\"email\": \"$.identityMap.Email[0].id\","
    "                   \"externalId\": \"$.identityMap.external_id[0].id\"}},"
    " {\"id\": \"WF_off\", \"urlTokenId\": \"tok-off\", \"enabled\": false}]}";

static int setup(void **state)
{
    return qxt_fixture_start(state, config_text, NULL);
}

static int setup_tokens(void **state)
{
    setenv("QX_SEARCH_ADMIN", ADMIN_TOKEN, 1);
    setenv("QX_SEARCH_METRICS", METRICS_TOKEN, 1);
    static const char *const extra[] = {"--admin-token-env", "QX_SEARCH_ADMIN",
                                        "--metrics-token-env", "QX_SEARCH_METRICS", NULL};
    return qxt_fixture_start(state, config_text, extra);
}

static int setup_admin_token(void **state)
{
    setenv("QX_SEARCH_ADMIN", ADMIN_TOKEN, 1);
    static const char *const extra[] = {"--admin-token-env", "QX_SEARCH_ADMIN", NULL};
    return qxt_fixture_start(state, config_text, extra);
}

static long post(const fixture *f, const char *token, const char *body, const char *userpwd)
{
    char path[256];
    snprintf(path, sizeof path, EVENT_PATH "%s", token);
    qxt_response r;
    assert_int_equal(qxt_http("POST", qxt_url(f, path), body, strlen(body), json_ct, userpwd, &r),
                     0);
    long status = r.status;
    qxt_response_free(&r);
    return status;
}

/* One request's answer: its status, and its JSON in *json (may be NULL). */
static long request(const fixture *f, const char *method, const char *path, const char *body,
                    const char *const *headers, json_t **json)
{
    qxt_response r;
    assert_int_equal(qxt_http(method, qxt_url(f, path), body, body != NULL ? strlen(body) : 0,
                              headers, NULL, &r),
                     0);
    long status = r.status;
    if (json != NULL)
        *json = qxt_response_json(&r);
    qxt_response_free(&r);
    return status;
}

static json_t *get_ok(const fixture *f, const char *path)
{
    json_t *j = NULL;
    long status = request(f, "GET", path, NULL, NULL, &j);
    if (status != 200)
        fail_msg("GET %s: %ld", path, status);
    assert_non_null(j);
    return j;
}

static int64_t int_of(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static const char *str_of(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static const char *error_message(const json_t *env)
{
    return str_of(json_object_get(json_object_get(env, "meta"), "error"), "errorMessage");
}

/* GET path must be a 400 whose message contains text. */
static void expect_400(const fixture *f, const char *method, const char *path, const char *text)
{
    json_t *j = NULL;
    long status = request(f, method, path, method[0] == 'G' ? NULL : "{}", json_ct, &j);
    const char *msg = error_message(j);
    if (status != 400 || msg == NULL || strstr(msg, text) == NULL)
        fail_msg("%s %s: %ld %s (expected 400 naming %s)", method, path, status,
                 msg != NULL ? msg : "(no message)", text);
    json_decref(j);
}

/* The journal of every test below: 7 requests to an unknown urlTokenId (2
 * entries and a summary of 5, within one minute), 3 to a disabled
 * workflow, 1 with a wrong token. */
static void fill_journal(const fixture *f)
{
    for (int i = 0; i < 7; i++)
        assert_int_equal(post(f, "no-such-token", "{}", NULL), 404);
    for (int i = 0; i < 3; i++)
        assert_int_equal(post(f, "tok-off", "{\"n\": 1}", USERPWD), 200);
    assert_int_equal(post(f, "tok-auth", "{\"n\": 2}", "api-user@example.com:wrong"), 401);
}

/* The journal is filtered by status, workflow, reason (any case) and time,
 * listed either way with its totals; a misspelt filter is a 400, not the
 * whole journal. */
static void test_the_journal_is_filtered_ordered_and_counted(void **state)
{
    fixture *f = *state;
    fill_journal(f);
    json_t *all = get_ok(f, "/_qx/v1/requests");
    size_t n = json_array_size(json_object_get(all, "requests"));
    assert_int_equal(int_of(all, "total"), (int64_t)n);
    assert_int_equal(int_of(all, "totalRequests"), 11);
    json_decref(all);

    json_t *refused = get_ok(f, "/_qx/v1/requests?httpStatus=404");
    json_t *list = json_object_get(refused, "requests");
    assert_int_equal(int_of(refused, "totalRequests"), 7);
    assert_int_equal(int_of(refused, "total"), (int64_t)json_array_size(list));
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) assert_int_equal(int_of(e, "httpStatus"), 404);
    json_decref(refused);

    json_t *off = get_ok(f, "/_qx/v1/requests?workflowId=WF_off&reason=DISABLED");
    assert_int_equal(int_of(off, "total"), 3);
    assert_int_equal(int_of(off, "totalRequests"), 3);
    json_decref(off);
    json_t *nothing = get_ok(f, "/_qx/v1/requests?reason=no%20such%20reason");
    assert_int_equal(int_of(nothing, "total"), 0);
    assert_int_equal(json_array_size(json_object_get(nothing, "requests")), 0);
    json_decref(nothing);

    json_t *newest = get_ok(f, "/_qx/v1/requests?order=desc&limit=1");
    json_t *first = json_array_get(json_object_get(newest, "requests"), 0);
    assert_int_equal(int_of(first, "httpStatus"), 401);
    assert_non_null(str_of(newest, "nextCursor"));
    json_decref(newest);

    json_t *old = get_ok(f, "/_qx/v1/requests?until=2000-01-01T00:00:00Z");
    assert_int_equal(int_of(old, "total"), 0);
    json_decref(old);
    json_t *recent = get_ok(f, "/_qx/v1/requests?since=2000-01-01T00:00:00Z&httpStatus=401");
    assert_int_equal(int_of(recent, "total"), 1);
    json_decref(recent);

    expect_400(f, "GET", "/_qx/v1/requests?httpStatuss=200",
               "unknown query parameter \"httpStatuss\"");
    expect_400(f, "GET", "/_qx/v1/requests?httpStatus=abc", "httpStatus");
    expect_400(f, "GET", "/_qx/v1/requests?order=sideways", "order");
    expect_400(f, "GET", "/_qx/v1/requests?since=yesterday", "since");
    expect_400(f, "GET", "/_qx/v1/requests?reason=", "reason");
}

/* One entry by its request id: headers without credentials and the body
 * kept; an unknown id is a 404 in the envelope. */
static void test_one_journal_entry_shows_its_request(void **state)
{
    fixture *f = *state;
    fill_journal(f);
    json_t *page = get_ok(f, "/_qx/v1/requests?httpStatus=401");
    const char *id = str_of(json_array_get(json_object_get(page, "requests"), 0), "id");
    assert_non_null(id);
    char path[256];
    snprintf(path, sizeof path, "/_qx/v1/requests/%s", id);
    json_t *entry = get_ok(f, path);
    assert_string_equal(str_of(entry, "id"), id);
    assert_string_equal(str_of(entry, "method"), "POST");
    assert_string_equal(str_of(entry, "path"), EVENT_PATH "tok-auth");
    assert_string_equal(str_of(entry, "body"), "{\"n\": 2}");
    json_t *headers = json_object_get(entry, "headers");
    assert_true(json_is_object(headers));
    assert_string_equal(str_of(headers, "Content-Type"), "application/json");
    const char *key;
    json_t *v;
    json_object_foreach(headers, key, v)
    {
        if (strcasecmp(key, "Authorization") == 0)
            fail_msg("the entry keeps the credentials");
    }
    json_decref(entry);
    json_decref(page);

    json_t *missing = NULL;
    assert_int_equal(request(f, "GET", "/_qx/v1/requests/REQ_nope", NULL, NULL, &missing), 404);
    assert_non_null(error_message(missing));
    json_decref(missing);
    expect_400(f, "GET", "/_qx/v1/requests/REQ_nope?verbose=1", "unknown query parameter");
}

/* identity= finds runs by a substring (any case) of an identityMap id or the
 * event data's email / external id, from events and from an import. */
static void test_runs_are_found_by_identity(void **state)
{
    fixture *f = *state;
    assert_int_equal(post(f, "tok-auth",
                          "{\"identityMap\": {\"Email\": [{\"id\": \"Ann@Example.com\"}],"
                          " \"external_id\": [{\"id\": \"ext-0042\"}]}}",
                          USERPWD),
                     200);
    assert_int_equal(post(f, "tok-auth",
                          "{\"identityMap\": {\"Email\": [{\"id\": \"bob@example.org\"}]}}",
                          USERPWD),
                     200);
    json_t *done = get_ok(f, "/_qx/v1/runs/wait?count=2&timeoutMs=20000");
    json_decref(done);
    const char *history =
        "{\"id\": \"RUN_imported\", \"workflowId\": \"WF_auth\", \"requestId\": \"REQ_i\","
        " \"status\": \"SUCCESS\", \"receivedAt\": \"2025-11-29T03:41:14.000Z\","
        " \"finishedAt\": \"2025-11-29T03:41:14.000Z\","
        " \"payload\": {\"identityMap\": {\"Email\": [{\"id\": \"carol@example.net\"}]}},"
        " \"eventData\": {\"extRef\": \"CRM-77\"}}\n";
    static const char *const ndjson[] = {"Content-Type: application/x-ndjson", NULL};
    assert_int_equal(request(f, "POST", "/_qx/v1/import", history, ndjson, NULL), 200);

    json_t *ann = get_ok(f, "/_qx/v1/runs?identity=ann%40EXAMPLE");
    assert_int_equal(int_of(ann, "total"), 1);
    json_t *run = json_array_get(json_object_get(ann, "runs"), 0);
    assert_string_equal(str_of(json_object_get(run, "eventData"), "email"), "Ann@Example.com");
    json_decref(ann);
    json_t *ext = get_ok(f, "/_qx/v1/runs?identity=0042");
    assert_int_equal(int_of(ext, "total"), 1);
    json_decref(ext);
    json_t *example = get_ok(f, "/_qx/v1/runs?identity=example&order=desc&limit=1");
    assert_int_equal(int_of(example, "total"), 3);
    assert_int_equal(json_array_size(json_object_get(example, "runs")), 1);
    json_decref(example);
    json_t *crm = get_ok(f, "/_qx/v1/runs?identity=crm-77&status=SUCCESS");
    assert_int_equal(int_of(crm, "total"), 1);
    assert_string_equal(str_of(json_array_get(json_object_get(crm, "runs"), 0), "id"),
                        "RUN_imported");
    json_decref(crm);
    json_t *none = get_ok(f, "/_qx/v1/runs?identity=nobody");
    assert_int_equal(int_of(none, "total"), 0);
    json_decref(none);
}

/* Every admin route answers 400 naming a query parameter it does not take,
 * before doing anything; the parameters it takes still work. */
static void test_every_admin_route_refuses_an_unknown_query_parameter(void **state)
{
    fixture *f = *state;
    assert_int_equal(post(f, "tok-auth", "{\"identityMap\": {}}", USERPWD), 200);
    json_t *done = get_ok(f, "/_qx/v1/runs/wait?count=1&timeoutMs=20000");
    json_decref(done);
    static const struct {
        const char *method, *path;
    } routes[] = {
        {"GET", "/_qx/v1/workflows"},
        {"GET", "/_qx/v1/workflows/WF_auth/capture"},
        {"POST", "/_qx/v1/workflows/WF_auth/capture"},
        {"DELETE", "/_qx/v1/workflows/WF_auth/capture"},
        {"GET", "/_qx/v1/runs"},
        {"DELETE", "/_qx/v1/runs"},
        {"GET", "/_qx/v1/runs/wait"},
        {"GET", "/_qx/v1/runs/RUN_x"},
        {"GET", "/_qx/v1/requests"},
        {"GET", "/_qx/v1/requests/REQ_x"},
        {"GET", "/_qx/v1/stats"},
        {"GET", "/_qx/v1/export"},
        {"POST", "/_qx/v1/import"},
        {"GET", "/_qx/v1/faults"},
        {"PUT", "/_qx/v1/faults"},
        {"DELETE", "/_qx/v1/faults"},
        {"GET", "/_qx/v1/health"},
        {"GET", "/metrics"},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s?bogusParam=1", routes[i].path);
        expect_400(f, routes[i].method, path, "unknown query parameter \"bogusParam\"");
    }
    /* A name of any bytes is named as printable text. */
    expect_400(f, "GET", "/_qx/v1/runs?a%00%FF%0Ab=1", "unknown query parameter \"a???b\"");
    /* Refused before acting: the run is still there. */
    json_t *runs = get_ok(f, "/_qx/v1/runs?workflowId=WF_auth&status=SUCCESS&since=0"
                             "&until=9999-01-01T00:00:00Z&identity=x&order=desc&limit=5&cursor=0");
    json_decref(runs);
    runs = get_ok(f, "/_qx/v1/runs");
    assert_int_equal(int_of(runs, "total"), 1);
    json_decref(runs);
    json_t *ok =
        get_ok(f, "/_qx/v1/stats?workflowId=WF_auth&status=SUCCESS&since=0&bucketMs=60000");
    json_decref(ok);
    ok = get_ok(f, "/_qx/v1/runs/wait?count=1&timeoutMs=1000&workflowId=WF_auth&status=SUCCESS"
                   "&since=0&until=9999-01-01T00:00:00Z");
    json_decref(ok);
    /* The page and the JSON-event endpoint take what they are given. */
    assert_int_equal(request(f, "GET", "/?from=bookmark", NULL, NULL, NULL), 200);
    assert_int_equal(post(f, "tok-auth&utm_source=x", "{}", USERPWD), 200);
}

/* With --admin-token-env and --metrics-token-env: the health check is open,
 * /metrics takes its own token as Bearer and nothing else, the admin API
 * the admin token only. */
static void test_health_is_open_and_metrics_needs_its_own_token(void **state)
{
    fixture *f = *state;
    assert_int_equal(request(f, "GET", "/_qx/v1/health", NULL, NULL, NULL), 200);
    static const char *const none[] = {NULL};
    static const char *const metrics_bearer[] = {"Authorization: Bearer " METRICS_TOKEN, NULL};
    static const char *const admin_bearer[] = {"Authorization: Bearer " ADMIN_TOKEN, NULL};
    static const char *const metrics_header[] = {"X-QX-ADMIN-TOKEN: " METRICS_TOKEN, NULL};
    static const char *const admin_header[] = {"X-QX-ADMIN-TOKEN: " ADMIN_TOKEN, NULL};
    assert_int_equal(request(f, "GET", "/metrics", NULL, none, NULL), 401);
    assert_int_equal(request(f, "GET", "/metrics", NULL, admin_bearer, NULL), 401);
    assert_int_equal(request(f, "GET", "/metrics", NULL, admin_header, NULL), 401);
    assert_int_equal(request(f, "GET", "/metrics", NULL, metrics_header, NULL), 401);
    assert_int_equal(request(f, "GET", "/metrics", NULL, metrics_bearer, NULL), 200);
    qxt_response r;
    assert_int_equal(qxt_http("GET", qxt_url(f, "/metrics"), NULL, 0, NULL, NULL, &r), 0);
    char challenge[128];
    assert_true(qxt_response_header(&r, "WWW-Authenticate", challenge, sizeof challenge));
    assert_string_equal(challenge, "Bearer realm=\"qx-mock metrics\"");
    qxt_response_free(&r);
    assert_int_equal(request(f, "GET", "/_qx/v1/runs", NULL, metrics_bearer, NULL), 401);
    assert_int_equal(request(f, "GET", "/_qx/v1/runs", NULL, admin_bearer, NULL), 200);
}

/* With an admin token and no metrics token, /metrics and the health check
 * are open. */
static void test_metrics_is_open_without_a_metrics_token(void **state)
{
    fixture *f = *state;
    assert_int_equal(request(f, "GET", "/metrics", NULL, NULL, NULL), 200);
    assert_int_equal(request(f, "GET", "/_qx/v1/health", NULL, NULL, NULL), 200);
    assert_int_equal(request(f, "GET", "/_qx/v1/runs", NULL, NULL, NULL), 401);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_the_journal_is_filtered_ordered_and_counted, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_one_journal_entry_shows_its_request, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_runs_are_found_by_identity, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_every_admin_route_refuses_an_unknown_query_parameter,
                                        setup, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_health_is_open_and_metrics_needs_its_own_token,
                                        setup_tokens, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_is_open_without_a_metrics_token,
                                        setup_admin_token, qxt_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
