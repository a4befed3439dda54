/*
 * capture.c — armed captures and captured samples, one slot per workflow
 * (see qxm_capture.h).
 *
 * Each arming gets a number. A slot remembers the number of the arming in
 * force (or last in force) and of the one that captured its sample, so a
 * waiter for one arming learns how that arming ended even when the slot
 * was armed again since. Deadlines are monotonic; expiresAt is shown in
 * wall-clock time, computed once when armed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "qx_clock.h"
#include "qxm_capture.h"

typedef struct slot {
    bool armed;
    uint64_t arm;          /* the arming in force, or the last one */
    uint64_t captured_arm; /* the arming that captured sample; 0: none */
    int64_t deadline_mono; /* when armed ends */
    int64_t expires_wall;  /* the same, ms since the epoch */
    json_t *sample;        /* owned; NULL: none yet */
} slot;

struct qxm_capture {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t changed;
    uint64_t next_arm;
    size_t n;
    slot slots[];
};

qxm_capture *qxm_capture_new(size_t n_workflows)
{
    qxm_capture *c = calloc(1, sizeof *c + n_workflows * sizeof(slot));
    if (c == NULL)
        return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->changed, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&c->lock, NULL);
    c->n = n_workflows;
    c->next_arm = 1;
    return c;
}

void qxm_capture_free(qxm_capture *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        json_decref(c->slots[i].sample);
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Ends an arming past its deadline. Under the lock. */
static void expire(slot *s)
{
    if (s->armed && qx_mono_ms() >= s->deadline_mono)
        s->armed = false;
}

uint64_t qxm_capture_arm(qxm_capture *c, size_t wi, int64_t timeout_ms)
{
    slot *s = &c->slots[wi];
    pthread_mutex_lock(&c->lock);
    s->armed = true;
    s->arm = c->next_arm++;
    s->deadline_mono = qx_mono_ms() + timeout_ms;
    s->expires_wall = qx_now_ms() + timeout_ms;
    uint64_t arm = s->arm;
    /* a waiter for the arming replaced learns it was disarmed */
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    return arm;
}

bool qxm_capture_disarm(qxm_capture *c, size_t wi)
{
    slot *s = &c->slots[wi];
    pthread_mutex_lock(&c->lock);
    expire(s);
    bool was = s->armed;
    s->armed = false;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    return was;
}

bool qxm_capture_is_armed(qxm_capture *c, size_t wi)
{
    slot *s = &c->slots[wi];
    pthread_mutex_lock(&c->lock);
    expire(s);
    bool armed = s->armed;
    pthread_mutex_unlock(&c->lock);
    return armed;
}

bool qxm_capture_take(qxm_capture *c, size_t wi, json_t *payload)
{
    slot *s = &c->slots[wi];
    /* A copy: the run path may keep using (and the caller frees) payload. */
    json_t *copy = json_deep_copy(payload);
    if (copy == NULL)
        return false;
    pthread_mutex_lock(&c->lock);
    expire(s);
    bool took = s->armed;
    if (took) {
        json_decref(s->sample);
        s->sample = copy;
        copy = NULL;
        s->armed = false;
        s->captured_arm = s->arm;
        pthread_cond_broadcast(&c->changed);
    }
    pthread_mutex_unlock(&c->lock);
    json_decref(copy);
    return took;
}

/* How arming arm of s ended, or -1 while it is in force. Under the lock. */
static int ending(slot *s, uint64_t arm)
{
    if (s->captured_arm == arm)
        return QXM_CAPTURE_CAPTURED;
    if (s->arm != arm)
        return QXM_CAPTURE_DISARMED;
    if (s->armed && qx_mono_ms() >= s->deadline_mono) {
        s->armed = false;
        return QXM_CAPTURE_EXPIRED;
    }
    return s->armed ? -1 : QXM_CAPTURE_DISARMED;
}

qxm_capture_end qxm_capture_wait(qxm_capture *c, size_t wi, uint64_t arm)
{
    slot *s = &c->slots[wi];
    pthread_mutex_lock(&c->lock);
    int end;
    while ((end = ending(s, arm)) < 0) {
        struct timespec at = {.tv_sec = (time_t)(s->deadline_mono / 1000),
                              .tv_nsec = (long)(s->deadline_mono % 1000) * 1000000L};
        pthread_cond_timedwait(&c->changed, &c->lock, &at);
    }
    pthread_mutex_unlock(&c->lock);
    return (qxm_capture_end)end;
}

json_t *qxm_capture_state(qxm_capture *c, size_t wi)
{
    slot *s = &c->slots[wi];
    pthread_mutex_lock(&c->lock);
    expire(s);
    bool armed = s->armed;
    int64_t expires = s->expires_wall;
    json_t *sample = json_incref(s->sample); /* never changed in place: safe to read unlocked */
    pthread_mutex_unlock(&c->lock);
    char when[QX_TIME_TEXT_MAX];
    json_t *fields = sample != NULL ? qxm_capture_fields(sample) : json_array();
    json_t *state = fields == NULL
                        ? NULL
                        : json_pack("{s:b, s:s?, s:O?, s:o}", "armed", armed, "expiresAt",
                                    armed ? qx_format_time(expires, when) : NULL, "sample", sample,
                                    "fields", fields);
    json_decref(sample);
    return state;
}

json_t *qxm_capture_sample(qxm_capture *c, size_t wi)
{
    pthread_mutex_lock(&c->lock);
    json_t *sample = json_incref(c->slots[wi].sample);
    pthread_mutex_unlock(&c->lock);
    json_t *copy = sample != NULL ? json_deep_copy(sample) : NULL;
    json_decref(sample);
    return copy;
}
