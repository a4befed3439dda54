/*
 * mock.c — one emulator on a port: an engine (mock-server/engine/) behind
 * the HTTP front (server.c), started and stopped in the right order (see
 * qxm_mock.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"
#include "qx_clock.h"
#include "qx_log.h"
#include "qx_ndjson.h"

/* At stop, how long requests in flight have to be answered. */
#define STOP_DRAIN_MS 2000

/* Copies the secrets and PEM texts of opt into m. Returns 0, or -1. */
static int copy_secrets(qxm_mock *m, const qxm_options *opt, qx_error *err)
{
    if ((opt->admin_token != NULL && (m->admin_token = strdup(opt->admin_token)) == NULL) ||
        (opt->metrics_token != NULL && (m->metrics_token = strdup(opt->metrics_token)) == NULL) ||
        (opt->tls_cert_pem != NULL && (m->tls_cert = strdup(opt->tls_cert_pem)) == NULL) ||
        (opt->tls_key_pem != NULL && (m->tls_key = strdup(opt->tls_key_pem)) == NULL)) {
        qx_error_set(err, "out of memory");
        return -1;
    }
    if ((m->tls_cert == NULL) != (m->tls_key == NULL)) {
        qx_error_set(err, "TLS needs both a certificate and a key");
        return -1;
    }
    return 0;
}

qxm_mock *qxm_mock_new(qxm_config *cfg, const qxm_options *opt, qx_error *err)
{
    qxm_mock *m = calloc(1, sizeof *m);
    if (m == NULL) {
        qxm_config_free(cfg);
        qx_error_set(err, "out of memory");
        return NULL;
    }
    m->opt = *opt;
    pthread_mutex_init(&m->inflight_lock, NULL);
    pthread_cond_init(&m->inflight_done, NULL);
    atomic_init(&m->waiters, 0);
    /* Not kept: the caller's strings (copies of the secrets are). */
    m->opt.listen = m->opt.db_path = NULL;
    m->opt.admin_token = m->opt.metrics_token = m->opt.tls_cert_pem = m->opt.tls_key_pem = NULL;
    if (copy_secrets(m, opt, err) != 0 ||
        qxm_server_parse_listen(opt->listen != NULL ? opt->listen : "127.0.0.1:8080",
                                m->listen_host, sizeof m->listen_host, &m->listen_port, err) != 0) {
        qxm_config_free(cfg);
        goto fail;
    }
    qxm_engine_options eo = {.db_path = opt->db_path, .seeded = opt->seeded, .seed = opt->seed};
    if ((m->engine = qxm_engine_new(cfg, &eo, err)) == NULL)
        goto fail;
    if ((m->metrics = qxm_metrics_new()) == NULL || (m->alerts = qxm_alert_log_new()) == NULL) {
        qx_error_set(err, "out of memory");
        goto fail;
    }
    return m;
fail:
    qxm_mock_free(m);
    return NULL;
}

int qxm_mock_check_listen(const char *listen, qx_error *err)
{
    char host[256];
    int port;
    return qxm_server_parse_listen(listen, host, sizeof host, &port, err);
}

bool qxm_mock_is_loopback(const qxm_mock *m)
{
    const char *h = m->listen_host;
    return strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 || strcmp(h, "localhost") == 0;
}

int qxm_mock_start(qxm_mock *m, qx_error *err)
{
    if (qxm_engine_start(m->engine, qxm_server_resume, err) != 0)
        return -1;
    m->started = true;
    if (qxm_server_start(m, err) != 0) {
        qxm_mock_stop(m);
        return -1;
    }
    qx_log(QX_LOG_INFO, "listening on %s with %zu workflow(s)", m->url,
           qxm_engine_config(m->engine)->n_workflows);
    return 0;
}

const char *qxm_mock_url(const qxm_mock *m)
{
    return m->url;
}

int qxm_mock_port(const qxm_mock *m)
{
    return m->listen_port;
}

int64_t qxm_mock_import_file(qxm_mock *m, const char *path, qx_error *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        qx_error_set(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    int64_t n = qxm_engine_import(m->engine, f, NULL, err);
    fclose(f);
    if (n < 0)
        qx_error_prefix(err, "%s", path);
    return n;
}

int qxm_mock_wait(qxm_mock *m, int64_t count, int64_t requests, int64_t timeout_ms, qx_error *err)
{
    return qxm_engine_wait(m->engine, count, requests, timeout_ms, err);
}

int qxm_mock_wait_idle(qxm_mock *m, int64_t timeout_ms, qx_error *err)
{
    return qxm_engine_wait_idle(m->engine, timeout_ms, err);
}

int64_t qxm_mock_export(qxm_mock *m, FILE *f, qx_error *err)
{
    qxm_store *store = qxm_engine_store(m->engine);
    int64_t cursor = 0, n = 0;
    do {
        qxm_run_filter flt = {.cursor = cursor, .limit = 500};
        int64_t next = 0;
        json_t *runs = qxm_store_list_runs(store, &flt, &next, err);
        if (runs == NULL)
            return -1;
        size_t i;
        json_t *run;
        json_array_foreach(runs, i, run)
        {
            if (qx_ndjson_write(f, run) != 0) {
                json_decref(runs);
                qx_error_set(err, "cannot write the export");
                return -1;
            }
            n++;
        }
        json_decref(runs);
        cursor = next;
    } while (cursor != 0);
    return n;
}

struct qxm_store *qxm_mock_store(qxm_mock *m)
{
    return qxm_engine_store(m->engine);
}

struct qxm_capture *qxm_mock_capture(qxm_mock *m)
{
    return qxm_engine_capture(m->engine);
}

void qxm_mock_set_tap(qxm_mock *m, const qxm_event_tap *tap)
{
    qxm_engine_set_tap(m->engine, tap);
}

void qxm_mock_stop(qxm_mock *m)
{
    if (!m->started)
        return;
    m->started = false;
    /* No MHD_quiesce_daemon: in thread-pool epoll mode libmicrohttpd 0.9.75 can
     * abort removing the listen socket; MHD_stop_daemon below closes it.
     * Runs already accepted are committed and answered, and long-polls
     * answered, before the server stops. */
    qxm_engine_stop_intake(m->engine);
    /* Requests in flight (long-polls just resumed, runs just committed,
     * answers in their injected latency) are answered before the daemon
     * closes their connections; a request that takes longer is cut off. */
    if (m->daemon != NULL && !qxm_server_drain(m, STOP_DRAIN_MS))
        qx_log(QX_LOG_WARN, "stopping with requests still unanswered after %d ms", STOP_DRAIN_MS);
    qxm_server_stop(m);
    qxm_engine_finish_runs(m->engine);
}

void qxm_mock_free(qxm_mock *m)
{
    if (m == NULL)
        return;
    qxm_mock_stop(m);
    qxm_engine_free(m->engine);
    qxm_metrics_free(m->metrics);
    qxm_alert_log_free(m->alerts);
    if (m->admin_token != NULL) {
        explicit_bzero(m->admin_token, strlen(m->admin_token));
        free(m->admin_token);
    }
    if (m->metrics_token != NULL) {
        explicit_bzero(m->metrics_token, strlen(m->metrics_token));
        free(m->metrics_token);
    }
    free(m->tls_cert);
    if (m->tls_key != NULL) {
        explicit_bzero(m->tls_key, strlen(m->tls_key));
        free(m->tls_key);
    }
    pthread_mutex_destroy(&m->inflight_lock);
    pthread_cond_destroy(&m->inflight_done);
    free(m);
}
