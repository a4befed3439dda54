/* secret.c — constant-time comparison of secrets (see qx_secret.h). */
#include "qx_secret.h"

#include <string.h>

bool qx_secret_equals(const char *given, const char *expected)
{
    if (given == NULL || expected == NULL)
        return false;
    return qx_secret_equals_n(given, strlen(given), expected, strlen(expected));
}

bool qx_secret_equals_n(const char *given, size_t lg, const char *expected, size_t le)
{
    if (given == NULL || expected == NULL)
        return false;
    size_t n = lg > le ? lg : le;
    unsigned char diff = (unsigned char)(lg != le);
    for (size_t i = 0; i < n; i++) {
        unsigned char a = i < lg ? (unsigned char)given[i] : 0;
        unsigned char b = i < le ? (unsigned char)expected[i] : 0;
        diff |= (unsigned char)(a ^ b);
    }
    return diff == 0;
}
