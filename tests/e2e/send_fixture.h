/*
 * send_fixture.h — what qx-send's end-to-end tests (test_send*.c) share: a
 * fixture with a scratch directory, an optional qx-mock and a destination
 * file; running qx-send; reading its report, dead letters and JSON files.
 *
 * sf_setup/sf_teardown are cmocka setup and teardown functions. A test file
 * that keeps servers of its own gives sf_setup_with the size of its own
 * state (f->own, zeroed, freed at teardown) and a release function that
 * teardown calls first, before it stops qx-mock and removes the directory.
 */
#ifndef QX_TEST_SEND_FIXTURE_H
#define QX_TEST_SEND_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"

#define QX_SEND QX_BIN_DIR "/qx-send"
#define TOKEN_OK "QX-TEST-TOKEN-1"
#define TOKEN_OK_B64 "YXBpLXVzZXJAZXhhbXBsZS5jb206UVgtVEVTVC1UT0tFTi0x" /* user:token */
#define USER "api-user@example.com"
#define WF_TOKEN "6c1b1e2a-2f7e-4d8e-9a51-0f1d2c3b4a50"
#define DEMO_PROFILES QX_SOURCE_DIR "/fixtures/profiles/demo.ndjson"
#define DEMO_MAPPING QX_SOURCE_DIR "/fixtures/mappings/demo.json"
#define SEED_PROFILE QX_SOURCE_DIR "/fixtures/seed/profile.ndjson"
#define SEED_MAPPING QX_SOURCE_DIR "/fixtures/seed/mapping.json"

/* The environment that gives qx-send the right token (passwordEnv). */
extern const char *const env_ok[];

typedef struct sf_fixture {
    char *dir;       /* fresh temporary directory, removed at teardown */
    qxt_mock mock;   /* qx-mock, when a test started it; stopped at teardown */
    char dest[1024]; /* the destination file last written */
    void *own;       /* the test file's own state (sf_setup_with) */
    void (*release)(struct sf_fixture *f);
} sf_fixture;

/* cmocka setup: a fixture with a fresh directory and nothing else. */
int sf_setup(void **state);

/* cmocka setup: also own_size zeroed bytes in f->own; release(f), when not
 * NULL, is called first at teardown. */
int sf_setup_with(void **state, size_t own_size, void (*release)(sf_fixture *f));

/* cmocka teardown: release, qx-mock stopped (SIGTERM), directory removed. */
int sf_teardown(void **state);

/* Monotonic milliseconds. */
int64_t sf_now_ms(void);

/* dir/name in one of 16 static buffers used in turn. */
char *sf_path(const sf_fixture *f, const char *name);

/* Writes n bytes (NULs allowed) or text to dir/name. */
void sf_put_bytes(const sf_fixture *f, const char *name, const void *data, size_t n);
void sf_put_file(const sf_fixture *f, const char *name, const char *text);

/* Writes the destination file dir/name for url, the token from passwordEnv
 * QX_API_TOKEN or, when token_file, from token.txt beside it (written too).
 * Returns its path, kept in f->dest until the next destination is written. */
char *sf_write_destination(sf_fixture *f, const char *name, const char *url, bool token_file);

/* A destination (dest.json) for a server on 127.0.0.1:port. */
char *sf_local_destination(sf_fixture *f, int port);

/* Starts qx-mock with config_path and writes dest.json for its workflow
 * WF_TOKEN; returns the destination's path. */
char *sf_mock_destination(sf_fixture *f, const char *config_path);

/* GET path of qx-mock, which must answer status expect with JSON. */
json_t *sf_mock_get(const sf_fixture *f, const char *path, long expect);

/* Every run the fixture's qx-mock holds, oldest first (its history export):
 * a new array. */
json_t *sf_mock_runs(const sf_fixture *f);

/* The seed profile, copies times, in profiles.ndjson; returns its path. */
char *sf_seed_profiles(const sf_fixture *f, int copies);

/* The n-th line (from 1) of the demo profiles, newline included (malloc'd). */
char *sf_demo_line(int n);

/* Runs qx-send (argv) with env and a time-out; its standard error is shown
 * and, when err_out is not NULL, handed over. Returns the exit code, or -1. */
int sf_run_send(const char *const *argv, const char *const *env, int timeout_ms, char **err_out);

/* Starts argv with QX_API_TOKEN=token when token is not NULL, its standard
 * input from a pipe (*in_fd, the write end) and, when out_fd is not NULL,
 * its standard output into one (*out_fd, the read end). */
pid_t sf_spawn_piped(const char *const *argv, const char *token, int *in_fd, int *out_fd);

/* Writes all of s to fd. */
void sf_write_all(int fd, const char *s);

/* A JSON file, which must parse. */
json_t *sf_load_json(const char *path);

/* dir/report.json, which must parse. */
json_t *sf_load_report(const sf_fixture *f);

/* The lines of NDJSON text (changed in place) as an array; each must parse. */
json_t *sf_parse_ndjson(char *text);

/* An NDJSON file as an array (empty when the file is absent). */
json_t *sf_load_ndjson(const char *path);

/* The integer member key of obj, which must be there. */
json_int_t sf_int(const json_t *obj, const char *key);

/* A report's failedReasons count for reason (0 when absent). */
json_int_t sf_failed_for(const json_t *rep, const char *reason);

#endif
