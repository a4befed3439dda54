/*
 * test_retry.c — the retry policy: the platform's defaults, which statuses
 * are retried and how often, schedule parsing, jitter and Retry-After.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "qxs_retry.h"

static void test_default_is_two_retries_after_15_and_30_s(void **state)
{
    (void)state;
    qxs_retry_policy p;
    qxs_retry_policy_default(&p);
    assert_int_equal(p.n_delays, 2);
    assert_int_equal(p.delays_ms[0], 15000);
    assert_int_equal(p.delays_ms[1], 30000);
}

static void test_retryable_statuses_are_the_platforms(void **state)
{
    (void)state;
    const long retried[] = {0, 403, 408, 409, 429, 500, 502, 503, 504};
    const long not_retried[] = {200, 201, 204, 301, 302, 400, 401, 404,
                                405, 410, 413, 415, 422, 501, 505, 599};
    for (size_t i = 0; i < sizeof retried / sizeof retried[0]; i++)
        assert_true(qxs_retry_is_retryable(retried[i]));
    for (size_t i = 0; i < sizeof not_retried / sizeof not_retried[0]; i++)
        assert_false(qxs_retry_is_retryable(not_retried[i]));
}

static void test_decide_retries_twice_then_fails(void **state)
{
    (void)state;
    qxs_retry_policy p;
    qxs_retry_policy_default(&p);
    assert_int_equal(qxs_retry_decide(&p, 503, 1), QXS_RETRY);
    assert_int_equal(qxs_retry_decide(&p, 503, 2), QXS_RETRY);
    assert_int_equal(qxs_retry_decide(&p, 503, 3), QXS_FAILED);
    assert_int_equal(qxs_retry_decide(&p, 0, 1), QXS_RETRY); /* connection error */
    assert_int_equal(qxs_retry_decide(&p, 0, 3), QXS_FAILED);
}

static void test_decide_fails_other_statuses_at_once(void **state)
{
    (void)state;
    qxs_retry_policy p;
    qxs_retry_policy_default(&p);
    assert_int_equal(qxs_retry_decide(&p, 401, 1), QXS_FAILED);
    assert_int_equal(qxs_retry_decide(&p, 400, 1), QXS_FAILED);
    assert_int_equal(qxs_retry_decide(&p, 404, 1), QXS_FAILED);
    assert_int_equal(qxs_retry_decide(&p, 302, 1), QXS_FAILED); /* redirects not followed */
}

static void test_decide_delivered_on_2xx(void **state)
{
    (void)state;
    qxs_retry_policy p;
    qxs_retry_policy_default(&p);
    assert_int_equal(qxs_retry_decide(&p, 200, 1), QXS_DELIVERED);
    assert_int_equal(qxs_retry_decide(&p, 202, 3), QXS_DELIVERED);
}

static void test_schedule_parses_units(void **state)
{
    (void)state;
    qxs_retry_policy p;
    qx_error err;
    assert_int_equal(qxs_retry_schedule_parse("100ms,200ms,1s,2s", &p, &err), 0);
    assert_int_equal(p.n_delays, 4);
    assert_int_equal(p.delays_ms[0], 100);
    assert_int_equal(p.delays_ms[1], 200);
    assert_int_equal(p.delays_ms[2], 1000);
    assert_int_equal(p.delays_ms[3], 2000);
    assert_int_equal(qxs_retry_schedule_parse("0ms", &p, &err), 0);
    assert_int_equal(p.n_delays, 1);
    assert_int_equal(p.delays_ms[0], 0);
    assert_int_equal(qxs_retry_schedule_parse("none", &p, &err), 0);
    assert_int_equal(p.n_delays, 0);
    assert_int_equal(qxs_retry_decide(&p, 503, 1), QXS_FAILED);
}

static void test_schedule_count_sets_retries(void **state)
{
    (void)state;
    qxs_retry_policy p;
    qx_error err;
    assert_int_equal(qxs_retry_schedule_parse("10ms,10ms,10ms", &p, &err), 0);
    assert_int_equal(qxs_retry_decide(&p, 429, 3), QXS_RETRY);
    assert_int_equal(qxs_retry_decide(&p, 429, 4), QXS_FAILED);
}

static void test_schedule_refuses_bad_elements(void **state)
{
    (void)state;
    const char *bad[] = {"",     "100",          "100 ms",
                         "ms",   "-5ms",         "1m",
                         "1h",   "100ms,",       ",100ms",
                         "1.5s", "100ms,,200ms", "3601s",
                         "abc",  "+5ms",         "99999999999999999999ms"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        qxs_retry_policy p;
        qxs_retry_policy_default(&p);
        qx_error err = {{0}};
        if (qxs_retry_schedule_parse(bad[i], &p, &err) != -1) {
            print_error("accepted \"%s\"\n", bad[i]);
            fail();
        }
        assert_non_null(strstr(err.text, "retry schedule"));
        assert_int_equal(p.n_delays, 2); /* unchanged on error */
    }
}

static void test_schedule_error_names_element(void **state)
{
    (void)state;
    qxs_retry_policy p;
    qx_error err;
    assert_int_equal(qxs_retry_schedule_parse("100ms,2x", &p, &err), -1);
    assert_string_equal(err.text, "retry schedule \"100ms,2x\": element 2 \"2x\" is not a delay "
                                  "like 100ms or 15s (at most 1 hour)");
}

static void test_schedule_has_a_maximum_length(void **state)
{
    (void)state;
    char text[512] = "";
    size_t len = 0;
    for (int i = 0; i <= QXS_RETRY_MAX_STEPS; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%s", i ? ",1ms" : "1ms");
    qxs_retry_policy p;
    qx_error err;
    assert_int_equal(qxs_retry_schedule_parse(text, &p, &err), -1);
    text[strlen(text) - 4] = '\0';
    assert_int_equal(qxs_retry_schedule_parse(text, &p, &err), 0);
    assert_int_equal(p.n_delays, QXS_RETRY_MAX_STEPS);
}

static void test_delay_adds_bounded_jitter(void **state)
{
    (void)state;
    qxs_retry_policy p;
    qxs_retry_policy_default(&p);
    assert_int_equal(qxs_retry_delay_ms(&p, 1, 0.0, -1), 15000);
    assert_int_equal(qxs_retry_delay_ms(&p, 2, 0.0, -1), 30000);
    assert_int_equal(qxs_retry_delay_ms(&p, 1, 0.5, -1), 15750);
    int64_t most = qxs_retry_delay_ms(&p, 2, 0.999999, -1);
    assert_true(most >= 30000 && most < 33000);
}

static void test_delay_honours_longer_retry_after(void **state)
{
    (void)state;
    qxs_retry_policy p;
    qx_error err;
    assert_int_equal(qxs_retry_schedule_parse("100ms,200ms", &p, &err), 0);
    assert_int_equal(qxs_retry_delay_ms(&p, 1, 0.0, 1000), 1000); /* longer: honoured */
    assert_int_equal(qxs_retry_delay_ms(&p, 2, 0.0, 50), 200);    /* shorter: schedule */
    assert_int_equal(qxs_retry_delay_ms(&p, 1, 0.0, 0), 100);     /* Retry-After: 0 */
    assert_int_equal(qxs_retry_delay_ms(&p, 1, 0.0, 3600 * 1000LL), QXS_RETRY_AFTER_MAX_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_is_two_retries_after_15_and_30_s),
        cmocka_unit_test(test_retryable_statuses_are_the_platforms),
        cmocka_unit_test(test_decide_retries_twice_then_fails),
        cmocka_unit_test(test_decide_fails_other_statuses_at_once),
        cmocka_unit_test(test_decide_delivered_on_2xx),
        cmocka_unit_test(test_schedule_parses_units),
        cmocka_unit_test(test_schedule_count_sets_retries),
        cmocka_unit_test(test_schedule_refuses_bad_elements),
        cmocka_unit_test(test_schedule_error_names_element),
        cmocka_unit_test(test_schedule_has_a_maximum_length),
        cmocka_unit_test(test_delay_adds_bounded_jitter),
        cmocka_unit_test(test_delay_honours_longer_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
