/* trace.c — one NDJSON record per HTTP call, Authorization redacted. */
#include "qxs_trace.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "qx_clock.h"

static bool is_secret_header(const char *name, size_t n)
{
    return (n == 13 && strncasecmp(name, "Authorization", n) == 0) ||
           (n == 19 && strncasecmp(name, "Proxy-Authorization", n) == 0) ||
           (n == 11 && strncasecmp(name, "X-API-TOKEN", n) == 0);
}

json_t *qxs_trace_headers(const char *raw)
{
    json_t *obj = json_object();
    if (obj == NULL || raw == NULL)
        return obj;
    const char *p = raw;
    bool first = true;
    while (*p != '\0') {
        size_t len = strcspn(p, "\r\n");
        const char *colon = memchr(p, ':', len);
        /* the first line is "POST /path HTTP/1.1" or "HTTP/1.1 200 OK" */
        if (!first && colon != NULL && colon > p) {
            size_t nlen = (size_t)(colon - p);
            const char *v = colon + 1;
            while (v < p + len && (*v == ' ' || *v == '\t'))
                v++;
            size_t vlen = (size_t)(p + len - v);
            char name[256];
            if (nlen >= sizeof name)
                nlen = sizeof name - 1;
            memcpy(name, p, nlen);
            name[nlen] = '\0';
            json_t *value = is_secret_header(name, nlen) ? json_string(QXS_TRACE_REDACTED)
                                                         : json_stringn(v, vlen);
            json_t *old = json_object_get(obj, name);
            if (old != NULL && value != NULL && !is_secret_header(name, nlen)) {
                json_t *joined =
                    json_sprintf("%s, %s", json_string_value(old), json_string_value(value));
                json_decref(value);
                value = joined;
            }
            if (value == NULL || json_object_set_new(obj, name, value) != 0) {
                json_decref(obj);
                return NULL;
            }
        }
        if (len > 0)
            first = false;
        p += len;
        while (*p == '\r' || *p == '\n')
            p++;
    }
    return obj;
}

/* A body as JSON when it parses, else as a string (NULL: null). */
static json_t *body_value(const char *body, size_t len)
{
    if (body == NULL)
        return json_null();
    json_t *v = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    return v != NULL ? v : json_stringn(body, len);
}

int qxs_trace_write(FILE *f, const qxs_trace_call *c)
{
    if (f == NULL)
        return 0;
    char when[QX_TIME_TEXT_MAX];
    json_t *request = json_pack("{s:s, s:s, s:o, s:o}", "method", c->method, "url", c->url,
                                "headers", qxs_trace_headers(c->request_headers), "body",
                                body_value(c->request_body, c->request_body_len));
    json_t *response = c->status > 0
                           ? json_pack("{s:i, s:o, s:o}", "status", (int)c->status, "headers",
                                       qxs_trace_headers(c->response_headers), "body",
                                       body_value(c->response_body, c->response_body_len))
                           : json_null();
    json_t *rec =
        json_pack("{s:I, s:i, s:s, s:f, s:o, s:o}", "line", (json_int_t)c->line_no, "attempt",
                  c->attempt, "startedAt", qx_format_time(c->started_at_ms, when), "durationMs",
                  (double)c->duration_us / 1000.0, "request", request, "response", response);
    if (rec != NULL && c->error != NULL)
        json_object_set_new(rec, "error", json_string(c->error));
    if (rec == NULL)
        return -1;
    /* nine significant digits: durations read as 1.234, not 1.2339999999999999 */
    int rc = json_dumpf(rec, f, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(rec);
    if (rc == 0 && fputc('\n', f) == EOF)
        rc = -1;
    if (rc == 0 && fflush(f) != 0)
        rc = -1;
    return rc;
}
