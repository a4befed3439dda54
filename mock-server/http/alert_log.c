/*
 * alert_log.c — a ring of QXM_ALERTS_MAX JSON objects under one mutex
 * (alert_log.h). A ring rather than the store: alerts are few, small and
 * of the harness; keeping them out of SQLite keeps the run history what
 * Qualtrics would have.
 */
#include "alert_log.h"

#include <pthread.h>
#include <stdlib.h>

#include "qx_clock.h"

struct qxm_alert_log {
    pthread_mutex_t lock;
    json_t *ring[QXM_ALERTS_MAX];
    size_t head;  /* where the next alert goes */
    size_t count; /* alerts kept */
    int64_t next_id;
    int64_t dropped; /* evicted by newer ones */
};

qxm_alert_log *qxm_alert_log_new(void)
{
    qxm_alert_log *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    pthread_mutex_init(&l->lock, NULL);
    l->next_id = 1;
    return l;
}

void qxm_alert_log_free(qxm_alert_log *l)
{
    if (l == NULL)
        return;
    qxm_alert_log_clear(l);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

int64_t qxm_alert_log_add(qxm_alert_log *l, const json_t *alert, int64_t received_ms)
{
    /* copied and stamped outside the lock */
    json_t *copy = json_deep_copy(alert);
    char at[QX_TIME_TEXT_MAX];
    if (copy == NULL || json_object_set_new(copy, "receivedAt",
                                            json_string(qx_format_time(received_ms, at))) != 0) {
        json_decref(copy);
        return -1;
    }
    pthread_mutex_lock(&l->lock);
    int64_t id = l->next_id++;
    if (json_object_set_new(copy, "id", json_integer((json_int_t)id)) != 0) {
        pthread_mutex_unlock(&l->lock);
        json_decref(copy);
        return -1;
    }
    if (l->count == QXM_ALERTS_MAX) {
        json_decref(l->ring[l->head]); /* the oldest */
        l->dropped++;
    } else {
        l->count++;
    }
    l->ring[l->head] = copy;
    l->head = (l->head + 1) % QXM_ALERTS_MAX;
    pthread_mutex_unlock(&l->lock);
    return id;
}

json_t *qxm_alert_log_list(qxm_alert_log *l, size_t limit)
{
    json_t *list = json_array();
    if (list == NULL)
        return NULL;
    pthread_mutex_lock(&l->lock);
    size_t n = limit < l->count ? limit : l->count;
    for (size_t i = 0; i < n; i++) {
        size_t at = (l->head + QXM_ALERTS_MAX - 1 - i) % QXM_ALERTS_MAX;
        /* shared, not copied: a kept alert is never modified */
        if (json_array_append(list, l->ring[at]) != 0) {
            pthread_mutex_unlock(&l->lock);
            json_decref(list);
            return NULL;
        }
    }
    json_int_t kept = (json_int_t)l->count, dropped = (json_int_t)l->dropped;
    json_int_t received = (json_int_t)(l->next_id - 1);
    pthread_mutex_unlock(&l->lock);
    return json_pack("{s:o, s:I, s:I, s:I}", "alerts", list, "kept", kept, "received", received,
                     "dropped", dropped);
}

size_t qxm_alert_log_clear(qxm_alert_log *l)
{
    pthread_mutex_lock(&l->lock);
    size_t n = l->count;
    for (size_t i = 0; i < QXM_ALERTS_MAX; i++) {
        json_decref(l->ring[i]);
        l->ring[i] = NULL;
    }
    l->count = 0;
    l->head = 0;
    pthread_mutex_unlock(&l->lock);
    return n;
}
