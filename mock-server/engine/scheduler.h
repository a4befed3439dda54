/*
 * scheduler.h — the engine's scheduler thread (internal to engine/).
 *
 * A run's outcome is decided when its request arrives (so a seeded emulator
 * gives the same history whatever the timing); its configured delay only
 * decides when it stops being RUNNING. The scheduler sleeps until the next
 * run is due or the next long-poll deadline, finishes due runs in the
 * store, and resumes every long-poll whose condition now holds or whose
 * time is up. Whoever stores a run kicks it (the group committer only when
 * someone needs the pass: qxm_scheduler_stored).
 *
 * It also keeps the history's retention: at start (before the thread
 * runs) and then at least every min(1 h, retention / 10) its pass sweeps
 * the store (qxm_store_evict: short batches, the writer released between
 * them), before it checks the long-polls, so that a wait counts what is
 * left. The sweep is one more deadline of its timed wait, no thread of its
 * own.
 *
 * Owns: the list of waiting long-polls (qxm_waiter, until resumed) and the
 * thread. Locks: `lock` guards everything but due_hint_ms, which is atomic
 * (lowered by any thread, exchanged by the scheduler); `progress` is
 * broadcast after every pass, under `lock`. Resuming a long-poll calls the
 * resume function with `lock` held: it must not call back into the
 * scheduler.
 */
#ifndef QXM_SCHEDULER_H
#define QXM_SCHEDULER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "qxm_engine.h"
#include "qxm_store.h"

typedef struct qxm_scheduler {
    qxm_store *store;      /* borrowed */
    qxm_resume_fn *resume; /* set by start */
    pthread_t thread;
    bool running; /* the thread exists (owner's thread only) */
    pthread_mutex_t lock;
    pthread_cond_t cond;     /* wakes the thread: kick, stop, new waiter */
    pthread_cond_t progress; /* broadcast after each pass */
    bool stopping, kick;
    uint64_t passes;
    unsigned awaiting; /* threads in qxm_scheduler_await_pass */
    qxm_waiter *waiters;
    /* The due time the thread's current sleep covers (ms since epoch): a
     * stored run due before it must wake the thread. */
    int64_t planned_due_ms;
    /* No RUNNING run falls due before this (ms since epoch): the thread
     * skips the store until then. INT64_MIN makes the next pass look. */
    _Atomic int64_t due_hint_ms;
    /* Retention (set by init; then the thread's only): 0 keeps everything. */
    int64_t retention_ms;
    int64_t sweep_every_ms;
    int64_t next_sweep_mono_ms; /* monotonic */
} qxm_scheduler;

/* Initialises s for store (nothing runs yet), evicting what entered it
 * more than retention_ms ago (0: nothing). Returns 0, or -1. */
int qxm_scheduler_init(qxm_scheduler *s, qxm_store *store, int64_t retention_ms);

/* Sweeps the store once (what is past retention goes), then starts the
 * thread; resume is called for each long-poll that is done. Returns 0, or
 * -1. */
int qxm_scheduler_start(qxm_scheduler *s, qxm_resume_fn *resume);

/* Answers every waiting long-poll (done, with what there is) and stops the
 * thread. Safe when not started. */
void qxm_scheduler_stop(qxm_scheduler *s);

/* Frees what init made (after stop). */
void qxm_scheduler_destroy(qxm_scheduler *s);

/* Something changed (a run or journal entry was stored): re-check waiters. */
void qxm_scheduler_kick(qxm_scheduler *s);

/* Runs were stored (the group committer, after each batch): a pass only if
 * someone needs one — a long-poll, a thread in qxm_scheduler_await_pass, or
 * a stored run due before the thread's planned wake-up (note_due first).
 * Otherwise the thread sleeps on and the committer pays no wake-up. */
void qxm_scheduler_stored(qxm_scheduler *s);

/* A run falls due at due_ms: the next pass looks at the store if that is
 * before what it knew (INT64_MIN: look whatever the time). Lock-free. */
void qxm_scheduler_note_due(qxm_scheduler *s, int64_t due_ms);

/* Registers a long-poll (borrowed until resumed); when stopping it is
 * resumed at once. */
void qxm_scheduler_add_waiter(qxm_scheduler *s, qxm_waiter *w);

/* qxm_engine_drop_waiter. */
bool qxm_scheduler_drop_waiter(qxm_scheduler *s, bool (*gone)(void *conn, void *ud), void *ud);

/* Sleeps until the thread's next pass after this call or until timeout_ms
 * (at most) or until it stops. */
void qxm_scheduler_await_pass(qxm_scheduler *s, int64_t timeout_ms);

#endif
