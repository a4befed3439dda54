/* clock.c — time sources and the ISO 8601 timestamps of records. */
#include "qx_clock.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t qx_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t qx_mono_ms(void)
{
    return qx_mono_us() / 1000;
}

int64_t qx_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *qx_format_time(int64_t ms, char *out)
{
    time_t secs = (time_t)(ms / 1000);
    int millis = (int)(ms % 1000);
    if (millis < 0) {
        millis += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    int year = tm.tm_year + 1900;
    if (year < 0 || year > 9999) {
        snprintf(out, QX_TIME_TEXT_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
        return out;
    }
    /* What the format above writes, without printf (a run's receivedAt is
     * written for every request). */
    const int fields[] = {year / 100, year % 100, tm.tm_mon + 1, tm.tm_mday,
                          tm.tm_hour, tm.tm_min,  tm.tm_sec};
    static const char after[] = {'\0', '-', '-', 'T', ':', ':', '.'};
    char *p = out;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        *p++ = (char)('0' + fields[i] / 10);
        *p++ = (char)('0' + fields[i] % 10);
        if (after[i] != '\0')
            *p++ = after[i];
    }
    *p++ = (char)('0' + millis / 100);
    *p++ = (char)('0' + millis / 10 % 10);
    *p++ = (char)('0' + millis % 10);
    *p++ = 'Z';
    *p = '\0';
    return out;
}

/* Reads exactly n digits at *p into *val; advances *p. */
static int read_digits(const char **p, int n, int *val)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *val = v;
    return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int qx_parse_time(const char *text, int64_t *ms)
{
    if (text == NULL || *text == '\0')
        return -1;
    const char *p = text;
    int all_digits = 1;
    for (const char *q = text; *q; q++)
        if (!isdigit((unsigned char)*q) && !(q == text && *q == '-'))
            all_digits = 0;
    if (all_digits) {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (errno != 0 || *end != '\0')
            return -1;
        *ms = v;
        return 0;
    }
    int y, mo, d, h, mi, s;
    if (read_digits(&p, 4, &y) || *p++ != '-' || read_digits(&p, 2, &mo) || *p++ != '-' ||
        read_digits(&p, 2, &d))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (read_digits(&p, 2, &h) || *p++ != ':' || read_digits(&p, 2, &mi) || *p++ != ':' ||
        read_digits(&p, 2, &s))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return -1;
    int frac_ms = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (digits == 0)
            return -1;
        for (int i = digits; i < 3; i++)
            frac_ms *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int oh, om;
        if (read_digits(&p, 2, &oh) || *p++ != ':' || read_digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    int64_t days = days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + s - (int64_t)offset_min * 60;
    *ms = secs * 1000 + frac_ms;
    return 0;
}

void qx_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
