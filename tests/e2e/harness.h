/*
 * harness.h — end-to-end test helpers: start the real binaries on loopback.
 *
 * qxt_mock_start() runs build/bin/qx-mock with a config on 127.0.0.1:0, reads
 * its "qx-mock listening on http://HOST:PORT" line and returns the base URL;
 * qxt_http() is a small libcurl client with a timeout on every call.
 */
#ifndef QX_TEST_HARNESS_H
#define QX_TEST_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct qxt_mock {
    pid_t pid;
    char base_url[256]; /* "http://127.0.0.1:PORT" */
    int port;
} qxt_mock;

/* Starts qx-mock with --config config_path --listen 127.0.0.1:0 and the extra
 * arguments (NULL-terminated array, may be NULL). Returns 0 once it printed
 * its listening line (within 60 s; a qx-mock that fails to start is seen at once), -1 otherwise. */
int qxt_mock_start(qxt_mock *m, const char *config_path, const char *const *extra_args);

/* Sends sig (SIGTERM for a graceful stop, SIGKILL for a crash) and waits.
 * Returns the exit status as waitpid reports it. */
int qxt_mock_stop(qxt_mock *m, int sig);

/* Waits up to timeout_ms for child pid to end, woken by its end (a pidfd),
 * not by a timer. True with *status as waitpid reports it; false when it is
 * still running (it is left so). */
bool qxt_wait_pid(pid_t pid, int timeout_ms, int *status);

/* Waits up to timeout_ms for child pid to end. Returns its exit code, or -1
 * when it was killed by a signal or (after SIGKILL) did not end in time. */
int qxt_wait_exit(pid_t pid, int timeout_ms);

/* The kernel's view of the TCP sockets on a local port (/proc/net/tcp and
 * tcp6), for tests that must know what a server has accepted and read
 * without asking it over HTTP. */
typedef struct qxt_tcp_view {
    int listening;   /* listening sockets on the port */
    int backlog;     /* connections in their accept queue: not yet accepted */
    int established; /* server-side connections, accepted or queued */
    int unread;      /* of those, how many hold bytes the server has not read */
} qxt_tcp_view;

/* Fills out for port; -1 when nothing listens on it. */
int qxt_tcp_sockets(int port, qxt_tcp_view *out);

/* Waits until cond(view, arg) holds for port's sockets, re-reading the view
 * every 2 ms, at most timeout_ms; the last view read is left in *last. */
bool qxt_wait_tcp(int port, bool (*cond)(const qxt_tcp_view *, const void *), const void *arg,
                  int timeout_ms, qxt_tcp_view *last);

typedef struct qxt_response {
    long status;
    char *body; /* malloc'd, NUL-terminated */
    size_t body_len;
    char *headers; /* malloc'd raw response headers */
} qxt_response;

/* Performs one HTTP request. method "GET"/"POST"/...; body may be NULL;
 * headers a NULL-terminated list of "Name: value" lines, may be NULL;
 * userpwd "user:password" for Basic auth or NULL. Returns 0 (any status) or
 * -1 on a transport error. Free with qxt_response_free. */
int qxt_http(const char *method, const char *url, const char *body, size_t body_len,
             const char *const *headers, const char *userpwd, qxt_response *out);

void qxt_response_free(qxt_response *r);

/* Parses r->body as JSON; new reference or NULL. */
json_t *qxt_response_json(const qxt_response *r);

/* The value of header name (case-insensitive) in r->headers, copied into out;
 * returns false when absent. */
bool qxt_response_header(const qxt_response *r, const char *name, char *out, size_t size);

/* Makes a fresh temporary directory under $TMPDIR (or /tmp); returns a
 * malloc'd path. */
char *qxt_tempdir(void);

/* Removes dir and everything in it (test scratch space); reports failure on
 * stderr. */
void qxt_remove_dir(const char *dir);

/* Writes text to dir/name; returns the malloc'd full path. */
char *qxt_write_file(const char *dir, const char *name, const char *text);

/* Reads a whole file; malloc'd NUL-terminated text, NULL if unreadable. */
char *qxt_read_file(const char *path);

/* Runs argv (argv[0] a path) with optional stdin text and extra environment
 * entries ("K=V", NULL-terminated, may be NULL); captures stdout and stderr
 * (malloc'd, may be NULL if not wanted). Returns the exit code, or -1.
 * Kills the child after timeout_ms. */
int qxt_run(const char *const *argv, const char *stdin_text, const char *const *env, char **out,
            char **err, int timeout_ms);

/* ---- one qx-mock per test: cmocka setups and teardowns ---------------- */

/* A qx-mock started on a config in a fresh temporary directory. */
typedef struct qxt_fixture {
    char *dir;    /* malloc'd temporary directory, removed at teardown */
    char *config; /* malloc'd dir/config.json; NULL until launched */
    qxt_mock mock;
} qxt_fixture;

/* A cmocka setup: a new fixture with its directory and no qx-mock yet (a
 * test launches it with qxt_fixture_launch). *state is the fixture; 0, or
 * -1 when it could not be allocated. */
int qxt_fixture_setup(void **state);

/* Writes config_text to f->dir/config.json and starts qx-mock on it with the
 * extra arguments (NULL-terminated, may be NULL). The result of
 * qxt_mock_start: 0 once it listens, -1 otherwise. */
int qxt_fixture_launch(qxt_fixture *f, const char *config_text, const char *const *extra);

/* A cmocka setup in one call: qxt_fixture_setup, then qxt_fixture_launch.
 * *state is the fixture even when the start fails; 0 or -1. */
int qxt_fixture_start(void **state, const char *config_text, const char *const *extra);

/* Stops f's qx-mock, when it runs, with SIGTERM and asserts (cmocka) that it
 * exited cleanly with 0. */
void qxt_fixture_stop(qxt_fixture *f);

/* The cmocka teardown: qxt_fixture_stop, then removes the directory and
 * frees the fixture. Returns 0. */
int qxt_fixture_teardown(void **state);

/* f's base URL followed by path, in one of eight rotating static buffers
 * (valid until the eighth call after). */
const char *qxt_url(const qxt_fixture *f, const char *path);

/* ---- raw sockets: hostile or unfinished HTTP --------------------------- */

/* A TCP connection to 127.0.0.1:port; its descriptor, -1 on failure. */
int qxt_raw_connect(int port);

/* Sends all len bytes of text on fd (MSG_NOSIGNAL); false when the
 * connection failed first. */
bool qxt_raw_send(int fd, const char *text, size_t len);

/* The status code of the status line text starts with ("HTTP/1.x NNN");
 * 0 when it starts with none. */
int qxt_status_code(const char *text);

#endif
