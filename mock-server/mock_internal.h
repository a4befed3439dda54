/*
 * mock_internal.h — the parts of one emulator that its modules share.
 *
 * Not installed, not for main.c: ingest.c (the JSON-event endpoint),
 * admin_api.c, metrics.c and server.c (the libmicrohttpd front) read the
 * emulator's state through this struct. The flow is one way: server.c turns
 * HTTP into a qxm_request, the handlers turn that into a qxm_answer using the
 * engine and the store, and server.c sends it.
 */
#ifndef QXM_MOCK_INTERNAL_H
#define QXM_MOCK_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "qx_rng.h"
#include "qxm_config.h"
#include "qxm_mock.h"
#include "qxm_ratelimit.h"
#include "qxm_store.h"
#include "qxm_workflow.h"

/* Qualtrics does not process JSON-event payloads over 100 KB
 * (counted as 102,400 bytes). */
#define QXM_MAX_BODY_BYTES 102400
/* Nesting deeper than this is refused with 400 before parsing. */
#define QXM_MAX_JSON_DEPTH 64
/* Largest history accepted by POST /_qx/v1/import. */
#define QXM_MAX_IMPORT_BYTES (512L * 1024 * 1024)

typedef struct qxm_metrics qxm_metrics;
typedef struct qxm_commit qxm_commit;

/* A request as the handlers see it, independent of libmicrohttpd. */
typedef struct qxm_request {
    const char *method;
    const char *path;                                  /* without the query */
    const char *(*query)(void *ctx, const char *name); /* value or NULL */
    void *query_ctx;
    const char *content_type; /* NULL when absent */
    bool has_authorization;   /* an Authorization header was sent */
    const char *basic_user;   /* decoded Basic credentials, NULL when none */
    const char *basic_password;
    const char *api_token_header;   /* X-API-TOKEN, NULL when absent */
    const char *authorization;      /* raw Authorization header (admin token check) */
    const char *admin_token_header; /* X-QX-ADMIN-TOKEN, NULL when absent */
    const char *body;
    size_t body_len;
    bool body_too_large; /* more than QXM_MAX_BODY_BYTES arrived */
    int64_t received_ms; /* wall clock */
} qxm_request;

/* What to send back. Exactly one of json / text is set (or neither). */
typedef struct qxm_answer {
    int status;
    json_t *json; /* owned */
    char *text;   /* owned, malloc'd */
    size_t text_len;
    const char *content_type; /* static; default application/json */
    unsigned retry_after_s;   /* > 0: send Retry-After */
    const char *allow;        /* static; for 405 */
    bool stream_export;       /* GET /export: server streams the history */
    bool wait;                /* GET /runs/wait not yet satisfied: suspend */
    unsigned delay_ms;        /* injected latency: answer this much later */
    qxm_commit *commit;       /* owned: a run to commit before answering */
    bool drop;                /* injected fault: close without answering */
} qxm_answer;

/* A long-poll waiting for runs (GET /_qx/v1/runs/wait). */
typedef struct qxm_waiter {
    qxm_run_filter filter;
    char workflow_id[256];
    char status[16];
    int64_t count;
    int64_t deadline_ms; /* monotonic */
    bool done;           /* condition met or timed out; answer ready */
    bool timed_out;
    void *conn; /* the suspended MHD connection */
    struct qxm_waiter *next;
} qxm_waiter;

struct qxm_mock {
    qxm_config *cfg;
    qxm_store *store;
    qxm_directory *directory;
    qx_rng *rng;
    qxm_ratelimit *ratelimit;
    qxm_metrics *metrics;
    qxm_options opt;
    char *admin_token; /* owned copy; NULL: admin API open */
    char *tls_cert;    /* owned copies of the PEM texts */
    char *tls_key;
    char listen_host[128];
    int listen_port;
    char url[192];
    int64_t started_mono_ms;

    /* Serialises "draw ids, run the workflow, insert" so that with a seed
     * the same request order gives the same history. */
    pthread_mutex_t ingest_lock;

    /* The scheduler thread finishes runs when due and answers waiters. */
    pthread_t scheduler;
    bool scheduler_running;
    pthread_mutex_t sched_lock;
    pthread_cond_t sched_cond;
    bool stopping;
    bool kick;                    /* something changed: re-check waiters */
    pthread_cond_t progress_cond; /* broadcast after each scheduler pass */
    uint64_t passes;
    qxm_waiter *waiters;
    /* No RUNNING run falls due before this (ms since epoch): the scheduler
     * skips the store until then. Lowered by whoever stores a delayed run;
     * INT64_MIN makes the next pass look. */
    _Atomic int64_t due_hint_ms;

    /* Group commit of accepted runs (commit.c). */
    pthread_t committer;
    atomic_bool committer_running;
    pthread_mutex_t commit_lock;
    pthread_cond_t commit_cond;
    bool commit_stopping;
    qxm_commit *commit_head, *commit_tail;

    /* Faults set at run time (PUT /_qx/v1/faults) override the config's. */
    pthread_mutex_t faults_lock;
    qxm_faults runtime_global;
    qxm_faults *runtime_faults;   /* one per workflow */
    qxm_ratelimit **fault_limits; /* per workflow, for faults.rateLimitPerMinute */

    struct MHD_Daemon *daemon;
    bool stopped;
};

/* The faults in force for workflow index i (run time over config, workflow
 * over global). Copies into *out. */
void qxm_mock_effective_faults(qxm_mock *m, size_t i, qxm_faults *out);

/* GET/PUT/DELETE /_qx/v1/faults. */
void qxm_admin_faults(qxm_mock *m, const qxm_request *req, qxm_answer *ans);

/* The JSON-event endpoint: POST /inbound-event/v1/events/json/triggers. */
void qxm_ingest_handle(qxm_mock *m, const qxm_request *req, qxm_answer *ans);

/* True when path is the JSON-event endpoint (either URL form). */
bool qxm_ingest_is_path(const char *path);

/* The admin API under /_qx/v1 and GET /metrics. */
void qxm_admin_handle(qxm_mock *m, const qxm_request *req, qxm_answer *ans);

/* Builds the waiter for GET /runs/wait from the query; 0, or -1 with ans
 * set to the 400 answer. */
int qxm_admin_wait_prepare(qxm_mock *m, const qxm_request *req, qxm_waiter *w, qxm_answer *ans);

/* Fills ans for a waiter that is done (200 with runs, or 408). */
void qxm_admin_wait_answer(qxm_mock *m, const qxm_waiter *w, qxm_answer *ans);

/* Renders one page of the export (NDJSON lines) after *cursor; sets *cursor
 * to 0 at the end. Returns malloc'd text (owned) and its length in *len;
 * NULL with *len 0 when nothing is left or on error. */
char *qxm_admin_export_chunk(qxm_mock *m, int64_t *cursor, size_t *len);

/* Compares secrets in time independent of where they differ. */
bool qxm_secret_equals(const char *given, const char *expected);

/* True when the admin token is not required or req carries it. */
bool qxm_admin_authorized(const qxm_mock *m, const qxm_request *req);

/* Qualtrics API envelope helpers. */
json_t *qxm_envelope_ok(json_t *result /* stolen */, const char *request_id, int status);
json_t *qxm_envelope_error(int status, const char *message, const char *code,
                           const char *request_id);
void qxm_answer_error(qxm_answer *ans, int status, const char *message, const char *code,
                      const char *request_id);
void qxm_answer_clear(qxm_answer *ans);

/* Asks the scheduler to re-check waiters (new runs were stored). */
void qxm_mock_kick(qxm_mock *m);

/* A run falls due at due_ms: the scheduler's next pass looks at the store
 * if that is before what it knew (INT64_MIN: look whatever the time). */
void qxm_mock_note_due(qxm_mock *m, int64_t due_ms);

/* Registers a suspended waiter (takes ownership). */
void qxm_mock_add_waiter(qxm_mock *m, qxm_waiter *w);

/* Metrics (metrics.c). */
qxm_metrics *qxm_metrics_new(void);
void qxm_metrics_free(qxm_metrics *mx);
void qxm_metrics_observe(qxm_metrics *mx, bool ingest, int status, int64_t duration_us);
char *qxm_metrics_render(qxm_metrics *mx, qxm_store *store, size_t *len);

/* The run-history page (page.c). Static text. */
const char *qxm_page_html(size_t *len);

#endif
