/*
 * test_reliability.c — qx-mock under faults and hostile input: injected
 * faults through the admin API, duplicate marking, a catalogue of hostile
 * requests (each with its documented answer, the emulator still correct for
 * the next good request), slow clients, the connection bound, and a kill -9
 * after which every request that was answered 200 still has its run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define USERPWD "api-user@example.com:QX-TEST-TOKEN-1"
#define TOKEN "QX-TEST-TOKEN-1"

static const char config_text[] =
    "{\"users\": [{\"username\": \"api-user@example.com\", \"apiToken\": \"" TOKEN "\"}],"
    " \"rateLimitPerMinute\": 0,"
    " \"workflows\": [{\"id\": \"WF\", \"urlTokenId\": \"tok\","
    "   \"eventData\": {\"email\": \"$.identityMap.Email[0].id\"},"
    "   \"tasks\": [{\"type\": \"xm_directory_contact\", \"inputs\": {\"email\": "
    "\"~{aedj://email}\"}}]}]}";

static const char good[] = "{\"identityMap\": {\"Email\": [{\"id\": \"ok@example.com\"}]}}";
static const char *const json_ct[] = {"Content-Type: application/json", NULL};

typedef qxt_fixture fixture;

static int setup(void **state)
{
    return qxt_fixture_start(state, config_text, NULL);
}

static int setup_tight(void **state)
{
    const char *const extra[] = {
        "--max-connections", "8", "--connection-timeout", "1", "--threads", "2", NULL};
    return qxt_fixture_start(state, config_text, extra);
}

#define TRIGGER "/inbound-event/v1/events/json/triggers?urlTokenId=tok"

/* POST; returns the status, or -1 on a transport error (dropped). */
static long post(const fixture *f, const char *body, size_t len)
{
    qxt_response r;
    int rc = qxt_http("POST", qxt_url(f, TRIGGER), body, len, json_ct, USERPWD, &r);
    long st = rc == 0 ? r.status : -1;
    qxt_response_free(&r);
    return st;
}

static json_t *get(const fixture *f, const char *path, long expect)
{
    qxt_response r;
    assert_int_equal(qxt_http("GET", qxt_url(f, path), NULL, 0, NULL, NULL, &r), 0);
    if (r.status != expect)
        fprintf(stderr, "GET %s: %ld %s\n", path, r.status, r.body);
    assert_int_equal(r.status, expect);
    json_t *j = qxt_response_json(&r);
    qxt_response_free(&r);
    return j;
}

static long put_faults(const fixture *f, const char *body)
{
    qxt_response r;
    assert_int_equal(
        qxt_http("PUT", qxt_url(f, "/_qx/v1/faults"), body, strlen(body), json_ct, NULL, &r), 0);
    long st = r.status;
    qxt_response_free(&r);
    return st;
}

static json_int_t run_total(const fixture *f)
{
    json_t *j = get(f, "/_qx/v1/runs?limit=1", 200);
    json_int_t t = json_integer_value(json_object_get(j, "total"));
    json_decref(j);
    return t;
}

static void test_injected_error_status_then_cleared(void **state)
{
    fixture *f = *state;
    assert_int_equal(put_faults(f, "{\"errorRate\": 1, \"errorStatus\": 502}"), 200);
    json_t *j = get(f, "/_qx/v1/faults", 200);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(j, "workflows"), "WF"), "errorStatus")),
                     502);
    json_decref(j);
    assert_int_equal(post(f, good, strlen(good)), 502);
    assert_int_equal(run_total(f), 0);
    j = get(f, "/_qx/v1/requests", 200);
    assert_non_null(strstr(json_string_value(json_object_get(
                               json_array_get(json_object_get(j, "requests"), 0), "reason")),
                           "injected fault: HTTP 502"));
    json_decref(j);
    qxt_response r;
    assert_int_equal(qxt_http("DELETE", qxt_url(f, "/_qx/v1/faults"), NULL, 0, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    qxt_response_free(&r);
    assert_int_equal(post(f, good, strlen(good)), 200);
    assert_int_equal(run_total(f), 1);
    /* Bad fault settings are refused, naming the field. */
    assert_int_equal(put_faults(f, "{\"errorRate\": 2}"), 400);
    assert_int_equal(put_faults(f, "{\"workflowId\": \"nope\", \"errorRate\": 0.5}"), 404);
    assert_int_equal(put_faults(f, "{\"bogus\": 1}"), 400);
}

static void test_drop_before_loses_the_request_and_journals_it(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        put_faults(f, "{\"workflowId\": \"WF\", \"dropRate\": 1, \"dropPhase\": \"before\"}"), 200);
    assert_int_equal(post(f, good, strlen(good)), -1);
    assert_int_equal(run_total(f), 0);
    json_t *j = get(f, "/_qx/v1/requests", 200);
    json_t *e = json_array_get(json_object_get(j, "requests"), 0);
    assert_int_equal(json_integer_value(json_object_get(e, "httpStatus")), 0);
    assert_non_null(strstr(json_string_value(json_object_get(e, "reason")), "dropped before"));
    json_decref(j);
}

static void test_drop_after_records_the_run_and_the_retry_is_marked_duplicate(void **state)
{
    fixture *f = *state;
    assert_int_equal(put_faults(f, "{\"dropRate\": 1, \"dropPhase\": \"after\"}"), 200);
    assert_int_equal(post(f, good, strlen(good)), -1);
    assert_int_equal(run_total(f), 1);
    assert_int_equal(put_faults(f, "{}"), 200);
    /* The sender's retry: same payload, keys in another order. */
    const char retry[] =
        "{ \"identityMap\" : { \"Email\" : [ { \"id\" : \"ok@example.com\" } ] } }";
    assert_int_equal(post(f, retry, strlen(retry)), 200);
    json_t *j = get(f, "/_qx/v1/runs", 200);
    json_t *runs = json_object_get(j, "runs");
    assert_int_equal(json_array_size(runs), 2);
    const char *first = json_string_value(json_object_get(json_array_get(runs, 0), "id"));
    assert_null(json_object_get(json_array_get(runs, 0), "duplicateOf"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 1), "duplicateOf")),
                        first);
    json_decref(j);
    /* A different payload is no duplicate. */
    const char other[] = "{\"identityMap\": {\"Email\": [{\"id\": \"other@example.com\"}]}}";
    assert_int_equal(post(f, other, strlen(other)), 200);
    j = get(f, "/_qx/v1/runs?order=desc&limit=1", 200);
    assert_null(json_object_get(json_array_get(json_object_get(j, "runs"), 0), "duplicateOf"));
    json_decref(j);
}

static void test_latency_and_seeded_choices(void **state)
{
    fixture *f = *state;
    assert_int_equal(put_faults(f, "{\"latencyMs\": [150, 150]}"), 200);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(post(f, good, strlen(good)), 200);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    assert_true(ms >= 150);
}

/* Sends text raw and reads the answer's status line (0: closed, -1: none
 * within timeout_ms). */
static int raw_exchange(const fixture *f, const char *text, size_t len, int timeout_ms)
{
    int s = qxt_raw_connect(f->mock.port);
    assert_true(s >= 0);
    (void)qxt_raw_send(s, text, len); /* a refusal midway is read below */
    char buf[256] = "";
    struct pollfd p = {.fd = s, .events = POLLIN};
    int status = -1;
    if (poll(&p, 1, timeout_ms) > 0) {
        ssize_t n = recv(s, buf, sizeof buf - 1, 0);
        if (n <= 0)
            status = 0;
        else {
            buf[n] = '\0';
            status = qxt_status_code(buf);
        }
    }
    close(s);
    return status;
}

typedef struct hostile {
    const char *name;
    long status; /* expected */
} hostile;

static void test_hostile_catalogue_each_gets_its_answer_and_the_emulator_stays_correct(void **state)
{
    fixture *f = *state;
    size_t tried = 0;
    /* Nesting 10,000 deep. */
    size_t deep = 10000;
    char *body = malloc(2 * deep + 16);
    size_t k = 0;
    body[k++] = '{';
    memcpy(body + k, "\"a\":", 4);
    k += 4;
    for (size_t i = 0; i < deep; i++)
        body[k++] = '[';
    for (size_t i = 0; i < deep; i++)
        body[k++] = ']';
    body[k++] = '}';
    assert_int_equal(post(f, body, k), 400);
    free(body);
    tried++;
    /* 100 KB + 1 (just over), and 1 MB. */
    size_t big = 1024 * 1024;
    body = malloc(big);
    memset(body, ' ', big);
    body[0] = '{';
    body[big - 1] = '}';
    assert_int_equal(post(f, body, 102401), 413);
    assert_int_equal(post(f, body, big), 413);
    free(body);
    tried += 2;
    /* Bodies that are not JSON objects. */
    const char *bad[] = {"",
                         "null",
                         "\"str\"",
                         "42",
                         "[{}]",
                         "{\"a\":1}{\"b\":2}",
                         "{\"a\":\"\xc3\x28\"}",
                         "{\"a\":\"\\ud800\"}",
                         "{\"a\":1,}",
                         "{'a':1}",
                         "\x00\x01\x02"};
    size_t lens[] = {0, 4, 5, 2, 4, 14, 10, 13, 8, 7, 3};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++, tried++)
        assert_int_equal(post(f, bad[i], lens[i]), 400);
    /* Garbage credentials. */
    const char *auths[] = {"Authorization: Basic",
                           "Authorization: Basic ====",
                           "Authorization: Basic YWJj",
                           "Authorization: Digest x",
                           "Authorization: "
                           "Basic YXBpLXVzZXJAZXhhbXBsZS5jb206",
                           NULL};
    for (size_t i = 0; auths[i] != NULL; i++, tried++) {
        const char *const h[] = {"Content-Type: application/json", auths[i], NULL};
        qxt_response r;
        assert_int_equal(qxt_http("POST", qxt_url(f, TRIGGER), good, strlen(good), h, NULL, &r), 0);
        assert_int_equal(r.status, 401);
        qxt_response_free(&r);
    }
    /* A huge header block: refused by libmicrohttpd before any handler. */
    size_t hl = 200 * 1024;
    char *req = malloc(hl + 512);
    int n = snprintf(req, 512, "POST " TRIGGER " HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'a', hl);
    memcpy(req + n + hl, "\r\n\r\n", 5);
    int st = raw_exchange(f, req, (size_t)n + hl + 4, 5000);
    assert_true(st == 431 || st == 413 || st == 400 || st == 0);
    free(req);
    tried++;
    /* Wrong methods, traversal, unknown paths, injection in filters. */
    struct {
        const char *method, *path;
        long status;
    } paths[] = {
        {"GET", TRIGGER, 405},
        {"DELETE", TRIGGER, 405},
        {"GET", "/_qx/v1/runs/../../../etc/passwd", 404},
        {"GET", "/_qx/v1/runs/%2e%2e%2fetc%2fpasswd", 404},
        {"GET", "/../../etc/passwd", 404},
        {"GET", "/_qx/v1/runs?workflowId=%27%20OR%201%3D1%20--", 200},
        {"GET", "/_qx/v1/runs?status=SUCCESS%27%3B%20DROP%20TABLE%20runs%3B--", 400},
        {"GET", "/_qx/v1/runs?limit=1e3", 400},
        {"GET", "/_qx/v1/runs?limit=-5", 400},
        {"GET", "/_qx/v1/runs?limit=99999999999999999999999", 400},
        {"GET", "/_qx/v1/runs?cursor=abc", 400},
        {"GET", "/_qx/v1/runs/wait?count=1&timeoutMs=NaN", 400},
        {"POST", "/_qx/v1/runs", 405},
        {"PATCH", "/_qx/v1/faults", 405},
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++, tried++) {
        qxt_response r;
        assert_int_equal(
            qxt_http(paths[i].method, qxt_url(f, paths[i].path), NULL, 0, NULL, NULL, &r), 0);
        if (r.status != paths[i].status)
            fprintf(stderr, "%s %s: %ld %s\n", paths[i].method, paths[i].path, r.status, r.body);
        assert_int_equal(r.status, paths[i].status);
        if (paths[i].status == 200) /* the injection matched nothing, dropped nothing */
            assert_non_null(strstr(r.body, "\"runs\":[]"));
        qxt_response_free(&r);
    }
    /* A chunked body that never ends: the connection times out (1 s here);
     * meanwhile and afterwards, good requests are served. */
    const char chunked[] =
        "POST " TRIGGER " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n";
    st = raw_exchange(f, chunked, sizeof chunked - 1, 4000);
    assert_true(st == 0 || st == -1 || st == 408);
    tried++;
    /* Still up and correct. */
    assert_int_equal(post(f, good, strlen(good)), 200);
    json_t *j = get(f, "/_qx/v1/runs/wait?count=1&timeoutMs=5000", 200);
    json_t *run = json_array_get(json_object_get(j, "runs"), 0);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "SUCCESS");
    assert_int_equal(run_total(f), 1);
    json_decref(j);
    printf("hostile requests tried: %zu\n", tried);
}

static void test_slow_clients_time_out_without_starving_others(void **state)
{
    fixture *f = *state;
    /* Five slowloris connections: a request line and no end of headers. */
    int socks[5];
    for (int i = 0; i < 5; i++) {
        socks[i] = qxt_raw_connect(f->mock.port);
        assert_true(socks[i] >= 0);
        const char part[] = "POST " TRIGGER " HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        assert_true(send(socks[i], part, sizeof part - 1, MSG_NOSIGNAL) > 0);
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(post(f, good, strlen(good)), 200);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    assert_true(ms < 1000); /* served while the slow ones hang */
    /* After the idle timeout (1 s) the server has closed them. */
    for (int i = 0; i < 5; i++) {
        struct pollfd p = {.fd = socks[i], .events = POLLIN};
        assert_true(poll(&p, 1, 5000) > 0);
        char c;
        assert_true(recv(socks[i], &c, 1, 0) <= 0 || c == 'H');
        close(socks[i]);
    }
}

/* The server has accepted every connection to it and read all they sent. */
static bool all_accepted_and_read(const qxt_tcp_view *v, const void *arg)
{
    return v->established >= *(const int *)arg && v->backlog == 0 && v->unread == 0;
}

/* Exactly one connection waits in the accept queue, its request unread. */
static bool one_left_in_queue(const qxt_tcp_view *v, const void *arg)
{
    (void)arg;
    return v->backlog == 1 && v->unread == 1;
}

static void test_connection_count_is_bounded(void **state)
{
    fixture *f = *state;
    /* Hold 8 connections (the bound) with a request half sent; a 9th is
     * left waiting in the kernel's queue, unanswered, until one closes. */
    int socks[8];
    const char part[] = "GET /_qx/v1/health HTTP/1.1\r\n";
    for (int i = 0; i < 8; i++) {
        assert_true((socks[i] = qxt_raw_connect(f->mock.port)) >= 0);
        assert_true(send(socks[i], part, sizeof part - 1, MSG_NOSIGNAL) > 0);
    }
    /* Known event: the kernel shows all 8 accepted and their bytes read. */
    const int eight = 8;
    qxt_tcp_view v;
    if (!qxt_wait_tcp(f->mock.port, all_accepted_and_read, &eight, 10000, &v))
        fail_msg("8 connections not accepted and read: %d established, %d queued, %d unread",
                 v.established, v.backlog, v.unread);
    int extra = qxt_raw_connect(f->mock.port);
    assert_true(extra >= 0);
    const char req[] = "GET /_qx/v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(send(extra, req, sizeof req - 1, MSG_NOSIGNAL) > 0);
    /* Known event: the 9th sits in the accept queue with its request. */
    if (!qxt_wait_tcp(f->mock.port, one_left_in_queue, NULL, 10000, &v))
        fail_msg("the 9th connection is not waiting: %d established, %d queued, %d unread",
                 v.established, v.backlog, v.unread);
    /* Bounded window, from that event and well inside the 1 s idle timeout
     * of the 8: the 9th is not served while the bound is reached. */
    struct pollfd p = {.fd = extra, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 400), 0);
    assert_int_equal(qxt_tcp_sockets(f->mock.port, &v), 0);
    assert_int_equal(v.backlog, 1); /* still not accepted */
    for (int i = 0; i < 8; i++)
        close(socks[i]);
    assert_true(poll(&p, 1, 5000) > 0); /* served once there is room */
    char buf[64] = "";
    assert_true(recv(extra, buf, sizeof buf - 1, 0) > 0);
    assert_non_null(strstr(buf, "200"));
    close(extra);
    assert_int_equal(post(f, good, strlen(good)), 200);
}

static void test_every_200_survives_kill_9(void **state)
{
    fixture *f = *state;
    qxt_mock_stop(&f->mock, SIGTERM);
    char db[600];
    snprintf(db, sizeof db, "%s/durable.db", f->dir);
    const char *const args[] = {"--db", db, NULL};
    assert_int_equal(qxt_mock_start(&f->mock, f->config, args), 0);
    /* A child posts as fast as it can and logs each run id answered 200. */
    char log[600];
    snprintf(log, sizeof log, "%s/acked.txt", f->dir);
    pid_t child = fork();
    if (child == 0) {
        FILE *out = fopen(log, "w");
        for (int i = 0; i < 100000; i++) {
            char body[128];
            snprintf(body, sizeof body,
                     "{\"identityMap\":{\"Email\":[{\"id\":\"u%d@example.com\"}]}}", i);
            qxt_response r;
            if (qxt_http("POST", qxt_url(f, TRIGGER), body, strlen(body), json_ct, USERPWD, &r) !=
                0) {
                qxt_response_free(&r);
                break;
            }
            if (r.status == 200) {
                json_t *j = qxt_response_json(&r);
                fprintf(out, "%s\n",
                        json_string_value(json_object_get(json_object_get(j, "result"), "runId")));
                fflush(out);
                json_decref(j);
            }
            qxt_response_free(&r);
        }
        fclose(out);
        _exit(0);
    }
    /* Kill the emulator mid-load. */
    /* Up to a minute: under valgrind everything is slower. */
    for (int i = 0; i < 6000; i++) {
        usleep(10000);
        char *t = qxt_read_file(log);
        size_t lines = 0;
        for (char *p = t; p != NULL && *p; p++)
            lines += *p == '\n';
        free(t);
        if (lines >= 200)
            break;
    }
    qxt_mock_stop(&f->mock, SIGKILL);
    waitpid(child, NULL, 0);
    assert_int_equal(qxt_mock_start(&f->mock, f->config, args), 0);
    char *acked = qxt_read_file(log);
    size_t checked = 0;
    for (char *id = strtok(acked, "\n"); id != NULL; id = strtok(NULL, "\n")) {
        char path[256];
        snprintf(path, sizeof path, "/_qx/v1/runs/%s", id);
        json_t *run = get(f, path, 200);
        json_decref(run);
        checked++;
    }
    free(acked);
    assert_true(checked >= 20);
    assert_true(run_total(f) >= (json_int_t)checked);
    printf("runs answered 200 before kill -9 and found after restart: %zu\n", checked);
}

/* The runId of a POST answered 200 (the test fails on any other answer),
 * copied into out (64 bytes). */
static void post_run_id(const fixture *f, char *out)
{
    qxt_response r;
    assert_int_equal(
        qxt_http("POST", qxt_url(f, TRIGGER), good, strlen(good), json_ct, USERPWD, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *j = qxt_response_json(&r);
    const char *id = json_string_value(json_object_get(json_object_get(j, "result"), "runId"));
    assert_non_null(id);
    snprintf(out, 64, "%s", id);
    json_decref(j);
    qxt_response_free(&r);
}

/* A seeded emulator draws the same random characters again after a
 * restart; its run ids count on from the runs its store kept, so none is
 * drawn twice (which the store would refuse: a 500 and a lost run), and
 * they sort after the ones before. */
static void test_seeded_restart_on_its_store_draws_new_run_ids(void **state)
{
    fixture *f = *state;
    qxt_mock_stop(&f->mock, SIGTERM);
    char db[600];
    snprintf(db, sizeof db, "%s/seeded.db", f->dir);
    const char *const args[] = {"--db", db, "--seed", "7", NULL};
    char first[3][64], again[3][64];
    assert_int_equal(qxt_mock_start(&f->mock, f->config, args), 0);
    for (int i = 0; i < 3; i++)
        post_run_id(f, first[i]);
    qxt_mock_stop(&f->mock, SIGTERM);
    assert_int_equal(qxt_mock_start(&f->mock, f->config, args), 0);
    for (int i = 0; i < 3; i++) {
        post_run_id(f, again[i]);
        assert_true(strcmp(again[i], first[2]) > 0);
        assert_string_equal(again[i] + 10, first[i] + 10); /* the same random characters */
        if (i > 0)
            assert_true(strcmp(again[i], again[i - 1]) > 0);
    }
    assert_int_equal(run_total(f), 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_injected_error_status_then_cleared, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_drop_before_loses_the_request_and_journals_it, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_drop_after_records_the_run_and_the_retry_is_marked_duplicate, setup,
            qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_latency_and_seeded_choices, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_seeded_restart_on_its_store_draws_new_run_ids, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_hostile_catalogue_each_gets_its_answer_and_the_emulator_stays_correct, setup_tight,
            qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_slow_clients_time_out_without_starving_others,
                                        setup_tight, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_connection_count_is_bounded, setup_tight,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_every_200_survives_kill_9, setup,
                                        qxt_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
