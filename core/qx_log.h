/*
 * qx_log.h — the one logging sink of both programs.
 *
 * Libraries log through qx_log(); only a main.c chooses where it goes
 * (qx_log_init). Nothing logged may contain an API token or an Authorization
 * header: callers log names and reasons, never credentials.
 */
#ifndef QX_LOG_H
#define QX_LOG_H

#include <stdio.h>

#include "qx_error.h"

typedef enum qx_log_level {
    QX_LOG_DEBUG = 0,
    QX_LOG_INFO = 1,
    QX_LOG_WARN = 2,
    QX_LOG_ERROR = 3,
    QX_LOG_OFF = 4
} qx_log_level;

/* Sends messages at or above min to sink (NULL: nowhere). Default: none. */
void qx_log_init(FILE *sink, qx_log_level min);

/* Logs one line "LEVEL message". Thread-safe. */
void qx_log(qx_log_level level, const char *fmt, ...) QX_PRINTF(2, 3);

#endif
