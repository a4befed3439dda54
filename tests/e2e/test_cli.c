/*
 * test_cli.c — the command lines of both programs, run as a user types
 * them: a mistyped, ambiguous or incomplete option is one line on standard
 * error naming it (and the closest option, when one is close) and exit
 * status 2, never the whole help; a --listen port over 65535 is bad usage
 * (2); a port already taken is a runtime error (1) with the system's own
 * words. Every wait is on a child's exit or a printed line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define QX_MOCK QX_BIN_DIR "/qx-mock"
#define QX_SEND QX_BIN_DIR "/qx-send"
#define TIMEOUT_MS 30000

static const char config_text[] =
    "{\"users\": [{\"username\": \"api-user@example.com\", \"apiToken\": \"QX-TEST-TOKEN-1\"}],"
    " \"workflows\": [{\"id\": \"WF_csat\", \"urlTokenId\": \"tok-csat\"}]}";

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; s != NULL && *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* Runs argv, asserts exit status 2 and that standard error is exactly the
 * line want (with its newline) and standard output is empty. */
static void assert_one_line_usage_error(const char *const *argv, const char *want)
{
    char *out = NULL, *err = NULL;
    int rc = qxt_run(argv, NULL, NULL, &out, &err, TIMEOUT_MS);
    if (err == NULL || strncmp(err, want, strlen(want)) != 0 || count_lines(err) != 1)
        fprintf(stderr, "%s: got stderr [%s]\n", argv[1], err != NULL ? err : "(none)");
    assert_int_equal(rc, 2);
    assert_non_null(err);
    assert_int_equal(count_lines(err), 1);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);
    assert_int_equal(err[strlen(want)], '\n');
    assert_true(out == NULL || out[0] == '\0');
    free(out);
    free(err);
}

static void test_qx_mock_unknown_option_is_one_line_with_a_suggestion(void **state)
{
    (void)state;
    const char *serve[] = {QX_MOCK, "--confg", "x.json", NULL};
    assert_one_line_usage_error(
        serve,
        "qx-mock: unknown option '--confg' (did you mean '--config'?); try 'qx-mock --help'");
    const char *suite[] = {QX_MOCK, "suite", "--junt", "x.xml", "dir", NULL};
    assert_one_line_usage_error(suite, "qx-mock suite: unknown option '--junt' (did you mean "
                                       "'--junit'?); try 'qx-mock suite --help'");
    const char *conform[] = {QX_MOCK, "conform", "--bogus", NULL};
    assert_one_line_usage_error(
        conform, "qx-mock conform: unknown option '--bogus'; try 'qx-mock conform --help'");
    const char *whatif[] = {QX_MOCK, "whatif", "--histroy", "h.ndjson", NULL};
    assert_one_line_usage_error(whatif, "qx-mock whatif: unknown option '--histroy' (did you mean "
                                        "'--history'?); try 'qx-mock whatif --help'");
    const char *capture[] = {QX_MOCK, "capture", "--workflwo", "WF", NULL};
    assert_one_line_usage_error(capture, "qx-mock capture: unknown option '--workflwo' (did you "
                                         "mean '--workflow'?); try 'qx-mock capture --help'");
    const char *command[] = {QX_MOCK, "sutie", NULL};
    assert_one_line_usage_error(command, "qx-mock: unexpected argument 'sutie' (did you mean "
                                         "'qx-mock suite'?); try 'qx-mock --help'");
}

static void test_qx_mock_missing_argument_and_ambiguous_prefix(void **state)
{
    (void)state;
    const char *missing[] = {QX_MOCK, "--config", NULL};
    assert_one_line_usage_error(
        missing, "qx-mock: option '--config' needs an argument; try 'qx-mock --help'");
    const char *ambiguous[] = {QX_MOCK, "--tls", "x", NULL};
    assert_one_line_usage_error(ambiguous, "qx-mock: option '--tls' is ambiguous (--tls-cert, "
                                           "--tls-key); try 'qx-mock --help'");
    const char *short_missing[] = {QX_MOCK, "capture", "-w", NULL};
    assert_one_line_usage_error(short_missing, "qx-mock capture: option '-w' needs an argument; "
                                               "try 'qx-mock capture --help'");
}

static void test_qx_mock_unambiguous_prefix_is_still_taken(void **state)
{
    (void)state;
    /* --sender is --sender-cmd: the complaint is the missing directory */
    const char *argv[] = {QX_MOCK, "suite", "--sender", "true", NULL};
    char *err = NULL;
    assert_int_equal(qxt_run(argv, NULL, NULL, NULL, &err, TIMEOUT_MS), 2);
    assert_non_null(err);
    assert_null(strstr(err, "unknown option"));
    assert_non_null(strstr(err, "scenario directory"));
    free(err);
}

static void test_listen_port_over_65535_is_bad_usage(void **state)
{
    (void)state;
    const char *serve[] = {QX_MOCK, "--config", "x.json", "--listen", "127.0.0.1:99999", NULL};
    assert_one_line_usage_error(serve,
                                "qx-mock: --listen 127.0.0.1:99999: port must be 0 to 65535");
    const char *capture[] = {QX_MOCK, "capture",  "--config", "x.json", "--workflow",
                             "WF",    "--listen", "[::1]",    NULL};
    assert_one_line_usage_error(capture, "qx-mock capture: --listen [::1]: expected [IPv6]:PORT");
    const char *no_port[] = {QX_MOCK, "--config", "x.json", "--listen", "localhost", NULL};
    assert_one_line_usage_error(no_port, "qx-mock: --listen localhost: expected HOST:PORT");
}

static void test_port_in_use_is_a_runtime_error_with_the_system_reason(void **state)
{
    (void)state;
    char *dir = qxt_tempdir();
    assert_non_null(dir);
    char *config = qxt_write_file(dir, "config.json", config_text);
    assert_non_null(config);
    qxt_mock first;
    assert_int_equal(qxt_mock_start(&first, config, NULL), 0);
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", first.port);
    const char *argv[] = {QX_MOCK, "--config", config, "--listen", listen, NULL};
    char *err = NULL;
    assert_int_equal(qxt_run(argv, NULL, NULL, NULL, &err, TIMEOUT_MS), 1);
    assert_non_null(err);
    char want[128];
    snprintf(want, sizeof want, "cannot listen on %s: Address already in use", listen);
    if (strstr(err, want) == NULL)
        fprintf(stderr, "stderr: %s", err);
    assert_non_null(strstr(err, want));
    free(err);
    const char *capture[] = {QX_MOCK,   "capture",  "--config", config, "--workflow",
                             "WF_csat", "--listen", listen,     NULL};
    assert_int_equal(qxt_run(capture, NULL, NULL, NULL, &err, TIMEOUT_MS), 1);
    assert_non_null(strstr(err, "Address already in use"));
    free(err);
    assert_int_equal(qxt_mock_stop(&first, SIGTERM), 0);
    free(config);
    qxt_remove_dir(dir);
    free(dir);
}

static void test_qx_send_usage_errors_are_one_line(void **state)
{
    (void)state;
    const char *command[] = {QX_SEND, "sned", NULL};
    assert_one_line_usage_error(
        command, "qx-send: unknown command 'sned' (did you mean 'send'?); try 'qx-send --help'");
    const char *unknown[] = {QX_SEND, "send", "--mappng", "m.json", NULL};
    assert_one_line_usage_error(unknown, "qx-send send: unknown option '--mappng' (did you mean "
                                         "'--mapping'?); try 'qx-send send --help'");
    const char *missing[] = {QX_SEND, "replay", "--destination", NULL};
    assert_one_line_usage_error(missing, "qx-send replay: option '--destination' needs an "
                                         "argument; try 'qx-send replay --help'");
    const char *ambiguous[] = {QX_SEND, "send", "--re", "x", NULL};
    assert_one_line_usage_error(ambiguous, "qx-send send: option '--re' is ambiguous (--report, "
                                           "--retry-schedule); try 'qx-send send --help'");
    /* an option of another command is unknown to this one */
    const char *other[] = {QX_SEND, "render", "--concurrency", "2", NULL};
    assert_one_line_usage_error(other, "qx-send render: unknown option '--concurrency'; try "
                                       "'qx-send render --help'");
    const char *bad_number[] = {QX_SEND, "send", "--concurrency", "0", NULL};
    assert_one_line_usage_error(bad_number, "qx-send send: --concurrency 0: expected 1 to 256; "
                                            "try 'qx-send send --help'");
}

static void test_qx_send_prefix_is_still_taken(void **state)
{
    (void)state;
    /* --dest is --destination: the complaint is the missing mapping */
    const char *argv[] = {QX_SEND, "send", "--dest", "/nonexistent.json", NULL};
    char *err = NULL;
    assert_int_equal(qxt_run(argv, NULL, NULL, NULL, &err, TIMEOUT_MS), 2);
    assert_non_null(err);
    assert_null(strstr(err, "unknown option"));
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qx_mock_unknown_option_is_one_line_with_a_suggestion),
        cmocka_unit_test(test_qx_mock_missing_argument_and_ambiguous_prefix),
        cmocka_unit_test(test_qx_mock_unambiguous_prefix_is_still_taken),
        cmocka_unit_test(test_listen_port_over_65535_is_bad_usage),
        cmocka_unit_test(test_port_in_use_is_a_runtime_error_with_the_system_reason),
        cmocka_unit_test(test_qx_send_usage_errors_are_one_line),
        cmocka_unit_test(test_qx_send_prefix_is_still_taken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
