/*
 * engine_internal.h — the engine's state, shared by engine.c (lifecycle and
 * history) and event.c (JSON events). Not for the HTTP front: it goes
 * through qxm_engine.h.
 */
#ifndef QXM_ENGINE_INTERNAL_H
#define QXM_ENGINE_INTERNAL_H

#include <pthread.h>

#include "commit.h"
#include "qxm_capture.h"
#include "qx_rng.h"
#include "qxm_engine.h"
#include "qxm_ratelimit.h"
#include "qxm_workflow.h"
#include "scheduler.h"

struct qxm_engine {
    qxm_config *cfg; /* owned, immutable */
    qxm_store *store;
    qxm_directory *directory;
    qx_rng *rng;              /* drawn from under draw_lock only */
    uint64_t runs_drawn;      /* the count in the next run id; under draw_lock */
    qxm_ratelimit *ratelimit; /* the users' API rate limit */
    qxm_fault_table *faults;
    qxm_capture *capture;      /* capture event: thread-safe itself */
    pthread_mutex_t draw_lock; /* see qxm_engine.h, Locks */
    qxm_scheduler sched;
    qxm_committer committer;
    bool started; /* owner's thread only */
    bool has_tap;
    qxm_event_tap tap; /* set before start, read-only after */
};

#endif
