/*
 * ratelimit.c — token buckets keyed by user name.
 *
 * Buckets live in a small open hash table; the number of keys is bounded by
 * the configured users (plus "anonymous"), so the table never grows without
 * bound. Tokens are kept in thousandths to refill smoothly at integer cost.
 */
#include "qxm_ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MILLI 1000
#define MS_PER_MINUTE 60000

typedef struct bucket {
    char *key;
    int64_t tokens_milli; /* thousandths of a call */
    int64_t updated_ms;
    struct bucket *next;
} bucket;

#define NBUCKETS 64

struct qxm_ratelimit {
    pthread_mutex_t lock;
    unsigned per_minute;
    unsigned burst; /* calls a full bucket holds; 0: per_minute */
    bucket *table[NBUCKETS];
};

static unsigned hash_key(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % NBUCKETS;
}

qxm_ratelimit *qxm_ratelimit_new(unsigned per_minute)
{
    qxm_ratelimit *rl = calloc(1, sizeof *rl);
    if (rl == NULL)
        return NULL;
    pthread_mutex_init(&rl->lock, NULL);
    rl->per_minute = per_minute;
    return rl;
}

static void clear_locked(qxm_ratelimit *rl)
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        bucket *b = rl->table[i];
        while (b != NULL) {
            bucket *next = b->next;
            free(b->key);
            free(b);
            b = next;
        }
        rl->table[i] = NULL;
    }
}

void qxm_ratelimit_free(qxm_ratelimit *rl)
{
    if (rl == NULL)
        return;
    clear_locked(rl);
    pthread_mutex_destroy(&rl->lock);
    free(rl);
}

void qxm_ratelimit_set(qxm_ratelimit *rl, unsigned per_minute)
{
    pthread_mutex_lock(&rl->lock);
    rl->per_minute = per_minute;
    pthread_mutex_unlock(&rl->lock);
}

void qxm_ratelimit_set_burst(qxm_ratelimit *rl, unsigned burst)
{
    pthread_mutex_lock(&rl->lock);
    rl->burst = burst;
    pthread_mutex_unlock(&rl->lock);
}

void qxm_ratelimit_reset(qxm_ratelimit *rl)
{
    pthread_mutex_lock(&rl->lock);
    clear_locked(rl);
    pthread_mutex_unlock(&rl->lock);
}

bool qxm_ratelimit_take(qxm_ratelimit *rl, const char *key, int64_t now_ms, unsigned *retry_after_s)
{
    bool admitted = true;
    pthread_mutex_lock(&rl->lock);
    if (rl->per_minute == 0)
        goto out;
    unsigned burst = rl->burst > 0 && rl->burst < rl->per_minute ? rl->burst : rl->per_minute;
    int64_t capacity = (int64_t)burst * MILLI;
    unsigned h = hash_key(key);
    bucket *b = rl->table[h];
    while (b != NULL && strcmp(b->key, key) != 0)
        b = b->next;
    if (b == NULL) {
        b = calloc(1, sizeof *b);
        char *k = strdup(key);
        if (b == NULL || k == NULL) {
            /* Out of memory: admitting is the safe answer for a test double. */
            free(b);
            free(k);
            goto out;
        }
        b->key = k;
        b->tokens_milli = capacity;
        b->updated_ms = now_ms;
        b->next = rl->table[h];
        rl->table[h] = b;
    }
    int64_t elapsed = now_ms - b->updated_ms;
    if (elapsed > 0) {
        /* per_minute calls per 60,000 ms = per_minute thousandths per ms / 60 */
        b->tokens_milli += elapsed * (int64_t)rl->per_minute * MILLI / MS_PER_MINUTE;
        if (b->tokens_milli > capacity)
            b->tokens_milli = capacity;
        b->updated_ms = now_ms;
    }
    if (b->tokens_milli >= MILLI) {
        b->tokens_milli -= MILLI;
        goto out;
    }
    admitted = false;
    if (retry_after_s != NULL) {
        int64_t missing = MILLI - b->tokens_milli;
        int64_t wait_ms = (missing * MS_PER_MINUTE + (int64_t)rl->per_minute * MILLI - 1) /
                          ((int64_t)rl->per_minute * MILLI);
        int64_t secs = (wait_ms + 999) / 1000;
        *retry_after_s = secs < 1 ? 1 : (unsigned)secs;
    }
out:
    pthread_mutex_unlock(&rl->lock);
    return admitted;
}
