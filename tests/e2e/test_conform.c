/*
 * test_conform.c — `qx-mock conform` grading real senders: qx-send passes
 * every rule (JUnit: one testcase per rule); each deliberately flawed
 * sender of fixtures/senders/ (a curl loop without retries, a Python sender
 * retrying everything at once, one ignoring the rate limit) fails exactly
 * the rules it breaks and passes the others; a team's own profiles and
 * mapping are graded too; bad usage exits 2 before anything runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define QX_MOCK QX_BIN_DIR "/qx-mock"
#define SENDERS QX_SOURCE_DIR "/fixtures/senders"
/* A sender runs about ten seconds; a loaded CI machine gets ten times that. */
#define RUN_TIMEOUT_MS 240000

static char *tmp;
static char path_env[8192];

static int setup(void **state)
{
    (void)state;
    tmp = qxt_tempdir();
    /* The flawed senders render their payloads with the qx-send built here. */
    const char *path = getenv("PATH");
    snprintf(path_env, sizeof path_env, "PATH=%s:%s", QX_BIN_DIR,
             path != NULL ? path : "/usr/bin:/bin");
    return tmp != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    qxt_remove_dir(tmp);
    free(tmp);
    return 0;
}

/* Runs qx-mock conform with args (NULL-terminated) plus --report; returns
 * its exit status and the report (NULL when none). */
static int conform(const char *const *args, json_t **report, char **out)
{
    char report_path[600];
    snprintf(report_path, sizeof report_path, "%s/report.json", tmp);
    remove(report_path);
    const char *argv[24] = {QX_MOCK, "conform", "--report", report_path};
    size_t n = 4;
    for (size_t i = 0; args[i] != NULL && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    const char *env[] = {path_env, NULL};
    char *err = NULL;
    int rc = qxt_run(argv, NULL, env, out, &err, RUN_TIMEOUT_MS);
    if (rc != 0 && rc != 1)
        fprintf(stderr, "qx-mock conform exited %d:\n%s\n", rc, err != NULL ? err : "");
    free(err);
    *report = json_load_file(report_path, 0, NULL);
    return rc;
}

/* The failed rules of a report, comma-separated in report order. */
static void failed_rules(json_t *report, char *out, size_t size)
{
    out[0] = '\0';
    size_t i;
    json_t *rule;
    json_array_foreach(json_object_get(report, "rules"), i, rule)
    {
        if (strcmp(json_string_value(json_object_get(rule, "verdict")), "fail") != 0)
            continue;
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s%s", used > 0 ? "," : "",
                 json_string_value(json_object_get(rule, "rule")));
    }
}

/* The flawed sender `name` fails exactly `expected` (comma-separated). */
static void assert_fails_exactly(const char *name, const char *expected)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s/%s", SENDERS, name);
    const char *args[] = {"--sender-cmd", cmd, NULL};
    json_t *report = NULL;
    char *out = NULL;
    int rc = conform(args, &report, &out);
    char failed[512];
    failed_rules(report, failed, sizeof failed);
    if (strcmp(failed, expected) != 0)
        fprintf(stderr, "%s: failed %s, expected %s\n%s", name, failed, expected, out);
    assert_int_equal(rc, 1);
    assert_non_null(report);
    assert_int_equal(json_array_size(json_object_get(report, "rules")), 10);
    assert_string_equal(failed, expected);
    /* Each failure names its evidence: a request or a profile line. */
    size_t i;
    json_t *rule;
    json_array_foreach(json_object_get(report, "rules"), i, rule)
    {
        if (strcmp(json_string_value(json_object_get(rule, "verdict")), "fail") != 0)
            continue;
        json_t *first = json_array_get(json_object_get(rule, "evidence"), 0);
        assert_true(json_object_get(first, "requestId") != NULL ||
                    json_object_get(first, "line") != NULL);
        assert_non_null(json_string_value(json_object_get(rule, "source")));
    }
    char summary[64];
    size_t n_failed = 1;
    for (const char *c = expected; *c; c++)
        n_failed += *c == ',';
    snprintf(summary, sizeof summary, "%zu passed, %zu failed\n", 10 - n_failed, n_failed);
    assert_non_null(strstr(out, summary));
    json_decref(report);
    free(out);
}

static void test_qx_send_passes_every_rule(void **state)
{
    (void)state;
    char junit[600];
    snprintf(junit, sizeof junit, "%s/conform.xml", tmp);
    const char *args[] = {"--junit", junit, "--seed", "7", NULL};
    json_t *report = NULL;
    char *out = NULL;
    int rc = conform(args, &report, &out);
    char failed[512];
    failed_rules(report, failed, sizeof failed);
    if (rc != 0)
        fprintf(stderr, "qx-send failed: %s\n%s", failed, out);
    assert_int_equal(rc, 0);
    assert_string_equal(failed, "");
    assert_non_null(strstr(out, "PASS retry-after\n"));
    assert_non_null(strstr(out, "10 passed, 0 failed\n"));
    assert_true(json_is_true(json_object_get(report, "passed")));
    /* More requests than payloads: the planned faults were met and retried. */
    assert_true(json_integer_value(json_object_get(report, "requests")) >
                json_integer_value(json_object_get(report, "payloads")));
    char *xml = qxt_read_file(junit);
    assert_non_null(xml);
    size_t cases = 0;
    for (const char *p = xml; (p = strstr(p, "<testcase ")) != NULL; p++)
        cases++;
    assert_int_equal(cases, 10);
    assert_non_null(strstr(xml, "name=\"no-retry-on-4xx\""));
    assert_null(strstr(xml, "<failure"));
    free(xml);
    json_decref(report);
    free(out);
}

static void test_curl_loop_without_retries(void **state)
{
    (void)state;
    assert_fails_exactly("curl-no-retry.sh", "retry,complete");
}

static void test_retrying_everything_at_once(void **state)
{
    (void)state;
    assert_fails_exactly("retry-at-once.py", "retry,retry-after,no-retry-on-4xx");
}

static void test_ignoring_the_rate_limit(void **state)
{
    (void)state;
    assert_fails_exactly("unpaced.py", "rate");
}

/* A team's profiles and mapping: the use-case scenario's. */
static void test_own_profiles_and_mapping(void **state)
{
    (void)state;
    const char *args[] = {"--profiles",
                          QX_SOURCE_DIR "/fixtures/scenarios/use-case-1-csat/profiles.ndjson",
                          "--mapping",
                          QX_SOURCE_DIR "/fixtures/scenarios/use-case-1-csat/mapping-email.json",
                          "--sender-cmd",
                          SENDERS "/curl-no-retry.sh",
                          NULL};
    json_t *report = NULL;
    char *out = NULL;
    int rc = conform(args, &report, &out);
    assert_int_equal(rc, 1);
    char failed[512];
    failed_rules(report, failed, sizeof failed);
    /* No retries: whatever met a fault is lost. */
    assert_non_null(strstr(failed, "retry"));
    assert_non_null(strstr(failed, "complete"));
    assert_null(strstr(failed, "payload"));
    assert_true(json_integer_value(json_object_get(report, "payloads")) >= 3);
    json_decref(report);
    free(out);
}

static void test_bad_usage_exits_2(void **state)
{
    (void)state;
    char *bad = qxt_write_file(tmp, "bad.ndjson", "{\"identityMap\": {}}\nnot json\n");
    assert_non_null(bad);
    const char *half[] = {"--profiles", bad, NULL};
    const char *bad_line[] = {"--profiles", bad, "--mapping",
                              QX_SOURCE_DIR "/fixtures/mappings/demo.json", NULL};
    const char *unknown[] = {"--bogus", NULL};
    const char *junit[] = {"--junit", "/nonexistent-dir/x.xml", NULL};
    const char *const *cases[] = {half, bad_line, unknown, junit};
    const char *says[] = {"together", "bad.ndjson:2",
                          "unknown option '--bogus'; try 'qx-mock conform --help'",
                          "/nonexistent-dir/x.xml"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[12] = {QX_MOCK, "conform"};
        size_t n = 2;
        for (size_t k = 0; cases[i][k] != NULL; k++)
            argv[n++] = cases[i][k];
        char *err = NULL;
        int rc = qxt_run(argv, NULL, NULL, NULL, &err, 30000);
        assert_int_equal(rc, 2);
        assert_non_null(err);
        if (strstr(err, says[i]) == NULL)
            fprintf(stderr, "case %zu: %s", i, err);
        assert_non_null(strstr(err, says[i]));
        free(err);
    }
    free(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_usage_exits_2),
        cmocka_unit_test(test_qx_send_passes_every_rule),
        cmocka_unit_test(test_curl_loop_without_retries),
        cmocka_unit_test(test_retrying_everything_at_once),
        cmocka_unit_test(test_ignoring_the_rate_limit),
        cmocka_unit_test(test_own_profiles_and_mapping),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
