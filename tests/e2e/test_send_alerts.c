/*
 * test_send_alerts.c — data governance and alerts end to end: qx-send with
 * a policy against a real qx-mock, whose /_qx/v1/alerts is also the alert
 * webhook's sink (behind its admin token, sent as the webhook's bearer).
 *
 *   - profiles whose consent denies the destination's marketing actions
 *     (per profile, per identity) start no run, are counted consentDenied,
 *     and the counts add up;
 *   - the skipped rate raises activationSkippedRateExceeded: a stderr line,
 *     the report's alerts array, and the entry as qx-mock lists it;
 *   - a webhook that refuses (no token) is recorded, not retried, and does
 *     not change the exit status; one that cannot be reached is tried a
 *     bounded number of times;
 *   - --alert-skipped-rate 0 raises nothing; a long stream is judged per
 *     window of 10,000 activations as well as over the run;
 *   - a label violation stops the send before any request (exit 2);
 *   - render and validate apply a policy given with --marketing-action.
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

#include "send_fixture.h"

#define DEMO_WORKFLOWS QX_SOURCE_DIR "/fixtures/workflows/demo.json"
#define POLICY_DIR QX_SOURCE_DIR "/fixtures/policies"
#define CONSENT_PROFILES POLICY_DIR "/profiles.ndjson"
#define RUN_TIMEOUT_MS 60000
#define ADMIN_TOKEN_ENV "QX_TEST_ALERT_ADMIN_TOKEN"
#define ADMIN_TOKEN "alert-sink-token-7f3a"

static const char *const env_alert[] = {"QX_API_TOKEN=" TOKEN_OK, "QX_ALERT_TOKEN=" ADMIN_TOKEN,
                                        NULL};

/* qx-mock with an admin token; dest.json with the policy and actions. */
static void start_sink(sf_fixture *f, const char *actions)
{
    setenv(ADMIN_TOKEN_ENV, ADMIN_TOKEN, 1);
    static const char *const extra[] = {"--admin-token-env", ADMIN_TOKEN_ENV, NULL};
    assert_int_equal(qxt_mock_start(&f->mock, DEMO_WORKFLOWS, extra), 0);
    char text[2048];
    snprintf(text, sizeof text,
             "{\"name\": \"CSAT e2e\", \"url\": "
             "\"%s/inbound-event/v1/events/json/triggers?urlTokenId=" WF_TOKEN "\", "
             "\"username\": \"" USER "\", \"passwordEnv\": \"QX_API_TOKEN\", "
             "\"policy\": \"" POLICY_DIR "/email-survey.json\", \"marketingActions\": %s}",
             f->mock.base_url, actions);
    sf_put_file(f, "dest.json", text);
}

/* An admin GET of qx-mock with the bearer token. */
static json_t *admin_get(const sf_fixture *f, const char *path)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", f->mock.base_url, path);
    const char *hdrs[] = {"Authorization: Bearer " ADMIN_TOKEN, NULL};
    qxt_response r;
    assert_int_equal(qxt_http("GET", url, NULL, 0, hdrs, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *j = qxt_response_json(&r);
    qxt_response_free(&r);
    assert_non_null(j);
    return j;
}

static const char *alerts_url(const sf_fixture *f)
{
    static char url[512];
    snprintf(url, sizeof url, "%s/_qx/v1/alerts", f->mock.base_url);
    return url;
}

/* The emails of the runs' payloads, once there are count runs. */
static json_t *run_emails(const sf_fixture *f, int count)
{
    char path[128];
    snprintf(path, sizeof path, "/_qx/v1/runs/wait?count=%d&timeoutMs=20000", count);
    json_t *w = admin_get(f, path);
    json_t *emails = json_array();
    size_t i;
    json_t *run;
    json_array_foreach(json_object_get(w, "runs"), i, run)
    {
        json_t *ed = json_object_get(run, "eventData");
        json_array_append(emails, json_object_get(ed, "email"));
    }
    json_decref(w);
    return emails;
}

static bool has_string(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (json_is_string(v) &&
                                      strcmp(json_string_value(v), s) == 0) return true;
    return false;
}

static void test_consent_denied_start_no_run_and_raise_the_alert(void **state)
{
    sf_fixture *f = *state;
    start_sink(f, "[\"emailTargeting\", \"exportToThirdParty\"]");
    const char *argv[] = {
        QX_SEND,           "send",        "--destination",     sf_path(f, "dest.json"),
        "--mapping",       DEMO_MAPPING,  "--report",          sf_path(f, "report.json"),
        "--alert-webhook", alerts_url(f), "--alert-token-env", "QX_ALERT_TOKEN",
        CONSENT_PROFILES,  NULL};
    char *err = NULL;
    assert_int_equal(sf_run_send(argv, env_alert, RUN_TIMEOUT_MS, &err), 0);
    assert_non_null(strstr(err, "alert activationSkippedRateExceeded (run): 3 of 6"));
    assert_null(strstr(err, ADMIN_TOKEN));
    free(err);

    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "read"), 6);
    assert_int_equal(sf_int(rep, "activated"), 3);
    assert_int_equal(sf_int(rep, "excluded"), 3);
    assert_int_equal(sf_int(rep, "failed"), 0);
    assert_int_equal(sf_int(json_object_get(rep, "excludedReasons"), "consentDenied"), 3);
    json_t *alerts = json_object_get(rep, "alerts");
    assert_int_equal(json_array_size(alerts), 1);
    json_t *a = json_array_get(alerts, 0);
    assert_string_equal(json_string_value(json_object_get(a, "type")),
                        "activationSkippedRateExceeded");
    assert_float_equal(json_real_value(json_object_get(a, "rate")), 50.0, 1e-9);
    assert_int_equal(sf_int(json_object_get(a, "skippedReasons"), "consentDenied"), 3);
    json_t *hook = json_object_get(a, "webhook");
    assert_true(json_is_true(json_object_get(hook, "delivered")));
    assert_int_equal(sf_int(hook, "status"), 201);
    assert_int_equal(sf_int(hook, "attempts"), 1);
    char *text = qxt_read_file(sf_path(f, "report.json"));
    assert_null(strstr(text, ADMIN_TOKEN)); /* the bearer is nowhere in the report */
    free(text);

    /* the sink has the entry as sent, with its own id and time */
    json_t *listed = admin_get(f, "/_qx/v1/alerts");
    assert_int_equal(sf_int(listed, "kept"), 1);
    json_t *got = json_array_get(json_object_get(listed, "alerts"), 0);
    assert_int_equal(sf_int(got, "id"), 1);
    assert_non_null(json_object_get(got, "receivedAt"));
    assert_int_equal(sf_int(got, "activations"), 6);
    assert_int_equal(sf_int(json_object_get(got, "skippedReasons"), "consentDenied"), 3);
    assert_null(json_object_get(got, "webhook"));
    json_decref(listed);
    json_decref(rep);

    /* the opted-out never got a run: Jon by his ECID only */
    json_t *emails = run_emails(f, 3);
    assert_int_equal(json_array_size(emails), 3);
    assert_true(has_string(emails, "gina@example.com"));
    assert_true(has_string(emails, "ivy@example.com"));
    assert_false(has_string(emails, "hugo@example.com"));
    assert_false(has_string(emails, "kim@example.com"));
    assert_false(has_string(emails, "lea@example.com"));
    assert_false(has_string(emails, "jon@example.com"));
    json_decref(emails);
}

static void test_refused_webhook_is_recorded_and_changes_no_exit_status(void **state)
{
    sf_fixture *f = *state;
    start_sink(f, "[\"emailTargeting\"]");
    const char *argv[] = {
        QX_SEND,           "send",        "--destination",  sf_path(f, "dest.json"),
        "--mapping",       DEMO_MAPPING,  "--report",       sf_path(f, "report.json"),
        "--alert-webhook", alerts_url(f), CONSENT_PROFILES, NULL};
    char *err = NULL;
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, &err), 0);
    assert_non_null(strstr(err, "webhook: HTTP 401"));
    free(err);
    json_t *rep = sf_load_report(f);
    json_t *hook = json_object_get(json_array_get(json_object_get(rep, "alerts"), 0), "webhook");
    assert_true(json_is_false(json_object_get(hook, "delivered")));
    assert_int_equal(sf_int(hook, "status"), 401);
    assert_int_equal(sf_int(hook, "attempts"), 1); /* a 401 is not retried */
    json_decref(rep);
    json_t *listed = admin_get(f, "/_qx/v1/alerts");
    assert_int_equal(sf_int(listed, "kept"), 0);
    json_decref(listed);
}

static void test_unreachable_webhook_is_tried_a_bounded_number_of_times(void **state)
{
    sf_fixture *f = *state;
    start_sink(f, "[\"emailTargeting\"]");
    /* qx-mock on another port, stopped: nothing listens there any more */
    qxt_mock gone;
    assert_int_equal(qxt_mock_start(&gone, DEMO_WORKFLOWS, NULL), 0);
    char url[512];
    snprintf(url, sizeof url, "%s/_qx/v1/alerts", gone.base_url);
    qxt_mock_stop(&gone, SIGTERM);
    const char *argv[] = {
        QX_SEND,           "send",       "--destination",  sf_path(f, "dest.json"),
        "--mapping",       DEMO_MAPPING, "--report",       sf_path(f, "report.json"),
        "--alert-webhook", url,          CONSENT_PROFILES, NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    json_t *rep = sf_load_report(f);
    json_t *hook = json_object_get(json_array_get(json_object_get(rep, "alerts"), 0), "webhook");
    assert_true(json_is_false(json_object_get(hook, "delivered")));
    assert_int_equal(sf_int(hook, "attempts"), 3);
    assert_null(json_object_get(hook, "status"));
    assert_int_equal(sf_int(rep, "activated"), 4);
    json_decref(rep);
}

static void test_zero_threshold_raises_nothing(void **state)
{
    sf_fixture *f = *state;
    start_sink(f, "[\"emailTargeting\"]");
    const char *argv[] = {QX_SEND,
                          "send",
                          "--destination",
                          sf_path(f, "dest.json"),
                          "--mapping",
                          DEMO_MAPPING,
                          "--report",
                          sf_path(f, "report.json"),
                          "--alert-skipped-rate",
                          "0",
                          "--alert-webhook",
                          alerts_url(f),
                          "--alert-token-env",
                          "QX_ALERT_TOKEN",
                          CONSENT_PROFILES,
                          NULL};
    char *err = NULL;
    assert_int_equal(sf_run_send(argv, env_alert, RUN_TIMEOUT_MS, &err), 0);
    assert_null(strstr(err, "activationSkippedRateExceeded"));
    free(err);
    json_t *rep = sf_load_report(f);
    assert_int_equal(json_array_size(json_object_get(rep, "alerts")), 0);
    assert_int_equal(sf_int(json_object_get(rep, "excludedReasons"), "consentDenied"), 2);
    json_decref(rep);
    json_t *listed = admin_get(f, "/_qx/v1/alerts");
    assert_int_equal(sf_int(listed, "received"), 0);
    json_decref(listed);
}

static void test_label_violation_stops_the_send_before_any_request(void **state)
{
    sf_fixture *f = *state;
    start_sink(f, "[\"emailTargeting\", \"exportToThirdParty\"]");
    const char *argv[] = {QX_SEND,          "send",
                          "--destination",  sf_path(f, "dest.json"),
                          "--mapping",      POLICY_DIR "/mapping-labelled.json",
                          "--report",       sf_path(f, "report.json"),
                          CONSENT_PROFILES, NULL};
    char *err = NULL;
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, &err), 2);
    assert_non_null(strstr(err, "mapping.attributes[1] (source \"person.birthDate\"): label C2"));
    assert_non_null(strstr(err, "\"exportToThirdParty\""));
    assert_non_null(strstr(err, "restrict-third-party-export"));
    free(err);
    /* nothing reached qx-mock: no run, no request that started none */
    json_t *runs = admin_get(f, "/_qx/v1/runs");
    json_t *requests = admin_get(f, "/_qx/v1/requests");
    assert_int_equal(json_array_size(json_object_get(runs, "runs")), 0);
    assert_int_equal(json_array_size(json_object_get(requests, "requests")), 0);
    json_decref(runs);
    json_decref(requests);
}

/* A stream of more than 10,000 activations is judged window by window as
 * it goes: the first window's alert is raised (and posted) when its
 * 10,000th activation is counted, then the run's at the end. The skipped
 * profiles (no identity) send nothing, so the window costs no requests. */
static void test_each_window_of_10000_activations_raises_its_own_alert(void **state)
{
    sf_fixture *f = *state;
    start_sink(f, "[\"emailTargeting\"]");
    static const char skipped[] =
        "{\"person\": {\"name\": {\"firstName\": \"Nobody\"}}, \"segmentMembership\": {\"ups\": "
        "{\"a1f5c3e0-purchase-completed-0001\": {\"status\": \"realized\"}}}}\n";
    FILE *out = fopen(sf_path(f, "stream.ndjson"), "w");
    assert_non_null(out);
    for (int i = 0; i < 9990; i++)
        fputs(skipped, out);
    char *line = qxt_read_file(CONSENT_PROFILES); /* 3 of its 6 are sent */
    assert_non_null(line);
    for (int i = 0; i < 4; i++) /* 24 activations: the window closes inside them */
        fputs(line, out);
    free(line);
    assert_int_equal(fclose(out), 0);
    const char *argv[] = {QX_SEND,
                          "send",
                          "--destination",
                          sf_path(f, "dest.json"),
                          "--mapping",
                          DEMO_MAPPING,
                          "--report",
                          sf_path(f, "report.json"),
                          "--alert-webhook",
                          alerts_url(f),
                          "--alert-token-env",
                          "QX_ALERT_TOKEN",
                          sf_path(f, "stream.ndjson"),
                          NULL};
    assert_int_equal(sf_run_send(argv, env_alert, RUN_TIMEOUT_MS, NULL), 0);
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "read"), 10014);
    assert_int_equal(sf_int(rep, "activated") + sf_int(rep, "excluded"), 10014);
    json_t *alerts = json_object_get(rep, "alerts");
    assert_int_equal(json_array_size(alerts), 2);
    json_t *w = json_array_get(alerts, 0);
    assert_string_equal(json_string_value(json_object_get(w, "scope")), "window");
    assert_int_equal(sf_int(w, "firstActivation"), 1);
    assert_int_equal(sf_int(w, "lastActivation"), 10000);
    assert_int_equal(sf_int(w, "activations"), 10000);
    assert_int_equal(sf_int(json_object_get(w, "skippedReasons"), "noMappedIdentity"), 9990);
    json_t *run = json_array_get(alerts, 1);
    assert_string_equal(json_string_value(json_object_get(run, "scope")), "run");
    assert_int_equal(sf_int(run, "activations"), 10014);
    json_decref(rep);
    json_t *listed = admin_get(f, "/_qx/v1/alerts");
    assert_int_equal(sf_int(listed, "received"), 2);
    json_decref(listed);
}

/* render and validate take the policy with --marketing-action: consent
 * exclusions on standard error, a label violation refused before any line
 * (render, exit 2) or reported as an error (validate, exit 1), a policy
 * without a marketing action refused (exit 2). */
static void test_render_and_validate_apply_the_policy(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    const char *render[] = {QX_SEND,
                            "render",
                            "--mapping",
                            DEMO_MAPPING,
                            "--policy",
                            POLICY_DIR "/email-survey.json",
                            "--marketing-action",
                            "emailTargeting",
                            CONSENT_PROFILES,
                            NULL};
    assert_int_equal(qxt_run(render, NULL, NULL, &out, &err, RUN_TIMEOUT_MS), 0);
    assert_non_null(strstr(out, "gina@example.com"));
    assert_null(strstr(out, "hugo@example.com"));
    assert_non_null(strstr(err, "line 2: excluded (consentDenied)"));
    assert_non_null(strstr(err, "line 5: excluded (consentDenied)"));
    assert_null(strstr(err, "line 6: excluded")); /* share: not an emailTargeting rule */
    free(out);
    free(err);

    const char *labelled[] = {QX_SEND,
                              "render",
                              "--mapping",
                              POLICY_DIR "/mapping-labelled.json",
                              "--policy",
                              POLICY_DIR "/email-survey.json",
                              "--marketing-action",
                              "exportToThirdParty",
                              "/nonexistent/profiles.ndjson",
                              NULL};
    /* exit 2 for the label, before the (missing) input is even opened */
    assert_int_equal(qxt_run(labelled, NULL, NULL, &out, &err, RUN_TIMEOUT_MS), 2);
    assert_non_null(strstr(err, "label C2"));
    assert_null(strstr(err, "nonexistent"));
    assert_string_equal(out, "");
    free(out);
    free(err);

    const char *validate[] = {QX_SEND,
                              "validate",
                              "--mapping",
                              POLICY_DIR "/mapping-labelled.json",
                              "--policy",
                              POLICY_DIR "/email-survey.json",
                              "--marketing-action",
                              "exportToThirdParty",
                              NULL};
    assert_int_equal(qxt_run(validate, NULL, NULL, &out, &err, RUN_TIMEOUT_MS), 1);
    assert_non_null(strstr(out, "error: mapping.attributes[1] (source \"person.birthDate\"): "
                                "label C2"));
    free(out);
    free(err);

    const char *no_action[] = {QX_SEND,      "validate", "--mapping",
                               DEMO_MAPPING, "--policy", POLICY_DIR "/email-survey.json",
                               NULL};
    assert_int_equal(qxt_run(no_action, NULL, NULL, &out, &err, RUN_TIMEOUT_MS), 2);
    assert_non_null(strstr(err, "--marketing-action names none"));
    free(out);
    free(err);

    /* alerts belong to send: to render they are an unknown option, named
     * (not by its value) */
    const char *alerting[] = {QX_SEND,      "render",          "--mapping",
                              DEMO_MAPPING, "--alert-webhook", "http://127.0.0.1:9/x",
                              NULL};
    assert_int_equal(qxt_run(alerting, NULL, NULL, &out, &err, RUN_TIMEOUT_MS), 2);
    assert_non_null(strstr(err, "unknown option '--alert-webhook'"));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_consent_denied_start_no_run_and_raise_the_alert,
                                        sf_setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_refused_webhook_is_recorded_and_changes_no_exit_status,
                                        sf_setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_webhook_is_tried_a_bounded_number_of_times,
                                        sf_setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_zero_threshold_raises_nothing, sf_setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_label_violation_stops_the_send_before_any_request,
                                        sf_setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_each_window_of_10000_activations_raises_its_own_alert,
                                        sf_setup, sf_teardown),
        cmocka_unit_test(test_render_and_validate_apply_the_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
