/*
 * test_mock.c — qx-mock end to end: the real binary on a loopback port,
 * driven over HTTP with libcurl. Every documented status code, the runs and
 * journal entries they leave, long-polls, export/import and restarts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"
#include "qx_buf.h"
#include "qx_clock.h"

#define TOKEN_OK "QX-TEST-TOKEN-1"
#define USER "api-user@example.com"
#define USERPWD USER ":" TOKEN_OK
#define WF_TOKEN "6c1b1e2a-2f7e-4d8e-9a51-0f1d2c3b4a50"

static const char config_text[] =
    "{\"users\": [{\"username\": \"" USER "\", \"apiToken\": \"" TOKEN_OK "\"},"
    "             {\"username\": \"other@example.com\", \"apiToken\": \"QX-OTHER-TOKEN\"}],"
    " \"workflows\": ["
    "  {\"id\": \"WF_csat\", \"name\": \"CSAT after purchase\", \"urlTokenId\": \"" WF_TOKEN "\","
    "   \"eventData\": {\"email\": \"$.identityMap.Email[0].id\", \"firstName\": "
    "\"$.person.name.firstName\"},"
    "   \"conditions\": [{\"field\": \"email\", \"op\": \"exists\"}],"
    "   \"tasks\": [{\"type\": \"xm_directory_contact\", \"inputs\": {\"email\": "
    "\"~{aedj://email}\", \"firstName\": \"~{aedj://firstName}\"}},"
    "               {\"type\": \"email_distribution\", \"inputs\": {\"email\": "
    "\"~{aedj://email}\"}, \"surveyId\": \"SV_abc\"}]},"
    "  {\"id\": \"WF_slow\", \"urlTokenId\": \"tok-slow\", \"delayMs\": [400, 400]},"
    "  {\"id\": \"WF_off\", \"urlTokenId\": \"tok-off\", \"enabled\": false},"
    "  {\"id\": \"WF_open\", \"urlTokenId\": \"tok-open\", \"authRequired\": false}"
    " ]}";

static const char seed_payload[] =
    "{\"person\": {\"name\": {\"firstName\": \"Dave\"}},"
    " \"mobilePhone\": {\"number\": \"0123456789\"},"
    " \"identityMap\": {\"Email\": [{\"id\": \"dave@example.com\"}]},"
    " \"segmentMembership\": {\"ups\": {\"046456e3b-18e1-48a6-9bda-d68547861283\":"
    " {\"lastQualificationTime\": \"2023-09-05T10:43:55.602687Z\", \"status\": \"realized\"}}}}";

typedef qxt_fixture fixture;

static const char *const json_ct[] = {"Content-Type: application/json", NULL};

static char *trigger_url(const fixture *f, const char *token)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/inbound-event/v1/events/json/triggers?urlTokenId=%s",
             f->mock.base_url, token);
    return buf;
}

static int setup(void **state)
{
    return qxt_fixture_start(state, config_text, NULL);
}

/* POSTs body to the workflow token; returns the status, and the parsed body
 * in *out when out is non-NULL. */
static long post(const fixture *f, const char *token, const char *body, const char *const *hdrs,
                 const char *userpwd, json_t **out)
{
    qxt_response r;
    assert_int_equal(qxt_http("POST", trigger_url(f, token), body, strlen(body),
                              hdrs != NULL ? hdrs : json_ct, userpwd, &r),
                     0);
    long st = r.status;
    if (out != NULL)
        *out = qxt_response_json(&r);
    qxt_response_free(&r);
    return st;
}

static json_t *get_json(const fixture *f, const char *path, long expect_status)
{
    qxt_response r;
    assert_int_equal(qxt_http("GET", qxt_url(f, path), NULL, 0, NULL, NULL, &r), 0);
    if (r.status != expect_status)
        fprintf(stderr, "GET %s: %ld %s\n", path, r.status, r.body);
    assert_int_equal(r.status, expect_status);
    json_t *j = qxt_response_json(&r);
    assert_non_null(j);
    qxt_response_free(&r);
    return j;
}

static const char *error_message(json_t *env)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(env, "meta"), "error"), "errorMessage"));
}

static void test_accepted_request_records_successful_run(void **state)
{
    fixture *f = *state;
    json_t *ans = NULL;
    assert_int_equal(post(f, WF_TOKEN, seed_payload, NULL, USERPWD, &ans), 200);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ans, "meta"), "httpStatus")), "200 - OK");
    const char *run_id =
        json_string_value(json_object_get(json_object_get(ans, "result"), "runId"));
    assert_non_null(run_id);
    char path[256];
    snprintf(path, sizeof path, "/_qx/v1/runs/%s", run_id);
    json_t *run = get_json(f, path, 200);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "SUCCESS");
    assert_string_equal(json_string_value(json_object_get(run, "workflowId")), "WF_csat");
    json_t *ed = json_object_get(run, "eventData");
    assert_string_equal(json_string_value(json_object_get(ed, "email")), "dave@example.com");
    assert_string_equal(json_string_value(json_object_get(ed, "firstName")), "Dave");
    assert_true(json_is_true(json_object_get(run, "conditionsMet")));
    assert_int_equal(json_array_size(json_object_get(run, "tasks")), 2);
    assert_non_null(json_object_get(run, "finishedAt"));
    assert_true(json_is_string(json_object_get(run, "finishedAt")));
    /* The trigger payload is kept as sent. */
    json_t *sent = json_loads(seed_payload, 0, NULL);
    assert_true(json_equal(sent, json_object_get(run, "payload")));
    json_decref(sent);
    json_decref(run);
    json_decref(ans);
}

/* POSTs body to the workflow, which must start a run; returns the run as
 * the admin API shows it. */
static json_t *post_then_get_run(const fixture *f, const char *body)
{
    json_t *ans = NULL;
    assert_int_equal(post(f, WF_TOKEN, body, NULL, USERPWD, &ans), 200);
    char path[256];
    snprintf(path, sizeof path, "/_qx/v1/runs/%s",
             json_string_value(json_object_get(json_object_get(ans, "result"), "runId")));
    json_decref(ans);
    return get_json(f, path, 200);
}

/* A body as a sender may write it — spaces and newlines, its own key order,
 * a real written "1.50", nesting at the 64-level limit — is stored as the
 * same payload, its identity found by search, and the same payload sent
 * again, written differently, is marked a duplicate of it. */
static void test_payload_is_kept_as_sent_whatever_its_layout(void **state)
{
    fixture *f = *state;
    qx_buf deep = {0}, again = {0};
    /* the object, "nest"'s array and its object, then 61 arrays: 64 levels */
    for (int i = 0; i < 61; i++)
        assert_int_equal(qx_buf_add(&deep, "[ ", 2), 0);
    for (int i = 0; i < 61; i++)
        assert_int_equal(qx_buf_add(&deep, " ]", 2), 0);
    qx_buf body = {0};
    assert_int_equal(qx_buf_addf(&body,
                                 "\n{ \"zeta\" : 1.50 ,\n\t\"identityMap\" : { \"Email\" : "
                                 "[ { \"id\" : \"Ann@Example.com\" } ] } ,\r\n"
                                 "  \"nest\": [ { \"in\" : %s } ], \"s\": \"a \\\" b\" }\n",
                                 deep.data),
                     0);
    json_t *run = post_then_get_run(f, body.data);
    json_t *sent = json_loads(body.data, 0, NULL);
    assert_non_null(sent);
    json_t *payload = json_object_get(run, "payload");
    assert_true(json_equal(sent, payload));
    const char *order[] = {"zeta", "identityMap", "nest", "s"};
    size_t i = 0;
    const char *key;
    json_t *value;
    json_object_foreach(payload, key, value)
    {
        assert_true(i < 4);
        assert_string_equal(key, order[i++]);
    }
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(run, "eventData"), "email")),
        "Ann@Example.com");
    json_t *found = get_json(f, "/_qx/v1/runs?identity=ann@example", 200);
    assert_int_equal(json_integer_value(json_object_get(found, "total")), 1);
    /* the same payload, compact and in another key order */
    assert_int_equal(qx_buf_addf(&again,
                                 "{\"s\":\"a \\\" b\",\"nest\":[{\"in\":%s}],\"zeta\":1.5,"
                                 "\"identityMap\":{\"Email\":[{\"id\":\"Ann@Example.com\"}]}}",
                                 deep.data),
                     0);
    json_t *run2 = post_then_get_run(f, again.data);
    assert_string_equal(json_string_value(json_object_get(run2, "duplicateOf")),
                        json_string_value(json_object_get(run, "id")));
    json_decref(run2);
    json_decref(found);
    json_decref(sent);
    json_decref(run);
    qx_buf_free(&body);
    qx_buf_free(&again);
    qx_buf_free(&deep);
}

static void test_x_api_token_header_is_accepted(void **state)
{
    fixture *f = *state;
    const char *const hdrs[] = {"Content-Type: application/json", "X-API-TOKEN: " TOKEN_OK, NULL};
    assert_int_equal(post(f, WF_TOKEN, seed_payload, hdrs, NULL, NULL), 200);
    json_t *runs = get_json(f, "/_qx/v1/runs", 200);
    assert_int_equal(json_array_size(json_object_get(runs, "runs")), 1);
    json_decref(runs);
}

static void test_invalid_email_gives_failure_run_naming_task(void **state)
{
    fixture *f = *state;
    const char *body = "{\"identityMap\": {\"Email\": [{\"id\": \"not-an-email\"}]}}";
    assert_int_equal(post(f, WF_TOKEN, body, NULL, USERPWD, NULL), 200);
    json_t *w = get_json(f, "/_qx/v1/runs/wait?count=1&timeoutMs=5000", 200);
    json_t *run = json_array_get(json_object_get(w, "runs"), 0);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "FAILURE");
    const char *err = json_string_value(json_object_get(run, "error"));
    assert_non_null(err);
    assert_non_null(strstr(err, "xm_directory_contact"));
    assert_non_null(strstr(err, "not-an-email"));
    json_decref(w);
}

static void test_condition_not_met_is_success_without_tasks(void **state)
{
    fixture *f = *state;
    assert_int_equal(post(f, WF_TOKEN, "{\"person\": {}}", NULL, USERPWD, NULL), 200);
    assert_int_equal(post(f, WF_TOKEN, "{\"person\": {\"n\": 2}}", NULL, USERPWD, NULL), 200);
    json_t *w = get_json(f, "/_qx/v1/runs/wait?count=1&timeoutMs=5000", 200);
    /* runs holds the first count runs; count says how many there are. */
    assert_int_equal(json_array_size(json_object_get(w, "runs")), 1);
    assert_int_equal(json_integer_value(json_object_get(w, "count")), 2);
    json_t *run = json_array_get(json_object_get(w, "runs"), 0);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "SUCCESS");
    assert_true(json_is_false(json_object_get(run, "conditionsMet")));
    assert_int_equal(json_array_size(json_object_get(run, "tasks")), 0);
    json_decref(w);
}

typedef struct bad_case {
    const char *name;
    const char *token;
    const char *body; /* NULL: use body_len bytes of filler */
    size_t filler_len;
    const char *const *headers;
    const char *userpwd;
    const char *method;
    long status;
    const char *reason; /* substring of errorMessage and journal reason */
} bad_case;

static const char *const text_ct[] = {"Content-Type: text/plain", NULL};
static const char *const bearer[] = {"Content-Type: application/json", "Authorization: Bearer abc",
                                     NULL};
static const char *const garbage_auth[] = {"Content-Type: application/json",
                                           "Authorization: Basic !!!notbase64", NULL};
static const char *const wrong_xapi[] = {"Content-Type: application/json", "X-API-TOKEN: nope",
                                         NULL};

static void run_bad_case(fixture *f, const bad_case *c)
{
    char *body;
    size_t len;
    if (c->body != NULL) {
        body = strdup(c->body);
        len = strlen(body);
    } else {
        len = c->filler_len;
        body = malloc(len + 1);
        /* a valid JSON object of exactly len bytes: {"a":"xxxx..."} */
        memset(body, 'x', len);
        memcpy(body, "{\"a\":\"", 6);
        memcpy(body + len - 2, "\"}", 2);
        body[len] = '\0';
    }
    qxt_response r;
    assert_int_equal(qxt_http(c->method != NULL ? c->method : "POST", trigger_url(f, c->token),
                              body, len, c->headers != NULL ? c->headers : json_ct, c->userpwd, &r),
                     0);
    if (r.status != c->status)
        fprintf(stderr, "case %s: got %ld: %s\n", c->name, r.status, r.body);
    assert_int_equal(r.status, c->status);
    json_t *env = qxt_response_json(&r);
    assert_non_null(env);
    const char *msg = error_message(env);
    if (c->reason != NULL) {
        assert_non_null(msg);
        if (strstr(msg, c->reason) == NULL)
            fprintf(stderr, "case %s: message \"%s\" lacks \"%s\"\n", c->name, msg, c->reason);
        assert_non_null(strstr(msg, c->reason));
    }
    assert_non_null(json_object_get(json_object_get(env, "meta"), "requestId"));
    json_decref(env);
    qxt_response_free(&r);
    free(body);
}

static void test_every_refusal_has_its_status_reason_and_journal_entry(void **state)
{
    fixture *f = *state;
    const bad_case cases[] = {
        {"invalid json", WF_TOKEN, "{\"a\":", 0, NULL, USERPWD, NULL, 400, "not valid JSON"},
        {"top-level array", WF_TOKEN, "[1,2]", 0, NULL, USERPWD, NULL, 400, "not a JSON object"},
        {"invalid utf-8", WF_TOKEN, "{\"a\":\"\xff\xfe\"}", 0, NULL, USERPWD, NULL, 400,
         "not valid JSON"},
        {"too deep", WF_TOKEN,
         "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
         0, NULL, USERPWD, NULL, 400, "deeper than 64"},
        {"no credentials", WF_TOKEN, "{}", 0, NULL, NULL, NULL, 401, "missing credentials"},
        {"wrong token", WF_TOKEN, "{}", 0, NULL, USER ":wrong", NULL, 401, "wrong API token"},
        {"unknown user", WF_TOKEN, "{}", 0, NULL, "nobody@example.com:" TOKEN_OK, NULL, 401,
         "unknown username"},
        {"bearer", WF_TOKEN, "{}", 0, bearer, NULL, NULL, 401, "unsupported Authorization"},
        {"garbage basic", WF_TOKEN, "{}", 0, garbage_auth, NULL, NULL, 401, NULL},
        {"wrong x-api-token", WF_TOKEN, "{}", 0, wrong_xapi, NULL, NULL, 401, "X-API-TOKEN"},
        {"unknown token", "no-such-token", "{}", 0, NULL, USERPWD, NULL, 404, "unknown urlTokenId"},
        {"too large", WF_TOKEN, NULL, 102401, NULL, USERPWD, NULL, 413, "102400"},
        {"text/plain", WF_TOKEN, "{}", 0, text_ct, USERPWD, NULL, 415, "not JSON"},
        {"wrong method", WF_TOKEN, "{}", 0, NULL, USERPWD, "PUT", 405, "PUT"},
    };
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++)
        run_bad_case(f, &cases[i]);
    /* Exactly 100 KB is still processed. */
    bad_case ok = {"exactly 100 KB", WF_TOKEN, NULL, 102400, NULL, USERPWD, NULL, 200, NULL};
    run_bad_case(f, &ok);

    json_t *runs = get_json(f, "/_qx/v1/runs", 200);
    assert_int_equal(json_array_size(json_object_get(runs, "runs")), 1);
    json_decref(runs);
    json_t *j = get_json(f, "/_qx/v1/requests?limit=1000", 200);
    json_t *list = json_object_get(j, "requests");
    assert_int_equal(json_array_size(list), n);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(list, i);
        assert_int_equal(json_integer_value(json_object_get(e, "httpStatus")), cases[i].status);
        if (cases[i].reason != NULL)
            assert_non_null(
                strstr(json_string_value(json_object_get(e, "reason")), cases[i].reason));
    }
    /* No secret ever reaches the journal. */
    char *dump = json_dumps(j, 0);
    assert_null(strstr(dump, TOKEN_OK));
    free(dump);
    json_decref(j);

    /* And the emulator still serves a good request correctly. */
    assert_int_equal(post(f, WF_TOKEN, seed_payload, NULL, USERPWD, NULL), 200);
}

static void test_disabled_workflow_accepts_and_starts_no_run(void **state)
{
    fixture *f = *state;
    json_t *ans = NULL;
    assert_int_equal(post(f, "tok-off", "{}", NULL, USERPWD, &ans), 200);
    json_decref(ans);
    json_t *runs = get_json(f, "/_qx/v1/runs", 200);
    assert_int_equal(json_array_size(json_object_get(runs, "runs")), 0);
    json_decref(runs);
    json_t *j = get_json(f, "/_qx/v1/requests", 200);
    json_t *e = json_array_get(json_object_get(j, "requests"), 0);
    assert_string_equal(json_string_value(json_object_get(e, "workflowId")), "WF_off");
    assert_non_null(strstr(json_string_value(json_object_get(e, "reason")), "disabled"));
    json_decref(j);
}

static void test_open_workflow_needs_no_credentials(void **state)
{
    fixture *f = *state;
    assert_int_equal(post(f, "tok-open", "{}", NULL, NULL, NULL), 200);
}

static void test_older_url_form_selects_by_trigger_id(void **state)
{
    fixture *f = *state;
    char u[512];
    snprintf(
        u, sizeof u,
        "%s/inbound-event/v1/events/JSON/triggers?contextId=x&userId=UR_1&brandId=b&triggerId=%s",
        f->mock.base_url, WF_TOKEN);
    qxt_response r;
    assert_int_equal(qxt_http("POST", u, seed_payload, strlen(seed_payload), json_ct, USERPWD, &r),
                     0);
    assert_int_equal(r.status, 200);
    qxt_response_free(&r);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* WF_slow's runs take 400 ms: RUNNING until then, then SUCCESS, finished
 * exactly 400 ms after they were received. */
static void test_delayed_run_is_running_then_finishes_and_wait_returns(void **state)
{
    fixture *f = *state;
    int64_t t0 = mono_ms();
    assert_int_equal(post(f, "tok-slow", "{}", NULL, USERPWD, NULL), 200);
    json_t *j = get_json(f, "/_qx/v1/runs?status=RUNNING", 200);
    /* Within its delay the run is RUNNING; a machine slow enough (valgrind
     * under load) to look only after the delay cannot see it so. */
    if (mono_ms() - t0 < 400)
        assert_int_equal(json_array_size(json_object_get(j, "runs")), 1);
    json_decref(j);
    j = get_json(f, "/_qx/v1/runs/wait?count=1&timeoutMs=60000&workflowId=WF_slow", 200);
    json_t *run = json_array_get(json_object_get(j, "runs"), 0);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "SUCCESS");
    int64_t received = 0, finished = 0;
    assert_int_equal(
        qx_parse_time(json_string_value(json_object_get(run, "receivedAt")), &received), 0);
    assert_int_equal(
        qx_parse_time(json_string_value(json_object_get(run, "finishedAt")), &finished), 0);
    assert_int_equal(finished - received, 400);
    json_decref(j);
}

static void test_wait_times_out_with_408(void **state)
{
    fixture *f = *state;
    json_t *j = get_json(f, "/_qx/v1/runs/wait?count=3&timeoutMs=200", 408);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 0);
    json_decref(j);
}

static void test_admin_rejects_bad_parameters(void **state)
{
    fixture *f = *state;
    const char *paths[] = {"/_qx/v1/runs?limit=abc",      "/_qx/v1/runs?limit=0",
                           "/_qx/v1/runs?status=DONE",    "/_qx/v1/runs?since=yesterday",
                           "/_qx/v1/runs?cursor=-1",      "/_qx/v1/runs/wait?count=x",
                           "/_qx/v1/requests?limit=99999"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        json_t *j = get_json(f, paths[i], 400);
        assert_non_null(error_message(j));
        json_decref(j);
    }
    json_t *j = get_json(f, "/_qx/v1/runs/RUN_nope", 404);
    json_decref(j);
    j = get_json(f, "/_qx/v1/no-such-thing", 404);
    json_decref(j);
}

static void test_pagination_walks_every_run_once(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 7; i++)
        assert_int_equal(post(f, WF_TOKEN, seed_payload, NULL, USERPWD, NULL), 200);
    char path[256] = "/_qx/v1/runs?limit=3";
    size_t seen = 0;
    for (int page = 0; page < 10; page++) {
        json_t *j = get_json(f, path, 200);
        seen += json_array_size(json_object_get(j, "runs"));
        const char *next = json_string_value(json_object_get(j, "nextCursor"));
        if (next == NULL) {
            json_decref(j);
            break;
        }
        snprintf(path, sizeof path, "/_qx/v1/runs?limit=3&cursor=%s", next);
        json_decref(j);
    }
    assert_int_equal(seen, 7);
}

static char *export_text(fixture *f)
{
    qxt_response r;
    assert_int_equal(qxt_http("GET", qxt_url(f, "/_qx/v1/export"), NULL, 0, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    char *t = strdup(r.body);
    qxt_response_free(&r);
    return t;
}

/* The history's media type: anything else is refused 415 (README, Security). */
static const char *const ndjson_ct[] = {"Content-Type: application/x-ndjson", NULL};

static void test_export_reset_import_round_trip(void **state)
{
    fixture *f = *state;
    assert_int_equal(post(f, WF_TOKEN, seed_payload, NULL, USERPWD, NULL), 200);
    assert_int_equal(post(f, WF_TOKEN, "{\"identityMap\": {\"Email\": [{\"id\": \"bad\"}]}}", NULL,
                          USERPWD, NULL),
                     200);
    char *before = export_text(f);
    assert_non_null(strstr(before, "\"FAILURE\""));
    assert_null(strstr(before, TOKEN_OK));
    qxt_response r;
    assert_int_equal(qxt_http("DELETE", qxt_url(f, "/_qx/v1/runs"), NULL, 0, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    qxt_response_free(&r);
    json_t *j = get_json(f, "/_qx/v1/runs", 200);
    assert_int_equal(json_array_size(json_object_get(j, "runs")), 0);
    json_decref(j);
    assert_int_equal(
        qxt_http("POST", qxt_url(f, "/_qx/v1/import"), before, strlen(before), ndjson_ct, NULL, &r),
        0);
    assert_int_equal(r.status, 200);
    qxt_response_free(&r);
    char *after = export_text(f);
    assert_string_equal(before, after);
    /* Importing the same runs again is refused, naming the line. */
    assert_int_equal(
        qxt_http("POST", qxt_url(f, "/_qx/v1/import"), before, strlen(before), ndjson_ct, NULL, &r),
        0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "line 1"));
    qxt_response_free(&r);
    free(before);
    free(after);
}

static void test_metrics_count_requests_and_runs(void **state)
{
    fixture *f = *state;
    assert_int_equal(post(f, WF_TOKEN, seed_payload, NULL, USERPWD, NULL), 200);
    assert_int_equal(post(f, "nope", "{}", NULL, USERPWD, NULL), 404);
    qxt_response r;
    assert_int_equal(qxt_http("GET", qxt_url(f, "/metrics"), NULL, 0, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.body, "qxmock_requests_total{endpoint=\"json_event\",status=\"200\"} 1"));
    assert_non_null(
        strstr(r.body, "qxmock_requests_total{endpoint=\"json_event\",status=\"404\"} 1"));
    assert_non_null(strstr(r.body, "qxmock_runs{status=\"SUCCESS\"} 1"));
    qxt_response_free(&r);
}

static void test_history_survives_restart_with_same_db(void **state)
{
    fixture *f = *state;
    qxt_mock_stop(&f->mock, SIGTERM);
    char db[600];
    snprintf(db, sizeof db, "%s/history.db", f->dir);
    const char *const args[] = {"--db", db, NULL};
    assert_int_equal(qxt_mock_start(&f->mock, f->config, args), 0);
    assert_int_equal(post(f, WF_TOKEN, seed_payload, NULL, USERPWD, NULL), 200);
    assert_int_equal(post(f, "tok-slow", "{}", NULL, USERPWD, NULL), 200);
    /* A graceful stop finishes the run still in its delay. */
    int st = qxt_mock_stop(&f->mock, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(qxt_mock_start(&f->mock, f->config, args), 0);
    json_t *j = get_json(f, "/_qx/v1/runs", 200);
    json_t *runs = json_object_get(j, "runs");
    assert_int_equal(json_array_size(runs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 1), "status")),
                        "SUCCESS");
    json_decref(j);
}

static void test_history_option_loads_an_export(void **state)
{
    fixture *f = *state;
    assert_int_equal(post(f, WF_TOKEN, seed_payload, NULL, USERPWD, NULL), 200);
    char *text = export_text(f);
    char *path = qxt_write_file(f->dir, "export.ndjson", text);
    qxt_mock_stop(&f->mock, SIGTERM);
    const char *const args[] = {"--history", path, NULL};
    assert_int_equal(qxt_mock_start(&f->mock, f->config, args), 0);
    char *again = export_text(f);
    assert_string_equal(text, again);
    free(again);
    free(text);
    free(path);
}

/* A config and a history saved with a UTF-8 byte order mark load. */
static void test_files_with_a_byte_order_mark_load(void **state)
{
    fixture *f = *state;
    assert_int_equal(post(f, WF_TOKEN, seed_payload, NULL, USERPWD, NULL), 200);
    char *text = export_text(f);
    char *config = qxt_read_file(f->config);
    assert_non_null(config);
    char *bom_text = malloc(strlen(text) + 4), *bom_config = malloc(strlen(config) + 4);
    assert_non_null(bom_text);
    assert_non_null(bom_config);
    sprintf(bom_text, "\xEF\xBB\xBF%s", text);
    sprintf(bom_config, "\xEF\xBB\xBF%s", config);
    char *history = qxt_write_file(f->dir, "bom-export.ndjson", bom_text);
    char *config_path = qxt_write_file(f->dir, "bom-config.json", bom_config);
    qxt_mock_stop(&f->mock, SIGTERM);
    const char *const args[] = {"--history", history, NULL};
    assert_int_equal(qxt_mock_start(&f->mock, config_path, args), 0);
    char *again = export_text(f);
    assert_string_equal(text, again);
    free(again);
    free(text);
    free(config);
    free(bom_text);
    free(bom_config);
    free(history);
    free(config_path);
}

static void test_rate_limit_answers_429_with_retry_after(void **state)
{
    (void)state;
    const char *cfg = "{\"users\": [{\"username\": \"" USER "\", \"apiToken\": \"" TOKEN_OK "\"}],"
                      " \"rateLimitPerMinute\": 3,"
                      " \"workflows\": [{\"id\": \"WF\", \"urlTokenId\": \"t\"}]}";
    void *st2 = NULL;
    assert_int_equal(qxt_fixture_start(&st2, cfg, NULL), 0);
    fixture *g = st2;
    for (int i = 0; i < 3; i++)
        assert_int_equal(post(g, "t", "{}", NULL, USERPWD, NULL), 200);
    qxt_response r;
    assert_int_equal(qxt_http("POST", trigger_url(g, "t"), "{}", 2, json_ct, USERPWD, &r), 0);
    assert_int_equal(r.status, 429);
    char ra[32];
    assert_true(qxt_response_header(&r, "Retry-After", ra, sizeof ra));
    long secs = strtol(ra, NULL, 10);
    assert_true(secs >= 1 && secs <= 60);
    qxt_response_free(&r);
    qxt_fixture_teardown(&st2);
}

static void test_bad_config_is_refused_with_exit_2(void **state)
{
    fixture *f = *state;
    char *bad =
        qxt_write_file(f->dir, "bad.json", "{\"users\": [], \"workflows\": [], \"extra\": 1}");
    const char *const argv[] = {QX_BIN_DIR "/qx-mock", "--config", bad, NULL};
    char *err = NULL;
    assert_int_equal(qxt_run(argv, NULL, NULL, NULL, &err, 10000), 2);
    assert_non_null(strstr(err, "extra"));
    free(err);
    free(bad);
    const char *const help[] = {QX_BIN_DIR "/qx-mock", "--help", NULL};
    char *out = NULL;
    assert_int_equal(qxt_run(help, NULL, NULL, &out, NULL, 10000), 0);
    assert_non_null(strstr(out, "--config"));
    free(out);
}

/* One request made on a thread of its own, so that qx-mock can be stopped
 * while it is in flight. */
typedef struct bg_call {
    const char *method, *url, *body, *userpwd;
    const char *const *headers;
    qxt_response r;
    int rc;
} bg_call;

static void *bg_request(void *arg)
{
    bg_call *c = arg;
    c->rc = qxt_http(c->method, c->url, c->body, c->body ? strlen(c->body) : 0, c->headers,
                     c->userpwd, &c->r);
    return NULL;
}

static bool request_read(const qxt_tcp_view *v, const void *arg)
{
    (void)arg;
    return v->established >= 1 && v->backlog == 0 && v->unread == 0;
}

/* Starts c, stops qx-mock with SIGTERM once the kernel shows the request
 * read by the server (a known event), and asserts a clean exit; c holds
 * the answer after. */
static void stop_with_request_in_flight(fixture *f, bg_call *c)
{
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, bg_request, c), 0);
    qxt_tcp_view v;
    assert_true(qxt_wait_tcp(f->mock.port, request_read, NULL, 10000, &v));
    int status = qxt_mock_stop(&f->mock, SIGTERM);
    pthread_join(t, NULL);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(c->rc, 0);
}

/* A long-poll in progress when qx-mock is stopped is answered (408 with
 * what there is) before the process exits, and the exit is clean. */
static void test_stop_answers_a_pending_long_poll(void **state)
{
    fixture *f = *state;
    bg_call c = {.method = "GET", .url = qxt_url(f, "/_qx/v1/runs/wait?count=5&timeoutMs=60000")};
    stop_with_request_in_flight(f, &c);
    assert_int_equal(c.r.status, 408);
    json_t *j = qxt_response_json(&c.r);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 0);
    json_decref(j);
    qxt_response_free(&c.r);
}

/* A request still in its injected latency when qx-mock is stopped gets its
 * answer, and its run is kept. */
static void test_stop_answers_a_request_in_its_latency(void **state)
{
    fixture *f = *state;
    qxt_response r;
    assert_int_equal(qxt_http("PUT", qxt_url(f, "/_qx/v1/faults"), "{\"slowResponseMs\": 700}", 23,
                              json_ct, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    qxt_response_free(&r);
    bg_call c = {.method = "POST",
                 .url = trigger_url(f, WF_TOKEN),
                 .body = seed_payload,
                 .headers = json_ct,
                 .userpwd = USERPWD};
    stop_with_request_in_flight(f, &c);
    assert_int_equal(c.r.status, 200);
    qxt_response_free(&c.r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_payload_is_kept_as_sent_whatever_its_layout, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_accepted_request_records_successful_run, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_x_api_token_header_is_accepted, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_email_gives_failure_run_naming_task, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_condition_not_met_is_success_without_tasks, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_every_refusal_has_its_status_reason_and_journal_entry,
                                        setup, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_disabled_workflow_accepts_and_starts_no_run, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_open_workflow_needs_no_credentials, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_older_url_form_selects_by_trigger_id, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_delayed_run_is_running_then_finishes_and_wait_returns,
                                        setup, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_wait_times_out_with_408, setup, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_stop_answers_a_pending_long_poll, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_stop_answers_a_request_in_its_latency, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_admin_rejects_bad_parameters, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_pagination_walks_every_run_once, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_export_reset_import_round_trip, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_count_requests_and_runs, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_history_survives_restart_with_same_db, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_files_with_a_byte_order_mark_load, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_history_option_loads_an_export, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test(test_rate_limit_answers_429_with_retry_after),
        cmocka_unit_test_setup_teardown(test_bad_config_is_refused_with_exit_2, setup,
                                        qxt_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
