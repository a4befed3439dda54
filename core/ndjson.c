/*
 * ndjson.c — streaming NDJSON reading.
 *
 * getline() returns as soon as a newline arrives, so a pipe is processed line
 * by line; each line is parsed on its own, so one bad line costs one record.
 */
#include "qx_ndjson.h"
#include "qx_utf8.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct qx_ndjson_reader {
    FILE *f;
    char *line;
    size_t cap;
    size_t line_no;
};

qx_ndjson_reader *qx_ndjson_open(FILE *f)
{
    qx_ndjson_reader *r = calloc(1, sizeof *r);
    if (r != NULL)
        r->f = f;
    return r;
}

void qx_ndjson_close(qx_ndjson_reader *r)
{
    if (r == NULL)
        return;
    free(r->line);
    free(r);
}

static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

int qx_ndjson_next(qx_ndjson_reader *r, json_t **out, size_t *line_no, qx_error *err)
{
    *out = NULL;
    for (;;) {
        errno = 0;
        ssize_t n = getline(&r->line, &r->cap, r->f);
        if (n < 0) {
            if (ferror(r->f)) {
                qx_error_set(err, "read error after line %zu: %s", r->line_no,
                             strerror(errno ? errno : EIO));
                clearerr(r->f);
                return -2;
            }
            return 0;
        }
        r->line_no++;
        if (line_no != NULL)
            *line_no = r->line_no;
        /* A byte order mark may start the first line (qx_utf8.h). */
        size_t bom = r->line_no == 1 ? qx_utf8_bom_len(r->line, (size_t)n) : 0;
        const char *text = r->line + bom;
        n -= (ssize_t)bom;
        if (is_blank(text, (size_t)n))
            continue;
        json_error_t jerr;
        json_t *v = json_loadb(text, (size_t)n, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &jerr);
        if (v == NULL) {
            qx_error_set(err, "line %zu: invalid JSON: %s (column %d)", r->line_no, jerr.text,
                         jerr.column);
            return -1;
        }
        /* Anything but whitespace after the value is a second value on the
         * line: not NDJSON. */
        if (jerr.position < n && !is_blank(text + jerr.position, (size_t)n - jerr.position)) {
            json_decref(v);
            qx_error_set(err, "line %zu: unexpected text after the JSON value (column %d)",
                         r->line_no, jerr.position + 1);
            return -1;
        }
        *out = v;
        return 1;
    }
}

int qx_ndjson_write(FILE *f, const json_t *value)
{
    if (json_dumpf(value, f, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
        return -1;
    return fputc('\n', f) == EOF ? -1 : 0;
}
