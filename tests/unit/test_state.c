/*
 * test_state.c — the --state checkpoint: what a reopened state holds after
 * events, a torn last line, corruption, another input or command, a
 * compaction; and the report counts it carries across runs.
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
#include <sys/stat.h>
#include <unistd.h>

#include "qxs_report.h"
#include "qxs_state.h"

typedef struct fixture {
    char dir[256];
    char state[300];
    char input[300];
    int input_fd;
} fixture;

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 24);
    size_t n = fread(buf, 1, (1 << 24) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/qxstate.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->state, sizeof f->state, "%s/state.ndjson", f->dir);
    snprintf(f->input, sizeof f->input, "%s/input.ndjson", f->dir);
    write_text(f->input, "{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3}\n{\"a\": 4}\n");
    f->input_fd = open(f->input, O_RDONLY);
    *state = f;
    return f->input_fd >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    close(f->input_fd);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static qxs_state *open_ok(fixture *f, qxs_report *r)
{
    qx_error err;
    qxs_state *st = qxs_state_open(f->state, "send", f->input_fd, r, &err);
    if (st == NULL)
        fail_msg("open: %s", err.text);
    return st;
}

/* Two lines queued, one excluded, one rejected; one activated, one retry. */
static void record_some(qxs_state *st, qxs_report *r, json_t *p1, json_t *p2)
{
    qx_error err;
    qxs_report_read(r);
    qxs_state_queued(st, 1, 9, p1);
    qxs_report_read(r);
    qxs_state_queued(st, 2, 18, p2);
    qxs_report_read(r);
    assert_int_equal(qxs_report_excluded(r, "noMappedIdentity"), 0);
    qxs_state_excluded(st, 3, 27, "noMappedIdentity");
    qxs_report_read(r);
    assert_int_equal(qxs_report_failed(r, "malformedInput"), 0);
    qxs_state_rejected(st, 4, 36, "malformedInput");
    qxs_report_retry(r);
    qxs_state_retry(st, 2);
    qxs_report_activated(r);
    qxs_state_activated(st, 1);
    assert_int_equal(qxs_state_flush(st, &err), 0);
}

static void check_some(qxs_state *st, qxs_report *r, json_t *p2)
{
    assert_int_equal(qxs_state_offset(st), 36);
    assert_int_equal(qxs_state_line(st), 4);
    assert_int_equal(qxs_state_pending_count(st), 1);
    json_t *p = NULL;
    assert_int_equal(qxs_state_pending_at(st, 0, &p), 2);
    assert_true(json_equal(p, p2));
    qxs_counts c = qxs_report_counts(r);
    assert_int_equal(c.read, 4);
    assert_int_equal(c.activated, 1);
    assert_int_equal(c.excluded, 1);
    assert_int_equal(c.failed, 1);
    assert_int_equal(c.retries, 1);
    assert_int_equal(c.in_flight, 1);
}

static void test_state_reopened_after_a_kill_holds_every_event(void **state)
{
    fixture *f = *state;
    json_t *p1 = json_pack("{s:i}", "n", 1), *p2 = json_pack("{s:i}", "n", 2);
    qxs_report *r = qxs_report_new();
    qxs_state *st = open_ok(f, r);
    assert_int_equal(qxs_state_offset(st), 0);
    assert_int_equal(qxs_state_pending_count(st), 0);
    record_some(st, r, p1, p2);
    /* a kill leaves the file as flushed: keep a copy to put back after the
     * close (which replaces it with a fresh snapshot) */
    char *text = read_text(f->state);
    qx_error err;
    assert_int_equal(qxs_state_close(st, &err), 0);
    qxs_report_free(r);
    write_text(f->state, text); /* as the kill left it: snapshot + events */
    free(text);

    r = qxs_report_new();
    st = open_ok(f, r);
    check_some(st, r, p2);
    assert_int_equal(qxs_state_close(st, &err), 0);
    qxs_report_free(r);

    /* the close wrote one snapshot line that says the same */
    text = read_text(f->state);
    assert_non_null(strstr(text, "\"qxSendState\":1"));
    assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1);
    free(text);
    r = qxs_report_new();
    st = open_ok(f, r);
    check_some(st, r, p2);
    assert_int_equal(qxs_state_close(st, &err), 0);
    qxs_report_free(r);
    json_decref(p1);
    json_decref(p2);
}

/* A pending payload may hold "\u0000" (JSON allows it; the sender sends it
 * as it is): a resume reads it back, from the events a kill leaves and from
 * the snapshot a close writes. */
static void test_state_keeps_a_payload_holding_nul(void **state)
{
    fixture *f = *state;
    qx_error err;
    json_t *p = json_pack("{s:s%}", "s", "a\0b", (size_t)3);
    qxs_report *r = qxs_report_new();
    qxs_state *st = open_ok(f, r);
    qxs_report_read(r);
    qxs_state_queued(st, 1, 20, p);
    assert_int_equal(qxs_state_flush(st, &err), 0);
    char *text = read_text(f->state);
    assert_int_equal(qxs_state_close(st, &err), 0);
    qxs_report_free(r);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            write_text(f->state, text); /* as a kill left it */
        r = qxs_report_new();
        st = open_ok(f, r);
        json_t *got = NULL;
        assert_int_equal(qxs_state_pending_count(st), 1);
        assert_int_equal(qxs_state_pending_at(st, 0, &got), 1);
        assert_true(json_equal(got, p));
        assert_int_equal(qxs_state_close(st, &err), 0); /* pass 1 reads this snapshot */
        qxs_report_free(r);
    }
    free(text);
    json_decref(p);
}

static void test_state_ignores_a_torn_last_line(void **state)
{
    fixture *f = *state;
    json_t *p1 = json_pack("{s:i}", "n", 1), *p2 = json_pack("{s:i}", "n", 2);
    qxs_report *r = qxs_report_new();
    qxs_state *st = open_ok(f, r);
    record_some(st, r, p1, p2);
    char *text = read_text(f->state);
    qx_error err;
    assert_int_equal(qxs_state_close(st, &err), 0);
    qxs_report_free(r);
    size_t len = strlen(text);
    text = realloc(text, len + 64);
    snprintf(text + len, 64, "{\"e\":\"activated\",\"li");
    write_text(f->state, text);
    free(text);
    r = qxs_report_new();
    st = open_ok(f, r);
    check_some(st, r, p2); /* line 2 is still pending */
    assert_int_equal(qxs_state_close(st, &err), 0);
    qxs_report_free(r);
    json_decref(p1);
    json_decref(p2);
}

/* Opening must fail with a message holding expected; the report is left
 * untouched. */
static void check_refused(fixture *f, const char *command, const char *expected)
{
    qxs_report *r = qxs_report_new();
    qx_error err;
    qxs_state *st = qxs_state_open(f->state, command, f->input_fd, r, &err);
    assert_null(st);
    if (strstr(err.text, expected) == NULL)
        fail_msg("\"%s\" not in \"%s\"", expected, err.text);
    assert_int_equal(qxs_report_counts(r).read, 0);
    qxs_report_free(r);
}

static void test_state_refuses_corruption_another_command_and_input(void **state)
{
    fixture *f = *state;
    json_t *p1 = json_pack("{s:i}", "n", 1), *p2 = json_pack("{s:i}", "n", 2);
    qxs_report *r = qxs_report_new();
    qxs_state *st = open_ok(f, r);
    record_some(st, r, p1, p2);
    qx_error err;
    assert_int_equal(qxs_state_close(st, &err), 0);
    qxs_report_free(r);
    char *good = read_text(f->state);

    check_refused(f, "replay", "written by \"qx-send send\", not \"qx-send replay\"");

    size_t len = strlen(good) + 128;
    char *bad = malloc(len);
    snprintf(bad, len, "%s{\"e\":\"failed\",\"line\":9,\"reason\":\"http500\"}\n", good);
    write_text(f->state, bad);
    check_refused(f, "send", "line 2: failed: line 9 is not pending");
    snprintf(bad, len, "%s{\"e\":\"queued\",\"line\":3,\"offset\":40,\"payload\":{}}\n", good);
    write_text(f->state, bad);
    check_refused(f, "send", "line 2: queued: line or offset out of order");
    snprintf(bad, len, "%snot json\n", good);
    write_text(f->state, bad);
    check_refused(f, "send", "line 2:");
    write_text(f->state, "{\"hello\": 1}\n");
    check_refused(f, "send", "not a qx-send state snapshot");
    free(bad);

    /* another input: its first bytes differ */
    write_text(f->state, good);
    write_text(f->input, "{\"b\": 1}\n{\"a\": 2}\n{\"a\": 3}\n{\"a\": 4}\n");
    check_refused(f, "send", "another input file");
    /* the same input, cut short of the offset reached */
    write_text(f->input, "{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3}\n{\"a\": 4}\n");
    FILE *in = fopen(f->input, "r+");
    assert_int_equal(ftruncate(fileno(in), 20), 0);
    fclose(in);
    check_refused(f, "send", "another input file");
    free(good);
    json_decref(p1);
    json_decref(p2);
}

static void test_state_refuses_a_pipe_and_a_second_user(void **state)
{
    fixture *f = *state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    qxs_report *r = qxs_report_new();
    qx_error err;
    assert_null(qxs_state_open(f->state, "send", p[0], r, &err));
    assert_non_null(strstr(err.text, "must be a regular file"));
    close(p[0]);
    close(p[1]);
    qxs_state *st = open_ok(f, r);
    qxs_report *r2 = qxs_report_new();
    assert_null(qxs_state_open(f->state, "send", f->input_fd, r2, &err));
    assert_non_null(strstr(err.text, "in use by another qx-send"));
    assert_int_equal(qxs_state_close(st, &err), 0);
    qxs_report_free(r);
    qxs_report_free(r2);
}

static void test_state_compacts_a_long_journal(void **state)
{
    fixture *f = *state;
    size_t n = 60000;
    /* an input as long as the offsets recorded below */
    char *big = malloc(n * 10 + 1);
    memset(big, ' ', n * 10);
    big[n * 10] = '\0';
    write_text(f->input, big);
    free(big);
    qxs_report *r = qxs_report_new();
    qxs_state *st = open_ok(f, r);
    qx_error err;
    /* enough events to pass QXS_STATE_COMPACT_BYTES; a few stay pending */
    json_t *payload = json_pack("{s:s}", "filler",
                                "................................................"
                                "................................................");
    for (size_t line = 1; line <= n; line++) {
        qxs_report_read(r);
        qxs_state_queued(st, line, line * 10, payload);
        if (line % 1000 != 0) {
            qxs_report_activated(r);
            qxs_state_activated(st, line);
        }
        if (line % 500 == 0)
            assert_int_equal(qxs_state_flush(st, &err), 0);
    }
    assert_int_equal(qxs_state_flush(st, &err), 0);
    struct stat sb;
    assert_int_equal(stat(f->state, &sb), 0);
    assert_true(sb.st_size < QXS_STATE_COMPACT_BYTES); /* it was compacted */
    char *text = read_text(f->state);
    assert_int_equal(qxs_state_close(st, &err), 0);
    qxs_report_free(r);
    write_text(f->state, text); /* as a kill would leave it */
    free(text);
    r = qxs_report_new();
    st = open_ok(f, r);
    assert_int_equal(qxs_state_pending_count(st), n / 1000);
    json_t *p;
    assert_int_equal(qxs_state_pending_at(st, 0, &p), 1000);
    assert_true(json_equal(p, payload));
    assert_int_equal(qxs_state_line(st), n);
    assert_int_equal(qxs_state_offset(st), n * 10);
    assert_int_equal(qxs_report_counts(r).activated, n - n / 1000);
    assert_int_equal(qxs_state_close(st, &err), 0);
    qxs_report_free(r);
    json_decref(payload);
}

static void test_report_counts_add_across_runs(void **state)
{
    (void)state;
    qxs_report *a = qxs_report_new(), *b = qxs_report_new();
    for (int i = 0; i < 3; i++)
        qxs_report_read(a);
    qxs_report_activated(a);
    assert_int_equal(qxs_report_failed(a, "http401"), 0);
    json_t *counts = qxs_report_counts_to_json(a);
    qx_error err;
    assert_int_equal(qxs_report_add_counts(b, counts, &err), 0);
    assert_int_equal(qxs_report_add_counts(b, counts, &err), 0);
    qxs_counts c = qxs_report_counts(b);
    assert_int_equal(c.read, 6);
    assert_int_equal(c.activated, 2);
    assert_int_equal(c.failed, 2);
    assert_int_equal(c.in_flight, 2);
    json_t *doc = qxs_report_to_json(b);
    assert_int_equal(json_integer_value(json_object_get(doc, "pending")), 2);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "failedReasons"), "http401")), 2);
    json_decref(doc);
    /* throughput is this run's: one activation here in one second */
    qxs_report_read(b);
    qxs_report_activated(b);
    qxs_report_set_elapsed_ms(b, 1000);
    doc = qxs_report_to_json(b);
    assert_true(json_real_value(json_object_get(doc, "throughputPerSec")) == 1.0);
    assert_int_equal(json_integer_value(json_object_get(doc, "activated")), 3);
    json_decref(doc);
    json_object_set_new(counts, "activated", json_integer(9));
    assert_int_equal(qxs_report_add_counts(b, counts, &err), -1);
    assert_int_equal(qxs_report_counts(b).read, 7); /* unchanged */
    json_decref(counts);
    qxs_report_free(a);
    qxs_report_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_state_reopened_after_a_kill_holds_every_event, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_state_keeps_a_payload_holding_nul, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_ignores_a_torn_last_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_refuses_corruption_another_command_and_input,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_refuses_a_pipe_and_a_second_user, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_state_compacts_a_long_journal, setup, teardown),
        cmocka_unit_test(test_report_counts_add_across_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
