/*
 * test_send_abandon.c — a delivery that cannot go on loses nothing
 * silently: qxs_deliverer_abandon fails every unfinished payload (in
 * flight, queued, and queued behind an earlier one of its identity), counts
 * it and writes its dead-letter record, so `replay` can send it again.
 *
 * The endpoint is a loopback socket that listens and never accepts: the
 * kernel completes the connections, so requests go out and stay in flight
 * with no answer, as they would when the loop stops on a fatal error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qx_clock.h"
#include "qxs_deliver.h"

#define PAYLOADS 6

/* A socket listening on a free loopback port; *port set. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_abandon_fails_and_dead_letters_every_unfinished_payload(void **state)
{
    (void)state;
    int port;
    int lfd = silent_listener(&port);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/inbound-event/v1/events/json/triggers", port);
    FILE *dead = tmpfile();
    assert_non_null(dead);
    qxs_report *report = qxs_report_new();
    qx_rng *rng = qx_rng_new(1);
    assert_non_null(report);
    assert_non_null(rng);
    qxs_deliver_options o = {.url = url,
                             .username = "u",
                             .password = "p",
                             .concurrency = 2,
                             .timeout_ms = 60000,
                             .dead_letter = dead,
                             .report = report,
                             .rng = rng};
    qxs_retry_policy_default(&o.retry);
    qx_error err;
    qxs_deliverer *d = qxs_deliverer_new(&o, &err);
    assert_non_null(d);
    /* Lines 1-3: one identity (one in flight, two behind it); 4-6: others. */
    static const char *const ids[PAYLOADS] = {"a@example.com", "a@example.com", "a@example.com",
                                              "b@example.com", "c@example.com", "d@example.com"};
    for (size_t i = 0; i < PAYLOADS; i++) {
        json_t *p = json_pack("{s:{s:[{s:s}]}, s:I}", "identityMap", "Email", "id", ids[i], "n",
                              (json_int_t)i);
        qxs_report_read(report);
        assert_int_equal(qxs_deliverer_submit(d, p, i + 1, &err), 0);
    }
    /* Wait (bounded) until both slots carry a request nobody will answer. */
    int64_t deadline = qx_mono_ms() + 30000;
    while (qxs_deliverer_in_flight(d) < 2 && qx_mono_ms() < deadline)
        assert_int_equal(qxs_deliverer_run_once(d, 100, NULL, 0, &err), 0);
    assert_int_equal(qxs_deliverer_in_flight(d), 2);
    assert_int_equal(qxs_deliverer_pending(d), PAYLOADS);

    qxs_deliverer_abandon(d, "not delivered: the loop stopped");
    assert_int_equal(qxs_deliverer_in_flight(d), 0);
    assert_int_equal(qxs_deliverer_pending(d), 0);

    json_t *doc = qxs_report_to_json(report);
    assert_int_equal(json_integer_value(json_object_get(doc, "failed")), PAYLOADS);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "failedReasons"), "internalError")),
        PAYLOADS);
    json_decref(doc);

    /* One dead-letter record a line, each with its payload and the reason. */
    rewind(dead);
    bool seen[PAYLOADS + 1] = {false};
    char line[4096];
    int records = 0;
    while (fgets(line, sizeof line, dead) != NULL) {
        json_t *rec = json_loads(line, 0, NULL);
        assert_non_null(rec);
        json_int_t n = json_integer_value(json_object_get(rec, "line"));
        assert_true(n >= 1 && n <= PAYLOADS);
        seen[n] = true;
        assert_non_null(
            strstr(json_string_value(json_object_get(rec, "reason")), "the loop stopped"));
        assert_non_null(json_object_get(json_object_get(rec, "payload"), "identityMap"));
        json_decref(rec);
        records++;
    }
    assert_int_equal(records, PAYLOADS);
    for (int i = 1; i <= PAYLOADS; i++)
        assert_true(seen[i]);

    qxs_deliverer_free(d);
    qxs_report_free(report);
    qx_rng_free(rng);
    fclose(dead);
    close(lfd);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abandon_fails_and_dead_letters_every_unfinished_payload),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
