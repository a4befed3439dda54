/*
 * test_conform_rules.c — the conformance kit's grading on tapes written by hand:
 * each rule fails on the evidence it names and passes when that evidence
 * is absent (backoff that does not grow, a retry before Retry-After, a
 * retried 400, a payload resent after its 200 but not after a lost answer,
 * updates of one identity taken out of order, 429s at and under 1%, a
 * token in the URL), the payload's structure checks, and the fault plan
 * (seeded: the same seed, the same plan; every payload's faults leave it
 * deliverable within the platform's two retries).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform_internal.h"

static const char mapping_text[] =
    "{\"audiences\": [\"aud-1\"], \"identities\": [{\"source\": \"Email\", \"target\": "
    "\"email\"}], \"attributes\": []}";

/* Three updates of one identity (lines 1-3), one of another (line 4). */
static const char profiles_text[] =
    "{\"identityMap\": {\"Email\": [{\"id\": \"a@example.com\"}]}, \"segmentMembership\": "
    "{\"ups\": "
    "{\"aud-1\": {\"status\": \"realized\", \"lastQualificationTime\": "
    "\"2026-11-20T09:00:00Z\"}}}}\n"
    "{\"identityMap\": {\"Email\": [{\"id\": \"a@example.com\"}]}, \"segmentMembership\": "
    "{\"ups\": "
    "{\"aud-1\": {\"status\": \"realized\", \"lastQualificationTime\": "
    "\"2026-11-20T09:01:00Z\"}}}}\n"
    "{\"identityMap\": {\"Email\": [{\"id\": \"a@example.com\"}]}, \"segmentMembership\": "
    "{\"ups\": "
    "{\"aud-1\": {\"status\": \"exited\", \"lastQualificationTime\": \"2026-11-20T09:02:00Z\"}}}}\n"
    "{\"identityMap\": {\"Email\": [{\"id\": \"b@example.com\"}]}, \"segmentMembership\": "
    "{\"ups\": "
    "{\"aud-1\": {\"status\": \"realized\", \"lastQualificationTime\": "
    "\"2026-11-20T09:03:00Z\"}}}}\n";

typedef struct fixture {
    conform_expect e;
    conform_tape t;
    qxm_conform_result res;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    json_t *mapping = json_loads(mapping_text, 0, NULL);
    qx_error err;
    if (f == NULL || mapping == NULL ||
        conform_expect_build(&f->e, mapping, profiles_text, strlen(profiles_text), "profiles",
                             &err) != 0 ||
        conform_tape_init(&f->t, &f->e, "s3cr3t-token") != 0) {
        json_decref(mapping);
        free(f);
        return -1;
    }
    json_decref(mapping);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    qxm_conform_result_clear(&f->res);
    conform_tape_free(&f->t);
    conform_expect_free(&f->e);
    free(f);
    return 0;
}

/* Appends a request for payload p (-1: none) arriving at `at`, answered
 * one ms later with status. */
static conform_request *add(fixture *f, long p, int64_t at, int status)
{
    conform_request *grown = realloc(f->t.r, (f->t.n + 1) * sizeof *grown);
    assert_non_null(grown);
    f->t.r = grown;
    conform_request *rq = &f->t.r[f->t.n++];
    *rq = (conform_request){.at_ms = at,
                            .answered_ms = at + 1,
                            .expected = p,
                            .auth = AUTH_BASIC,
                            .ended = true,
                            .status = status};
    snprintf(rq->request_id, sizeof rq->request_id, "req-%zu", f->t.n);
    return rq;
}

/* conform_check_payload on a body's text. */
static void check_text(const char *content_type, const char *body, size_t len, char *problem,
                       size_t size)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    conform_check_payload(content_type, doc, len, problem, size);
    json_decref(doc);
}

/* Every payload answered 200 once, in input order, from time `at` on. */
static void deliver_all(fixture *f, int64_t at)
{
    for (size_t i = 0; i < f->e.n; i++)
        add(f, (long)i, at + (int64_t)i * 10, 200);
}

static const qxm_rule_result *grade(fixture *f, const char *rule)
{
    qxm_conform_result_clear(&f->res);
    assert_int_equal(conform_grade(&f->t, 240, 4, &f->res), 0);
    assert_int_equal(f->res.n_rules, QXM_CONFORM_RULES);
    for (size_t i = 0; i < f->res.n_rules; i++)
        if (strcmp(f->res.rules[i].rule, rule) == 0)
            return &f->res.rules[i];
    fail_msg("no rule %s", rule);
    return NULL;
}

static void test_a_clean_run_passes_every_rule(void **state)
{
    fixture *f = *state;
    assert_int_equal(f->e.n, 4);
    deliver_all(f, 0);
    qxm_conform_result_clear(&f->res);
    assert_int_equal(conform_grade(&f->t, 240, 4, &f->res), 0);
    for (size_t i = 0; i < f->res.n_rules; i++) {
        if (!f->res.rules[i].passed)
            fail_msg("%s: %s", f->res.rules[i].rule, f->res.rules[i].summary);
    }
    assert_true(qxm_conform_passed(&f->res));
}

static void test_backoff_must_grow(void **state)
{
    fixture *f = *state;
    /* 503, retried after 100 ms; 500, retried after 10 ms: no backoff. */
    add(f, 3, 0, 503);
    add(f, 3, 101, 500);
    add(f, 3, 112, 200);
    for (size_t i = 0; i < 3; i++)
        add(f, (long)i, 1000 + 10 * (int64_t)i, 200);
    const qxm_rule_result *r = grade(f, "retry");
    assert_false(r->passed);
    assert_non_null(strstr(r->summary, "no backoff"));
    assert_non_null(strstr(r->summary, "req-3"));

    /* The second wait twice the first: backoff. */
    f->t.r[2].at_ms = 101 + 1 + 200;
    r = grade(f, "retry");
    assert_true(r->passed);
}

static void test_retryable_answers_must_be_retried(void **state)
{
    fixture *f = *state;
    add(f, 0, 0, 0); /* dropped, never sent again */
    for (size_t i = 1; i < f->e.n; i++)
        add(f, (long)i, 10 * (int64_t)i, 200);
    const qxm_rule_result *r = grade(f, "retry");
    assert_false(r->passed);
    assert_non_null(strstr(r->summary, "dropped connection"));
    assert_false(grade(f, "complete")->passed);
}

static void test_retry_after_is_honoured(void **state)
{
    fixture *f = *state;
    conform_request *rq = add(f, 3, 0, 429);
    rq->retry_after_s = 2;
    rq->planned.status = 429;
    add(f, 3, 1500, 200); /* 1,499 ms after the answer: early */
    for (size_t i = 0; i < 3; i++)
        add(f, (long)i, 3000 + 10 * (int64_t)i, 200);
    const qxm_rule_result *r = grade(f, "retry-after");
    assert_false(r->passed);
    assert_non_null(strstr(r->summary, "Retry-After: 2"));
    assert_true(grade(f, "rate")->passed); /* a planned 429 is not the bucket's */

    f->t.r[1].at_ms = 2001;
    assert_true(grade(f, "retry-after")->passed);
}

static void test_client_errors_are_not_retried(void **state)
{
    fixture *f = *state;
    deliver_all(f, 0);
    add(f, 1, 100, 400);
    assert_true(grade(f, "no-retry-on-4xx")->passed);
    add(f, 1, 200, 400);
    const qxm_rule_result *r = grade(f, "no-retry-on-4xx");
    assert_false(r->passed);
    assert_non_null(strstr(r->summary, "answered 400"));
}

static void test_no_payload_is_sent_again_after_its_200(void **state)
{
    fixture *f = *state;
    /* The answer lost after the run was recorded: the retry is fine. */
    conform_request *lost = add(f, 0, 0, 200);
    lost->drop_after = true;
    deliver_all(f, 100);
    assert_true(grade(f, "no-duplicates")->passed);
    assert_true(grade(f, "order")->passed);
    add(f, 2, 500, 200);
    const qxm_rule_result *r = grade(f, "no-duplicates");
    assert_false(r->passed);
    assert_non_null(strstr(r->summary, "sent again"));
}

static void test_updates_of_one_identity_keep_input_order(void **state)
{
    fixture *f = *state;
    add(f, 1, 0, 200); /* line 2 taken first */
    add(f, 0, 10, 200);
    add(f, 2, 20, 200);
    add(f, 3, 5, 200);
    const qxm_rule_result *r = grade(f, "order");
    assert_false(r->passed);
    assert_non_null(strstr(r->summary, "line 2 was taken before line 1"));
    assert_true(grade(f, "exits")->passed);
}

static void test_rate_limit_share_under_one_percent(void **state)
{
    fixture *f = *state;
    deliver_all(f, 0);
    for (int i = 0; i < 146; i++)
        add(f, -1, 100 + i, 404); /* filler: 150 requests in all */
    add(f, 0, 400, 429)->retry_after_s = 1;
    f->t.r[f->t.n - 1].expected = -1;
    assert_true(grade(f, "rate")->passed); /* 1 of 151 */
    f->t.n = 40;
    add(f, -1, 400, 429);
    const qxm_rule_result *r = grade(f, "rate");
    assert_false(r->passed); /* 1 of 41 */
    assert_non_null(strstr(r->summary, "1 of 41 requests"));
}

static void test_auth_and_token_in_url(void **state)
{
    fixture *f = *state;
    deliver_all(f, 0);
    assert_true(grade(f, "auth")->passed);
    f->t.r[1].token_in_url = true;
    assert_false(grade(f, "auth")->passed);
    f->t.r[1].token_in_url = false;
    f->t.r[2].auth = AUTH_NONE;
    assert_non_null(strstr(grade(f, "auth")->summary, "no credentials"));
}

static void test_payload_structure(void **state)
{
    (void)state;
    const char *ok = "{\"identityMap\": {\"Email\": [{\"id\": \"a@example.com\"}]}, "
                     "\"segmentMembership\": {\"ups\": {\"s\": {\"status\": \"exited\", "
                     "\"lastQualificationTime\": \"2026-11-20T09:00:00.5+01:00\"}}}}";
    char problem[240];
    check_text("application/json; charset=utf-8", ok, strlen(ok), problem, sizeof problem);
    assert_string_equal(problem, "");
    check_text("text/plain", ok, strlen(ok), problem, sizeof problem);
    assert_non_null(strstr(problem, "Content-Type"));
    static const struct {
        const char *body, *says;
    } bad[] = {
        {"[1]", "not a JSON object"},
        {"{\"identityMap\": {\"ECID\": [{\"id\": \"1\"}]}}", "\"ECID\""},
        {"{\"identityMap\": {\"Email\": [{\"id\": "
         "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"}]}}",
         "hashed"},
        {"{\"identityMap\": {\"Email\": [{}]}}", "no \"id\""},
        {"{\"identityMap\": {\"Email\": [{\"id\": \"a@x.org\"}]}, \"segmentMembership\": "
         "{\"ups\": {\"s\": {\"status\": \"existing\", \"lastQualificationTime\": "
         "\"2026-11-20T09:00:00Z\"}}}}",
         "status"},
        {"{\"identityMap\": {\"Email\": [{\"id\": \"a@x.org\"}]}, \"segmentMembership\": "
         "{\"ups\": {\"s\": {\"status\": \"realized\", \"lastQualificationTime\": 1700000000}}}}",
         "RFC 3339"},
        {"{\"identityMap\": {\"Email\": [{\"id\": \"a@x.org\"}]}}", "segmentMembership"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        check_text("application/json", bad[i].body, strlen(bad[i].body), problem, sizeof problem);
        if (strstr(problem, bad[i].says) == NULL)
            fail_msg("case %zu: \"%s\" does not say %s", i, problem, bad[i].says);
    }
    size_t big = QXM_MAX_BODY_BYTES + 1;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, ' ', big);
    check_text("application/json", huge, big, problem, sizeof problem);
    assert_non_null(strstr(problem, "over 100 KB"));
    free(huge);
}

static void test_the_plan_is_seeded_and_deliverable(void **state)
{
    fixture *f = *state;
    conform_expect_plan(&f->e, 42);
    fault_program first[8];
    for (size_t i = 0; i < f->e.n; i++)
        first[i] = f->e.p[i].program;
    conform_expect_plan(&f->e, 42);
    size_t faulted = 0, always_400 = 0;
    for (size_t i = 0; i < f->e.n; i++) {
        assert_int_equal(f->e.p[i].program, first[i]);
        faulted += f->e.p[i].program != FP_NONE;
        always_400 += f->e.p[i].program == FP_400_ALWAYS;
        /* At most two faults: the platform's two retries get it through. */
        expected_payload p = f->e.p[i];
        p.steps_imposed = 2;
        qxm_planned_fault third = conform_program_step(&p);
        if (p.program != FP_400_ALWAYS)
            assert_true(third.status == 0 && !third.drop_before && !third.drop_after);
    }
    assert_int_equal(always_400, 1);
    assert_int_equal(faulted, f->e.n - f->e.n / 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_clean_run_passes_every_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backoff_must_grow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retryable_answers_must_be_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_is_honoured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_errors_are_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_payload_is_sent_again_after_its_200, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_updates_of_one_identity_keep_input_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_share_under_one_percent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_and_token_in_url, setup, teardown),
        cmocka_unit_test(test_payload_structure),
        cmocka_unit_test_setup_teardown(test_the_plan_is_seeded_and_deliverable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
