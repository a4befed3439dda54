/*
 * json_write.c — compact JSON text of a jansson value (see qx_json_write.h).
 *
 * Measured with callgrind on qx-mock's ingest path: json_dumps spent ~125k
 * instructions on a 1.2 KB run document, most of it in its loop check (an
 * snprintf of every container's address into a hash table) and in one
 * callback per token; this writer appends straight into one buffer.
 */
#include "qx_json_write.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The buffer a document starts with: a run document (~1.2 KB) fits
 * without growing it. */
#define FIRST_CAP 2048

static int add_char(qx_buf *b, char c)
{
    if (b->len + 1 >= b->cap && qx_buf_reserve(b, 1) != 0)
        return -1;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return 0;
}

/* The bytes written as they are inside a JSON string: all but the
 * control characters, the quote and the backslash (UTF-8 as it is). */
static const unsigned char PLAIN[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* A JSON string: the escapes jansson writes by default (quote, backslash,
 * the control characters; UTF-8 and '/' as they are). */
static int add_string(qx_buf *b, const char *s, size_t n)
{
    /* Worst case every byte becomes \u00XX. */
    if (n > (SIZE_MAX - 2) / 6 || qx_buf_reserve(b, n * 6 + 2) != 0)
        return -1;
    char *out = b->data + b->len;
    *out++ = '"';
    for (size_t i = 0; i < n; i++) {
        /* A run of bytes written as they are is copied at once. */
        size_t run = i;
        while (run < n && PLAIN[(unsigned char)s[run]])
            run++;
        if (run > i) {
            memcpy(out, s + i, run - i);
            out += run - i;
            i = run;
            if (i == n)
                break;
        }
        unsigned char c = (unsigned char)s[i];
        *out++ = '\\';
        switch (c) {
        case '"':
            *out++ = '"';
            break;
        case '\\':
            *out++ = '\\';
            break;
        case '\b':
            *out++ = 'b';
            break;
        case '\f':
            *out++ = 'f';
            break;
        case '\n':
            *out++ = 'n';
            break;
        case '\r':
            *out++ = 'r';
            break;
        case '\t':
            *out++ = 't';
            break;
        default: {
            static const char hex[] = "0123456789ABCDEF";
            *out++ = 'u';
            *out++ = '0';
            *out++ = '0';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 15];
        }
        }
    }
    *out++ = '"';
    b->len = (size_t)(out - b->data);
    b->data[b->len] = '\0';
    return 0;
}

/* As jansson: "%.17g" with the exponent's '+' and leading zeros dropped
 * ("1e300", "2.5e-7"), and ".0" when the text would read as an integer. */
static int add_real(qx_buf *b, double d)
{
    char text[40];
    int n = snprintf(text, sizeof text - 2, "%.17g", d);
    if (n < 0 || (size_t)n >= sizeof text - 2)
        return -1;
    /* A locale may write a comma: JSON wants a point. */
    char *comma = strchr(text, ',');
    if (comma != NULL)
        *comma = '.';
    char *e = strchr(text, 'e');
    if (e != NULL) {
        char *from = e + 1, *to = e + 1;
        if (*from == '+')
            from++;
        else if (*from == '-')
            *to++ = *from++;
        while (*from == '0' && from[1] != '\0')
            from++;
        memmove(to, from, strlen(from) + 1);
        n = (int)strlen(text);
    } else if (strchr(text, '.') == NULL) {
        text[n++] = '.';
        text[n++] = '0';
    }
    return qx_buf_add(b, text, (size_t)n);
}

int qx_json_write_string(qx_buf *b, const char *s, size_t n)
{
    return add_string(b, s, n);
}

static int skipped(const char *key, const char *const *skip)
{
    for (; skip != NULL && *skip != NULL; skip++)
        if (strcmp(key, *skip) == 0)
            return 1;
    return 0;
}

int qx_json_write(qx_buf *b, const json_t *v, const char *const *skip)
{
    size_t mark = b->len;
    int rc = 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        size_t key_len;
        json_t *member;
        int first = 1;
        rc = add_char(b, '{');
        json_object_keylen_foreach((json_t *)v, key, key_len, member)
        {
            if (rc != 0)
                break;
            if (skipped(key, skip))
                continue;
            if (!first)
                rc = add_char(b, ',');
            first = 0;
            if (rc == 0)
                rc = add_string(b, key, key_len);
            if (rc == 0)
                rc = add_char(b, ':');
            if (rc == 0)
                rc = qx_json_write(b, member, NULL);
        }
        if (rc == 0)
            rc = add_char(b, '}');
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        rc = add_char(b, '[');
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (i > 0)
                rc = add_char(b, ',');
            if (rc == 0)
                rc = qx_json_write(b, json_array_get(v, i), NULL);
        }
        if (rc == 0)
            rc = add_char(b, ']');
        break;
    }
    case JSON_STRING:
        rc = add_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER: {
        /* Digits from the end: what "%lld" writes, without printf. */
        char text[24], *p = text + sizeof text;
        json_int_t i = json_integer_value(v);
        unsigned long long u = i < 0 ? 0ULL - (unsigned long long)i : (unsigned long long)i;
        do
            *--p = (char)('0' + u % 10);
        while ((u /= 10) != 0);
        if (i < 0)
            *--p = '-';
        rc = qx_buf_add(b, p, (size_t)(text + sizeof text - p));
        break;
    }
    case JSON_REAL:
        rc = add_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        rc = qx_buf_add(b, "true", 4);
        break;
    case JSON_FALSE:
        rc = qx_buf_add(b, "false", 5);
        break;
    case JSON_NULL:
        rc = qx_buf_add(b, "null", 4);
        break;
    default:
        rc = -1;
    }
    if (rc != 0) {
        b->len = mark;
        if (b->data != NULL)
            b->data[mark] = '\0';
    }
    return rc;
}

char *qx_json_compact(const json_t *v, const char *const *skip)
{
    qx_buf b = {0};
    if ((json_is_object(v) || json_is_array(v)) && qx_buf_reserve(&b, FIRST_CAP - 1) != 0)
        return NULL;
    if (qx_json_write(&b, v, skip) != 0) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

int qx_json_minify(qx_buf *b, const char *s, size_t n)
{
    if (qx_buf_reserve(b, n) != 0)
        return -1;
    char *out = b->data + b->len;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_string) {
            *out++ = c;
            if (c == '\\' && i + 1 < n)
                *out++ = s[++i]; /* an escaped quote does not end the string */
            else if (c == '"')
                in_string = false;
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            *out++ = c;
            in_string = c == '"';
        }
    }
    b->len = (size_t)(out - b->data);
    b->data[b->len] = '\0';
    return 0;
}
