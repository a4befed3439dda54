/*
 * test_mock_capture.c — capture event end to end: the real qx-mock on a loopback
 * port, driven over HTTP (POST/GET/DELETE /_qx/v1/workflows/{id}/capture,
 * the JSON-event endpoint, the runs and the journal), and the
 * `qx-mock capture` command (its printed lines, its eventData block, its
 * exit status). Every wait is on an answer, a printed line or the child's
 * exit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define USERPWD "api-user@example.com:QX-TEST-TOKEN-1"
#define CAPTURE "/_qx/v1/workflows/WF_csat/capture"

static const char config_text[] =
    "{\"users\": [{\"username\": \"api-user@example.com\", \"apiToken\": \"QX-TEST-TOKEN-1\"}],"
    " \"workflows\": ["
    "  {\"id\": \"WF_csat\", \"name\": \"CSAT\", \"urlTokenId\": \"tok-csat\","
    "   \"eventData\": {\"email\": \"$.identityMap.Email[0].id\"}},"
    "  {\"id\": \"WF_off\", \"urlTokenId\": \"tok-off\", \"enabled\": false}"
    " ]}";

static const char sample[] = "{\"person\": {\"name\": {\"first name\": \"Dave\"}},"
                             " \"identityMap\": {\"Email\": [{\"id\": \"dave@example.com\"}],"
                             " \"ECID\": [{\"id\": \"123\"}]}, \"tags\": [\"a\", 2, true, null]}";

static const char *const json_ct[] = {"Content-Type: application/json", NULL};

typedef qxt_fixture fixture;

static int setup(void **state)
{
    return qxt_fixture_start(state, config_text, NULL);
}

/* One request; the status, and the parsed body in *out when out is set. */
static long call(const fixture *f, const char *method, const char *path, const char *body,
                 const char *userpwd, json_t **out)
{
    qxt_response r;
    assert_int_equal(qxt_http(method, qxt_url(f, path), body, body != NULL ? strlen(body) : 0,
                              body != NULL ? json_ct : NULL, userpwd, &r),
                     0);
    long st = r.status;
    if (out != NULL)
        *out = qxt_response_json(&r);
    qxt_response_free(&r);
    return st;
}

static long send_event(const fixture *f, const char *token, const char *body, json_t **out)
{
    char path[256];
    snprintf(path, sizeof path, "/inbound-event/v1/events/json/triggers?urlTokenId=%s", token);
    return call(f, "POST", path, body, USERPWD, out);
}

static json_t *get(const fixture *f, const char *path)
{
    json_t *j = NULL;
    assert_int_equal(call(f, "GET", path, NULL, NULL, &j), 200);
    assert_non_null(j);
    return j;
}

static const char *error_message(json_t *env)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(env, "meta"), "error"), "errorMessage"));
}

static void arm(const fixture *f, const char *path, const char *body)
{
    json_t *st = NULL;
    assert_int_equal(call(f, "POST", path, body, NULL, &st), 200);
    assert_true(json_is_true(json_object_get(st, "armed")));
    assert_true(json_is_string(json_object_get(st, "expiresAt")));
    json_decref(st);
}

static bool is_armed(const fixture *f, const char *path)
{
    json_t *st = get(f, path);
    bool armed = json_is_true(json_object_get(st, "armed"));
    json_decref(st);
    return armed;
}

/* The newest journal entry. */
static json_t *last_request(const fixture *f)
{
    json_t *j = get(f, "/_qx/v1/requests?limit=1000");
    json_t *list = json_object_get(j, "requests");
    json_t *last = json_incref(json_array_get(list, json_array_size(list) - 1));
    json_decref(j);
    return last;
}

static json_int_t run_total(const fixture *f)
{
    json_t *j = get(f, "/_qx/v1/runs");
    json_int_t n = json_integer_value(json_object_get(j, "total"));
    json_decref(j);
    return n;
}

static void test_armed_workflow_captures_one_sample_and_starts_no_run(void **state)
{
    fixture *f = *state;
    arm(f, CAPTURE, NULL);
    json_t *ans = NULL;
    assert_int_equal(send_event(f, "tok-csat", sample, &ans), 200);
    json_t *result = json_object_get(ans, "result");
    assert_true(json_is_true(json_object_get(result, "captured")));
    assert_string_equal(json_string_value(json_object_get(result, "workflowId")), "WF_csat");
    assert_null(json_object_get(result, "runId"));
    json_decref(ans);

    json_t *entry = last_request(f);
    assert_string_equal(json_string_value(json_object_get(entry, "reason")), "captured as sample");
    assert_int_equal(json_integer_value(json_object_get(entry, "httpStatus")), 200);
    assert_string_equal(json_string_value(json_object_get(entry, "workflowId")), "WF_csat");
    json_decref(entry);

    /* capture disarmed: the next request is an ordinary run, the only one */
    assert_int_equal(send_event(f, "tok-csat", sample, &ans), 200);
    assert_non_null(json_object_get(json_object_get(ans, "result"), "runId"));
    json_decref(ans);
    assert_int_equal(run_total(f), 1);

    json_t *st = get(f, CAPTURE);
    assert_true(json_is_false(json_object_get(st, "armed")));
    assert_true(json_is_null(json_object_get(st, "expiresAt")));
    json_t *want = json_loads(sample, 0, NULL);
    assert_true(json_equal(json_object_get(st, "sample"), want));
    json_decref(want);
    json_t *fields = json_object_get(st, "fields");
    const char *paths[] = {"$.person.name['first name']",
                           "$.identityMap.Email[0].id",
                           "$.identityMap.ECID[0].id",
                           "$.tags[0]",
                           "$.tags[1]",
                           "$.tags[2]",
                           "$.tags[3]"};
    const char *types[] = {"string", "string", "string", "string", "number", "boolean", "null"};
    assert_int_equal(json_array_size(fields), 7);
    for (size_t i = 0; i < 7; i++) {
        json_t *fi = json_array_get(fields, i);
        assert_string_equal(json_string_value(json_object_get(fi, "path")), paths[i]);
        assert_string_equal(json_string_value(json_object_get(fi, "type")), types[i]);
    }
    assert_string_equal(json_string_value(json_object_get(json_array_get(fields, 1), "value")),
                        "dave@example.com");
    json_decref(st);
}

static void test_capture_comes_after_auth_and_body_checks(void **state)
{
    fixture *f = *state;
    arm(f, CAPTURE, "{\"timeoutMs\": 600000}");
    json_t *ans = NULL;
    char path[128];
    snprintf(path, sizeof path, "/inbound-event/v1/events/json/triggers?urlTokenId=tok-csat");
    assert_int_equal(call(f, "POST", path, sample, NULL, NULL), 401);
    assert_int_equal(send_event(f, "tok-csat", "{not json", NULL), 400);
    assert_int_equal(send_event(f, "tok-csat", "[1, 2]", NULL), 400);
    assert_true(is_armed(f, CAPTURE));
    assert_int_equal(send_event(f, "tok-csat", "{\"a\": 1}", &ans), 200);
    assert_true(json_is_true(json_object_get(json_object_get(ans, "result"), "captured")));
    json_decref(ans);
    assert_false(is_armed(f, CAPTURE));
}

static void test_capture_comes_before_faults_and_disabled_workflows(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        call(f, "PUT", "/_qx/v1/faults", "{\"errorRate\": 1.0, \"errorStatus\": 503}", NULL, NULL),
        200);
    assert_int_equal(send_event(f, "tok-csat", sample, NULL), 503);
    arm(f, CAPTURE, NULL);
    json_t *ans = NULL;
    assert_int_equal(send_event(f, "tok-csat", sample, &ans), 200);
    assert_true(json_is_true(json_object_get(json_object_get(ans, "result"), "captured")));
    json_decref(ans);

    arm(f, "/_qx/v1/workflows/WF_off/capture", NULL);
    assert_int_equal(send_event(f, "tok-off", "{\"off\": true}", &ans), 200);
    assert_true(json_is_true(json_object_get(json_object_get(ans, "result"), "captured")));
    json_decref(ans);
    json_t *st = get(f, "/_qx/v1/workflows/WF_off/capture");
    assert_true(json_is_true(json_object_get(json_object_get(st, "sample"), "off")));
    json_decref(st);
    assert_int_equal(run_total(f), 0);
}

static void test_armed_capture_expires_after_its_timeout(void **state)
{
    fixture *f = *state;
    arm(f, CAPTURE, "{\"timeoutMs\": 50}");
    /* the expiry is the event waited for: asked until it shows, within 10 s */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool armed = true;
    do {
        armed = is_armed(f, CAPTURE);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (armed && t.tv_sec - t0.tv_sec < 10);
    assert_false(armed);
    json_t *ans = NULL;
    assert_int_equal(send_event(f, "tok-csat", sample, &ans), 200);
    assert_non_null(json_object_get(json_object_get(ans, "result"), "runId"));
    json_decref(ans);
    json_t *st = get(f, CAPTURE);
    assert_true(json_is_null(json_object_get(st, "sample")));
    assert_int_equal(json_array_size(json_object_get(st, "fields")), 0);
    json_decref(st);
}

static void test_delete_disarms_and_keeps_the_sample(void **state)
{
    fixture *f = *state;
    arm(f, CAPTURE, NULL);
    assert_int_equal(send_event(f, "tok-csat", "{\"first\": 1}", NULL), 200);
    arm(f, CAPTURE, NULL);
    json_t *st = NULL;
    assert_int_equal(call(f, "DELETE", CAPTURE, NULL, NULL, &st), 200);
    assert_true(json_is_false(json_object_get(st, "armed")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "sample"), "first")),
                     1);
    json_decref(st);
    json_t *ans = NULL;
    assert_int_equal(send_event(f, "tok-csat", "{\"second\": 2}", &ans), 200);
    assert_non_null(json_object_get(json_object_get(ans, "result"), "runId"));
    json_decref(ans);
    assert_int_equal(run_total(f), 1);
}

static void expect_400(const fixture *f, const char *body, const char *names)
{
    json_t *ans = NULL;
    assert_int_equal(call(f, "POST", CAPTURE, body, NULL, &ans), 400);
    const char *msg = error_message(ans);
    if (msg == NULL || strstr(msg, names) == NULL)
        fail_msg("body %s: message \"%s\" does not name %s", body, msg, names);
    json_decref(ans);
}

static void test_capture_routes_refuse_unknown_workflows_and_bad_bodies(void **state)
{
    fixture *f = *state;
    const char *nope = "/_qx/v1/workflows/WF_nope/capture";
    assert_int_equal(call(f, "GET", nope, NULL, NULL, NULL), 404);
    assert_int_equal(call(f, "POST", nope, NULL, NULL, NULL), 404);
    assert_int_equal(call(f, "DELETE", nope, NULL, NULL, NULL), 404);
    assert_int_equal(call(f, "GET", "/_qx/v1/workflows/WF_csat/capture/x", NULL, NULL, NULL), 404);
    expect_400(f, "{\"timeout\": 5}", "\"timeout\"");
    expect_400(f, "{\"timeoutMs\": \"5\"}", "timeoutMs");
    expect_400(f, "{\"timeoutMs\": 0}", "timeoutMs");
    expect_400(f, "{\"timeoutMs\": 3600001}", "timeoutMs");
    expect_400(f, "{\"timeoutMs\": 1.5}", "timeoutMs");
    expect_400(f, "[1]", "object");
    expect_400(f, "{nope", "JSON");
    assert_false(is_armed(f, CAPTURE));
    qxt_response r;
    assert_int_equal(qxt_http("PUT", qxt_url(f, CAPTURE), "{}", 2, json_ct, NULL, &r), 0);
    assert_int_equal(r.status, 405);
    char allow[64];
    assert_true(qxt_response_header(&r, "Allow", allow, sizeof allow));
    assert_string_equal(allow, "GET, POST, DELETE");
    qxt_response_free(&r);
}

/* ---- qx-mock capture ----------------------------------------------------- */

typedef struct child {
    pid_t pid;
    int out; /* its stdout */
    char text[8192];
    size_t len;
} child;

static void start_capture(child *c, const char *config, const char *workflow, const char *timeout)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    memset(c, 0, sizeof *c);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        close(p[1]);
        execl(QX_BIN_DIR "/qx-mock", "qx-mock", "capture", "--config", config, "--workflow",
              workflow, "--listen", "127.0.0.1:0", "--timeout-ms", timeout, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    c->out = p[0];
}

/* Reads the child's stdout until it holds want (or, want NULL, until its
 * end), at most 10 s. */
static bool read_until(child *c, const char *want)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (want != NULL && strstr(c->text, want) != NULL)
            return true;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left = 60000 - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd pfd = {.fd = c->out, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return false;
        ssize_t n = read(c->out, c->text + c->len, sizeof c->text - 1 - c->len);
        if (n <= 0)
            return want == NULL;
        c->len += (size_t)n;
        c->text[c->len] = '\0';
    }
}

static void test_capture_command_prints_event_data_and_exits_0(void **state)
{
    fixture *f = *state;
    child c;
    start_capture(&c, f->config, "WF_csat", "60000");
    assert_true(read_until(&c, "\n"));
    assert_non_null(strstr(c.text, "qx-mock listening on http://127.0.0.1:"));
    assert_true(read_until(&c, "tok-csat\n"));
    const char *at = strstr(c.text, "send one sample to: ");
    assert_non_null(at);
    char sample_url[512];
    assert_int_equal(sscanf(at, "send one sample to: %511s", sample_url), 1);
    assert_non_null(strstr(sample_url, "/inbound-event/v1/events/json/triggers?urlTokenId="));

    qxt_response r;
    assert_int_equal(qxt_http("POST", sample_url, sample, strlen(sample), json_ct, USERPWD, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *ans = qxt_response_json(&r);
    assert_true(json_is_true(json_object_get(json_object_get(ans, "result"), "captured")));
    json_decref(ans);
    qxt_response_free(&r);

    assert_true(read_until(&c, NULL));
    close(c.out);
    assert_int_equal(qxt_wait_exit(c.pid, 60000), 0);
    const char *block = strstr(c.text, "\"eventData\": ");
    assert_non_null(block);
    json_t *data = json_loads(block + strlen("\"eventData\": "), JSON_DISABLE_EOF_CHECK, NULL);
    json_t *want = json_loads("{\"firstName\": \"$.person.name['first name']\","
                              " \"id\": \"$.identityMap.Email[0].id\","
                              " \"id2\": \"$.identityMap.ECID[0].id\", \"tags\": \"$.tags[0]\","
                              " \"tags2\": \"$.tags[1]\", \"tags3\": \"$.tags[2]\","
                              " \"tags4\": \"$.tags[3]\"}",
                              0, NULL);
    assert_non_null(data);
    assert_true(json_equal(data, want));
    json_decref(want);
    json_decref(data);
}

static void test_capture_command_exits_1_when_no_sample_comes(void **state)
{
    fixture *f = *state;
    child c;
    start_capture(&c, f->config, "WF_csat", "100");
    assert_true(read_until(&c, NULL));
    close(c.out);
    assert_int_equal(qxt_wait_exit(c.pid, 60000), 1);
    assert_non_null(strstr(c.text, "send one sample to: "));
    assert_null(strstr(c.text, "eventData"));
}

static void test_capture_command_bad_usage_exits_2(void **state)
{
    fixture *f = *state;
    const char *unknown[] = {QX_BIN_DIR "/qx-mock", "capture", "--config", f->config,
                             "--workflow",          "WF_nope", NULL};
    const char *missing[] = {QX_BIN_DIR "/qx-mock", "capture", "--config", f->config, NULL};
    const char *bad_timeout[] = {
        QX_BIN_DIR "/qx-mock", "capture", "--config", f->config, "--workflow", "WF_csat",
        "--timeout-ms",        "0",       NULL};
    const char *help[] = {QX_BIN_DIR "/qx-mock", "capture", "--help", NULL};
    char *err = NULL, *out = NULL;
    assert_int_equal(qxt_run(unknown, NULL, NULL, NULL, &err, 60000), 2);
    assert_non_null(strstr(err, "WF_nope"));
    free(err);
    assert_int_equal(qxt_run(missing, NULL, NULL, NULL, NULL, 60000), 2);
    assert_int_equal(qxt_run(bad_timeout, NULL, NULL, NULL, NULL, 60000), 2);
    assert_int_equal(qxt_run(help, NULL, NULL, &out, NULL, 60000), 0);
    assert_non_null(strstr(out, "--workflow ID"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_armed_workflow_captures_one_sample_and_starts_no_run,
                                        setup, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_capture_comes_after_auth_and_body_checks, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_capture_comes_before_faults_and_disabled_workflows,
                                        setup, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_armed_capture_expires_after_its_timeout, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_delete_disarms_and_keeps_the_sample, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_capture_routes_refuse_unknown_workflows_and_bad_bodies,
                                        setup, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_capture_command_prints_event_data_and_exits_0, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_capture_command_exits_1_when_no_sample_comes, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_capture_command_bad_usage_exits_2, setup,
                                        qxt_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
