/*
 * commit.c — group commit of accepted runs.
 *
 * An accepted JSON event is answered 200 only once its run is committed to
 * the store (a 200 is a promise that the run exists, even after kill -9).
 * Committing each run in its own transaction would make SQLite's commit the
 * cost of every request, so the HTTP front suspends the connection, hands
 * the run to this committer thread, and the thread commits whatever has
 * queued up in one transaction and resumes every connection of the batch.
 * Under load a batch holds many runs; alone, a request waits for one commit.
 */
#include <stdlib.h>

#include "commit.h"
#include "qx_log.h"
#include "server.h"

/* Runs per transaction at most: bounds the time one batch holds the store. */
#define QXM_MAX_BATCH 1024

static void *committer_main(void *arg)
{
    qxm_mock *m = arg;
    qxm_run_insert *ins = malloc(QXM_MAX_BATCH * sizeof *ins);
    qxm_commit *batch[QXM_MAX_BATCH];
    pthread_mutex_lock(&m->commit_lock);
    for (;;) {
        while (m->commit_head == NULL && !m->commit_stopping)
            pthread_cond_wait(&m->commit_cond, &m->commit_lock);
        if (m->commit_head == NULL && m->commit_stopping)
            break;
        size_t n = 0;
        while (m->commit_head != NULL && n < QXM_MAX_BATCH) {
            qxm_commit *c = m->commit_head;
            m->commit_head = c->next;
            batch[n++] = c;
        }
        if (m->commit_head == NULL)
            m->commit_tail = NULL;
        pthread_mutex_unlock(&m->commit_lock);

        qx_error err;
        for (size_t i = 0; i < n && ins != NULL; i++)
            ins[i] = batch[i]->ins;
        if (ins != NULL && qxm_store_insert_runs(m->store, ins, n, &err) == 0) {
            for (size_t i = 0; i < n; i++)
                batch[i]->rc = 0;
        } else {
            /* One bad run must not fail its neighbours: retry one by one. */
            for (size_t i = 0; i < n; i++) {
                batch[i]->rc = qxm_store_insert_runs(m->store, &batch[i]->ins, 1, &err);
                if (batch[i]->rc != 0)
                    qx_log(QX_LOG_ERROR, "storing a run: %s", err.text);
            }
        }
        for (size_t i = 0; i < n; i++) {
            if (batch[i]->rc == 0 && batch[i]->ins.due_ms > batch[i]->ins.received_ms)
                qxm_mock_note_due(m, batch[i]->ins.due_ms);
            batch[i]->done = true;
            qxm_server_resume(batch[i]->conn);
        }
        qxm_mock_kick(m);
        pthread_mutex_lock(&m->commit_lock);
    }
    pthread_mutex_unlock(&m->commit_lock);
    free(ins);
    return NULL;
}

int qxm_committer_start(qxm_mock *m)
{
    pthread_mutex_lock(&m->commit_lock);
    m->commit_stopping = false;
    pthread_mutex_unlock(&m->commit_lock);
    if (pthread_create(&m->committer, NULL, committer_main, m) != 0)
        return -1;
    m->committer_running = true;
    return 0;
}

void qxm_committer_stop(qxm_mock *m)
{
    if (!m->committer_running)
        return;
    pthread_mutex_lock(&m->commit_lock);
    m->commit_stopping = true;
    pthread_cond_signal(&m->commit_cond);
    pthread_mutex_unlock(&m->commit_lock);
    pthread_join(m->committer, NULL); /* the queue is drained first */
    m->committer_running = false;
}

void qxm_commit_submit(qxm_mock *m, qxm_commit *c)
{
    pthread_mutex_lock(&m->commit_lock);
    if (m->committer_running && !m->commit_stopping) {
        c->next = NULL;
        if (m->commit_tail != NULL)
            m->commit_tail->next = c;
        else
            m->commit_head = c;
        m->commit_tail = c;
        pthread_cond_signal(&m->commit_cond);
        pthread_mutex_unlock(&m->commit_lock);
        return;
    }
    pthread_mutex_unlock(&m->commit_lock);
    /* Stopping: commit here and now. */
    qx_error err;
    c->rc = qxm_store_insert_runs(m->store, &c->ins, 1, &err);
    if (c->rc != 0)
        qx_log(QX_LOG_ERROR, "storing a run: %s", err.text);
    else if (c->ins.due_ms > c->ins.received_ms)
        qxm_mock_note_due(m, c->ins.due_ms);
    c->done = true;
    qxm_server_resume(c->conn);
    qxm_mock_kick(m);
}

void qxm_commit_free(qxm_commit *c)
{
    if (c == NULL)
        return;
    json_decref(c->ins.doc);
    free(c->ins.text);
    free(c);
}
