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
#include "rawserver.h"

#define QX_SEND QX_BIN_DIR "/qx-send"
#define TOKEN_OK "QX-TEST-TOKEN-1"
#define SEED_MAPPING QX_SOURCE_DIR "/fixtures/seed/mapping.json"
#define SEED_PROFILE QX_SOURCE_DIR "/fixtures/seed/profile.ndjson"
#define RUN_TIMEOUT_MS 120000
#define ONE_MB (1024 * 1024)

static const char *const env_ok[] = {"QX_API_TOKEN=" TOKEN_OK, NULL};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct fixture {
    char *dir;
    raw_server *server;
    char dest[1024];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = qxt_tempdir();
    *state = f;
    return f->dir != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    raw_stop(f->server);
    qxt_remove_dir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static char *path_in(const fixture *f, const char *name)
{
    static char buf[8][1024];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", f->dir, name);
    return buf[i];
}

/* Writes n bytes (NULs allowed) to dir/name. */
static void put_bytes(const fixture *f, const char *name, const char *data, size_t n)
{
    FILE *out = fopen(path_in(f, name), "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(data, 1, n, out), n);
    assert_int_equal(fclose(out), 0);
}

static void put_file(const fixture *f, const char *name, const char *text)
{
    put_bytes(f, name, text, strlen(text));
}

/* Starts a raw server in mode and writes dest.json for it. */
static void start_server(fixture *f, raw_mode mode)
{
    f->server = raw_start(mode);
    assert_non_null(f->server);
    char text[1024];
    snprintf(text, sizeof text,
             "{\"name\": \"hostile\", \"url\": \"http://127.0.0.1:%d/inbound-event/v1/events/json/"
             "triggers?urlTokenId=x\", \"username\": \"api-user@example.com\", \"passwordEnv\": "
             "\"QX_API_TOKEN\"}",
             f->server->port);
    put_file(f, "dest.json", text);
    snprintf(f->dest, sizeof f->dest, "%s", path_in(f, "dest.json"));
}

/* The seed profile, copies times, in profiles.ndjson; returns its path. */
static char *seed_profiles(const fixture *f, int copies)
{
    char *line = qxt_read_file(SEED_PROFILE);
    assert_non_null(line);
    size_t n = strlen(line);
    char *text = malloc(n * (size_t)copies + 1);
    for (int i = 0; i < copies; i++)
        memcpy(text + n * (size_t)i, line, n);
    text[n * (size_t)copies] = '\0';
    put_file(f, "profiles.ndjson", text);
    free(line);
    free(text);
    return path_in(f, "profiles.ndjson");
}

static int run_send(const char *const *argv, char **err_out)
{
    char *err = NULL;
    int rc = qxt_run(argv, NULL, env_ok, NULL, &err, RUN_TIMEOUT_MS);
    if (err != NULL && err[0] != '\0')
        fprintf(stderr, "[qx-send stderr]\n%.4000s\n", err);
    if (err_out != NULL)
        *err_out = err;
    else
        free(err);
    return rc;
}

static json_t *load_report(const fixture *f)
{
    json_error_t jerr;
    json_t *r = json_load_file(path_in(f, "report.json"), 0, &jerr);
    if (r == NULL)
        fprintf(stderr, "report: %s\n", jerr.text);
    assert_non_null(r);
    return r;
}

static json_int_t member_int(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        fail_msg("no integer \"%s\"", key);
    return json_integer_value(v);
}

static json_int_t failed_for(const json_t *rep, const char *reason)
{
    return json_integer_value(json_object_get(json_object_get(rep, "failedReasons"), reason));
}

static json_t *load_ndjson(const char *path)
{
    json_t *arr = json_array();
    char *text = qxt_read_file(path);
    for (char *line = text, *next; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (*line == '\0')
            continue;
        json_t *v = json_loads(line, 0, NULL);
        assert_non_null(v);
        json_array_append_new(arr, v);
    }
    free(text);
    return arr;
}

/* send with a short retry schedule, one request at a time. */
static int send_profiles(fixture *f, const char *profiles, const char *timeout_ms, char **err)
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
                          path_in(f, "dead.ndjson"),
                          "--report",
                          path_in(f, "report.json"),
                          profiles,
                          NULL};
    return run_send(argv, err);
}

/* One payload that failed after 3 attempts for reason_key; the dead-letter
 * record has no HTTP status and a reason starting with reason_start. */
static void check_failed_three_times(fixture *f, const char *reason_key, const char *reason_start,
                                     const char *reason_part)
{
    json_t *rep = load_report(f);
    assert_int_equal(member_int(rep, "failed"), 1);
    assert_int_equal(member_int(rep, "retries"), 2);
    assert_int_equal(failed_for(rep, reason_key), 1);
    json_decref(rep);
    json_t *dl = load_ndjson(path_in(f, "dead.ndjson"));
    assert_int_equal(json_array_size(dl), 1);
    json_t *rec = json_array_get(dl, 0);
    assert_true(json_is_null(json_object_get(rec, "httpStatus")));
    assert_int_equal(member_int(rec, "attempts"), 3);
    assert_true(json_is_object(json_object_get(rec, "payload")));
    const char *reason = json_string_value(json_object_get(rec, "reason"));
    assert_non_null(reason);
    if (strncmp(reason, reason_start, strlen(reason_start)) != 0 ||
        (reason_part != NULL && strstr(reason, reason_part) == NULL))
        fail_msg("reason \"%s\": expected \"%s...%s\"", reason, reason_start,
                 reason_part != NULL ? reason_part : "");
    json_decref(dl);
    assert_int_equal(raw_requests(f->server), 3);
}

/* ---- hostile destinations ------------------------------------------------- */

static void test_garbage_answer_is_retried_then_dead_lettered(void **state)
{
    fixture *f = *state;
    start_server(f, RAW_GARBAGE);
    assert_int_equal(send_profiles(f, seed_profiles(f, 1), "2000", NULL), 1);
    check_failed_three_times(f, "invalidResponse", "invalid response: ", NULL);
}

static void test_never_answering_times_out_each_attempt(void **state)
{
    fixture *f = *state;
    start_server(f, RAW_SILENT);
    int64_t t0 = now_ms();
    assert_int_equal(send_profiles(f, seed_profiles(f, 1), "300", NULL), 1);
    int64_t took = now_ms() - t0;
    check_failed_three_times(f, "timeout", "timeout: ", "timed out after ");
    /* three attempts of 300 ms each, not a hang */
    assert_true(took >= 900);
    assert_true(took < 30000);
    /* each attempt was cut at --timeout-ms (libcurl says after how long) */
    json_t *dl = load_ndjson(path_in(f, "dead.ndjson"));
    const char *reason = json_string_value(json_object_get(json_array_get(dl, 0), "reason"));
    long after = strtol(strstr(reason, "timed out after ") + 16, NULL, 10);
    if (after < 300 || after >= 1500)
        fail_msg("the last attempt took %ld ms, not about 300: %s", after, reason);
    json_decref(dl);
}

static void test_close_mid_response_is_a_connection_error(void **state)
{
    fixture *f = *state;
    start_server(f, RAW_HALF);
    /* the head said 200, but the answer never completed: not a delivery */
    assert_int_equal(send_profiles(f, seed_profiles(f, 1), "2000", NULL), 1);
    check_failed_three_times(f, "connectionError", "connection error: ", "closed");
}

static void test_2xx_with_a_body_that_is_not_json_is_a_success(void **state)
{
    fixture *f = *state;
    start_server(f, RAW_OK_NOT_JSON);
    assert_int_equal(send_profiles(f, seed_profiles(f, 3), "2000", NULL), 0);
    json_t *rep = load_report(f);
    assert_int_equal(member_int(rep, "activated"), 3);
    assert_int_equal(member_int(rep, "failed"), 0);
    assert_int_equal(member_int(rep, "retries"), 0);
    json_decref(rep);
    assert_int_equal(raw_requests(f->server), 3);
}

/* ---- hostile input ----------------------------------------------------------- */

static void test_malformed_lines_fail_by_number_and_the_stream_goes_on(void **state)
{
    fixture *f = *state;
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
    put_bytes(f, "hostile.ndjson", text, len);
    free(text);
    free(good);

    char *err = NULL;
    assert_int_equal(send_profiles(f, path_in(f, "hostile.ndjson"), "2000", &err), 1);
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
    json_t *rep = load_report(f);
    assert_int_equal(member_int(rep, "read"), 9);
    assert_int_equal(member_int(rep, "activated"), 4);
    assert_int_equal(member_int(rep, "failed"), 5);
    assert_int_equal(failed_for(rep, "malformedInput"), 5);
    json_decref(rep);
    assert_int_equal(raw_requests(f->server), 4);
    json_t *dl = load_ndjson(path_in(f, "dead.ndjson"));
    assert_int_equal(json_array_size(dl), 5);
    for (size_t i = 0; i < 5; i++) {
        json_t *rec = json_array_get(dl, i);
        assert_int_equal(member_int(rec, "line"), bad_lines[i]);
        assert_true(json_is_null(json_object_get(rec, "payload")));
    }
    json_decref(dl);
}

/* ---- absurd mappings ------------------------------------------------------------ */

/* A mapping with one attribute source -> target (either may be huge). */
static void write_mapping(const fixture *f, const char *source, const char *target, int extra)
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
    put_file(f, "mapping.json", text);
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
static void check_mapping_refused(fixture *f, const char *expected)
{
    int64_t t0 = now_ms();
    const char *send[] = {QX_SEND,      "send",      "--destination",
                          f->dest,      "--mapping", path_in(f, "mapping.json"),
                          SEED_PROFILE, NULL};
    char *err = NULL;
    assert_int_equal(run_send(send, &err), 2);
    if (strstr(err, expected) == NULL)
        fail_msg("send: \"%s\" not in \"%s\"", expected, err);
    assert_true(strlen(err) < 2048);
    free(err);
    const char *validate[] = {QX_SEND, "validate", "--mapping", path_in(f, "mapping.json"), NULL};
    char *out = NULL;
    assert_int_equal(qxt_run(validate, NULL, NULL, &out, NULL, RUN_TIMEOUT_MS), 1);
    if (strstr(out, expected) == NULL)
        fail_msg("validate: \"%s\" not in \"%s\"", expected, out);
    free(out);
    assert_true(now_ms() - t0 < 20000);
    assert_int_equal(raw_requests(f->server), 0);
}

static void test_absurd_mapping_paths_are_refused_at_load(void **state)
{
    fixture *f = *state;
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
                          f->dest,      "--mapping", path_in(f, "mapping.json"),
                          SEED_PROFILE, NULL};
    assert_int_equal(run_send(send, NULL), 0);
    assert_int_equal(raw_requests(f->server), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_garbage_answer_is_retried_then_dead_lettered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_never_answering_times_out_each_attempt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_mid_response_is_a_connection_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_2xx_with_a_body_that_is_not_json_is_a_success, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_malformed_lines_fail_by_number_and_the_stream_goes_on,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_absurd_mapping_paths_are_refused_at_load, setup,
                                        teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
