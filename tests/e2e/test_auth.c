/*
 * test_auth.c — qx-mock's authentication as RFC 9110 and RFC 7617 say, end
 * to end: the real binary on a loopback port.
 *
 * Every 401 of the JSON-event endpoint challenges with WWW-Authenticate:
 * Basic, every 401 of the admin API with Bearer (never Basic); the scheme
 * name is matched in any case; the decoded credentials are read with their
 * length, so "TOKEN\0junk" is not the token. Real clients prove the
 * challenge works: Python's urllib HTTPBasicAuthHandler and curl --anyauth
 * send credentials only after a 401 that asks for Basic, and must end with
 * 200 and a run. Both run as child processes (ci/deps.sh installs them);
 * the test waits on their exit and on the emulator's long-poll, never on
 * time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TOKEN_OK "QX-TEST-TOKEN-1"
#define USER "api-user@example.com"
#define WF_TOKEN "6c1b1e2a-2f7e-4d8e-9a51-0f1d2c3b4a50"
#define TRIGGER "/inbound-event/v1/events/json/triggers?urlTokenId=" WF_TOKEN
/* base64 of USER ":" TOKEN_OK */
#define B64_OK "YXBpLXVzZXJAZXhhbXBsZS5jb206UVgtVEVTVC1UT0tFTi0x"
#define EVENT_CHALLENGE "Basic realm=\"Qualtrics JSON event\""
#define ADMIN_TOKEN_ENV "QX_TEST_AUTH_ADMIN_TOKEN"
#define ADMIN_TOKEN "qx-admin-secret-7"
#define PYTHON "/usr/bin/python3"
#define CURL "/usr/bin/curl"
#define CHILD_TIMEOUT_MS 30000

static const char config_text[] =
    "{\"users\": [{\"username\": \"" USER "\", \"apiToken\": \"" TOKEN_OK "\"}],"
    " \"workflows\": [{\"id\": \"WF_auth\", \"urlTokenId\": \"" WF_TOKEN "\"}]}";

static const char payload[] = "{\"identityMap\": {\"Email\": [{\"id\": \"dave@example.com\"}]}}";

typedef qxt_fixture fixture;

static int setup(void **state)
{
    return qxt_fixture_start(state, config_text, NULL);
}

static int setup_admin_token(void **state)
{
    setenv(ADMIN_TOKEN_ENV, ADMIN_TOKEN, 1);
    static const char *const extra[] = {"--admin-token-env", ADMIN_TOKEN_ENV, NULL};
    return qxt_fixture_start(state, config_text, extra);
}

/* POSTs the payload with one Authorization header (NULL: none) and extra
 * header (NULL: none); the response is left in *r. */
static void post_auth(const fixture *f, const char *authorization, const char *extra,
                      qxt_response *r)
{
    char auth_line[1024];
    const char *hdrs[4] = {"Content-Type: application/json", NULL, NULL, NULL};
    size_t n = 1;
    if (authorization != NULL) {
        snprintf(auth_line, sizeof auth_line, "Authorization: %s", authorization);
        hdrs[n++] = auth_line;
    }
    if (extra != NULL)
        hdrs[n++] = extra;
    assert_int_equal(qxt_http("POST", qxt_url(f, TRIGGER), payload, strlen(payload), hdrs, NULL, r),
                     0);
}

static const char *error_message(json_t *env)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(env, "meta"), "error"), "errorMessage"));
}

/* GETs an admin path (with the admin token when token is non-NULL) and
 * returns its JSON, asserting the status. New reference. */
static json_t *admin_get(const fixture *f, const char *path, const char *token, long status)
{
    char auth[256];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token != NULL ? token : "");
    const char *const hdrs[] = {auth, NULL};
    qxt_response r;
    assert_int_equal(
        qxt_http("GET", qxt_url(f, path), NULL, 0, token != NULL ? hdrs : NULL, NULL, &r), 0);
    if (r.status != status)
        fprintf(stderr, "GET %s: %ld: %s\n", path, r.status, r.body);
    assert_int_equal(r.status, status);
    json_t *j = qxt_response_json(&r);
    qxt_response_free(&r);
    assert_non_null(j);
    return j;
}

/* Waits (long-poll) until count runs are finished; returns them. */
static json_t *wait_runs(const fixture *f, int count)
{
    char path[128];
    snprintf(path, sizeof path, "/_qx/v1/runs/wait?count=%d&timeoutMs=20000", count);
    json_t *w = admin_get(f, path, NULL, 200);
    json_t *runs = json_incref(json_object_get(w, "runs"));
    json_decref(w);
    return runs;
}

/* The request journal, oldest first. New reference. */
static json_t *journal(const fixture *f)
{
    json_t *j = admin_get(f, "/_qx/v1/requests?limit=1000", NULL, 200);
    json_t *list = json_incref(json_object_get(j, "requests"));
    char *dump = json_dumps(j, 0);
    assert_null(strstr(dump, TOKEN_OK)); /* no secret ever reaches the journal */
    free(dump);
    json_decref(j);
    return list;
}

static void assert_event_challenge(const qxt_response *r)
{
    char v[256];
    assert_true(qxt_response_header(r, "WWW-Authenticate", v, sizeof v));
    assert_string_equal(v, EVENT_CHALLENGE);
}

static void test_scheme_name_is_matched_in_any_case(void **state)
{
    fixture *f = *state;
    static const char *const accepted[] = {"Basic " B64_OK, "basic " B64_OK, "BASIC " B64_OK,
                                           "bAsIc " B64_OK, "Basic  " B64_OK};
    size_t n = sizeof accepted / sizeof accepted[0];
    for (size_t i = 0; i < n; i++) {
        qxt_response r;
        post_auth(f, accepted[i], NULL, &r);
        if (r.status != 200)
            fprintf(stderr, "\"%.12s...\": %ld: %s\n", accepted[i], r.status, r.body);
        assert_int_equal(r.status, 200);
        char v[64];
        assert_false(qxt_response_header(&r, "WWW-Authenticate", v, sizeof v));
        qxt_response_free(&r);
    }
    json_t *runs = wait_runs(f, (int)n);
    assert_int_equal(json_array_size(runs), n);
    assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 0), "user")), USER);
    json_decref(runs);
}

typedef struct refusal {
    const char *authorization;
    const char *reason; /* substring of the errorMessage and the journal reason */
} refusal;

static void test_malformed_basic_credentials_are_refused_with_a_reason(void **state)
{
    fixture *f = *state;
    const refusal cases[] = {
        /* USER ":" TOKEN_OK "\0junk": a C string would stop at the token */
        {"Basic YXBpLXVzZXJAZXhhbXBsZS5jb206UVgtVEVTVC1UT0tFTi0xAGp1bms=", "NUL byte"},
        /* USER "\0x:" TOKEN_OK */
        {"Basic YXBpLXVzZXJAZXhhbXBsZS5jb20AeDpRWC1URVNULVRPS0VOLTE=", "NUL byte"},
        /* USER TOKEN_OK, no colon */
        {"Basic YXBpLXVzZXJAZXhhbXBsZS5jb21RWC1URVNULVRPS0VOLTE=", "no colon"},
        {"Basic " B64_OK " junk", "not strict base64"},
        {"Basic " B64_OK "==", "not strict base64"},
        {"Basic " B64_OK "!", "not strict base64"},
        {"Basic !!!notbase64", "not strict base64"},
        {"Basic YXBpLXVzZXJAZXhhbXBsZS5jb206UVgtVEVTVC1UT0tFTi0xeA", "not strict base64"},
        {"Basic", "nothing after the scheme"},
        /* a wrong token one byte longer, and a prefix of the token */
        {"Basic YXBpLXVzZXJAZXhhbXBsZS5jb206UVgtVEVTVC1UT0tFTi0xeA==", "wrong API token"},
        {"Basic YXBpLXVzZXJAZXhhbXBsZS5jb206UVgtVEVTVC1UT0tFTi0=", "wrong API token"},
    };
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        qxt_response r;
        post_auth(f, cases[i].authorization, NULL, &r);
        if (r.status != 401)
            fprintf(stderr, "case %zu: got %ld: %s\n", i, r.status, r.body);
        assert_int_equal(r.status, 401);
        assert_event_challenge(&r);
        json_t *env = qxt_response_json(&r);
        const char *msg = error_message(env);
        assert_non_null(msg);
        if (strstr(msg, cases[i].reason) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, msg, cases[i].reason);
        json_decref(env);
        qxt_response_free(&r);
    }
    json_t *list = journal(f);
    assert_int_equal(json_array_size(list), n);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(list, i);
        assert_int_equal(json_integer_value(json_object_get(e, "httpStatus")), 401);
        assert_non_null(strstr(json_string_value(json_object_get(e, "reason")), cases[i].reason));
    }
    json_decref(list);
    /* No run was started, and the emulator still takes good credentials. */
    json_t *runs = admin_get(f, "/_qx/v1/runs", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(runs, "runs")), 0);
    json_decref(runs);
    qxt_response r;
    post_auth(f, "Basic " B64_OK, NULL, &r);
    assert_int_equal(r.status, 200);
    qxt_response_free(&r);
}

static void test_every_event_401_challenges_with_basic(void **state)
{
    fixture *f = *state;
    static const char *const auths[] = {NULL, "Bearer abc", "Digest username=\"x\"",
                                        "Basic YXBpLXVzZXJAZXhhbXBsZS5jb206d3Jvbmc="};
    for (size_t i = 0; i < sizeof auths / sizeof auths[0]; i++) {
        qxt_response r;
        post_auth(f, auths[i], NULL, &r);
        assert_int_equal(r.status, 401);
        assert_event_challenge(&r);
        json_t *env = qxt_response_json(&r); /* and the envelope as before */
        assert_string_equal(
            json_string_value(json_object_get(
                json_object_get(json_object_get(env, "meta"), "error"), "errorCode")),
            "AUTH_6.0");
        json_decref(env);
        qxt_response_free(&r);
    }
    qxt_response r;
    post_auth(f, NULL, "X-API-TOKEN: wrong", &r);
    assert_int_equal(r.status, 401);
    assert_event_challenge(&r);
    qxt_response_free(&r);
    /* Answers other than 401 challenge nothing. */
    post_auth(f, NULL, "X-API-TOKEN: " TOKEN_OK, &r);
    assert_int_equal(r.status, 200);
    char v[64];
    assert_false(qxt_response_header(&r, "WWW-Authenticate", v, sizeof v));
    qxt_response_free(&r);
}

/* POSTs the payload over a raw socket with one header line given as bytes,
 * exactly as written; returns the status. */
static long post_raw_header(const fixture *f, const char *line, size_t line_len)
{
    int fd = qxt_raw_connect(f->mock.port);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 20}; /* a deadline on each read, never a pause */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST /inbound-event/v1/events/json/triggers?urlTokenId=%s HTTP/1.1\r\n"
                     "Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n",
                     WF_TOKEN, strlen(payload));
    assert_int_equal(write(fd, head, (size_t)n), n);
    assert_int_equal(write(fd, line, line_len), (ssize_t)line_len);
    assert_int_equal(write(fd, "\r\n\r\n", 4), 4);
    assert_int_equal(write(fd, payload, strlen(payload)), (ssize_t)strlen(payload));
    char answer[256] = "";
    size_t got = 0;
    ssize_t r;
    while (got < sizeof answer - 1 && (r = read(fd, answer + got, sizeof answer - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    answer[got] = '\0';
    long status = 0;
    assert_int_equal(sscanf(answer, "HTTP/1.1 %ld", &status), 1);
    return status;
}

#define RAW(text) (text), sizeof(text) - 1

/* Trailing whitespace is no part of a field value (RFC 9110 section 5.5):
 * the credentials before it are read, not refused as trailing garbage. */
static void test_trailing_whitespace_is_no_part_of_the_credentials(void **state)
{
    fixture *f = *state;
    assert_int_equal(post_raw_header(f, RAW("X-API-TOKEN: " TOKEN_OK " \t ")), 200);
    assert_int_equal(post_raw_header(f, RAW("Authorization: Basic " B64_OK "  ")), 200);
    json_t *runs = wait_runs(f, 2);
    assert_int_equal(json_array_size(runs), 2);
    json_decref(runs);
    json_t *list = journal(f);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
}

/* The admin 401's challenge: Bearer, and no Basic anywhere in the headers
 * (a browser would pop up its own login dialog over the page's prompt). */
static void assert_admin_challenge(const char *path, const char *authorization)
{
    const char *const hdrs[] = {authorization, NULL};
    qxt_response r;
    assert_int_equal(qxt_http("GET", path, NULL, 0, authorization ? hdrs : NULL, NULL, &r), 0);
    assert_int_equal(r.status, 401);
    char v[256];
    assert_true(qxt_response_header(&r, "WWW-Authenticate", v, sizeof v));
    assert_string_equal(v, "Bearer realm=\"qx-mock admin API\"");
    for (const char *p = r.headers; *p != '\0'; p++)
        if (strncasecmp(p, "basic", 5) == 0)
            fail_msg("the admin 401 mentions Basic: %s", r.headers);
    qxt_response_free(&r);
}

static void test_admin_401_challenges_with_bearer_never_basic(void **state)
{
    fixture *f = *state;
    static const char *const paths[] = {"/_qx/v1/runs", "/_qx/v1/requests/REQ_x",
                                        "/_qx/v1/no-such-thing"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const char *u = qxt_url(f, paths[i]);
        assert_admin_challenge(u, NULL);
        assert_admin_challenge(u, "Authorization: Bearer wrong");
        assert_admin_challenge(u, "Authorization: Basic " B64_OK);
    }
    json_t *ok = admin_get(f, "/_qx/v1/runs", ADMIN_TOKEN, 200);
    json_decref(ok);
    /* The health check stays open: container and CI probes carry no token. */
    ok = admin_get(f, "/_qx/v1/health", NULL, 200);
    json_decref(ok);
}

/* The admin token as it may come: any case of the scheme, spaces after it,
 * trailing white space (no part of a field value); never a prefix of the
 * token nor the token with more after it. */
static void test_admin_token_is_read_whole_and_exactly(void **state)
{
    fixture *f = *state;
    static const char *const accepted[] = {
        "Authorization: Bearer " ADMIN_TOKEN, "Authorization: bearer " ADMIN_TOKEN,
        "Authorization: Bearer    " ADMIN_TOKEN, "Authorization: Bearer " ADMIN_TOKEN " \t",
        "X-QX-ADMIN-TOKEN: " ADMIN_TOKEN " "};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        const char *const hdrs[] = {accepted[i], NULL};
        qxt_response r;
        assert_int_equal(qxt_http("GET", qxt_url(f, "/_qx/v1/runs"), NULL, 0, hdrs, NULL, &r), 0);
        if (r.status != 200)
            fail_msg("%s: %ld", accepted[i], r.status);
        qxt_response_free(&r);
    }
    char prefix[64], longer[64];
    snprintf(prefix, sizeof prefix, "Authorization: Bearer %.*s", (int)strlen(ADMIN_TOKEN) - 1,
             ADMIN_TOKEN);
    snprintf(longer, sizeof longer, "Authorization: Bearer %sx", ADMIN_TOKEN);
    assert_admin_challenge(qxt_url(f, "/_qx/v1/runs"), prefix);
    assert_admin_challenge(qxt_url(f, "/_qx/v1/runs"), longer);
    assert_admin_challenge(qxt_url(f, "/_qx/v1/runs"), "Authorization: Bearer");
}

/* After a real client's exchange: one run, started by USER, and the
 * journal's only entry is the unauthenticated first try, answered 401: the
 * client sent credentials only because it was challenged. */
static void assert_challenged_then_ran(const fixture *f)
{
    json_t *runs = wait_runs(f, 1);
    assert_int_equal(json_array_size(runs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 0), "user")), USER);
    json_decref(runs);
    json_t *list = journal(f);
    assert_int_equal(json_array_size(list), 1);
    json_t *e = json_array_get(list, 0);
    assert_int_equal(json_integer_value(json_object_get(e, "httpStatus")), 401);
    assert_non_null(strstr(json_string_value(json_object_get(e, "reason")), "missing credentials"));
    json_decref(list);
}

static const char python_client[] =
    "import os, sys, urllib.error, urllib.request\n"
    "url = os.environ['QX_URL']\n"
    "mgr = urllib.request.HTTPPasswordMgr()\n"
    "mgr.add_password('Qualtrics JSON event', url, os.environ['QX_USERNAME'],\n"
    "                 os.environ['QX_API_TOKEN'])\n"
    "opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),\n"
    "                                     urllib.request.HTTPBasicAuthHandler(mgr))\n"
    "req = urllib.request.Request(url, data=sys.stdin.buffer.read(), method='POST',\n"
    "                             headers={'Content-Type': 'application/json'})\n"
    "try:\n"
    "    with opener.open(req, timeout=20) as r:\n"
    "        print(r.status)\n"
    "        print(r.read().decode())\n"
    "except urllib.error.HTTPError as e:\n"
    "    print(e.code)\n"
    "    print(e.read().decode())\n"
    "    sys.exit(1)\n";

static void test_python_basic_auth_handler_gets_200_and_a_run(void **state)
{
    fixture *f = *state;
    char *script = qxt_write_file(f->dir, "client.py", python_client);
    char url_env[600];
    snprintf(url_env, sizeof url_env, "QX_URL=%s", qxt_url(f, TRIGGER));
    const char *const env[] = {url_env, "QX_USERNAME=" USER, "QX_API_TOKEN=" TOKEN_OK, NULL};
    const char *const argv[] = {PYTHON, script, NULL};
    char *out = NULL, *err = NULL;
    int rc = qxt_run(argv, payload, env, &out, &err, CHILD_TIMEOUT_MS);
    if (rc != 0)
        fprintf(stderr, "python3 exited %d\nstdout: %s\nstderr: %s\n", rc, out, err);
    assert_int_equal(rc, 0);
    assert_int_equal(strncmp(out, "200\n", 4), 0);
    assert_non_null(strstr(out, "\"runId\""));
    free(out);
    free(err);
    free(script);
    assert_challenged_then_ran(f);
}

static void test_curl_anyauth_gets_200_and_a_run(void **state)
{
    fixture *f = *state;
    char *body = qxt_write_file(f->dir, "payload.json", payload);
    /* The credentials in a config file, off the command line. */
    char *cfg = qxt_write_file(f->dir, "curl.cfg", "user = \"" USER ":" TOKEN_OK "\"\n");
    char data[600];
    snprintf(data, sizeof data, "@%s", body);
    const char *const argv[] = {CURL,
                                "-sS",
                                "--noproxy",
                                "*",
                                "--max-time",
                                "20",
                                "--anyauth",
                                "-K",
                                cfg,
                                "-H",
                                "Content-Type: application/json",
                                "--data-binary",
                                data,
                                "-w",
                                "\n%{http_code}\n",
                                qxt_url(f, TRIGGER),
                                NULL};
    char *out = NULL, *err = NULL;
    int rc = qxt_run(argv, NULL, NULL, &out, &err, CHILD_TIMEOUT_MS);
    if (rc != 0)
        fprintf(stderr, "curl exited %d\nstdout: %s\nstderr: %s\n", rc, out, err);
    assert_int_equal(rc, 0);
    size_t n = strlen(out);
    assert_true(n >= 4);
    assert_string_equal(out + n - 4, "200\n"); /* the last status curl saw */
    assert_non_null(strstr(out, "\"runId\""));
    free(out);
    free(err);
    free(cfg);
    free(body);
    assert_challenged_then_ran(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scheme_name_is_matched_in_any_case, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_basic_credentials_are_refused_with_a_reason,
                                        setup, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_every_event_401_challenges_with_basic, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_trailing_whitespace_is_no_part_of_the_credentials,
                                        setup, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_admin_token_is_read_whole_and_exactly,
                                        setup_admin_token, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_admin_401_challenges_with_bearer_never_basic,
                                        setup_admin_token, qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_python_basic_auth_handler_gets_200_and_a_run, setup,
                                        qxt_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_curl_anyauth_gets_200_and_a_run, setup,
                                        qxt_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
