/*
 * test_trace.c — `--trace` records: header blocks parsed with Authorization
 * redacted, and the shape of one call's record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qxs_trace.h"

static void test_headers_parsed_and_authorization_redacted(void **state)
{
    (void)state;
    json_t *h = qxs_trace_headers("POST /x?urlTokenId=t HTTP/1.1\r\n"
                                  "Host: 127.0.0.1:8080\r\n"
                                  "Authorization: Basic YXBpOlFYLVRFU1Q=\r\n"
                                  "X-API-TOKEN: QX-TEST\r\n"
                                  "Content-Type: application/json\r\n"
                                  "Set-Thing: a\r\n"
                                  "Set-Thing: b\r\n"
                                  "\r\n");
    assert_non_null(h);
    assert_string_equal(json_string_value(json_object_get(h, "Authorization")), "[redacted]");
    assert_string_equal(json_string_value(json_object_get(h, "X-API-TOKEN")), "[redacted]");
    assert_string_equal(json_string_value(json_object_get(h, "Host")), "127.0.0.1:8080");
    assert_string_equal(json_string_value(json_object_get(h, "Set-Thing")), "a, b");
    assert_int_equal(json_object_size(h), 5); /* the request line is not a header */
    char *text = json_dumps(h, 0);
    assert_null(strstr(text, "YXBpOlFYLVRFU1Q="));
    assert_null(strstr(text, "QX-TEST"));
    free(text);
    json_decref(h);
    h = qxs_trace_headers(NULL);
    assert_int_equal(json_object_size(h), 0);
    json_decref(h);
}

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

static int write_call(FILE *f, void *arg)
{
    return qxs_trace_write(f, arg);
}

static void test_trace_record_shape(void **state)
{
    (void)state;
    const char *body = "{\"identityMap\": {}}";
    const char *resp = "{\"meta\": {\"httpStatus\": \"200 - OK\"}}";
    qxs_trace_call c = {.line_no = 3,
                        .attempt = 2,
                        .started_at_ms = 1693910635602,
                        .duration_us = 1234,
                        .method = "POST",
                        .url = "http://h/x",
                        .request_headers = "POST /x HTTP/1.1\r\nAuthorization: Basic abc\r\n",
                        .request_body = body,
                        .request_body_len = strlen(body),
                        .status = 200,
                        .response_headers = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n",
                        .response_body = resp,
                        .response_body_len = strlen(resp)};
    json_t *v = write_and_read(write_call, &c);
    assert_int_equal(json_integer_value(json_object_get(v, "line")), 3);
    assert_int_equal(json_integer_value(json_object_get(v, "attempt")), 2);
    assert_string_equal(json_string_value(json_object_get(v, "startedAt")),
                        "2023-09-05T10:43:55.602Z");
    assert_float_equal(json_real_value(json_object_get(v, "durationMs")), 1.234, 1e-9);
    json_t *req = json_object_get(v, "request");
    assert_true(json_is_object(json_object_get(req, "body")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(req, "headers"), "Authorization")),
        "[redacted]");
    json_t *res = json_object_get(v, "response");
    assert_int_equal(json_integer_value(json_object_get(res, "status")), 200);
    assert_true(json_is_object(json_object_get(res, "body")));
    assert_null(json_object_get(v, "error"));
    json_decref(v);

    /* no answer: response null, the error said */
    c.status = 0;
    c.error = "timeout: Operation timed out";
    c.response_body = "not json";
    v = write_and_read(write_call, &c);
    assert_true(json_is_null(json_object_get(v, "response")));
    assert_string_equal(json_string_value(json_object_get(v, "error")),
                        "timeout: Operation timed out");
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_parsed_and_authorization_redacted),
        cmocka_unit_test(test_trace_record_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
