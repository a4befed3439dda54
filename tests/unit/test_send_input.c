/*
 * test_send_input.c — qxs_input, the sender's NDJSON stream reader.
 *
 * It reads in the delivery loop's thread without ever blocking it, so it
 * cuts lines itself instead of using core's getline()-based qx_ndjson
 * reader; the first test holds the two to the same records (values, line
 * numbers, messages) on inputs with every awkward line we know. The others:
 * offsets, a pipe fed piece by piece (nothing is handed over before its
 * newline, and the reader says which descriptor to wait for), a line longer
 * than a read, stopping (nothing is handed over after it, half a line least
 * of all), where a later run goes on (next_line), a start line (from_line)
 * on a file and on a pipe, and a read error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qx_ndjson.h"
#include "qxs_input.h"

/* A temporary file holding len bytes of text, opened for reading. */
static int temp_input(const char *text, size_t len, FILE **f_out)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fflush(f), 0);
    rewind(f);
    *f_out = f;
    return fileno(f);
}

static qxs_input *open_input(int fd, const qxs_input_start *start)
{
    qx_error err;
    qxs_input *in = qxs_input_open(fd, false, start, &err);
    assert_non_null(in);
    return in;
}

/* Both readers over the same bytes give the same records. */
static void check_same_as_core(const char *text, size_t len)
{
    FILE *a, *b;
    int fd = temp_input(text, len, &a);
    temp_input(text, len, &b);
    qxs_input *in = open_input(fd, NULL);
    qx_ndjson_reader *r = qx_ndjson_open(b);
    assert_non_null(r);
    for (;;) {
        json_t *want = NULL;
        size_t want_line = 0;
        qx_error err = {{0}};
        int rc = qx_ndjson_next(r, &want, &want_line, &err);
        qxs_record rec;
        int got = qxs_input_take(in, &rec);
        if (rc == 0) {
            assert_int_equal(got, -1);
            break;
        }
        assert_int_equal(got, 1);
        assert_int_equal(rec.line_no, want_line);
        if (rc == 1) {
            assert_non_null(rec.value);
            assert_true(json_equal(rec.value, want));
        } else {
            assert_null(rec.value);
            assert_string_equal(rec.error, err.text);
        }
        json_decref(rec.value);
        json_decref(want);
    }
    qx_ndjson_close(r);
    qxs_input_free(in);
    fclose(a);
    fclose(b);
}

static void test_input_gives_the_records_core_gives(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{\"a\": 1}\n{\"b\": 2}\n",
        "{\"a\": 1}\n\n   \n\t\r\n{\"b\": 2}\n",         /* blank lines count */
        "{\"a\": 1}\r\n{\"b\": \"x\"}  \r\n",            /* CRLF, trailing blanks */
        "{\"a\": 1}\n{\"b\": 2}",                        /* no final newline */
        "{\"a\": 1} {\"b\": 2}\n{\"c\": 3}\n",           /* two values on a line */
        "{\"a\": \n{\"b\": 2}\n",                        /* truncated */
        "[1, 2]\n\"text\"\n42\n",                        /* not objects: still JSON */
        "{\"a\": \"\\u00e9\"}\n{\"a\": \"\xc3\x28\"}\n", /* invalid UTF-8 */
        "\n\n\n",
        "",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_same_as_core(cases[i], strlen(cases[i]));
    static const char with_nul[] = "{\"a\": 1}\n{\"a\x00\": 1}\n{\"b\": 2}\n";
    check_same_as_core(with_nul, sizeof with_nul - 1);
}

static void test_input_offsets_point_after_each_line(void **state)
{
    (void)state;
    static const char text[] = "{\"a\": 1}\n\n{\"b\": 2}\r\n{\"c\": 3}";
    FILE *f;
    int fd = temp_input(text, sizeof text - 1, &f);
    qxs_input *in = open_input(fd, NULL);
    qxs_record rec;
    assert_int_equal(qxs_input_take(in, &rec), 1);
    assert_int_equal(rec.line_no, 1);
    assert_int_equal(rec.end_offset, 9);
    json_decref(rec.value);
    assert_int_equal(qxs_input_take(in, &rec), 1);
    assert_int_equal(rec.line_no, 3);
    assert_int_equal(rec.end_offset, 20);
    json_decref(rec.value);
    assert_int_equal(qxs_input_take(in, &rec), 1);
    assert_int_equal(rec.line_no, 4);
    assert_int_equal(rec.end_offset, sizeof text - 1);
    json_decref(rec.value);
    assert_int_equal(qxs_input_take(in, &rec), -1);
    qxs_input_free(in);

    /* resumed after line 3 (offset 20): numbers and offsets are the file's */
    assert_int_equal(lseek(fd, 20, SEEK_SET), 20);
    qxs_input_start start = {.offset = 20, .line = 3};
    in = open_input(fd, &start);
    assert_int_equal(qxs_input_take(in, &rec), 1);
    assert_int_equal(rec.line_no, 4);
    assert_int_equal(rec.end_offset, sizeof text - 1);
    json_decref(rec.value);
    assert_int_equal(qxs_input_take(in, &rec), -1);
    qxs_input_free(in);
    fclose(f);
}

static void put(int fd, const char *s)
{
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void test_input_from_a_pipe_hands_over_whole_lines_without_blocking(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    qxs_input *in = open_input(p[0], NULL);
    qxs_record rec;
    assert_int_equal(qxs_input_take(in, &rec), 0); /* nothing yet: no blocking */
    assert_int_equal(qxs_input_wait_fd(in), p[0]);
    put(p[1], "{\"n\": 1}\n{\"n\":");
    assert_int_equal(qxs_input_take(in, &rec), 1);
    assert_int_equal(json_integer_value(json_object_get(rec.value, "n")), 1);
    json_decref(rec.value);
    assert_int_equal(qxs_input_take(in, &rec), 0); /* half a line is not a line */
    assert_int_equal(qxs_input_wait_fd(in), p[0]);
    put(p[1], " 2}\n\n");
    assert_int_equal(qxs_input_take(in, &rec), 1);
    assert_int_equal(rec.line_no, 2);
    assert_int_equal(json_integer_value(json_object_get(rec.value, "n")), 2);
    json_decref(rec.value);
    assert_int_equal(qxs_input_take(in, &rec), 0);
    put(p[1], "{\"n\": 4}");
    close(p[1]);
    assert_int_equal(qxs_input_take(in, &rec), 1); /* the end of input ends the line */
    assert_int_equal(rec.line_no, 4);
    json_decref(rec.value);
    assert_int_equal(qxs_input_take(in, &rec), -1);
    assert_int_equal(qxs_input_wait_fd(in), -1);
    qxs_input_free(in);
    close(p[0]);
}

static void test_input_line_longer_than_a_read(void **state)
{
    (void)state;
    size_t big = 3 * QXS_INPUT_CHUNK + 17;
    size_t len = big + 64;
    char *text = malloc(len);
    int n = snprintf(text, len, "{\"n\": 1}\n{\"s\": \"");
    memset(text + n, 'x', big);
    size_t at = (size_t)n + big;
    at += (size_t)snprintf(text + at, len - at, "\"}\n{\"n\": 3}\n");
    FILE *f;
    int fd = temp_input(text, at, &f);
    qxs_input *in = open_input(fd, NULL);
    qxs_record rec;
    assert_int_equal(qxs_input_take(in, &rec), 1);
    json_decref(rec.value);
    assert_int_equal(qxs_input_take(in, &rec), 1);
    assert_int_equal(rec.line_no, 2);
    assert_int_equal(strlen(json_string_value(json_object_get(rec.value, "s"))), big);
    json_decref(rec.value);
    assert_int_equal(qxs_input_take(in, &rec), 1);
    assert_int_equal(rec.line_no, 3);
    assert_int_equal(rec.end_offset, at);
    json_decref(rec.value);
    assert_int_equal(qxs_input_take(in, &rec), -1);
    qxs_input_free(in);
    fclose(f);
    free(text);
}

static void test_input_stop_hands_over_nothing_more(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    qxs_input *in = open_input(p[0], NULL);
    put(p[1], "{\"n\": 1}\n{\"n\": 2}\n{\"n\": ");
    qxs_record rec;
    assert_int_equal(qxs_input_take(in, &rec), 1);
    json_decref(rec.value);
    assert_int_equal(qxs_input_next_line(in), 2);
    qxs_input_stop(in);
    put(p[1], "3}\n{\"n\": 4}\n"); /* after the stop: never read */
    assert_int_equal(qxs_input_wait_fd(in), -1);
    /* line 2 was read whole, line 3 half: neither is handed over, and the
     * half line is never taken for a (malformed) line of its own */
    assert_int_equal(qxs_input_take(in, &rec), -1);
    assert_int_equal(qxs_input_take(in, &rec), -1);
    assert_int_equal(qxs_input_next_line(in), 2);
    qxs_input_free(in);
    close(p[0]);
    close(p[1]);
}

static void test_input_half_line_at_a_stop_is_no_line(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    qxs_input *in = open_input(p[0], NULL);
    put(p[1], "{\"n\": 1}\n{\"n\": ");
    qxs_record rec;
    assert_int_equal(qxs_input_take(in, &rec), 1);
    json_decref(rec.value);
    assert_int_equal(qxs_input_take(in, &rec), 0); /* the half line is read */
    qxs_input_stop(in);
    assert_int_equal(qxs_input_take(in, &rec), -1);
    assert_int_equal(qxs_input_next_line(in), 2);
    qxs_input_free(in);
    close(p[0]);
    close(p[1]);
}

static void test_input_next_line_is_0_at_the_real_end(void **state)
{
    (void)state;
    static const char text[] = "{\"a\": 1}\n{\"b\": 2}\n";
    FILE *f;
    int fd = temp_input(text, sizeof text - 1, &f);
    qxs_input *in = open_input(fd, NULL);
    qxs_record rec;
    assert_int_equal(qxs_input_next_line(in), 1); /* nothing taken yet */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(qxs_input_take(in, &rec), 1);
        json_decref(rec.value);
    }
    assert_int_equal(qxs_input_next_line(in), 3); /* the end not seen yet */
    assert_int_equal(qxs_input_take(in, &rec), -1);
    assert_int_equal(qxs_input_next_line(in), 0);
    qxs_input_free(in);
    fclose(f);
}

static void test_input_from_line_skips_earlier_lines(void **state)
{
    (void)state;
    static const char text[] = "{\"n\": 1}\nnot json\n\n{\"n\": 4}\n{\"n\": 5}\n";
    FILE *f;
    int fd = temp_input(text, sizeof text - 1, &f);
    qxs_input_start start = {.from_line = 4};
    qxs_input *in = open_input(fd, &start);
    qxs_record rec;
    assert_int_equal(qxs_input_next_line(in), 4);
    assert_int_equal(qxs_input_take(in, &rec), 1); /* line 2's bad JSON was skipped */
    assert_int_equal(rec.line_no, 4);
    assert_int_equal(rec.end_offset, 28);
    json_decref(rec.value);
    assert_int_equal(qxs_input_take(in, &rec), 1);
    assert_int_equal(rec.line_no, 5);
    json_decref(rec.value);
    assert_int_equal(qxs_input_take(in, &rec), -1);
    assert_int_equal(qxs_input_next_line(in), 0);
    qxs_input_free(in);

    /* past the end: nothing is handed over, and the input was read whole */
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    start.from_line = 9;
    in = open_input(fd, &start);
    assert_int_equal(qxs_input_take(in, &rec), -1);
    assert_int_equal(qxs_input_next_line(in), 0);
    qxs_input_free(in);
    fclose(f);
}

static void test_input_from_line_on_a_pipe_skips_as_lines_arrive(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    qxs_input_start start = {.from_line = 3};
    qxs_input *in = open_input(p[0], &start);
    qxs_record rec;
    put(p[1], "{\"n\": 1}\n{\"n\"");
    assert_int_equal(qxs_input_take(in, &rec), 0);
    assert_int_equal(qxs_input_wait_fd(in), p[0]);
    put(p[1], ": 2}\n{\"n\": 3}\n");
    assert_int_equal(qxs_input_take(in, &rec), 1);
    assert_int_equal(rec.line_no, 3);
    json_decref(rec.value);
    /* stopped while still skipping: the start line is where to go on */
    qxs_input_free(in);
    start.from_line = 7;
    in = open_input(p[0], &start);
    put(p[1], "{\"n\": 4}\n");
    assert_int_equal(qxs_input_take(in, &rec), 0);
    qxs_input_stop(in);
    assert_int_equal(qxs_input_next_line(in), 7);
    qxs_input_free(in);
    close(p[0]);
    close(p[1]);
}

static void test_input_read_error_is_a_last_record(void **state)
{
    (void)state;
    int fd = open(".", O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    qxs_input *in = open_input(fd, NULL);
    qxs_record rec;
    assert_int_equal(qxs_input_take(in, &rec), 1);
    assert_int_equal(rec.line_no, 0);
    assert_null(rec.value);
    assert_non_null(strstr(rec.error, "read error after line 0: "));
    assert_int_equal(qxs_input_take(in, &rec), -1);
    qxs_input_free(in);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_input_gives_the_records_core_gives),
        cmocka_unit_test(test_input_offsets_point_after_each_line),
        cmocka_unit_test(test_input_from_a_pipe_hands_over_whole_lines_without_blocking),
        cmocka_unit_test(test_input_line_longer_than_a_read),
        cmocka_unit_test(test_input_stop_hands_over_nothing_more),
        cmocka_unit_test(test_input_half_line_at_a_stop_is_no_line),
        cmocka_unit_test(test_input_next_line_is_0_at_the_real_end),
        cmocka_unit_test(test_input_from_line_skips_earlier_lines),
        cmocka_unit_test(test_input_from_line_on_a_pipe_skips_as_lines_arrive),
        cmocka_unit_test(test_input_read_error_is_a_last_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
