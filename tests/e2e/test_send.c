/*
 * test_send.c — qx-send end to end.
 *
 * Against the real qx-mock (fixture stream → runs, wrong token → 401 dead
 * letters → replay after the fix, 429 from the rate limit, streaming from a
 * pipe before EOF, replay of a history export), and against a small
 * libmicrohttpd server inside this test whose answers are scripted (503 twice
 * then 200, Retry-After, time-outs, ordering, connection reuse, headers),
 * so retry counting does not depend on timing.
 *
 * The token reaches qx-send only through the environment (passwordEnv).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "qx_buf.h"
#include "send_fixture.h"

#define DEMO_WORKFLOWS QX_SOURCE_DIR "/fixtures/workflows/demo.json"
#define DEMO_SENT 17 /* of the 20 demo profiles; 3 are excluded */
#define DEMO_EXCLUDED 3
#define RUN_TIMEOUT_MS 60000
/* qx-mock may run under valgrind (QX_VALGRIND): slower than the platform's 2 s */
#define MOCK_TIMEOUT_MS "15000"

static const char *const env_wrong[] = {"QX_API_TOKEN=WRONG-TOKEN", NULL};

/* ---- the scripted server ------------------------------------------------ */

#define FAKE_MAX_REQUESTS 512

/* A scripted HTTP server on loopback, run by libmicrohttpd's threads (one per
 * connection). Everything below `lock` is shared with those threads: the
 * test sets it and reads it only through the fake_* functions, which take
 * the lock; `grew` is signalled on every request. */
typedef struct fake_server {
    struct MHD_Daemon *daemon;
    int port;
    pthread_mutex_t lock;
    pthread_cond_t grew;
    int script[16]; /* statuses answered to the first requests, in order */
    size_t n_script;
    int default_status;
    const char *retry_after; /* header value on 429/503, or NULL */
    int delay_ms;            /* before answering */
    size_t n_requests;
    int64_t at_ms[FAKE_MAX_REQUESTS];
    char *bodies[FAKE_MAX_REQUESTS];
    char auth[256];
    char content_type[128];
    size_t connections;
} fake_server;

static enum MHD_Result fake_answer(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *data,
                                   size_t *data_size, void **con_cls)
{
    (void)url;
    (void)method;
    (void)version;
    fake_server *s = cls;
    qx_buf *u = *con_cls; /* the request body so far */
    if (u == NULL) {
        *con_cls = calloc(1, sizeof(qx_buf));
        return *con_cls != NULL ? MHD_YES : MHD_NO;
    }
    if (*data_size > 0) {
        if (qx_buf_add(u, data, *data_size) != 0)
            return MHD_NO;
        *data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&s->lock);
    int delay_ms = s->delay_ms;
    pthread_mutex_unlock(&s->lock);
    if (delay_ms > 0) /* a slow server, not synchronisation */
        usleep((useconds_t)delay_ms * 1000);
    pthread_mutex_lock(&s->lock);
    size_t i = s->n_requests++;
    pthread_cond_broadcast(&s->grew);
    int status = i < s->n_script ? s->script[i] : s->default_status;
    if (i < FAKE_MAX_REQUESTS) {
        s->at_ms[i] = sf_now_ms();
        char *body = qx_buf_take(u, NULL);
        s->bodies[i] = body != NULL ? body : strdup("");
    }
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    snprintf(s->auth, sizeof s->auth, "%s", a != NULL ? a : "");
    snprintf(s->content_type, sizeof s->content_type, "%s", ct != NULL ? ct : "");
    const char *retry_after = s->retry_after;
    pthread_mutex_unlock(&s->lock);
    char body[256];
    if (status == 200)
        snprintf(body, sizeof body, "{\"result\": {}, \"meta\": {\"httpStatus\": \"200 - OK\"}}");
    else
        snprintf(body, sizeof body,
                 "{\"meta\": {\"httpStatus\": \"%d\", \"error\": {\"errorMessage\": \"scripted "
                 "%d\", \"errorCode\": \"Q_%d\"}}}",
                 status, status, status);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if ((status == 429 || status == 503) && retry_after != NULL)
        MHD_add_response_header(r, "Retry-After", retry_after);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static void fake_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    qx_buf *u = *con_cls; /* the request body so far */
    if (u != NULL) {
        qx_buf_free(u);
        free(u);
    }
    *con_cls = NULL;
}

static void fake_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                            enum MHD_ConnectionNotificationCode code)
{
    (void)c;
    (void)socket_context;
    fake_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        pthread_mutex_lock(&s->lock);
        s->connections++;
        pthread_mutex_unlock(&s->lock);
    }
}

static fake_server *fake_start(int default_status)
{
    fake_server *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->grew, NULL);
    s->default_status = default_status;
    s->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                     MHD_USE_ERROR_LOG,
                                 0, NULL, NULL, fake_answer, s, MHD_OPTION_NOTIFY_COMPLETED,
                                 fake_completed, s, MHD_OPTION_NOTIFY_CONNECTION, fake_connection,
                                 s, MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    assert_non_null(s->daemon);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    s->port = info->port;
    return s;
}

static void fake_stop(fake_server *s)
{
    MHD_stop_daemon(s->daemon);
    for (size_t i = 0; i < s->n_requests && i < FAKE_MAX_REQUESTS; i++)
        free(s->bodies[i]);
    pthread_cond_destroy(&s->grew);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* The first n requests are answered with the statuses given, later ones with
 * the default; 429 and 503 carry Retry-After when retry_after is not NULL. */
static void fake_script(fake_server *s, const char *retry_after, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    pthread_mutex_lock(&s->lock);
    assert_true(n <= sizeof s->script / sizeof s->script[0]);
    for (size_t i = 0; i < n; i++)
        s->script[i] = va_arg(ap, int);
    s->n_script = n;
    s->retry_after = retry_after;
    pthread_mutex_unlock(&s->lock);
    va_end(ap);
}

static void fake_delay(fake_server *s, int ms)
{
    pthread_mutex_lock(&s->lock);
    s->delay_ms = ms;
    pthread_mutex_unlock(&s->lock);
}

static size_t fake_requests(fake_server *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->n_requests;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* Waits until the server has answered (at least) n requests; false after
 * timeout_ms without them. */
static bool fake_wait_requests(fake_server *s, size_t n, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    int rc = 0;
    while (s->n_requests < n && rc == 0)
        rc = pthread_cond_timedwait(&s->grew, &s->lock, &until);
    bool ok = s->n_requests >= n;
    pthread_mutex_unlock(&s->lock);
    return ok;
}

/* When request i arrived (monotonic ms). */
static int64_t fake_at(fake_server *s, size_t i)
{
    pthread_mutex_lock(&s->lock);
    assert_true(i < s->n_requests && i < FAKE_MAX_REQUESTS);
    int64_t at = s->at_ms[i];
    pthread_mutex_unlock(&s->lock);
    return at;
}

/* The body of request i; it stays valid until fake_stop. */
static const char *fake_body(fake_server *s, size_t i)
{
    pthread_mutex_lock(&s->lock);
    assert_true(i < s->n_requests && i < FAKE_MAX_REQUESTS);
    const char *body = s->bodies[i];
    pthread_mutex_unlock(&s->lock);
    return body;
}

/* Copies of the Authorization and Content-Type headers of the last request. */
static void fake_last_headers(fake_server *s, char auth[256], char content_type[128])
{
    pthread_mutex_lock(&s->lock);
    memcpy(auth, s->auth, sizeof s->auth);
    memcpy(content_type, s->content_type, sizeof s->content_type);
    pthread_mutex_unlock(&s->lock);
}

static size_t fake_connections(fake_server *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->connections;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* ---- the fixture ------------------------------------------------------------ */

/* This file's part of the fixture: the scripted server, once started. */
typedef struct own {
    fake_server *fake;
} own;

static own *own_of(const sf_fixture *f)
{
    return f->own;
}

static void release_own(sf_fixture *f)
{
    if (own_of(f)->fake != NULL)
        fake_stop(own_of(f)->fake);
}

static int setup(void **state)
{
    return sf_setup_with(state, sizeof(own), release_own);
}

/* ---- destinations and runs --------------------------------------------------- */

static char *fake_destination(sf_fixture *f, int default_status)
{
    own_of(f)->fake = fake_start(default_status);
    return sf_local_destination(f, own_of(f)->fake->port);
}

/* The finished runs once there are count of them (runs/wait long-poll). */
static json_t *wait_runs(const sf_fixture *f, int count)
{
    char path[256];
    snprintf(path, sizeof path, "/_qx/v1/runs/wait?count=%d&timeoutMs=%d", count, 20000);
    json_t *w = sf_mock_get(f, path, 200);
    json_t *runs = json_incref(json_object_get(w, "runs"));
    json_decref(w);
    assert_true(json_array_size(runs) >= (size_t)count);
    return runs;
}

static json_t *run_for_email(json_t *runs, const char *email)
{
    size_t i;
    json_t *r;
    json_array_foreach(runs, i, r)
    {
        json_t *list =
            json_object_get(json_object_get(json_object_get(r, "payload"), "identityMap"), "Email");
        const char *id = json_string_value(json_object_get(json_array_get(list, 0), "id"));
        if (id != NULL && strcmp(id, email) == 0)
            return r;
    }
    return NULL;
}

/* ---- against qx-mock ---------------------------------------------------------- */

static void test_fixture_stream_becomes_runs(void **state)
{
    sf_fixture *f = *state;
    char *dest = sf_mock_destination(f, DEMO_WORKFLOWS);
    const char *argv[] = {QX_SEND,
                          "send",
                          "--timeout-ms",
                          MOCK_TIMEOUT_MS,
                          "--destination",
                          dest,
                          "--mapping",
                          DEMO_MAPPING,
                          "--report",
                          sf_path(f, "report.json"),
                          "--retry-schedule",
                          "50ms,100ms",
                          DEMO_PROFILES,
                          NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "read"), 20);
    assert_int_equal(sf_int(rep, "activated"), DEMO_SENT);
    assert_int_equal(sf_int(rep, "excluded"), DEMO_EXCLUDED);
    assert_int_equal(sf_int(rep, "failed"), 0);
    json_t *reasons = json_object_get(rep, "excludedReasons");
    assert_int_equal(json_integer_value(json_object_get(reasons, "hashedEmailOnly")), 1);
    assert_int_equal(json_integer_value(json_object_get(reasons, "noMappedIdentity")), 1);
    assert_int_equal(json_integer_value(json_object_get(reasons, "notInActivatedAudience")), 1);
    json_decref(rep);

    json_t *runs = wait_runs(f, DEMO_SENT);
    assert_int_equal(json_array_size(runs), DEMO_SENT);
    json_t *ana = run_for_email(runs, "ana@example.com");
    assert_non_null(ana);
    assert_string_equal(json_string_value(json_object_get(ana, "workflowId")), "WF_csat_purchase");
    assert_string_equal(json_string_value(json_object_get(ana, "status")), "SUCCESS");
    json_t *ed = json_object_get(ana, "eventData");
    assert_string_equal(json_string_value(json_object_get(ed, "email")), "ana@example.com");
    assert_string_equal(json_string_value(json_object_get(ed, "firstName")), "Ana");
    /* the payload the workflow got is the rendered one: mapped fields only */
    json_t *payload = json_object_get(ana, "payload");
    assert_string_equal(json_string_value(json_object_get(payload, "loyaltyTier")), "gold");
    assert_null(json_object_get(payload, "loyalty"));
    /* "not-an-email" is sent as it is and fails in the workflow, as in Qualtrics */
    json_t *bad = run_for_email(runs, "not-an-email");
    assert_non_null(bad);
    assert_string_equal(json_string_value(json_object_get(bad, "status")), "FAILURE");
    /* exits are sent too */
    json_t *finn = run_for_email(runs, "finn@example.com");
    assert_non_null(finn);
    /* excluded profiles never reach the endpoint */
    assert_null(run_for_email(runs, "gus@example.com"));
    json_decref(runs);
}

static void test_wrong_token_fails_all_then_replay_delivers(void **state)
{
    sf_fixture *f = *state;
    char *dest = sf_mock_destination(f, DEMO_WORKFLOWS);
    char *dead = sf_path(f, "dead.ndjson");
    const char *argv[] = {QX_SEND,         "send", "--timeout-ms", MOCK_TIMEOUT_MS,
                          "--destination", dest,   "--mapping",    DEMO_MAPPING,
                          "--dead-letter", dead,   "--report",     sf_path(f, "report.json"),
                          DEMO_PROFILES,   NULL};
    char *err = NULL;
    assert_int_equal(sf_run_send(argv, env_wrong, RUN_TIMEOUT_MS, &err), 1);
    assert_null(strstr(err, "WRONG-TOKEN")); /* the token is never printed */
    free(err);
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "failed"), DEMO_SENT);
    assert_int_equal(sf_int(rep, "activated"), 0);
    assert_int_equal(sf_int(rep, "retries"), 0); /* 401 is not retried */
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(rep, "failedReasons"), "http401")),
        DEMO_SENT);
    json_decref(rep);

    json_t *dl = sf_load_ndjson(dead);
    assert_int_equal(json_array_size(dl), DEMO_SENT);
    size_t i;
    json_t *rec;
    json_array_foreach(dl, i, rec)
    {
        assert_int_equal(json_integer_value(json_object_get(rec, "httpStatus")), 401);
        assert_int_equal(json_integer_value(json_object_get(rec, "attempts")), 1);
        assert_true(json_is_object(json_object_get(rec, "payload")));
        assert_true(json_is_string(json_object_get(rec, "lastAttemptAt")));
        assert_non_null(strstr(json_string_value(json_object_get(rec, "reason")), "401"));
    }
    json_decref(dl);
    /* no run; the journal says why */
    json_t *runs = sf_mock_get(f, "/_qx/v1/runs", 200);
    assert_int_equal(json_array_size(json_object_get(runs, "runs")), 0);
    json_decref(runs);
    json_t *journal = sf_mock_get(f, "/_qx/v1/requests", 200);
    assert_int_equal(json_array_size(json_object_get(journal, "requests")), DEMO_SENT);
    json_decref(journal);

    /* the token is fixed: replaying the dead letters delivers everything */
    const char *replay[] = {QX_SEND,
                            "replay",
                            "--timeout-ms",
                            MOCK_TIMEOUT_MS,
                            "--destination",
                            dest,
                            "--dead-letter",
                            sf_path(f, "dead2.ndjson"),
                            "--report",
                            sf_path(f, "report.json"),
                            dead,
                            NULL};
    assert_int_equal(sf_run_send(replay, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "read"), DEMO_SENT);
    assert_int_equal(sf_int(rep, "activated"), DEMO_SENT);
    assert_int_equal(sf_int(rep, "failed"), 0);
    json_decref(rep);
    runs = wait_runs(f, DEMO_SENT);
    assert_int_equal(json_array_size(runs), DEMO_SENT);
    assert_non_null(run_for_email(runs, "pia@example.com"));
    json_decref(runs);
}

static void test_rate_limit_429_is_dead_lettered_when_out_of_retries(void **state)
{
    sf_fixture *f = *state;
    char *cfg =
        qxt_write_file(f->dir, "config.json",
                       "{\"users\": [{\"username\": \"" USER "\", \"apiToken\": \"" TOKEN_OK "\"}],"
                       " \"rateLimitPerMinute\": 2,"
                       " \"workflows\": [{\"id\": \"WF\", \"urlTokenId\": \"" WF_TOKEN "\"}]}");
    char cfg_path[1024];
    snprintf(cfg_path, sizeof cfg_path, "%s", cfg);
    free(cfg);
    char *dest = sf_mock_destination(f, cfg_path);
    /* The mock asks for up to a minute with Retry-After: with no retries the
     * 429 fails at once and is kept for replay. Its Retry-After (30 s) would
     * pause every further request, so the third payload is the last. */
    const char *argv[] = {QX_SEND,
                          "send",
                          "--timeout-ms",
                          MOCK_TIMEOUT_MS,
                          "--destination",
                          dest,
                          "--mapping",
                          SEED_MAPPING,
                          "--concurrency",
                          "1",
                          "--retry-schedule",
                          "none",
                          "--dead-letter",
                          sf_path(f, "dead.ndjson"),
                          "--report",
                          sf_path(f, "report.json"),
                          sf_seed_profiles(f, 3),
                          NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 1);
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "activated"), 2);
    assert_int_equal(sf_int(rep, "failed"), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(rep, "failedReasons"), "http429")), 1);
    assert_int_equal(sf_int(rep, "retryAfterPauses"), 1);
    json_decref(rep);
    json_t *dl = sf_load_ndjson(sf_path(f, "dead.ndjson"));
    assert_int_equal(json_array_size(dl), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(dl, 0), "httpStatus")), 429);
    json_decref(dl);
    json_t *runs = wait_runs(f, 2);
    assert_int_equal(json_array_size(runs), 2);
    json_decref(runs);
}

static void test_stream_from_pipe_delivers_before_eof(void **state)
{
    sf_fixture *f = *state;
    signal(SIGPIPE, SIG_IGN);
    char *dest = sf_mock_destination(f, DEMO_WORKFLOWS);
    const char *argv[] = {
        QX_SEND, "send",      "--timeout-ms", MOCK_TIMEOUT_MS, "--destination",
        dest,    "--mapping", DEMO_MAPPING,   "--report",      sf_path(f, "report.json"),
        "-",     NULL};
    int in;
    pid_t pid = sf_spawn_piped(argv, TOKEN_OK, &in, NULL);
    char *l1 = sf_demo_line(1), *l2 = sf_demo_line(2);
    sf_write_all(in, l1);
    /* stdin stays open: the run must appear anyway */
    json_t *runs = wait_runs(f, 1);
    assert_int_equal(json_array_size(runs), 1);
    assert_non_null(run_for_email(runs, "ana@example.com"));
    json_decref(runs);
    sf_write_all(in, l2);
    runs = wait_runs(f, 2);
    assert_non_null(run_for_email(runs, "ben@example.com"));
    json_decref(runs);
    close(in);
    assert_int_equal(qxt_wait_exit(pid, RUN_TIMEOUT_MS), 0);
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "read"), 2);
    assert_int_equal(sf_int(rep, "activated"), 2);
    json_decref(rep);
    free(l1);
    free(l2);
}

static void test_sigterm_stops_reading_and_writes_report(void **state)
{
    sf_fixture *f = *state;
    signal(SIGPIPE, SIG_IGN);
    char *dest = sf_mock_destination(f, DEMO_WORKFLOWS);
    const char *argv[] = {
        QX_SEND, "send",      "--timeout-ms", MOCK_TIMEOUT_MS, "--destination",
        dest,    "--mapping", DEMO_MAPPING,   "--report",      sf_path(f, "report.json"),
        "-",     NULL};
    int in;
    pid_t pid = sf_spawn_piped(argv, TOKEN_OK, &in, NULL);
    char *l1 = sf_demo_line(1);
    sf_write_all(in, l1);
    json_t *runs = wait_runs(f, 1);
    json_decref(runs);
    kill(pid, SIGTERM); /* stdin still open */
    assert_int_equal(qxt_wait_exit(pid, RUN_TIMEOUT_MS), 0);
    close(in);
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "read"), 1);
    assert_int_equal(sf_int(rep, "activated"), 1);
    json_decref(rep);
    free(l1);
}

static void test_replay_of_history_export_resends_in_order(void **state)
{
    sf_fixture *f = *state;
    char *dest = sf_mock_destination(f, DEMO_WORKFLOWS);
    const char *argv[] = {QX_SEND,         "send", "--timeout-ms", MOCK_TIMEOUT_MS,
                          "--destination", dest,   "--mapping",    DEMO_MAPPING,
                          "--concurrency", "1",    DEMO_PROFILES,  NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    json_t *first = wait_runs(f, DEMO_SENT);
    qxt_response r;
    char url[512];
    snprintf(url, sizeof url, "%s/_qx/v1/export", f->mock.base_url);
    assert_int_equal(qxt_http("GET", url, NULL, 0, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    char *export_path = qxt_write_file(f->dir, "history.ndjson", r.body);
    qxt_response_free(&r);
    snprintf(url, sizeof url, "%s/_qx/v1/runs", f->mock.base_url);
    assert_int_equal(qxt_http("DELETE", url, NULL, 0, NULL, NULL, &r), 0);
    qxt_response_free(&r);

    const char *replay[] = {QX_SEND,         "replay", "--timeout-ms", MOCK_TIMEOUT_MS,
                            "--destination", dest,     "--report",     sf_path(f, "report.json"),
                            export_path,     NULL};
    assert_int_equal(sf_run_send(replay, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "activated"), DEMO_SENT);
    json_decref(rep);
    json_t *second = wait_runs(f, DEMO_SENT);
    assert_int_equal(json_array_size(second), DEMO_SENT);
    for (size_t i = 0; i < DEMO_SENT; i++)
        assert_true(json_equal(json_object_get(json_array_get(first, i), "payload"),
                               json_object_get(json_array_get(second, i), "payload")));
    json_decref(first);
    json_decref(second);
    free(export_path);
}

/* ---- against the scripted server ----------------------------------------------- */

static void test_sigterm_dead_letters_what_waits_for_a_retry(void **state)
{
    sf_fixture *f = *state;
    signal(SIGPIPE, SIG_IGN);
    char *dest = fake_destination(f, 503); /* always 503: a retry after 15 s is due */
    const char *argv[] = {QX_SEND,
                          "send",
                          "--destination",
                          dest,
                          "--mapping",
                          SEED_MAPPING,
                          "--dead-letter",
                          sf_path(f, "dead.ndjson"),
                          "--report",
                          sf_path(f, "report.json"),
                          "-",
                          NULL};
    int in;
    pid_t pid = sf_spawn_piped(argv, TOKEN_OK, &in, NULL);
    char *line = qxt_read_file(QX_SOURCE_DIR "/fixtures/seed/profile.ndjson");
    sf_write_all(in, line);
    free(line);
    assert_true(fake_wait_requests(own_of(f)->fake, 1, RUN_TIMEOUT_MS));
    assert_int_equal(fake_requests(own_of(f)->fake), 1);
    int64_t stopped = sf_now_ms();
    kill(pid, SIGTERM);
    assert_int_equal(qxt_wait_exit(pid, RUN_TIMEOUT_MS), 1);
    close(in);
    assert_true(sf_now_ms() - stopped < 5000); /* did not wait for the 15 s retry */
    assert_int_equal(fake_requests(own_of(f)->fake), 1);
    json_t *dl = sf_load_ndjson(sf_path(f, "dead.ndjson"));
    assert_int_equal(json_array_size(dl), 1);
    json_t *rec = json_array_get(dl, 0);
    assert_int_equal(json_integer_value(json_object_get(rec, "httpStatus")), 503);
    assert_int_equal(json_integer_value(json_object_get(rec, "attempts")), 1);
    assert_non_null(
        strstr(json_string_value(json_object_get(rec, "reason")), "interrupted before retry"));
    json_decref(dl);
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "read"), 1);
    assert_int_equal(sf_int(rep, "failed"), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(rep, "failedReasons"), "interrupted")),
        1);
    json_decref(rep);
}

static void test_503_twice_then_200_counts_two_retries(void **state)
{
    sf_fixture *f = *state;
    char *dest = fake_destination(f, 200);
    fake_script(own_of(f)->fake, NULL, 2, 503, 503);
    const char *argv[] = {QX_SEND,
                          "send",
                          "--destination",
                          dest,
                          "--mapping",
                          SEED_MAPPING,
                          "--retry-schedule",
                          "50ms,50ms",
                          "--report",
                          sf_path(f, "report.json"),
                          sf_seed_profiles(f, 1),
                          NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "activated"), 1);
    assert_int_equal(sf_int(rep, "retries"), 2);
    assert_int_equal(sf_int(rep, "failed"), 0);
    json_decref(rep);
    assert_int_equal(fake_requests(own_of(f)->fake), 3);
    /* the schedule was waited for */
    assert_true(fake_at(own_of(f)->fake, 1) - fake_at(own_of(f)->fake, 0) >= 50);
    assert_true(fake_at(own_of(f)->fake, 2) - fake_at(own_of(f)->fake, 1) >= 50);
}

static void test_retries_exhausted_go_to_dead_letter(void **state)
{
    sf_fixture *f = *state;
    char *dest = fake_destination(f, 503);
    const char *argv[] = {QX_SEND,
                          "send",
                          "--destination",
                          dest,
                          "--mapping",
                          SEED_MAPPING,
                          "--retry-schedule",
                          "10ms,10ms",
                          "--dead-letter",
                          sf_path(f, "dead.ndjson"),
                          "--report",
                          sf_path(f, "report.json"),
                          sf_seed_profiles(f, 1),
                          NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 1);
    assert_int_equal(fake_requests(own_of(f)->fake), 3);
    json_t *dl = sf_load_ndjson(sf_path(f, "dead.ndjson"));
    assert_int_equal(json_array_size(dl), 1);
    json_t *rec = json_array_get(dl, 0);
    assert_int_equal(json_integer_value(json_object_get(rec, "httpStatus")), 503);
    assert_int_equal(json_integer_value(json_object_get(rec, "attempts")), 3);
    assert_string_equal(json_string_value(json_object_get(rec, "reason")),
                        "HTTP 503: scripted 503");
    json_t *expected =
        json_load_file(QX_SOURCE_DIR "/fixtures/seed/expected-payload.json", 0, NULL);
    assert_true(json_equal(json_object_get(rec, "payload"), expected));
    json_decref(expected);
    json_decref(dl);
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "retries"), 2);
    assert_int_equal(sf_int(rep, "failed"), 1);
    json_decref(rep);
}

static void test_retry_after_longer_than_schedule_is_honoured(void **state)
{
    sf_fixture *f = *state;
    char *dest = fake_destination(f, 200);
    fake_script(own_of(f)->fake, "1", 1, 429);
    const char *argv[] = {QX_SEND,
                          "send",
                          "--destination",
                          dest,
                          "--mapping",
                          SEED_MAPPING,
                          "--retry-schedule",
                          "10ms",
                          "--report",
                          sf_path(f, "report.json"),
                          sf_seed_profiles(f, 1),
                          NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    assert_int_equal(fake_requests(own_of(f)->fake), 2);
    assert_true(fake_at(own_of(f)->fake, 1) - fake_at(own_of(f)->fake, 0) >= 950);
}

static void test_other_statuses_are_not_retried(void **state)
{
    sf_fixture *f = *state;
    char *dest = fake_destination(f, 400);
    const char *argv[] = {QX_SEND,
                          "send",
                          "--destination",
                          dest,
                          "--mapping",
                          SEED_MAPPING,
                          "--retry-schedule",
                          "10ms,10ms",
                          "--report",
                          sf_path(f, "report.json"),
                          sf_seed_profiles(f, 1),
                          NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 1);
    assert_int_equal(fake_requests(own_of(f)->fake), 1);
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "retries"), 0);
    json_decref(rep);
}

/* The dead-letter record holds the payload exactly as it was sent, even one
 * whose text jansson refuses by default (a NUL character in a value). */
static void test_dead_letter_holds_the_payload_as_sent(void **state)
{
    sf_fixture *f = *state;
    char *dest = fake_destination(f, 400);
    char *profiles = qxt_write_file(
        f->dir, "nul.ndjson",
        "{\"identityMap\": {\"Email\": [{\"id\": \"nul@example.com\"}]}, \"person\": "
        "{\"name\": {\"firstName\": \"a\\u0000b\"}}, \"segmentMembership\": {\"ups\": "
        "{\"046456e3b-18e1-48a6-9bda-d68547861283\": {\"status\": \"realized\"}}}}\n");
    const char *argv[] = {QX_SEND,     "send",       "--destination", dest,
                          "--mapping", SEED_MAPPING, "--dead-letter", sf_path(f, "dead.ndjson"),
                          profiles,    NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 1);
    free(profiles);
    assert_int_equal(fake_requests(own_of(f)->fake), 1);
    json_t *sent = json_loads(fake_body(own_of(f)->fake, 0), JSON_ALLOW_NUL, NULL);
    char *text = qxt_read_file(sf_path(f, "dead.ndjson"));
    assert_non_null(text);
    json_t *rec = json_loads(text, JSON_ALLOW_NUL, NULL);
    assert_non_null(rec);
    assert_non_null(sent);
    assert_true(json_equal(json_object_get(rec, "payload"), sent));
    json_t *name = json_object_get(
        json_object_get(json_object_get(json_object_get(rec, "payload"), "person"), "name"),
        "firstName");
    assert_int_equal(json_string_length(name), 3);
    json_decref(rec);
    json_decref(sent);
    free(text);
}

static void test_connection_refused_is_retried_then_failed(void **state)
{
    sf_fixture *f = *state;
    /* a port that was just free: nothing listens there */
    fake_server *gone = fake_start(200);
    int port = gone->port;
    fake_stop(gone);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
    char *dest = sf_write_destination(f, "dest.json", url, false);
    const char *argv[] = {QX_SEND,
                          "send",
                          "--destination",
                          dest,
                          "--mapping",
                          SEED_MAPPING,
                          "--retry-schedule",
                          "10ms,10ms",
                          "--dead-letter",
                          sf_path(f, "dead.ndjson"),
                          "--report",
                          sf_path(f, "report.json"),
                          sf_seed_profiles(f, 1),
                          NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 1);
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "retries"), 2);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(rep, "failedReasons"), "connectionError")),
                     1);
    json_decref(rep);
    json_t *dl = sf_load_ndjson(sf_path(f, "dead.ndjson"));
    json_t *rec = json_array_get(dl, 0);
    assert_true(json_is_null(json_object_get(rec, "httpStatus")));
    assert_int_equal(json_integer_value(json_object_get(rec, "attempts")), 3);
    json_decref(dl);
}

static void test_slow_answer_times_out(void **state)
{
    sf_fixture *f = *state;
    char *dest = fake_destination(f, 200);
    fake_delay(own_of(f)->fake, 600);
    const char *argv[] = {QX_SEND,
                          "send",
                          "--destination",
                          dest,
                          "--mapping",
                          SEED_MAPPING,
                          "--timeout-ms",
                          "100",
                          "--retry-schedule",
                          "none",
                          "--report",
                          sf_path(f, "report.json"),
                          sf_seed_profiles(f, 1),
                          NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 1);
    json_t *rep = sf_load_report(f);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(rep, "failedReasons"), "timeout")), 1);
    json_decref(rep);
}

static void test_basic_auth_and_json_content_type(void **state)
{
    sf_fixture *f = *state;
    char *dest = fake_destination(f, 200);
    const char *argv[] = {QX_SEND,     "send",       "--destination",        dest,
                          "--mapping", SEED_MAPPING, sf_seed_profiles(f, 1), NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    char auth[256], content_type[128];
    fake_last_headers(own_of(f)->fake, auth, content_type);
    assert_string_equal(auth, "Basic " TOKEN_OK_B64);
    assert_string_equal(content_type, "application/json");
    json_t *body = json_loads(fake_body(own_of(f)->fake, 0), 0, NULL);
    json_t *expected =
        json_load_file(QX_SOURCE_DIR "/fixtures/seed/expected-payload.json", 0, NULL);
    assert_true(json_equal(body, expected));
    json_decref(body);
    json_decref(expected);
}

/* The Authorization header is built by qx-send (not libcurl): base64 with
 * one and two padding characters (user:token of 37 and 38 bytes; TOKEN_OK
 * makes 36, no padding). */
static void test_basic_auth_is_padded_base64(void **state)
{
    sf_fixture *f = *state;
    static const struct {
        const char *env, *expected;
    } cases[] = {
        {"QX_API_TOKEN=QX-TEST-TOKEN-123",
         "Basic YXBpLXVzZXJAZXhhbXBsZS5jb206UVgtVEVTVC1UT0tFTi0xMjM="},
        {"QX_API_TOKEN=QX-TEST-TOKEN-12",
         "Basic YXBpLXVzZXJAZXhhbXBsZS5jb206UVgtVEVTVC1UT0tFTi0xMg=="},
    };
    char *dest = fake_destination(f, 200);
    const char *argv[] = {QX_SEND,     "send",       "--destination",        dest,
                          "--mapping", SEED_MAPPING, sf_seed_profiles(f, 1), NULL};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *env[] = {cases[i].env, NULL};
        assert_int_equal(sf_run_send(argv, env, RUN_TIMEOUT_MS, NULL), 0);
        char auth[256], content_type[128];
        fake_last_headers(own_of(f)->fake, auth, content_type);
        assert_string_equal(auth, cases[i].expected);
    }
}

/* A proxy named in the environment is still used (qx-send tells libcurl
 * "no proxy" itself only when no such variable is set). */
static void test_proxy_variable_is_honoured(void **state)
{
    sf_fixture *f = *state;
    own_of(f)->fake = fake_start(200);
    char *dest = sf_write_destination(
        f, "dest.json",
        "http://qx-send-proxy-test.invalid/inbound-event/v1/events/json/triggers?urlTokenId=x",
        false);
    char proxy[64];
    snprintf(proxy, sizeof proxy, "http_proxy=http://127.0.0.1:%d", own_of(f)->fake->port);
    const char *env[] = {"QX_API_TOKEN=" TOKEN_OK, proxy, NULL};
    const char *argv[] = {QX_SEND,     "send",       "--destination",        dest,
                          "--mapping", SEED_MAPPING, sf_seed_profiles(f, 1), NULL};
    assert_int_equal(sf_run_send(argv, env, RUN_TIMEOUT_MS, NULL), 0);
    assert_int_equal(fake_requests(own_of(f)->fake), 1); /* through the proxy */
}

static void test_same_identity_never_overtakes(void **state)
{
    sf_fixture *f = *state;
    char *dest = fake_destination(f, 200);
    fake_script(own_of(f)->fake, NULL, 1, 503); /* the first payload needs a retry */
    /* five payloads of one identity, told apart by firstName */
    char text[4096] = "";
    size_t len = 0;
    for (int i = 1; i <= 5; i++) {
        len += (size_t)snprintf(
            text + len, sizeof text - len,
            "{\"identityMap\": {\"Email\": [{\"id\": \"same@example.com\"}]}, \"person\": "
            "{\"name\": {\"firstName\": \"P%d\"}}, \"segmentMembership\": {\"ups\": "
            "{\"046456e3b-18e1-48a6-9bda-d68547861283\": {\"status\": \"realized\"}}}}\n",
            i);
    }
    char *profiles = qxt_write_file(f->dir, "same.ndjson", text);
    const char *argv[] = {
        QX_SEND,         "send", "--destination",    dest,    "--mapping", SEED_MAPPING,
        "--concurrency", "8",    "--retry-schedule", "100ms", profiles,    NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    free(profiles);
    assert_int_equal(fake_requests(own_of(f)->fake), 6);
    const char *order[] = {"P1", "P1", "P2", "P3", "P4", "P5"};
    for (size_t i = 0; i < 6; i++) {
        json_t *b = json_loads(fake_body(own_of(f)->fake, i), 0, NULL);
        const char *name = json_string_value(
            json_object_get(json_object_get(json_object_get(b, "person"), "name"), "firstName"));
        if (name == NULL || strcmp(name, order[i]) != 0)
            fprintf(stderr, "request %zu: %s, expected %s\n", i, name ? name : "?", order[i]);
        assert_string_equal(name, order[i]);
        json_decref(b);
    }
}

/* Many identities interleaved, read from a pipe (the input is read in
 * chunks, as it arrives) at a concurrency that lets payloads overtake each
 * other: each identity's payloads still arrive in line order; the one that
 * got the 503 arrives twice in a row for its identity (no later payload of
 * its identity goes before its retry). */
static void test_identities_keep_their_order_through_a_pipe(void **state)
{
    sf_fixture *f = *state;
    enum { IDS = 4, PER_ID = 100, LINES = IDS * PER_ID };
    char *dest = fake_destination(f, 200);
    fake_script(own_of(f)->fake, NULL, 1, 503);
    size_t cap = (size_t)LINES * 320, len = 0;
    char *text = malloc(cap);
    for (int i = 0; i < LINES; i++)
        len += (size_t)snprintf(
            text + len, cap - len,
            "{\"identityMap\": {\"Email\": [{\"id\": \"id%d@example.com\"}]}, \"person\": "
            "{\"name\": {\"firstName\": \"%d\"}}, \"segmentMembership\": {\"ups\": "
            "{\"046456e3b-18e1-48a6-9bda-d68547861283\": {\"status\": \"realized\"}}}}\n",
            i % IDS, i);
    const char *argv[] = {QX_SEND,
                          "send",
                          "--destination",
                          dest,
                          "--mapping",
                          SEED_MAPPING,
                          "--concurrency",
                          "8",
                          "--retry-schedule",
                          "10ms",
                          "--report",
                          sf_path(f, "report.json"),
                          "-",
                          NULL};
    char *err = NULL;
    assert_int_equal(qxt_run(argv, text, env_ok, NULL, &err, RUN_TIMEOUT_MS), 0);
    free(err);
    free(text);
    assert_int_equal(fake_requests(own_of(f)->fake), LINES + 1);
    int last[IDS], repeats = 0;
    for (int k = 0; k < IDS; k++)
        last[k] = -1;
    for (size_t i = 0; i < LINES + 1; i++) {
        json_t *b = json_loads(fake_body(own_of(f)->fake, i), 0, NULL);
        assert_non_null(b);
        const char *name = json_string_value(
            json_object_get(json_object_get(json_object_get(b, "person"), "name"), "firstName"));
        assert_non_null(name);
        int n = (int)strtol(name, NULL, 10);
        int k = n % IDS;
        if (n < last[k])
            fail_msg("request %zu: line %d of id%d after line %d", i, n + 1, k, last[k] + 1);
        if (n == last[k])
            repeats++; /* the retry */
        last[k] = n;
        json_decref(b);
    }
    assert_int_equal(repeats, 1);
    for (int k = 0; k < IDS; k++)
        assert_int_equal(last[k], LINES - IDS + k);
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "activated"), LINES);
    assert_int_equal(sf_int(rep, "retries"), 1);
    json_decref(rep);
}

static void test_connections_are_reused(void **state)
{
    sf_fixture *f = *state;
    char *dest = fake_destination(f, 200);
    const char *argv[] = {
        QX_SEND,         "send", "--destination",         dest, "--mapping", SEED_MAPPING,
        "--concurrency", "2",    sf_seed_profiles(f, 40), NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    assert_int_equal(fake_requests(own_of(f)->fake), 40);
    /* 40 requests over at most 2 kept-alive connections */
    assert_true(fake_connections(own_of(f)->fake) <= 2);
}

static void test_trace_records_calls_without_the_token(void **state)
{
    sf_fixture *f = *state;
    char *dest = fake_destination(f, 200);
    fake_script(own_of(f)->fake, NULL, 1, 503);
    const char *argv[] = {QX_SEND,
                          "send",
                          "--destination",
                          dest,
                          "--mapping",
                          SEED_MAPPING,
                          "--retry-schedule",
                          "10ms",
                          "--trace",
                          sf_path(f, "trace.ndjson"),
                          sf_seed_profiles(f, 1),
                          NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    char *text = qxt_read_file(sf_path(f, "trace.ndjson"));
    assert_non_null(text);
    assert_null(strstr(text, TOKEN_OK));
    assert_null(strstr(text, TOKEN_OK_B64));
    free(text);
    json_t *calls = sf_load_ndjson(sf_path(f, "trace.ndjson"));
    assert_int_equal(json_array_size(calls), 2);
    json_t *c0 = json_array_get(calls, 0), *c1 = json_array_get(calls, 1);
    assert_int_equal(json_integer_value(json_object_get(c0, "attempt")), 1);
    assert_int_equal(json_integer_value(json_object_get(c1, "attempt")), 2);
    json_t *req = json_object_get(c0, "request");
    assert_string_equal(json_string_value(json_object_get(req, "method")), "POST");
    json_t *hdrs = json_object_get(req, "headers");
    assert_string_equal(json_string_value(json_object_get(hdrs, "Authorization")), "[redacted]");
    assert_string_equal(json_string_value(json_object_get(hdrs, "Content-Type")),
                        "application/json");
    json_t *expected =
        json_load_file(QX_SOURCE_DIR "/fixtures/seed/expected-payload.json", 0, NULL);
    assert_true(json_equal(json_object_get(req, "body"), expected));
    json_decref(expected);
    json_t *resp0 = json_object_get(c0, "response");
    assert_int_equal(json_integer_value(json_object_get(resp0, "status")), 503);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c1, "response"), "status")),
                     200);
    assert_true(json_is_object(json_object_get(resp0, "headers")));
    assert_true(json_is_number(json_object_get(c0, "durationMs")));
    json_decref(calls);
}

static void test_malformed_lines_fail_with_line_numbers_and_stream_goes_on(void **state)
{
    sf_fixture *f = *state;
    char *dest = fake_destination(f, 200);
    char *line = qxt_read_file(QX_SOURCE_DIR "/fixtures/seed/profile.ndjson");
    size_t size = strlen(line) * 2 + 64;
    char *text = malloc(size);
    snprintf(text, size, "%s{not json\n[1, 2]\n%s", line, line);
    char *profiles = qxt_write_file(f->dir, "mixed.ndjson", text);
    free(text);
    free(line);
    const char *argv[] = {QX_SEND,         "send",
                          "--destination", dest,
                          "--mapping",     SEED_MAPPING,
                          "--dead-letter", sf_path(f, "dead.ndjson"),
                          "--report",      sf_path(f, "report.json"),
                          profiles,        NULL};
    char *err = NULL;
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, &err), 1);
    assert_non_null(strstr(err, "line 2"));
    assert_non_null(strstr(err, "line 3"));
    free(err);
    free(profiles);
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "read"), 4);
    assert_int_equal(sf_int(rep, "activated"), 2);
    assert_int_equal(sf_int(rep, "failed"), 2);
    json_decref(rep);
    json_t *dl = sf_load_ndjson(sf_path(f, "dead.ndjson"));
    assert_int_equal(json_array_size(dl), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(dl, 0), "line")), 2);
    assert_true(json_is_null(json_object_get(json_array_get(dl, 0), "payload")));
    json_decref(dl);
}

static void test_usage_errors_exit_2(void **state)
{
    sf_fixture *f = *state;
    char *dest = sf_write_destination(f, "dest.json", "http://127.0.0.1:9/x", false);
    const char *no_mapping[] = {QX_SEND, "send", "--destination", dest, NULL};
    assert_int_equal(sf_run_send(no_mapping, env_ok, RUN_TIMEOUT_MS, NULL), 2);
    const char *bad_schedule[] = {QX_SEND,     "send",       "--destination",    dest,
                                  "--mapping", SEED_MAPPING, "--retry-schedule", "soon",
                                  NULL};
    assert_int_equal(sf_run_send(bad_schedule, env_ok, RUN_TIMEOUT_MS, NULL), 2);
    const char *token_unset[] = {QX_SEND,     "send",       "--destination", dest,
                                 "--mapping", SEED_MAPPING, "/dev/null",     NULL};
    const char *const env_none[] = {"QX_API_TOKEN=", NULL};
    assert_int_equal(sf_run_send(token_unset, env_none, RUN_TIMEOUT_MS, NULL), 2);
    const char *unknown[] = {QX_SEND, "frobnicate", NULL};
    assert_int_equal(sf_run_send(unknown, env_ok, RUN_TIMEOUT_MS, NULL), 2);
    const char *password_flag[] = {QX_SEND, "send", "--password", TOKEN_OK, NULL};
    assert_int_equal(sf_run_send(password_flag, env_ok, RUN_TIMEOUT_MS, NULL), 2);
    const char *help[] = {QX_SEND, "send", "--help", NULL};
    char *out = NULL;
    assert_int_equal(qxt_run(help, NULL, NULL, &out, NULL, 10000), 0);
    assert_non_null(strstr(out, "--retry-schedule"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fixture_stream_becomes_runs, setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_token_fails_all_then_replay_delivers, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_429_is_dead_lettered_when_out_of_retries,
                                        setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_stream_from_pipe_delivers_before_eof, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_stops_reading_and_writes_report, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_replay_of_history_export_resends_in_order, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_503_twice_then_200_counts_two_retries, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_retries_exhausted_go_to_dead_letter, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_longer_than_schedule_is_honoured, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_other_statuses_are_not_retried, setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter_holds_the_payload_as_sent, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused_is_retried_then_failed, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_slow_answer_times_out, setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_dead_letters_what_waits_for_a_retry, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_basic_auth_and_json_content_type, setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_basic_auth_is_padded_base64, setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_proxy_variable_is_honoured, setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_same_identity_never_overtakes, setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_identities_keep_their_order_through_a_pipe, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_connections_are_reused, setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_trace_records_calls_without_the_token, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(
            test_malformed_lines_fail_with_line_numbers_and_stream_goes_on, setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_usage_errors_exit_2, setup, sf_teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
