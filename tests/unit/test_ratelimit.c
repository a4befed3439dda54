/* test_ratelimit.c — the per-user token bucket behind 429 answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "qxm_ratelimit.h"

static void test_admits_a_minutes_worth_then_refuses_with_retry_after(void **state)
{
    (void)state;
    qxm_ratelimit *rl = qxm_ratelimit_new(3);
    unsigned ra = 0;
    for (int i = 0; i < 3; i++)
        assert_true(qxm_ratelimit_take(rl, "u", 1000, &ra));
    assert_false(qxm_ratelimit_take(rl, "u", 1000, &ra));
    /* 3 per minute: one call back every 20 s. */
    assert_int_equal(ra, 20);
    assert_false(qxm_ratelimit_take(rl, "u", 11000, &ra));
    assert_int_equal(ra, 10);
    assert_true(qxm_ratelimit_take(rl, "u", 21000, &ra));
    qxm_ratelimit_free(rl);
}

static void test_users_have_separate_buckets(void **state)
{
    (void)state;
    qxm_ratelimit *rl = qxm_ratelimit_new(1);
    unsigned ra;
    assert_true(qxm_ratelimit_take(rl, "a", 0, &ra));
    assert_false(qxm_ratelimit_take(rl, "a", 0, &ra));
    assert_true(qxm_ratelimit_take(rl, "b", 0, &ra));
    qxm_ratelimit_reset(rl);
    assert_true(qxm_ratelimit_take(rl, "a", 0, &ra));
    qxm_ratelimit_free(rl);
}

static void test_zero_means_unlimited_and_set_changes_it(void **state)
{
    (void)state;
    qxm_ratelimit *rl = qxm_ratelimit_new(0);
    unsigned ra;
    for (int i = 0; i < 10000; i++)
        assert_true(qxm_ratelimit_take(rl, "a", 0, &ra));
    qxm_ratelimit_set(rl, 1);
    assert_true(qxm_ratelimit_take(rl, "a", 0, &ra));
    assert_false(qxm_ratelimit_take(rl, "a", 0, &ra));
    assert_int_equal(ra, 60);
    qxm_ratelimit_free(rl);
    qxm_ratelimit_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admits_a_minutes_worth_then_refuses_with_retry_after),
        cmocka_unit_test(test_users_have_separate_buckets),
        cmocka_unit_test(test_zero_means_unlimited_and_set_changes_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
