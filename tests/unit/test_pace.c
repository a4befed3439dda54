/*
 * test_pace.c — the smooth token bucket (one call at a time, never a
 * minute's; continuous refill; the time to the next token) driven by a
 * clock the test passes, and the rate text of --rate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "qxs_pace.h"

#define T0 1000000000LL /* any monotonic start, in µs */
#define US_PER_S 1000000LL

/* How many tokens can be taken at once at now_us. */
static int take_all(qxs_pace *b, int64_t now_us)
{
    int n = 0;
    while (qxs_pace_take(b, now_us))
        n++;
    return n;
}

static void test_burst_is_one_call_not_a_minutes(void **state)
{
    (void)state;
    qxs_pace b;
    qxs_pace_init(&b, 300, T0); /* 5 a second: one now, the next 200 ms later */
    assert_int_equal(qxs_pace_burst(&b), 1);
    assert_int_equal(take_all(&b, T0), 1);
    assert_int_equal(qxs_pace_wait_us(&b, T0), 200000);
    qxs_pace_init(&b, 3000, T0); /* Qualtrics' limit: one call, not 3,000 */
    assert_int_equal(take_all(&b, T0), 1);
    qxs_pace_init(&b, 1000000, T0);
    assert_int_equal(qxs_pace_burst(&b), 1);
}

static void test_burst_is_at_least_one_call(void **state)
{
    (void)state;
    qxs_pace b;
    qxs_pace_init(&b, 1, T0);
    assert_int_equal(qxs_pace_burst(&b), 1);
    assert_int_equal(take_all(&b, T0), 1);
    qxs_pace_init(&b, 90, T0); /* 1.5 a second: one call at once */
    assert_int_equal(take_all(&b, T0), 1);
}

static void test_refill_is_continuous_at_the_rate(void **state)
{
    (void)state;
    qxs_pace b;
    qxs_pace_init(&b, 600, T0); /* 10 a second: one per 100 ms */
    assert_int_equal(take_all(&b, T0), 1);
    assert_false(qxs_pace_take(&b, T0 + 99999));
    assert_true(qxs_pace_take(&b, T0 + 100000));
    assert_false(qxs_pace_take(&b, T0 + 100000));
    /* 150 ms later: one more; the bucket holds one, so what it would have
     * gained beyond is gone: the next is 100 ms after this one */
    assert_int_equal(take_all(&b, T0 + 250000), 1);
    assert_false(qxs_pace_take(&b, T0 + 349999));
    assert_true(qxs_pace_take(&b, T0 + 350000));
}

static void test_refill_stops_at_the_burst_after_a_long_idle(void **state)
{
    (void)state;
    qxs_pace b;
    qxs_pace_init(&b, 1000000, T0);
    (void)take_all(&b, T0);
    /* a day later: still one call, and no overflow */
    assert_int_equal(take_all(&b, T0 + 86400 * US_PER_S), 1);
    qxs_pace_init(&b, 60, T0);
    (void)take_all(&b, T0);
    assert_int_equal(take_all(&b, T0 + 3600 * US_PER_S), 1);
}

static void test_wait_is_the_time_to_the_next_token(void **state)
{
    (void)state;
    qxs_pace b;
    qxs_pace_init(&b, 300, T0); /* one per 200 ms */
    assert_int_equal(qxs_pace_wait_us(&b, T0), 0);
    (void)take_all(&b, T0);
    assert_int_equal(qxs_pace_wait_us(&b, T0), 200000);
    assert_int_equal(qxs_pace_wait_us(&b, T0 + 150000), 50000);
    assert_int_equal(qxs_pace_wait_us(&b, T0 + 200000), 0);
    /* waiting takes nothing */
    assert_true(qxs_pace_take(&b, T0 + 200000));
    assert_int_equal(qxs_pace_wait_us(&b, T0 + 200000), 200000);
}

static void test_wait_rounds_up(void **state)
{
    (void)state;
    qxs_pace b;
    qxs_pace_init(&b, 7, T0); /* one per 8.571428... s */
    assert_true(qxs_pace_take(&b, T0));
    int64_t w = qxs_pace_wait_us(&b, T0);
    assert_int_equal(w, 8571429);
    assert_false(qxs_pace_take(&b, T0 + w - 1));
    assert_true(qxs_pace_take(&b, T0 + w));
}

/* Over any window, a sender that takes a token per call sends at most the
 * burst plus the rate times the window. */
static void test_sustained_rate_never_exceeds_rate_plus_burst(void **state)
{
    (void)state;
    qxs_pace b;
    qxs_pace_init(&b, 120, T0); /* 2 a second, burst 1 */
    int sent = 0;
    for (int64_t t = T0; t <= T0 + 10 * US_PER_S; t += 1000) /* try every ms */
        sent += take_all(&b, t);
    assert_int_equal(sent, 1 + 20);
}

static void test_a_clock_going_back_takes_nothing_extra(void **state)
{
    (void)state;
    qxs_pace b;
    qxs_pace_init(&b, 60, T0);
    assert_true(qxs_pace_take(&b, T0));
    assert_false(qxs_pace_take(&b, T0 - 5 * US_PER_S));
    assert_true(qxs_pace_wait_us(&b, T0 - 5 * US_PER_S) > 0);
}

static void test_rate_text_per_minute_and_per_second(void **state)
{
    (void)state;
    long n = 0;
    qx_error err;
    assert_int_equal(qxs_pace_parse_rate("300/min", &n, &err), 0);
    assert_int_equal(n, 300);
    assert_int_equal(qxs_pace_parse_rate("5/s", &n, &err), 0);
    assert_int_equal(n, 300);
    assert_int_equal(qxs_pace_parse_rate("1000000/min", &n, &err), 0);
    assert_int_equal(n, 1000000);
    assert_int_equal(qxs_pace_parse_rate("16666/s", &n, &err), 0);
    assert_int_equal(n, 999960);
    assert_int_equal(qxs_pace_parse_rate("1/min", &n, &err), 0);
    assert_int_equal(n, 1);
}

static void test_rate_text_refuses_anything_else(void **state)
{
    (void)state;
    const char *bad[] = {"300",
                         "300/m",
                         "300/minute",
                         "300 /min",
                         " 300/min",
                         "/min",
                         "0/min",
                         "-5/min",
                         "+5/min",
                         "1000001/min",
                         "16667/s",
                         "5/s/min",
                         "5.5/s",
                         "3e2/min",
                         "300/MIN",
                         "",
                         "abc/min",
                         "300/h",
                         "99999999999999999999/min",
                         "5/ s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long n = 42;
        qx_error err;
        if (qxs_pace_parse_rate(bad[i], &n, &err) != -1)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_int_equal(n, 42);
        assert_non_null(strstr(err.text, "expected N/min"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_is_one_call_not_a_minutes),
        cmocka_unit_test(test_burst_is_at_least_one_call),
        cmocka_unit_test(test_refill_is_continuous_at_the_rate),
        cmocka_unit_test(test_refill_stops_at_the_burst_after_a_long_idle),
        cmocka_unit_test(test_wait_is_the_time_to_the_next_token),
        cmocka_unit_test(test_wait_rounds_up),
        cmocka_unit_test(test_sustained_rate_never_exceeds_rate_plus_burst),
        cmocka_unit_test(test_a_clock_going_back_takes_nothing_extra),
        cmocka_unit_test(test_rate_text_per_minute_and_per_second),
        cmocka_unit_test(test_rate_text_refuses_anything_else),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
