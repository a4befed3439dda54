/*
 * commit.h — the group committer of accepted runs (internal; see commit.c).
 */
#ifndef QXM_COMMIT_H
#define QXM_COMMIT_H

#include "mock_internal.h"

/* One run waiting to be committed, and the connection waiting for it. */
struct qxm_commit {
    qxm_run_insert ins; /* ins.doc owned */
    void *conn;         /* suspended MHD connection to resume when done */
    int rc;             /* 0 committed, -1 failed; valid once done */
    bool done;
    struct qxm_commit *next;
};

/* Starts the committer thread. Returns 0, or -1. */
QX_MUST_CHECK int qxm_committer_start(qxm_mock *m);

/* Commits what is queued, resumes its connections, stops the thread. */
void qxm_committer_stop(qxm_mock *m);

/* Queues c (its connection already suspended); once committed, c->done is
 * set and the connection resumed. When the committer is stopping, commits
 * at once on the caller's thread. */
void qxm_commit_submit(qxm_mock *m, qxm_commit *c);

/* Frees c and its document; NULL is a no-op. */
void qxm_commit_free(qxm_commit *c);

#endif
