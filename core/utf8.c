/* utf8.c — see qx_utf8.h. */
#include "qx_utf8.h"

#include <string.h>

size_t qx_utf8_char_len(const unsigned char *p, size_t n)
{
    if (n == 0)
        return 0;
    unsigned char c = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c >= 0x01 && c <= 0x7F)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

size_t qx_utf8_prefix_len(const char *p, size_t n, size_t max)
{
    size_t i = 0;
    while (i < n) {
        size_t len = qx_utf8_char_len((const unsigned char *)p + i, n - i);
        if (len == 0)
            len = 1;
        if (i + len > max)
            break;
        i += len;
    }
    return i;
}

size_t qx_utf8_bom_len(const char *p, size_t n)
{
    return n >= QX_UTF8_BOM_LEN && memcmp(p, QX_UTF8_BOM, QX_UTF8_BOM_LEN) == 0 ? QX_UTF8_BOM_LEN
                                                                                : 0;
}
