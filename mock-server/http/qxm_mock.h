/*
 * qxm_mock.h — one running emulator: the JSON-event endpoint, the workflows
 * behind it, the run history and the admin API, on a loopback HTTP port.
 *
 * qx-mock's main.c and the scenario runner (`qx-mock suite`) both drive an
 * emulator through this interface; everything it serves is described in
 * README.md ("qx-mock").
 */
#ifndef QXM_MOCK_H
#define QXM_MOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "qx_error.h"
#include "qxm_config.h"

typedef struct qxm_mock qxm_mock;

/* libmicrohttpd's own default is FD_SETSIZE - 4; a test harness needs far
 * fewer, and a bound keeps a flood of idle sockets from exhausting files. */
#define QXM_DEFAULT_MAX_CONNECTIONS 512
/* A client that sends nothing for this long is dropped. */
#define QXM_DEFAULT_CONNECTION_TIMEOUT_S 10
/* --allow-host: how many names, and how long each (a DNS name is at most 253). */
#define QXM_MAX_ALLOW_HOSTS 16
#define QXM_ALLOW_HOST_MAX 256
/* A request's headers (and body, but an import's) must be in this long
 * after the connection starts or the previous answer is sent, however
 * steadily they trickle (slowloris). */
#define QXM_DEFAULT_REQUEST_TIMEOUT_S 30
/* An import's body must be in this long after its headers. */
#define QXM_DEFAULT_IMPORT_TIMEOUT_S 600

typedef struct qxm_options {
    const char *listen;  /* "HOST:PORT", "[v6]:PORT"; NULL: 127.0.0.1:8080 */
    const char *db_path; /* SQLite file; NULL: private temporary store */
    bool seeded;         /* draw ids/delays/faults from seed */
    uint64_t seed;
    unsigned max_connections;      /* 0: QXM_DEFAULT_MAX_CONNECTIONS */
    unsigned threads;              /* HTTP worker threads; 0: number of CPUs */
    unsigned connection_timeout_s; /* 0: QXM_DEFAULT_CONNECTION_TIMEOUT_S */
    unsigned request_timeout_s;    /* 0: QXM_DEFAULT_REQUEST_TIMEOUT_S */
    unsigned import_timeout_s;     /* 0: QXM_DEFAULT_IMPORT_TIMEOUT_S */
    unsigned max_waiters;          /* long-polls at once; 0: max_connections / 4, at least 1 */
    const char *admin_token;       /* secret; when set the admin API and page need it
                                      (not the health check) */
    const char *metrics_token;     /* secret; when set /metrics needs it, else it is open */
    const char *tls_cert_pem;      /* PEM text; with tls_key_pem: serve HTTPS */
    const char *tls_key_pem;
    /* Host header names the admin API and the page accept besides loopback
     * addresses and localhost, when listening on loopback (--allow-host):
     * held by value, so the emulator keeps its own copy. */
    char allow_hosts[QXM_MAX_ALLOW_HOSTS][QXM_ALLOW_HOST_MAX];
    unsigned n_allow_hosts;
} qxm_options;

/* Creates an emulator for cfg (ownership of cfg passes to the emulator, also
 * on failure) and opens its store. Nothing listens yet. Returns a new
 * emulator (owned), or NULL with err set. */
QX_MUST_CHECK qxm_mock *qxm_mock_new(qxm_config *cfg, const qxm_options *opt, qx_error *err);

/* Checks a listen address ("HOST:PORT", "[v6]:PORT", port 0 to 65535) as
 * qxm_mock_new will read it, without resolving HOST: for the command line,
 * to refuse a bad --listen as bad usage. Returns 0, or -1 with err set. */
QX_MUST_CHECK int qxm_mock_check_listen(const char *listen, qx_error *err);

/* Starts listening and the background threads. Returns 0, or -1 with err
 * set to the system's reason (e.g. "cannot listen on 127.0.0.1:8080:
 * Address already in use"). */
QX_MUST_CHECK int qxm_mock_start(qxm_mock *m, qx_error *err);

/* True when the listen address is a loopback address (127.0.0.0/8, ::1,
 * localhost). Valid after qxm_mock_new. */
bool qxm_mock_is_loopback(const qxm_mock *m);

/* The base URL it listens on ("http://127.0.0.1:PORT"), valid after start.
 * Borrowed. */
const char *qxm_mock_url(const qxm_mock *m);

/* The port it listens on, after start. */
int qxm_mock_port(const qxm_mock *m);

/* Loads an exported history (NDJSON of runs) into the store. Returns the
 * number of runs imported, or -1 with err naming the line. */
QX_MUST_CHECK int64_t qxm_mock_import_file(qxm_mock *m, const char *path, qx_error *err);

/* Waits until at least count runs are finished and at least requests
 * journal entries are recorded, or timeout_ms passes. Returns 0 when the
 * condition holds, 1 on time-out, -1 with err set on a store error. */
QX_MUST_CHECK int qxm_mock_wait(qxm_mock *m, int64_t count, int64_t requests, int64_t timeout_ms,
                                qx_error *err);

/* Waits until no run is RUNNING (every accepted run has finished), or
 * timeout_ms passes. Returns 0, 1 on time-out, -1 with err set. */
QX_MUST_CHECK int qxm_mock_wait_idle(qxm_mock *m, int64_t timeout_ms, qx_error *err);

/* The whole history as NDJSON, one run per line (what GET /_qx/v1/export
 * serves), written to f. Returns the number of runs, or -1 with err set. */
QX_MUST_CHECK int64_t qxm_mock_export(qxm_mock *m, FILE *f, qx_error *err);

/* The store, for in-process callers such as the scenario runner. Borrowed. */
struct qxm_store *qxm_mock_store(qxm_mock *m);

/* Its capture event (qxm_capture.h), for `qx-mock capture`. Borrowed. */
struct qxm_capture *qxm_mock_capture(qxm_mock *m);

/* Sets a tap on its JSON events (qxm_engine.h, qxm_event_tap; NULL: none),
 * for `qx-mock conform`. Before qxm_mock_start only. */
struct qxm_event_tap;
void qxm_mock_set_tap(qxm_mock *m, const struct qxm_event_tap *tap);

/* Stops accepting requests, answers pending long-polls, finishes in-flight
 * runs and flushes the store. Safe to call twice. */
void qxm_mock_stop(qxm_mock *m);

/* Stops if needed and frees; NULL is a no-op. */
void qxm_mock_free(qxm_mock *m);

#endif
