/* test_config.c — strict loading of qx-mock's config file.
 *
 * Error cases are data: tests/data/config/invalid/<case>/config.json with
 * error.txt holding a part of the message the load must give;
 * tests/data/config/valid/<case>/config.json must load. Adding a case is
 * adding files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qxm_config.h"

#define CONFIG_DATA QX_SOURCE_DIR "/tests/data/config"
#define DEMO_CONFIG QX_SOURCE_DIR "/fixtures/workflows/demo.json"
#define SCENARIOS QX_SOURCE_DIR "/fixtures/scenarios"
#define PATH_MAX_LEN 1024

/* Reads a small text file without its trailing newlines. Owned; NULL if absent. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 4096);
    size_t n = buf != NULL ? fread(buf, 1, 4095, f) : 0;
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return buf;
}

typedef void (*case_fn)(const char *dir, const char *name, int *failures);

/* Calls fn on every case directory under root; returns how many there were. */
static int walk_cases(const char *root, case_fn fn, int *failures)
{
    DIR *d = opendir(root);
    assert_non_null(d);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char dir[PATH_MAX_LEN];
        snprintf(dir, sizeof dir, "%s/%s", root, e->d_name);
        fn(dir, e->d_name, failures);
        count++;
    }
    closedir(d);
    return count;
}

static void check_invalid_case(const char *dir, const char *name, int *failures)
{
    char path[PATH_MAX_LEN], err_path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "%s/config.json", dir);
    snprintf(err_path, sizeof err_path, "%s/error.txt", dir);
    char *want = read_text(err_path);
    qx_error err;
    qx_error_clear(&err);
    qxm_config *c = qxm_config_load_file(path, &err);
    if (want == NULL) {
        print_error("invalid/%s: no error.txt\n", name);
        (*failures)++;
    } else if (c != NULL) {
        print_error("invalid/%s: loaded, expected an error containing: %s\n", name, want);
        (*failures)++;
    } else if (strncmp(err.text, path, strlen(path)) != 0 || strstr(err.text, want) == NULL) {
        print_error("invalid/%s:\n  got:  %s\n  want: <path>: ...%s...\n", name, err.text, want);
        (*failures)++;
    }
    qxm_config_free(c);
    free(want);
}

static void check_valid_case(const char *dir, const char *name, int *failures)
{
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "%s/config.json", dir);
    qx_error err;
    qx_error_clear(&err);
    qxm_config *c = qxm_config_load_file(path, &err);
    if (c == NULL) {
        print_error("valid/%s: %s\n", name, err.text);
        (*failures)++;
    }
    qxm_config_free(c);
}

/* Every scenario's workflows.json is a config the emulator must take. */
static void check_scenario(const char *dir, const char *name, int *failures)
{
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "%s/workflows.json", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    fclose(f);
    qx_error err;
    qxm_config *c = qxm_config_load_file(path, &err);
    if (c == NULL) {
        print_error("scenario %s: %s\n", name, err.text);
        (*failures)++;
    }
    qxm_config_free(c);
}

static void test_invalid_configs_fail_naming_the_problem(void **state)
{
    (void)state;
    int failures = 0;
    int n = walk_cases(CONFIG_DATA "/invalid", check_invalid_case, &failures);
    assert_true(n >= 40);
    assert_int_equal(failures, 0);
}

static void test_valid_configs_load(void **state)
{
    (void)state;
    int failures = 0;
    int n = walk_cases(CONFIG_DATA "/valid", check_valid_case, &failures);
    assert_true(n >= 4);
    assert_int_equal(failures, 0);
}

static void test_scenario_workflows_load(void **state)
{
    (void)state;
    int failures = 0;
    assert_true(walk_cases(SCENARIOS, check_scenario, &failures) > 0);
    assert_int_equal(failures, 0);
}

static void test_demo_fixture_has_three_workflows(void **state)
{
    (void)state;
    qx_error err;
    qxm_config *c = qxm_config_load_file(DEMO_CONFIG, &err);
    if (c == NULL)
        fail_msg("%s", err.text);
    assert_int_equal(c->n_users, 1);
    assert_string_equal(c->users[0].username, "api-user@example.com");
    assert_string_equal(c->users[0].api_token, "QX-TEST-TOKEN-1");
    assert_int_equal(c->n_workflows, 3);

    const qxm_workflow *w = qxm_config_find_by_token(c, "6c1b1e2a-2f7e-4d8e-9a51-0f1d2c3b4a50");
    assert_non_null(w);
    assert_string_equal(w->id, "WF_csat_purchase");
    assert_string_equal(w->name, "CSAT after purchase");
    assert_true(w->enabled);
    assert_int_equal(w->n_event_data, 2);
    assert_int_equal(w->n_conditions, 1);
    assert_int_equal(w->conditions[0].op, QXM_OP_EXISTS);
    assert_null(w->conditions[0].value);
    assert_int_equal(w->n_tasks, 2);
    assert_int_equal(w->tasks[0].type, QXM_TASK_XM_DIRECTORY_CONTACT);
    assert_null(w->tasks[0].survey_id);
    assert_int_equal(w->tasks[1].type, QXM_TASK_EMAIL_DISTRIBUTION);
    assert_string_equal(w->tasks[1].survey_id, "SV_abc");
    assert_string_equal(json_string_value(json_object_get(w->tasks[1].inputs, "subject")),
                        "Hi ~{aedj://firstName}");

    w = qxm_config_find_by_id(c, "WF_app_feedback_extid");
    assert_non_null(w);
    assert_string_equal(w->event_data[0].name, "externalId");
    assert_string_equal(qx_jsonpath_text(w->event_data[0].path), "$.identityMap.external_id[0].id");

    w = qxm_config_find_by_id(c, "WF_disabled_example");
    assert_non_null(w);
    assert_false(w->enabled);

    assert_null(qxm_config_find_by_id(c, "WF_nope"));
    assert_null(qxm_config_find_by_token(c, "nope"));
    assert_null(qxm_config_find_by_token(c, NULL));
    qxm_config_free(c);
}

static qxm_config *from_text(const char *text, qx_error *err)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (root == NULL)
        fail_msg("test JSON: %s", jerr.text);
    qxm_config *c = qxm_config_from_json(root, err);
    json_decref(root);
    return c;
}

static void test_defaults_apply_to_a_minimal_workflow(void **state)
{
    (void)state;
    qx_error err;
    qxm_config *c = from_text(
        "{\"users\": [], \"workflows\": [{\"id\": \"WF_min\", \"urlTokenId\": \"t-1\"}]}", &err);
    if (c == NULL)
        fail_msg("%s", err.text);
    assert_int_equal(c->rate_limit_per_minute, QXM_DEFAULT_RATE_LIMIT_PER_MINUTE);
    assert_int_equal(c->history_retention_ms, 30 * 86400000LL); /* Qualtrics keeps 30 days */
    const qxm_workflow *w = &c->workflows[0];
    assert_string_equal(w->name, "WF_min");
    assert_true(w->enabled);
    assert_true(w->auth_required);
    assert_false(w->stop_on_task_failure);
    assert_int_equal(w->delay_min_ms, 0);
    assert_int_equal(w->delay_max_ms, 0);
    assert_int_equal(w->n_event_data, 0);
    assert_int_equal(w->n_conditions, 0);
    assert_int_equal(w->n_tasks, 0);
    qxm_config_free(c);
}

static void test_explicit_values_are_read(void **state)
{
    (void)state;
    qx_error err;
    qxm_config *c = from_text(
        "{\"users\": [{\"username\": \"u\", \"apiToken\": \"t\"}], \"rateLimitPerMinute\": 60,"
        " \"workflows\": [{\"id\": \"WF_x\", \"urlTokenId\": \"t-1\", \"name\": \"X\","
        " \"enabled\": false, \"authRequired\": false, \"onTaskFailure\": \"stop\","
        " \"delayMs\": [20, 80], \"eventData\": {\"n\": \"$.n\"},"
        " \"conditions\": [{\"field\": \"n\", \"op\": \"equals\", \"value\": 3}]}]}",
        &err);
    if (c == NULL)
        fail_msg("%s", err.text);
    assert_int_equal(c->rate_limit_per_minute, 60);
    const qxm_workflow *w = &c->workflows[0];
    assert_string_equal(w->name, "X");
    assert_false(w->enabled);
    assert_false(w->auth_required);
    assert_true(w->stop_on_task_failure);
    assert_int_equal(w->delay_min_ms, 20);
    assert_int_equal(w->delay_max_ms, 80);
    assert_int_equal(w->conditions[0].op, QXM_OP_EQUALS);
    assert_int_equal(json_integer_value(w->conditions[0].value), 3);
    qxm_config_free(c);
}

/* Days become milliseconds, rounded up: a tiny fraction still evicts. */
static void test_history_retention_days_become_milliseconds(void **state)
{
    (void)state;
    static const struct {
        const char *days;
        int64_t ms;
    } cases[] = {
        {"0", 0}, {"7", 7 * 86400000LL}, {"0.00002", 1728}, {"1e-12", 1}, {"0.5", 43200000}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "{\"users\": [], \"workflows\": [], \"historyRetentionDays\": %s}", cases[i].days);
        qx_error err;
        qxm_config *c = from_text(text, &err);
        if (c == NULL)
            fail_msg("%s: %s", cases[i].days, err.text);
        if (c->history_retention_ms != cases[i].ms)
            fail_msg("%s days: %lld ms, want %lld", cases[i].days,
                     (long long)c->history_retention_ms, (long long)cases[i].ms);
        qxm_config_free(c);
    }
}

static void test_missing_file_error_names_the_path(void **state)
{
    (void)state;
    qx_error err;
    qxm_config *c = qxm_config_load_file("/nonexistent/qx.json", &err);
    assert_null(c);
    assert_true(strncmp(err.text, "/nonexistent/qx.json: ", 22) == 0);
}

static void test_from_json_refuses_a_non_object(void **state)
{
    (void)state;
    qx_error err;
    json_t *arr = json_array();
    assert_null(qxm_config_from_json(arr, &err));
    assert_string_equal(err.text, "expected a JSON object");
    json_decref(arr);
    assert_null(qxm_config_from_json(NULL, NULL));
}

static void test_duplicate_token_error_does_not_quote_it(void **state)
{
    (void)state;
    qx_error err;
    qxm_config *c =
        from_text("{\"users\": [{\"username\": \"a\", \"apiToken\": \"SECRET-1\"},"
                  " {\"username\": \"b\", \"apiToken\": \"SECRET-1\"}], \"workflows\": []}",
                  &err);
    assert_null(c);
    assert_non_null(strstr(err.text, "users[1]"));
    assert_null(strstr(err.text, "SECRET"));
}

static void test_workflow_json_has_settings_and_no_token(void **state)
{
    (void)state;
    qx_error err;
    qxm_config *c = qxm_config_load_file(DEMO_CONFIG, &err);
    if (c == NULL)
        fail_msg("%s", err.text);
    for (size_t i = 0; i < c->n_workflows; i++) {
        json_t *j = qxm_workflow_to_json(&c->workflows[i]);
        assert_non_null(j);
        char *text = json_dumps(j, 0);
        assert_null(strstr(text, "QX-TEST-TOKEN-1"));
        assert_null(strstr(text, "apiToken"));
        free(text);
        json_decref(j);
    }
    json_t *j = qxm_workflow_to_json(&c->workflows[0]);
    json_t *want = json_loads(
        "{\"id\": \"WF_csat_purchase\", \"name\": \"CSAT after purchase\", \"enabled\": true,"
        " \"urlTokenId\": \"6c1b1e2a-2f7e-4d8e-9a51-0f1d2c3b4a50\", \"authRequired\": true,"
        " \"onTaskFailure\": \"continue\", \"delayMs\": [0, 0],"
        " \"eventData\": {\"email\": \"$.identityMap.Email[0].id\","
        "                 \"firstName\": \"$.person.name.firstName\"},"
        " \"conditions\": [{\"field\": \"email\", \"op\": \"exists\"}],"
        " \"tasks\": [{\"type\": \"xm_directory_contact\","
        "              \"inputs\": {\"email\": \"~{aedj://email}\","
        "                           \"firstName\": \"~{aedj://firstName}\"}},"
        "             {\"type\": \"email_distribution\", \"surveyId\": \"SV_abc\","
        "              \"inputs\": {\"email\": \"~{aedj://email}\","
        "                           \"subject\": \"Hi ~{aedj://firstName}\"}}]}",
        0, NULL);
    assert_non_null(want);
    if (!json_equal(j, want)) {
        char *got = json_dumps(j, JSON_SORT_KEYS);
        fail_msg("workflow JSON: %s", got);
    }
    json_decref(want);
    json_decref(j);
    qxm_config_free(c);
}

static void test_names_of_ops_and_task_types(void **state)
{
    (void)state;
    assert_string_equal(qxm_cond_op_name(QXM_OP_EXISTS), "exists");
    assert_string_equal(qxm_cond_op_name(QXM_OP_NOT_EXISTS), "not_exists");
    assert_string_equal(qxm_cond_op_name(QXM_OP_EQUALS), "equals");
    assert_string_equal(qxm_cond_op_name(QXM_OP_NOT_EQUALS), "not_equals");
    assert_string_equal(qxm_cond_op_name(QXM_OP_CONTAINS), "contains");
    assert_string_equal(qxm_task_type_name(QXM_TASK_XM_DIRECTORY_CONTACT), "xm_directory_contact");
    assert_string_equal(qxm_task_type_name(QXM_TASK_EMAIL_DISTRIBUTION), "email_distribution");
    qxm_config_free(NULL);
}

/* jansson's allocator hook fails the Nth allocation from arming on. */
static long allocs_left = -1;

static void *failing_malloc(size_t n)
{
    if (allocs_left == 0)
        return NULL;
    if (allocs_left > 0)
        allocs_left--;
    return malloc(n);
}

/* A load cut short by a failed allocation gives NULL with a message, or a
 * whole config, and leaks nothing (the sanitizer or valgrind checks that). */
static void test_load_survives_allocation_failures(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *root = json_load_file(DEMO_CONFIG, 0, &jerr);
    assert_non_null(root);
    json_set_alloc_funcs(failing_malloc, free);
    long n;
    for (n = 0; n < 10000; n++) {
        qx_error err;
        qx_error_clear(&err);
        allocs_left = n;
        qxm_config *c = qxm_config_from_json(root, &err);
        bool exhausted = allocs_left == 0;
        allocs_left = -1;
        if (c == NULL)
            assert_true(err.text[0] != '\0');
        if (c != NULL) {
            json_t *j = qxm_workflow_to_json(&c->workflows[0]);
            json_decref(j);
        }
        qxm_config_free(c);
        if (!exhausted) {
            assert_non_null(c);
            break;
        }
    }
    json_set_alloc_funcs(malloc, free);
    print_message("tried %ld allocation failure points\n", n);
    assert_true(n > 5 && n < 10000);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_configs_fail_naming_the_problem),
        cmocka_unit_test(test_valid_configs_load),
        cmocka_unit_test(test_scenario_workflows_load),
        cmocka_unit_test(test_demo_fixture_has_three_workflows),
        cmocka_unit_test(test_defaults_apply_to_a_minimal_workflow),
        cmocka_unit_test(test_explicit_values_are_read),
        cmocka_unit_test(test_history_retention_days_become_milliseconds),
        cmocka_unit_test(test_missing_file_error_names_the_path),
        cmocka_unit_test(test_from_json_refuses_a_non_object),
        cmocka_unit_test(test_duplicate_token_error_does_not_quote_it),
        cmocka_unit_test(test_workflow_json_has_settings_and_no_token),
        cmocka_unit_test(test_names_of_ops_and_task_types),
        cmocka_unit_test(test_load_survives_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
