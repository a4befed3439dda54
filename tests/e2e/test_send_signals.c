/*
 * test_send_signals.c — `qx-send send` stopped by SIGINT/SIGTERM without
 * --state, end to end against the real qx-mock: nothing read is lost, and
 * the report says where to go on.
 *
 * The promise under test: every line a stopped run read is activated,
 * excluded or dead-lettered with its payload (never a half-read line taken
 * for a malformed one, never a "payload": null for a profile), no line after
 * the report's resumeFromLine was sent, and replaying the dead letter plus
 * `send --from-line resumeFromLine` completes the set — every profile has a
 * run, and a second run only where an answer was lost after the run was
 * recorded (qx-mock marks those "duplicateOf", and counts the answers it
 * dropped).
 *
 * The first tests are focused: half a line written to standard input when
 * the signal comes. The last one stops runs at 32 moments drawn from a
 * seeded generator, against a slow and lossy qx-mock (latency and dropped
 * answers injected), over a file or a pipe fed in random pieces; each
 * stopped run is continued from its resumeFromLine by the next one, each
 * dead letter is replayed, and each pass over the whole file is checked.
 * The seeded draws only pace the load (how many runs to let through, how
 * long to pause, how big a piece to write); everything waited for is an
 * event: a count of runs reached (qx-mock's long-poll), a pipe drained, a
 * child's exit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "harness.h"
#include "qx_rng.h"
#include "send_fixture.h"

#define AUDIENCE "a1f5c3e0-purchase-completed-0001"
#define MAPPING QX_SOURCE_DIR "/fixtures/mappings/demo.json"
#define RUN_TIMEOUT_MS 50000 /* under the harness's 60 s per HTTP call */
/* qx-mock may run under valgrind: slower than the platform's 2 s */
#define MOCK_TIMEOUT_MS "15000"
/* every EXCLUDED_EVERY-th profile is in no activated audience */
#define EXCLUDED_EVERY 10
#define SEED 20261129u
/* at most this many runs let through before a signal */
#define MAX_RUNS_BEFORE_SIGNAL 40
/* retries enough that a dropped answer (2 %) almost never fails a payload */
#define RETRY_SCHEDULE "20ms,40ms,80ms,160ms"

/* Stops and profiles of the seeded test; under valgrind everything is ~30
 * times slower, so it does less. */
static int signal_count(void)
{
    return RUNNING_ON_VALGRIND ? 8 : 32;
}

static int profile_count(void)
{
    return RUNNING_ON_VALGRIND ? 120 : 300;
}

/* ---- profiles --------------------------------------------------------------- */

static bool is_excluded(int i)
{
    return i % EXCLUDED_EVERY == 0;
}

static int format_profile(char *out, size_t size, int i)
{
    return snprintf(
        out, size,
        "{\"identityMap\": {\"Email\": [{\"id\": \"user%d@example.com\"}]}, \"person\": {\"name\": "
        "{\"firstName\": \"F%d\", \"lastName\": \"L%d\"}}, \"loyalty\": {\"tier\": \"t%d\"}, "
        "\"segmentMembership\": {\"ups\": {\"%s\": {\"status\": \"realized\", "
        "\"lastQualificationTime\": \"2026-11-20T09:00:00.000Z\"}}}}\n",
        i, i, i, i % 3, is_excluded(i) ? "not-activated-segment" : AUDIENCE);
}

/* n generated profiles (one identity each) as text (malloc'd). */
static char *profiles_text(int n)
{
    size_t cap = (size_t)n * 400 + 1, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    text[0] = '\0';
    for (int i = 1; i <= n; i++)
        len += (size_t)format_profile(text + len, cap - len, i);
    return text;
}

/* The profile's number, from the payload's email; 0 when there is none. */
static int profile_of(const json_t *payload)
{
    json_t *list = json_object_get(json_object_get(payload, "identityMap"), "Email");
    const char *id = json_string_value(json_object_get(json_array_get(list, 0), "id"));
    int i = 0;
    if (id == NULL || sscanf(id, "user%d@example.com", &i) != 1)
        return 0;
    return i;
}

/* Profiles from..to (inclusive) the mapping sends. */
static int sendable(int from, int to)
{
    int n = 0;
    for (int i = from; i <= to; i++)
        n += !is_excluded(i);
    return n;
}

/* ---- qx-mock ------------------------------------------------------------------- */

/* Starts qx-mock (seeded, no rate limit to speak of, faults as given: a JSON
 * object or NULL) and writes dest.json for its workflow. */
static void start_mock(sf_fixture *f, const char *faults)
{
    char config[1024];
    snprintf(config, sizeof config,
             "{\"users\": [{\"username\": \"" USER "\", \"apiToken\": \"" TOKEN_OK "\"}],"
             " \"rateLimitPerMinute\": 1000000, \"faults\": %s,"
             " \"workflows\": [{\"id\": \"WF\", \"urlTokenId\": \"" WF_TOKEN "\"}]}",
             faults != NULL ? faults : "{}");
    sf_put_file(f, "config.json", config);
    const char *extra[] = {"--seed", "7", NULL};
    assert_int_equal(qxt_mock_start(&f->mock, sf_path(f, "config.json"), extra), 0);
    char url[512];
    snprintf(url, sizeof url, "%s/inbound-event/v1/events/json/triggers?urlTokenId=%s",
             f->mock.base_url, WF_TOKEN);
    sf_write_destination(f, "dest.json", url, false);
}

static json_int_t mock_total_runs(const sf_fixture *f)
{
    json_t *j = sf_mock_get(f, "/_qx/v1/runs?limit=1", 200);
    json_int_t total = json_integer_value(json_object_get(j, "total"));
    json_decref(j);
    return total;
}

/* Returns once qx-mock has count finished runs (its long-poll: an event,
 * not a timer). */
static void wait_total_runs(const sf_fixture *f, json_int_t count)
{
    char path[256];
    snprintf(path, sizeof path, "/_qx/v1/runs/wait?count=%lld&timeoutMs=%d", (long long)count,
             RUN_TIMEOUT_MS);
    json_decref(sf_mock_get(f, path, 200));
}

/* The JSON events qx-mock left unanswered so far (dropped connections:
 * its metrics count them under status "other", which nothing else in these
 * tests answers). Counted by the emulator, not from the senders' traces:
 * libcurl re-sends a request by itself when a reused connection closes
 * without an answer, and no trace sees that. */
static long long mock_dropped(const sf_fixture *f)
{
    char url[512];
    snprintf(url, sizeof url, "%s/metrics", f->mock.base_url);
    qxt_response r;
    assert_int_equal(qxt_http("GET", url, NULL, 0, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    static const char key[] = "qxmock_requests_total{endpoint=\"json_event\",status=\"other\"} ";
    const char *at = strstr(r.body, key);
    long long n = at != NULL ? strtoll(at + sizeof key - 1, NULL, 10) : 0;
    qxt_response_free(&r);
    return n;
}

static void mock_clear_runs(const sf_fixture *f)
{
    char url[512];
    snprintf(url, sizeof url, "%s/_qx/v1/runs", f->mock.base_url);
    qxt_response r;
    assert_int_equal(qxt_http("DELETE", url, NULL, 0, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    qxt_response_free(&r);
}

/* ---- running qx-send --------------------------------------------------------------- */

/* The send command; input is a file or "-"; from_line 0 leaves it out; the
 * files are dir/<name>-<tag>.{json,ndjson}. */
static void send_argv(const sf_fixture *f, const char *input, int from_line, int tag,
                      const char **argv, char *from_text, size_t from_size)
{
    static char names[2][64];
    size_t n = 0;
    argv[n++] = QX_SEND;
    argv[n++] = "send";
    argv[n++] = "-q";
    argv[n++] = "--timeout-ms";
    argv[n++] = MOCK_TIMEOUT_MS;
    argv[n++] = "--retry-schedule";
    argv[n++] = RETRY_SCHEDULE;
    argv[n++] = "--concurrency";
    argv[n++] = "4";
    argv[n++] = "--destination";
    argv[n++] = f->dest;
    argv[n++] = "--mapping";
    argv[n++] = MAPPING;
    snprintf(names[0], sizeof names[0], "dead-%d.ndjson", tag);
    snprintf(names[1], sizeof names[1], "report-%d.json", tag);
    argv[n++] = "--dead-letter";
    argv[n++] = sf_path(f, names[0]);
    argv[n++] = "--report";
    argv[n++] = sf_path(f, names[1]);
    if (from_line > 0) {
        snprintf(from_text, from_size, "%d", from_line);
        argv[n++] = "--from-line";
        argv[n++] = from_text;
    }
    argv[n++] = input;
    argv[n] = NULL;
}

/* Starts argv with the token in the environment and standard input from
 * /dev/null; standard error is the test's. */
static pid_t spawn(const char *const *argv)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        setenv("QX_API_TOKEN", TOKEN_OK, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Returns once the pipe behind fd holds no unread byte: the reader has read
 * everything written, down to the last half line. Polls the condition until
 * a deadline. */
static void wait_pipe_drained(int fd)
{
    int64_t deadline = sf_now_ms() + RUN_TIMEOUT_MS;
    int unread = -1;
    while ((ioctl(fd, FIONREAD, &unread) != 0 || unread > 0) && sf_now_ms() < deadline)
        usleep(1000);
    assert_int_equal(unread, 0);
}

/* The report's resumeFromLine, 0 when absent (the input was read whole). */
static int resume_line(const json_t *rep)
{
    json_t *v = json_object_get(rep, "resumeFromLine");
    assert_true(v == NULL || json_is_integer(v));
    return v != NULL ? (int)json_integer_value(v) : 0;
}

/* ---- focused: half a line in the pipe when the signal comes ---------------------- */

static void half_line_then(void **state, int sig)
{
    sf_fixture *f = *state;
    start_mock(f, NULL);
    char *text = profiles_text(3);
    sf_put_file(f, "profiles.ndjson", text);
    const char *argv[40];
    char from[32];
    send_argv(f, "-", 0, 1, argv, from, sizeof from);
    int in;
    pid_t pid = sf_spawn_piped(argv, TOKEN_OK, &in, NULL);
    /* line 1 whole, line 2 half */
    size_t len1 = strchr(text, '\n') + 1 - text;
    size_t len2 = strchr(text + len1, '\n') + 1 - (text + len1);
    char *part = strndup(text, len1 + len2 / 2);
    sf_write_all(in, part);
    free(part);
    wait_total_runs(f, 1); /* line 1 delivered: qx-send is running, signals caught */
    wait_pipe_drained(in); /* and it has read the half line */
    kill(pid, sig);
    assert_int_equal(qxt_wait_exit(pid, RUN_TIMEOUT_MS), 0); /* nothing failed */
    close(in);

    json_t *rep = sf_load_json(sf_path(f, "report-1.json"));
    assert_int_equal(sf_int(rep, "read"), 1);
    assert_int_equal(sf_int(rep, "activated"), 1);
    assert_int_equal(sf_int(rep, "failed"), 0);
    assert_int_equal(sf_failed_for(rep, "malformedInput"), 0);
    assert_null(json_object_get(rep, "pending"));
    assert_int_equal(resume_line(rep), 2); /* the half line is where to go on */
    json_decref(rep);
    json_t *dead = sf_load_ndjson(sf_path(f, "dead-1.ndjson"));
    assert_int_equal(json_array_size(dead), 0); /* no "payload": null */
    json_decref(dead);

    /* the whole input again on standard input, from line 2: lines 2 and 3 */
    send_argv(f, "-", 2, 2, argv, from, sizeof from);
    char *err = NULL;
    assert_int_equal(qxt_run(argv, text, env_ok, NULL, &err, RUN_TIMEOUT_MS), 0);
    free(err);
    rep = sf_load_json(sf_path(f, "report-2.json"));
    assert_int_equal(sf_int(rep, "read"), 2); /* line 1 skipped, not counted */
    assert_int_equal(sf_int(rep, "activated"), 2);
    assert_int_equal(resume_line(rep), 0);
    json_decref(rep);
    json_t *runs = sf_mock_runs(f);
    assert_int_equal(json_array_size(runs), 3);
    int seen = 0; /* profiles 1, 2 and 3 once each (2 and 3 in either order) */
    for (size_t i = 0; i < 3; i++) {
        json_t *run = json_array_get(runs, i);
        int line = profile_of(json_object_get(run, "payload"));
        assert_true(line >= 1 && line <= 3 && (seen & (1 << line)) == 0);
        seen |= 1 << line;
        assert_null(json_object_get(run, "duplicateOf"));
    }
    assert_int_equal(profile_of(json_object_get(json_array_get(runs, 0), "payload")), 1);
    json_decref(runs);
    free(text);
}

static void test_sigterm_with_half_a_line_in_stdin_loses_nothing(void **state)
{
    half_line_then(state, SIGTERM);
}

static void test_sigint_with_half_a_line_in_stdin_loses_nothing(void **state)
{
    half_line_then(state, SIGINT);
}

static void test_from_line_skips_a_file_and_refuses_state(void **state)
{
    sf_fixture *f = *state;
    start_mock(f, NULL);
    char *text = profiles_text(12);
    sf_put_file(f, "profiles.ndjson", text);
    free(text);
    const char *argv[40];
    char from[32];
    send_argv(f, sf_path(f, "profiles.ndjson"), 9, 1, argv, from, sizeof from);
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    json_t *rep = sf_load_json(sf_path(f, "report-1.json"));
    assert_int_equal(sf_int(rep, "read"), 4); /* lines 9..12 */
    assert_int_equal(sf_int(rep, "activated"), 3);
    assert_int_equal(sf_int(rep, "excluded"), 1); /* line 10 */
    assert_int_equal(resume_line(rep), 0);
    json_decref(rep);
    json_t *runs = sf_mock_runs(f);
    assert_int_equal(json_array_size(runs), 3);
    int sum = 0; /* profiles 9, 11 and 12, in any order (4 requests in flight) */
    for (size_t i = 0; i < 3; i++) {
        int line = profile_of(json_object_get(json_array_get(runs, i), "payload"));
        assert_true(line == 9 || line == 11 || line == 12);
        sum += line;
    }
    assert_int_equal(sum, 9 + 11 + 12);
    json_decref(runs);

    /* past the end: nothing to send */
    send_argv(f, sf_path(f, "profiles.ndjson"), 100, 2, argv, from, sizeof from);
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    rep = sf_load_json(sf_path(f, "report-2.json"));
    assert_int_equal(sf_int(rep, "read"), 0);
    json_decref(rep);

    const char *with_state[] = {QX_SEND,
                                "send",
                                "--destination",
                                f->dest,
                                "--mapping",
                                MAPPING,
                                "--state",
                                sf_path(f, "state"),
                                "--from-line",
                                "3",
                                sf_path(f, "profiles.ndjson"),
                                NULL};
    char *err = NULL;
    assert_int_equal(sf_run_send(with_state, env_ok, RUN_TIMEOUT_MS, &err), 2);
    assert_non_null(strstr(err, "--from-line cannot be used with --state"));
    free(err);
    const char *zero[] = {QX_SEND,       "send",      "--destination",
                          f->dest,       "--mapping", MAPPING,
                          "--from-line", "0",         sf_path(f, "profiles.ndjson"),
                          NULL};
    err = NULL;
    assert_int_equal(sf_run_send(zero, env_ok, RUN_TIMEOUT_MS, &err), 2);
    assert_non_null(strstr(err, "--from-line 0: expected a line number from 1"));
    free(err);
    assert_int_equal(mock_total_runs(f), 3);
}

/* ---- seeded: stops at many moments, then replay and --from-line ------------------- */

/* Writes text to a pipe in pieces of seeded sizes with seeded pauses (load
 * generation, not synchronisation), until it is all written or the reader
 * is gone; then closes the pipe. */
typedef struct feeder {
    pthread_t thread;
    int fd;
    const char *text;
    uint64_t seed;
} feeder;

static void *feed(void *arg)
{
    feeder *fe = arg;
    qx_rng *rng = qx_rng_new(fe->seed);
    size_t len = strlen(fe->text), off = 0;
    while (rng != NULL && off < len) {
        size_t piece = (size_t)qx_rng_range(rng, 1, 700);
        if (piece > len - off)
            piece = len - off;
        ssize_t w = write(fe->fd, fe->text + off, piece);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* EPIPE: qx-send has ended */
        off += (size_t)w;
        /* about 250 lines a second: slower than qx-send delivers, so that
         * a stop finds little unsent and the file lasts several runs */
        usleep((useconds_t)qx_rng_range(rng, 0, 4000));
    }
    qx_rng_free(rng);
    close(fe->fd);
    return NULL;
}

/* What one pass over the file has seen so far. */
typedef struct pass {
    int n;              /* profiles in the file */
    int from;           /* the next run's --from-line */
    long long dropped;  /* qx-mock's dropped answers when the pass began */
    json_int_t at_base; /* runs before the current trial */
} pass;

/* One stopped run's outcome (rc: its exit code, 128 + the signal that
 * ended it), checked: every line it read is counted once
 * and, unless excluded, was delivered (a run of this trial) or dead-lettered
 * with its payload; nothing after its last read line was sent. Returns the
 * dead letters' count. */
static size_t check_trial(const sf_fixture *f, pass *p, int tag, int rc)
{
    char name[64];
    snprintf(name, sizeof name, "report-%d.json", tag);
    json_t *rep = sf_load_json(sf_path(f, name));
    json_int_t read = sf_int(rep, "read"), failed = sf_int(rep, "failed");
    assert_int_equal(read, sf_int(rep, "activated") + sf_int(rep, "excluded") + failed);
    assert_null(json_object_get(rep, "pending"));
    assert_int_equal(sf_failed_for(rep, "malformedInput"), 0);
    int resume = resume_line(rep);
    /* killed by the signal: only when it came after the run had ended and
     * written everything (the report is there, the input read whole) */
    if (rc < 128)
        assert_int_equal(rc, failed > 0 ? 1 : 0);
    else
        assert_int_equal(resume, 0);
    json_decref(rep);
    int last = resume > 0 ? resume - 1 : p->n;
    assert_true(resume == 0 || (resume >= p->from && resume <= p->n + 1));
    assert_int_equal(read, last - p->from + 1); /* no line lost or counted twice */

    char *seen = calloc((size_t)p->n + 2, 1);
    snprintf(name, sizeof name, "dead-%d.ndjson", tag);
    json_t *dead = sf_load_ndjson(sf_path(f, name));
    size_t i;
    json_t *d;
    json_array_foreach(dead, i, d)
    {
        json_t *payload = json_object_get(d, "payload");
        assert_true(json_is_object(payload)); /* replayable */
        int line = (int)sf_int(d, "line");
        assert_int_equal(profile_of(payload), line);
        assert_true(line >= p->from && line <= last && !is_excluded(line));
        assert_int_equal(seen[line] & 1, 0); /* dead-lettered once */
        seen[line] |= 1;
    }
    json_t *runs = sf_mock_runs(f);
    for (i = (size_t)p->at_base; i < json_array_size(runs); i++) {
        int line = profile_of(json_object_get(json_array_get(runs, i), "payload"));
        if (line < p->from || line > last)
            fail_msg("trial %d: profile %d was sent but its line is outside %d..%d", tag, line,
                     p->from, last);
        seen[line] |= 2;
    }
    json_decref(runs);
    for (int line = p->from; line <= last; line++)
        if (!is_excluded(line) && seen[line] == 0)
            fail_msg("trial %d: line %d was read, yet neither delivered nor dead-lettered", tag,
                     line);
    free(seen);
    size_t n_dead = json_array_size(dead);
    json_decref(dead);
    p->from = resume;
    return n_dead;
}

/* Replays trial tag's dead letter; every payload in it must be delivered. */
static void replay_dead_letter(const sf_fixture *f, int tag, size_t n_dead)
{
    char dead[64], report[64];
    snprintf(dead, sizeof dead, "dead-%d.ndjson", tag);
    snprintf(report, sizeof report, "replay-%d.json", tag);
    char dead_path[1024], report_path[1024];
    snprintf(dead_path, sizeof dead_path, "%s", sf_path(f, dead));
    snprintf(report_path, sizeof report_path, "%s", sf_path(f, report));
    const char *argv[] = {
        QX_SEND,        "replay",        "-q", "--timeout-ms",  MOCK_TIMEOUT_MS, "--retry-schedule",
        RETRY_SCHEDULE, "--concurrency", "4",  "--destination", f->dest,         "--report",
        report_path,    dead_path,       NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    json_t *rep = sf_load_json(report_path);
    assert_int_equal(sf_int(rep, "activated"), (json_int_t)n_dead);
    json_decref(rep);
}

/* The pass is over (a run read the file to its end): every profile has a
 * run; a second one only where an answer was lost, and marked so. */
static void check_pass(const sf_fixture *f, const pass *p)
{
    json_t *runs = sf_mock_runs(f);
    int *count = calloc((size_t)p->n + 1, sizeof *count);
    size_t i, extra = 0, marked = 0;
    json_t *run;
    json_array_foreach(runs, i, run)
    {
        int line = profile_of(json_object_get(run, "payload"));
        assert_true(line >= 1 && line <= p->n && !is_excluded(line));
        if (count[line]++ > 0)
            extra++;
        marked += json_is_string(json_object_get(run, "duplicateOf"));
    }
    for (int line = 1; line <= p->n; line++)
        if (!is_excluded(line) && count[line] == 0)
            fail_msg("profile %d was never delivered", line);
    assert_int_equal(marked, extra);
    long long lost = mock_dropped(f) - p->dropped;
    if ((long long)extra > lost)
        fail_msg("%zu payloads sent twice, but only %lld answers were lost", extra, lost);
    fprintf(stderr, "pass: %zu runs for %d profiles; %zu sent twice, %lld answers lost\n",
            json_array_size(runs), sendable(1, p->n), extra, lost);
    free(count);
    json_decref(runs);
}

/* One run from p->from, stopped by sig once k more runs exist and a seeded
 * pause has passed; over the file, or over a pipe fed in seeded pieces.
 * Returns true when a signal was sent. */
static bool stopped_run(const sf_fixture *f, pass *p, int tag, qx_rng *rng, const char *text)
{
    bool via_pipe = qx_rng_chance(rng, 0.7);
    int sig = qx_rng_chance(rng, 0.5) ? SIGINT : SIGTERM;
    int left = sendable(p->from, p->n);
    int k = (int)qx_rng_range(rng, 1, MAX_RUNS_BEFORE_SIGNAL);
    useconds_t pause_us = (useconds_t)qx_rng_range(rng, 0, 15000);
    feeder fe = {.text = text, .seed = qx_rng_next(rng)};
    const char *argv[40];
    char from[32];
    send_argv(f, via_pipe ? "-" : sf_path(f, "profiles.ndjson"), p->from, tag, argv, from,
              sizeof from);
    p->at_base = mock_total_runs(f);
    pid_t pid;
    if (via_pipe) {
        pid = sf_spawn_piped(argv, TOKEN_OK, &fe.fd, NULL);
        assert_int_equal(pthread_create(&fe.thread, NULL, feed, &fe), 0);
    } else {
        pid = spawn(argv);
    }
    /* at least one run: qx-send is running and catches signals by then */
    if (left > 0) {
        wait_total_runs(f, p->at_base + (k < left ? k : left));
        usleep(pause_us); /* pacing drawn from the seed: the moment of the stop */
        kill(pid, sig);
    }
    int status = 0;
    assert_true(qxt_wait_pid(pid, RUN_TIMEOUT_MS, &status));
    int rc = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    if (via_pipe)
        pthread_join(fe.thread, NULL);
    size_t n_dead = check_trial(f, p, tag, rc);
    if (n_dead > 0)
        replay_dead_letter(f, tag, n_dead);
    return left > 0;
}

static void test_stops_at_seeded_moments_then_replay_and_from_line_complete(void **state)
{
    sf_fixture *f = *state;
    /* slow (every answer held 1-6 ms) and lossy (2 % of answers lost after
     * the run was recorded: the sender retries, or dead-letters when
     * stopped meanwhile) */
    start_mock(f, "{\"latencyMs\": [1, 6], \"dropRate\": 0.02, \"dropPhase\": \"after\"}");
    pass p = {.n = profile_count(), .from = 1, .dropped = mock_dropped(f)};
    char *text = profiles_text(p.n);
    sf_put_file(f, "profiles.ndjson", text);
    qx_rng *rng = qx_rng_new(SEED);
    int signals = 0, passes = 0, tag = 0;
    while (signals < signal_count() || p.from != 1) {
        signals += stopped_run(f, &p, ++tag, rng, text);
        if (p.from == 0) { /* the file was read to its end */
            check_pass(f, &p);
            mock_clear_runs(f);
            p = (pass){.n = p.n, .from = 1, .dropped = mock_dropped(f)};
            passes++;
        }
    }
    fprintf(stderr, "%d signals over %d runs in %d passes\n", signals, tag, passes);
    assert_true(passes >= 1);
    qx_rng_free(rng);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sigterm_with_half_a_line_in_stdin_loses_nothing,
                                        sf_setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_sigint_with_half_a_line_in_stdin_loses_nothing,
                                        sf_setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_from_line_skips_a_file_and_refuses_state, sf_setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(
            test_stops_at_seeded_moments_then_replay_and_from_line_complete, sf_setup, sf_teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
