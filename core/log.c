/* log.c — the logging sink; main.c picks it, libraries only call qx_log(). */
#include "qx_log.h"

#include <pthread.h>
#include <stdarg.h>

#include "qx_clock.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_sink;
static qx_log_level log_min = QX_LOG_OFF;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void qx_log_init(FILE *sink, qx_log_level min)
{
    pthread_mutex_lock(&log_lock);
    log_sink = sink;
    log_min = min;
    pthread_mutex_unlock(&log_lock);
}

void qx_log(qx_log_level level, const char *fmt, ...)
{
    if (level >= QX_LOG_OFF)
        return;
    pthread_mutex_lock(&log_lock);
    if (log_sink != NULL && level >= log_min) {
        char when[QX_TIME_TEXT_MAX];
        va_list ap;
        fprintf(log_sink, "%s %-5s ", qx_format_time(qx_now_ms(), when), level_names[level]);
        va_start(ap, fmt);
        vfprintf(log_sink, fmt, ap);
        va_end(ap);
        fputc('\n', log_sink);
        fflush(log_sink);
    }
    pthread_mutex_unlock(&log_lock);
}
