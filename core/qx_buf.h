/*
 * qx_buf.h — the one growable byte buffer of qxharness.
 *
 * Owns: data (malloc'd), which callers may take over (qx_buf_take) or free
 * (qx_buf_free). Not thread-safe: a buffer belongs to one thread at a time.
 * Fails only when memory runs out (or a size would overflow), and then
 * keeps what it held: a failed append changes nothing. data is
 * NUL-terminated once anything was added, so text can be read as a string;
 * binary data (a NUL inside) is kept whole, len counts every byte.
 */
#ifndef QX_BUF_H
#define QX_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "qx_error.h"

/* Zero-initialise ({0}) before use. */
typedef struct qx_buf {
    char *data; /* NULL until something is added */
    size_t len, cap;
} qx_buf;

/* Makes room for need more bytes (and the NUL). Returns 0, or -1. */
QX_MUST_CHECK int qx_buf_reserve(qx_buf *b, size_t need);

/* Appends n bytes. Returns 0, or -1 when memory runs out. */
QX_MUST_CHECK int qx_buf_add(qx_buf *b, const void *s, size_t n);

/* Appends formatted text. Returns 0, or -1. */
QX_MUST_CHECK int qx_buf_addf(qx_buf *b, const char *fmt, ...) QX_PRINTF(2, 3);
QX_MUST_CHECK int qx_buf_vaddf(qx_buf *b, const char *fmt, va_list ap) QX_PRINTF(2, 0);

/* Empties b, keeping its memory. */
void qx_buf_reset(qx_buf *b);

/* Hands data to the caller (free() it; may be NULL when nothing was added)
 * and leaves b empty. */
char *qx_buf_take(qx_buf *b, size_t *len);

/* Frees data; b is empty and reusable after. */
void qx_buf_free(qx_buf *b);

#endif
