/*
 * test_send_state.c — `qx-send send --state FILE` end to end, against the
 * real qx-mock.
 *
 * The sender is SIGKILLed mid-stream (twice) and restarted with the same
 * state and input; then every input line must be accounted for exactly once
 * in the final, cumulative report, every payload the mapping renders must
 * have at least one run in the mock, and the runs beyond one per payload
 * (requests in flight at a kill) must number at most the concurrency per
 * kill. The expected payloads come from `qx-send render` on the same input.
 * A SIGTERM with --state pauses instead (nothing dead-lettered as
 * interrupted, nothing sent twice), and a state is refused on standard
 * input, on another input file, and when corrupt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "harness.h"
#include "send_fixture.h"

#define AUDIENCE "a1f5c3e0-purchase-completed-0001"
#define MAPPING QX_SOURCE_DIR "/fixtures/mappings/demo.json"
#define RUN_TIMEOUT_MS 240000
/* qx-mock may run under valgrind: slower than the platform's 2 s */
#define MOCK_TIMEOUT_MS "15000"
#define CONCURRENCY 8
#define CONCURRENCY_TEXT "8"
/* every MALFORMED_EVERY-th line is not JSON; every EXCLUDED_EVERY-th is in
 * no activated audience */
#define MALFORMED_EVERY 97
#define EXCLUDED_EVERY 10

/* 2,000 profiles normally; under valgrind everything is ~30 times slower */
static int profile_count(void)
{
    return RUNNING_ON_VALGRIND ? 300 : 2000;
}

/* ---- fixture ------------------------------------------------------------- */

/* Starts qx-mock (no rate limit to speak of) and writes dest.json for it. */
static void start_mock(sf_fixture *f)
{
    sf_put_file(f, "config.json",
                "{\"users\": [{\"username\": \"" USER "\", \"apiToken\": \"" TOKEN_OK "\"}],"
                " \"rateLimitPerMinute\": 1000000,"
                " \"workflows\": [{\"id\": \"WF\", \"urlTokenId\": \"" WF_TOKEN "\"}]}");
    sf_mock_destination(f, sf_path(f, "config.json"));
}

static bool is_malformed(int i)
{
    return i % MALFORMED_EVERY == 0;
}

static bool is_excluded(int i)
{
    return !is_malformed(i) && i % EXCLUDED_EVERY == 0;
}

/* Writes n generated profiles (one identity each) to name; returns its path
 * (malloc'd). */
static char *write_profiles(const sf_fixture *f, const char *name, int first, int n)
{
    size_t cap = (size_t)n * 400 + 1, len = 0;
    char *text = malloc(cap);
    text[0] = '\0';
    for (int i = first; i < first + n; i++) {
        if (is_malformed(i)) {
            len += (size_t)snprintf(text + len, cap - len, "{\"identityMap\": {\"Email\": [\n");
            continue;
        }
        len += (size_t)snprintf(
            text + len, cap - len,
            "{\"identityMap\": {\"Email\": [{\"id\": \"user%d@example.com\"}]}, \"person\": "
            "{\"name\": {\"firstName\": \"F%d\", \"lastName\": \"L%d\"}}, \"loyalty\": {\"tier\": "
            "\"t%d\"}, \"segmentMembership\": {\"ups\": {\"%s\": {\"status\": \"realized\", "
            "\"lastQualificationTime\": \"2026-11-20T09:00:00.000Z\"}}}}\n",
            i, i, i, i % 3, is_excluded(i) ? "not-activated-segment" : AUDIENCE);
    }
    sf_put_file(f, name, text);
    free(text);
    return strdup(sf_path(f, name));
}

/* ---- running qx-send ------------------------------------------------------- */

/* Starts argv with the token in the environment; stderr to err_path. */
static pid_t spawn(const char *const *argv, const char *err_path)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        setenv("QX_API_TOKEN", TOKEN_OK, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Waits for pid; returns its exit code, 128 + signal when a signal ended it,
 * -1 on a time-out (it is then killed). */
static int wait_status(pid_t pid, int timeout_ms)
{
    int status = 0;
    if (!qxt_wait_pid(pid, timeout_ms, &status)) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void show_stderr(const sf_fixture *f)
{
    char *text = qxt_read_file(sf_path(f, "stderr.txt"));
    if (text != NULL && text[0] != '\0')
        fprintf(stderr, "[qx-send stderr]\n%s", text);
    free(text);
}

/* The send command with --state; report is the report file's name. */
static void send_argv(const sf_fixture *f, const char *profiles, const char *report,
                      const char **argv)
{
    size_t n = 0;
    argv[n++] = QX_SEND;
    argv[n++] = "send";
    argv[n++] = "-q";
    argv[n++] = "--timeout-ms";
    argv[n++] = MOCK_TIMEOUT_MS;
    argv[n++] = "--retry-schedule";
    argv[n++] = "50ms,100ms";
    argv[n++] = "--concurrency";
    argv[n++] = CONCURRENCY_TEXT;
    argv[n++] = "--destination";
    argv[n++] = f->dest;
    argv[n++] = "--mapping";
    argv[n++] = MAPPING;
    argv[n++] = "--state";
    argv[n++] = sf_path(f, "state.ndjson");
    argv[n++] = "--dead-letter";
    argv[n++] = sf_path(f, "dead.ndjson");
    argv[n++] = "--report";
    argv[n++] = sf_path(f, report);
    argv[n++] = profiles;
    argv[n] = NULL;
}

/* ---- the mock's side ----------------------------------------------------------- */

static json_int_t mock_total_runs(const sf_fixture *f)
{
    json_t *j = sf_mock_get(f, "/_qx/v1/runs?limit=1", 200);
    json_int_t total = json_integer_value(json_object_get(j, "total"));
    json_decref(j);
    return total;
}

/* Runs qx-send in the background and SIGKILLs it once the mock has at least
 * `after` runs; asserts that it was still running then. Returns the runs
 * counted just before the kill. */
static json_int_t send_and_kill(const sf_fixture *f, const char *profiles, json_int_t after)
{
    const char *argv[32];
    send_argv(f, profiles, "report-killed.json", argv);
    pid_t pid = spawn(argv, sf_path(f, "stderr.txt"));
    json_int_t total = 0;
    int64_t deadline = sf_now_ms() + RUN_TIMEOUT_MS;
    while ((total = mock_total_runs(f)) < after && sf_now_ms() < deadline) {
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            show_stderr(f);
            fail_msg("qx-send ended before it could be killed (%lld runs)", (long long)total);
        }
        usleep(2000);
    }
    kill(pid, SIGKILL);
    int st = wait_status(pid, RUN_TIMEOUT_MS);
    if (st != 128 + SIGKILL)
        show_stderr(f);
    assert_int_equal(st, 128 + SIGKILL); /* killed mid-stream, not finished */
    return total;
}

/* The payloads `qx-send render` makes of profiles, as canonical text. */
static json_t *expected_payloads(const char *profiles, size_t *n_out)
{
    const char *argv[] = {QX_SEND, "render", "--mapping", MAPPING, profiles, NULL};
    char *out = NULL;
    assert_int_equal(qxt_run(argv, NULL, NULL, &out, NULL, RUN_TIMEOUT_MS), 1); /* malformed */
    json_t *counts = json_object(); /* canonical payload -> expected number of runs (1) */
    size_t n = 0;
    for (char *line = out, *next; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        json_t *v = json_loads(line, 0, NULL);
        assert_non_null(v);
        char *canon = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        assert_null(json_object_get(counts, canon)); /* one identity each: all distinct */
        json_object_set_new(counts, canon, json_integer(0));
        free(canon);
        json_decref(v);
        n++;
    }
    free(out);
    *n_out = n;
    return counts;
}

/* Checks runs against the expected payloads: each has at least one run,
 * nothing else was run, and the runs beyond one per payload are at most
 * max_extra. Returns the number of those extra runs. */
static size_t check_runs(json_t *expected, json_t *runs, size_t max_extra)
{
    size_t i, extra = 0, marked = 0;
    json_t *run;
    json_array_foreach(runs, i, run)
    {
        char *canon = json_dumps(json_object_get(run, "payload"), JSON_COMPACT | JSON_SORT_KEYS);
        json_t *seen = json_object_get(expected, canon);
        if (seen == NULL)
            fail_msg("a run of a payload that was never expected: %s", canon);
        if (json_integer_value(seen) > 0)
            extra++;
        json_integer_set(seen, json_integer_value(seen) + 1);
        free(canon);
        /* the emulator marks a repeated payload (at-least-once made visible) */
        if (json_is_string(json_object_get(run, "duplicateOf")))
            marked++;
    }
    const char *key;
    json_t *v;
    json_object_foreach(expected, key, v)
    {
        if (json_integer_value(v) < 1)
            fail_msg("a payload without a run: %s", key);
    }
    if (extra > max_extra)
        fail_msg("%zu payloads sent twice; at most %zu were in flight at the kills", extra,
                 max_extra);
    if (marked > 0) /* when the emulator marks duplicates, it marks each of them */
        assert_int_equal(marked, extra);
    return extra;
}

/* The final report adds up to the whole input of n profiles. */
static void check_cumulative_report(const json_t *rep, int n, size_t n_expected)
{
    int malformed = 0, excluded = 0;
    for (int i = 1; i <= n; i++) {
        malformed += is_malformed(i);
        excluded += is_excluded(i);
    }
    assert_int_equal(sf_int(rep, "read"), n);
    assert_int_equal(sf_int(rep, "activated"), (json_int_t)n_expected);
    assert_int_equal(sf_int(rep, "excluded"), excluded);
    assert_int_equal(sf_int(rep, "failed"), malformed);
    assert_int_equal(sf_int(json_object_get(rep, "failedReasons"), "malformedInput"), malformed);
    assert_int_equal(sf_int(json_object_get(rep, "excludedReasons"), "notInActivatedAudience"),
                     excluded);
    assert_null(json_object_get(rep, "pending"));
}

/* Every malformed line is in the dead-letter file, by its line number. */
static void check_dead_letters(const sf_fixture *f, int n)
{
    char *text = qxt_read_file(sf_path(f, "dead.ndjson"));
    assert_non_null(text);
    json_t *lines = json_object();
    for (char *line = text, *next; *line != '\0'; line = next) {
        next = strchr(line, '\n');
        assert_non_null(next);
        *next++ = '\0';
        json_t *rec = json_loads(line, 0, NULL);
        assert_non_null(rec);
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)sf_int(rec, "line"));
        json_object_set_new(lines, key, json_true());
        assert_true(json_is_null(json_object_get(rec, "payload")));
        json_decref(rec);
    }
    free(text);
    size_t malformed = 0;
    for (int i = 1; i <= n; i++) {
        if (!is_malformed(i))
            continue;
        char key[32];
        snprintf(key, sizeof key, "%d", i);
        if (json_object_get(lines, key) == NULL)
            fail_msg("line %d is not in the dead-letter file", i);
        malformed++;
    }
    assert_int_equal(json_object_size(lines), malformed);
    json_decref(lines);
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_kill_9_twice_then_resume_accounts_for_every_line(void **state)
{
    sf_fixture *f = *state;
    int n = profile_count();
    char *profiles = write_profiles(f, "profiles.ndjson", 1, n);
    size_t n_expected;
    json_t *expected = expected_payloads(profiles, &n_expected);
    start_mock(f);

    json_int_t at1 = send_and_kill(f, profiles, n / 7);
    json_int_t at2 = send_and_kill(f, profiles, at1 + n / 5);
    assert_true(at2 < (json_int_t)n_expected);
    /* what the kills left: the state file says how far it got */
    json_t *snap = NULL;
    {
        char *text = qxt_read_file(sf_path(f, "state.ndjson"));
        assert_non_null(text);
        *strchr(text, '\n') = '\0';
        snap = json_loads(text, 0, NULL);
        free(text);
    }
    assert_non_null(snap);
    assert_int_equal(sf_int(snap, "qxSendState"), 1);
    json_decref(snap);

    const char *argv[32];
    send_argv(f, profiles, "report.json", argv);
    pid_t pid = spawn(argv, sf_path(f, "stderr.txt"));
    int rc = wait_status(pid, RUN_TIMEOUT_MS);
    if (rc != 1)
        show_stderr(f);
    assert_int_equal(rc, 1); /* the malformed lines failed */

    json_t *rep = sf_load_json(sf_path(f, "report.json"));
    check_cumulative_report(rep, n, n_expected);
    json_decref(rep);
    check_dead_letters(f, n);
    json_t *runs = sf_mock_runs(f);
    size_t extra = check_runs(expected, runs, 2 * CONCURRENCY);
    fprintf(stderr, "killed at %lld and %lld runs; %zu runs for %zu payloads (%zu sent twice)\n",
            (long long)at1, (long long)at2, json_array_size(runs), n_expected, extra);
    json_decref(runs);
    json_decref(expected);
    free(profiles);
}

static void test_sigterm_with_state_pauses_then_resumes_without_duplicates(void **state)
{
    sf_fixture *f = *state;
    int n = profile_count();
    char *profiles = write_profiles(f, "profiles.ndjson", 1, n);
    size_t n_expected;
    json_t *expected = expected_payloads(profiles, &n_expected);
    start_mock(f);

    const char *argv[32];
    send_argv(f, profiles, "report1.json", argv);
    pid_t pid = spawn(argv, sf_path(f, "stderr.txt"));
    int64_t deadline = sf_now_ms() + RUN_TIMEOUT_MS;
    while (mock_total_runs(f) < n / 5 && sf_now_ms() < deadline)
        usleep(2000);
    kill(pid, SIGTERM);
    int rc = wait_status(pid, RUN_TIMEOUT_MS);
    if (rc != 3)
        show_stderr(f);
    assert_int_equal(rc, 3); /* stopped with lines pending */
    json_t *rep = sf_load_json(sf_path(f, "report1.json"));
    json_int_t read1 = sf_int(rep, "read");
    assert_true(read1 <= n);
    /* what was read and not finished is reported pending, not lost */
    assert_true(sf_int(rep, "pending") > 0);
    assert_int_equal(sf_int(rep, "pending"), read1 - sf_int(rep, "activated") -
                                                 sf_int(rep, "excluded") - sf_int(rep, "failed"));
    /* nothing failed for being interrupted: unfinished lines stay pending */
    assert_null(json_object_get(json_object_get(rep, "failedReasons"), "interrupted"));
    json_decref(rep);
    char *err = qxt_read_file(sf_path(f, "stderr.txt"));
    assert_non_null(strstr(err, "run again with --state"));
    free(err);

    send_argv(f, profiles, "report.json", argv);
    pid = spawn(argv, sf_path(f, "stderr.txt"));
    rc = wait_status(pid, RUN_TIMEOUT_MS);
    if (rc != 1)
        show_stderr(f);
    assert_int_equal(rc, 1);
    rep = sf_load_json(sf_path(f, "report.json"));
    check_cumulative_report(rep, n, n_expected);
    json_decref(rep);
    check_dead_letters(f, n);
    /* a graceful stop records every outcome: nothing is sent twice */
    json_t *runs = sf_mock_runs(f);
    assert_int_equal(check_runs(expected, runs, 0), 0);
    assert_int_equal(json_array_size(runs), n_expected);
    json_decref(runs);
    json_decref(expected);
    free(profiles);
}

static void test_state_continues_a_grown_input_and_refuses_another(void **state)
{
    sf_fixture *f = *state;
    start_mock(f);
    char *profiles = write_profiles(f, "profiles.ndjson", 1, 5);
    const char *argv[32];
    send_argv(f, profiles, "report.json", argv);
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    assert_int_equal(mock_total_runs(f), 5);

    /* the same state and input again: nothing new to send */
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    assert_int_equal(mock_total_runs(f), 5);
    json_t *rep = sf_load_json(sf_path(f, "report.json"));
    assert_int_equal(sf_int(rep, "read"), 5);
    assert_int_equal(sf_int(rep, "activated"), 5);
    json_decref(rep);

    /* lines appended since: only they are sent, numbered as in the file */
    char *more = write_profiles(f, "more.ndjson", 6, 4);
    char *a = qxt_read_file(profiles), *b = qxt_read_file(more);
    size_t len = strlen(a) + strlen(b) + 1;
    char *both = malloc(len);
    snprintf(both, len, "%s%s", a, b);
    sf_put_file(f, "profiles.ndjson", both);
    free(a);
    free(b);
    free(both);
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    assert_int_equal(mock_total_runs(f), 9);
    rep = sf_load_json(sf_path(f, "report.json"));
    assert_int_equal(sf_int(rep, "read"), 9);
    assert_int_equal(sf_int(rep, "activated"), 9);
    json_decref(rep);

    /* another input with this state is refused before anything is sent */
    char *other = write_profiles(f, "other.ndjson", 100, 3);
    send_argv(f, other, "report.json", argv);
    char *err = NULL;
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, &err), 2);
    assert_non_null(strstr(err, "another input file"));
    free(err);
    free(other);
    free(more);
    assert_int_equal(mock_total_runs(f), 9);

    /* standard input cannot be read again: refused */
    send_argv(f, "-", "report.json", argv);
    err = NULL;
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, &err), 2);
    assert_non_null(strstr(err, "--state needs an input FILE"));
    free(err);
    free(profiles);
}

static void test_state_torn_tail_is_ignored_and_corruption_refused(void **state)
{
    sf_fixture *f = *state;
    start_mock(f);
    char *profiles = write_profiles(f, "profiles.ndjson", 1, 3);
    const char *argv[32];
    send_argv(f, profiles, "report.json", argv);
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    assert_int_equal(mock_total_runs(f), 3);

    /* a kill in the middle of a write leaves half a line: that event never
     * happened, and the state still loads */
    char *text = qxt_read_file(sf_path(f, "state.ndjson"));
    size_t len = strlen(text) + 64;
    char *torn = malloc(len);
    snprintf(torn, len, "%s{\"e\": \"activ", text);
    sf_put_file(f, "state.ndjson", torn);
    free(torn);
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    assert_int_equal(mock_total_runs(f), 3);

    /* a complete line that is not an event is corruption: refused */
    char *bad = malloc(len);
    snprintf(bad, len, "%s{\"e\": \"activated\", \"line\": 77}\n", text);
    sf_put_file(f, "state.ndjson", bad);
    free(bad);
    char *err = NULL;
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, &err), 2);
    assert_non_null(strstr(err, "line 77 is not pending"));
    free(err);
    free(text);

    /* the state file cannot be one of the other files */
    const char *same[] = {QX_SEND, "send",    "--destination", f->dest,  "--mapping",
                          MAPPING, "--state", profiles,        profiles, NULL};
    err = NULL;
    assert_int_equal(sf_run_send(same, env_ok, RUN_TIMEOUT_MS, &err), 2);
    assert_non_null(strstr(err, "is the input file"));
    free(err);
    free(profiles);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill_9_twice_then_resume_accounts_for_every_line,
                                        sf_setup, sf_teardown),
        cmocka_unit_test_setup_teardown(
            test_sigterm_with_state_pauses_then_resumes_without_duplicates, sf_setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_state_continues_a_grown_input_and_refuses_another,
                                        sf_setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_state_torn_tail_is_ignored_and_corruption_refused,
                                        sf_setup, sf_teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
