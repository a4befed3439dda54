/*
 * capture_fields.c — a captured sample's leaves as JSONPath expressions, and
 * field names for them (see qxm_capture.h).
 *
 * Paths are written in RFC 9535's normalized style, except that a member
 * whose name is a plain ASCII identifier uses the dot shorthand that
 * Qualtrics' own examples and our configs use ("$.identityMap.Email[0].id");
 * any other name is a single-quoted bracket selector with the RFC's escapes
 * ("$['a b']", "$['it\'s']"), so every path reads back (core/jsonpath.c) to
 * its leaf. Objects are walked in jansson's order, which for a parsed
 * document is the order of the text: the fields come in document order.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "qx_buf.h"
#include "qxm_capture.h"

/* A member name the dot shorthand can carry: [A-Za-z_][A-Za-z0-9_]*. (RFC
 * 9535 allows non-ASCII too; brackets keep such names unambiguous.) */
static bool is_plain_identifier(const char *name)
{
    if (!(isalpha((unsigned char)name[0]) || name[0] == '_'))
        return false;
    for (const char *p = name + 1; *p != '\0'; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_'))
            return false;
    return true;
}

/* Appends ['name'] with RFC 9535 escapes for a single-quoted string. */
static int add_bracketed(qx_buf *b, const char *name)
{
    int rc = qx_buf_add(b, "['", 2);
    for (const unsigned char *p = (const unsigned char *)name; rc == 0 && *p != '\0'; p++) {
        switch (*p) {
        case '\'':
            rc = qx_buf_add(b, "\\'", 2);
            break;
        case '\\':
            rc = qx_buf_add(b, "\\\\", 2);
            break;
        case '\b':
            rc = qx_buf_add(b, "\\b", 2);
            break;
        case '\f':
            rc = qx_buf_add(b, "\\f", 2);
            break;
        case '\n':
            rc = qx_buf_add(b, "\\n", 2);
            break;
        case '\r':
            rc = qx_buf_add(b, "\\r", 2);
            break;
        case '\t':
            rc = qx_buf_add(b, "\\t", 2);
            break;
        default:
            rc = *p < 0x20 ? qx_buf_addf(b, "\\u%04x", *p) : qx_buf_add(b, p, 1);
        }
    }
    return rc == 0 ? qx_buf_add(b, "']", 2) : rc;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

static int add_leaf(json_t *out, const qx_buf *path, json_t *v)
{
    return json_array_append_new(
        out, json_pack("{s:s, s:O, s:s}", "path", path->data, "value", v, "type", type_name(v)));
}

/* Appends the leaves under v, whose path is in path, to out; path is left
 * as it was found. Returns 0, or -1 when memory runs out. */
static int walk(json_t *v, qx_buf *path, json_t *out)
{
    size_t len = path->len;
    int rc = 0;
    if (json_is_object(v) && json_object_size(v) > 0) {
        const char *key;
        json_t *child;
        json_object_foreach(v, key, child)
        {
            rc =
                is_plain_identifier(key) ? qx_buf_addf(path, ".%s", key) : add_bracketed(path, key);
            rc = rc == 0 ? walk(child, path, out) : rc;
            path->len = len;
            path->data[len] = '\0';
            if (rc != 0)
                break;
        }
    } else if (json_is_array(v) && json_array_size(v) > 0) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child)
        {
            rc = qx_buf_addf(path, "[%zu]", i);
            rc = rc == 0 ? walk(child, path, out) : rc;
            path->len = len;
            path->data[len] = '\0';
            if (rc != 0)
                break;
        }
    } else {
        rc = add_leaf(out, path, v);
    }
    return rc;
}

json_t *qxm_capture_fields(json_t *doc)
{
    json_t *out = json_array();
    qx_buf path = {0};
    if (out == NULL || doc == NULL || qx_buf_add(&path, "$", 1) != 0 ||
        walk(doc, &path, out) != 0) {
        json_decref(out);
        out = doc == NULL ? json_array() : NULL;
    }
    qx_buf_free(&path);
    return out;
}

/* The last member name of a path as qxm_capture_fields writes it, into
 * name: the text after the last '.' or inside the last ['...'] (escapes
 * are dropped with the other non-identifier characters later). Empty when
 * the path has no member name ("$", "$[0]"). */
static void last_member(const char *path, char *name, size_t size)
{
    const char *start = NULL, *end = NULL;
    const char *p = path;
    while (*p != '\0') {
        if (*p == '.') {
            start = p + 1;
            p = end = start + strcspn(start, ".[");
        } else if (p[0] == '[' && p[1] == '\'') {
            const char *q = start = p + 2;
            while (*q != '\0' && *q != '\'')
                q += (*q == '\\' && q[1] != '\0') ? 2 : 1;
            end = q;
            p = *q != '\0' ? q + 1 : q;
        } else if (*p == '[') {
            const char *q = strchr(p, ']');
            p = q != NULL ? q + 1 : p + strlen(p);
        } else {
            p++;
        }
    }
    size_t n = start != NULL ? (size_t)(end - start) : 0;
    snprintf(name, size, "%.*s", (int)(n < size ? n : size - 1), start != NULL ? start : "");
}

/* name made a camelCase identifier in out (see qxm_capture_event_data). */
static void identifier(const char *name, char *out, size_t size)
{
    size_t n = 0;
    bool upper_next = false;
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0' && n + 1 < size; p++) {
        if (!isalnum(*p) && *p != '_') {
            upper_next = n > 0;
            continue;
        }
        if (n == 0 && isdigit(*p))
            n = (size_t)snprintf(out, size, "field");
        if (n + 1 >= size)
            break;
        out[n++] = upper_next ? (char)toupper(*p) : (char)*p;
        upper_next = false;
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, size, "field");
}

json_t *qxm_capture_event_data(json_t *fields)
{
    json_t *out = json_object();
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
    {
        const char *path = json_string_value(json_object_get(f, "path"));
        if (out == NULL || path == NULL)
            continue;
        char member[128], base[128], name[160];
        last_member(path, member, sizeof member);
        identifier(member, base, sizeof base);
        snprintf(name, sizeof name, "%s", base);
        for (unsigned k = 2; json_object_get(out, name) != NULL; k++)
            snprintf(name, sizeof name, "%s%u", base, k);
        if (json_object_set_new(out, name, json_string(path)) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    return out;
}
