/* watchdog.c — whole-request deadlines: shuts overdue sockets down (see
 * watchdog.h). */
#include "watchdog.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>

#include "qx_clock.h"
#include "qx_log.h"

struct qxm_watch {
    int fd;
    bool armed; /* in the list of its kind */
    bool cut;   /* shut down: never armed again */
    qxm_deadline_kind kind;
    int64_t deadline_ms; /* monotonic; valid while armed */
    qxm_watch *prev, *next;
};

typedef struct watch_list {
    qxm_watch *head, *tail; /* ordered by deadline, earliest first */
} watch_list;

struct qxm_watchdog {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* arming a list's first, or stopping */
    pthread_t thread;
    bool stopping;
    int64_t timeout_ms[QXM_DEADLINE_KINDS];
    watch_list armed[QXM_DEADLINE_KINDS];
};

static const char *const KIND_NAME[QXM_DEADLINE_KINDS] = {"--request-timeout", "--import-timeout"};

static void unlink_watch(qxm_watchdog *w, qxm_watch *c)
{
    if (!c->armed)
        return;
    watch_list *l = &w->armed[c->kind];
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
    c->armed = false;
}

/* Appends c to its kind's list with the deadline now + timeout; called with
 * the lock held, so now never goes back along a list. */
static void append_watch(qxm_watchdog *w, qxm_watch *c, qxm_deadline_kind kind)
{
    watch_list *l = &w->armed[kind];
    c->kind = kind;
    c->deadline_ms = qx_mono_ms() + w->timeout_ms[kind];
    c->armed = true;
    c->next = NULL;
    c->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    if (l->head == c) /* the thread may sleep past it */
        pthread_cond_signal(&w->wake);
}

/* Shuts down every connection whose deadline has passed. Called with the
 * lock held. Returns the earliest deadline left (INT64_MAX: none). */
static int64_t cut_overdue(qxm_watchdog *w)
{
    int64_t now = qx_mono_ms();
    int64_t earliest = INT64_MAX;
    for (int k = 0; k < QXM_DEADLINE_KINDS; k++) {
        qxm_watch *c;
        while ((c = w->armed[k].head) != NULL && c->deadline_ms <= now) {
            unlink_watch(w, c);
            c->cut = true;
            /* The descriptor is still libmicrohttpd's (its close notice,
             * which removes c under this lock, comes first): it sees the
             * end of the connection and closes it. */
            if (shutdown(c->fd, SHUT_RDWR) != 0 && errno != ENOTCONN)
                qx_log(QX_LOG_WARN, "http: shutting down an overdue connection: errno %d", errno);
            qx_log(QX_LOG_INFO, "http: request not complete within %s (%lld s): connection closed",
                   KIND_NAME[k], (long long)(w->timeout_ms[k] / 1000));
        }
        if (c != NULL && c->deadline_ms < earliest)
            earliest = c->deadline_ms;
    }
    return earliest;
}

static void *watchdog_main(void *arg)
{
    qxm_watchdog *w = arg;
    prctl(PR_SET_NAME, "qxm-watchdog", 0, 0, 0); /* its name in top -H, perf, gdb */
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        int64_t earliest = cut_overdue(w);
        if (earliest == INT64_MAX) {
            pthread_cond_wait(&w->wake, &w->lock);
            continue;
        }
        struct timespec ts = {.tv_sec = (time_t)(earliest / 1000),
                              .tv_nsec = (long)(earliest % 1000) * 1000000L};
        pthread_cond_timedwait(&w->wake, &w->lock, &ts);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

qxm_watchdog *qxm_watchdog_new(int64_t request_ms, int64_t import_ms)
{
    qxm_watchdog *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->timeout_ms[QXM_DEADLINE_REQUEST] = request_ms;
    w->timeout_ms[QXM_DEADLINE_IMPORT] = import_ms;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) {
        free(w);
        return NULL;
    }
    /* Deadlines are qx_mono_ms(): CLOCK_MONOTONIC. */
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    if (pthread_create(&w->thread, NULL, watchdog_main, w) != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    return w;
}

void qxm_watchdog_free(qxm_watchdog *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    /* Connections never removed (libmicrohttpd sends a close notice for
     * each, so normally none) are only freed: the armed ones are listed. */
    for (int k = 0; k < QXM_DEADLINE_KINDS; k++) {
        while (w->armed[k].head != NULL) {
            qxm_watch *c = w->armed[k].head;
            unlink_watch(w, c);
            free(c);
        }
    }
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

qxm_watch *qxm_watchdog_add(qxm_watchdog *w, int fd)
{
    qxm_watch *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->fd = fd;
    pthread_mutex_lock(&w->lock);
    append_watch(w, c, QXM_DEADLINE_REQUEST);
    pthread_mutex_unlock(&w->lock);
    return c;
}

void qxm_watchdog_arm(qxm_watchdog *w, qxm_watch *c, qxm_deadline_kind kind)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    if (!c->cut) {
        unlink_watch(w, c);
        append_watch(w, c, kind);
    }
    pthread_mutex_unlock(&w->lock);
}

void qxm_watchdog_disarm(qxm_watchdog *w, qxm_watch *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    unlink_watch(w, c);
    pthread_mutex_unlock(&w->lock);
}

void qxm_watchdog_remove(qxm_watchdog *w, qxm_watch *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    unlink_watch(w, c);
    pthread_mutex_unlock(&w->lock);
    free(c);
}
