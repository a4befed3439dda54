/*
 * mock.c — one emulator's lifecycle and its scheduler thread.
 *
 * A run's outcome is decided when its request arrives (so a seeded emulator
 * gives the same history whatever the timing); its configured delay only
 * decides when it stops being RUNNING. The scheduler thread sleeps until the
 * next run is due or the next long-poll deadline, finishes due runs in the
 * store, and resumes every long-poll whose condition now holds or whose time
 * is up. Ingest kicks it after each stored run.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commit.h"
#include "mock_internal.h"
#include "qx_clock.h"
#include "qx_log.h"
#include "qx_ndjson.h"
#include "server.h"

/* Longest the scheduler sleeps without a reason: a safety net only. */
#define SCHED_IDLE_MS 1000
/* At shutdown, runs still in their delay are waited for at most this long
 * before they are finished early. */
#define SHUTDOWN_RUN_GRACE_MS 10000

qxm_mock *qxm_mock_new(qxm_config *cfg, const qxm_options *opt, qx_error *err)
{
    qxm_mock *m = calloc(1, sizeof *m);
    if (m == NULL) {
        qxm_config_free(cfg);
        qx_error_set(err, "out of memory");
        return NULL;
    }
    m->cfg = cfg;
    m->opt = *opt;
    m->opt.listen = NULL; /* not kept: the caller's strings */
    m->opt.db_path = NULL;
    pthread_mutex_init(&m->ingest_lock, NULL);
    pthread_mutex_init(&m->sched_lock, NULL);
    pthread_mutex_init(&m->faults_lock, NULL);
    pthread_mutex_init(&m->commit_lock, NULL);
    pthread_cond_init(&m->commit_cond, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->sched_cond, &ca);
    pthread_cond_init(&m->progress_cond, &ca);
    pthread_condattr_destroy(&ca);
    m->stopped = true; /* nothing to stop until started */
    m->opt.admin_token = m->opt.tls_cert_pem = m->opt.tls_key_pem = NULL;
    if ((opt->admin_token != NULL && (m->admin_token = strdup(opt->admin_token)) == NULL) ||
        (opt->tls_cert_pem != NULL && (m->tls_cert = strdup(opt->tls_cert_pem)) == NULL) ||
        (opt->tls_key_pem != NULL && (m->tls_key = strdup(opt->tls_key_pem)) == NULL)) {
        qx_error_set(err, "out of memory");
        goto fail;
    }
    if ((m->tls_cert == NULL) != (m->tls_key == NULL)) {
        qx_error_set(err, "TLS needs both a certificate and a key");
        goto fail;
    }

    if (qxm_server_parse_listen(opt->listen != NULL ? opt->listen : "127.0.0.1:8080",
                                m->listen_host, sizeof m->listen_host, &m->listen_port, err) != 0)
        goto fail;
    m->store = qxm_store_open(opt->db_path, err);
    if (m->store == NULL)
        goto fail;
    /* Runs left RUNNING by a previous process: the first pass looks. */
    atomic_init(&m->due_hint_ms, INT64_MIN);
    m->directory = qxm_directory_new();
    m->rng = opt->seeded ? qx_rng_new(opt->seed) : qx_rng_new_random();
    m->ratelimit = qxm_ratelimit_new(cfg->rate_limit_per_minute);
    m->metrics = qxm_metrics_new();
    m->runtime_faults = calloc(cfg->n_workflows + 1, sizeof *m->runtime_faults);
    m->fault_limits = calloc(cfg->n_workflows + 1, sizeof *m->fault_limits);
    for (size_t i = 0; m->fault_limits != NULL && i < cfg->n_workflows; i++)
        if ((m->fault_limits[i] = qxm_ratelimit_new(0)) == NULL)
            goto fail;
    if (m->directory == NULL || m->rng == NULL || m->ratelimit == NULL || m->metrics == NULL ||
        m->runtime_faults == NULL || m->fault_limits == NULL) {
        qx_error_set(err, "out of memory");
        goto fail;
    }
    return m;
fail:
    qxm_mock_free(m);
    return NULL;
}

void qxm_mock_effective_faults(qxm_mock *m, size_t i, qxm_faults *out)
{
    pthread_mutex_lock(&m->faults_lock);
    if (m->runtime_faults[i].set)
        *out = m->runtime_faults[i];
    else if (m->runtime_global.set)
        *out = m->runtime_global;
    else if (m->cfg->workflows[i].faults.set)
        *out = m->cfg->workflows[i].faults;
    else
        *out = m->cfg->faults;
    pthread_mutex_unlock(&m->faults_lock);
}

bool qxm_mock_is_loopback(const qxm_mock *m)
{
    const char *h = m->listen_host;
    return strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 || strcmp(h, "localhost") == 0;
}

/* Checks each waiter; resumes the ones that are done. Called with
 * sched_lock held. Returns the earliest remaining deadline (monotonic ms). */
static int64_t check_waiters(qxm_mock *m, bool force)
{
    int64_t now = qx_mono_ms();
    int64_t earliest = INT64_MAX;
    qxm_waiter **pp = &m->waiters;
    while (*pp != NULL) {
        qxm_waiter *w = *pp;
        bool done = force;
        if (!done) {
            qx_error err;
            int64_t n = qxm_store_count_runs(m->store, &w->filter, &err);
            done = n < 0 || n >= w->count || now >= w->deadline_ms;
        }
        if (done) {
            *pp = w->next;
            w->next = NULL;
            w->done = true;
            qxm_server_resume(w->conn);
            continue;
        }
        if (w->deadline_ms < earliest)
            earliest = w->deadline_ms;
        pp = &w->next;
    }
    return earliest;
}

static void *scheduler_main(void *arg)
{
    qxm_mock *m = arg;
    pthread_mutex_lock(&m->sched_lock);
    while (!m->stopping) {
        m->kick = false;
        pthread_mutex_unlock(&m->sched_lock);
        /* Most passes follow a commit of runs that finished at once: the
         * hint says so, and the store is not touched. A run stored after
         * the exchange lowers the hint again itself. */
        int64_t now = qx_now_ms();
        int64_t next_due = atomic_load(&m->due_hint_ms);
        if (next_due <= now) {
            atomic_store(&m->due_hint_ms, INT64_MAX);
            qx_error err;
            if (qxm_store_finish_due(m->store, now, &err) < 0)
                qx_log(QX_LOG_ERROR, "finishing runs: %s", err.text);
            next_due = qxm_store_next_due(m->store);
            qxm_mock_note_due(m, next_due);
        }
        pthread_mutex_lock(&m->sched_lock);
        int64_t deadline = check_waiters(m, false);
        m->passes++;
        pthread_cond_broadcast(&m->progress_cond);

        int64_t wait_ms = SCHED_IDLE_MS;
        if (next_due != INT64_MAX) {
            int64_t d = next_due - qx_now_ms();
            if (d < wait_ms)
                wait_ms = d;
        }
        if (deadline != INT64_MAX) {
            int64_t d = deadline - qx_mono_ms();
            if (d < wait_ms)
                wait_ms = d;
        }
        if (wait_ms <= 0 || m->kick || m->stopping)
            continue;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += wait_ms / 1000;
        ts.tv_nsec += (wait_ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        while (!m->kick && !m->stopping) {
            if (pthread_cond_timedwait(&m->sched_cond, &m->sched_lock, &ts) == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&m->sched_lock);
    return NULL;
}

void qxm_mock_note_due(qxm_mock *m, int64_t due_ms)
{
    int64_t seen = atomic_load(&m->due_hint_ms);
    while (due_ms < seen && !atomic_compare_exchange_weak(&m->due_hint_ms, &seen, due_ms))
        ;
}

void qxm_mock_kick(qxm_mock *m)
{
    pthread_mutex_lock(&m->sched_lock);
    m->kick = true;
    pthread_cond_signal(&m->sched_cond);
    pthread_mutex_unlock(&m->sched_lock);
}

void qxm_mock_add_waiter(qxm_mock *m, qxm_waiter *w)
{
    pthread_mutex_lock(&m->sched_lock);
    if (m->stopping) {
        w->done = true;
        qxm_server_resume(w->conn);
    } else {
        w->next = m->waiters;
        m->waiters = w;
        m->kick = true;
        pthread_cond_signal(&m->sched_cond);
    }
    pthread_mutex_unlock(&m->sched_lock);
}

int qxm_mock_start(qxm_mock *m, qx_error *err)
{
    m->stopping = false;
    if (pthread_create(&m->scheduler, NULL, scheduler_main, m) != 0) {
        qx_error_set(err, "cannot start the scheduler thread");
        return -1;
    }
    m->scheduler_running = true;
    m->stopped = false;
    if (qxm_committer_start(m) != 0) {
        qx_error_set(err, "cannot start the committer thread");
        qxm_mock_stop(m);
        return -1;
    }
    if (qxm_server_start(m, err) != 0) {
        qxm_mock_stop(m);
        return -1;
    }
    m->started_mono_ms = qx_mono_ms();
    qx_log(QX_LOG_INFO, "listening on %s with %zu workflow(s)", m->url, m->cfg->n_workflows);
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
    qx_ndjson_reader *r = qx_ndjson_open(f);
    int64_t n = 0;
    int rc;
    size_t line = 0;
    json_t *doc = NULL;
    while (r != NULL && (rc = qx_ndjson_next(r, &doc, &line, err)) == 1) {
        int ok = qxm_store_import_run(m->store, doc, err);
        json_decref(doc);
        if (ok != 0) {
            qx_error_prefix(err, "%s: line %zu", path, line);
            n = -1;
            break;
        }
        n++;
    }
    if (n >= 0 && rc < 0) {
        qx_error_prefix(err, "%s", path);
        n = -1;
    }
    qx_ndjson_close(r);
    fclose(f);
    qxm_mock_note_due(m, INT64_MIN); /* imported RUNNING runs are due now */
    return n;
}

struct qxm_store *qxm_mock_store(qxm_mock *m)
{
    return m->store;
}

static void deadline_in(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

int qxm_mock_wait(qxm_mock *m, int64_t count, int64_t requests, int64_t timeout_ms, qx_error *err)
{
    int64_t deadline = qx_mono_ms() + timeout_ms;
    qxm_run_filter finished = {.finished_only = true};
    qxm_mock_kick(m); /* a fresh pass finishes whatever is already due */
    for (;;) {
        int64_t n = qxm_store_count_runs(m->store, &finished, err);
        if (n < 0)
            return -1;
        int64_t r = 0;
        if (requests > 0) {
            int64_t next = 0;
            json_t *list = qxm_store_list_requests(m->store, 0, (size_t)requests, &next, err);
            if (list == NULL)
                return -1;
            r = (int64_t)json_array_size(list);
            json_decref(list);
        }
        if (n >= count && r >= requests)
            return 0;
        int64_t left = deadline - qx_mono_ms();
        if (left <= 0)
            return 1;
        /* Sleep until the scheduler's next pass (it runs after every stored
         * run and whenever a delayed run falls due). */
        struct timespec ts;
        deadline_in(&ts, left < 200 ? left : 200);
        pthread_mutex_lock(&m->sched_lock);
        uint64_t seen = m->passes;
        while (m->passes == seen && !m->stopping)
            if (pthread_cond_timedwait(&m->progress_cond, &m->sched_lock, &ts) != 0)
                break;
        pthread_mutex_unlock(&m->sched_lock);
    }
}

int qxm_mock_wait_idle(qxm_mock *m, int64_t timeout_ms, qx_error *err)
{
    int64_t deadline = qx_mono_ms() + timeout_ms;
    qxm_run_filter running = {.status = "RUNNING"};
    qxm_mock_kick(m);
    for (;;) {
        int64_t n = qxm_store_count_runs(m->store, &running, err);
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        int64_t left = deadline - qx_mono_ms();
        if (left <= 0)
            return 1;
        struct timespec ts;
        deadline_in(&ts, left < 200 ? left : 200);
        pthread_mutex_lock(&m->sched_lock);
        uint64_t seen = m->passes;
        while (m->passes == seen && !m->stopping)
            if (pthread_cond_timedwait(&m->progress_cond, &m->sched_lock, &ts) != 0)
                break;
        pthread_mutex_unlock(&m->sched_lock);
    }
}

int64_t qxm_mock_export(qxm_mock *m, FILE *f, qx_error *err)
{
    int64_t cursor = 0, n = 0;
    do {
        qxm_run_filter flt = {.cursor = cursor, .limit = 500};
        int64_t next = 0;
        json_t *runs = qxm_store_list_runs(m->store, &flt, &next, err);
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

void qxm_mock_stop(qxm_mock *m)
{
    if (m->stopped)
        return;
    m->stopped = true;
    /* No MHD_quiesce_daemon: in thread-pool epoll mode libmicrohttpd 0.9.75 can
     * abort removing the listen socket; MHD_stop_daemon below closes it. */
    /* Runs already accepted are committed and answered before anything
     * else stops. */
    qxm_committer_stop(m);
    pthread_mutex_lock(&m->sched_lock);
    m->stopping = true;
    check_waiters(m, true); /* long-polls answer with what there is */
    pthread_cond_signal(&m->sched_cond);
    pthread_mutex_unlock(&m->sched_lock);
    if (m->scheduler_running) {
        pthread_join(m->scheduler, NULL);
        m->scheduler_running = false;
    }
    /* Give resumed long-polls a moment to be answered before closing. */
    qx_sleep_ms(m->daemon != NULL ? 50 : 0);
    qxm_server_stop(m);

    /* Finish in-flight runs: wait out their delays (bounded), then finish
     * the rest at their due times. */
    int64_t give_up = qx_now_ms() + SHUTDOWN_RUN_GRACE_MS;
    qx_error err;
    for (;;) {
        int64_t due = qxm_store_next_due(m->store);
        int64_t now = qx_now_ms();
        if (due == INT64_MAX || now >= give_up)
            break;
        if (due > now)
            qx_sleep_ms((due < give_up ? due : give_up) - now);
        if (qxm_store_finish_due(m->store, qx_now_ms(), &err) < 0)
            break;
    }
    if (qxm_store_finish_due(m->store, INT64_MAX, &err) < 0)
        qx_log(QX_LOG_ERROR, "finishing runs at shutdown: %s", err.text);
}

void qxm_mock_free(qxm_mock *m)
{
    if (m == NULL)
        return;
    qxm_mock_stop(m);
    qxm_store_close(m->store);
    qxm_directory_free(m->directory);
    qx_rng_free(m->rng);
    qxm_ratelimit_free(m->ratelimit);
    qxm_metrics_free(m->metrics);
    for (size_t i = 0; m->fault_limits != NULL && m->cfg != NULL && i < m->cfg->n_workflows; i++)
        qxm_ratelimit_free(m->fault_limits[i]);
    free(m->fault_limits);
    free(m->runtime_faults);
    pthread_mutex_destroy(&m->faults_lock);
    pthread_mutex_destroy(&m->commit_lock);
    pthread_cond_destroy(&m->commit_cond);
    qxm_config_free(m->cfg);
    if (m->admin_token != NULL) {
        explicit_bzero(m->admin_token, strlen(m->admin_token));
        free(m->admin_token);
    }
    free(m->tls_cert);
    if (m->tls_key != NULL) {
        explicit_bzero(m->tls_key, strlen(m->tls_key));
        free(m->tls_key);
    }
    pthread_mutex_destroy(&m->ingest_lock);
    pthread_mutex_destroy(&m->sched_lock);
    pthread_cond_destroy(&m->sched_cond);
    pthread_cond_destroy(&m->progress_cond);
    free(m);
}
