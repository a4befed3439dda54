/*
 * qx_error.h — the error report every fallible qxharness function fills.
 *
 * Library functions return 0 / a negative value, or NULL, and put a human
 * message naming the offending thing into a caller-provided qx_error
 * (in the manner of jansson's json_error_t). Passing NULL for the error
 * pointer is allowed everywhere: the message is then dropped.
 */
#ifndef QX_ERROR_H
#define QX_ERROR_H

#include <stdarg.h>

#define QX_MUST_CHECK __attribute__((warn_unused_result))
#define QX_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

#define QX_ERROR_TEXT_MAX 512

typedef struct qx_error {
    char text[QX_ERROR_TEXT_MAX];
} qx_error;

/* Sets err->text (truncating if needed). No-op when err is NULL. */
void qx_error_set(qx_error *err, const char *fmt, ...) QX_PRINTF(2, 3);

/* Prefixes err->text with "prefix: " (e.g. a file name). No-op when NULL. */
void qx_error_prefix(qx_error *err, const char *fmt, ...) QX_PRINTF(2, 3);

/* Clears the message. */
void qx_error_clear(qx_error *err);

#endif
