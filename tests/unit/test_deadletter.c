/*
 * test_deadletter.c — dead-letter records and the payloads replay reads back
 * from them and from exported runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qxs_deadletter.h"

static json_t *write_and_read(int (*writer)(FILE *, void *), void *arg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(writer(f, arg), 0);
    fclose(f);
    assert_true(len > 0 && buf[len - 1] == '\n');
    assert_null(memchr(buf, '\n', len - 1)); /* one line */
    json_t *v = json_loads(buf, 0, NULL);
    assert_non_null(v);
    free(buf);
    return v;
}

typedef struct dl_args {
    json_t *payload;
    long status;
    int attempts;
    int64_t at;
} dl_args;

static int write_dl(FILE *f, void *arg)
{
    dl_args *a = arg;
    return qxs_dead_letter_write(f, a->payload, "HTTP 401: bad token", a->status, a->attempts,
                                 a->at, 7);
}

static void test_dead_letter_record_shape(void **state)
{
    (void)state;
    json_t *payload = json_loads("{\"identityMap\": {\"Email\": [{\"id\": \"a@b.c\"}]}}", 0, NULL);
    dl_args a = {payload, 401, 1, 1693910635602};
    json_t *v = write_and_read(write_dl, &a);
    assert_true(json_equal(json_object_get(v, "payload"), payload));
    assert_string_equal(json_string_value(json_object_get(v, "reason")), "HTTP 401: bad token");
    assert_int_equal(json_integer_value(json_object_get(v, "httpStatus")), 401);
    assert_int_equal(json_integer_value(json_object_get(v, "attempts")), 1);
    assert_string_equal(json_string_value(json_object_get(v, "lastAttemptAt")),
                        "2023-09-05T10:43:55.602Z");
    assert_int_equal(json_integer_value(json_object_get(v, "line")), 7);
    /* and replay reads the payload back */
    qx_error err;
    assert_true(json_equal(qxs_replay_payload(v, &err), payload));
    json_decref(v);

    dl_args none = {NULL, 0, 0, 0};
    v = write_and_read(write_dl, &none);
    assert_true(json_is_null(json_object_get(v, "payload")));
    assert_true(json_is_null(json_object_get(v, "httpStatus")));
    assert_true(json_is_null(json_object_get(v, "lastAttemptAt")));
    assert_null(qxs_replay_payload(v, &err));
    assert_string_equal(err.text, "\"payload\" is not a JSON object");
    json_decref(v);
    json_decref(payload);
    assert_int_equal(qxs_dead_letter_write(NULL, NULL, "x", 0, 0, 0, 1), 0);
}

static void test_replay_reads_exported_runs(void **state)
{
    (void)state;
    json_t *run = json_loads("{\"id\": \"r1\", \"workflowId\": \"WF\", \"status\": \"SUCCESS\", "
                             "\"receivedAt\": \"2026-11-29T03:41:14.123Z\", \"payload\": "
                             "{\"person\": {}}}",
                             0, NULL);
    qx_error err;
    json_t *p = qxs_replay_payload(run, &err);
    assert_non_null(p);
    assert_non_null(json_object_get(p, "person"));
    json_decref(run);
    json_t *other = json_loads("{\"id\": \"r1\"}", 0, NULL);
    assert_null(qxs_replay_payload(other, &err));
    assert_non_null(strstr(err.text, "no \"payload\" member"));
    json_decref(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dead_letter_record_shape),
        cmocka_unit_test(test_replay_reads_exported_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
