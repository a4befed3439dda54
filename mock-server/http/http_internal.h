/*
 * http_internal.h — what the files of the HTTP front share (not for
 * main.c or the suite runner: they use qxm_mock.h).
 *
 * The flow is one way: server.c turns an HTTP request into a qxm_request,
 * the route table (routes.c) picks its handler, body limit and
 * authentication, the handler turns the request into a qxm_answer using the
 * engine and the store, and server.c sends it. Handlers never see
 * libmicrohttpd; an answer that must wait (a run to commit, a long-poll)
 * says so, and server.c suspends the connection until the engine resumes
 * it.
 *
 * Ownership: a qxm_answer owns its json, text, waiter and commit until
 * server.c sends it or qxm_answer_clear frees them. Locks: struct qxm_mock
 * is written only by its owner's thread (new, start, stop, free), except
 * `inflight`, which inflight_lock guards, and `waiters`, which is atomic;
 * the handlers read the rest, and the metrics are atomic. The watchdog
 * (watchdog.h) has its own lock.
 */
#ifndef QXM_HTTP_INTERNAL_H
#define QXM_HTTP_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert_log.h"
#include "qxm_engine.h"
#include "qxm_mock.h"
#include "watchdog.h"

/* Bodies of admin requests other than import are small JSON. */
#define QXM_MAX_ADMIN_BODY_BYTES (1024 * 1024)
/* Largest history accepted by POST /_qx/v1/import. */
#define QXM_MAX_IMPORT_BYTES (512L * 1024 * 1024)

typedef struct qxm_metrics qxm_metrics;

struct qxm_mock {
    qxm_engine *engine;
    qxm_metrics *metrics;
    qxm_options opt;     /* the caller's strings are not kept (see below) */
    char *admin_token;   /* owned copy; NULL: admin API open */
    char *metrics_token; /* owned copy; NULL: /metrics open */
    char *tls_cert;      /* owned copies of the PEM texts */
    char *tls_key;
    char listen_host[128];
    int listen_port;
    char url[192];
    struct MHD_Daemon *daemon;
    bool started;
    /* Requests between their first callback and their completion (server.c);
     * stop waits for them to be answered before the daemon closes. */
    pthread_mutex_t inflight_lock;
    pthread_cond_t inflight_done;
    long inflight;
    /* Whole-request deadlines (server.c starts and stops it). */
    qxm_watchdog *watchdog;
    /* Long-polls suspended now, and the cap on them (--max-waiters). */
    atomic_uint waiters;
    unsigned max_waiters;
    /* Alerts posted to /_qx/v1/alerts (alert_log.h: its own lock). */
    qxm_alert_log *alerts;
};

/* A request as the handlers see it, independent of libmicrohttpd. */
typedef struct qxm_request {
    const char *method;
    const char *path;                                  /* without the query */
    const char *(*query)(void *ctx, const char *name); /* value or NULL */
    void *query_ctx;
    const char *content_type;       /* NULL when absent */
    const char *api_token_header;   /* X-API-TOKEN, NULL when absent; secret */
    size_t api_token_header_len;    /* its length (trailing whitespace dropped) */
    const char *authorization;      /* raw Authorization header, NULL when absent;
                                       the event handler decodes Basic itself */
    size_t authorization_len;       /* its length (trailing whitespace dropped) */
    const char *admin_token_header; /* X-QX-ADMIN-TOKEN, NULL when absent */
    size_t admin_token_header_len;  /* its length (trailing whitespace dropped) */
    const char *body;
    size_t body_len;
    bool body_too_large;     /* more arrived than the route's body limit */
    const char *host;        /* the Host header, NULL when absent */
    const char *origin;      /* the Origin header, NULL when absent */
    void *sink_ctx;          /* a streamed body's sink (qxm_route.sink), else NULL */
    int64_t received_ms;     /* wall clock */
    char client_address[64]; /* the peer's IP address as text; "" when unknown */
    /* JSON-event routes only (for the journal): the headers as sent, the
     * first QXM_EVENT_MAX_HEADERS of them, pointing into libmicrohttpd's
     * connection memory (valid during the request's callback). */
    qxm_header headers[QXM_EVENT_MAX_HEADERS];
    size_t n_headers;
    bool more_headers;
    /* The query arguments, decoded, the first QXM_EVENT_MAX_QUERY_ARGS of
     * them (a tap checks no token rides in the URL; the admin API refuses
     * names a route does not take), and whether there were more. */
    qxm_header query_args[QXM_EVENT_MAX_QUERY_ARGS];
    size_t n_query_args;
    bool more_query_args;
} qxm_request;

/* Gives a streamed body piece by piece from *cursor (0 at the start):
 * returns the next piece (owned, its length in *len) and advances *cursor,
 * which is -1 once the last piece was given; NULL with *cursor -1 at the
 * end, NULL with *cursor >= 0 on an error. */
typedef char *qxm_chunk_fn(qxm_mock *m, int64_t *cursor, size_t *len);

/* What to send back. At most one of json, text, chunk is set. */
typedef struct qxm_answer {
    int status;
    json_t *json; /* owned */
    char *text;   /* owned, malloc'd */
    size_t text_len;
    qxm_chunk_fn *chunk;      /* a streamed body (the export) */
    const char *content_type; /* static; default application/json */
    unsigned retry_after_s;   /* > 0: send Retry-After */
    char allow[48];           /* with 405: the methods allowed */
    const char *challenge;    /* static; with 401: the WWW-Authenticate value */
    unsigned delay_ms;        /* injected latency: answer this much later */
    bool drop;                /* injected fault: close without answering */
    bool close;               /* close the connection after the answer */
    qxm_waiter *waiter;       /* owned: a long-poll to suspend until done */
    qxm_commit *commit;       /* owned: a run to commit before answering */
} qxm_answer;

typedef void qxm_handler(qxm_mock *m, const qxm_request *req, qxm_answer *ans);

/* Who may call a route. */
typedef enum qxm_auth {
    QXM_AUTH_NONE,   /* anyone (the page, the health check) */
    QXM_AUTH_EVENT,  /* the handler authenticates per workflow; Basic decoded */
    QXM_AUTH_ADMIN,  /* the admin token, when qx-mock was started with one */
    QXM_AUTH_METRICS /* the metrics token, when qx-mock was started with one */
} qxm_auth;

/* A body taken piece by piece as it arrives instead of being kept (the
 * import): open is called once the request is admitted, before any of the
 * body (NULL with ans set refuses it: the body is then read and dropped,
 * and ans is the answer); feed with each piece (a failure is remembered by
 * the sink and told by the handler, which finds the sink in req->sink_ctx);
 * close once the request is over, answered or not. */
typedef struct qxm_body_sink {
    void *(*open)(qxm_mock *m, const qxm_request *req, qxm_answer *ans);
    void (*feed)(void *ctx, const char *data, size_t n);
    void (*close)(void *ctx);
} qxm_body_sink;

/* One line of the route table. */
typedef struct qxm_route {
    const char *method; /* "GET" (HEAD too), "POST", ...; NULL: any (the handler checks) */
    const char *path;   /* exact; one segment "{id}" (last, or before a fixed
                           rest: ".../{id}/capture") matches one segment */
    size_t body_limit;  /* bytes kept of the body; more sets body_too_large */
    qxm_auth auth;
    bool event;   /* counted as JSON-event traffic by the metrics */
    bool browser; /* guarded against other web pages: Host 421, Origin 403 (routes.c) */
    qxm_handler *handler;
    const char *refusal;       /* the 405 message for this path; NULL: "method not allowed" */
    const qxm_body_sink *sink; /* the body streamed to it rather than kept; NULL: kept */
} qxm_route;

/* routes.c: the route for method and path. Never NULL: a request no route
 * takes gets one whose handler answers 405 (with Allow) or 404. */
const qxm_route *qxm_route_find(const char *method, const char *path);

/* routes.c: whether req may reach r's handler: the browser guards (421,
 * 403) and the admin token (401); false with ans set to the refusal. */
bool qxm_route_admit(qxm_mock *m, const qxm_route *r, const qxm_request *req, qxm_answer *ans);

/* routes.c: runs the route's handler after qxm_route_admit. */
void qxm_route_dispatch(qxm_mock *m, const qxm_route *r, const qxm_request *req, qxm_answer *ans);

/* The WWW-Authenticate challenges of our 401s (RFC 9110 section 11.6.1).
 * Qualtrics does not document its own: the realms are our choice (README).
 * The admin API's is Bearer, never Basic: a browser would put its own
 * login dialog over the page's token prompt. */
#define QXM_EVENT_CHALLENGE "Basic realm=\"Qualtrics JSON event\""
#define QXM_ADMIN_CHALLENGE "Bearer realm=\"qx-mock admin API\""
#define QXM_METRICS_CHALLENGE "Bearer realm=\"qx-mock metrics\""

/* ingest.c: the JSON-event endpoint. */
void qxm_ingest_handle(qxm_mock *m, const qxm_request *req, qxm_answer *ans);

/* The times a parameter may name: 1970-01-01T00:00:00.000Z to
 * 9999-12-31T23:59:59.999Z (since=0 means "from the start"). */
#define QXM_PARAM_TIME_MIN_MS 0LL
#define QXM_PARAM_TIME_MAX_MS 253402300799999LL

/* admin.c: parameters of the admin API, strictly checked: each returns 1
 * when absent (out untouched), 0 when valid, -1 with ans set to a 400 that
 * names the parameter. */
int qxm_param_int(const qxm_request *req, const char *name, long long min, long long max,
                  long long *out, qxm_answer *ans);
int qxm_param_filter(qxm_mock *m, const qxm_request *req, qxm_run_filter *f, qxm_answer *ans);
/* A time: RFC 3339 or ms since the epoch, from 1970 to 9999. */
int qxm_param_time(const qxm_request *req, const char *name, int64_t *out, qxm_answer *ans);
void qxm_bad_request(qxm_answer *ans, const char *fmt, ...) QX_PRINTF(2, 3);

/* The admin API's handlers (admin.c, admin_runs.c, admin_stats.c,
 * admin_history.c, admin_faults.c, admin_capture.c) and the page (page.c). */
qxm_handler qxm_admin_health, qxm_admin_workflows, qxm_admin_metrics;
qxm_handler qxm_admin_list_runs, qxm_admin_get_run, qxm_admin_reset, qxm_admin_wait;
qxm_handler qxm_admin_requests, qxm_admin_get_request, qxm_admin_stats, qxm_admin_export;
qxm_handler qxm_admin_import;
qxm_handler qxm_admin_faults_get, qxm_admin_faults_put, qxm_admin_faults_delete;
qxm_handler qxm_admin_capture_get, qxm_admin_capture_arm, qxm_admin_capture_delete;
qxm_handler qxm_admin_alerts_post, qxm_admin_alerts_list, qxm_admin_alerts_delete;
qxm_handler qxm_page_handle, qxm_page_favicon;

/* admin_history.c: POST /_qx/v1/import's body, streamed into the engine. */
extern const qxm_body_sink qxm_import_sink;

/* admin_runs.c: the answer to a long-poll that is done (200 with the runs,
 * or 408). */
void qxm_admin_wait_answer(qxm_mock *m, const qxm_waiter *w, qxm_answer *ans);

/* envelope.c: the Qualtrics API envelope {"result", "meta"}. */
json_t *qxm_envelope_ok(json_t *result /* stolen */, const char *request_id, int status);
/* The answer to an event that started a run, as text (owned, its length in
 * *len): the same bytes as qxm_envelope_ok({runId, workflowId}, request_id,
 * status) written by qx_json_write plus a newline, without building and
 * freeing a document per request. NULL when memory runs out. */
char *qxm_envelope_run_text(int status, const char *run_id, const char *workflow_id,
                            const char *request_id, size_t *len);
json_t *qxm_envelope_error(int status, const char *message, const char *code,
                           const char *request_id);
void qxm_answer_error(qxm_answer *ans, int status, const char *message, const char *code,
                      const char *request_id);
void qxm_answer_clear(qxm_answer *ans);

/* metrics.c: counters behind GET /metrics. */
qxm_metrics *qxm_metrics_new(void);
void qxm_metrics_free(qxm_metrics *mx);
void qxm_metrics_observe(qxm_metrics *mx, bool event, int status, int64_t duration_us);
char *qxm_metrics_render(qxm_metrics *mx, qxm_store *store, size_t *len);

/* server.c: the libmicrohttpd front. */
QX_MUST_CHECK int qxm_server_parse_listen(const char *listen, char *host, size_t host_size,
                                          int *port, qx_error *err);
QX_MUST_CHECK int qxm_server_start(qxm_mock *m, qx_error *err);
void qxm_server_resume(void *conn);
/* Waits until no request is in flight, or timeout_ms; true when none is. */
bool qxm_server_drain(qxm_mock *m, int64_t timeout_ms);
void qxm_server_stop(qxm_mock *m);

#endif
