/*
 * commit.h — the group committer of accepted runs (internal to engine/).
 *
 * An accepted JSON event is answered 200 only once its run is committed to
 * the store (a 200 is a promise that the run exists, even after kill -9).
 * Committing each run in its own transaction would make SQLite's commit the
 * cost of every request, so the HTTP front suspends the connection, hands
 * the run here, and the committer thread commits whatever has queued up in
 * one transaction and resumes every connection of the batch. Under load a
 * batch holds many runs; alone, a request waits for one commit.
 *
 * Owns: the queue of qxm_commit (each until its connection is resumed; the
 * HTTP front frees it after) and the thread. Locks: `lock` guards the queue,
 * `running` and `stopping`; `accepting` is atomic, so that a request asks
 * whether to queue its run without taking `lock` (a run queued as the
 * committer stops is still committed: submit checks again under `lock`). A failed commit is logged
 * and reported through qxm_commit_result; it never fails its batch neighbours.
 */
#ifndef QXM_COMMIT_H
#define QXM_COMMIT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "qxm_engine.h"
#include "qxm_store.h"
#include "scheduler.h"

/* One run waiting to be committed, and the connection waiting for it. */
struct qxm_commit {
    qxm_run_insert ins; /* ins.doc (when not NULL) and ins.text owned */
    void *conn;         /* suspended connection to resume when done */
    int rc;             /* 0 committed, -1 failed; valid once done */
    bool done;
    struct qxm_commit *next;
};

typedef struct qxm_committer {
    qxm_store *store;     /* borrowed */
    qxm_scheduler *sched; /* borrowed: told of delayed runs, kicked */
    qxm_resume_fn *resume;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;
    atomic_bool accepting; /* running and not stopping */
    qxm_commit *head, *tail;
} qxm_committer;

/* Initialises c (nothing runs yet). Returns 0, or -1. */
int qxm_committer_init(qxm_committer *c, qxm_store *store, qxm_scheduler *sched);

/* Starts the thread. Returns 0, or -1. */
int qxm_committer_start(qxm_committer *c, qxm_resume_fn *resume);

/* Commits what is queued, resumes its connections, stops the thread. */
void qxm_committer_stop(qxm_committer *c);

/* Frees what init made (after stop). */
void qxm_committer_destroy(qxm_committer *c);

/* True while runs are handed to the thread (started and not stopping). */
bool qxm_committer_accepting(qxm_committer *c);

/* Queues r (its connection already suspended); once committed, r->done is
 * set and the connection resumed. When the committer is not running,
 * commits at once on the caller's thread. */
void qxm_committer_submit(qxm_committer *c, qxm_commit *r);

#endif
