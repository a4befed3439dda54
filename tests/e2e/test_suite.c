/*
 * test_suite.c — `qx-mock suite` over the project's own scenarios, a broken
 * scenario that must fail with a useful first difference, a team's own
 * sender through --sender-cmd, and reproducing a history: the same scenario
 * and seed export the same history twice, and replaying an export into a
 * fresh emulator gives the same statuses, event data and errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define SCENARIOS QX_SOURCE_DIR "/fixtures/scenarios"
#define QX_MOCK QX_BIN_DIR "/qx-mock"
#define QX_SEND QX_BIN_DIR "/qx-send"

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

static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* Every directory under fixtures/scenarios, as suite arguments. */
static size_t scenario_dirs(const char **argv, size_t max, char names[][512])
{
    DIR *d = opendir(SCENARIOS);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(names[n], 512, "%s/%s", SCENARIOS, e->d_name);
        argv[n] = names[n];
        n++;
    }
    closedir(d);
    return n;
}

static void test_every_fixture_scenario_passes(void **state)
{
    (void)state;
    const char *argv[64] = {QX_MOCK, "suite"};
    char names[32][512];
    size_t n = scenario_dirs(argv + 2, 32, names);
    assert_true(n >= 6);
    char junit[600];
    snprintf(junit, sizeof junit, "%s/junit.xml", tmp);
    argv[2 + n] = "--junit";
    argv[3 + n] = junit;
    argv[4 + n] = NULL;
    char *out = NULL, *err = NULL;
    int rc = qxt_run(argv, NULL, NULL, &out, &err, 240000);
    if (rc != 0)
        fprintf(stderr, "%s%s", out, err);
    assert_int_equal(rc, 0);
    char closing[64];
    snprintf(closing, sizeof closing, "%zu passed, 0 failed", n);
    assert_non_null(strstr(out, closing));
    assert_non_null(strstr(out, "PASS use-case-1-csat"));
    assert_non_null(strstr(out, "PASS consent"));
    char *xml = qxt_read_file(junit);
    assert_non_null(xml);
    assert_non_null(strstr(xml, "<testsuite name=\"qx-mock suite\""));
    assert_null(strstr(xml, "<failure"));
    free(xml);
    free(out);
    free(err);
}

static void test_broken_expectation_fails_with_first_difference(void **state)
{
    (void)state;
    assert_int_equal(sh("cp -r '%s/use-case-2-onboarding' '%s/broken' && "
                        "sed -i '1s/\"status\": \"SUCCESS\"/\"status\": \"FAILURE\"/' "
                        "'%s/broken/expected-runs.ndjson' && "
                        "sed -i 's/\"name\": \"use-case-2-onboarding\"/\"name\": \"broken-copy\"/' "
                        "'%s/broken/scenario.json'",
                        SCENARIOS, tmp, tmp, tmp),
                     0);
    char dir[600], junit[600];
    snprintf(dir, sizeof dir, "%s/broken", tmp);
    snprintf(junit, sizeof junit, "%s/broken.xml", tmp);
    const char *argv[] = {QX_MOCK, "suite", dir, SCENARIOS "/seed-example", "--junit", junit, NULL};
    char *out = NULL;
    assert_int_equal(qxt_run(argv, NULL, NULL, &out, NULL, 120000), 1);
    assert_non_null(strstr(out, "FAIL broken-copy: run 1 ("));
    assert_non_null(strstr(out, "status is \"SUCCESS\", expected \"FAILURE\""));
    assert_non_null(strstr(out, "PASS seed-example"));
    assert_non_null(strstr(out, "1 passed, 1 failed"));
    char *xml = qxt_read_file(junit);
    assert_non_null(strstr(xml, "<failure message=\"run 1 ("));
    free(xml);
    free(out);
}

static void test_missing_expected_run_is_reported(void **state)
{
    (void)state;
    assert_int_equal(
        sh("cp -r '%s/hashed-email' '%s/extra' && "
           "head -1 '%s/extra/expected-runs.ndjson' >> '%s/extra/expected-runs.ndjson'",
           SCENARIOS, tmp, tmp, tmp),
        0);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/extra", tmp);
    /* A deadline only: the scenario ends once the sender exits and no run
     * is RUNNING; under valgrind the sender takes seconds. */
    const char *argv[] = {QX_MOCK, "suite", dir, "--timeout-ms", "60000", NULL};
    char *out = NULL;
    assert_int_equal(qxt_run(argv, NULL, NULL, &out, NULL, 60000), 1);
    assert_non_null(strstr(out, "2 runs recorded"));
    assert_non_null(strstr(out, "expected 3"));
    assert_non_null(strstr(out, "; missing: expected run 3 {"));
    free(out);
}

static void test_an_extra_run_is_named(void **state)
{
    (void)state;
    assert_int_equal(sh("cp -r '%s/use-case-2-onboarding' '%s/short' && "
                        "sed -i '$d' '%s/short/expected-runs.ndjson'",
                        SCENARIOS, tmp, tmp),
                     0);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/short", tmp);
    const char *argv[] = {QX_MOCK, "suite", dir, NULL};
    char *out = NULL;
    assert_int_equal(qxt_run(argv, NULL, NULL, &out, NULL, 60000), 1);
    assert_non_null(strstr(out, "; extra: run "));
    assert_non_null(strstr(out, "(WF_"));
    assert_null(strstr(out, "missing:"));
    free(out);
}

/* The sender's real end, an <error> in JUnit, and its output kept. */
static void run_broken_sender(const char *cmd, const char *says, const char *tag)
{
    char junit[600];
    snprintf(junit, sizeof junit, "%s/broken-sender.xml", tmp);
    const char *argv[] = {
        QX_MOCK, "suite", SCENARIOS "/seed-example", "--sender-cmd", cmd, "--junit", junit, NULL};
    char *out = NULL;
    assert_int_equal(qxt_run(argv, NULL, NULL, &out, NULL, 60000), 1);
    if (strstr(out, says) == NULL)
        fprintf(stderr, "%s", out);
    assert_non_null(strstr(out, says));
    assert_non_null(strstr(out, "0 passed, 1 failed"));
    char *xml = qxt_read_file(junit);
    assert_non_null(xml);
    char open_tag[32];
    snprintf(open_tag, sizeof open_tag, "<%s message=\"", tag);
    assert_non_null(strstr(xml, open_tag));
    assert_non_null(strstr(xml, strcmp(tag, "error") == 0 ? "errors=\"1\"" : "failures=\"1\""));
    free(xml);
    free(out);
}

static void test_a_sender_that_breaks_is_an_error_with_its_real_end(void **state)
{
    (void)state;
    run_broken_sender("no-such-sender-qx",
                      "ERROR seed-example: sender for destination 1: "
                      "command not found (exit status 127)",
                      "error");
    run_broken_sender("kill -9 $$", "killed by signal 9", "error");
    run_broken_sender("exit 5", "exited with status 5", "error");
    /* Exit 1 is judged by what was recorded: nothing was, a failure. */
    run_broken_sender("echo to-stdout-\\<1\\>; echo to-stderr >&2; exit 1",
                      "FAIL seed-example: 0 runs recorded", "failure");
    char junit[600];
    snprintf(junit, sizeof junit, "%s/broken-sender.xml", tmp);
    char *xml = qxt_read_file(junit);
    assert_non_null(xml);
    assert_non_null(strstr(xml, "<system-out>to-stdout-&lt;1&gt;\n</system-out>"));
    assert_non_null(strstr(xml, "<system-err>to-stderr\n</system-err>"));
    free(xml);
}

static void test_usage_problems_are_refused_before_running(void **state)
{
    (void)state;
    assert_int_equal(sh("cp -r '%s/seed-example' '%s/twin'", SCENARIOS, tmp), 0);
    char twin[600];
    snprintf(twin, sizeof twin, "%s/twin", tmp);
    const char *same[] = {QX_MOCK, "suite", SCENARIOS "/seed-example", twin, NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(qxt_run(same, NULL, NULL, &out, &err, 60000), 2);
    assert_non_null(strstr(err, "are both named \"seed-example\""));
    assert_null(strstr(out, "PASS"));
    free(out);
    free(err);
    const char *junit[] = {
        QX_MOCK, "suite", SCENARIOS "/seed-example", "--junit", "/nonexistent-dir/j.xml", NULL};
    assert_int_equal(qxt_run(junit, NULL, NULL, &out, &err, 60000), 2);
    assert_non_null(strstr(err, "--junit /nonexistent-dir/j.xml: No such file or directory"));
    assert_null(strstr(out, "PASS"));
    free(out);
    free(err);
}

static void test_kept_history_is_named_after_the_directory(void **state)
{
    (void)state;
    assert_int_equal(sh("cp -r '%s/seed-example' '%s/my-dir'", SCENARIOS, tmp), 0);
    char dir[600], hist[600], file[700];
    snprintf(dir, sizeof dir, "%s/my-dir", tmp);
    snprintf(hist, sizeof hist, "%s/kept", tmp);
    snprintf(file, sizeof file, "%s/my-dir.ndjson", hist);
    const char *argv[] = {QX_MOCK, "suite", dir, "--keep-history", hist, NULL};
    char *out = NULL;
    assert_int_equal(qxt_run(argv, NULL, NULL, &out, NULL, 60000), 0);
    assert_non_null(strstr(out, "PASS seed-example (1 run, "));
    char *text = qxt_read_file(file);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"workflowId\""));
    free(text);
    free(out);
}

static void test_a_teams_own_sender_is_held_to_the_same_expectations(void **state)
{
    (void)state;
    /* A shell pipeline: render with qx-send, post each payload with curl.
     * The token reaches curl through a config file, never its arguments. */
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "set -e; umask 077; cfg=$(mktemp); "
             "printf 'user = \"%%s:%%s\"\\n' \"$QX_USERNAME\" \"$QX_API_TOKEN\" > \"$cfg\"; "
             "'%s' render --mapping \"$QX_MAPPING\" \"$QX_PROFILES\" 2>/dev/null | "
             "while IFS= read -r line; do printf '%%s' \"$line\" | "
             "curl -sS -o /dev/null -K \"$cfg\" -H 'Content-Type: application/json' "
             "--data-binary @- \"$QX_URL\"; done; rm -f \"$cfg\"",
             QX_SEND);
    const char *argv[] = {QX_MOCK,
                          "suite",
                          SCENARIOS "/use-case-2-onboarding",
                          SCENARIOS "/seed-example",
                          "--sender-cmd",
                          cmd,
                          NULL};
    char *out = NULL, *err = NULL;
    int rc = qxt_run(argv, NULL, NULL, &out, &err, 120000);
    if (rc != 0)
        fprintf(stderr, "%s%s", out, err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "2 passed, 0 failed"));
    free(out);
    free(err);
}

/* Reads an export and drops the wall-clock fields. */
static json_t *history_without_clock(const char *path)
{
    char *text = qxt_read_file(path);
    assert_non_null(text);
    json_t *all = json_array();
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_t *run = json_loads(line, 0, NULL);
        assert_non_null(run);
        json_object_del(run, "receivedAt");
        json_object_del(run, "finishedAt");
        json_array_append_new(all, run);
    }
    free(text);
    return all;
}

static void test_same_scenario_and_seed_export_the_same_history(void **state)
{
    (void)state;
    char h1[600], h2[600];
    snprintf(h1, sizeof h1, "%s/h1", tmp);
    snprintf(h2, sizeof h2, "%s/h2", tmp);
    const char *a1[] = {QX_MOCK,
                        "suite",
                        SCENARIOS "/use-case-1-csat",
                        SCENARIOS "/use-case-2-onboarding",
                        "--keep-history",
                        h1,
                        NULL};
    const char *a2[] = {QX_MOCK,
                        "suite",
                        SCENARIOS "/use-case-1-csat",
                        SCENARIOS "/use-case-2-onboarding",
                        "--keep-history",
                        h2,
                        NULL};
    assert_int_equal(qxt_run(a1, NULL, NULL, NULL, NULL, 120000), 0);
    assert_int_equal(qxt_run(a2, NULL, NULL, NULL, NULL, 120000), 0);
    const char *names[] = {"use-case-1-csat", "use-case-2-onboarding"};
    for (size_t i = 0; i < 2; i++) {
        char p1[700], p2[700];
        snprintf(p1, sizeof p1, "%s/%s.ndjson", h1, names[i]);
        snprintf(p2, sizeof p2, "%s/%s.ndjson", h2, names[i]);
        json_t *x = history_without_clock(p1), *y = history_without_clock(p2);
        assert_true(json_array_size(x) >= 4);
        /* Ids are drawn from the seed, so they repeat too. */
        assert_true(json_equal(x, y));
        json_decref(x);
        json_decref(y);
    }
}

static void test_replaying_an_export_reproduces_the_sequence(void **state)
{
    (void)state;
    char keep[600], export_path[700];
    snprintf(keep, sizeof keep, "%s/keep", tmp);
    snprintf(export_path, sizeof export_path, "%s/use-case-2-onboarding.ndjson", keep);
    const char *a[] = {QX_MOCK,          "suite", SCENARIOS "/use-case-2-onboarding",
                       "--keep-history", keep,    NULL};
    assert_int_equal(qxt_run(a, NULL, NULL, NULL, NULL, 120000), 0);

    qxt_mock m;
    const char *const extra[] = {"--seed", "11", NULL};
    assert_int_equal(qxt_mock_start(&m, SCENARIOS "/use-case-2-onboarding/workflows.json", extra),
                     0);
    char dest_text[1024], *dest;
    snprintf(dest_text, sizeof dest_text,
             "{\"name\": \"replay\", \"url\": \"%s/inbound-event/v1/events/json/triggers?"
             "urlTokenId=e4d3c2b1-a0f9-4e8d-b7c6-5a4b3c2d1e0f\", \"username\": "
             "\"hr-integration@example.com\", \"passwordEnv\": \"QX_API_TOKEN\"}",
             m.base_url);
    dest = qxt_write_file(tmp, "dest.json", dest_text);
    const char *argv[] = {QX_SEND, "replay", "--destination", dest, export_path, NULL};
    const char *env[] = {"QX_API_TOKEN=QX-HR-TOKEN-0002", NULL};
    char *err = NULL;
    int rc = qxt_run(argv, NULL, env, NULL, &err, 60000);
    if (rc != 0)
        fprintf(stderr, "%s", err);
    assert_int_equal(rc, 0);
    free(err);

    json_t *orig = history_without_clock(export_path);
    size_t n = json_array_size(orig);
    char url[512];
    snprintf(url, sizeof url, "%s/_qx/v1/runs/wait?count=%zu&timeoutMs=10000", m.base_url, n);
    qxt_response r;
    assert_int_equal(qxt_http("GET", url, NULL, 0, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *answer = qxt_response_json(&r);
    json_t *got = json_object_get(answer, "runs");
    assert_int_equal(json_array_size(got), n);
    const char *same[] = {"workflowId", "status", "eventData", "conditionsMet", "error", "payload"};
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof same / sizeof same[0]; k++)
            assert_true(json_equal(json_object_get(json_array_get(orig, i), same[k]),
                                   json_object_get(json_array_get(got, i), same[k])) ||
                        (json_object_get(json_array_get(orig, i), same[k]) == NULL &&
                         json_object_get(json_array_get(got, i), same[k]) == NULL));
    json_decref(orig);
    json_decref(answer);
    qxt_response_free(&r);
    free(dest);
    qxt_mock_stop(&m, SIGTERM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_fixture_scenario_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_expectation_fails_with_first_difference, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_expected_run_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_extra_run_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_sender_that_breaks_is_an_error_with_its_real_end,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_problems_are_refused_before_running, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kept_history_is_named_after_the_directory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_teams_own_sender_is_held_to_the_same_expectations,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_scenario_and_seed_export_the_same_history, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replaying_an_export_reproduces_the_sequence, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
