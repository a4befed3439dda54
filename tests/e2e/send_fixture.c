/*
 * send_fixture.c — the fixture and helpers of qx-send's end-to-end tests
 * (see send_fixture.h).
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
#include <time.h>
#include <unistd.h>

#include "send_fixture.h"

const char *const env_ok[] = {"QX_API_TOKEN=" TOKEN_OK, NULL};

int sf_setup_with(void **state, size_t own_size, void (*release)(sf_fixture *f))
{
    sf_fixture *f = calloc(1, sizeof *f);
    *state = f;
    if (f == NULL)
        return -1;
    f->dir = qxt_tempdir();
    f->release = release;
    if (own_size > 0)
        f->own = calloc(1, own_size);
    return f->dir != NULL && (own_size == 0 || f->own != NULL) ? 0 : -1;
}

int sf_setup(void **state)
{
    return sf_setup_with(state, 0, NULL);
}

int sf_teardown(void **state)
{
    sf_fixture *f = *state;
    if (f == NULL)
        return 0;
    if (f->release != NULL)
        f->release(f);
    if (f->mock.pid > 0)
        qxt_mock_stop(&f->mock, SIGTERM);
    if (f->dir != NULL)
        qxt_remove_dir(f->dir);
    free(f->dir);
    free(f->own);
    free(f);
    return 0;
}

int64_t sf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *sf_path(const sf_fixture *f, const char *name)
{
    static char buf[16][1024];
    static int i;
    i = (i + 1) % 16;
    snprintf(buf[i], sizeof buf[i], "%s/%s", f->dir, name);
    return buf[i];
}

void sf_put_bytes(const sf_fixture *f, const char *name, const void *data, size_t n)
{
    FILE *out = fopen(sf_path(f, name), "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(data, 1, n, out), n);
    assert_int_equal(fclose(out), 0);
}

void sf_put_file(const sf_fixture *f, const char *name, const char *text)
{
    sf_put_bytes(f, name, text, strlen(text));
}

char *sf_write_destination(sf_fixture *f, const char *name, const char *url, bool token_file)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"name\": \"e2e\", \"description\": \"test\", \"url\": \"%s\", \"username\": "
             "\"" USER "\", %s}",
             url,
             token_file ? "\"passwordFile\": \"token.txt\"" : "\"passwordEnv\": \"QX_API_TOKEN\"");
    sf_put_file(f, name, text);
    if (token_file)
        sf_put_file(f, "token.txt", TOKEN_OK "\n");
    snprintf(f->dest, sizeof f->dest, "%s", sf_path(f, name));
    return f->dest;
}

char *sf_local_destination(sf_fixture *f, int port)
{
    char url[256];
    snprintf(url, sizeof url,
             "http://127.0.0.1:%d/inbound-event/v1/events/json/triggers?urlTokenId=x", port);
    return sf_write_destination(f, "dest.json", url, false);
}

char *sf_mock_destination(sf_fixture *f, const char *config_path)
{
    assert_int_equal(qxt_mock_start(&f->mock, config_path, NULL), 0);
    char url[512];
    snprintf(url, sizeof url, "%s/inbound-event/v1/events/json/triggers?urlTokenId=%s",
             f->mock.base_url, WF_TOKEN);
    return sf_write_destination(f, "dest.json", url, false);
}

json_t *sf_mock_get(const sf_fixture *f, const char *path, long expect)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", f->mock.base_url, path);
    qxt_response r;
    assert_int_equal(qxt_http("GET", url, NULL, 0, NULL, NULL, &r), 0);
    if (r.status != expect)
        fprintf(stderr, "GET %s: %ld %s\n", path, r.status, r.body);
    assert_int_equal(r.status, expect);
    json_t *j = qxt_response_json(&r);
    qxt_response_free(&r);
    assert_non_null(j);
    return j;
}

char *sf_seed_profiles(const sf_fixture *f, int copies)
{
    char *line = qxt_read_file(SEED_PROFILE);
    assert_non_null(line);
    size_t n = strlen(line);
    char *text = malloc(n * (size_t)copies + 1);
    assert_non_null(text);
    for (int i = 0; i < copies; i++)
        memcpy(text + n * (size_t)i, line, n);
    text[n * (size_t)copies] = '\0';
    sf_put_file(f, "profiles.ndjson", text);
    free(line);
    free(text);
    return sf_path(f, "profiles.ndjson");
}

char *sf_demo_line(int n)
{
    char *text = qxt_read_file(DEMO_PROFILES);
    assert_non_null(text);
    char *line = text;
    for (int i = 1; i < n; i++)
        line = strchr(line, '\n') + 1;
    size_t len = strcspn(line, "\n");
    char *out = strndup(line, len + 1);
    out[len] = '\n';
    free(text);
    return out;
}

int sf_run_send(const char *const *argv, const char *const *env, int timeout_ms, char **err_out)
{
    char *err = NULL;
    int rc = qxt_run(argv, NULL, env, NULL, &err, timeout_ms);
    if (err != NULL && err[0] != '\0') /* a hostile input may be a megabyte long */
        fprintf(stderr, "[qx-send stderr]\n%.4000s\n", err);
    if (err_out != NULL)
        *err_out = err;
    else
        free(err);
    return rc;
}

pid_t sf_spawn_piped(const char *const *argv, const char *token, int *in_fd, int *out_fd)
{
    int in[2], out[2] = {-1, -1};
    assert_int_equal(pipe(in), 0);
    if (out_fd != NULL)
        assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(in[0], STDIN_FILENO);
        close(in[0]);
        close(in[1]);
        if (out_fd != NULL) {
            dup2(out[1], STDOUT_FILENO);
            close(out[0]);
            close(out[1]);
        }
        if (token != NULL)
            setenv("QX_API_TOKEN", token, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    *in_fd = in[1];
    if (out_fd != NULL) {
        close(out[1]);
        *out_fd = out[0];
    }
    return pid;
}

void sf_write_all(int fd, const char *s)
{
    size_t n = strlen(s), off = 0;
    while (off < n) {
        ssize_t w = write(fd, s + off, n - off);
        assert_true(w > 0);
        off += (size_t)w;
    }
}

json_t *sf_load_json(const char *path)
{
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (j == NULL)
        fprintf(stderr, "%s: %s\n", path, jerr.text);
    assert_non_null(j);
    return j;
}

json_t *sf_load_report(const sf_fixture *f)
{
    return sf_load_json(sf_path(f, "report.json"));
}

json_t *sf_parse_ndjson(char *text)
{
    json_t *arr = json_array();
    for (char *line = text, *next; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (*line == '\0')
            continue;
        json_t *v = json_loads(line, 0, NULL);
        assert_non_null(v);
        json_array_append_new(arr, v);
    }
    return arr;
}

json_t *sf_load_ndjson(const char *path)
{
    char *text = qxt_read_file(path);
    json_t *arr = sf_parse_ndjson(text);
    free(text);
    return arr;
}

json_int_t sf_int(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        fail_msg("no integer \"%s\"", key);
    return json_integer_value(v);
}

json_int_t sf_failed_for(const json_t *rep, const char *reason)
{
    return json_integer_value(json_object_get(json_object_get(rep, "failedReasons"), reason));
}

json_t *sf_mock_runs(const sf_fixture *f)
{
    char url[512];
    snprintf(url, sizeof url, "%s/_qx/v1/export", f->mock.base_url);
    qxt_response r;
    assert_int_equal(qxt_http("GET", url, NULL, 0, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *runs = sf_parse_ndjson(r.body);
    qxt_response_free(&r);
    return runs;
}
