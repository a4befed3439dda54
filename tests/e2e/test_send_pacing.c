/*
 * test_send_pacing.c — qx-send paces itself: --rate and the destination's
 * rateLimitPerMinute against qx-mock's per-user limit, and a 429's
 * Retry-After pausing the whole destination.
 *
 * The pause is checked by causal order, not by timing luck: a small
 * libmicrohttpd server in this file holds its first answer (the 429) until
 * --concurrency requests are in flight, and holds those others until the
 * 429 has been written. From then on every request it receives was started
 * after qx-send read the 429, and must arrive at least Retry-After later
 * than the moment the 429 was queued.
 *
 * Nothing here sleeps to synchronise: the server waits on its condition
 * variable, the test on qx-send's exit and on qx-mock's long-poll.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "send_fixture.h"

#define RUN_TIMEOUT_MS 120000
/* qx-mock may run under valgrind (QX_VALGRIND): slower than the platform's 2 s */
#define MOCK_TIMEOUT_MS "15000"
/* How long the server waits for an event before giving up (a failing test,
 * not a slow one, reaches it). */
#define HOLD_TIMEOUT_MS 30000

/* ---- a server that answers the first request 429 -------------------------- */

#define PS_MAX_REQUESTS 64
#define PS_CONCURRENCY 4 /* qx-send's --concurrency in the pause test */

/* Shared with libmicrohttpd's threads (one per connection): everything below
 * `lock` is read and written under it; `changed` is signalled on every
 * change. */
typedef struct pause_server {
    struct MHD_Daemon *daemon;
    int port;
    bool with_429; /* false: every request is answered 200 at once */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    size_t n_requests;
    int64_t at_ms[PS_MAX_REQUESTS]; /* when each request was whole (monotonic) */
    int64_t queued_429_ms;          /* when the 429 was queued; -1 before */
    bool sent_429;                  /* the 429 has been written whole */
} pause_server;

/* One request's state (con_cls). */
typedef struct ps_request {
    bool is_429;
} ps_request;

static struct timespec deadline_in(int ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* With s->lock held: waits until *flag or n_requests >= n (whichever is
 * asked), at most HOLD_TIMEOUT_MS. */
static void ps_wait_locked(pause_server *s, const bool *flag, size_t n)
{
    struct timespec until = deadline_in(HOLD_TIMEOUT_MS);
    int rc = 0;
    while (rc == 0 && (flag != NULL ? !*flag : s->n_requests < n))
        rc = pthread_cond_timedwait(&s->changed, &s->lock, &until);
}

static enum MHD_Result ps_queue(struct MHD_Connection *c, unsigned status)
{
    const char *body =
        status == 200 ? "{\"result\": {}, \"meta\": {\"httpStatus\": \"200 - OK\"}}"
                      : "{\"meta\": {\"httpStatus\": \"429 - Too Many Requests\", \"error\": "
                        "{\"errorMessage\": \"slow down\", \"errorCode\": \"QX_RATE_LIMIT\"}}}";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (status == 429)
        MHD_add_response_header(r, "Retry-After", "1");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result ps_answer(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *data,
                                 size_t *data_size, void **con_cls)
{
    (void)url;
    (void)method;
    (void)version;
    (void)data;
    pause_server *s = cls;
    if (*con_cls == NULL) {
        *con_cls = calloc(1, sizeof(ps_request));
        return *con_cls != NULL ? MHD_YES : MHD_NO;
    }
    if (*data_size > 0) {
        *data_size = 0; /* the body is not looked at */
        return MHD_YES;
    }
    ps_request *req = *con_cls;
    pthread_mutex_lock(&s->lock);
    size_t i = s->n_requests++;
    if (i < PS_MAX_REQUESTS)
        s->at_ms[i] = sf_now_ms();
    pthread_cond_broadcast(&s->changed);
    unsigned status = 200;
    if (s->with_429 && i == 0) {
        /* the 429 goes out once every slot of qx-send is in flight */
        ps_wait_locked(s, NULL, PS_CONCURRENCY);
        s->queued_429_ms = sf_now_ms();
        req->is_429 = true;
        status = 429;
    } else if (s->with_429 && i < PS_CONCURRENCY) {
        /* in flight when the 429 was sent: answered just after it */
        ps_wait_locked(s, &s->sent_429, 0);
    }
    pthread_mutex_unlock(&s->lock);
    return ps_queue(c, status);
}

static void ps_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    pause_server *s = cls;
    ps_request *req = *con_cls;
    if (req != NULL && req->is_429) {
        pthread_mutex_lock(&s->lock);
        s->sent_429 = true;
        pthread_cond_broadcast(&s->changed);
        pthread_mutex_unlock(&s->lock);
    }
    free(req);
    *con_cls = NULL;
}

static pause_server *ps_start(bool with_429)
{
    pause_server *s = calloc(1, sizeof *s);
    assert_non_null(s);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->changed, NULL);
    s->with_429 = with_429;
    s->queued_429_ms = -1;
    s->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, ps_answer, s, MHD_OPTION_NOTIFY_COMPLETED, ps_completed, s, MHD_OPTION_END);
    assert_non_null(s->daemon);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    s->port = info->port;
    return s;
}

static void ps_stop(pause_server *s)
{
    if (s == NULL)
        return;
    MHD_stop_daemon(s->daemon);
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- the fixture ------------------------------------------------------------ */

/* This file's part of the fixture: the server, or the control qx-mock. */
typedef struct own {
    pause_server *server;
    qxt_mock control;
} own;

static own *own_of(const sf_fixture *f)
{
    return f->own;
}

static void release_own(sf_fixture *f)
{
    ps_stop(own_of(f)->server);
    if (own_of(f)->control.pid > 0)
        qxt_mock_stop(&own_of(f)->control, SIGTERM);
}

static int setup(void **state)
{
    return sf_setup_with(state, sizeof(own), release_own);
}

/* n profiles of n different identities (so none waits behind another of its
 * identity), in profiles.ndjson; returns its path. */
static char *distinct_profiles(const sf_fixture *f, int n)
{
    char *seed = qxt_read_file(SEED_PROFILE);
    assert_non_null(seed);
    char *at = strstr(seed, "Email-2Sf6C");
    assert_non_null(at);
    *at = '\0';
    const char *rest = at + strlen("Email-2Sf6C");
    size_t cap = (strlen(seed) + strlen(rest) + 32) * (size_t)n + 1, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len, "%suser%d@example.com%s", seed, i, rest);
    sf_put_file(f, "profiles.ndjson", text);
    free(seed);
    free(text);
    return sf_path(f, "profiles.ndjson");
}

/* JSON-event requests qx-mock answered 429 (its /metrics). */
static long mock_429s(const qxt_mock *m)
{
    char url[512];
    snprintf(url, sizeof url, "%s/metrics", m->base_url);
    qxt_response r;
    assert_int_equal(qxt_http("GET", url, NULL, 0, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    static const char series[] = "qxmock_requests_total{endpoint=\"json_event\",status=\"429\"} ";
    const char *at = strstr(r.body, series);
    long n = at != NULL ? strtol(at + strlen(series), NULL, 10) : 0;
    qxt_response_free(&r);
    return n;
}

/* A qx-mock config whose single user may make limit calls a minute. */
static char *limited_config(const sf_fixture *f, int limit)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"users\": [{\"username\": \"" USER "\", \"apiToken\": \"" TOKEN_OK "\"}],"
             " \"rateLimitPerMinute\": %d,"
             " \"workflows\": [{\"id\": \"WF\", \"urlTokenId\": \"" WF_TOKEN "\"}]}",
             limit);
    sf_put_file(f, "config.json", text);
    return sf_path(f, "config.json");
}

/* ---- pacing against qx-mock's limit ---------------------------------------------- */

/* The numbers. qx-mock's bucket for a user holds a minute's worth
 * (LIMIT calls) and refills at LIMIT a minute; it starts full. PROFILES is
 * more than a minute's limit, so a sender that does not pace gets 429s (the
 * control run proves it, against a fresh qx-mock). A sender paced at RATE
 * sends one call at once and RATE/60 a second after: by time t it has
 * sent at most 1 + 10 t, while qx-mock admits 120 + 2 t; the last of the
 * 130 calls goes at t = 12.9 s, when qx-mock would admit 145 — no 429, with
 * 15 calls (1.5 s of sending) to spare. A pace of LIMIT itself would need
 * over a minute to send more than LIMIT calls; a pace above LIMIT that only
 * holds because the sender is smooth is what this checks: a bucket with a
 * minute's burst (RATE at once) would send all 130 at t = 0 and be refused. */
#define LIMIT 120
#define PROFILES 130
#define RATE "600/min"

static void send_to(sf_fixture *f, const char *dest, const char *rate, const char *profiles,
                    int expect_rc)
{
    const char *argv[] = {QX_SEND,
                          "send",
                          "--timeout-ms",
                          MOCK_TIMEOUT_MS,
                          "--destination",
                          dest,
                          "--mapping",
                          SEED_MAPPING,
                          "--retry-schedule",
                          "none", /* a 429 fails at once: the report counts every one */
                          "--report",
                          sf_path(f, "report.json"),
                          profiles,
                          rate != NULL ? "--rate" : NULL,
                          rate,
                          NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), expect_rc);
}

static void test_paced_send_of_more_than_a_minutes_limit_gets_no_429(void **state)
{
    sf_fixture *f = *state;
    char *profiles = distinct_profiles(f, PROFILES);
    char *cfg = limited_config(f, LIMIT);

    /* control: the same send without --rate, against a fresh qx-mock */
    qxt_mock *control = &own_of(f)->control;
    assert_int_equal(qxt_mock_start(control, cfg, NULL), 0);
    char url[512];
    snprintf(url, sizeof url, "%s/inbound-event/v1/events/json/triggers?urlTokenId=%s",
             control->base_url, WF_TOKEN);
    char *dest = sf_write_destination(f, "control.json", url, false);
    send_to(f, dest, NULL, profiles, 1);
    json_t *rep = sf_load_report(f);
    assert_true(sf_failed_for(rep, "http429") > 0);
    assert_int_equal(sf_failed_for(rep, "http429"), sf_int(rep, "failed"));
    assert_true(json_is_null(json_object_get(rep, "rateLimitPerMinute")));
    assert_true(sf_int(rep, "retryAfterPauses") >= 1); /* qx-mock's 429s carry Retry-After */
    json_decref(rep);
    assert_true(mock_429s(control) > 0);
    qxt_mock_stop(control, SIGTERM);
    control->pid = 0;

    /* paced: the same send with --rate, against another fresh qx-mock */
    dest = sf_mock_destination(f, cfg);
    send_to(f, dest, RATE, profiles, 0);
    rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "activated"), PROFILES);
    assert_int_equal(sf_int(rep, "failed"), 0);
    assert_int_equal(sf_failed_for(rep, "http429"), 0);
    assert_int_equal(sf_int(rep, "retries"), 0);
    assert_int_equal(sf_int(rep, "rateLimitPerMinute"), 600);
    assert_int_equal(sf_int(rep, "retryAfterPauses"), 0);
    json_decref(rep);
    assert_int_equal(mock_429s(&f->mock), 0);
    char path[128];
    snprintf(path, sizeof path, "/_qx/v1/runs/wait?count=%d&timeoutMs=20000", PROFILES);
    json_t *w = sf_mock_get(f, path, 200);
    assert_int_equal(json_integer_value(json_object_get(w, "count")), PROFILES);
    json_decref(w);
    json_t *runs = sf_mock_runs(f);
    assert_int_equal(json_array_size(runs), PROFILES);
    json_decref(runs);
}

/* ---- a 429's Retry-After pauses the destination ---------------------------------- */

static void test_retry_after_pauses_every_request_to_the_destination(void **state)
{
    sf_fixture *f = *state;
    pause_server *s = own_of(f)->server = ps_start(true);
    char *dest = sf_local_destination(f, s->port);
    const char *argv[] = {QX_SEND,
                          "send",
                          "--destination",
                          dest,
                          "--mapping",
                          SEED_MAPPING,
                          "--concurrency",
                          "4",
                          "--retry-schedule",
                          "10ms", /* shorter than Retry-After: Retry-After wins */
                          "--report",
                          sf_path(f, "report.json"),
                          distinct_profiles(f, 8),
                          NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    /* a copy, so that a failed assertion leaves the server's lock free */
    pthread_mutex_lock(&s->lock);
    pause_server seen = *s;
    pthread_mutex_unlock(&s->lock);
    assert_true(seen.sent_429);
    assert_int_equal(seen.n_requests, 8 + 1); /* the 429's payload once more */
    int64_t t429 = seen.queued_429_ms;
    /* the first PS_CONCURRENCY were in flight before the 429 was sent: allowed */
    for (size_t i = 0; i < PS_CONCURRENCY; i++)
        assert_true(seen.at_ms[i] <= t429);
    /* every later one was started after qx-send read the 429 */
    for (size_t i = PS_CONCURRENCY; i < seen.n_requests; i++)
        if (seen.at_ms[i] < t429 + 1000)
            fail_msg("request %zu arrived %lld ms after the 429 (Retry-After: 1)", i,
                     (long long)(seen.at_ms[i] - t429));

    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "activated"), 8);
    assert_int_equal(sf_int(rep, "retries"), 1);
    assert_int_equal(sf_int(rep, "retryAfterPauses"), 1);
    /* from reading the 429 to the end of its Retry-After: the run went on */
    assert_int_equal(sf_int(rep, "retryAfterPausedMs"), 1000);
    json_decref(rep);
}

/* ---- rateLimitPerMinute, --rate and their errors -------------------------------- */

static char *rate_destination(sf_fixture *f, int port, const char *rate_member)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"name\": \"e2e\", \"url\": "
             "\"http://127.0.0.1:%d/inbound-event/v1/events/json/triggers?urlTokenId=x\", "
             "\"username\": \"" USER "\", \"passwordEnv\": \"QX_API_TOKEN\"%s}",
             port, rate_member);
    sf_put_file(f, "rate-dest.json", text);
    return sf_path(f, "rate-dest.json");
}

static void test_destination_rate_applies_and_rate_option_overrides_it(void **state)
{
    sf_fixture *f = *state;
    pause_server *s = own_of(f)->server = ps_start(false);
    char *dest = rate_destination(f, s->port, ", \"rateLimitPerMinute\": 6000");
    char *profiles = distinct_profiles(f, 3);
    const char *from_file[] = {
        QX_SEND,      "send",     "--destination",           dest,     "--mapping",
        SEED_MAPPING, "--report", sf_path(f, "report.json"), profiles, NULL};
    assert_int_equal(sf_run_send(from_file, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    json_t *rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "activated"), 3);
    assert_int_equal(sf_int(rep, "rateLimitPerMinute"), 6000);
    json_decref(rep);
    const char *option[] = {
        QX_SEND,      "send",   "--destination", dest,       "--mapping",
        SEED_MAPPING, "--rate", "7000/min",      "--report", sf_path(f, "report.json"),
        profiles,     NULL};
    assert_int_equal(sf_run_send(option, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "rateLimitPerMinute"), 7000);
    json_decref(rep);
    const char *per_second[] = {
        QX_SEND,      "send",   "--destination", dest,       "--mapping",
        SEED_MAPPING, "--rate", "50/s",          "--report", sf_path(f, "report.json"),
        profiles,     NULL};
    assert_int_equal(sf_run_send(per_second, env_ok, RUN_TIMEOUT_MS, NULL), 0);
    rep = sf_load_report(f);
    assert_int_equal(sf_int(rep, "rateLimitPerMinute"), 3000);
    json_decref(rep);
}

static void test_bad_rates_are_usage_errors(void **state)
{
    sf_fixture *f = *state;
    char *dest = rate_destination(f, 9, "");
    const char *bad[] = {"300", "300/h", "0/min", "5 /s", "1000001/min"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *argv[] = {QX_SEND,      "send",   "--destination", dest,         "--mapping",
                              SEED_MAPPING, "--rate", bad[i],          SEED_PROFILE, NULL};
        char *err = NULL;
        assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, &err), 2);
        assert_non_null(strstr(err, "--rate"));
        assert_non_null(strstr(err, "expected N/min (1 to 1000000) or N/s (1 to 16666)"));
        free(err);
    }
    dest = rate_destination(f, 9, ", \"rateLimitPerMinute\": 0");
    const char *argv[] = {QX_SEND,     "send",       "--destination", dest,
                          "--mapping", SEED_MAPPING, SEED_PROFILE,    NULL};
    char *err = NULL;
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, &err), 2);
    assert_non_null(strstr(err, "rateLimitPerMinute: expected an integer from 1 to 1000000"));
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_retry_after_pauses_every_request_to_the_destination,
                                        setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_destination_rate_applies_and_rate_option_overrides_it,
                                        setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_bad_rates_are_usage_errors, setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_paced_send_of_more_than_a_minutes_limit_gets_no_429,
                                        setup, sf_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
