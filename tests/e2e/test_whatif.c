/*
 * test_whatif.c — `qx-mock whatif` on the recorded history of the use-case
 * scenarios (fixtures/whatif/): the unchanged config and a renamed workflow
 * change nothing; each fixture change names exactly its differences (the
 * lines of changes/<name>.expected, and what they mean checked in the
 * JSON report and the JUnit file); exit statuses with and without
 * --expect-changes; a run recorded without credentials is gone when auth
 * is required; skipped journal entries; strict history errors naming file
 * and line; usage errors; no API token in any output.
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

#define FIX QX_SOURCE_DIR "/fixtures/whatif"
#define HISTORY FIX "/history.ndjson"
#define CONFIG FIX "/workflows.json"
#define QX_MOCK QX_BIN_DIR "/qx-mock"
#define TIMEOUT_MS 60000

static char *tmp;

static int setup(void **state)
{
    (void)state;
    tmp = qxt_tempdir();
    return tmp != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    qxt_remove_dir(tmp);
    free(tmp);
    return 0;
}

/* What one whatif run gave. */
typedef struct result {
    int status;
    char *out, *err;
    json_t *report; /* --report, NULL when not written */
    char *junit;    /* --junit text, NULL when not written */
} result;

static void result_free(result *r)
{
    free(r->out);
    free(r->err);
    free(r->junit);
    json_decref(r->report);
}

/* Runs qx-mock whatif on history and config with --report and --junit,
 * plus the options in extra (NULL-terminated; may be NULL). */
static result whatif_with(const char *history, const char *config, const char *const *extra)
{
    char report[1024], junit[1024];
    snprintf(report, sizeof report, "%s/report.json", tmp);
    snprintf(junit, sizeof junit, "%s/junit.xml", tmp);
    remove(report);
    remove(junit);
    const char *argv[24] = {QX_MOCK, "whatif",   "--history", history,   "--config",
                            config,  "--report", report,      "--junit", junit};
    size_t n = 10;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n + 1 < 24; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    result r = {0};
    r.status = qxt_run(argv, NULL, NULL, &r.out, &r.err, TIMEOUT_MS);
    r.report = json_load_file(report, 0, NULL);
    r.junit = qxt_read_file(junit);
    return r;
}

/* The same with at most one extra option (NULL: none). */
static result whatif(const char *history, const char *config, const char *extra)
{
    const char *const more[] = {extra, NULL};
    return whatif_with(history, config, more);
}

/* The PAYLOAD / CHANGED / NEW / GONE lines of out, in order. */
static char *difference_lines(const char *out)
{
    size_t n = strlen(out);
    char *lines = calloc(1, n + 1);
    assert_non_null(lines);
    for (const char *p = out; *p != '\0';) {
        size_t len = strcspn(p, "\n");
        if (strncmp(p, "CHANGED ", 8) == 0 || strncmp(p, "NEW ", 4) == 0 ||
            strncmp(p, "GONE ", 5) == 0 || strncmp(p, "PAYLOAD ", 8) == 0) {
            strncat(lines, p, len);
            strcat(lines, "\n");
        }
        p += len + (p[len] == '\n');
    }
    return lines;
}

static json_int_t summary(const result *r, const char *key)
{
    assert_non_null(r->report);
    json_t *v = json_object_get(json_object_get(r->report, "summary"), key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

/* Checks the lines of r against changes/<name>.expected. */
static void expect_lines(const result *r, const char *name)
{
    char expected_path[1024];
    snprintf(expected_path, sizeof expected_path, FIX "/changes/%s.expected", name);
    char *expected = qxt_read_file(expected_path), *got = difference_lines(r->out);
    assert_non_null(expected);
    assert_string_equal(got, expected);
    free(expected);
    free(got);
    assert_int_equal(summary(r, "recorded"), 12);
}

/* Runs the config change and checks its lines. */
static result change(const char *name)
{
    char config[1024];
    snprintf(config, sizeof config, FIX "/changes/%s.json", name);
    result r = whatif(HISTORY, config, NULL);
    expect_lines(&r, name);
    return r;
}

#define OLD_MAPPING QX_SOURCE_DIR "/fixtures/scenarios/use-case-1-csat/mapping-email.json"
#define PROFILES QX_SOURCE_DIR "/fixtures/scenarios/use-case-1-csat/profiles.ndjson"

/* Runs config (a file of changes/, or NULL: the recorded config) with the
 * new mapping changes/<mapping>.json. */
static result mapping_change(const char *config, const char *mapping)
{
    char config_path[1024], mapping_path[1024];
    snprintf(config_path, sizeof config_path, FIX "/changes/%s.json", config);
    snprintf(mapping_path, sizeof mapping_path, FIX "/changes/%s.json", mapping);
    const char *const extra[] = {
        "--mapping", mapping_path, "--old-mapping", OLD_MAPPING, "--profiles", PROFILES, NULL};
    return whatif_with(HISTORY, config != NULL ? config_path : CONFIG, extra);
}

/* The report's entries of workflow wf, each checked by check. */
static size_t each_entry(const result *r, const char *wf, void (*check)(const json_t *))
{
    size_t i, n = 0;
    json_t *e;
    json_array_foreach(json_object_get(r->report, "entries"), i, e)
    {
        const char *w = json_string_value(json_object_get(e, "workflowId"));
        if (w != NULL && strcmp(w, wf) == 0) {
            check(e);
            n++;
        }
    }
    return n;
}

/* The difference of e on field, or NULL. */
static json_t *difference(const json_t *e, const char *field)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(e, "differences"), i, d)
    {
        if (strcmp(json_string_value(json_object_get(d, "field")), field) == 0)
            return d;
    }
    return NULL;
}

static void test_unchanged_config_changes_nothing(void **state)
{
    (void)state;
    result r = whatif(HISTORY, CONFIG, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "\n12 unchanged, 0 changed\n"));
    assert_int_equal(summary(&r, "unchanged"), 12);
    assert_non_null(r.junit);
    assert_non_null(strstr(r.junit, "tests=\"12\" failures=\"0\" skipped=\"0\""));
    assert_null(strstr(r.junit, "<failure"));
    result_free(&r);

    /* Expected changes that do not come fail the build. */
    r = whatif(HISTORY, CONFIG, "--expect-changes");
    assert_int_equal(r.status, 1);
    result_free(&r);
}

static void test_renamed_workflow_is_a_no_op(void **state)
{
    (void)state;
    result r = change("renamed-workflow");
    assert_int_equal(r.status, 0);
    assert_int_equal(summary(&r, "unchanged"), 12);
    assert_non_null(strstr(r.out, "\n12 unchanged, 0 changed\n"));
    result_free(&r);
}

static void lost_email(const json_t *e)
{
    json_t *d = difference(e, "eventData.email");
    assert_string_equal(json_string_value(json_object_get(e, "verdict")), "changed");
    assert_non_null(d);
    assert_true(json_is_string(json_object_get(d, "old")));
    assert_true(json_is_null(json_object_get(d, "new")));
    assert_non_null(difference(e, "conditionsMet"));
}

static void test_jsonpath_typo_loses_the_field_in_every_run(void **state)
{
    (void)state;
    result r = change("jsonpath-typo");
    assert_int_equal(r.status, 1);
    assert_int_equal(each_entry(&r, "WF_csat_email", lost_email), 3);
    assert_int_equal(summary(&r, "changed"), 3);
    json_t *by_kind = json_object_get(json_object_get(r.report, "summary"), "changedByKind");
    assert_int_equal(json_integer_value(json_object_get(by_kind, "eventData")), 3);
    assert_int_equal(json_integer_value(json_object_get(by_kind, "status")), 1);
    assert_non_null(strstr(r.junit, "failures=\"3\""));
    assert_non_null(strstr(r.out, "\n9 unchanged, 3 changed\n"));
    result_free(&r);

    /* The same change, expected: success. */
    r = whatif(HISTORY, FIX "/changes/jsonpath-typo.json", "--expect-changes");
    assert_int_equal(r.status, 0);
    result_free(&r);
}

static void test_tightened_condition(void **state)
{
    (void)state;
    result r = change("tightened-condition");
    assert_int_equal(r.status, 1);
    assert_int_equal(summary(&r, "changed"), 1);
    json_t *by_kind = json_object_get(json_object_get(r.report, "summary"), "changedByKind");
    assert_int_equal(json_integer_value(json_object_get(by_kind, "conditionsMet")), 1);
    assert_int_equal(json_integer_value(json_object_get(by_kind, "eventData")), 0);
    result_free(&r);
}

static void lost_distribution(const json_t *e)
{
    const char *verdict = json_string_value(json_object_get(e, "verdict"));
    if (strcmp(verdict, "unchanged") == 0)
        return; /* conditions not met: no task ran before either */
    json_t *d = difference(e, "tasks[1]");
    assert_string_equal(verdict, "changed");
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "old"), "type")),
                        "email_distribution");
    assert_null(json_object_get(d, "new"));
    assert_int_equal(json_array_size(json_object_get(e, "differences")), 1);
}

static void test_removed_task(void **state)
{
    (void)state;
    result r = change("removed-task");
    assert_int_equal(r.status, 1);
    assert_int_equal(each_entry(&r, "WF_onboarding_survey", lost_distribution), 4);
    assert_int_equal(summary(&r, "changed"), 2);
    result_free(&r);
}

static void gone(const json_t *e)
{
    assert_string_equal(json_string_value(json_object_get(e, "verdict")), "gone");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(e, "replayed"), "httpStatus")), 200);
}

static void test_disabled_workflow_runs_are_gone(void **state)
{
    (void)state;
    result r = change("disabled-workflow");
    assert_int_equal(r.status, 1);
    assert_int_equal(each_entry(&r, "WF_app_feedback", gone), 2);
    assert_int_equal(summary(&r, "gone"), 2);
    assert_int_equal(summary(&r, "changed"), 0);
    assert_non_null(strstr(r.out, "\n10 unchanged, 2 changed\n"));
    result_free(&r);
}

static void test_removed_workflow_runs_are_gone(void **state)
{
    (void)state;
    char config[1024], cmd[2048];
    snprintf(config, sizeof config, "%s/removed.json", tmp);
    snprintf(cmd, sizeof cmd,
             "jq '.workflows |= map(select(.id != \"WF_onboarding_survey\"))' %s >%s", CONFIG,
             config);
    assert_int_equal(system(cmd), 0);
    result r = whatif(HISTORY, config, NULL);
    assert_int_equal(r.status, 1);
    assert_int_equal(summary(&r, "gone"), 4);
    assert_non_null(strstr(r.out, "GONE RUN_JYDHKIsSgWg7TaG (WF_onboarding_survey): no run now: "
                                  "the workflow is not in the new config\n"));
    assert_non_null(strstr(r.out, "\n8 unchanged, 4 changed\n"));
    result_free(&r);
}

static void now_new(const json_t *e)
{
    assert_string_equal(json_string_value(json_object_get(e, "kind")), "request");
    assert_string_equal(json_string_value(json_object_get(e, "verdict")), "new");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e, "replayed"), "status")), "SUCCESS");
}

static void test_journalled_requests_start_runs_once_enabled(void **state)
{
    (void)state;
    result r = change("enabled-workflow");
    assert_int_equal(r.status, 1);
    assert_int_equal(each_entry(&r, "WF_csat_purchase", now_new), 3);
    assert_int_equal(summary(&r, "new"), 3);
    result_free(&r);
}

/* A copy of the history whose runs of WF_app_feedback recorded no user
 * (sent without credentials), and a config where that workflow needs none. */
static void test_auth_now_required(void **state)
{
    (void)state;
    char history[1024], config[1024], cmd[4096];
    snprintf(history, sizeof history, "%s/anonymous.ndjson", tmp);
    snprintf(config, sizeof config, "%s/no-auth.json", tmp);
    snprintf(cmd, sizeof cmd,
             "jq -c 'if .workflowId == \"WF_app_feedback\" then del(.user) else . end' %s >%s && "
             "jq '(.workflows[] | select(.id == \"WF_app_feedback\") | .authRequired) = false' "
             "%s >%s",
             HISTORY, history, CONFIG, config);
    assert_int_equal(system(cmd), 0);

    result r = whatif(history, config, NULL);
    assert_int_equal(r.status, 0);
    result_free(&r);

    r = whatif(history, CONFIG, NULL);
    assert_int_equal(r.status, 1);
    assert_int_equal(summary(&r, "gone"), 2);
    assert_non_null(strstr(r.out, "GONE RUN_YGnt0fJRgZqYx7K (WF_app_feedback): no run now: HTTP "
                                  "401: missing credentials"));
    result_free(&r);
}

static void test_unreplayable_journal_entries_are_skipped(void **state)
{
    (void)state;
    char history[1024];
    snprintf(history, sizeof history, "%s/skipped.ndjson", tmp);
    FILE *f = fopen(history, "w");
    assert_non_null(f);
    fputs("{\"id\":\"r-1\",\"receivedAt\":\"2026-03-02T09:00:00.000Z\",\"method\":\"POST\","
          "\"path\":\"/inbound-event/v1/events/json/triggers?urlTokenId=x\",\"httpStatus\":429,"
          "\"reason\":\"rate limit exceeded\",\"workflowId\":\"WF_app_feedback\"}\n"
          "{\"id\":\"r-2\",\"receivedAt\":\"2026-03-02T09:00:01.000Z\",\"method\":\"GET\","
          "\"path\":\"/inbound-event/v1/events/json/triggers\",\"httpStatus\":405,"
          "\"reason\":\"method GET not allowed\",\"workflowId\":null,\"body\":null}\n",
          f);
    fclose(f);
    result r = whatif(history, CONFIG, NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(summary(&r, "skipped"), 1);
    assert_int_equal(summary(&r, "unchanged"), 1);
    assert_non_null(strstr(r.junit, "<skipped message=\"refused by the API rate limit"));
    result_free(&r);
}

static void test_bad_history_names_file_and_line(void **state)
{
    (void)state;
    char history[1024];
    snprintf(history, sizeof history, "%s/bad.ndjson", tmp);
    char *first = qxt_read_file(HISTORY);
    assert_non_null(first);
    first[strcspn(first, "\n") + 1] = '\0';
    const char *const bad[] = {"{\"id\": \"RUN_1\", \"payload\": {}}\n", "[1, 2]\n", "{not json\n",
                               ("{\"id\":\"RUN_2\",\"workflowId\":\"WF_app_feedback\","
                                "\"payload\":{},\"receivedAt\":\"yesterday\"}\n")};
    const char *const why[] = {"line 2: a run needs a string \"workflowId\"",
                               "line 2: not a JSON object", "line 2", "not an RFC 3339 time"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        FILE *f = fopen(history, "w");
        assert_non_null(f);
        fputs(first, f);
        fputs(bad[i], f);
        fclose(f);
        result r = whatif(history, CONFIG, NULL);
        assert_int_equal(r.status, 2);
        assert_non_null(strstr(r.err, history));
        assert_non_null(strstr(r.err, why[i]));
        result_free(&r);
    }
    free(first);
}

static void test_usage(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    const char *help[] = {QX_MOCK, "whatif", "--help", NULL};
    assert_int_equal(qxt_run(help, NULL, NULL, &out, NULL, TIMEOUT_MS), 0);
    assert_non_null(strstr(out, "Usage: qx-mock whatif --history FILE --config NEW"));
    free(out);
    const char *none[] = {QX_MOCK, "whatif", "--history", HISTORY, NULL};
    assert_int_equal(qxt_run(none, NULL, NULL, NULL, &err, TIMEOUT_MS), 2);
    assert_non_null(strstr(err, "--config NEW"));
    free(err);
    const char *unknown[] = {QX_MOCK, "whatif", "--histroy", HISTORY, NULL};
    assert_int_equal(qxt_run(unknown, NULL, NULL, NULL, NULL, TIMEOUT_MS), 2);
    const char *missing[] = {QX_MOCK,    "whatif", "--history", "/nonexistent.ndjson",
                             "--config", CONFIG,   NULL};
    assert_int_equal(qxt_run(missing, NULL, NULL, NULL, &err, TIMEOUT_MS), 2);
    assert_non_null(strstr(err, "/nonexistent.ndjson"));
    free(err);
}

static void test_no_token_in_any_output(void **state)
{
    (void)state;
    static const char *const tokens[] = {"QX-CSAT-TOKEN-0001", "QX-HR-TOKEN-0002",
                                         "QX-TEST-TOKEN-1"};
    result r = whatif(HISTORY, FIX "/changes/enabled-workflow.json", NULL);
    char *report = json_dumps(r.report, 0);
    assert_non_null(report);
    for (size_t i = 0; i < 3; i++) {
        assert_null(strstr(r.out, tokens[i]));
        assert_null(strstr(r.err, tokens[i]));
        assert_null(strstr(report, tokens[i]));
        assert_null(strstr(r.junit, tokens[i]));
    }
    free(report);
    result_free(&r);
}

static void mapping_caused(const json_t *e)
{
    const char *verdict = json_string_value(json_object_get(e, "verdict"));
    if (strcmp(verdict, "unchanged") == 0)
        return;
    json_t *d = difference(e, "eventData.firstName");
    assert_string_equal(verdict, "changed");
    assert_string_equal(json_string_value(json_object_get(e, "cause")), "mapping");
    assert_true(json_is_integer(json_object_get(e, "profileLine")));
    assert_non_null(d);
    assert_true(json_is_null(json_object_get(d, "new")));
    assert_int_equal(json_array_size(json_object_get(e, "differences")), 1);
}

static void test_mapping_renames_an_attribute(void **state)
{
    (void)state;
    result r = mapping_change(NULL, "mapping-renamed-attribute");
    assert_int_equal(r.status, 1);
    expect_lines(&r, "mapping-renamed-attribute");
    assert_int_equal(each_entry(&r, "WF_csat_email", mapping_caused), 3);
    assert_int_equal(summary(&r, "changed"), 3);
    assert_int_equal(summary(&r, "payloadsChanged"), 3);
    json_t *p = json_array_get(json_object_get(r.report, "payloads"), 0);
    assert_int_equal(json_integer_value(json_object_get(p, "profileLine")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(p, "new"), "person"), "firstName")),
                        "Alice");
    result_free(&r);
}

static void test_mapping_and_config_effects_together(void **state)
{
    (void)state;
    result r = mapping_change("removed-task", "mapping-renamed-attribute");
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "CHANGED RUN_bE1k0kkBPmG7VkZ (WF_csat_email) [mapping]: "
                                  "eventData.firstName \"Alice\" -> null\n"));
    assert_non_null(strstr(r.out, "CHANGED RUN_JYDHKIsSgWg7TaG (WF_onboarding_survey) [config]: "
                                  "tasks[1] email_distribution SUCCESS -> (absent)\n"));
    assert_non_null(strstr(r.out, "\n7 unchanged, 5 changed\n"));
    result_free(&r);

    /* Both change the same runs. */
    r = mapping_change("jsonpath-typo", "mapping-renamed-attribute");
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "CHANGED RUN_bE1k0kkBPmG7VkZ (WF_csat_email) [mapping+config]: "
                                  "conditionsMet true -> false; eventData.email"));
    assert_int_equal(summary(&r, "changed"), 3);
    result_free(&r);
}

static void test_mapping_excludes_a_profile(void **state)
{
    (void)state;
    result r = mapping_change(NULL, "mapping-one-audience");
    assert_int_equal(r.status, 1);
    expect_lines(&r, "mapping-one-audience");
    assert_int_equal(summary(&r, "gone"), 1);
    assert_int_equal(summary(&r, "payloadsChanged"), 1);
    result_free(&r);
}

static void test_same_mapping_changes_nothing(void **state)
{
    (void)state;
    const char *const extra[] = {
        "--mapping", OLD_MAPPING, "--old-mapping", OLD_MAPPING, "--profiles", PROFILES, NULL};
    result r = whatif_with(HISTORY, CONFIG, extra);
    assert_int_equal(r.status, 0);
    assert_int_equal(summary(&r, "payloadsChanged"), 0);
    assert_non_null(strstr(r.out, "\n12 unchanged, 0 changed\n"));
    result_free(&r);
}

static void test_mapping_usage(void **state)
{
    (void)state;
    char *err = NULL;
    const char *alone[] = {QX_MOCK, "whatif",    "--history", HISTORY, "--config",
                           CONFIG,  "--mapping", OLD_MAPPING, NULL};
    assert_int_equal(qxt_run(alone, NULL, NULL, NULL, &err, TIMEOUT_MS), 2);
    assert_non_null(strstr(err, "--old-mapping OLD"));
    free(err);

    /* A mapping qx-send cannot load is named. */
    char bad[1024];
    snprintf(bad, sizeof bad, "%s/bad-mapping.json", tmp);
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("{\"audiences\": 3}\n", f);
    fclose(f);
    const char *const extra[] = {"--mapping", bad, "--old-mapping", OLD_MAPPING, "--profiles",
                                 PROFILES,    NULL};
    result r = whatif_with(HISTORY, CONFIG, extra);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, bad));
    result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unchanged_config_changes_nothing),
        cmocka_unit_test(test_renamed_workflow_is_a_no_op),
        cmocka_unit_test(test_jsonpath_typo_loses_the_field_in_every_run),
        cmocka_unit_test(test_tightened_condition),
        cmocka_unit_test(test_removed_task),
        cmocka_unit_test(test_disabled_workflow_runs_are_gone),
        cmocka_unit_test(test_removed_workflow_runs_are_gone),
        cmocka_unit_test(test_journalled_requests_start_runs_once_enabled),
        cmocka_unit_test(test_auth_now_required),
        cmocka_unit_test(test_unreplayable_journal_entries_are_skipped),
        cmocka_unit_test(test_bad_history_names_file_and_line),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_no_token_in_any_output),
        cmocka_unit_test(test_mapping_renames_an_attribute),
        cmocka_unit_test(test_mapping_and_config_effects_together),
        cmocka_unit_test(test_mapping_excludes_a_profile),
        cmocka_unit_test(test_same_mapping_changes_nothing),
        cmocka_unit_test(test_mapping_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
