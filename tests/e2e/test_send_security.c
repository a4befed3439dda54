/*
 * test_send_security.c — qx-send's credentials and TLS, end to end.
 *
 *   - Redirects are never followed: a 302 to another port is a failure with
 *     a reason that says so, and the second server never sees a byte (so it
 *     never sees the Authorization header the first one got).
 *   - https: certificates are verified by default. With a throwaway CA made
 *     by the openssl CLI at test time and an in-test libmicrohttpd HTTPS
 *     server (GnuTLS), the send fails without --cacert (certificateError,
 *     not retried, dead-lettered with a reason naming the certificate),
 *     succeeds with --cacert CA, fails with another CA and with a host name
 *     the certificate does not name. There is no switch to skip the check.
 *   - The token appears in none of the trace, report, dead-letter and state
 *     files, nor on standard error (debug logging on, also when the server
 *     refuses the credentials), nor in the process's argv (it comes from the
 *     environment or a file only) or, with passwordFile, its environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "send_fixture.h"
#include "rawserver.h"

#define RUN_TIMEOUT_MS 120000

/* This file's part of the fixture: the raw servers and the TLS server, once
 * started. */
typedef struct own {
    raw_server *a, *b;
    struct MHD_Daemon *tls;
    int tls_requests;
} own;

static own *own_of(const sf_fixture *f)
{
    return f->own;
}

static void release_own(sf_fixture *f)
{
    raw_stop(own_of(f)->a);
    raw_stop(own_of(f)->b);
    if (own_of(f)->tls != NULL)
        MHD_stop_daemon(own_of(f)->tls);
}

static int setup(void **state)
{
    return sf_setup_with(state, sizeof(own), release_own);
}

static char *raw_url(const raw_server *s)
{
    static char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/inbound-event/v1/events/json/triggers", s->port);
    return url;
}

/* The first dead-letter record. */
static json_t *first_dead_letter(const sf_fixture *f)
{
    char *text = qxt_read_file(sf_path(f, "dead.ndjson"));
    assert_non_null(text);
    char *nl = strchr(text, '\n');
    assert_non_null(nl);
    *nl = '\0';
    json_t *rec = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(rec);
    return rec;
}

static void assert_no_secret(const char *what, const char *text)
{
    if (text == NULL)
        fail_msg("%s: missing", what);
    if (strstr(text, TOKEN_OK) != NULL || strstr(text, TOKEN_OK_B64) != NULL)
        fail_msg("%s holds the token", what);
}

/* ---- redirects ----------------------------------------------------------------- */

static void test_redirect_to_another_port_is_not_followed(void **state)
{
    sf_fixture *f = *state;
    own_of(f)->b = raw_start(RAW_OK); /* where the redirect points: must see nothing */
    own_of(f)->a = raw_start(RAW_REDIRECT);
    assert_non_null(own_of(f)->a);
    assert_non_null(own_of(f)->b);
    char location[256];
    snprintf(location, sizeof location, "http://127.0.0.1:%d/collect", own_of(f)->b->port);
    raw_set_location(own_of(f)->a, location);
    char *dest = sf_write_destination(f, "dest.json", raw_url(own_of(f)->a), false);
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
                          SEED_PROFILE,
                          NULL};
    assert_int_equal(sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL), 1);
    /* the destination itself did get the credentials... */
    assert_true(raw_saw(own_of(f)->a, "Authorization: Basic " TOKEN_OK_B64));
    assert_int_equal(raw_requests(own_of(f)->a), 1); /* a 3xx is not retried */
    /* ...and the address it redirected to got nothing at all */
    assert_int_equal(raw_connections(own_of(f)->b), 0);
    assert_int_equal(raw_seen_len(own_of(f)->b), 0);
    json_t *rep = sf_load_json(sf_path(f, "report.json"));
    assert_int_equal(sf_failed_for(rep, "http302"), 1);
    json_decref(rep);
    json_t *rec = first_dead_letter(f);
    assert_int_equal(json_integer_value(json_object_get(rec, "httpStatus")), 302);
    char expected[512];
    snprintf(expected, sizeof expected, "HTTP 302: redirect to %s not followed", location);
    const char *reason = json_string_value(json_object_get(rec, "reason"));
    if (reason == NULL || strstr(reason, expected) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", reason ? reason : "(none)", expected);
    json_decref(rec);
}

/* ---- TLS ------------------------------------------------------------------------ */

static enum MHD_Result tls_answer(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    (void)url;
    (void)method;
    (void)version;
    (void)data;
    sf_fixture *f = cls;
    if (*con_cls == NULL) {
        *con_cls = f;
        return MHD_YES;
    }
    if (*data_size > 0) {
        *data_size = 0;
        return MHD_YES;
    }
    __atomic_add_fetch(&own_of(f)->tls_requests, 1, __ATOMIC_SEQ_CST);
    static const char body[] = "{\"result\": {}, \"meta\": {\"httpStatus\": \"200 - OK\"}}";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* Makes ca.pem (a throwaway CA), server.pem/server.key (for IP 127.0.0.1,
 * signed by it) and other-ca.pem (a CA that signed nothing) in the dir. */
static void make_certificates(const sf_fixture *f)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && exec >openssl.log 2>&1 && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout ca.key -out ca.pem -days 2 -subj /CN=qx-test-ca && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=qx-other-ca && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout server.key -out server.csr -subj /CN=127.0.0.1 && "
             "printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' >ext.cnf && "
             "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out server.pem -days 2 -extfile ext.cnf",
             f->dir);
    if (system(cmd) != 0) {
        char *log = qxt_read_file(sf_path(f, "openssl.log"));
        fail_msg("openssl failed: %s", log != NULL ? log : "");
    }
}

static int start_tls_server(sf_fixture *f)
{
    char *key = qxt_read_file(sf_path(f, "server.key"));
    char *cert = qxt_read_file(sf_path(f, "server.pem"));
    assert_non_null(key);
    assert_non_null(cert);
    own_of(f)->tls =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS | MHD_USE_ERROR_LOG, 0, NULL,
                         NULL, tls_answer, f, MHD_OPTION_HTTPS_MEM_KEY, key,
                         MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_END);
    free(key);
    free(cert);
    assert_non_null(own_of(f)->tls);
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(own_of(f)->tls, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    return info->port;
}

/* send to dest, with --cacert ca when not NULL; returns the exit code. */
static int send_tls(sf_fixture *f, const char *dest, const char *ca)
{
    const char *argv[20];
    size_t n = 0;
    argv[n++] = QX_SEND;
    argv[n++] = "send";
    argv[n++] = "--destination";
    argv[n++] = dest;
    argv[n++] = "--mapping";
    argv[n++] = SEED_MAPPING;
    argv[n++] = "--retry-schedule";
    argv[n++] = "10ms,10ms";
    /* A deadline only: TLS handshakes under valgrind on a loaded machine
     * take seconds. */
    argv[n++] = "--timeout-ms";
    argv[n++] = "60000";
    argv[n++] = "--dead-letter";
    argv[n++] = sf_path(f, "dead.ndjson");
    argv[n++] = "--report";
    argv[n++] = sf_path(f, "report.json");
    if (ca != NULL) {
        argv[n++] = "--cacert";
        argv[n++] = ca;
    }
    argv[n++] = SEED_PROFILE;
    argv[n] = NULL;
    unlink(sf_path(f, "dead.ndjson"));
    return sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, NULL);
}

/* The last send failed at once for its certificate. */
static void check_certificate_failure(const sf_fixture *f, const char *reason_part)
{
    json_t *rep = sf_load_json(sf_path(f, "report.json"));
    assert_int_equal(sf_failed_for(rep, "certificateError"), 1);
    assert_int_equal(json_integer_value(json_object_get(rep, "retries")), 0);
    json_decref(rep);
    json_t *rec = first_dead_letter(f);
    const char *reason = json_string_value(json_object_get(rec, "reason"));
    if (reason == NULL || strncmp(reason, "TLS certificate error: ", 23) != 0 ||
        strstr(reason, reason_part) == NULL)
        fail_msg("reason \"%s\": expected a certificate error about \"%s\"",
                 reason ? reason : "(none)", reason_part);
    assert_true(json_is_null(json_object_get(rec, "httpStatus")));
    json_decref(rec);
}

static void test_https_verifies_the_certificate_and_takes_a_cacert(void **state)
{
    sf_fixture *f = *state;
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        fprintf(stderr, "libmicrohttpd without TLS: skipped\n");
        skip();
    }
    make_certificates(f);
    int port = start_tls_server(f);
    char url[256];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/inbound-event/v1/events/json/triggers", port);
    char *dest = strdup(sf_write_destination(f, "dest.json", url, false));

    /* the system's store does not know the throwaway CA */
    assert_int_equal(send_tls(f, dest, NULL), 1);
    check_certificate_failure(f, "certificate");
    /* a CA that did not sign it */
    assert_int_equal(send_tls(f, dest, sf_path(f, "other-ca.pem")), 1);
    check_certificate_failure(f, "certificate");
    assert_int_equal(__atomic_load_n(&own_of(f)->tls_requests, __ATOMIC_SEQ_CST), 0);

    /* the CA that signed it: delivered */
    assert_int_equal(send_tls(f, dest, sf_path(f, "ca.pem")), 0);
    json_t *rep = sf_load_json(sf_path(f, "report.json"));
    assert_int_equal(json_integer_value(json_object_get(rep, "activated")), 1);
    json_decref(rep);
    assert_int_equal(__atomic_load_n(&own_of(f)->tls_requests, __ATOMIC_SEQ_CST), 1);

    /* the right CA, but a host name the certificate does not name */
    snprintf(url, sizeof url, "https://localhost:%d/inbound-event/v1/events/json/triggers", port);
    char *dest_host = strdup(sf_write_destination(f, "dest-localhost.json", url, false));
    assert_int_equal(send_tls(f, dest_host, sf_path(f, "ca.pem")), 1);
    check_certificate_failure(f, "localhost");
    assert_int_equal(__atomic_load_n(&own_of(f)->tls_requests, __ATOMIC_SEQ_CST), 1);

    /* a --cacert that cannot be read is a usage error, before any request */
    const char *missing[] = {QX_SEND,      "send",       "--destination", dest,
                             "--mapping",  SEED_MAPPING, "--cacert",      sf_path(f, "nope.pem"),
                             SEED_PROFILE, NULL};
    assert_int_equal(sf_run_send(missing, env_ok, RUN_TIMEOUT_MS, NULL), 2);
    /* and there is no way to turn verification off */
    const char *insecure[] = {QX_SEND,      "send",       "--destination", dest, "--mapping",
                              SEED_MAPPING, "--insecure", SEED_PROFILE,    NULL};
    assert_int_equal(sf_run_send(insecure, env_ok, RUN_TIMEOUT_MS, NULL), 2);
    free(dest);
    free(dest_host);
}

/* ---- secrets --------------------------------------------------------------------- */

/* A send with every output on and debug logging, against server; checks
 * that the token is in none of them. Returns the exit code. */
static int send_everything_checked(sf_fixture *f, raw_server *server)
{
    char *dest = strdup(sf_write_destination(f, "dest.json", raw_url(server), false));
    const char *argv[] = {QX_SEND,
                          "send",
                          "-v",
                          "-v",
                          "--destination",
                          dest,
                          "--mapping",
                          SEED_MAPPING,
                          "--retry-schedule",
                          "10ms",
                          "--trace",
                          sf_path(f, "trace.ndjson"),
                          "--report",
                          sf_path(f, "report.json"),
                          "--dead-letter",
                          sf_path(f, "dead.ndjson"),
                          "--state",
                          sf_path(f, "state.ndjson"),
                          SEED_PROFILE,
                          NULL};
    char *err = NULL;
    int rc = sf_run_send(argv, env_ok, RUN_TIMEOUT_MS, &err);
    free(dest);
    /* it was sent: the server saw the credentials */
    assert_true(raw_saw(server, "Authorization: Basic " TOKEN_OK_B64));
    assert_no_secret("stderr", err);
    free(err);
    static const char *const files[] = {"trace.ndjson", "report.json", "dead.ndjson",
                                        "state.ndjson"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *text = qxt_read_file(sf_path(f, files[i]));
        if (text == NULL && strcmp(files[i], "dead.ndjson") == 0)
            continue; /* nothing failed */
        assert_no_secret(files[i], text);
        free(text);
    }
    char *trace = qxt_read_file(sf_path(f, "trace.ndjson"));
    assert_non_null(strstr(trace, "\"Authorization\":\"[redacted]\""));
    free(trace);
    return rc;
}

static void test_token_is_in_no_output_even_when_refused(void **state)
{
    sf_fixture *f = *state;
    own_of(f)->a = raw_start(RAW_UNAUTHORIZED);
    assert_non_null(own_of(f)->a);
    assert_int_equal(send_everything_checked(f, own_of(f)->a), 1);
    json_t *rec = first_dead_letter(f);
    assert_int_equal(json_integer_value(json_object_get(rec, "httpStatus")), 401);
    json_decref(rec);

    /* and when it is accepted */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -f '%s'/*.ndjson* '%s'/report.json", f->dir, f->dir);
    assert_int_equal(system(cmd), 0);
    own_of(f)->b = raw_start(RAW_OK);
    assert_non_null(own_of(f)->b);
    assert_int_equal(send_everything_checked(f, own_of(f)->b), 0);
}

/* Reads /proc/pid/<name> (NUL-separated) with the NULs made spaces. */
static char *read_proc(pid_t pid, const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, in);
    fclose(in);
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    return buf;
}

static void test_token_is_not_in_argv_or_environment(void **state)
{
    sf_fixture *f = *state;
    own_of(f)->a = raw_start(RAW_SILENT); /* keeps qx-send busy while we look at it */
    assert_non_null(own_of(f)->a);
    char *dest = strdup(sf_write_destination(f, "dest.json", raw_url(own_of(f)->a), true));
    const char *argv[] = {QX_SEND, "send",      "--destination", dest,         "--timeout-ms",
                          "60000", "--mapping", SEED_MAPPING,    SEED_PROFILE, NULL};
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        unsetenv("QX_API_TOKEN");
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int64_t deadline = sf_now_ms() + RUN_TIMEOUT_MS;
    while (raw_requests(own_of(f)->a) < 1 && sf_now_ms() < deadline)
        usleep(10000);
    assert_int_equal(raw_requests(own_of(f)->a), 1);
    /* mid-request: the token is loaded and in use */
    assert_true(raw_saw(own_of(f)->a, "Authorization: Basic " TOKEN_OK_B64));
    char *cmdline = read_proc(pid, "cmdline");
    char *environ_text = read_proc(pid, "environ");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_non_null(strstr(cmdline, "qx-send send")); /* read the right process */
    assert_no_secret("argv", cmdline);
    assert_no_secret("environment", environ_text);
    free(cmdline);
    free(environ_text);
    free(dest);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_redirect_to_another_port_is_not_followed, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_https_verifies_the_certificate_and_takes_a_cacert,
                                        setup, sf_teardown),
        cmocka_unit_test_setup_teardown(test_token_is_in_no_output_even_when_refused, setup,
                                        sf_teardown),
        cmocka_unit_test_setup_teardown(test_token_is_not_in_argv_or_environment, setup,
                                        sf_teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
