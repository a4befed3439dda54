/*
 * test_send_hostile.c — qx-send against destinations and inputs that
 * misbehave: a server answering bytes that are not HTTP, one that never
 * answers, one that closes in the middle of its answer, one that says 200
 * with a body that is not JSON; profile lines that are binary garbage, 1 MB
 * long, invalid UTF-8, truncated, or an array; mappings with absurd paths.
 *
 * The decisions these tests pin down:
 *   - a 2xx is a success whatever its body (Qualtrics' body is informative
 *     only; the platform looks at the status);
 *   - no usable answer (not HTTP, time-out, closed mid-answer) is retried
 *     like a retryable status, then failed and dead-lettered with a reason
 *     that says which (invalidResponse, timeout, connectionError);
 *   - a bad input line is failed (malformedInput) with its line number and
 *     the stream goes on;
 *   - a mapping beyond the hard limits is refused at load, with a message
 *     that names the entry and does not echo a megabyte back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "send_fixture.h"
#include "rawserver.h"

#define RUN_TIMEOUT_MS 120000
#define ONE_MB (1024 * 1024)

/* This file's part of the fixture: the raw server, once started. */
typedef struct own {
    raw_server *server;
} own;

static own *own_of(const sf_fixture *f)
{
    return f->own;
}

static void release_own(sf_fixture *f)
{
    raw_stop(own_of(f)->server);
}

static int setup(void **state)
{
    return sf_setup_with(state, sizeof(own), release_own);
}

/* Starts a raw server in mode and writes dest.json for it. */
static void start_server(sf_fixture *f, raw_mode mode)
{
    own_of(f)->server = raw_start(mode);
    assert_non_null(own_of(f)->server);
    sf_local_destination(f, own_of(f)->server->port);
}

/* send with a short retry schedule, one request at a time. */
static int send_profiles(sf_fixture *f, const char *profiles, const char *timeout_ms, char **err)
{
    const char *argv[] = {QX_SEND,
                          "send",
                          "--destination",
                          f->dest,
                          "--mapping",
                          SEED_MAPPING,
                          "--concurrency",
                          "1",
                          "--timeout-ms",
                          timeout_ms,
                          "--retry-schedule",
                          "10ms,10ms",
                          "--dead-letter",
                          sf_path(f, "dead.ndjson"),
                          "--report",
                          sf_path(f, "report.json"),
                          profiles,
                          NULL};
    return sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, err);
}

/* One payload that failed after 3 attempts for reason_key; the dead-letter
 * record has no HTTP status and a reason starting with reason_start. */
static void check_failed_three_times(sf_fixture *f, const char *reason_key,
                                     const char *reason_start, const char *reason_part)
{
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "failed"), 1);
    assert_int_equal(sf_int(rep, "retries"), 2);
    assert_int_equal(sf_failed_for(rep, reason_key), 1);
    json_decref(rep);
    json_t *dl = sf_load_ndjson(sf_path(f, "dead.ndjson"));
    assert_int_equal(json_array_size(dl), 1);
    json_t *rec = json_array_get(dl, 0);
    assert_true(json_is_null(json_object_get(rec, "httpStatus")));
    assert_int_equal(sf_int(rec, "attempts"), 3);
    assert_true(json_is_object(json_object_get(rec, "payload")));
    const char *reason = json_string_value(json_object_get(rec, "reason"));
    assert_non_null(reason);
    if (strncmp(reason, reason_start, strlen(reason_start)) != 0 ||
        (reason_part != NULL && strstr(reason, reason_part) == NULL))
        fail_msg("reason \"%s\": expected \"%s...%s\"", reason, reason_start,
                 reason_part != NULL ? reason_part : "");
    json_decref(dl);
    assert_int_equal(raw_requests(own_of(f)->server), 3);
}

/* ---- hostile destinations ------------------------------------------------- */

static void test_garbage_answer_is_retried_then_dead_lettered(void **state)
{
    sf_fixture *f = *state;
    start_server(f, RAW_GARBAGE);
    assert_int_equal(send_profiles(f, sf_seed_profiles(f, 1), "2000", NULL), 1);
    check_failed_three_times(f, "invalidResponse", "invalid response: ", NULL);
}

static void test_never_answering_times_out_each_attempt(void **state)
{
    sf_fixture *f = *state;
    start_server(f, RAW_SILENT);
    int64_t t0 = sf_now_ms();
    assert_int_equal(send_profiles(f, sf_seed_profiles(f, 1), "300", NULL), 1);
    int64_t took = sf_now_ms() - t0;
    check_failed_three_times(f, "timeout", "timeout: ", "timed out after ");
    /* three attempts of 300 ms each, not a hang */
    assert_true(took >= 900);
    assert_true(took < 30000);
    /* each attempt was cut at --timeout-ms (libcurl says after how long) */
    json_t *dl = sf_load_ndjson(sf_path(f, "dead.ndjson"));
    const char *reason = json_string_value(json_object_get(json_array_get(dl, 0), "reason"));
    long after = strtol(strstr(reason, "timed out after ") + 16, NULL, 10);
    if (after < 300 || after >= 1500)
        fail_msg("the last attempt took %ld ms, not about 300: %s", after, reason);
    json_decref(dl);
}

static void test_close_mid_response_is_a_connection_error(void **state)
{
    sf_fixture *f = *state;
    start_server(f, RAW_HALF);
    /* the head said 200, but the answer never completed: not a delivery */
    assert_int_equal(send_profiles(f, sf_seed_profiles(f, 1), "2000", NULL), 1);
    check_failed_three_times(f, "connectionError", "connection error: ", "closed");
}

static void test_2xx_with_a_body_that_is_not_json_is_a_success(void **state)
{
    sf_fixture *f = *state;
    start_server(f, RAW_OK_NOT_JSON);
    assert_int_equal(send_profiles(f, sf_seed_profiles(f, 3), "2000", NULL), 0);
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "activated"), 3);
    assert_int_equal(sf_int(rep, "failed"), 0);
    assert_int_equal(sf_int(rep, "retries"), 0);
    json_decref(rep);
    assert_int_equal(raw_requests(own_of(f)->server), 3);
}

/* ---- hostile input ----------------------------------------------------------- */

static void test_malformed_lines_fail_by_number_and_the_stream_goes_on(void **state)
{
    sf_fixture *f = *state;
    start_server(f, RAW_OK);
    char *good = qxt_read_file(SEED_PROFILE); /* ends with a newline */
    size_t good_len = strlen(good);
    size_t cap = 4 * good_len + 2 * ONE_MB + 4096, len = 0;
    char *text = malloc(cap);
#define ADD(p, n)                                                                                  \
    do {                                                                                           \
        memcpy(text + len, (p), (n));                                                              \
        len += (n);                                                                                \
    } while (0)
    ADD(good, good_len); /* line 1 */
    /* line 2: binary garbage, NUL bytes included */
    for (int i = 0; i < 4096; i++) {
        char c = (char)((i * 131 + 7) % 256);
        text[len++] = c == '\n' ? 'x' : c;
    }
    text[len++] = '\n';
    ADD(good, good_len); /* line 3 */
    /* line 4: a 1 MB line that is the start of a JSON document */
    static const char big_start[] = "{\"identityMap\": {\"Email\": [{\"id\": \"";
    ADD(big_start, sizeof big_start - 1);
    memset(text + len, 'a', ONE_MB);
    len += ONE_MB;
    text[len++] = '\n';
    /* line 5: invalid UTF-8 in a string */
    static const char bad_utf8[] =
        "{\"identityMap\": {\"Email\": [{\"id\": \"\xc3\x28\xff@ex.com\"}]}}\n";
    ADD(bad_utf8, sizeof bad_utf8 - 1);
    /* line 6: truncated JSON */
    ADD(good, good_len / 2);
    text[len++] = '\n';
    /* line 7: an array, not an object */
    static const char array[] = "[{\"identityMap\": {\"Email\": [{\"id\": \"a@b.c\"}]}}]\n";
    ADD(array, sizeof array - 1);
    ADD(good, good_len); /* line 8 */
    ADD(good, good_len); /* line 9 */
#undef ADD
    sf_put_bytes(f, "hostile.ndjson", text, len);
    free(text);
    free(good);

    char *err = NULL;
    assert_int_equal(send_profiles(f, sf_path(f, "hostile.ndjson"), "2000", &err), 1);
    static const int bad_lines[] = {2, 4, 5, 6, 7};
    for (size_t i = 0; i < 5; i++) {
        char needle[32];
        snprintf(needle, sizeof needle, "line %d:", bad_lines[i]);
        if (strstr(err, needle) == NULL)
            fail_msg("stderr does not name %s", needle);
    }
    /* a megabyte of input is not echoed back in the log */
    assert_true(strlen(err) < 16384);
    free(err);
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "read"), 9);
    assert_int_equal(sf_int(rep, "activated"), 4);
    assert_int_equal(sf_int(rep, "failed"), 5);
    assert_int_equal(sf_failed_for(rep, "malformedInput"), 5);
    json_decref(rep);
    assert_int_equal(raw_requests(own_of(f)->server), 4);
    json_t *dl = sf_load_ndjson(sf_path(f, "dead.ndjson"));
    assert_int_equal(json_array_size(dl), 5);
    for (size_t i = 0; i < 5; i++) {
        json_t *rec = json_array_get(dl, i);
        assert_int_equal(sf_int(rec, "line"), bad_lines[i]);
        assert_true(json_is_null(json_object_get(rec, "payload")));
    }
    json_decref(dl);
}

/* ---- absurd mappings ------------------------------------------------------------ */

/* A mapping with one attribute source -> target (either may be huge). */
static void write_mapping(const sf_fixture *f, const char *source, const char *target, int extra)
{
    size_t cap = strlen(source) + strlen(target) + (size_t)extra * 64 + 1024, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text + len, cap - len,
                            "{\"audiences\": [\"046456e3b-18e1-48a6-9bda-d68547861283\"], "
                            "\"identities\": [{\"source\": \"Email\", \"target\": \"email\"}], "
                            "\"attributes\": [{\"source\": \"%s\", \"target\": \"%s\"}",
                            source, target);
    for (int i = 0; i < extra; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                ", {\"source\": \"s.a%d\", \"target\": \"t%d\"}", i, i);
    snprintf(text + len, cap - len, "]}");
    sf_put_file(f, "mapping.json", text);
    free(text);
}

/* A dotted path of n segments ("a.a.a..."). */
static char *deep_path(int n)
{
    char *p = malloc((size_t)n * 2);
    for (int i = 0; i < n; i++) {
        p[2 * i] = 'a';
        p[2 * i + 1] = i + 1 < n ? '.' : '\0';
    }
    return p;
}

/* The mapping is refused by send (exit 2) and validate (exit 1), quickly,
 * with a short message holding expected. */
static void check_mapping_refused(sf_fixture *f, const char *expected)
{
    const char *send[] = {QX_SEND,      "send",      "--destination",
                          f->dest,      "--mapping", sf_path(f, "mapping.json"),
                          SEED_PROFILE, NULL};
    char *err = NULL;
    assert_int_equal(sf_run_send(send, env_ok, RUN_TIMEOUT_MS, &err), 2);
    if (strstr(err, expected) == NULL)
        fail_msg("send: \"%s\" not in \"%s\"", expected, err);
    assert_true(strlen(err) < 2048);
    free(err);
    const char *validate[] = {QX_SEND, "validate", "--mapping", sf_path(f, "mapping.json"), NULL};
    char *out = NULL;
    assert_int_equal(qxt_run(validate, NULL, NULL, &out, NULL, RUN_TIMEOUT_MS), 1);
    if (strstr(out, expected) == NULL)
        fail_msg("validate: \"%s\" not in \"%s\"", expected, out);
    free(out);
    /* Refused at load: nothing sent. (A load that hung would be killed at
     * RUN_TIMEOUT_MS and fail the exit-status checks above.) */
    assert_int_equal(raw_requests(own_of(f)->server), 0);
}

static void test_absurd_mapping_paths_are_refused_at_load(void **state)
{
    sf_fixture *f = *state;
    start_server(f, RAW_OK);

    /* 10,000 segments: longer than any path may be */
    char *deep = deep_path(10000);
    write_mapping(f, "person.name.firstName", deep, 0);
    check_mapping_refused(f, "mapping.attributes[0].target: \"a.a.a");
    check_mapping_refused(f, "is 19999 bytes long; at most 1024");
    write_mapping(f, deep, "firstName", 0);
    check_mapping_refused(f, "mapping.attributes[0].source: \"a.a.a");
    free(deep);
    /* short enough, but a payload nested 100 deep */
    deep = deep_path(100);
    write_mapping(f, "person.name.firstName", deep, 0);
    check_mapping_refused(f, "has 100 segments; at most 32");
    free(deep);

    write_mapping(f, "person.name.firstName", "a..b", 0);
    check_mapping_refused(f, "mapping.attributes[0].target: \"a..b\" is not a dotted path");

    char *huge = malloc(ONE_MB + 1);
    memset(huge, 'n', ONE_MB);
    huge[ONE_MB] = '\0';
    write_mapping(f, "person.name.firstName", huge, 0);
    check_mapping_refused(f, "is 1048576 bytes long; at most 1024");
    free(huge);

    write_mapping(f, "person.name.firstName", "firstName", 9999);
    check_mapping_refused(f, "mapping.attributes: 10000 entries; at most 1000");

    /* within the limits, a deep path is fine */
    char *ok = deep_path(32);
    write_mapping(f, "person.name.firstName", ok, 0);
    free(ok);
    const char *send[] = {QX_SEND,      "send",      "--destination",
                          f->dest,      "--mapping", sf_path(f, "mapping.json"),
                          SEED_PROFILE, NULL};
    assert_int_equal(sf_run_send(send, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    assert_int_equal(raw_requests(own_of(f)->server), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_garbage_answer_is_retried_then_dead_lettered, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_never_answering_times_out_each_attempt, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_close_mid_response_is_a_connection_error, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_2xx_with_a_body_that_is_not_json_is_a_success, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_lines_fail_by_number_and_the_stream_goes_on,
                                        setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_absurd_mapping_paths_are_refused_at_load, setup,
                                        sf_teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
