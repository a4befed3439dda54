/*
 * test_whatif_diff.c — comparing a recorded run with its replay by content
 * (mock-server/suite/whatif_diff.c): what is compared and what is not, an
 * exported RUNNING run's final status, absent against null, tasks by
 * position, and the words of each difference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "whatif_internal.h"

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    assert_non_null(v);
    return v;
}

/* The differences of two run documents, in words; kinds filled. */
static char *compare_runs(const char *old_text, const char *now_text, bool *kinds)
{
    json_t *old_run = parse(old_text), *now_run = parse(now_text);
    json_t *old = whatif_run_outcome(old_run), *now = whatif_run_outcome(now_run);
    json_t *diffs = json_array();
    assert_int_equal(whatif_compare(old, now, diffs, kinds), 0);
    char *text = whatif_diff_text(diffs);
    assert_non_null(text);
    json_decref(old_run);
    json_decref(now_run);
    json_decref(old);
    json_decref(now);
    json_decref(diffs);
    return text;
}

#define RUN(status, extra)                                                                         \
    "{\"id\": \"RUN_a\", \"workflowId\": \"WF_x\", \"workflowName\": \"A\", \"status\": \"" status \
    "\", \"receivedAt\": \"2026-01-01T00:00:00.000Z\", \"conditionsMet\": true, "                  \
    "\"eventData\": {\"email\": \"a@x\"}, \"tasks\": [{\"type\": \"xm_directory_contact\", "       \
    "\"status\": \"SUCCESS\", \"error\": null, \"result\": {\"contactId\": \"CID_1\"}, "           \
    "\"inputs\": {\"email\": \"a@x\"}}], \"error\": null" extra "}"

static void test_ids_times_names_and_results_are_not_compared(void **state)
{
    (void)state;
    bool kinds[QXM_WHATIF_N_KINDS] = {false};
    const char *other = "{\"id\": \"RUN_b\", \"workflowId\": \"WF_x\", \"workflowName\": \"B\", "
                        "\"status\": \"SUCCESS\", \"receivedAt\": \"2027-01-01T00:00:00.000Z\", "
                        "\"conditionsMet\": true, \"eventData\": {\"email\": \"a@x\"}, "
                        "\"tasks\": [{\"type\": \"xm_directory_contact\", \"status\": "
                        "\"SUCCESS\", \"error\": null, \"result\": {\"contactId\": \"CID_2\"}, "
                        "\"inputs\": {\"email\": \"other\"}}], \"error\": null, "
                        "\"duplicateOf\": \"RUN_a\"}";
    char *text = compare_runs(RUN("SUCCESS", ""), other, kinds);
    assert_string_equal(text, "");
    for (int k = 0; k < QXM_WHATIF_N_KINDS; k++)
        assert_false(kinds[k]);
    free(text);
}

static void test_a_running_export_ends_as_its_record_implies(void **state)
{
    (void)state;
    bool kinds[QXM_WHATIF_N_KINDS] = {false};
    char *text = compare_runs(RUN("RUNNING", ""), RUN("SUCCESS", ""), kinds);
    assert_string_equal(text, "");
    free(text);
    text = compare_runs(RUN("RUNNING", ", \"x\": 1"),
                        RUN("FAILURE", "") /* same record, another status */, kinds);
    assert_string_equal(text, "status SUCCESS -> FAILURE");
    assert_true(kinds[QXM_WHATIF_STATUS]);
    free(text);
}

static void test_absent_and_null_differ(void **state)
{
    (void)state;
    bool kinds[QXM_WHATIF_N_KINDS] = {false};
    const char *with_null = "{\"status\": \"SUCCESS\", \"conditionsMet\": true, \"eventData\": "
                            "{\"email\": \"a@x\", \"firstName\": null}, \"tasks\": [], "
                            "\"error\": null}";
    const char *without = "{\"status\": \"SUCCESS\", \"conditionsMet\": true, \"eventData\": "
                          "{\"email\": \"a@x\"}, \"tasks\": [], \"error\": null}";
    char *text = compare_runs(with_null, without, kinds);
    assert_string_equal(text, "eventData.firstName null -> (absent)");
    assert_true(kinds[QXM_WHATIF_EVENT_DATA]);
    free(text);
}

static void test_tasks_by_position(void **state)
{
    (void)state;
    bool kinds[QXM_WHATIF_N_KINDS] = {false};
    const char *two = "{\"status\": \"FAILURE\", \"conditionsMet\": true, \"eventData\": {}, "
                      "\"tasks\": [{\"type\": \"xm_directory_contact\", \"status\": \"SUCCESS\", "
                      "\"error\": null}, {\"type\": \"email_distribution\", \"status\": "
                      "\"FAILURE\", \"error\": \"invalid email\"}], \"error\": \"task 2\"}";
    const char *one = "{\"status\": \"SUCCESS\", \"conditionsMet\": true, \"eventData\": {}, "
                      "\"tasks\": [{\"type\": \"xm_directory_contact\", \"status\": \"FAILURE\", "
                      "\"error\": \"x\"}], \"error\": null}";
    char *text = compare_runs(two, one, kinds);
    assert_string_equal(text, "status FAILURE -> SUCCESS; tasks[0].status SUCCESS -> FAILURE; "
                              "tasks[0].error null -> \"x\"; tasks[1] email_distribution "
                              "FAILURE -> (absent); error \"task 2\" -> null");
    assert_true(kinds[QXM_WHATIF_TASKS]);
    assert_true(kinds[QXM_WHATIF_ERROR]);
    assert_false(kinds[QXM_WHATIF_CONDITIONS]);
    free(text);
}

static void test_long_values_are_cut(void **state)
{
    (void)state;
    char old_text[512], now_text[512];
    char long_value[201];
    memset(long_value, 'a', 200);
    long_value[200] = '\0';
    snprintf(old_text, sizeof old_text,
             "{\"status\": \"SUCCESS\", \"eventData\": {\"v\": \"%s\"}, \"tasks\": []}",
             long_value);
    snprintf(now_text, sizeof now_text,
             "{\"status\": \"SUCCESS\", \"eventData\": {\"v\": 1}, \"tasks\": []}");
    bool kinds[QXM_WHATIF_N_KINDS] = {false};
    char *text = compare_runs(old_text, now_text, kinds);
    assert_non_null(strstr(text, "aaa... -> 1"));
    assert_true(strlen(text) < 120);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_times_names_and_results_are_not_compared),
        cmocka_unit_test(test_a_running_export_ends_as_its_record_implies),
        cmocka_unit_test(test_absent_and_null_differ),
        cmocka_unit_test(test_tasks_by_position),
        cmocka_unit_test(test_long_values_are_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
