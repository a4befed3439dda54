/*
 * test_alert.c — the activationSkippedRateExceeded alert: what counts as an
 * activation and as skipped, the threshold (above it, not at it; 0 never),
 * the windows, the entry's members, the report's alerts array, and a
 * webhook URL with credentials refused. Delivery to a webhook is
 * tests/e2e/test_send_alerts.c's (a real qx-mock as the sink).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qxs_alert.h"
#include "qxs_report.h"

static qxs_alerts *alerts(double pct, int64_t window)
{
    qx_error err;
    qxs_alert_options o = {.threshold_pct = pct, .window = window, .destination = "CSAT"};
    qxs_alerts *a = qxs_alerts_new(&o, &err);
    assert_non_null(a);
    return a;
}

/* n activations of kind e, none of which may close a window over the
 * threshold. */
static void observe_quietly(qxs_alerts *a, qxs_exclusion e, int n)
{
    for (int i = 0; i < n; i++)
        assert_null(qxs_alerts_observe(a, e));
}

static json_int_t member_int(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static void test_alert_run_above_threshold_names_counts_by_reason(void **state)
{
    (void)state;
    qxs_alerts *a = alerts(1, 0);
    observe_quietly(a, QXS_NOT_EXCLUDED, 97);
    observe_quietly(a, QXS_EXCLUDED_CONSENT, 2);
    observe_quietly(a, QXS_EXCLUDED_HASHED_EMAIL, 1);
    observe_quietly(a, QXS_EXCLUDED_NO_AUDIENCE, 500); /* no activation at all */
    json_t *e = qxs_alerts_finish(a);
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "type")),
                        "activationSkippedRateExceeded");
    assert_string_equal(json_string_value(json_object_get(e, "scope")), "run");
    assert_string_equal(json_string_value(json_object_get(e, "destination")), "CSAT");
    assert_int_equal(member_int(e, "activations"), 100);
    assert_int_equal(member_int(e, "skipped"), 3);
    assert_float_equal(json_real_value(json_object_get(e, "rate")), 3.0, 1e-9);
    assert_float_equal(json_number_value(json_object_get(e, "threshold")), 1.0, 1e-9);
    json_t *r = json_object_get(e, "skippedReasons");
    assert_int_equal(member_int(r, "consentDenied"), 2);
    assert_int_equal(member_int(r, "hashedEmailOnly"), 1);
    assert_int_equal(member_int(r, "noMappedIdentity"), 0);
    assert_null(json_object_get(r, "notInActivatedAudience"));
    assert_non_null(json_string_value(json_object_get(e, "at")));
    assert_null(json_object_get(e, "webhook"));
    char text[512];
    assert_non_null(strstr(qxs_alert_text(e, text, sizeof text), "3 of 100 activations skipped"));
    json_decref(e);
    qxs_alerts_free(a);
}

static void test_alert_at_the_threshold_is_not_raised(void **state)
{
    (void)state;
    qxs_alerts *a = alerts(1, 0);
    observe_quietly(a, QXS_NOT_EXCLUDED, 99);
    observe_quietly(a, QXS_EXCLUDED_NO_IDENTITY, 1); /* exactly 1 %: not "exceeded" */
    assert_null(qxs_alerts_finish(a));
    qxs_alerts_free(a);
}

static void test_alert_zero_threshold_never_raises(void **state)
{
    (void)state;
    qxs_alerts *a = alerts(0, 2);
    observe_quietly(a, QXS_EXCLUDED_CONSENT, 10);
    assert_null(qxs_alerts_finish(a));
    qxs_alerts_free(a);
}

static void test_alert_no_activation_raises_nothing(void **state)
{
    (void)state;
    qxs_alerts *a = alerts(1, 0);
    observe_quietly(a, QXS_EXCLUDED_NO_AUDIENCE, 10);
    assert_null(qxs_alerts_finish(a));
    assert_null(qxs_alerts_finish(NULL));
    assert_null(qxs_alerts_observe(NULL, QXS_EXCLUDED_CONSENT));
    qxs_alerts_free(a);
}

static void test_alert_each_window_is_evaluated_as_it_closes(void **state)
{
    (void)state;
    qxs_alerts *a = alerts(10, 10);
    /* window 1 (activations 1-10): 1 skipped, 10 %: not above */
    observe_quietly(a, QXS_EXCLUDED_CONSENT, 1);
    observe_quietly(a, QXS_NOT_EXCLUDED, 9);
    /* window 2 (11-20): 2 skipped, raised as the 20th is counted */
    observe_quietly(a, QXS_EXCLUDED_NO_IDENTITY, 2);
    observe_quietly(a, QXS_NOT_EXCLUDED, 7);
    json_t *e = qxs_alerts_observe(a, QXS_NOT_EXCLUDED);
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "scope")), "window");
    assert_int_equal(member_int(e, "firstActivation"), 11);
    assert_int_equal(member_int(e, "lastActivation"), 20);
    assert_int_equal(member_int(e, "skipped"), 2);
    json_decref(e);
    /* the run as a whole: 3 of 20, 15 % */
    e = qxs_alerts_finish(a);
    assert_non_null(e);
    assert_int_equal(member_int(e, "activations"), 20);
    assert_int_equal(member_int(e, "firstActivation"), 1);
    json_decref(e);
    qxs_alerts_free(a);
}

static void test_alert_options_are_checked(void **state)
{
    (void)state;
    qx_error err;
    qxs_alert_options o = {.threshold_pct = 1, .webhook_url = "http://user:pw@127.0.0.1/x"};
    assert_null(qxs_alerts_new(&o, &err));
    assert_non_null(strstr(err.text, "credentials"));
    assert_null(strstr(err.text, "pw")); /* the credential is not echoed */
    o.webhook_url = "ftp://127.0.0.1/x";
    assert_null(qxs_alerts_new(&o, &err));
    o.webhook_url = NULL;
    o.threshold_pct = 101;
    assert_null(qxs_alerts_new(&o, &err));
    qxs_alerts_free(NULL);
}

static void test_alert_without_webhook_is_not_delivered_and_not_failed(void **state)
{
    (void)state;
    qxs_alerts *a = alerts(1, 0);
    observe_quietly(a, QXS_EXCLUDED_CONSENT, 1);
    json_t *e = qxs_alerts_finish(a);
    assert_non_null(e);
    qx_error err;
    assert_int_equal(qxs_alerts_deliver(a, e, &err), 0);
    assert_null(json_object_get(e, "webhook"));
    json_decref(e);
    qxs_alerts_free(a);
}

static void test_report_lists_alerts(void **state)
{
    (void)state;
    qxs_report *r = qxs_report_new();
    assert_non_null(r);
    json_t *doc = qxs_report_to_json(r);
    assert_int_equal(json_array_size(json_object_get(doc, "alerts")), 0);
    assert_true(json_is_array(json_object_get(doc, "alerts")));
    json_decref(doc);
    assert_int_equal(qxs_report_alert(r, json_pack("{s:s}", "type", "x")), 0);
    doc = qxs_report_to_json(r);
    assert_int_equal(json_array_size(json_object_get(doc, "alerts")), 1);
    json_decref(doc);
    assert_int_equal(json_array_size(qxs_report_alerts(r)), 1);
    qxs_report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alert_run_above_threshold_names_counts_by_reason),
        cmocka_unit_test(test_alert_at_the_threshold_is_not_raised),
        cmocka_unit_test(test_alert_zero_threshold_never_raises),
        cmocka_unit_test(test_alert_no_activation_raises_nothing),
        cmocka_unit_test(test_alert_each_window_is_evaluated_as_it_closes),
        cmocka_unit_test(test_alert_options_are_checked),
        cmocka_unit_test(test_alert_without_webhook_is_not_delivered_and_not_failed),
        cmocka_unit_test(test_report_lists_alerts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
