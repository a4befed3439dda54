/*
 * test_send_progress.c — qx-send's progress on standard error, written to a
 * pipe as in CI: one summary line at the end by default, the progress line
 * too (once a second) with --progress always, nothing with never; a file's
 * share and size, none for standard input. The runs go to a real qx-mock;
 * --rate keeps one going past a second, so a line must come before its end
 * (pacing is the behaviour that lengthens it, not a sleep).
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
#include "send_fixture.h"

#define RUN_TIMEOUT_MS 120000
#define MOCK_TIMEOUT_MS "15000"
#define DEMO_WORKFLOWS QX_SOURCE_DIR "/fixtures/workflows/demo.json"

static size_t count_of(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

/* Runs `qx-send send` of input (a path, or "-" with stdin_text) to f's
 * qx-mock with the extra options; returns its standard error (malloc'd)
 * after asserting exit status 0. */
static char *send_with(sf_fixture *f, const char *input, const char *stdin_text,
                       const char *const *extra)
{
    char *dest = sf_mock_destination(f, DEMO_WORKFLOWS);
    const char *argv[24] = {QX_SEND,         "send", "--timeout-ms", MOCK_TIMEOUT_MS,
                            "--destination", dest,   "--mapping",    SEED_MAPPING};
    size_t n = 8;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
        argv[n++] = extra[i];
    argv[n++] = input;
    char *err = NULL;
    int rc = qxt_run(argv, stdin_text, env_ok, NULL, &err, RUN_TIMEOUT_MS);
    if (rc != 0)
        fprintf(stderr, "[qx-send stderr]\n%s\n", err != NULL ? err : "");
    assert_int_equal(rc, 0);
    assert_non_null(err);
    return err;
}

static void test_summary_line_when_not_a_terminal(void **state)
{
    sf_fixture *f = *state;
    char *err = send_with(f, sf_seed_profiles(f, 3), NULL, NULL);
    assert_int_equal(count_of(err, "qx-send send: read 3  activated 3  excluded 0  failed 0  "
                                   "retries 0  in "),
                     1);
    assert_int_equal(count_of(err, "payloads/s\n"), 1);
    /* no terminal: no carriage return, no erase-line escape */
    assert_null(strchr(err, '\r'));
    assert_null(strchr(err, '\033'));
    free(err);
}

static void test_progress_never_prints_none(void **state)
{
    sf_fixture *f = *state;
    const char *never[] = {"--progress", "never", NULL};
    char *err = send_with(f, sf_seed_profiles(f, 3), NULL, never);
    assert_null(strstr(err, "read 3"));
    assert_null(strstr(err, "payloads/s"));
    free(err);
}

static void test_progress_always_on_a_pipe_shows_the_share_of_the_file(void **state)
{
    sf_fixture *f = *state;
    /* 5 calls at 2 a second: the run lasts 2 s, a line comes each second */
    const char *always[] = {"--progress", "always", "--rate", "2/s", NULL};
    char *err = send_with(f, sf_seed_profiles(f, 5), NULL, always);
    /* the whole (small) file is read at once, ahead of the paced calls */
    assert_non_null(strstr(err, "100% 5.0/5.0 kB  read 5  activated "));
    assert_non_null(strstr(err, "\nqx-send send: read 5"));
    assert_int_equal(count_of(err, "qx-send send: read 5  activated 5  excluded 0  failed 0"), 1);
    assert_null(strchr(err, '\r'));
    free(err);
}

static void test_standard_input_has_no_total_and_no_eta(void **state)
{
    sf_fixture *f = *state;
    char *text = qxt_read_file(sf_seed_profiles(f, 4));
    assert_non_null(text);
    const char *always[] = {"--progress", "always", "--rate", "2/s", NULL};
    char *err = send_with(f, "-", text, always);
    /* a progress line starts with the counts: no share, no size */
    assert_true(strncmp(err, "read ", 5) == 0 || strstr(err, "\nread ") != NULL);
    assert_null(strchr(err, '%'));
    assert_null(strstr(err, "ETA"));
    assert_int_equal(count_of(err, "qx-send send: read 4  activated 4"), 1);
    free(err);
    free(text);
}

static void test_progress_word_is_checked(void **state)
{
    (void)state;
    const char *bad[] = {QX_SEND, "send", "--progress", "sometimes", NULL};
    char *err = NULL;
    assert_int_equal(qxt_run(bad, NULL, env_ok, NULL, &err, RUN_TIMEOUT_MS), 2);
    assert_non_null(err);
    assert_string_equal(err, "qx-send send: --progress sometimes: expected auto, always or never; "
                             "try 'qx-send send --help'\n");
    free(err);
    /* render sends nothing and has no progress */
    const char *render[] = {QX_SEND, "render", "--progress", "never", NULL};
    assert_int_equal(qxt_run(render, NULL, env_ok, NULL, NULL, RUN_TIMEOUT_MS), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_summary_line_when_not_a_terminal, sf_setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_progress_never_prints_none, sf_setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_progress_always_on_a_pipe_shows_the_share_of_the_file,
                                        sf_setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_standard_input_has_no_total_and_no_eta, sf_setup,
                                        sf_teardown),
        cmocka_unit_test(test_progress_word_is_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
