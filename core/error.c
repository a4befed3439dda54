/* error.c — formatting of qx_error messages. */
#include "qx_error.h"

#include <stdio.h>
#include <string.h>

void qx_error_set(qx_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
}

void qx_error_prefix(qx_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    char prefix[QX_ERROR_TEXT_MAX];
    char old[QX_ERROR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->text, sizeof old);
    /* Truncation keeps the start of the message, which names the thing. */
    if (snprintf(err->text, sizeof err->text, "%s: %s", prefix, old) < 0)
        err->text[0] = '\0';
}

void qx_error_clear(qx_error *err)
{
    if (err != NULL)
        err->text[0] = '\0';
}
