/*
 * test_send_render.c — `qx-send render` end to end: its output is written in
 * blocks, yet a stream still gets each payload as soon as it is rendered.
 *
 * The first test feeds one line at a time through a pipe and reads each
 * payload back from render's standard output (a pipe too, so stdio buffers
 * it fully) before it writes the next line and long before EOF. The second
 * renders a file whose output spans many blocks and checks every payload's
 * text: the seed example's compact text, keys in the example's order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "send_fixture.h"

#define SEED_PAYLOAD QX_SOURCE_DIR "/fixtures/seed/expected-payload.json"
/* generous: the test may run under valgrind; a render that waited for EOF
 * would never answer at all */
#define LINE_TIMEOUT_MS 20000
#define RUN_TIMEOUT_MS 60000

/* Reads one line (without its newline) into buf within timeout_ms; false
 * when none came. */
static bool read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t len = 0;
    int64_t deadline = sf_now_ms() + timeout_ms;
    while (len + 1 < cap) {
        int64_t left = deadline - sf_now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return false;
        char c;
        if (read(fd, &c, 1) != 1)
            return false;
        if (c == '\n') {
            buf[len] = '\0';
            return true;
        }
        buf[len++] = c;
    }
    return false;
}

static const char *first_email(const char *payload_text)
{
    static char email[256];
    json_t *p = json_loads(payload_text, 0, NULL);
    assert_non_null(p);
    json_t *list = json_object_get(json_object_get(p, "identityMap"), "Email");
    const char *id = json_string_value(json_object_get(json_array_get(list, 0), "id"));
    snprintf(email, sizeof email, "%s", id != NULL ? id : "");
    json_decref(p);
    return email;
}

static void test_render_streams_each_payload_before_eof(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    const char *argv[] = {QX_SEND, "render", "--mapping", DEMO_MAPPING, "-", NULL};
    int in, out;
    pid_t pid = sf_spawn_piped(argv, NULL, &in, &out);
    char *l1 = sf_demo_line(1), *l2 = sf_demo_line(2);
    char line[8192];
    sf_write_all(in, l1);
    /* standard input stays open: the payload must come out anyway */
    assert_true(read_line(out, line, sizeof line, LINE_TIMEOUT_MS));
    assert_string_equal(first_email(line), "ana@example.com");
    sf_write_all(in, l2);
    assert_true(read_line(out, line, sizeof line, LINE_TIMEOUT_MS));
    assert_string_equal(first_email(line), "ben@example.com");
    close(in);
    assert_false(read_line(out, line, sizeof line, LINE_TIMEOUT_MS)); /* EOF, nothing more */
    assert_int_equal(qxt_wait_exit(pid, RUN_TIMEOUT_MS), 0);
    close(out);
    free(l1);
    free(l2);
}

static void test_render_of_a_file_many_blocks_long_is_complete(void **state)
{
    sf_fixture *f = *state;
    enum { COPIES = 3000 }; /* ~1 MB of payloads: many output blocks, many input reads */
    char *profiles = sf_seed_profiles(f, COPIES); /* the seed profile ends with a newline */
    const char *argv[] = {QX_SEND, "render", "--mapping", SEED_MAPPING, profiles, NULL};
    char *out = NULL;
    assert_int_equal(qxt_run(argv, NULL, NULL, &out, NULL, RUN_TIMEOUT_MS), 0);
    json_t *expected = json_load_file(SEED_PAYLOAD, 0, NULL);
    assert_non_null(expected);
    char *want = json_dumps(expected, JSON_COMPACT); /* jansson keeps the file's key order */
    assert_non_null(want);
    int lines = 0;
    for (char *line = out, *next; *line != '\0'; line = next) {
        next = strchr(line, '\n');
        assert_non_null(next); /* every payload ends with its newline */
        *next++ = '\0';
        if (strcmp(line, want) != 0)
            fail_msg("line %d:\n%s\nexpected the seed example's text:\n%s", lines + 1, line, want);
        lines++;
    }
    assert_int_equal(lines, COPIES);
    free(want);
    json_decref(expected);
    free(out);
}

/* Files saved by an editor that starts them with a UTF-8 byte order mark:
 * the mapping loads and the first profile is rendered, not lost as
 * malformed. */
static void test_files_with_a_byte_order_mark_render(void **state)
{
    sf_fixture *f = *state;
    char *mapping_text = qxt_read_file(SEED_MAPPING);
    char *profile_text = qxt_read_file(QX_SOURCE_DIR "/fixtures/seed/profile.ndjson");
    assert_non_null(mapping_text);
    assert_non_null(profile_text);
    char bom_mapping[8192], bom_profiles[16384];
    snprintf(bom_mapping, sizeof bom_mapping, "\xEF\xBB\xBF%s", mapping_text);
    snprintf(bom_profiles, sizeof bom_profiles, "\xEF\xBB\xBF%s%s", profile_text, profile_text);
    char *mapping = qxt_write_file(f->dir, "mapping.json", bom_mapping);
    char *profiles = qxt_write_file(f->dir, "profiles.ndjson", bom_profiles);
    const char *argv[] = {QX_SEND, "render", "--mapping", mapping, profiles, NULL};
    char *out = NULL, *err = NULL;
    int rc = qxt_run(argv, NULL, NULL, &out, &err, RUN_TIMEOUT_MS);
    if (rc != 0)
        fprintf(stderr, "%s", err);
    assert_int_equal(rc, 0);
    json_t *expected = json_load_file(SEED_PAYLOAD, 0, NULL);
    char *want = json_dumps(expected, JSON_COMPACT);
    char twice[16384];
    snprintf(twice, sizeof twice, "%s\n%s\n", want, want);
    assert_string_equal(out, twice);
    free(want);
    json_decref(expected);
    free(out);
    free(err);
    free(mapping);
    free(profiles);
    free(mapping_text);
    free(profile_text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_streams_each_payload_before_eof),
        cmocka_unit_test_setup_teardown(test_render_of_a_file_many_blocks_long_is_complete,
                                        sf_setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_files_with_a_byte_order_mark_render, sf_setup,
                                        sf_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
