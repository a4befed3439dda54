/*
 * qx_secret.h — comparing secrets (API tokens, the admin token).
 *
 * Pure functions, no state, no locks; they cannot fail.
 */
#ifndef QX_SECRET_H
#define QX_SECRET_H

#include <stdbool.h>

/* True when given equals expected. Takes time that depends on the lengths
 * only, never on where the texts differ, so timing does not tell an
 * attacker how many leading characters were right. NULL equals nothing. */
bool qx_secret_equals(const char *given, const char *expected);

#endif
