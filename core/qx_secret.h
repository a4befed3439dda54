/*
 * qx_secret.h — comparing secrets (API tokens, the admin token).
 *
 * Pure functions, no state, no locks; they cannot fail.
 */
#ifndef QX_SECRET_H
#define QX_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* True when given equals expected. Takes time that depends on the lengths
 * only, never on where the texts differ, so timing does not tell an
 * attacker how many leading characters were right. NULL equals nothing. */
bool qx_secret_equals(const char *given, const char *expected);

/* The same for texts given with their lengths (decoded credentials may hold
 * any byte): equal only when the lengths and every byte are, so a NUL in
 * given cannot cut it short. NULL equals nothing. */
bool qx_secret_equals_n(const char *given, size_t given_len, const char *expected,
                        size_t expected_len);

#endif
