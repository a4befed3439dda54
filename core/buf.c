/* buf.c — the growable byte buffer (see qx_buf.h). */
#include "qx_buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int qx_buf_reserve(qx_buf *b, size_t need)
{
    if (need > SIZE_MAX - 1 - b->len)
        return -1;
    if (b->len + need + 1 <= b->cap)
        return 0;
    size_t cap = b->cap != 0 ? b->cap : 256;
    while (cap < b->len + need + 1) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int qx_buf_add(qx_buf *b, const void *s, size_t n)
{
    if (qx_buf_reserve(b, n) != 0)
        return -1;
    if (n > 0)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int qx_buf_vaddf(qx_buf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0 || qx_buf_reserve(b, (size_t)n) != 0) {
        va_end(again);
        return -1;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
    va_end(again);
    b->len += (size_t)n;
    return 0;
}

int qx_buf_addf(qx_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = qx_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void qx_buf_reset(qx_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

char *qx_buf_take(qx_buf *b, size_t *len)
{
    char *p = b->data;
    if (len != NULL)
        *len = b->len;
    *b = (qx_buf){0};
    return p;
}

void qx_buf_free(qx_buf *b)
{
    free(b->data);
    *b = (qx_buf){0};
}
