/*
 * test_report.c — report arithmetic: counts that add up, reasons, nearest-rank
 * percentiles, throughput, and the JSON document's shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "qxs_report.h"

static void test_counts_add_up(void **state)
{
    (void)state;
    qxs_report *r = qxs_report_new();
    for (int i = 0; i < 10; i++)
        qxs_report_read(r);
    for (int i = 0; i < 6; i++)
        qxs_report_activated(r);
    assert_int_equal(qxs_report_excluded(r, "noMappedIdentity"), 0);
    assert_int_equal(qxs_report_excluded(r, "hashedEmailOnly"), 0);
    assert_int_equal(qxs_report_failed(r, "http401"), 0);
    qxs_counts c = qxs_report_counts(r);
    assert_int_equal(c.in_flight, 1);
    assert_int_equal(qxs_report_failed(r, "malformedInput"), 0);
    qxs_report_retry(r);
    qxs_report_retry(r);
    c = qxs_report_counts(r);
    assert_int_equal(c.read, 10);
    assert_int_equal(c.activated + c.excluded + c.failed, c.read);
    assert_int_equal(c.in_flight, 0);
    assert_int_equal(c.retries, 2);
    qxs_report_free(r);
}

static void test_reasons_are_counted_by_name(void **state)
{
    (void)state;
    qxs_report *r = qxs_report_new();
    for (int i = 0; i < 5; i++)
        qxs_report_read(r);
    assert_int_equal(qxs_report_excluded(r, "noMappedIdentity"), 0);
    assert_int_equal(qxs_report_excluded(r, "noMappedIdentity"), 0);
    assert_int_equal(qxs_report_excluded(r, "notInActivatedAudience"), 0);
    assert_int_equal(qxs_report_failed(r, "http401"), 0);
    assert_int_equal(qxs_report_failed(r, "http401"), 0);
    json_t *doc = qxs_report_to_json(r);
    json_t *ex = json_object_get(doc, "excludedReasons");
    assert_int_equal(json_object_size(ex), 2);
    assert_int_equal(json_integer_value(json_object_get(ex, "noMappedIdentity")), 2);
    assert_int_equal(json_integer_value(json_object_get(ex, "notInActivatedAudience")), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "failedReasons"), "http401")), 2);
    json_decref(doc);
    qxs_report_free(r);
}

static void test_percentile_is_nearest_rank(void **state)
{
    (void)state;
    int64_t v[100];
    for (int i = 0; i < 100; i++)
        v[i] = i + 1; /* 1..100 */
    assert_int_equal(qxs_percentile(v, 100, 50), 50);
    assert_int_equal(qxs_percentile(v, 100, 95), 95);
    assert_int_equal(qxs_percentile(v, 100, 99), 99);
    assert_int_equal(qxs_percentile(v, 100, 100), 100);
    int64_t w[] = {15, 20, 35, 40, 50}; /* the textbook example */
    assert_int_equal(qxs_percentile(w, 5, 30), 20);
    assert_int_equal(qxs_percentile(w, 5, 40), 20);
    assert_int_equal(qxs_percentile(w, 5, 50), 35);
    assert_int_equal(qxs_percentile(w, 5, 100), 50);
    int64_t one[] = {7};
    assert_int_equal(qxs_percentile(one, 1, 50), 7);
    assert_int_equal(qxs_percentile(one, 1, 99), 7);
    assert_int_equal(qxs_percentile(NULL, 0, 50), 0);
}

static void test_latency_in_report_is_ms_percentiles(void **state)
{
    (void)state;
    qxs_report *r = qxs_report_new();
    /* 1 ms .. 100 ms, given out of order */
    for (int i = 100; i >= 1; i--)
        assert_int_equal(qxs_report_latency_us(r, (int64_t)i * 1000), 0);
    assert_int_equal(qxs_report_latency_us(r, 2500500), 0); /* one slow call: 2500.5 ms */
    json_t *doc = qxs_report_to_json(r);
    json_t *lat = json_object_get(doc, "latencyMs");
    assert_true(json_is_real(json_object_get(lat, "p50")));
    assert_float_equal(json_real_value(json_object_get(lat, "p50")), 51.0, 1e-9);
    assert_float_equal(json_real_value(json_object_get(lat, "p95")), 96.0, 1e-9);
    assert_float_equal(json_real_value(json_object_get(lat, "p99")), 100.0, 1e-9);
    assert_float_equal(json_real_value(json_object_get(lat, "max")), 2500.5, 1e-9);
    json_decref(doc);
    qxs_report_free(r);
}

static void test_latency_is_null_without_calls(void **state)
{
    (void)state;
    qxs_report *r = qxs_report_new();
    json_t *doc = qxs_report_to_json(r);
    json_t *lat = json_object_get(doc, "latencyMs");
    assert_true(json_is_null(json_object_get(lat, "p50")));
    assert_true(json_is_null(json_object_get(lat, "max")));
    json_decref(doc);
    qxs_report_free(r);
}

static void test_throughput_is_activated_per_second(void **state)
{
    (void)state;
    qxs_report *r = qxs_report_new();
    for (int i = 0; i < 300; i++) {
        qxs_report_read(r);
        if (i < 250)
            qxs_report_activated(r);
        else
            assert_int_equal(qxs_report_excluded(r, "noMappedIdentity"), 0);
    }
    qxs_report_set_elapsed_ms(r, 2000);
    json_t *doc = qxs_report_to_json(r);
    assert_float_equal(json_real_value(json_object_get(doc, "throughputPerSec")), 125.0, 1e-9);
    assert_int_equal(json_integer_value(json_object_get(doc, "elapsedMs")), 2000);
    json_decref(doc);
    qxs_report_set_elapsed_ms(r, 0);
    doc = qxs_report_to_json(r);
    assert_float_equal(json_real_value(json_object_get(doc, "throughputPerSec")), 0.0, 1e-9);
    json_decref(doc);
    qxs_report_free(r);
}

static void test_report_document_has_every_field(void **state)
{
    (void)state;
    qxs_report *r = qxs_report_new();
    json_t *doc = qxs_report_to_json(r);
    const char *fields[] = {"read",
                            "activated",
                            "excluded",
                            "failed",
                            "retries",
                            "excludedReasons",
                            "latencyMs",
                            "throughputPerSec",
                            "elapsedMs",
                            "failedReasons",
                            "rateLimitPerMinute",
                            "retryAfterPauses",
                            "retryAfterPausedMs"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        assert_non_null(json_object_get(doc, fields[i]));
    assert_true(json_is_integer(json_object_get(doc, "read")));
    json_decref(doc);
    qxs_report_free(r);
}

static void test_pacing_members_are_null_and_zero_when_unpaced(void **state)
{
    (void)state;
    qxs_report *r = qxs_report_new();
    json_t *doc = qxs_report_to_json(r);
    assert_true(json_is_null(json_object_get(doc, "rateLimitPerMinute")));
    assert_int_equal(json_integer_value(json_object_get(doc, "retryAfterPauses")), 0);
    assert_int_equal(json_integer_value(json_object_get(doc, "retryAfterPausedMs")), 0);
    json_decref(doc);
    qxs_report_free(r);
}

static void test_pacing_members_count_pauses_and_their_time(void **state)
{
    (void)state;
    qxs_report *r = qxs_report_new();
    qxs_report_set_rate_limit(r, 3000);
    qxs_report_retry_after_pause(r);
    qxs_report_retry_after_paused_ms(r, 1000);
    qxs_report_retry_after_pause(r);
    qxs_report_retry_after_paused_ms(r, 1500);
    qxs_report_retry_after_paused_ms(r, -5); /* nothing negative is added */
    json_t *doc = qxs_report_to_json(r);
    assert_int_equal(json_integer_value(json_object_get(doc, "rateLimitPerMinute")), 3000);
    assert_int_equal(json_integer_value(json_object_get(doc, "retryAfterPauses")), 2);
    assert_int_equal(json_integer_value(json_object_get(doc, "retryAfterPausedMs")), 2500);
    /* this process's own: not among the cumulative counts a state keeps */
    json_t *counts = qxs_report_counts_to_json(r);
    assert_null(json_object_get(counts, "rateLimitPerMinute"));
    assert_null(json_object_get(counts, "retryAfterPauses"));
    json_decref(counts);
    json_decref(doc);
    qxs_report_free(r);
}

static void test_resume_line_is_written_only_when_set(void **state)
{
    (void)state;
    qxs_report *r = qxs_report_new();
    json_t *doc = qxs_report_to_json(r);
    assert_null(json_object_get(doc, "resumeFromLine")); /* read to its end */
    json_decref(doc);
    qxs_report_set_resume_line(r, 42);
    assert_int_equal(qxs_report_resume_line(r), 42);
    doc = qxs_report_to_json(r);
    assert_int_equal(json_integer_value(json_object_get(doc, "resumeFromLine")), 42);
    json_decref(doc);
    qxs_report_free(r);
}

static void test_report_file_round_trips(void **state)
{
    (void)state;
    qxs_report *r = qxs_report_new();
    qxs_report_read(r);
    qxs_report_activated(r);
    assert_int_equal(qxs_report_latency_us(r, 1234), 0);
    char path[] = "/tmp/qxs-report-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    qx_error err;
    assert_int_equal(qxs_report_write_file(r, path, &err), 0);
    json_t *doc = json_load_file(path, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "activated")), 1);
    assert_float_equal(json_real_value(json_object_get(json_object_get(doc, "latencyMs"), "p50")),
                       1.234, 1e-9);
    json_decref(doc);
    unlink(path);
    assert_int_equal(qxs_report_write_file(r, "/nonexistent/dir/report.json", &err), -1);
    qxs_report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_add_up),
        cmocka_unit_test(test_reasons_are_counted_by_name),
        cmocka_unit_test(test_percentile_is_nearest_rank),
        cmocka_unit_test(test_latency_in_report_is_ms_percentiles),
        cmocka_unit_test(test_latency_is_null_without_calls),
        cmocka_unit_test(test_throughput_is_activated_per_second),
        cmocka_unit_test(test_pacing_members_are_null_and_zero_when_unpaced),
        cmocka_unit_test(test_pacing_members_count_pauses_and_their_time),
        cmocka_unit_test(test_report_document_has_every_field),
        cmocka_unit_test(test_resume_line_is_written_only_when_set),
        cmocka_unit_test(test_report_file_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
