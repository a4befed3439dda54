/*
 * rng.c — xoshiro256** (Blackman & Vigna), seeded through splitmix64.
 *
 * Small, fast and with a well-defined sequence for a given seed, which is the
 * whole point: a seeded emulator must draw the same ids and fault choices on
 * every run. A mutex makes one generator safe to share.
 */
#include "qx_rng.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "qx_clock.h"

struct qx_rng {
    pthread_mutex_t lock;
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_locked(qx_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

qx_rng *qx_rng_new(uint64_t seed)
{
    qx_rng *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    pthread_mutex_init(&r->lock, NULL);
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    return r;
}

qx_rng *qx_rng_new_random(void)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = (uint64_t)qx_mono_us() ^ ((uint64_t)qx_now_ms() << 20);
    return qx_rng_new(seed);
}

void qx_rng_free(qx_rng *r)
{
    if (r == NULL)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

uint64_t qx_rng_next(qx_rng *r)
{
    pthread_mutex_lock(&r->lock);
    uint64_t v = next_locked(r);
    pthread_mutex_unlock(&r->lock);
    return v;
}

uint64_t qx_rng_range(qx_rng *r, uint64_t lo, uint64_t hi)
{
    if (hi <= lo)
        return lo;
    uint64_t span = hi - lo + 1;
    if (span == 0) /* the full 64-bit range */
        return qx_rng_next(r);
    /* Lemire's rejection keeps the draw unbiased. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % span;
    uint64_t v;
    do {
        v = qx_rng_next(r);
    } while (v >= limit);
    return lo + v % span;
}

double qx_rng_unit(qx_rng *r)
{
    return (double)(qx_rng_next(r) >> 11) * 0x1.0p-53;
}

bool qx_rng_chance(qx_rng *r, double p)
{
    double u = qx_rng_unit(r);
    return p > 0 && u < p;
}

void qx_rng_uuid(qx_rng *r, char *out)
{
    uint8_t b[16];
    uint64_t a, c;
    pthread_mutex_lock(&r->lock);
    a = next_locked(r);
    c = next_locked(r);
    pthread_mutex_unlock(&r->lock);
    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    /* 8-4-4-4-12 lower-case hex digits, written without printf (a
     * request id is drawn for every request). */
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    *p = '\0';
}

void qx_rng_id(qx_rng *r, const char *prefix, size_t n, char *out, size_t size)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    if (size == 0)
        return;
    size_t len = strlen(prefix);
    if (len >= size)
        len = size - 1;
    memcpy(out, prefix, len);
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < n && len + 1 < size; i++)
        out[len++] = alphabet[next_locked(r) % (sizeof alphabet - 1)];
    pthread_mutex_unlock(&r->lock);
    out[len] = '\0';
}
