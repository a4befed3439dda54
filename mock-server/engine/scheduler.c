/* scheduler.c — finishes delayed runs and answers long-polls (see scheduler.h). */
#include "scheduler.h"

#include <errno.h>
#include <sys/prctl.h>
#include <time.h>

#include "qx_clock.h"
#include "qx_log.h"

/* Longest the scheduler sleeps without a reason: a safety net only. */
#define SCHED_IDLE_MS 1000
/* Retention is swept at least this often, and every tenth of it. */
#define SWEEP_MAX_EVERY_MS 3600000

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

int qxm_scheduler_init(qxm_scheduler *s, qxm_store *store, int64_t retention_ms)
{
    *s = (qxm_scheduler){.store = store,
                         .retention_ms = retention_ms > 0 ? retention_ms : 0,
                         .planned_due_ms = INT64_MAX};
    s->sweep_every_ms =
        retention_ms / 10 < SWEEP_MAX_EVERY_MS ? retention_ms / 10 : SWEEP_MAX_EVERY_MS;
    if (s->sweep_every_ms < 1)
        s->sweep_every_ms = 1;
    /* Runs left RUNNING by a previous process: the first pass looks. */
    atomic_init(&s->due_hint_ms, INT64_MIN);
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_mutex_init(&s->lock, NULL) | pthread_cond_init(&s->cond, &ca) |
             pthread_cond_init(&s->progress, &ca);
    pthread_condattr_destroy(&ca);
    return rc == 0 ? 0 : -1;
}

/* Checks each waiter; resumes the ones that are done. Called with the lock
 * held. Returns the earliest remaining deadline (monotonic ms). */
static int64_t check_waiters(qxm_scheduler *s, bool force)
{
    int64_t now = qx_mono_ms();
    int64_t earliest = INT64_MAX;
    qxm_waiter **pp = &s->waiters;
    while (*pp != NULL) {
        qxm_waiter *w = *pp;
        bool done = force;
        if (!done) {
            qx_error err;
            int64_t n = qxm_store_count_runs(s->store, &w->filter, &err);
            done = n < 0 || n >= w->count || now >= w->deadline_ms;
        }
        if (done) {
            *pp = w->next;
            w->next = NULL;
            w->done = true;
            s->resume(w->conn);
            continue;
        }
        if (w->deadline_ms < earliest)
            earliest = w->deadline_ms;
        pp = &w->next;
    }
    return earliest;
}

/* Finishes the runs that are due, unless the hint says none is. Returns
 * when the next one falls due (INT64_MAX: none). */
static int64_t finish_due(qxm_scheduler *s)
{
    /* Most passes follow a commit of runs that finished at once: the hint
     * says so, and the store is not touched. A run stored after the
     * exchange lowers the hint again itself. */
    int64_t now = qx_now_ms();
    int64_t next_due = atomic_load(&s->due_hint_ms);
    if (next_due > now)
        return next_due;
    atomic_store(&s->due_hint_ms, INT64_MAX);
    qx_error err;
    if (qxm_store_finish_due(s->store, now, &err) < 0)
        qx_log(QX_LOG_ERROR, "finishing runs: %s", err.text);
    next_due = qxm_store_next_due(s->store);
    qxm_scheduler_note_due(s, next_due);
    return next_due;
}

/* Evicts what is past retention when a sweep is due (the thread's own, or
 * the owner's before it starts). Returns the next sweep's time (monotonic
 * ms; INT64_MAX: retention is off). */
static int64_t sweep(qxm_scheduler *s)
{
    if (s->retention_ms == 0)
        return INT64_MAX;
    int64_t now = qx_mono_ms();
    if (now < s->next_sweep_mono_ms)
        return s->next_sweep_mono_ms;
    qxm_evict_options o = {.now_ms = qx_now_ms(), .retention_ms = s->retention_ms};
    qxm_evict_result r;
    qx_error err;
    if (qxm_store_evict(s->store, &o, &r, &err) != 0)
        qx_log(QX_LOG_ERROR, "evicting the history past retention: %s", err.text);
    else if (r.runs > 0 || r.requests > 0)
        qx_log(QX_LOG_INFO, "retention: evicted %lld runs and %lld journal entries",
               (long long)r.runs, (long long)r.requests);
    s->next_sweep_mono_ms = qx_mono_ms() + s->sweep_every_ms;
    return s->next_sweep_mono_ms;
}

static void *scheduler_main(void *arg)
{
    qxm_scheduler *s = arg;
    prctl(PR_SET_NAME, "qxm-schedule", 0, 0, 0); /* its name in top -H, perf, gdb */
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        s->kick = false;
        pthread_mutex_unlock(&s->lock);
        int64_t next_due = finish_due(s);
        int64_t next_sweep = sweep(s);
        pthread_mutex_lock(&s->lock);
        int64_t deadline = check_waiters(s, false);
        /* A run noted due during the pass was not told to wake us
         * (qxm_scheduler_stored compared with the previous plan). */
        int64_t hint = atomic_load(&s->due_hint_ms);
        if (hint < next_due)
            next_due = hint > 0 ? hint : 0; /* INT64_MIN: now */
        s->planned_due_ms = next_due;
        s->passes++;
        pthread_cond_broadcast(&s->progress);

        int64_t wait_ms = SCHED_IDLE_MS;
        if (next_due != INT64_MAX && next_due - qx_now_ms() < wait_ms)
            wait_ms = next_due - qx_now_ms();
        if (deadline != INT64_MAX && deadline - qx_mono_ms() < wait_ms)
            wait_ms = deadline - qx_mono_ms();
        if (next_sweep != INT64_MAX && next_sweep - qx_mono_ms() < wait_ms)
            wait_ms = next_sweep - qx_mono_ms();
        if (wait_ms <= 0 || s->kick || s->stopping)
            continue;
        struct timespec ts;
        deadline_in(&ts, wait_ms);
        while (!s->kick && !s->stopping) {
            if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int qxm_scheduler_start(qxm_scheduler *s, qxm_resume_fn *resume)
{
    s->resume = resume;
    s->stopping = false;
    /* At start, before anything is served: what expired while the store
     * was closed goes now. */
    s->next_sweep_mono_ms = INT64_MIN;
    sweep(s);
    if (pthread_create(&s->thread, NULL, scheduler_main, s) != 0)
        return -1;
    s->running = true;
    return 0;
}

void qxm_scheduler_stop(qxm_scheduler *s)
{
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    if (s->resume != NULL)
        check_waiters(s, true); /* long-polls answer with what there is */
    pthread_cond_signal(&s->cond);
    pthread_cond_broadcast(&s->progress);
    pthread_mutex_unlock(&s->lock);
    if (s->running) {
        pthread_join(s->thread, NULL);
        s->running = false;
    }
}

void qxm_scheduler_destroy(qxm_scheduler *s)
{
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    pthread_cond_destroy(&s->progress);
}

void qxm_scheduler_kick(qxm_scheduler *s)
{
    pthread_mutex_lock(&s->lock);
    s->kick = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

void qxm_scheduler_stored(qxm_scheduler *s)
{
    pthread_mutex_lock(&s->lock);
    if (s->waiters != NULL || s->awaiting > 0 || atomic_load(&s->due_hint_ms) < s->planned_due_ms) {
        s->kick = true;
        pthread_cond_signal(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
}

void qxm_scheduler_note_due(qxm_scheduler *s, int64_t due_ms)
{
    int64_t seen = atomic_load(&s->due_hint_ms);
    while (due_ms < seen && !atomic_compare_exchange_weak(&s->due_hint_ms, &seen, due_ms))
        ;
}

bool qxm_scheduler_drop_waiter(qxm_scheduler *s, bool (*gone)(void *conn, void *ud), void *ud)
{
    bool dropped = false;
    pthread_mutex_lock(&s->lock);
    for (qxm_waiter **pp = &s->waiters; *pp != NULL; pp = &(*pp)->next) {
        qxm_waiter *w = *pp;
        if (gone(w->conn, ud)) {
            *pp = w->next;
            w->next = NULL;
            w->done = w->dropped = true;
            s->resume(w->conn);
            dropped = true;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return dropped;
}

void qxm_scheduler_add_waiter(qxm_scheduler *s, qxm_waiter *w)
{
    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        w->done = true;
        s->resume(w->conn);
    } else {
        w->next = s->waiters;
        s->waiters = w;
        s->kick = true;
        pthread_cond_signal(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
}

void qxm_scheduler_await_pass(qxm_scheduler *s, int64_t timeout_ms)
{
    struct timespec ts;
    deadline_in(&ts, timeout_ms);
    pthread_mutex_lock(&s->lock);
    uint64_t seen = s->passes;
    s->awaiting++; /* stored runs now wake the thread (qxm_scheduler_stored) */
    while (s->passes == seen && !s->stopping)
        if (pthread_cond_timedwait(&s->progress, &s->lock, &ts) != 0)
            break;
    s->awaiting--;
    pthread_mutex_unlock(&s->lock);
}
