/*
 * test_mock_alerts.c — qx-mock's alert sink, /_qx/v1/alerts: POST keeps an
 * alert (201 with its id), GET lists the newest first with what was kept,
 * received and dropped, DELETE forgets them; a body that is not an alert
 * is refused (400, 415); the admin token guards all three; and the log is
 * bounded at QXM_ALERTS_MAX (1000), the oldest dropped first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define ADMIN_TOKEN_ENV "QX_TEST_ALERTS_ADMIN_TOKEN"
#define ADMIN_TOKEN "alerts-admin-9c1"
#define ALERTS_MAX 1000

static const char config_text[] =
    "{\"users\": [{\"username\": \"u@example.com\", \"apiToken\": \"T\"}],"
    " \"workflows\": [{\"id\": \"WF_a\", \"urlTokenId\": "
    "\"6c1b1e2a-2f7e-4d8e-9a51-0f1d2c3b4a50\"}]}";

static const char *const json_hdrs[] = {"Content-Type: application/json", NULL};
static const char *const auth_hdrs[] = {"Content-Type: application/json",
                                        "Authorization: Bearer " ADMIN_TOKEN, NULL};

static int setup(void **state)
{
    return qxt_fixture_start(state, config_text, NULL);
}

static int setup_admin_token(void **state)
{
    setenv(ADMIN_TOKEN_ENV, ADMIN_TOKEN, 1);
    static const char *const extra[] = {"--admin-token-env", ADMIN_TOKEN_ENV, NULL};
    return qxt_fixture_start(state, config_text, extra);
}

static long request(const qxt_fixture *f, const char *method, const char *path, const char *body,
                    const char *const *hdrs, json_t **out)
{
    qxt_response r;
    assert_int_equal(
        qxt_http(method, qxt_url(f, path), body, body != NULL ? strlen(body) : 0, hdrs, NULL, &r),
        0);
    long status = r.status;
    if (out != NULL)
        *out = qxt_response_json(&r);
    qxt_response_free(&r);
    return status;
}

static json_int_t int_of(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void test_alerts_are_kept_and_listed_newest_first(void **state)
{
    qxt_fixture *f = *state;
    json_t *got = NULL;
    assert_int_equal(request(f, "POST", "/_qx/v1/alerts",
                             "{\"type\": \"activationSkippedRateExceeded\", \"rate\": 2.5}",
                             json_hdrs, &got),
                     201);
    assert_int_equal(int_of(got, "id"), 1);
    json_decref(got);
    assert_int_equal(request(f, "POST", "/_qx/v1/alerts",
                             "{\"type\": \"other\", \"id\": 77, \"receivedAt\": \"x\"}", json_hdrs,
                             NULL),
                     201);
    assert_int_equal(request(f, "GET", "/_qx/v1/alerts", NULL, NULL, &got), 200);
    assert_int_equal(int_of(got, "kept"), 2);
    assert_int_equal(int_of(got, "received"), 2);
    assert_int_equal(int_of(got, "dropped"), 0);
    json_t *list = json_object_get(got, "alerts");
    assert_int_equal(json_array_size(list), 2);
    json_t *newest = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(newest, "type")), "other");
    assert_int_equal(int_of(newest, "id"), 2); /* ours, not the sender's */
    assert_string_not_equal(json_string_value(json_object_get(newest, "receivedAt")), "x");
    json_t *oldest = json_array_get(list, 1);
    assert_float_equal(json_real_value(json_object_get(oldest, "rate")), 2.5, 1e-9);
    json_decref(got);
    assert_int_equal(request(f, "GET", "/_qx/v1/alerts?limit=1", NULL, NULL, &got), 200);
    assert_int_equal(json_array_size(json_object_get(got, "alerts")), 1);
    json_decref(got);
    assert_int_equal(request(f, "DELETE", "/_qx/v1/alerts", NULL, NULL, &got), 200);
    assert_int_equal(int_of(got, "deleted"), 2);
    json_decref(got);
    assert_int_equal(request(f, "GET", "/_qx/v1/alerts", NULL, NULL, &got), 200);
    assert_int_equal(int_of(got, "kept"), 0);
    json_decref(got);
}

static void test_what_is_not_an_alert_is_refused(void **state)
{
    qxt_fixture *f = *state;
    static const char *const text_hdrs[] = {"Content-Type: text/plain", NULL};
    assert_int_equal(request(f, "POST", "/_qx/v1/alerts", "{\"type\": \"x\"}", text_hdrs, NULL),
                     415);
    assert_int_equal(request(f, "POST", "/_qx/v1/alerts", "{\"type\": ", json_hdrs, NULL), 400);
    assert_int_equal(request(f, "POST", "/_qx/v1/alerts", "[1]", json_hdrs, NULL), 400);
    assert_int_equal(request(f, "POST", "/_qx/v1/alerts", "{\"rate\": 1}", json_hdrs, NULL), 400);
    assert_int_equal(request(f, "POST", "/_qx/v1/alerts", "{\"type\": \"\"}", json_hdrs, NULL),
                     400);
    assert_int_equal(request(f, "GET", "/_qx/v1/alerts?limit=0", NULL, NULL, NULL), 400);
    assert_int_equal(request(f, "GET", "/_qx/v1/alerts?limit=1001", NULL, NULL, NULL), 400);
    assert_int_equal(request(f, "PUT", "/_qx/v1/alerts", "{}", json_hdrs, NULL), 405);
    json_t *got = NULL;
    assert_int_equal(request(f, "GET", "/_qx/v1/alerts", NULL, NULL, &got), 200);
    assert_int_equal(int_of(got, "received"), 0);
    json_decref(got);
}

static void test_admin_token_guards_the_alerts(void **state)
{
    qxt_fixture *f = *state;
    assert_int_equal(request(f, "POST", "/_qx/v1/alerts", "{\"type\": \"x\"}", json_hdrs, NULL),
                     401);
    assert_int_equal(request(f, "GET", "/_qx/v1/alerts", NULL, NULL, NULL), 401);
    assert_int_equal(request(f, "DELETE", "/_qx/v1/alerts", NULL, NULL, NULL), 401);
    assert_int_equal(request(f, "POST", "/_qx/v1/alerts", "{\"type\": \"x\"}", auth_hdrs, NULL),
                     201);
    json_t *got = NULL;
    assert_int_equal(request(f, "GET", "/_qx/v1/alerts", NULL, auth_hdrs, &got), 200);
    assert_int_equal(int_of(got, "kept"), 1);
    json_decref(got);
}

static void test_the_log_is_bounded_oldest_dropped_first(void **state)
{
    qxt_fixture *f = *state;
    char body[64];
    for (int i = 1; i <= ALERTS_MAX + 5; i++) {
        snprintf(body, sizeof body, "{\"type\": \"t\", \"n\": %d}", i);
        assert_int_equal(request(f, "POST", "/_qx/v1/alerts", body, json_hdrs, NULL), 201);
    }
    json_t *got = NULL;
    assert_int_equal(request(f, "GET", "/_qx/v1/alerts?limit=1000", NULL, NULL, &got), 200);
    assert_int_equal(int_of(got, "kept"), ALERTS_MAX);
    assert_int_equal(int_of(got, "received"), ALERTS_MAX + 5);
    assert_int_equal(int_of(got, "dropped"), 5);
    json_t *list = json_object_get(got, "alerts");
    assert_int_equal(json_array_size(list), ALERTS_MAX);
    assert_int_equal(int_of(json_array_get(list, 0), "n"), ALERTS_MAX + 5);
    assert_int_equal(int_of(json_array_get(list, ALERTS_MAX - 1), "n"), 6);
    json_decref(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_alerts_are_kept_and_listed_newest_first, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_what_is_not_an_alert_is_refused, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_admin_token_guards_the_alerts, setup_admin_token,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_the_log_is_bounded_oldest_dropped_first, setup,
                                        qxt_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
