/*
 * test_suggest.c — "did you mean": the edit distance, the closest option
 * and the one-line message for each way getopt_long refuses an option.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "qx_suggest.h"

static const struct option OPTS[] = {
    {"config", required_argument, NULL, 'c'},  {"listen", required_argument, NULL, 'l'},
    {"threads", required_argument, NULL, 256}, {"tls-cert", required_argument, NULL, 257},
    {"tls-key", required_argument, NULL, 258}, {"sender-cmd", required_argument, NULL, 259},
    {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
};

static void test_edit_distance_counts_each_kind_of_edit_once(void **state)
{
    (void)state;
    assert_int_equal(qx_edit_distance("config", "config"), 0);
    assert_int_equal(qx_edit_distance("confg", "config"), 1);   /* deletion */
    assert_int_equal(qx_edit_distance("configg", "config"), 1); /* insertion */
    assert_int_equal(qx_edit_distance("conlig", "config"), 1);  /* substitution */
    assert_int_equal(qx_edit_distance("cofnig", "config"), 1);  /* transposition */
    assert_int_equal(qx_edit_distance("", "db"), 2);
    assert_int_equal(qx_edit_distance("kitten", "sitting"), 3);
}

static void test_suggest_picks_the_closest_when_close_enough(void **state)
{
    (void)state;
    const char *names[] = {"config", "listen", "db", NULL, "threads"};
    assert_string_equal(qx_suggest("confg", names, 5), "config");
    assert_string_equal(qx_suggest("lisetn", names, 5), "listen");
    assert_string_equal(qx_suggest("thraeds", names, 5), "threads");
    assert_string_equal(qx_suggest("dbb", names, 5), "db");
}

static void test_suggest_stays_quiet_when_nothing_is_close(void **state)
{
    (void)state;
    const char *names[] = {"config", "listen", "db"};
    assert_null(qx_suggest("x", names, 3)); /* 2 edits from "db", but 1 letter */
    assert_null(qx_suggest("verbose", names, 3));
    assert_null(qx_suggest("gifnoc", names, 3)); /* config backwards */
    assert_null(qx_suggest("anything", names, 0));
}

static void test_unknown_option_names_the_closest(void **state)
{
    (void)state;
    char out[512];
    qx_option_error(out, sizeof out, "qx-mock", '?', "--confg", 0, OPTS);
    assert_string_equal(out, "qx-mock: unknown option '--confg' (did you mean '--config'?); "
                             "try 'qx-mock --help'");
    qx_option_error(out, sizeof out, "qx-mock suite", '?', "--sender-cdm=x", 0, OPTS);
    assert_string_equal(out, "qx-mock suite: unknown option '--sender-cdm' (did you mean "
                             "'--sender-cmd'?); try 'qx-mock suite --help'");
}

static void test_unknown_option_far_from_all_has_no_suggestion(void **state)
{
    (void)state;
    char out[512];
    qx_option_error(out, sizeof out, "qx-send send", '?', "--frobnicate", 0, OPTS);
    assert_string_equal(out,
                        "qx-send send: unknown option '--frobnicate'; try 'qx-send send --help'");
}

static void test_ambiguous_prefix_lists_the_options_it_could_be(void **state)
{
    (void)state;
    char out[512];
    qx_option_error(out, sizeof out, "qx-mock", '?', "--t", 0, OPTS);
    assert_string_equal(out, "qx-mock: option '--t' is ambiguous (--threads, --tls-cert, "
                             "--tls-key); try 'qx-mock --help'");
    qx_option_error(out, sizeof out, "qx-mock", '?', "--tls=a", 0, OPTS);
    assert_string_equal(out, "qx-mock: option '--tls' is ambiguous (--tls-cert, --tls-key); "
                             "try 'qx-mock --help'");
}

static void test_missing_argument_is_one_line(void **state)
{
    (void)state;
    char out[512];
    qx_option_error(out, sizeof out, "qx-mock", ':', "--config", 'c', OPTS);
    assert_string_equal(out, "qx-mock: option '--config' needs an argument; try 'qx-mock --help'");
    qx_option_error(out, sizeof out, "qx-mock", ':', "--conf", 'c', OPTS);
    assert_string_equal(out, "qx-mock: option '--conf' needs an argument; try 'qx-mock --help'");
    qx_option_error(out, sizeof out, "qx-mock", ':', "-c", 'c', OPTS);
    assert_string_equal(out, "qx-mock: option '-c' needs an argument; try 'qx-mock --help'");
}

static void test_argument_to_a_flag_is_refused(void **state)
{
    (void)state;
    char out[512];
    qx_option_error(out, sizeof out, "qx-mock", '?', "--help=yes", 'h', OPTS);
    assert_string_equal(out, "qx-mock: option '--help' takes no argument; try 'qx-mock --help'");
}

static void test_unknown_short_option_is_named_by_optopt(void **state)
{
    (void)state;
    char out[512];
    /* -Z after --help in argv: argv[optind - 1] may still be the long one */
    qx_option_error(out, sizeof out, "qx-mock", '?', "--help", 'Z', OPTS);
    assert_string_equal(out, "qx-mock: unknown option '-Z'; try 'qx-mock --help'");
    qx_option_error(out, sizeof out, "qx-mock", '?', "-vZ", 'Z', OPTS);
    assert_string_equal(out, "qx-mock: unknown option '-Z'; try 'qx-mock --help'");
}

static void test_long_message_is_cut_not_overrun(void **state)
{
    (void)state;
    char out[24];
    memset(out, 'x', sizeof out);
    qx_option_error(out, sizeof out, "qx-mock", '?', "--confg", 0, OPTS);
    assert_int_equal(strlen(out), sizeof out - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edit_distance_counts_each_kind_of_edit_once),
        cmocka_unit_test(test_suggest_picks_the_closest_when_close_enough),
        cmocka_unit_test(test_suggest_stays_quiet_when_nothing_is_close),
        cmocka_unit_test(test_unknown_option_names_the_closest),
        cmocka_unit_test(test_unknown_option_far_from_all_has_no_suggestion),
        cmocka_unit_test(test_ambiguous_prefix_lists_the_options_it_could_be),
        cmocka_unit_test(test_missing_argument_is_one_line),
        cmocka_unit_test(test_argument_to_a_flag_is_refused),
        cmocka_unit_test(test_unknown_short_option_is_named_by_optopt),
        cmocka_unit_test(test_long_message_is_cut_not_overrun),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
