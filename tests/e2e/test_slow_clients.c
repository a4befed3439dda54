/*
 * test_slow_clients.c — qx-mock against clients that are never idle but
 * never done, and against long-polls that would take every connection:
 * hostile requests on raw loopback sockets, in the manner of
 * test_reliability.c's catalogue.
 *
 * A trickler sends a piece every TRICKLE_MS (load generation: the pace is
 * the attack, well inside the 10 s idle timeout, so only the whole-request
 * deadline can end it). Everything else waits on events: the server closing
 * a socket or answering, the kernel's view of the sockets (qxt_wait_tcp), a
 * 503. Each deadline is checked from below (not cut before it, less a
 * margin for the client's own clock reading) and from above (cut within
 * SLACK_MS after it, generous for valgrind); the one negative window (held
 * long-polls are not cut) is measured from a known event.
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
#define TRIGGER "/inbound-event/v1/events/json/triggers?urlTokenId=tok"

/* The pace of a trickler, and the deadlines the fixtures set. */
#define TRICKLE_MS 1000
#define REQUEST_TIMEOUT_MS 2000
#define IMPORT_TIMEOUT_MS 5000
/* Not cut before deadline - EARLY_MS (the client reads its clock after the
 * server's), and cut by deadline + SLACK_MS (valgrind is slow). */
#define EARLY_MS 500
#define SLACK_MS 3000

static const char config_text[] =
    "{\"users\": [{\"username\": \"api-user@example.com\", \"apiToken\": "
    "\"QX-TEST-TOKEN-1\"}],"
    " \"rateLimitPerMinute\": 0,"
    " \"workflows\": [{\"id\": \"WF\", \"urlTokenId\": \"tok\"}]}";

static const char good[] = "{\"identityMap\": {\"Email\": [{\"id\": \"ok@example.com\"}]}}";
static const char *const json_ct[] = {"Content-Type: application/json", NULL};

typedef qxt_fixture fixture;

/* Room for others beside the slow clients; the idle timeout far above the
 * trickle pace. */
static int setup_roomy(void **state)
{
    const char *const extra[] = {"--request-timeout",
                                 "2",
                                 "--connection-timeout",
                                 "10",
                                 "--max-connections",
                                 "4",
                                 "--threads",
                                 "2",
                                 NULL};
    return qxt_fixture_start(state, config_text, extra);
}

/* Every connection can be taken by two slow clients. */
static int setup_full(void **state)
{
    const char *const extra[] = {"--request-timeout",
                                 "2",
                                 "--connection-timeout",
                                 "10",
                                 "--max-connections",
                                 "2",
                                 "--threads",
                                 "2",
                                 NULL};
    return qxt_fixture_start(state, config_text, extra);
}

static int setup_import(void **state)
{
    const char *const extra[] = {
        "--request-timeout", "2", "--import-timeout", "5", "--connection-timeout", "10", NULL};
    return qxt_fixture_start(state, config_text, extra);
}

/* --max-waiters left to its default: a quarter of 8. */
static int setup_waiters(void **state)
{
    const char *const extra[] = {
        "--request-timeout", "1", "--max-connections", "8", "--threads", "2", NULL};
    return qxt_fixture_start(state, config_text, extra);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* POSTs a good event; the status, or -1 on a transport error. */
static long post_good(const fixture *f)
{
    qxt_response r;
    int rc = qxt_http("POST", qxt_url(f, TRIGGER), good, strlen(good), json_ct, USERPWD, &r);
    long st = rc == 0 ? r.status : -1;
    qxt_response_free(&r);
    return st;
}

static long get_status(const fixture *f, const char *path)
{
    qxt_response r;
    int rc = qxt_http("GET", qxt_url(f, path), NULL, 0, NULL, NULL, &r);
    long st = rc == 0 ? r.status : -1;
    qxt_response_free(&r);
    return st;
}

/* A raw connection to the emulator that has sent text; -1 on failure. */
static int raw_open(const fixture *f, const char *text)
{
    int s = qxt_raw_connect(f->mock.port);
    if (s >= 0 && text != NULL && !qxt_raw_send(s, text, strlen(text))) {
        close(s);
        return -1;
    }
    return s;
}

/* Reads one whole answer (headers, then Content-Length bytes) from s within
 * timeout_ms. Its status; 0 when the connection closed first, -1 when
 * nothing complete came in time. */
static int read_answer(int s, int timeout_ms)
{
    char buf[8192];
    size_t len = 0;
    int64_t end = now_ms() + timeout_ms;
    for (;;) {
        buf[len] = '\0';
        const char *eoh = strstr(buf, "\r\n\r\n");
        if (eoh != NULL) {
            const char *cl = strstr(buf, "Content-Length:");
            size_t body = cl != NULL && cl < eoh ? strtoul(cl + 15, NULL, 10) : 0;
            if (len >= (size_t)(eoh + 4 - buf) + body)
                return qxt_status_code(buf);
        }
        int64_t left = end - now_ms();
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (left <= 0 || len + 1 >= sizeof buf || poll(&p, 1, (int)left) <= 0)
            return -1;
        ssize_t n = recv(s, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            return 0;
        len += (size_t)n;
    }
}

/* One slow client: after what it sent on opening, a piece every TRICKLE_MS:
 * first pieces[] in order (may be NULL), then `forever` (NULL: nothing
 * more; it waits for its answer). With `then`, the pieces end a first
 * request: once it is answered (first_status), the same connection sends
 * `then` and its start is now, and `forever` follows. */
typedef struct trickler {
    int fd;
    const char *const *pieces;
    const char *then;
    const char *forever;
    int first_status;
    size_t next;
    int64_t start_ms;  /* its request's deadline counts from here */
    int64_t closed_ms; /* since start_ms, when the server ended it; -1: open */
    int status;        /* the status of its answer, when it got one */
} trickler;

static void trickler_end(trickler *t, int status)
{
    t->closed_ms = now_ms() - t->start_ms;
    t->status = status;
    close(t->fd);
    t->fd = -1;
}

/* Sends each open trickler its next piece. */
static void trickle_tick(trickler *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i].fd < 0)
            continue;
        bool more = t[i].pieces != NULL && t[i].pieces[t[i].next] != NULL;
        if (!more && t[i].then != NULL)
            continue; /* its first request waits for its answer */
        const char *piece = more ? t[i].pieces[t[i].next++] : t[i].forever;
        if (piece != NULL && send(t[i].fd, piece, strlen(piece), MSG_NOSIGNAL) < 0)
            trickler_end(&t[i], 0); /* reset by the server */
    }
}

/* t's socket is readable: its answer, or its end. */
static void trickler_readable(trickler *t)
{
    int status = read_answer(t->fd, SLACK_MS);
    if (t->then == NULL || status <= 0) {
        trickler_end(t, status);
        return;
    }
    t->first_status = status;
    t->start_ms = now_ms();
    if (send(t->fd, t->then, strlen(t->then), MSG_NOSIGNAL) < 0)
        trickler_end(t, 0);
    t->then = NULL;
}

/* Trickles until every trickler is closed or answered, or limit_ms. */
static void trickle(trickler *t, size_t n, int limit_ms)
{
    int64_t end = now_ms() + limit_ms;
    for (size_t i = 0; i < n; i++)
        t[i].closed_ms = -1;
    for (;;) {
        size_t open = 0;
        for (size_t i = 0; i < n; i++)
            open += t[i].fd >= 0;
        int64_t now = now_ms();
        if (open == 0 || now >= end)
            return;
        trickle_tick(t, n);
        int64_t tick_end = now + TRICKLE_MS < end ? now + TRICKLE_MS : end;
        /* Until the next piece is due: the server's answer or its close. */
        for (int64_t left; (left = tick_end - now_ms()) > 0;) {
            struct pollfd p[8];
            size_t idx[8], k = 0;
            for (size_t i = 0; i < n && k < 8; i++)
                if (t[i].fd >= 0) {
                    p[k] = (struct pollfd){.fd = t[i].fd, .events = POLLIN};
                    idx[k++] = i;
                }
            if (k == 0 || poll(p, k, (int)left) <= 0)
                break;
            for (size_t j = 0; j < k; j++)
                if (p[j].revents != 0)
                    trickler_readable(&t[idx[j]]);
        }
    }
}

/* t was cut off (closed unanswered) at its deadline, deadline_ms after its
 * start. */
static void assert_cut_at(const trickler *t, int64_t deadline_ms, const char *what)
{
    if (t->closed_ms < 0)
        fail_msg("%s: still served %lld ms after its start (deadline %lld ms)", what,
                 (long long)(now_ms() - t->start_ms), (long long)deadline_ms);
    if (t->status != 0)
        fail_msg("%s: answered %d instead of cut off", what, t->status);
    if (t->closed_ms < deadline_ms - EARLY_MS || t->closed_ms > deadline_ms + SLACK_MS)
        fail_msg("%s: cut off after %lld ms, deadline %lld ms", what, (long long)t->closed_ms,
                 (long long)deadline_ms);
}

static void
test_header_tricklers_are_cut_at_the_request_deadline_while_others_are_served(void **state)
{
    fixture *f = *state;
    static const char request_line[] = "GET /_qx/v1/health HTTP/1.1\r\nHost: x\r\n";
    /* The second first sends a whole request, slowly (its end a tick
     * after its start), then trickles a second one on the same keep-alive
     * connection: that one's deadline counts from the first's answer, not
     * from the connection's start. */
    static const char *const first_request[] = {"X-Slow: 1\r\n", "\r\n", NULL};
    trickler t[2] = {{.forever = "X-Slow: 1\r\n"},
                     {.pieces = first_request, .then = request_line, .forever = "X-Slow: 1\r\n"}};
    t[0].start_ms = now_ms();
    assert_true((t[0].fd = raw_open(f, request_line)) >= 0);
    /* Meanwhile a good request is served (three of the four connections
     * are free). */
    assert_int_equal(post_good(f), 200);
    /* Opened only now, so that its first request's pace does not depend on
     * how long that took. */
    t[1].start_ms = now_ms();
    assert_true((t[1].fd = raw_open(f, request_line)) >= 0);
    trickle(t, 2, TRICKLE_MS + REQUEST_TIMEOUT_MS + SLACK_MS + TRICKLE_MS);
    assert_cut_at(&t[0], REQUEST_TIMEOUT_MS, "header trickler");
    assert_int_equal(t[1].first_status, 200);
    assert_cut_at(&t[1], REQUEST_TIMEOUT_MS, "header trickler after a keep-alive answer");
    assert_int_equal(get_status(f, "/_qx/v1/health"), 200);
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

static void
test_tricklers_holding_every_connection_are_cut_and_the_queued_request_served(void **state)
{
    fixture *f = *state;
    trickler t[2] = {{.forever = "X-Slow: 1\r\n"}, {.forever = "X-Slow: 1\r\n"}};
    for (int i = 0; i < 2; i++) {
        t[i].start_ms = now_ms();
        assert_true((t[i].fd = raw_open(f, "POST " TRIGGER " HTTP/1.1\r\nHost: x\r\n")) >= 0);
    }
    /* Known events: both accepted and read (the bound of 2 reached), then
     * a third with a whole request left in the kernel's queue. */
    const int two = 2;
    qxt_tcp_view v;
    if (!qxt_wait_tcp(f->mock.port, all_accepted_and_read, &two, 10000, &v))
        fail_msg("tricklers not accepted: %d established, %d queued", v.established, v.backlog);
    int queued = raw_open(f, "GET /_qx/v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(queued >= 0);
    if (!qxt_wait_tcp(f->mock.port, one_left_in_queue, NULL, 10000, &v))
        fail_msg("the third connection is not queued: %d queued, %d unread", v.backlog, v.unread);
    trickle(t, 2, REQUEST_TIMEOUT_MS + SLACK_MS + TRICKLE_MS);
    for (int i = 0; i < 2; i++)
        assert_cut_at(&t[i], REQUEST_TIMEOUT_MS, "trickler holding a connection");
    /* Room again: the queued request is served. */
    assert_int_equal(read_answer(queued, 10000), 200);
    close(queued);
}

static void test_body_trickler_on_a_json_event_is_cut_at_the_request_deadline(void **state)
{
    fixture *f = *state;
    trickler t = {.forever = " "};
    t.start_ms = now_ms();
    assert_true((t.fd = raw_open(f, "POST " TRIGGER " HTTP/1.1\r\nHost: x\r\n"
                                    "Content-Type: application/json\r\nContent-Length: 64\r\n"
                                    "\r\n{")) >= 0);
    assert_int_equal(post_good(f), 200); /* served meanwhile */
    trickle(&t, 1, REQUEST_TIMEOUT_MS + SLACK_MS + TRICKLE_MS);
    assert_cut_at(&t, REQUEST_TIMEOUT_MS, "body trickler");
    /* No run and still correct: only the good request's run. */
    qxt_response r;
    assert_int_equal(qxt_http("GET", qxt_url(f, "/_qx/v1/runs/wait?count=1&timeoutMs=10000"), NULL,
                              0, NULL, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    json_t *j = qxt_response_json(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 1);
    json_decref(j);
    qxt_response_free(&r);
}

/* One exported run (a whole NDJSON line), the store emptied again. */
static char *one_exported_run(const fixture *f)
{
    assert_int_equal(post_good(f), 200);
    assert_int_equal(get_status(f, "/_qx/v1/runs/wait?count=1&timeoutMs=10000"), 200);
    qxt_response r;
    assert_int_equal(qxt_http("GET", qxt_url(f, "/_qx/v1/export"), NULL, 0, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    char *line = strdup(r.body);
    qxt_response_free(&r);
    assert_int_equal(qxt_http("DELETE", qxt_url(f, "/_qx/v1/runs"), NULL, 0, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    qxt_response_free(&r);
    return line;
}

static void test_import_trickling_within_its_timeout_is_served_and_past_it_is_cut(void **state)
{
    fixture *f = *state;
    char *line = one_exported_run(f);
    size_t len = strlen(line), third = len / 3;
    /* Three pieces, a second apart: done after about 3 s, past the request
     * timeout (2 s) and within the import timeout (5 s). */
    char *piece[4] = {strndup(line, third), strndup(line + third, third), strdup(line + 2 * third),
                      NULL};
    char head[2][256];
    snprintf(head[0], sizeof head[0],
             "POST /_qx/v1/import HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
             "application/x-ndjson\r\nContent-Length: %zu\r\n\r\n",
             len);
    /* And one that never ends. */
    snprintf(head[1], sizeof head[1],
             "POST /_qx/v1/import HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
             "application/x-ndjson\r\nContent-Length: %zu\r\n\r\n",
             len + 100);
    trickler t[2] = {{.pieces = (const char *const *)piece}, {.forever = " "}};
    for (int i = 0; i < 2; i++) {
        t[i].start_ms = now_ms();
        assert_true((t[i].fd = raw_open(f, head[i])) >= 0);
    }
    trickle(t, 2, IMPORT_TIMEOUT_MS + SLACK_MS + TRICKLE_MS);
    if (t[0].status != 200)
        fail_msg("import trickled over %lld ms: status %d", (long long)t[0].closed_ms, t[0].status);
    assert_true(t[0].closed_ms > REQUEST_TIMEOUT_MS); /* it did outlast the request timeout */
    assert_cut_at(&t[1], IMPORT_TIMEOUT_MS, "import trickler");
    qxt_response r;
    assert_int_equal(qxt_http("GET", qxt_url(f, "/_qx/v1/runs?limit=1"), NULL, 0, NULL, NULL, &r),
                     0);
    json_t *j = qxt_response_json(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    json_decref(j);
    qxt_response_free(&r);
    for (int i = 0; i < 3; i++)
        free(piece[i]);
    free(line);
}

#define HELD_WAIT                                                                                  \
    "GET /_qx/v1/runs/wait?count=2&timeoutMs=60000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

/* Asks for one more long-poll (answered at once: 408 when admitted) until
 * one is refused for the cap. The refusal's answer, in *r. */
static bool probe_until_refused(const fixture *f, qxt_response *r, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    while (now_ms() < end) {
        assert_int_equal(qxt_http("GET", qxt_url(f, "/_qx/v1/runs/wait?count=1000&timeoutMs=0"),
                                  NULL, 0, NULL, NULL, r),
                         0);
        if (r->status == 503)
            return true;
        assert_int_equal(r->status, 408); /* admitted: the held ones are not all in yet */
        qxt_response_free(r);
    }
    return false;
}

/* Holds the cap's worth of long-polls (n) on held[], and returns the
 * refusal of one more in *r. A held one may lose its place to a probe that
 * the server took first (it is refused instead): it is opened again. */
static void hold_the_cap(const fixture *f, int *held, int n, qxt_response *r)
{
    int64_t end = now_ms() + 20000;
    for (int i = 0; i < n; i++)
        assert_true((held[i] = raw_open(f, HELD_WAIT)) >= 0);
    for (;;) {
        /* Known event: the server has read them all. */
        qxt_tcp_view v;
        if (!qxt_wait_tcp(f->mock.port, all_accepted_and_read, &n, 10000, &v))
            fail_msg("long-polls not read: %d established, %d unread", v.established, v.unread);
        if (!probe_until_refused(f, r, (int)(end - now_ms())))
            fail_msg("a long-poll was admitted beside the %d held", n);
        int lost = 0;
        for (int i = 0; i < n; i++) {
            struct pollfd p = {.fd = held[i], .events = POLLIN};
            if (poll(&p, 1, 0) > 0) {
                close(held[i]);
                assert_true((held[i] = raw_open(f, HELD_WAIT)) >= 0);
                lost++;
            }
        }
        if (lost == 0)
            return;
        qxt_response_free(r);
    }
}

static long timed_ms(int64_t since)
{
    return (long)(now_ms() - since);
}

static void test_long_polls_are_capped_and_never_block_ingest_or_health(void **state)
{
    fixture *f = *state;
    /* The cap's worth of long-polls (a quarter of 8), held. */
    int held[2];
    qxt_response r;
    hold_the_cap(f, held, 2, &r);
    char retry[16];
    assert_true(qxt_response_header(&r, "Retry-After", retry, sizeof retry));
    assert_string_equal(retry, "1");
    json_t *j = qxt_response_json(&r);
    json_t *e = json_object_get(json_object_get(j, "meta"), "error");
    assert_string_equal(json_string_value(json_object_get(e, "errorCode")), "QX_TOO_MANY_WAITERS");
    json_decref(j);
    qxt_response_free(&r);
    /* Known event: both held. Ingest and /health answer at once. */
    int64_t t0 = now_ms();
    assert_int_equal(post_good(f), 200);
    assert_int_equal(get_status(f, "/_qx/v1/health"), 200);
    long took = timed_ms(t0);
    if (took > SLACK_MS)
        fail_msg("a POST and /health took %ld ms beside held long-polls", took);
    /* Bounded window, from that event: held past the request timeout (1 s)
     * yet not cut, as suspended connections are never overdue. */
    struct pollfd p[2] = {{.fd = held[0], .events = POLLIN}, {.fd = held[1], .events = POLLIN}};
    assert_int_equal(poll(p, 2, 1500), 0);
    /* The second run completes both waits; their slots are free again. */
    assert_int_equal(post_good(f), 200);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(read_answer(held[i], 10000), 200);
        close(held[i]);
    }
    assert_int_equal(get_status(f, "/_qx/v1/runs/wait?count=2&timeoutMs=10000"), 200);
}

/* The server holds none of the held long-polls established any more: it
 * has seen their clients' FIN. */
static bool none_established(const qxt_tcp_view *v, const void *arg)
{
    (void)arg;
    return v->established == 0;
}

/* A long-poll whose client hung up gives its slot to the next: with the cap
 * taken by two clients that then close, two new ones are held in their
 * place at once (not after the first ones' 60 s), and a third is refused. */
static void test_a_hung_up_long_poll_gives_its_slot_away(void **state)
{
    fixture *f = *state;
    int held[2];
    qxt_response r;
    hold_the_cap(f, held, 2, &r);
    qxt_response_free(&r);
    close(held[0]);
    close(held[1]);
    /* Known event: the server's side of both has the FIN. */
    qxt_tcp_view v;
    if (!qxt_wait_tcp(f->mock.port, none_established, NULL, 10000, &v))
        fail_msg("the closed long-polls are still established: %d", v.established);
    hold_the_cap(f, held, 2, &r);
    json_t *j = qxt_response_json(&r);
    json_t *e = json_object_get(json_object_get(j, "meta"), "error");
    assert_string_equal(json_string_value(json_object_get(e, "errorCode")), "QX_TOO_MANY_WAITERS");
    json_decref(j);
    qxt_response_free(&r);
    /* The second run completes both new waits. */
    assert_int_equal(post_good(f), 200);
    assert_int_equal(post_good(f), 200);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(read_answer(held[i], 10000), 200);
        close(held[i]);
    }
}

static void test_bad_bounds_are_usage_errors(void **state)
{
    fixture *f = *state;
    const char *const cases[][5] = {
        {"--max-connections", "8", "--max-waiters", "8", "--max-waiters"},
        {"--request-timeout", "0", NULL, NULL, "--request-timeout"},
        {"--import-timeout", "ten", NULL, NULL, "--import-timeout"},
        {"--max-waiters", "0", NULL, NULL, "--max-waiters"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const argv[] = {QX_BIN_DIR "/qx-mock", "--config",  f->config,   "--listen",
                                    "127.0.0.1:0",         cases[i][0], cases[i][1], cases[i][2],
                                    cases[i][3],           NULL};
        char *err = NULL;
        assert_int_equal(qxt_run(argv, NULL, NULL, NULL, &err, 10000), 2);
        assert_non_null(err);
        assert_non_null(strstr(err, cases[i][4]));
        free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_header_tricklers_are_cut_at_the_request_deadline_while_others_are_served,
            setup_roomy, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_tricklers_holding_every_connection_are_cut_and_the_queued_request_served,
            setup_full, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_body_trickler_on_a_json_event_is_cut_at_the_request_deadline, setup_roomy,
            qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_import_trickling_within_its_timeout_is_served_and_past_it_is_cut, setup_import,
            qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_long_polls_are_capped_and_never_block_ingest_or_health,
                                        setup_waiters, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_hung_up_long_poll_gives_its_slot_away, setup_waiters,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bad_bounds_are_usage_errors, setup_roomy,
                                        qxt_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
