/*
 * qx_rng.h — the seeded random generator behind ids, delays and fault choices.
 *
 * With a seed, the same sequence of calls gives the same numbers on every run
 * (that is what makes a recorded history reproducible). The generator is
 * xoshiro256** seeded through splitmix64; calls are serialised by a mutex so
 * one generator can be shared by threads.
 */
#ifndef QX_RNG_H
#define QX_RNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qx_error.h"

typedef struct qx_rng qx_rng;

#define QX_UUID_LEN 36 /* characters, without the terminating NUL */

/* A generator seeded with seed. Returns a new generator (owned), NULL when
 * memory runs out. */
QX_MUST_CHECK qx_rng *qx_rng_new(uint64_t seed);

/* A generator seeded from the operating system's entropy. Owned; NULL when
 * memory runs out. */
QX_MUST_CHECK qx_rng *qx_rng_new_random(void);

/* Frees r; NULL is a no-op. */
void qx_rng_free(qx_rng *r);

/* Next 64 random bits. */
uint64_t qx_rng_next(qx_rng *r);

/* Uniform integer in [lo, hi] (inclusive); lo when hi <= lo. */
uint64_t qx_rng_range(qx_rng *r, uint64_t lo, uint64_t hi);

/* Uniform double in [0, 1). */
double qx_rng_unit(qx_rng *r);

/* True with probability p (0 never draws false positives, 1 always true).
 * Always consumes one draw, so fault choices stay aligned across runs. */
bool qx_rng_chance(qx_rng *r, double p);

/* Writes a version-4 UUID ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx") and a NUL
 * into out, which holds at least QX_UUID_LEN + 1 bytes. */
void qx_rng_uuid(qx_rng *r, char *out);

/* Writes prefix followed by n random characters of [A-Za-z0-9] and a NUL into
 * out (size bytes). Qualtrics ids look like "SV_abc123…". */
void qx_rng_id(qx_rng *r, const char *prefix, size_t n, char *out, size_t size);

#endif
