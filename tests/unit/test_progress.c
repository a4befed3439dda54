/*
 * test_progress.c — the text of qx-send's progress: the live line (share,
 * sizes, counts, rate, ETA, throttle) from what is known, and the summary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "qxs_progress.h"

/* 1200 lines read (1150 of them finished) up to byte done of total. */
static qxs_progress file_progress(int64_t done, int64_t total, double lines_per_sec)
{
    return (qxs_progress){
        .counts = {.read = 1200,
                   .activated = 1100,
                   .excluded = 50,
                   .failed = 0,
                   .retries = 2,
                   .input_offset = done},
        .bytes_total = total,
        .lines_per_sec = lines_per_sec,
        .per_sec = 412.34,
    };
}

static void test_line_of_a_file_has_share_sizes_rate_and_eta(void **state)
{
    (void)state;
    char out[QXS_PROGRESS_LINE_MAX];
    /* 1200 lines took 1.2 MB of 2.9: 2900 lines, 1750 left at 100/s */
    qxs_progress p = file_progress(1200000, 2900000, 100.0);
    assert_string_equal(qxs_progress_line(&p, out, sizeof out),
                        "41% 1.2/2.9 MB  read 1200  activated 1100  excluded 50  failed 0  "
                        "retries 2  412.3 payloads/s  ETA 18s");
}

static void test_line_of_a_pipe_has_no_total_and_no_eta(void **state)
{
    (void)state;
    char out[QXS_PROGRESS_LINE_MAX];
    qxs_progress p = file_progress(1200000, -1, 100.0);
    assert_string_equal(qxs_progress_line(&p, out, sizeof out),
                        "read 1200  activated 1100  excluded 50  failed 0  retries 2  "
                        "412.3 payloads/s");
}

static void test_small_file_counts_bytes_and_long_eta_reads_as_minutes(void **state)
{
    (void)state;
    char out[QXS_PROGRESS_LINE_MAX];
    /* 1200 lines in 100 of 512 bytes: 6144 lines, 4994 left at 50/s */
    qxs_progress p = file_progress(100, 512, 50.0);
    qxs_progress_line(&p, out, sizeof out);
    assert_int_equal(strncmp(out, "19% 100/512 B  read 1200", 24), 0);
    assert_non_null(strstr(out, "  ETA 1m40s"));
}

static void test_file_read_whole_still_has_eta_until_every_line_is_finished(void **state)
{
    (void)state;
    char out[QXS_PROGRESS_LINE_MAX];
    /* reading ran ahead of sending: 50 lines still to finish at 100/s */
    qxs_progress p = file_progress(5000, 5000, 100.0);
    qxs_progress_line(&p, out, sizeof out);
    assert_int_equal(strncmp(out, "100% 5.0/5.0 kB  ", 17), 0);
    assert_non_null(strstr(out, "  ETA 1s"));
    p.counts.activated = 1150; /* all finished */
    qxs_progress_line(&p, out, sizeof out);
    assert_null(strstr(out, "ETA"));
    /* the file grew after its size was taken: capped at 100% */
    p = file_progress(6000, 5000, 100.0);
    qxs_progress_line(&p, out, sizeof out);
    assert_int_equal(strncmp(out, "100% 5.0/5.0 kB  ", 17), 0);
}

static void test_no_eta_before_a_rate_or_a_line(void **state)
{
    (void)state;
    char out[QXS_PROGRESS_LINE_MAX];
    qxs_progress none = file_progress(0, 5000, 100.0);
    none.counts = (qxs_counts){0};
    qxs_progress_line(&none, out, sizeof out);
    assert_int_equal(strncmp(out, "0% 0.0/5.0 kB  read 0", 21), 0);
    assert_null(strstr(out, "ETA"));
    qxs_progress no_rate = file_progress(1000, 5000, 0.0);
    qxs_progress_line(&no_rate, out, sizeof out);
    assert_null(strstr(out, "ETA"));
    qxs_progress empty = file_progress(0, 0, 100.0);
    qxs_progress_line(&empty, out, sizeof out);
    assert_int_equal(strncmp(out, "100% 0/0 B  ", 12), 0);
}

static void test_line_shows_the_throttle_that_holds(void **state)
{
    (void)state;
    char out[QXS_PROGRESS_LINE_MAX];
    qxs_progress p = file_progress(0, -1, 0.0);
    p.throttle = (qxs_throttle){.rate_per_minute = 300, .paced = true};
    qxs_progress_line(&p, out, sizeof out);
    assert_non_null(strstr(out, "payloads/s  paced at 300/min"));
    p.throttle = (qxs_throttle){.pause_left_ms = 1400, .retry_after_s = 2};
    qxs_progress_line(&p, out, sizeof out);
    assert_non_null(strstr(out, "payloads/s  throttled: 429 Retry-After 2s (1.4s left)"));
    p.throttle = (qxs_throttle){.rate_per_minute = 300, .paced = false};
    qxs_progress_line(&p, out, sizeof out);
    assert_null(strstr(out, "paced"));
}

static void test_summary_has_counts_elapsed_and_rate(void **state)
{
    (void)state;
    char out[QXS_PROGRESS_LINE_MAX];
    qxs_counts c = {.read = 100, .activated = 98, .excluded = 1, .failed = 1, .retries = 3};
    assert_string_equal(qxs_progress_summary("send", &c, 2345, 41.79, out, sizeof out),
                        "qx-send send: read 100  activated 98  excluded 1  failed 1  retries 3  "
                        "in 2.3s  41.8 payloads/s");
}

static void test_duration_reads_as_seconds_minutes_hours(void **state)
{
    (void)state;
    char d[32];
    assert_string_equal(qxs_progress_duration(0, d, sizeof d), "0s");
    assert_string_equal(qxs_progress_duration(44600, d, sizeof d), "45s");
    assert_string_equal(qxs_progress_duration(65000, d, sizeof d), "1m05s");
    assert_string_equal(qxs_progress_duration(7380000, d, sizeof d), "2h03m");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_of_a_file_has_share_sizes_rate_and_eta),
        cmocka_unit_test(test_line_of_a_pipe_has_no_total_and_no_eta),
        cmocka_unit_test(test_small_file_counts_bytes_and_long_eta_reads_as_minutes),
        cmocka_unit_test(test_file_read_whole_still_has_eta_until_every_line_is_finished),
        cmocka_unit_test(test_no_eta_before_a_rate_or_a_line),
        cmocka_unit_test(test_line_shows_the_throttle_that_holds),
        cmocka_unit_test(test_summary_has_counts_elapsed_and_rate),
        cmocka_unit_test(test_duration_reads_as_seconds_minutes_hours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
