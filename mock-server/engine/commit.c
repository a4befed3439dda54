/* commit.c — group commit of accepted runs (see commit.h). */
#include "commit.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "qx_log.h"

/* Runs per transaction at most: bounds the time one batch holds the store. */
#define QXM_MAX_BATCH 1024

/* A run that could not be stored is answered 500 (QX_STORE_ERROR) and
 * journalled, so that "why is there no run?" has an answer here too (unless
 * the store refuses the entry as well: then both are logged). The request's
 * path, headers and body are no longer at hand; its id, time and workflow
 * are the run document's. */
static void journal_failure(qxm_committer *c, const qxm_commit *r, const char *why)
{
    char reason[512];
    snprintf(reason, sizeof reason, "the run could not be recorded: %.400s", why);
    qxm_request_entry entry = {
        .id = json_string_value(json_object_get(r->ins.doc, "requestId")),
        .received_ms = r->ins.received_ms,
        .method = "POST",
        .http_status = 500,
        .reason = reason,
        .workflow_id = json_string_value(json_object_get(r->ins.doc, "workflowId")),
        .body_len = -1,
    };
    qx_error err;
    if (qxm_store_add_request(c->store, &entry, &err) != 0)
        qx_log(QX_LOG_ERROR, "request journal: %s", err.text);
}

/* Commits n runs in one transaction, else (one bad run must not fail its
 * neighbours) one by one; then tells the scheduler and resumes them all. */
static void commit_batch(qxm_committer *c, qxm_commit **batch, size_t n, qxm_run_insert *ins)
{
    qx_error err;
    for (size_t i = 0; i < n && ins != NULL; i++)
        ins[i] = batch[i]->ins;
    if (ins != NULL && qxm_store_insert_runs(c->store, ins, n, &err) == 0) {
        for (size_t i = 0; i < n; i++)
            batch[i]->rc = 0;
    } else {
        for (size_t i = 0; i < n; i++) {
            batch[i]->rc = qxm_store_insert_runs(c->store, &batch[i]->ins, 1, &err);
            if (batch[i]->rc != 0) {
                qx_log(QX_LOG_ERROR, "storing a run: %s", err.text);
                journal_failure(c, batch[i], err.text);
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (batch[i]->rc == 0 && batch[i]->ins.due_ms > batch[i]->ins.received_ms)
            qxm_scheduler_note_due(c->sched, batch[i]->ins.due_ms);
        batch[i]->done = true;
        c->resume(batch[i]->conn);
    }
    qxm_scheduler_stored(c->sched);
}

static void *committer_main(void *arg)
{
    qxm_committer *c = arg;
    prctl(PR_SET_NAME, "qxm-commit", 0, 0, 0); /* its name in top -H, perf, gdb */
    qxm_run_insert *ins = malloc(QXM_MAX_BATCH * sizeof *ins);
    qxm_commit *batch[QXM_MAX_BATCH];
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (c->head == NULL && !c->stopping)
            pthread_cond_wait(&c->cond, &c->lock);
        if (c->head == NULL && c->stopping)
            break;
        size_t n = 0;
        while (c->head != NULL && n < QXM_MAX_BATCH) {
            batch[n++] = c->head;
            c->head = c->head->next;
        }
        if (c->head == NULL)
            c->tail = NULL;
        pthread_mutex_unlock(&c->lock);
        commit_batch(c, batch, n, ins);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    free(ins);
    return NULL;
}

int qxm_committer_init(qxm_committer *c, qxm_store *store, qxm_scheduler *sched)
{
    *c = (qxm_committer){.store = store, .sched = sched};
    atomic_init(&c->accepting, false);
    if (pthread_mutex_init(&c->lock, NULL) != 0 || pthread_cond_init(&c->cond, NULL) != 0)
        return -1;
    return 0;
}

int qxm_committer_start(qxm_committer *c, qxm_resume_fn *resume)
{
    c->resume = resume;
    pthread_mutex_lock(&c->lock);
    c->stopping = false;
    pthread_mutex_unlock(&c->lock);
    if (pthread_create(&c->thread, NULL, committer_main, c) != 0)
        return -1;
    pthread_mutex_lock(&c->lock);
    c->running = true;
    atomic_store(&c->accepting, true);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void qxm_committer_stop(qxm_committer *c)
{
    pthread_mutex_lock(&c->lock);
    bool running = c->running;
    c->stopping = true;
    atomic_store(&c->accepting, false);
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    if (!running)
        return;
    pthread_join(c->thread, NULL); /* the queue is drained first */
    pthread_mutex_lock(&c->lock);
    c->running = false;
    pthread_mutex_unlock(&c->lock);
}

void qxm_committer_destroy(qxm_committer *c)
{
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
}

bool qxm_committer_accepting(qxm_committer *c)
{
    return atomic_load(&c->accepting);
}

void qxm_committer_submit(qxm_committer *c, qxm_commit *r)
{
    pthread_mutex_lock(&c->lock);
    if (c->running && !c->stopping) {
        r->next = NULL;
        if (c->tail != NULL)
            c->tail->next = r;
        else
            c->head = r;
        c->tail = r;
        pthread_cond_signal(&c->cond);
        pthread_mutex_unlock(&c->lock);
        return;
    }
    pthread_mutex_unlock(&c->lock);
    /* Not running, or stopping: commit here and now. */
    commit_batch(c, &r, 1, NULL);
}
