/*
 * test_wire.c — what the page's polls cost, end to end on the real qx-mock:
 * admin GETs carry an ETag and answer 304 to an If-None-Match that names it
 * until the answer changes; bodies are gzip-compressed for a client that
 * accepts it (and only then); GET /_qx/v1/runs?fields=summary leaves out
 * payloads, conditions and tasks and names each run's identity; the page
 * itself is compressed too, and /favicon.ico is not a 404.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "harness.h"

#define TOKEN "QX-WIRE-SECRET-1"
#define USERPWD "api-user@example.com:" TOKEN
#define EVENT_PATH "/inbound-event/v1/events/json/triggers?urlTokenId=tok-wire"
#define RUNS_PATH "/_qx/v1/runs?order=desc&limit=50"

static const char config_text[] =
    "{\"users\": [{\"username\": \"api-user@example.com\", \"apiToken\": \"" TOKEN "\"}],"
    " \"workflows\": [{\"id\": \"WF_wire\", \"urlTokenId\": \"tok-wire\","
    "   \"eventData\": {\"firstName\": \"$.person.firstName\"}}]}";

static int setup(void **state)
{
    return qxt_fixture_start(state, config_text, NULL);
}

/* Posts n events, each with a payload of some size, and waits for the runs. */
static void post_runs(qxt_fixture *f, int n)
{
    static const char *const json_ct[] = {"Content-Type: application/json", NULL};
    for (int i = 0; i < n; i++) {
        char body[1024];
        snprintf(body, sizeof body,
                 "{\"identityMap\": {\"Email\": [{\"id\": \"wire-%d@example.com\"}]},"
                 " \"person\": {\"firstName\": \"Wire %d\", \"note\": \"%0400d\"}}",
                 i, i, i);
        qxt_response r;
        assert_int_equal(
            qxt_http("POST", qxt_url(f, EVENT_PATH), body, strlen(body), json_ct, USERPWD, &r), 0);
        assert_int_equal(r.status, 200);
        qxt_response_free(&r);
    }
    char wait[96];
    snprintf(wait, sizeof wait, "/_qx/v1/runs/wait?count=%d&timeoutMs=20000", n);
    qxt_response r;
    assert_int_equal(qxt_http("GET", qxt_url(f, wait), NULL, 0, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    qxt_response_free(&r);
}

/* GET path with the given request headers (NULL-terminated, may be NULL). */
static qxt_response get(qxt_fixture *f, const char *path, const char *const *headers)
{
    qxt_response r;
    assert_int_equal(qxt_http("GET", qxt_url(f, path), NULL, 0, headers, NULL, &r), 0);
    return r;
}

static void test_an_unchanged_answer_is_304_until_it_changes(void **state)
{
    qxt_fixture *f = *state;
    post_runs(f, 2);
    qxt_response first = get(f, RUNS_PATH, NULL);
    assert_int_equal(first.status, 200);
    char etag[64], vary[64];
    assert_true(qxt_response_header(&first, "ETag", etag, sizeof etag));
    assert_true(strncmp(etag, "W/\"", 3) == 0);
    assert_true(qxt_response_header(&first, "Vary", vary, sizeof vary));
    assert_string_equal(vary, "Accept-Encoding");

    char inm[96];
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    const char *const conditional[] = {inm, NULL};
    qxt_response same = get(f, RUNS_PATH, conditional);
    assert_int_equal(same.status, 304);
    assert_int_equal(same.body_len, 0);
    char again[64];
    assert_true(qxt_response_header(&same, "ETag", again, sizeof again));
    assert_string_equal(again, etag);
    /* A list of tags, one of them this one, and "*" match too. */
    char list[160];
    snprintf(list, sizeof list, "If-None-Match: W/\"0000000000000000\", %s", etag + 2);
    const char *const listed[] = {list, NULL};
    qxt_response by_list = get(f, RUNS_PATH, listed);
    assert_int_equal(by_list.status, 304);
    /* Another query is another answer. */
    qxt_response other = get(f, "/_qx/v1/runs?order=desc&limit=1", conditional);
    assert_int_equal(other.status, 200);

    post_runs(f, 3); /* 3 in all: the wait counts every finished run */
    qxt_response changed = get(f, RUNS_PATH, conditional);
    assert_int_equal(changed.status, 200);
    char newer[64];
    assert_true(qxt_response_header(&changed, "ETag", newer, sizeof newer));
    assert_string_not_equal(newer, etag);
    json_t *doc = qxt_response_json(&changed);
    assert_int_equal(json_integer_value(json_object_get(doc, "total")), 5);
    json_decref(doc);
    /* Only 200s carry a validator: a refusal is not cached. */
    qxt_response bad = get(f, "/_qx/v1/runs?limit=0", NULL);
    assert_int_equal(bad.status, 400);
    assert_false(qxt_response_header(&bad, "ETag", etag, sizeof etag));

    qxt_response *all[] = {&first, &same, &by_list, &other, &changed, &bad};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        qxt_response_free(all[i]);
}

/* body gunzipped; a new NUL-terminated buffer. */
static char *gunzip(const char *body, size_t len, size_t *out_len)
{
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    size_t cap = 1 << 22;
    char *out = malloc(cap + 1);
    assert_non_null(out);
    z.next_in = (Bytef *)(uintptr_t)body;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = z.total_out;
    out[*out_len] = '\0';
    inflateEnd(&z);
    return out;
}

static void test_bodies_are_gzip_compressed_when_the_client_accepts_it(void **state)
{
    qxt_fixture *f = *state;
    post_runs(f, 10);
    qxt_response plain = get(f, RUNS_PATH, NULL);
    assert_int_equal(plain.status, 200);
    char encoding[32];
    assert_false(qxt_response_header(&plain, "Content-Encoding", encoding, sizeof encoding));

    static const char *const gzip_ok[] = {"Accept-Encoding: gzip, deflate, br", NULL};
    qxt_response zipped = get(f, RUNS_PATH, gzip_ok);
    assert_int_equal(zipped.status, 200);
    assert_true(qxt_response_header(&zipped, "Content-Encoding", encoding, sizeof encoding));
    assert_string_equal(encoding, "gzip");
    assert_true(zipped.body_len < plain.body_len / 2);
    size_t len = 0;
    char *text = gunzip(zipped.body, zipped.body_len, &len);
    assert_int_equal(len, plain.body_len);
    assert_memory_equal(text, plain.body, len);
    free(text);
    /* The same validator for both: it is the answer's, whatever the coding. */
    char e1[64], e2[64];
    assert_true(qxt_response_header(&plain, "ETag", e1, sizeof e1));
    assert_true(qxt_response_header(&zipped, "ETag", e2, sizeof e2));
    assert_string_equal(e1, e2);

    /* gzip;q=0 refuses it; a small answer is not worth compressing. */
    static const char *const gzip_refused[] = {"Accept-Encoding: gzip;q=0, *;q=1", NULL};
    qxt_response refused = get(f, RUNS_PATH, gzip_refused);
    assert_false(qxt_response_header(&refused, "Content-Encoding", encoding, sizeof encoding));
    qxt_response small = get(f, "/_qx/v1/health", gzip_ok);
    assert_int_equal(small.status, 200);
    assert_false(qxt_response_header(&small, "Content-Encoding", encoding, sizeof encoding));
    /* The page is compressed too. */
    qxt_response page = get(f, "/", gzip_ok);
    assert_int_equal(page.status, 200);
    assert_true(qxt_response_header(&page, "Content-Encoding", encoding, sizeof encoding));
    char *html = gunzip(page.body, page.body_len, &len);
    assert_non_null(strstr(html, "<title>qx-mock"));
    free(html);

    qxt_response *all[] = {&plain, &zipped, &refused, &small, &page};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        qxt_response_free(all[i]);
}

static void test_a_summary_list_leaves_out_what_only_the_detail_shows(void **state)
{
    qxt_fixture *f = *state;
    post_runs(f, 3);
    qxt_response full = get(f, RUNS_PATH, NULL);
    qxt_response summary = get(f, RUNS_PATH "&fields=summary", NULL);
    assert_int_equal(summary.status, 200);
    assert_true(summary.body_len < full.body_len / 2);
    json_t *doc = qxt_response_json(&summary);
    json_t *runs = json_object_get(doc, "runs");
    assert_int_equal(json_array_size(runs), 3);
    assert_int_equal(json_integer_value(json_object_get(doc, "total")), 3);
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run)
    {
        assert_null(json_object_get(run, "payload"));
        assert_null(json_object_get(run, "tasks"));
        assert_null(json_object_get(run, "conditions"));
        assert_non_null(json_object_get(run, "status"));
        assert_non_null(json_object_get(run, "receivedAt"));
        assert_non_null(json_object_get(json_object_get(run, "eventData"), "firstName"));
        /* No email in the event data: the payload's identityMap names it. */
        char want[64];
        snprintf(want, sizeof want, "wire-%zu@example.com", 2 - i);
        assert_string_equal(json_string_value(json_object_get(run, "identity")), want);
    }
    json_decref(doc);
    qxt_response all = get(f, RUNS_PATH "&fields=all", NULL);
    assert_int_equal(all.status, 200);
    assert_int_equal(all.body_len, full.body_len);
    qxt_response bad = get(f, RUNS_PATH "&fields=payload", NULL);
    assert_int_equal(bad.status, 400);
    assert_non_null(strstr(bad.body, "fields: expected summary or all"));
    qxt_response *list[] = {&full, &summary, &all, &bad};
    for (size_t k = 0; k < sizeof list / sizeof list[0]; k++)
        qxt_response_free(list[k]);
}

static void test_the_favicon_is_not_a_404(void **state)
{
    qxt_fixture *f = *state;
    qxt_response r = get(f, "/favicon.ico", NULL);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.body_len, 0);
    qxt_response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_an_unchanged_answer_is_304_until_it_changes, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bodies_are_gzip_compressed_when_the_client_accepts_it,
                                        setup, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_summary_list_leaves_out_what_only_the_detail_shows,
                                        setup, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_the_favicon_is_not_a_404, setup, qxt_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
